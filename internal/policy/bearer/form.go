package bearer

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"
)

// formPeek bounds how much of a form body is read to look for an access_token parameter.
const formPeek = 64 << 10

// replayBody serves the peeked bytes, then the rest of the original body.
type replayBody struct {
	io.Reader
	io.Closer
}

// tokenInForm reports whether a form-encoded body carries an access_token parameter (RFC 6750
// §2.2, which Tiaki does not accept: catalogue TOKEN-05/06). It reads at most formPeek bytes and
// puts them back, so the upstream still receives the whole body. Only form-encoded requests pay.
func tokenInForm(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/x-www-form-urlencoded") {
		return false
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
		return false
	}
	size := int64(formPeek)
	if r.ContentLength >= 0 && r.ContentLength < size {
		size = r.ContentLength
	}
	buf := make([]byte, size)
	n, _ := io.ReadFull(r.Body, buf)
	buf = buf[:n]
	r.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(buf), r.Body), Closer: r.Body}
	return tokenInQuery(string(buf))
}
