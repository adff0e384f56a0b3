package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/dashboard"
)

// newDashboard builds the dashboard with this server's authentication:
// login sessions (and their CSRF tokens) for users, shared links' tokens
// and passwords for read-only views.
func (s *server) newDashboard() *dashboard.Dashboard {
	return dashboard.New(dashboard.Deps{
		Store:    s.Store,
		Log:      s.log,
		Now:      s.Now,
		Version:  s.Version,
		StatsEnv: s.statsEnv,
		Session:  s.dashboardSession,
		SharedLink: func(r *http.Request, token string) (*marketing.SharedLink, bool, error) {
			l, err := s.activeSharedLink(r.Context(), token)
			if err != nil {
				return nil, false, err
			}
			return l, l.PasswordHash == "" || s.shareUnlocked(r, token, l), nil
		},
		UnlockShare:        s.unlockShare,
		WriteCSV:           writeStatsCSV,
		CountryAttribution: s.Config.CountryAttribution,
		Limit:              func(h http.Handler) http.Handler { return s.limited(classStats, h) },
		LimitErase:         func(h http.Handler) http.Handler { return s.limited(classDelete, h) },
		TrackerOrigin: func(r *http.Request) string {
			return s.ownOrigin(r)
		},
		Admin: dashboard.AdminDeps{Actions: s.admin, Config: s.Config,
			IPHash:         func(r *http.Request) string { return s.Pipeline.Hash(s.clientIP(r)) },
			UnsubscribeURL: s.unsubscribeURL},
	})
}

// mountDashboard registers the dashboard's routes: every path outside
// /v1/ (besides /login and /logout).
func (s *server) mountDashboard() {
	s.dash = s.newDashboard()
	s.dash.Routes(func(pattern string, h http.Handler) { s.mux.Handle(pattern, h) })
}

// dashboardSession authenticates a dashboard request by its login
// session (see dashboard.Deps.Session).
func (s *server) dashboardSession(w http.ResponseWriter, r *http.Request) (*dashboard.Principal, int) {
	c, err := r.Cookie(s.sessionCookie())
	if err != nil || c.Value == "" {
		return nil, http.StatusUnauthorized
	}
	p, status := s.sessionPrincipal(w, r, c.Value)
	if status != 0 {
		return nil, status
	}
	return dashboard.NewPrincipal(p.actor, p.user.ID, p.csrf, p.can), 0
}

// activeSharedLink finds a token's active link (ENOTFOUND for unknown,
// revoked and expired links alike).
func (s *server) activeSharedLink(ctx context.Context, token string) (*marketing.SharedLink, error) {
	l, err := s.Store.SharedLinkByToken(ctx, marketing.HashSecret(token))
	if err == nil && !l.Active(s.Now()) {
		err = marketing.Errorf(marketing.ENOTFOUND, "no such shared link")
	}
	return l, err
}

// unlockShare is the dashboard's password form for a shared link: limited
// like logins and like POST /v1/shared/{token}/unlock, refused cross-site.
func (s *server) unlockShare(w http.ResponseWriter, r *http.Request, token, password, cookiePath string) int {
	if s.crossOrigin.Check(r) != nil {
		return http.StatusForbidden
	}
	if ok, wait := s.limits[classLoginIP].allow(classLoginIP + "|" + rateKey(s.clientIP(r))); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		return http.StatusTooManyRequests
	}
	l, err := s.activeSharedLink(r.Context(), token)
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		return http.StatusNotFound
	}
	if err != nil {
		s.log.Error("find a shared link", "request_id", requestID(r), "err", err)
		return http.StatusInternalServerError
	}
	if ok, wait := s.limits[classLoginAccount].allow(classLoginAccount + "|share|" + l.ID); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		return http.StatusTooManyRequests
	}
	match, err := s.Passwords.Verify(r.Context(), l.PasswordHash, password)
	if err != nil {
		s.log.Error("check a shared link's password", "request_id", requestID(r), "err", err)
		return http.StatusInternalServerError
	}
	if !match {
		return http.StatusUnauthorized
	}
	until := s.Now().Add(shareUnlockTTL).Unix()
	http.SetCookie(w, &http.Cookie{Name: shareCookie, Value: shareUnlock(token, l, until), Path: cookiePath,
		MaxAge: int(shareUnlockTTL / time.Second), HttpOnly: true, Secure: s.Config.Production(), SameSite: http.SameSiteLaxMode})
	return 0
}

// dashboardPath reports whether a path belongs to the dashboard (not the
// JSON API), so its 404 is a page rather than a problem document.
func dashboardPath(p string) bool {
	return p != "/v1" && !strings.HasPrefix(p, "/v1/")
}

func retryAfter(wait time.Duration) string { return strconv.Itoa(int(wait/time.Second) + 1) }
