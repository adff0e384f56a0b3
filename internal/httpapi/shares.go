package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/admin"
)

// shareUnlockTTL is how long a shared link's password, once given, holds.
const shareUnlockTTL = 24 * time.Hour

// handleSharesList is GET /v1/admin/sites/{id}/shares.
func (s *server) handleSharesList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site := s.siteFor(w, r)
		if site == nil {
			return
		}
		links, err := s.Store.SharedLinks(r.Context(), site.ID)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "shares": links})
	})
}

// handleShareCreate is POST /v1/admin/sites/{id}/shares: {label, password,
// expiresAt, filter}. The answer holds the link's URL path, shown once.
func (s *server) handleShareCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if site := s.siteFor(w, r); site == nil {
			return
		}
		var in admin.ShareInput
		if !s.decodeJSON(w, r, &in) {
			return
		}
		p := principalOf(r)
		l, token, err := s.admin.CreateShare(r.Context(), p.actor, p.can, r.PathValue("id"), in)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		// path is the JSON summary (409 for a link locked to a filter: it
		// takes none); dashboardPath the read-only view, which applies it.
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "share": l, "token": token,
			"path": "/v1/shared/" + token + "/summary", "dashboardPath": "/share/" + token})
	})
}

// handleShareRevoke is POST /v1/admin/shares/{id}/revoke.
func (s *server) handleShareRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if _, err := s.admin.RevokeShare(r.Context(), p.actor, p.can, r.PathValue("id")); err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "revoked": true})
	})
}

// shareCookie is the cookie that says a shared link's password was given:
// an HMAC of the link's token and password hash, so it is worth nothing
// for another link, and nothing once the password changes.
const shareCookie = "marketing_share"

func shareUnlock(token string, l *marketing.SharedLink, until int64) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("share-unlock\x00" + l.PasswordHash + "\x00" + time.Unix(until, 0).UTC().Format(time.RFC3339)))
	return time.Unix(until, 0).UTC().Format("20060102T150405Z") + "." + hex.EncodeToString(m.Sum(nil))
}

// sharedLink finds the path's active link; unknown, revoked and expired
// links are all 404 (a link's state is nobody else's business).
func (s *server) sharedLink(w http.ResponseWriter, r *http.Request) (*marketing.SharedLink, string) {
	token := r.PathValue("token")
	l, err := s.activeSharedLink(r.Context(), token)
	if err != nil {
		s.storeError(w, r, err)
		return nil, ""
	}
	return l, token
}

// handleShareUnlock is POST /v1/shared/{token}/unlock {password}: limited
// like logins, answered with a cookie for a day.
func (s *server) handleShareUnlock() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allowKey(w, classLoginIP, rateKey(s.clientIP(r))) {
			return
		}
		l, token := s.sharedLink(w, r)
		if l == nil {
			return
		}
		if !s.allowKey(w, classLoginAccount, "share|"+l.ID) {
			return
		}
		body, kind, ok := readBody(w, r, limitDefault, true)
		if !ok {
			return
		}
		var in struct {
			Password string `json:"password"`
		}
		if kind == bodyForm {
			v, _ := url.ParseQuery(string(body))
			in.Password = v.Get("password")
		} else {
			_ = json.Unmarshal(body, &in)
		}
		match, err := s.Passwords.Verify(r.Context(), l.PasswordHash, in.Password)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !match {
			writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
			return
		}
		until := s.Now().Add(shareUnlockTTL).Unix()
		http.SetCookie(w, &http.Cookie{Name: shareCookie, Value: shareUnlock(token, l, until), Path: "/v1/shared/" + token + "/",
			MaxAge: int(shareUnlockTTL / time.Second), HttpOnly: true, Secure: s.Config.Production(), SameSite: http.SameSiteLaxMode})
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}

// handleSharedSummary is GET /v1/shared/{token}/summary: the metrics
// summary of the link's site, as GET /v1/metrics/summary answers it, for
// whoever holds the link (and its password).
func (s *server) handleSharedSummary() http.Handler {
	summary := s.handleMetricsSummary()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, token := s.sharedLink(w, r)
		if l == nil {
			return
		}
		if l.PasswordHash != "" && !s.shareUnlocked(r, token, l) {
			writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
			return
		}
		q := r.URL.Query()
		q.Set("propertyId", l.SiteID)
		r2 := r.Clone(context.WithValue(r.Context(), principalKey, &principal{actor: "share:" + l.ID,
			grants: map[string][]string{l.SiteID: {marketing.ScopeStatsRead}}}))
		r2.URL.RawQuery = q.Encode()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if f, err := marketing.ShareFilter(l.Filter); l.Filter != "" && (err != nil || len(f) > 0) {
			// The summary takes no filter: a link locked to one shows its
			// figures only on the dashboard (/share/{token}), which applies it.
			writeProblem(w, http.StatusConflict, "conflict", []marketing.Issue{{Path: "",
				Message: "this link is locked to a filter, which the summary cannot apply: open /share/{token} instead"}})
			return
		}
		summary.ServeHTTP(w, r2)
	})
}

func (s *server) shareUnlocked(r *http.Request, token string, l *marketing.SharedLink) bool {
	c, err := r.Cookie(shareCookie)
	if err != nil || len(c.Value) < 17 {
		return false
	}
	until, err := time.Parse("20060102T150405Z", c.Value[:16])
	if err != nil || !s.Now().Before(until) {
		return false
	}
	return hmac.Equal([]byte(c.Value), []byte(shareUnlock(token, l, until.Unix())))
}
