package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// principal is who a request acts as, and what it may do where. Root
// (ADMIN_API_KEY) may do everything; an API key holds its scopes on its
// sites (every site when it names none); a user holds per-site roles.
type principal struct {
	actor string // for the audit log: "root", "key:<prefix>", "user:<id>"
	root  bool
	// grants are the scopes held per site id; allSites applies to every
	// site, registered or not, and to the all-properties figures.
	grants map[string][]string
	// A logged-in user's account, session (token hash) and CSRF token.
	user        *marketing.User
	sessionHash string
	csrf        string
}

const allSites = marketing.AllSites

const principalKey ctxKey = 1

// can reports whether p holds scope on site; site "" asks for every site
// at once (person-level actions such as erasure, all-properties figures).
func (p *principal) can(scope, site string) bool {
	if p.root || slices.Contains(p.grants[allSites], scope) {
		return true
	}
	return site != "" && site != allSites && slices.Contains(p.grants[site], scope)
}

// holds reports whether p holds scope on at least one site.
func (p *principal) holds(scope string) bool {
	if p.root {
		return true
	}
	for _, scopes := range p.grants {
		if slices.Contains(scopes, scope) {
			return true
		}
	}
	return false
}

// sitesFor lists the sites where p holds scope, nil meaning every site.
func (p *principal) sitesFor(scope string) []string {
	if p.can(scope, "") {
		return nil
	}
	out := []string{}
	for site, scopes := range p.grants {
		if slices.Contains(scopes, scope) {
			out = append(out, site)
		}
	}
	slices.Sort(out)
	return out
}

func keyPrincipal(k *marketing.APIKey) *principal {
	p := &principal{actor: "key:" + k.Prefix, grants: map[string][]string{}}
	if len(k.Sites) == 0 {
		p.grants[allSites] = k.Scopes
	}
	for _, s := range k.Sites {
		p.grants[s] = k.Scopes
	}
	return p
}

// principalOf is the principal require stored in the request.
func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey).(*principal)
	return p
}

// authenticate finds the caller from its credentials: x-admin-key or
// Authorization: Bearer with ADMIN_API_KEY (root), Bearer with an API
// key, or a login session's cookie. It answers 401 for missing or bad credentials (503 when no root key
// is configured and none of ours was presented) and 429 past a key's rate
// limit, and returns nil when it has answered.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) *principal {
	bearer := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		bearer = strings.TrimSpace(h[7:])
	}
	if prefix, ok := marketing.SplitAPIKey(bearer); ok && r.Header.Get("x-admin-key") == "" {
		return s.authenticateKey(w, r, prefix, bearer)
	}
	presented := r.Header.Get("x-admin-key")
	if presented == "" {
		presented = bearer
	}
	if presented == "" {
		if c, err := r.Cookie(s.sessionCookie()); err == nil && c.Value != "" {
			return s.authenticateSession(w, r, c.Value)
		}
	}
	if s.AdminKey == "" {
		writeProblem(w, http.StatusServiceUnavailable, "admin_auth_not_configured", nil)
		return nil
	}
	got := sha256.Sum256([]byte(presented))
	want := sha256.Sum256([]byte(s.AdminKey))
	if presented == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
		return nil
	}
	return &principal{actor: "root", root: true}
}

// keyTouchEvery bounds the writes last_used_at costs a busy key.
const keyTouchEvery = time.Minute

func (s *server) authenticateKey(w http.ResponseWriter, r *http.Request, prefix, secret string) *principal {
	k, err := s.Store.KeyByPrefix(r.Context(), prefix)
	if err != nil && marketing.ErrorCode(err) != marketing.ENOTFOUND {
		s.storeError(w, r, err)
		return nil
	}
	// Compare a hash whatever happened, so an unknown prefix costs the
	// same as a wrong secret.
	stored := strings.Repeat("0", 64)
	if k != nil {
		stored = k.Hash
	}
	match := subtle.ConstantTimeCompare([]byte(marketing.HashSecret(secret)), []byte(stored)) == 1
	now := s.Now()
	if k == nil || !match || !k.Active(now) {
		writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
		return nil
	}
	if !s.allowKey(w, classAPIKey, k.Prefix) {
		return nil
	}
	if now.Sub(k.LastUsed) >= keyTouchEvery {
		if err := s.Store.TouchKey(r.Context(), k.ID, now.UTC()); err != nil {
			s.log.Warn("record key use", "request_id", requestID(r), "key", k.Prefix, "err", err)
		}
	}
	return keyPrincipal(k)
}

// require wraps a handler: the caller must hold scope on at least one site
// (403 forbidden otherwise); handlers then check the site each answer is
// about with authorize.
func (s *server) require(scope string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.authenticate(w, r)
		if p == nil {
			return
		}
		if !p.holds(scope) {
			writeProblem(w, http.StatusForbidden, "forbidden", nil)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
}

// authorize checks that the request's principal (set by require) holds
// scope on site; site "" (or the all-properties id) asks for every site.
// It returns an EFORBIDDEN error to hand to writeError. Routes built on
// require, such as the stats API, call it with the site they answer about.
func (s *server) authorize(r *http.Request, scope, site string) error {
	p := principalOf(r)
	if site == s.Config.RollupDefaultPropertyID {
		site = ""
	}
	if p == nil || !p.can(scope, site) {
		return marketing.Errorf(marketing.EFORBIDDEN, "not allowed")
	}
	return nil
}

// audit records an admin action by the request's principal. The action
// has happened: a failure to record it is logged, not answered.
func (s *server) audit(r *http.Request, action, target, site, detail string) {
	actor := "anonymous"
	if p := principalOf(r); p != nil {
		actor = p.actor
	}
	err := s.Store.Audit(context.WithoutCancel(r.Context()), marketing.AuditEntry{
		At: s.Now().UTC(), Actor: actor, Action: action, Target: target, SiteID: site, Detail: detail})
	if err != nil {
		s.log.Error("write the audit log", "request_id", requestID(r), "action", action, "err", err)
	}
}

// signedIn wraps a handler for any authenticated caller.
func (s *server) signedIn(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := s.authenticate(w, r); p != nil {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
		}
	})
}
