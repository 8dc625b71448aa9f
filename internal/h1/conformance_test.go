package h1_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki/internal/h1"
)

// conformanceCase is one exchange sent, byte for byte, to net/http's server and to h1's.
type conformanceCase struct {
	name    string
	handler http.HandlerFunc
	request string // written at once
	n       int    // final responses to read (1 when zero)
	// run replaces writing request and reading n responses, for exchanges a client conducts
	// step by step.
	run func(t *testing.T, addr string) exchange
	// want, when set, checks h1's exchange beyond its equality with net/http's.
	want func(t *testing.T, ex exchange)
	// differs, when set, says why h1 deliberately answers otherwise than net/http; want then
	// checks h1's answer alone.
	differs string
}

const (
	get  = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
	head = "HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n"
)

func post(body string, header ...string) string {
	return "POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		strings.Join(header, "") + "\r\n" + body
}

// TestConformance sends each case's bytes to net/http's server and to h1.Server.ServeConn and
// requires the same status lines, header fields (but Date), framing, bodies, trailers, and
// keep-alive outcome.
func TestConformance(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", 320) // 5120 bytes: past net/http's 2048-byte buffer
	html := "<!DOCTYPE html><html><body>" + big + "</body></html>"
	hello := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }
	echo := func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d %q %v", r.Method, r.ContentLength, b, err)
	}
	target := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %q %q %q %q", r.Method, r.Host, r.URL, r.RequestURI, r.Header.Values("Host"))
	}
	ignoreBody := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "not reading it")
	}

	cases := []conformanceCase{
		{name: "content length set", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello")
		}, want: expect(200, "length", "hello", true, "Content-Length: 5", "Content-Type: text/plain", "!Transfer-Encoding")},
		{name: "content length set, type sniffed", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "13")
			io.WriteString(w, "<html></html>")
		}},
		{name: "small body, type sniffed", request: get, handler: hello, want: expect(200, "length", "hello", true, "Content-Length: 5", "Content-Type: text/plain; charset=utf-8")},
		{name: "small body, type set", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`)
		}},
		{name: "no body", request: get, handler: func(w http.ResponseWriter, r *http.Request) {}},
		{name: "no body, status set", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		}},
		{name: "content encoding, not sniffed", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "\x1f\x8b not really")
		}},
		{name: "large body chunked", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, big)
		}, want: expect(200, "chunked", big, true, "Transfer-Encoding: chunked", "!Content-Length")},
		{name: "large body in small writes", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			for i := range 100 {
				fmt.Fprintf(w, "line %03d of a body written in small pieces\n", i)
			}
		}},
		{name: "large first write sniffed", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, html)
		}, want: expect(200, "chunked", html, true, "Content-Type: text/html; charset=utf-8")},
		{name: "sniffed across writes", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<!DOCTYPE ")
			io.WriteString(w, html[len("<!DOCTYPE "):])
		}},
		{name: "large body with content length", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			io.WriteString(w, big)
		}},
		{name: "HEAD, handler writes body", request: head, handler: hello, want: expect(200, "none", "", true, "Content-Length: 5", "Content-Type: text/plain; charset=utf-8")},
		{name: "HEAD, handler writes nothing", request: head, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
		}},
		{name: "HEAD, content length set", request: head, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1234")
			w.Header().Set("Content-Type", "text/plain")
		}},
		{name: "HEAD, large body", request: head, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, html)
		}, want: expect(200, "none", "", true, "Content-Type: text/html; charset=utf-8", "!Content-Length", "!Transfer-Encoding")},
		{name: "HEAD, flushed", request: head, handler: func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
		}},
		{name: "204", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusNoContent)
			if _, err := io.WriteString(w, "hello"); err != http.ErrBodyNotAllowed {
				panic(err)
			}
		}, want: expect(204, "none", "", true, "Content-Type: text/plain", "!Content-Length", "!Transfer-Encoding")},
		{name: "304", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "5")
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		}, want: expect(304, "none", "", true, `Etag: "v1"`, "!Content-Type", "!Content-Length", "!Transfer-Encoding")},
		{name: "flushed, chunked", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "first ")
			w.(http.Flusher).Flush()
			io.WriteString(w, "second")
			w.(http.Flusher).Flush()
		}, want: expect(200, "chunked", "first second", true)},
		{name: "flushed before any write", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.(http.Flusher).Flush()
			io.WriteString(w, "data: 1\n\n")
		}},
		{name: "trailer declared", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Sum, X-Count")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
			w.Header().Set("X-Count", "1")
		}, want: expect(200, "chunked", "body", true, "Trailer: X-Sum, X-Count")},
		{name: "trailer declared but not allowed", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "Content-Length")
			io.WriteString(w, "body")
		}},
		{name: "trailer prefix after flush", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
		}, want: expect(200, "chunked", "body", true)},
		{name: "trailer prefix set first", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(http.TrailerPrefix+"X-Early", "yes")
			io.WriteString(w, "body")
		}},
		{name: "trailer prefix, small body dropped", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "body")
			w.Header().Set(http.TrailerPrefix+"X-Late", "dropped, as by net/http")
		}},
		{name: "HTTP/1.0", request: "GET / HTTP/1.0\r\n\r\n", handler: hello, want: expect(200, "length", "hello", false, "!Connection")},
		{name: "HTTP/1.0 keep-alive", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", handler: hello, want: expect(200, "length", "hello", true, "Connection: keep-alive")},
		{name: "HTTP/1.0 keep-alive, large body", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }, want: expect(200, "close", big, false, "!Connection")},
		{name: "HTTP/1.0 keep-alive, HEAD", request: "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", handler: hello},
		{name: "HTTP/1.0 keep-alive, 204", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }},
		{name: "client Connection: close", request: "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", handler: hello, want: expect(200, "length", "hello", false, "Connection: close")},
		{name: "handler Connection: close", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			hello(w, r)
		}, want: expect(200, "length", "hello", false, "Connection: close")},
		{name: "handler Connection: keep-alive", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "keep-alive")
			hello(w, r)
		}},
		{name: "handler Transfer-Encoding: identity", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "identity")
			hello(w, r)
		}},
		{name: "handler Transfer-Encoding: chunked and a length", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "chunked")
			w.Header().Set("Content-Length", "5")
			hello(w, r)
		}},
		{name: "handler invalid Content-Length", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "five")
			hello(w, r)
		}, differs: "net/http drops the invalid length after cloning the header with it, which then forbids " +
			"an automatic length: it sends the body chunked; h1 frames it as any body without a length",
			want: func(t *testing.T, ex exchange) {
				r := ex.Responses[0]
				if v, _ := r.field("Content-Length"); v != "5" || r.Body != "hello" || !ex.Open {
					t.Errorf("got %+v, want the body with Content-Length: 5", ex)
				}
			}},
		{name: "short body closes", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			hello(w, r)
		}},
		{name: "write past content length refused", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			if _, err := io.WriteString(w, "hello world"); err != http.ErrContentLength {
				panic(fmt.Sprint("write past length: ", err))
			}
		}},
		{name: "status without text", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(599)
		}},
		{name: "header changed after WriteHeader", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Before", "1")
			w.WriteHeader(http.StatusOK)
			w.Header().Set("X-After", "not sent")
			hello(w, r)
		}},
		{name: "header changed after WriteHeader, length set", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
			w.Header().Set("X-After", "not sent")
			hello(w, r)
		}},
		{name: "pipelined", n: 3, request: get + head + "GET /third HTTP/1.1\r\nHost: example.com\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Method+" "+r.URL.Path) }, want: expect(200, "length", "GET /third", true)},
		{name: "pipelined after POST", n: 2, request: post("abc") + get, handler: echo},
		{name: "POST read", request: post("name=value"), handler: echo, want: expect(200, "length", `POST 10 "name=value" <nil>`, true)},
		{name: "POST with stray CRLF", n: 2, request: post("name=value") + "\r\n" + get, handler: echo},
		{name: "POST not read, small", request: post(strings.Repeat("x", 10<<10)), handler: ignoreBody, want: expect(200, "length", "not reading it", true, "!Connection")},
		{name: "POST not read, over 256 KiB", request: post(strings.Repeat("x", 300<<10)), handler: ignoreBody, want: expect(200, "length", "not reading it", false, "Connection: close")},
		{name: "POST not read, declared large, sent slowly",
			request: "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10000000\r\n\r\n" + strings.Repeat("x", 1024),
			handler: ignoreBody, want: expect(200, "length", "not reading it", false, "Connection: close")},
		{name: "POST closed by the handler, declared large",
			request: "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10000000\r\n\r\n" + strings.Repeat("x", 1024),
			handler: func(w http.ResponseWriter, r *http.Request) {
				r.Body.Close()
				if _, err := r.Body.Read(make([]byte, 1)); err != http.ErrBodyReadAfterClose {
					panic(fmt.Sprint("read after close: ", err))
				}
				ignoreBody(w, r)
			}, want: expect(200, "length", "not reading it", false, "Connection: close")},
		{name: "POST closed by the handler, small", request: post("abc"), handler: func(w http.ResponseWriter, r *http.Request) {
			r.Body.Close()
			ignoreBody(w, r)
		}, want: expect(200, "length", "not reading it", true)},
		{name: "POST read after WriteHeader", request: post("0123456789"), handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusOK)
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%02d", len(b))
		}, want: expect(200, "length", "10", true)},
		{name: "chunked request body", handler: echo,
			request: "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", want: expect(200, "length", `POST -1 "hello world" <nil>`, true)},
		{name: "chunked request body with trailer", handler: func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "trailer %q", r.Trailer.Get("X-Checksum"))
		}, request: "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n" +
			"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", want: expect(200, "length", `trailer "abc"`, true)},
		{name: "chunked request body not read", handler: ignoreBody,
			request: "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "Expect: 100-continue, body read", handler: echo,
			run: expectContinue("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "hello"), want: func(t *testing.T, ex exchange) {
				if len(ex.Responses) != 2 || ex.Responses[0].Status != "HTTP/1.1 100 Continue" {
					t.Errorf("want 100 Continue before the response, got %+v", ex.Responses)
				}
				expect(200, "length", `POST 5 "hello" <nil>`, true)(t, ex)
			}},
		{name: "Expect: 100-continue, body not read", handler: ignoreBody,
			run: expectContinue("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "hello"), want: func(t *testing.T, ex exchange) {
				if len(ex.Responses) != 1 {
					t.Errorf("want the response alone, no 100 Continue, got %+v", ex.Responses)
				}
				expect(200, "length", "not reading it", false, "Connection: close")(t, ex)
			}},
		{name: "Expect: 100-continue, response flushed first", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "early")
			w.(http.Flusher).Flush()
		}, run: expectContinue("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "hello")},
		{name: "Expect: 100-continue, no body", request: "GET / HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\n\r\n", handler: echo},
		{name: "Expect: 100-continue, HTTP/1.0", request: "POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello", handler: echo, want: expect(200, "length", `POST 5 "hello" <nil>`, false)},
		{name: "Expect: other", request: post("hello", "Expect: something-else\r\n"), handler: echo, want: expect(417, "length", "", false, "Connection: close")},
		{name: "Expect: other, no body", request: "GET / HTTP/1.1\r\nHost: example.com\r\nExpect: something-else\r\n\r\n", handler: echo, want: expect(417, "length", "", false, "Connection: close")},
		{name: "handler sends 100", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusContinue)
			echo(w, r)
		}, run: expectContinue("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "hello")},
		{name: "CR and LF in values, invalid names", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-Split", "a\r\nX-Injected: yes")
			h.Set("X-Lf", "b\nSet-Cookie: evil=1")
			h["Bad Name"] = []string{"dropped"}
			h["X-Bad:Name"] = []string{"dropped"}
			h.Set("X-Padded", "  trimmed\t")
			hello(w, r)
		}, want: func(t *testing.T, ex exchange) {
			for _, f := range ex.Responses[0].Header {
				if strings.HasPrefix(f, "X-Injected") || strings.HasPrefix(f, "Set-Cookie") || strings.Contains(f, "dropped") {
					t.Errorf("header field %q: the response was split or an invalid name sent", f)
				}
			}
		}},
		{name: "CR and LF in trailer values", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-T")
			hello(w, r)
			w.Header().Set("X-T", "a\r\nX-Injected: yes")
		}},
		{name: "103 then 200", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload; as=style")
			w.Header().Set("Content-Length", "99") // not sent with a 1xx
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Content-Length")
			w.Header().Set("Content-Type", "text/plain")
			hello(w, r)
		}, want: func(t *testing.T, ex exchange) {
			if len(ex.Responses) != 2 || ex.Responses[0].code() != 103 {
				t.Errorf("want a 103 then the response, got %+v", ex.Responses)
			}
		}},
		{name: "invalid WriteHeader code", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(1000)
		}, want: func(t *testing.T, ex exchange) {
			if len(ex.Responses) != 0 || ex.Err != "EOF" {
				t.Errorf("want the connection closed without a response, got %+v", ex)
			}
		}},
		{name: "handler panics after flushing", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}},
		{name: "Host header moved to req.Host", request: get, handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%q %q", r.Host, r.Header.Values("Host"))
		}},
		{name: "empty Host header", request: "GET / HTTP/1.1\r\nHost:\r\n\r\n", handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%q", r.Host)
		}, differs: "http.ReadRequest deletes the Host header after copying it to req.Host, so h1 cannot tell " +
			"an empty one (which RFC 9112 §3.2 allows) from none, and refuses both",
			want: func(t *testing.T, ex exchange) {
				if len(ex.Responses) != 1 || ex.Responses[0].code() != http.StatusBadRequest {
					t.Errorf("got %+v, want 400", ex)
				}
			}},
		{name: "absolute form", request: "GET http://example.com/x?y=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
			handler: target},
		// The forms of request target besides origin-form (RFC 9112 §3.2); their refusals are
		// in TestBadRequests.
		{name: "absolute form, Host differs", request: "GET http://good.example/c HTTP/1.1\r\nHost: other.example\r\n\r\n",
			handler: target, want: expect(200, "length", `GET "good.example" "http://good.example/c" "http://good.example/c" []`, true)},
		{name: "absolute form, empty Host", request: "GET http://good.example/c HTTP/1.1\r\nHost:\r\n\r\n", handler: target},
		{name: "absolute form, HTTP/1.0 without Host", request: "GET http://good.example/c HTTP/1.0\r\n\r\n", handler: target},
		{name: "absolute form, host not a valid Host", request: "GET http://a_b/c HTTP/1.1\r\nHost: example.com\r\n\r\n", handler: target},
		{name: "absolute form, header split across reads", handler: target,
			run: trickle("GET http://good.example/c HTTP/1.1\r\nHost: other.example\r\nX-Pad: " + strings.Repeat("p", 6<<10) + "\r\n\r\n")},
		{name: "absolute form, no Host, split across reads", handler: target, run: trickle("GET http://good.example/c HTTP/1.1\r\nX-Pad: p\r\n\r\n"),
			differs: "h1 words its 400 as TestBadRequests says",
			want:    expect(400, "length", "400 Bad Request: missing required Host header", false, "Connection: close")},
		{name: "asterisk form, GET", request: "GET * HTTP/1.1\r\nHost: example.com\r\n\r\n", handler: target},
		{name: "OPTIONS *", request: "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", handler: target,
			want: expect(200, "length", "", true, "Content-Length: 0")},
		{name: "OPTIONS * with a body", n: 2, request: "OPTIONS * HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello" + get, handler: target},
		{name: "OPTIONS * with a body over 4 KiB", request: "OPTIONS * HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000),
			handler: target, want: expect(200, "length", "", false, "Connection: close")},
		{name: "OPTIONS on a path", request: "OPTIONS /x HTTP/1.1\r\nHost: example.com\r\n\r\n", handler: target},
		{name: "CONNECT, authority form", request: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", handler: target},
		{name: "CONNECT, authority form without Host", request: "CONNECT example.com:443 HTTP/1.1\r\n\r\n", handler: target},
		{name: "CONNECT, path", request: "CONNECT /rpc HTTP/1.1\r\nHost: example.com\r\n\r\n", handler: target},
		{name: "request fields", request: "GET /a%20b?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s %q %q %d.%d %v %q", r.Method, r.URL.Path, r.URL.RawQuery, r.ProtoMajor, r.ProtoMinor,
					r.Close, r.Header["X-Multi"])
			}},
		{name: "hijack after WriteHeader", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			defer c.Close()
			brw.WriteString("tunnel")
			brw.Flush()
		}, run: readAll(get)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			std := serveStd(t, tc.handler, 0)
			ours := serveH1(t, &h1.Server{Handler: tc.handler, Logger: discardLogger()})
			run := tc.run
			if run == nil {
				n := max(tc.n, 1)
				run = func(t *testing.T, addr string) exchange { return converse(t, addr, tc.request, n) }
			}
			want, got := run(t, std), run(t, ours)
			if diff := cmp.Diff(want, got); diff != "" && tc.differs == "" {
				t.Errorf("h1 differs from net/http (-net/http +h1):\n%s", diff)
			} else if diff == "" && tc.differs != "" {
				t.Errorf("h1 answers as net/http does, though the case says it differs: %s", tc.differs)
			}
			if tc.want != nil {
				tc.want(t, got)
			}
		})
	}
}

// expect checks h1's last response: its status, framing, body (unless "*"), whether the
// connection stayed open, and header fields it must have ("Name: value") or lack ("!Name").
func expect(code int, framing, body string, open bool, fields ...string) func(t *testing.T, ex exchange) {
	return func(t *testing.T, ex exchange) {
		t.Helper()
		if len(ex.Responses) == 0 {
			t.Fatalf("no response: %+v", ex)
		}
		r := ex.Responses[len(ex.Responses)-1]
		if r.code() != code || r.Framing != framing || body != "*" && r.Body != body || ex.Open != open {
			t.Errorf("got %d %s %q open=%v, want %d %s %q open=%v", r.code(), r.Framing, r.Body, ex.Open, code, framing, body, open)
		}
		for _, f := range fields {
			if name, ok := strings.CutPrefix(f, "!"); ok {
				if v, has := r.field(name); has {
					t.Errorf("%s: %s sent", name, v)
				}
			} else if !slices.Contains(r.Header, f) {
				t.Errorf("header %q missing from %q", f, r.Header)
			}
		}
	}
}

// expectContinue conducts an exchange as a client that sends Expect: 100-continue does: the
// header, then the body only once told to continue.
func expectContinue(header, body string) func(t *testing.T, addr string) exchange {
	return func(t *testing.T, addr string) exchange {
		c := dial(t, addr)
		io.WriteString(c, header)
		br := bufio.NewReader(c)
		var ex exchange
		for {
			r, err := readResponse(br, http.MethodPost)
			if err != nil {
				ex.Err = errText(err)
				return ex
			}
			ex.Responses = append(ex.Responses, r)
			if r.code() == http.StatusContinue {
				io.WriteString(c, body)
				continue
			}
			if r.code()/100 != 1 {
				break
			}
		}
		ex.Open = stillOpen(c, br)
		return ex
	}
}

// trickle sends request a few bytes at a time, so the server reads its header in pieces.
func trickle(request string) func(t *testing.T, addr string) exchange {
	return func(t *testing.T, addr string) exchange {
		c := dial(t, addr)
		go func() {
			for s := request; s != ""; {
				n := min(len(s), 7)
				if _, err := io.WriteString(c, s[:n]); err != nil {
					return
				}
				s = s[n:]
				if len(s) < 64 || len(s)%1024 < 7 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
		br := bufio.NewReader(c)
		r, err := readResponse(br, http.MethodGet)
		if err != nil {
			return exchange{Err: errText(err)}
		}
		return exchange{Responses: []rawResponse{r}, Open: stillOpen(c, br)}
	}
}

// readAll sends request and reads the status line and header, then everything else until the
// server closes, as raw bytes (for a hijacked connection).
func readAll(request string) func(t *testing.T, addr string) exchange {
	return func(t *testing.T, addr string) exchange {
		c := dial(t, addr)
		io.WriteString(c, request)
		br := bufio.NewReader(c)
		var r rawResponse
		line, _ := br.ReadString('\n')
		r.Status = strings.TrimRight(line, "\r\n")
		fields, err := readFields(br)
		for _, f := range fields {
			if !strings.HasPrefix(f, "Date:") {
				r.Header = append(r.Header, f)
			}
		}
		rest, _ := io.ReadAll(br)
		r.Framing, r.Body = "raw", string(rest)
		ex := exchange{Responses: []rawResponse{r}}
		if err != nil {
			ex.Err = errText(err)
		}
		return ex
	}
}

// TestConformanceSlowBody checks the cases where the client takes its time: a body that
// arrives after the response header would have been sent.
func TestConformanceSlowBody(t *testing.T) {
	t.Parallel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v", len(b), err)
	})
	run := func(t *testing.T, addr string) exchange {
		c := dial(t, addr)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n01234")
		time.Sleep(50 * time.Millisecond)
		io.WriteString(c, "56789")
		br := bufio.NewReader(c)
		r, err := readResponse(br, http.MethodPost)
		if err != nil {
			return exchange{Err: errText(err)}
		}
		return exchange{Responses: []rawResponse{r}, Open: stillOpen(c, br)}
	}
	want := run(t, serveStd(t, handler, 0))
	got := run(t, serveH1(t, &h1.Server{Handler: handler}))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-net/http +h1):\n%s", diff)
	}
}
