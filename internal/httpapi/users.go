package httpapi

import (
	"net/http"
	"time"

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
		if in.SiteID == "" {
			in.SiteID = marketing.AllSites
		}
		if in.Role != "" && !marketing.ValidRole(in.Role) {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "role", Message: "must be owner, admin, viewer or empty"}}})
			return
		}
		site := in.SiteID
		if site == marketing.AllSites {
			site = ""
		}
		p := principalOf(r)
		for _, scope := range append(marketing.RoleScopes(in.Role), marketing.ScopeSitesAdmin) {
			if !p.can(scope, site) {
				s.writeError(w, r, marketing.Errorf(marketing.EFORBIDDEN, "cannot grant %s", scope))
				return
			}
		}
		if site != "" {
			if _, err := s.Store.Site(r.Context(), site); err != nil {
				if marketing.ErrorCode(err) == marketing.ENOTFOUND {
					err = &marketing.ValidationError{Issues: []marketing.Issue{{Path: "siteId", Message: "no registered site " + site}}}
				}
				s.storeError(w, r, err)
				return
			}
		}
		id := r.PathValue("id")
		if err := s.Store.SetRole(r.Context(), id, in.SiteID, in.Role, s.Now().UTC().Truncate(time.Millisecond)); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditUserRole, "user:"+id, site, "role="+in.Role)
		u, err := s.Store.User(r.Context(), id)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": u})
	})
}
