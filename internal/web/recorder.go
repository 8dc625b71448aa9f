package web

import "net/http"

// Recorder is a ResponseWriter that remembers the status and the number of body bytes written.
// It implements Unwrap, so http.ResponseController still reaches Flush, Hijack and deadlines of
// the writer underneath (streaming and upgrades keep working through it).
type Recorder struct {
	http.ResponseWriter
	status  int
	written int64
}

// Record wraps w in a Recorder, or returns w itself when it already is one, so several
// middlewares share one wrapper.
func Record(w http.ResponseWriter) *Recorder {
	if r, ok := w.(*Recorder); ok {
		return r
	}
	return &Recorder{ResponseWriter: w}
}

// WriteHeader records the status.
func (r *Recorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Write records an implicit 200 and counts bytes.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.written += int64(n)
	return n, err
}

// Flush passes through to the underlying writer when it can flush.
func (r *Recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Status returns the status sent, 200 if the handler wrote a body without one, or 0 if nothing
// was written yet.
func (r *Recorder) Status() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// Written returns the number of body bytes written.
func (r *Recorder) Written() int64 { return r.written }
