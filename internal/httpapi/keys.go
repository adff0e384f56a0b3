package httpapi

import (
	"net/http"
	"strconv"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/admin"
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
		p := principalOf(r)
		if !p.can(marketing.ScopeSitesAdmin, "") {
			s.writeError(w, r, marketing.Errorf(marketing.EFORBIDDEN, "not allowed"))
			return
		}
		var in admin.KeyInput
		if !s.decodeJSON(w, r, &in) {
			return
		}
		k, secret, err := s.admin.CreateKey(r.Context(), p.actor, p.can, in)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "key": k, "secret": secret})
	})
}

// handleKeyRevoke is POST /v1/admin/keys/{id}/revoke, by id or prefix.
func (s *server) handleKeyRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		k, err := s.admin.RevokeKey(r.Context(), p.actor, p.can, r.PathValue("id"))
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "key": k})
	})
}
