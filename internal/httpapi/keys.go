package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

func parseLimit(v string, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "limit", Message: "must be 1.." + strconv.Itoa(max)}}}
	}
	return n, nil
}

// handleKeysList is GET /v1/admin/keys (unrestricted sites:admin): every
// key without its secret, which is never stored.
func (s *server) handleKeysList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r, marketing.ScopeSitesAdmin, ""); err != nil {
			s.writeError(w, r, err)
			return
		}
		keys, err := s.Store.Keys(r.Context())
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "keys": keys})
	})
}

// handleKeyCreate is POST /v1/admin/keys: the answer holds the secret,
// the only time it is shown. A caller grants only scopes it holds itself,
// on every site the key names.
func (s *server) handleKeyCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r, marketing.ScopeSitesAdmin, ""); err != nil {
			s.writeError(w, r, err)
			return
		}
		var in struct {
			Scopes    []string `json:"scopes"`
			Sites     []string `json:"sites"`
			Label     string   `json:"label"`
			ExpiresAt string   `json:"expiresAt"`
		}
		if !s.decodeJSON(w, r, &in) {
			return
		}
		now := s.Now().UTC().Truncate(time.Millisecond)
		k, secret := marketing.NewAPIKey(now)
		k.Scopes, k.Sites, k.Label, k.CreatedBy = in.Scopes, in.Sites, in.Label, principalOf(r).actor
		if in.ExpiresAt != "" {
			t, err := marketing.ParseExpiry(in.ExpiresAt, now)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			k.Expires = t
		}
		if err := k.Validate(); err != nil {
			s.writeError(w, r, err)
			return
		}
		p := principalOf(r)
		for _, scope := range k.Scopes {
			if len(k.Sites) == 0 && !p.can(scope, "") {
				s.writeError(w, r, marketing.Errorf(marketing.EFORBIDDEN, "cannot grant %s", scope))
				return
			}
			for _, site := range k.Sites {
				if !p.can(scope, site) {
					s.writeError(w, r, marketing.Errorf(marketing.EFORBIDDEN, "cannot grant %s", scope))
					return
				}
			}
		}
		for _, site := range k.Sites {
			if _, err := s.Store.Site(r.Context(), site); err != nil {
				if marketing.ErrorCode(err) == marketing.ENOTFOUND {
					err = &marketing.ValidationError{Issues: []marketing.Issue{{Path: "sites", Message: "no registered site " + site}}}
				}
				s.storeError(w, r, err)
				return
			}
		}
		if err := s.Store.CreateKey(r.Context(), k); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditKeyCreate, "key:"+k.Prefix, "", auditKeyDetail(k))
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "key": k, "secret": secret})
	})
}

func auditKeyDetail(k *marketing.APIKey) string {
	d := "scopes=" + strings.Join(k.Scopes, ",")
	if len(k.Sites) > 0 {
		d += " sites=" + strings.Join(k.Sites, ",")
	}
	return d
}

// handleKeyRevoke is POST /v1/admin/keys/{id}/revoke, by id or prefix.
func (s *server) handleKeyRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r, marketing.ScopeSitesAdmin, ""); err != nil {
			s.writeError(w, r, err)
			return
		}
		k, err := s.Store.RevokeKey(r.Context(), r.PathValue("id"), s.Now().UTC().Truncate(time.Millisecond))
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditKeyRevoke, "key:"+k.Prefix, "", "")
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "key": k})
	})
}
