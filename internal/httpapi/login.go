package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/dashboard"
	"github.com/altcontext/marketing/internal/ingest"
)

// Login sessions slide: each use pushes the expiry loginTTL ahead, written
// at most once per loginTouchEvery.
const (
	loginTTL        = 14 * 24 * time.Hour
	loginTouchEvery = time.Minute
	// loginsPerMinute is the login budget per client IP and per account.
	loginsPerMinute = 5
)

// sessionCookie and csrfCookie are the cookies' names: in production
// with the __Host- prefix, which browsers accept only Secure, for the
// whole host and no Domain, so no subdomain can plant one.
func (s *server) sessionCookie() string {
	if s.Config.Production() {
		return "__Host-marketing_session"
	}
	return "marketing_session"
}

func (s *server) csrfCookie() string {
	if s.Config.Production() {
		return "__Host-marketing_csrf"
	}
	return "marketing_csrf"
}

func (s *server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, sameSite http.SameSite) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.Config.Production(), SameSite: sameSite}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// csrfFor is a session's CSRF token: derived from the session's own
// token, so nothing more is stored and it changes with every login.
func csrfFor(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

// csrfOf reads the CSRF token a request carries: the X-CSRF-Token header,
// or the csrf_token field of a form body (the body is put back).
func csrfOf(r *http.Request) string {
	if v := r.Header.Get("X-CSRF-Token"); v != "" {
		return v
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" || r.Body == nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limitLeads))
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	v, _ := url.ParseQuery(string(b))
	return v.Get("csrf_token")
}

func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// unsafeMethod is a request that may change state.
func unsafeMethod(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// userPrincipal is a logged-in user's principal: its roles as scopes per
// site.
func userPrincipal(u *marketing.User) *principal {
	p := &principal{actor: "user:" + u.ID, user: u, grants: map[string][]string{}}
	for _, r := range u.Roles {
		p.grants[r.SiteID] = append(p.grants[r.SiteID], marketing.RoleScopes(r.Role)...)
	}
	return p
}

// authenticateSession finds the user of a session cookie. A state-changing
// request must also pass http.CrossOriginProtection and carry the
// session's CSRF token (403 otherwise).
func (s *server) authenticateSession(w http.ResponseWriter, r *http.Request, token string) *principal {
	p, status := s.sessionPrincipal(w, r, token)
	switch status {
	case 0:
		return p
	case http.StatusUnauthorized:
		writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
	case http.StatusForbidden:
		writeProblem(w, http.StatusForbidden, "forbidden", nil)
	default:
		writeProblem(w, http.StatusInternalServerError, "internal_error", nil)
	}
	return nil
}

// sessionPrincipal is authenticateSession without an answer: the
// principal, or the status to answer (401 no such session, 403 refused
// state change, 500 store error, logged). It may set cookies: it clears an
// unknown session's cookie and slides a live one.
func (s *server) sessionPrincipal(w http.ResponseWriter, r *http.Request, token string) (*principal, int) {
	now := s.Now().UTC()
	hash := marketing.HashSecret(token)
	ls, err := s.Store.LoginSession(r.Context(), hash)
	if err == nil && !now.Before(ls.Expires) {
		_ = s.Store.DeleteLoginSession(r.Context(), hash)
		err = marketing.Errorf(marketing.ENOTFOUND, "session expired")
	}
	var u *marketing.User
	if err == nil {
		u, err = s.Store.User(r.Context(), ls.UserID)
	}
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		s.setCookie(w, s.sessionCookie(), "", 0, http.SameSiteLaxMode)
		return nil, http.StatusUnauthorized
	}
	if err != nil {
		s.log.Error("read a login session", "request_id", requestID(r), "err", err)
		return nil, http.StatusInternalServerError
	}
	if unsafeMethod(r) && (s.crossOrigin.Check(r) != nil || !sameSecret(csrfOf(r), csrfFor(token))) {
		return nil, http.StatusForbidden
	}
	if now.Sub(ls.LastSeen) >= loginTouchEvery {
		if err := s.Store.TouchLoginSession(r.Context(), hash, now, now.Add(loginTTL)); err != nil {
			s.log.Warn("slide a login session", "request_id", requestID(r), "err", err)
		} else {
			s.setCookie(w, s.sessionCookie(), token, loginTTL, http.SameSiteLaxMode)
		}
	}
	p := userPrincipal(u)
	p.sessionHash, p.csrf = hash, csrfFor(token)
	return p, 0
}

type loginPage struct{ CSRF, Next, Email, Error string }

// renderLogin writes the login form with a fresh pre-session CSRF token
// (double-submit: the same value in a SameSite=Strict cookie).
func (s *server) renderLogin(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	p.CSRF = newToken()
	s.setCookie(w, s.csrfCookie(), p.CSRF, time.Hour, http.SameSiteStrictMode)
	s.dash.RenderLogin(w, r, status, dashboard.LoginForm(p))
}

// afterLogin is where a browser goes without a next: the dashboard.
const afterLogin = "/"

// handleLoginPage is GET /login.
func (s *server) handleLoginPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := r.URL.Query().Get("next")
		if !safePath(next) {
			next = ""
		}
		s.renderLogin(w, r, http.StatusOK, loginPage{Next: next})
	})
}

