package h1

import (
	"errors"
	"net"
	"sync"
	"time"
)

// watchAfter is how long a request runs before the server starts watching its connection for
// the client going away. net/http watches every request from its start, with a goroutine and
// a read per request; most gateway requests are answered well within this, and for the rest
// a disconnect is noticed this much later.
const watchAfter = 500 * time.Millisecond

// aLongTimeAgo is a deadline in the past, which makes a blocked read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// connReader is what the connection's buffered reader reads from: the connection itself, but
// for a byte a background read took while the handler ran (the start of a pipelined request),
// which it hands back first.
//
// While a handler runs and the request body has been read, nothing else reads from the
// connection; a request still running after watchAfter gets a background read then, as
// net/http starts one for every request. The read ends in one of three ways: an error (the
// client went away), which cancels the connection's context, and with it the requests' (the
// upstream exchange is then abandoned); a byte, kept for the next request; or the handler
// returning, which aborts it with a past deadline.
type connReader struct {
	c     *conn
	timer *time.Timer // made on the first request that arms it

	mu       sync.Mutex
	done     *sync.Cond // signalled when a background read ends
	watching bool       // a handler is running
	inRead   bool       // a background read is running
	aborted  bool
	hasByte  bool
	b        [1]byte
}

// Read implements io.Reader for the connection's buffered reader. Reads never overlap a
// background read: it starts only once the body has been read, and ends before the next
// request is read.
func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	cr.mu.Lock()
	if cr.hasByte {
		p[0], cr.hasByte = cr.b[0], false
		cr.mu.Unlock()
		return 1, nil
	}
	cr.mu.Unlock()
	return cr.c.rwc.Read(p)
}

// arm starts the watch for a request whose handler is about to run.
func (cr *connReader) arm() {
	cr.mu.Lock()
	cr.watching = true
	cr.mu.Unlock()
	if cr.timer == nil {
		cr.done = sync.NewCond(&cr.mu)
		cr.timer = time.AfterFunc(watchAfter, cr.watch)
		return
	}
	cr.timer.Reset(watchAfter)
}

// watch runs when a request has taken watchAfter: it starts the background read if the
// handler has finished with the request body, and looks again later if not.
func (cr *connReader) watch() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if !cr.watching || cr.inRead || cr.hasByte {
		return
	}
	if b := cr.c.body; b != nil && b.rc != nil {
		if _, eof, left := b.state(); !eof && left != 0 {
			cr.timer.Reset(watchAfter)
			return
		}
	}
	cr.inRead = true
	// The body is in: its deadline (Server.BodyTimeout, or the handler's) has done its work,
	// and must not end a slow request as if the client had gone (net/http's
	// startBackgroundRead lifts it too).
	cr.c.rwc.SetReadDeadline(time.Time{})
	go cr.backgroundRead()
}

func (cr *connReader) backgroundRead() {
	n, err := cr.c.rwc.Read(cr.b[:])
	cr.mu.Lock()
	if n == 1 {
		cr.hasByte = true // a pipelined request; the client is there
	}
	var ne net.Error
	if err != nil && !(cr.aborted && errors.As(err, &ne) && ne.Timeout()) {
		cr.c.cancel() // the client went away: the requests' context ends
	}
	cr.inRead, cr.aborted = false, false
	cr.mu.Unlock()
	cr.done.Broadcast()
}

// disarm ends the watch when the handler has returned (or hijacks the connection), aborting
// a background read and waiting for it, so the next read is the loop's own.
func (cr *connReader) disarm() {
	if cr.timer == nil {
		return
	}
	cr.timer.Stop()
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.watching = false
	if !cr.inRead {
		return
	}
	cr.aborted = true
	cr.c.rwc.SetReadDeadline(aLongTimeAgo)
	for cr.inRead {
		cr.done.Wait()
	}
	cr.c.rwc.SetReadDeadline(time.Time{})
}
