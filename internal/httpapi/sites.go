package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/altcontext/marketing"
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

// siteInput is the body of POST and PATCH /v1/admin/sites: absent fields
// keep their value on PATCH.
type siteInput struct {
	ID       string    `json:"id"`
	Name     *string   `json:"name"`
	Domains  *[]string `json:"domains"`
	Origins  *[]string `json:"origins"`
	TimeZone *string   `json:"timeZone"`
}

func (in siteInput) apply(site *marketing.Site) {
	if in.Name != nil {
		site.Name = *in.Name
	}
	if in.Domains != nil {
		site.Domains = *in.Domains
	}
	if in.Origins != nil {
		site.Origins = *in.Origins
	}
	if in.TimeZone != nil {
		site.TimeZone = *in.TimeZone
	}
}

// siteChanged makes a change to the sites count at once in this process
// (other processes see it within ingest.SiteRefresh).
func (s *server) siteChanged(r *http.Request) {
	if err := s.Sites.Refresh(r.Context()); err != nil {
		s.log.Warn("refresh sites", "request_id", requestID(r), "err", err)
	}
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
		if err := s.authorize(r, marketing.ScopeSitesAdmin, ""); err != nil {
			s.writeError(w, r, err)
			return
		}
		var in siteInput
		if !s.decodeJSON(w, r, &in) {
			return
		}
		now := s.Now().UTC().Truncate(time.Millisecond)
		site := &marketing.Site{ID: in.ID, Created: now, Updated: now}
		in.apply(site)
		if err := site.Normalize(); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.Store.CreateSite(r.Context(), site); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditSiteCreate, "site:"+site.ID, site.ID, "")
		s.siteChanged(r)
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "site": site})
	})
}

// siteFor loads the path's site when the caller administers it; another
// site is not found, as far as the caller can tell.
func (s *server) siteFor(w http.ResponseWriter, r *http.Request) *marketing.Site {
	id := r.PathValue("id")
	if !principalOf(r).can(marketing.ScopeSitesAdmin, id) {
		s.writeError(w, r, marketing.Errorf(marketing.ENOTFOUND, "no such site"))
		return nil
	}
	site, err := s.Store.Site(r.Context(), id)
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
		site := s.siteFor(w, r)
		if site == nil {
			return
		}
		var in siteInput
		if !s.decodeJSON(w, r, &in) {
			return
		}
		in.apply(site)
		if err := site.Normalize(); err != nil {
			s.writeError(w, r, err)
			return
		}
		site.Updated = s.Now().UTC().Truncate(time.Millisecond)
		if err := s.Store.UpdateSite(r.Context(), site); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditSiteUpdate, "site:"+site.ID, site.ID, "")
		s.siteChanged(r)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "site": site})
	})
}

// handleSiteDelete is DELETE /v1/admin/sites/{id}: the registration goes,
// the data stays under the id.
func (s *server) handleSiteDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site := s.siteFor(w, r)
		if site == nil {
			return
		}
		if err := s.Store.DeleteSite(r.Context(), site.ID); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditSiteDelete, "site:"+site.ID, site.ID, "")
		s.siteChanged(r)
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
