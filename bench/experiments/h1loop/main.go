// Command h1loop is a spike: how much of a Go gateway's pass-through cost is net/http's server
// machinery, priced against an HTTP/1.1 loop on the same parser (http.ReadRequest) and the
// same upstream exchange (Request.Write, http.ReadResponse on a pooled connection).
//
//	h1loop -mode nethttp|loop -addr 127.0.0.1:9544 -upstream 127.0.0.1:8081 -cert C -key K
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
)

var upstreamAddr string

type upConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

var (
	poolMu sync.Mutex
	pool   []*upConn
)

func getUp() (*upConn, error) {
	poolMu.Lock()
	if n := len(pool); n > 0 {
		u := pool[n-1]
		pool = pool[:n-1]
		poolMu.Unlock()
		return u, nil
	}
	poolMu.Unlock()
	c, err := net.Dial("tcp", upstreamAddr)
	if err != nil {
		return nil, err
	}
	return &upConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

func putUp(u *upConn) { poolMu.Lock(); pool = append(pool, u); poolMu.Unlock() }

var hop = map[string]bool{"Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Proxy-Connection": true}

// exchange sends in upstream and returns the response with its body read into buf.
func exchange(in *http.Request, buf []byte) (*http.Response, []byte, *upConn, error) {
	out := &http.Request{Method: in.Method, URL: in.URL, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(in.Header)+2), Host: upstreamAddr}
	for k, v := range in.Header {
		if !hop[k] {
			out.Header[k] = v
		}
	}
	out.Header["User-Agent"] = []string{""}
	u, err := getUp()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := out.Write(u.bw); err != nil {
		u.c.Close()
		return nil, nil, nil, err
	}
	if err := u.bw.Flush(); err != nil {
		u.c.Close()
		return nil, nil, nil, err
	}
	resp, err := http.ReadResponse(u.br, out)
	if err != nil {
		u.c.Close()
		return nil, nil, nil, err
	}
	n, err := io.ReadFull(resp.Body, buf[:resp.ContentLength])
	if err != nil {
		u.c.Close()
		return nil, nil, nil, err
	}
	resp.Body.Close()
	return resp, buf[:n], u, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func handler(w http.ResponseWriter, r *http.Request) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	resp, body, u, err := exchange(r, *bp)
	if err != nil {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	putUp(u)
	h := w.Header()
	for k, v := range resp.Header {
		if !hop[k] {
			h[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// serveLoop is the HTTP/1.1 loop: one goroutine per connection, no background read, no
// per-request context, the response serialised straight into the connection's buffer.
func serveLoop(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	num := make([]byte, 0, 20)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		resp, body, u, err := exchange(req, *bp)
		if err != nil {
			bw.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			bw.Flush()
			return
		}
		putUp(u)
		bw.WriteString("HTTP/1.1 ")
		bw.Write(strconv.AppendInt(num[:0], int64(resp.StatusCode), 10))
		bw.WriteString(" ")
		bw.WriteString(http.StatusText(resp.StatusCode))
		bw.WriteString("\r\n")
		for k, vv := range resp.Header {
			if hop[k] || k == "Content-Length" {
				continue
			}
			for _, v := range vv {
				bw.WriteString(k)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num[:0], int64(len(body)), 10))
		bw.WriteString("\r\n\r\n")
		bw.Write(body)
		if err := bw.Flush(); err != nil {
			return
		}
		if req.Close {
			return
		}
	}
}

func main() {
	mode := flag.String("mode", "nethttp", "nethttp or loop")
	addr := flag.String("addr", "127.0.0.1:9544", "listen address")
	flag.StringVar(&upstreamAddr, "upstream", "127.0.0.1:8081", "upstream host:port")
	certFile := flag.String("cert", "", "certificate")
	keyFile := flag.String("key", "", "key")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *mode == "nethttp" {
		log.Fatal((&http.Server{Handler: http.HandlerFunc(handler), TLSConfig: conf}).Serve(tls.NewListener(ln, conf)))
	}
	tl := tls.NewListener(ln, conf)
	for {
		c, err := tl.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serveLoop(c)
	}
}
