package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// Single sign-on and remembered consent. A person who signs in gets a login session: a random
// value in the __Host-tiaki-login cookie, stored as its SHA-256 in the session store with the
// person and the time of authentication, for Config.LoginSessionTTL. Later authorization
// requests from that browser skip the login page unless the client asks otherwise (prompt=login,
// max_age) or the account has been disabled. Logout deletes the record, so a copied cookie stops
// working everywhere at once. A consent is remembered per person and client for
// Config.ConsentTTL, for the scopes consented to, so prompt=none can succeed.

// Session kinds of the authorization server beyond the root's: stores treat kinds as opaque.
const (
	kindLogin   tiaki.SessionKind = "login"
	kindConsent tiaki.SessionKind = "consent"
)

// amrPassword is the RFC 8176 §2 method of Tiaki's login page.
const amrPassword = "pwd"

// loginSession is the Data of a login record.
type loginSession struct {
	Subject  string   `json:"sub"`
	AuthTime int64    `json:"auth_time"`
	AMR      []string `json:"amr"`
}

// currentLogin returns the login session of the browser that sent r, if it has a live one
// for an account that may still sign in.
func (s *Server) currentLogin(ctx context.Context, r *http.Request) *loginSession {
	v := cookieValue(r, loginCookie)
	if v == "" {
		return nil
	}
	rec, err := s.sessions.Session(ctx, kindLogin, digest(v))
	if err != nil {
		if !errors.Is(err, tiaki.ErrNotFound) {
			s.log.WarnContext(ctx, "authserver: reading a login session", "request_id", web.RequestIDFrom(ctx), "cause", err.Error())
		}
		return nil
	}
	if !s.now().Before(rec.ExpiresAt) {
		return nil
	}
	var ls loginSession
	if json.Unmarshal(rec.Data, &ls) != nil || ls.Subject == "" {
		return nil
	}
	if u, err := s.users.User(ctx, ls.Subject); err != nil || u.Disabled {
		return nil
	}
	return &ls
}

// startLogin records a new login session for subject and gives the browser its cookie. A
// session the browser had before is deleted: a sign-in always starts afresh (no fixation).
func (s *Server) startLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, subject string) (*loginSession, error) {
	if old := cookieValue(r, loginCookie); old != "" {
		if err := s.sessions.DeleteSession(ctx, kindLogin, digest(old)); err != nil && !errors.Is(err, tiaki.ErrNotFound) {
			return nil, err
		}
	}
	now := s.now()
	ls := &loginSession{Subject: subject, AuthTime: now.Unix(), AMR: []string{amrPassword}}
	data, err := json.Marshal(ls)
	if err != nil {
		return nil, err
	}
	v := randomID(ctx)
	err = s.sessions.CreateSession(ctx, &tiaki.Session{Kind: kindLogin, ID: digest(v), Data: data,
		ExpiresAt: now.Add(s.cfg.LoginSessionTTL)})
	if err != nil {
		return nil, err
	}
	setCookie(w, loginCookie, v, int(s.cfg.LoginSessionTTL.Seconds()))
	return ls, nil
}

// endLogin deletes the browser's login session and its cookie.
func (s *Server) endLogin(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if v := cookieValue(r, loginCookie); v != "" {
		err := s.sessions.DeleteSession(ctx, kindLogin, digest(v))
		if err != nil && !errors.Is(err, tiaki.ErrNotFound) {
			s.log.WarnContext(ctx, "authserver: deleting a login session", "request_id", web.RequestIDFrom(ctx), "cause", err.Error())
		}
	}
	setCookie(w, loginCookie, "", -1)
}

// consentRecord is the Data of a consent record.
type consentRecord struct {
	Scopes []string `json:"scopes"`
}

func consentID(subject, clientID string) string { return digest(subject + "\x00" + clientID) }

// consentCovers reports whether subject has consented to every scope in scope for clientID.
func (s *Server) consentCovers(ctx context.Context, subject, clientID, scope string) bool {
	rec, err := s.sessions.Session(ctx, kindConsent, consentID(subject, clientID))
	if err != nil || !s.now().Before(rec.ExpiresAt) {
		return false
	}
	var c consentRecord
	if json.Unmarshal(rec.Data, &c) != nil {
		return false
	}
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(c.Scopes, sc) {
			return false
		}
	}
	return true
}

// rememberConsent adds scope to what subject has consented to for clientID. It is best
// effort: a failure only means the consent page shows again next time.
func (s *Server) rememberConsent(ctx context.Context, subject, clientID, scope string) {
	id := consentID(subject, clientID)
	exp := s.now().Add(s.cfg.ConsentTTL)
	rec, err := s.sessions.Session(ctx, kindConsent, id)
	var c consentRecord
	if err == nil && s.now().Before(rec.ExpiresAt) {
		_ = json.Unmarshal(rec.Data, &c)
	}
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(c.Scopes, sc) {
			c.Scopes = append(c.Scopes, sc)
		}
	}
	data, _ := json.Marshal(c) // strings only: cannot fail
	if err == nil {
		rec.Data, rec.ExpiresAt = data, exp
		err = s.sessions.UpdateSession(ctx, rec)
	} else if errors.Is(err, tiaki.ErrNotFound) {
		err = s.sessions.CreateSession(ctx, &tiaki.Session{Kind: kindConsent, ID: id, Data: data, ExpiresAt: exp})
	}
	if err != nil {
		s.log.InfoContext(ctx, "authserver: could not remember a consent", "request_id", web.RequestIDFrom(ctx), "cause", err.Error())
	}
}
