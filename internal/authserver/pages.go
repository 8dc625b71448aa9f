package authserver

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// The pages people see: login, consent, logout and errors. They are server-rendered with
// html/template from embedded files (pages/), work without JavaScript, and carry a
// Content-Security-Policy that allows no script at all and no framing (clickjacking).

//go:embed pages/*.html pages/tiaki.css
var pageFiles embed.FS

// Cookies. The __Host- prefix makes the browser refuse them unless Secure, on Path=/ and
// without Domain, so no sibling host can set or read them (RFC 6265bis §4.1.3.2).
const (
	// browserCookie identifies the browser an authorization request started in; the request's
	// pages answer only that browser (engine-notes: the session ID in the URL is otherwise the
	// only credential). It also anchors the logout page's CSRF token.
	browserCookie = "__Host-tiaki-browser"
	// loginCookie holds a signed-in person's login session (single sign-on across clients).
	loginCookie = "__Host-tiaki-login"
	// maxCookieLen bounds a cookie value before it is hashed.
	maxCookieLen = 128
)

// pageData is what every page template reads.
type pageData struct {
	Title, Message, Error string
	// Alert marks a message page as bad news (role="alert", and how to start again).
	Alert                bool
	ClientName, Username string
	Action, CSRF         string
	Scopes               []string
	Hidden               map[string]string
}

type pages struct {
	tmpl *template.Template
	css  []byte
}

func newPages() (*pages, error) {
	tmpl, err := template.ParseFS(pageFiles, "pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("authserver: page templates: %w", err)
	}
	css, err := pageFiles.ReadFile("pages/tiaki.css")
	if err != nil {
		return nil, err
	}
	return &pages{tmpl: tmpl, css: css}, nil
}

// render writes page name with status. formTargets are the origins a form on the page may
// end up at besides Tiaki itself: a form post answered by a redirect to the client is checked
// against form-action too.
func (p *pages) render(w http.ResponseWriter, status int, name string, d pageData, formTargets ...string) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		// The templates are compiled in and tested; this is a programming error.
		http.Error(w, "page unavailable", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // pages carry CSRF tokens and personal details
	h.Set("Content-Security-Policy", pagePolicy(formTargets))
	h.Set("X-Frame-Options", "DENY") // for browsers older than frame-ancestors
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pagePolicy is the pages' Content-Security-Policy: no script of any kind, styles from Tiaki
// only, forms to Tiaki or the given origins, never in a frame.
func pagePolicy(formTargets []string) string {
	action := "'self'"
	for _, t := range formTargets {
		if o := origin(t); o != "" {
			action += " " + o
		}
	}
	return "default-src 'none'; style-src 'self'; img-src 'self'; form-action " + action +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// origin returns the scheme://host[:port] of an absolute URL, or "" if it has none or holds a
// character a CSP source cannot.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || strings.ContainsAny(u.Host, " ;,'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// serveAsset serves the stylesheet.
func (p *pages) serveAsset(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") != "tiaki.css" {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(p.css)
}

// message renders a page that tells the person something, usually that their request cannot
// go on. It never redirects.
func (p *pages) message(w http.ResponseWriter, status int, title, msg string) {
	p.render(w, status, "message.html", pageData{Title: title, Message: msg, Alert: status >= http.StatusBadRequest})
}

// setCookie sets one of Tiaki's __Host- cookies. maxAge 0 makes it last the browser session,
// a negative one deletes it.
func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// cookieValue returns the value of a cookie of bounded length, or "".
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > maxCookieLen {
		return ""
	}
	return c.Value
}

// browserID returns the browser's ID from its cookie, giving it one if it has none.
func browserID(w http.ResponseWriter, r *http.Request) string {
	if v := cookieValue(r, browserCookie); len(v) >= 32 {
		return v
	}
	v := randomID(r.Context())
	setCookie(w, browserCookie, v, 0)
	r.AddCookie(&http.Cookie{Name: browserCookie, Value: v}) // later reads in this request see it
	return v
}

// sameSecret compares two secrets in constant time; empty never matches.
func sameSecret(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
