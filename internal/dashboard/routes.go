package dashboard

import (
	"context"
	"net/http"
	"net/url"

	"github.com/altcontext/marketing"
)

// routes lists every dashboard page. Paths outside /v1/ only; the login
// form (GET and POST /login) and POST /logout stay in internal/httpapi,
// which renders the form with the "login" template.
func (d *Dashboard) routes() []route {
	return append(d.analyticsRoutes(), d.adminRoutes()...)
}

// analyticsRoutes are the overview, realtime and shared views.
func (d *Dashboard) analyticsRoutes() []route {
	return []route{
		{"GET /assets/{name}", d.handleAsset()},
		{"GET /{$}", d.SignedIn(d.handleHome())},
		{"GET /sites", d.SignedIn(d.handleSiteSwitch())},
		{"GET /sites/{id}", d.SignedIn(d.handleOverview())},
		{"GET /sites/{id}/export/{panel}", d.SignedIn(d.handleExport())},
		{"GET /sites/{id}/realtime", d.SignedIn(d.handleRealtime())},
		{"GET /sites/{id}/realtime.json", d.SignedIn(d.handleRealtimeJSON())},
		{"GET /share/{token}", d.handleShared()},
		{"POST /share/{token}", d.handleShareUnlock()},
		{"GET /share/{token}/export/{panel}", d.handleSharedExport()},
	}
}

func withPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// handleHome is GET /: the overview of the first site the user may read,
// or a page that says how to register one.
func (d *Dashboard) handleHome() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		sites, err := d.readableSites(r, p)
		if err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		if len(sites) > 0 {
			http.Redirect(w, r, "/sites/"+url.PathEscape(sites[0].ID), http.StatusSeeOther)
			return
		}
		pg := &Page{Title: "No site yet", P: p, Zone: d.zone()}
		pg.Data = struct{ CanAdd bool }{p.Can(marketing.ScopeSitesAdmin, "")}
		d.Render(w, r, "nosites", pg)
	})
}

// handleSiteSwitch is GET /sites?id=: the site switcher's form without
// JavaScript.
func (d *Dashboard) handleSiteSwitch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if id == "" {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/sites/"+url.PathEscape(id), http.StatusSeeOther)
	})
}
