package httpapi

import (
	"net/http"

	"github.com/altcontext/marketing"
)

// handleUsersList is GET /v1/admin/users (sites:admin on every site).
func (s *server) handleUsersList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r, marketing.ScopeSitesAdmin, ""); err != nil {
			s.writeError(w, r, err)
			return
		}
		users, err := s.Store.Users(r.Context())
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "users": users})
	})
}

// handleUserRole is POST /v1/admin/users/{id}/role {siteId, role}: give
// (or, with role "", take away) a role on a site ("*": every site). The
// caller must hold every scope of the role there, and sites:admin.
func (s *server) handleUserRole() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			SiteID string `json:"siteId"`
			Role   string `json:"role"`
		}
		if !s.decodeJSON(w, r, &in) {
			return
		}
		p := principalOf(r)
		u, err := s.admin.SetRole(r.Context(), p.actor, p.can, r.PathValue("id"), in.SiteID, in.Role)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": u})
	})
}