// handleLogin is POST /login: a form (email, password, csrf_token, next)
// answered with a session cookie and a 303, or JSON answered with the user
// and its CSRF token. Attempts are limited per client IP and per account,
// and the password is checked whether or not the account exists.
func (s *server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.crossOrigin.Check(r) != nil {
			writeProblem(w, http.StatusForbidden, "forbidden", nil)
			return
		}
		body, kind, ok := readBody(w, r, limitDefault, true)
		if !ok {
			return
		}
		var f struct {
			Email    string `json:"email"`
			Password string `json:"password"`
			Next     string `json:"next"`
			Code     string `json:"code"` // TOTP or recovery code, when the account has a second factor
			CSRF     string `json:"-"`
		}
		form := kind == bodyForm
		if form {
			v, _ := url.ParseQuery(string(body))
			f.Email, f.Password, f.Next, f.CSRF, f.Code = v.Get("email"), v.Get("password"), v.Get("next"), v.Get("csrf_token"), v.Get("code")
			c, err := r.Cookie(s.csrfCookie())
			if err != nil || !sameSecret(f.CSRF, c.Value) {
				writeProblem(w, http.StatusForbidden, "forbidden", nil)
				return
			}
		} else if err := json.Unmarshal(body, &f); err != nil {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "", Message: "body must be a JSON object"}}})
			return
		}
		if !safePath(f.Next) {
			f.Next = afterLogin
		}
		if !s.allowKey(w, classLoginIP, rateKey(s.clientIP(r))) {
			s.Metrics.Login("rate_limited_ip")
			return
		}
		email, _ := marketing.NormalizeEmail(f.Email)
		if email == "" {
			email = strings.ToLower(strings.TrimSpace(f.Email))
		}
		if !s.allowKey(w, classLoginAccount, marketing.HashSecret(email)) {
			s.Metrics.Login("rate_limited_account")
			return
		}
		u, err := s.Store.UserByEmail(r.Context(), email)
		if err != nil && marketing.ErrorCode(err) != marketing.ENOTFOUND {
			s.storeError(w, r, err)
			return
		}
		stored := ""
		if u != nil {
			stored = u.PasswordHash
		}
		match, err := s.Passwords.Verify(r.Context(), stored, f.Password)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		problem := ""
		if match && u.TOTPEnabled {
			if problem = "totp_required"; f.Code != "" {
				ok, err := s.secondFactor(r.Context(), u, f.Code)
				if err != nil {
					s.storeError(w, r, err)
					return
				}
				if problem = "totp_invalid"; ok {
					problem = ""
				}
			}
		}
		if problem != "" {
			s.Metrics.Login(problem)
			if form {
				s.renderLogin(w, r, http.StatusUnauthorized, loginPage{Next: f.Next, Email: f.Email, Error: "Enter the current code of your authenticator app, or a recovery code."})
				return
			}
			writeProblem(w, http.StatusUnauthorized, problem, nil)
			return
		}
		if !match {
			s.Metrics.Login("invalid")
			if form {
				s.renderLogin(w, r, http.StatusUnauthorized, loginPage{Next: f.Next, Email: f.Email, Error: "Wrong email or password."})
				return
			}
			writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
			return
		}
		// A new token at every login: a session id planted before it
		// (fixation) is ended, never promoted.
		if c, err := r.Cookie(s.sessionCookie()); err == nil && c.Value != "" {
			_ = s.Store.DeleteLoginSession(r.Context(), marketing.HashSecret(c.Value))
		}
		token := newToken()
		now := s.Now().UTC().Truncate(time.Millisecond)
		agent := ingest.NewAgents(1).Parse(r.UserAgent())
		ls := &marketing.LoginSession{ID: marketing.NewID(now), TokenHash: marketing.HashSecret(token), UserID: u.ID,
			Created: now, LastSeen: now, Expires: now.Add(loginTTL), UserAgent: strings.TrimSpace(agent.Browser + " on " + agent.OS)}
		if err := s.Store.CreateLoginSession(r.Context(), ls); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.Metrics.Login("ok")
		s.setCookie(w, s.sessionCookie(), token, loginTTL, http.SameSiteLaxMode)
		s.setCookie(w, s.csrfCookie(), "", 0, http.SameSiteStrictMode)
		if form {
			w.Header().Set("Location", f.Next)
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": u, "csrfToken": csrfFor(token)})
	})
}

// sessionOnly wraps a handler for logged-in users (a cookie), whose
// principal it stores in the request.
func (s *server) sessionOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(s.sessionCookie())
		if err != nil || c.Value == "" {
			writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
			return
		}
		p := s.authenticateSession(w, r, c.Value)
		if p == nil {
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
}

// handleLogout is POST /logout (CSRF token required): ends this session.
func (s *server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if err := s.Store.DeleteLoginSession(r.Context(), p.sessionHash); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.setCookie(w, s.sessionCookie(), "", 0, http.SameSiteLaxMode)
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			w.Header().Set("Location", "/login")
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}

// handleMe is GET /v1/me: who the credentials are, and for a logged-in
// user its roles and the CSRF token its state-changing requests carry.
func (s *server) handleMe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		out := map[string]any{"ok": true, "actor": p.actor, "root": p.root}
		if p.user != nil {
			out["user"], out["csrfToken"] = p.user, p.csrf
		} else if !p.root {
			out["grants"] = p.grants
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, out)
	})
}

// handleMySessions is GET /v1/me/sessions: the user's signed-in browsers.
func (s *server) handleMySessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		list, err := s.Store.LoginSessions(r.Context(), p.user.ID, s.Now().UTC())
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		type item struct {
			marketing.LoginSession
			Current bool `json:"current"`
		}
		out := []item{}
		for _, ls := range list {
			out = append(out, item{LoginSession: ls, Current: ls.TokenHash == p.sessionHash})
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "sessions": out})
	})
}

// handleRevokeAll is POST /v1/me/sessions/revoke-all: sign out everywhere,
// this browser included.
func (s *server) handleRevokeAll() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := s.Store.DeleteLoginSessions(r.Context(), principalOf(r).user.ID)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		s.setCookie(w, s.sessionCookie(), "", 0, http.SameSiteLaxMode)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "ended": n})
	})
}
