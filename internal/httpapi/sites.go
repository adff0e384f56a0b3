package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/admin"
)

// decodeJSON reads a JSON object body of at most limitDefault into v,
// answering 4xx itself when it cannot.
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, _, ok := readBody(w, r, limitDefault, false)
	if !ok {
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "", Message: "body must be a JSON object of the documented fields"}}})
		return false
	}
	return true
}

// handleSitesList is GET /v1/admin/sites: the sites the caller administers.
func (s *server) handleSitesList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, err := s.Store.Sites(r.Context())
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		p := principalOf(r)
		out := []marketing.Site{}
		for _, site := range all {
			if p.can(marketing.ScopeSitesAdmin, site.ID) {
				out = append(out, site)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "sites": out})
	})
}

// handleSiteCreate is POST /v1/admin/sites (a new site concerns every
// site: unrestricted sites:admin only).
func (s *server) handleSiteCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if !p.can(marketing.ScopeSitesAdmin, "") {
			s.writeError(w, r, marketing.Errorf(marketing.EFORBIDDEN, "not allowed"))
			return
		}
		var in admin.SiteInput
		if !s.decodeJSON(w, r, &in) {
			return
		}
		site, err := s.admin.CreateSite(r.Context(), p.actor, p.can, in)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "site": site})
	})
}

// siteFor loads the path's site when the caller administers it; another
// site is not found, as far as the caller can tell.
func (s *server) siteFor(w http.ResponseWriter, r *http.Request) *marketing.Site {
	site, err := s.admin.Site(r.Context(), principalOf(r).can, r.PathValue("id"))
	if err != nil {
		s.storeError(w, r, err)
		return nil
	}
	return site
}

// handleSiteGet is GET /v1/admin/sites/{id}.
func (s *server) handleSiteGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if site := s.siteFor(w, r); site != nil {
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "site": site})
		}
	})
}

// handleSiteUpdate is PATCH /v1/admin/sites/{id}.
func (s *server) handleSiteUpdate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if site := s.siteFor(w, r); site == nil {
			return
		}
		var in admin.SiteInput
		if !s.decodeJSON(w, r, &in) {
			return
		}
		p := principalOf(r)
		site, err := s.admin.UpdateSite(r.Context(), p.actor, p.can, r.PathValue("id"), in)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "site": site})
	})
}

// handleSiteDelete is DELETE /v1/admin/sites/{id}: the registration goes,
// the data stays under the id.
func (s *server) handleSiteDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if err := s.admin.DeleteSite(r.Context(), p.actor, p.can, r.PathValue("id")); err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "deleted": true})
	})
}

// handleAuditList is GET /v1/admin/audit?limit=: the admin actions on the
// caller's sites; those of no site (erasures, keys) only for callers who
// administer every site.
func (s *server) handleAuditList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := parseLimit(v, 1000)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			limit = n
		}
		sites := principalOf(r).sitesFor(marketing.ScopeSitesAdmin)
		entries, err := s.Store.AuditEntries(r.Context(), sites, limit)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "entries": entries})
	})
}
