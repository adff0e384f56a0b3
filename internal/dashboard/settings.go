package dashboard

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/admin"
)

// settingsData is the settings page: sites, people and roles, API keys,
// shared links and the audit log, as far as the principal administers them.
type settingsData struct {
	Sites   []marketing.Site
	Users   []marketing.User // only for who administers every site
	Keys    []marketing.APIKey
	Shares  []shareView
	Audit   []marketing.AuditEntry
	All     bool // the principal administers every site (people, keys, new sites)
	Roles   []string
	Scopes  []string
	Problem string
	Notice  string
	// Secret is a new key's secret or a new shared link's path, shown once.
	Secret, SecretWhat string
}

type shareView struct {
	marketing.SharedLink
	Active bool
}

var settingsNotices = map[string]string{
	"site-added":    "The site is registered.",
	"site-saved":    "The site is saved.",
	"role-saved":    "The role is saved.",
	"key-revoked":   "The key is revoked.",
	"share-revoked": "The shared link is revoked.",
}

// administers reports whether p may see the settings page at all:
// sites:admin on at least one registered site, or on every site.
func (d *Dashboard) administered(r *http.Request, p *Principal) ([]marketing.Site, bool, error) {
	all, err := d.Store.Sites(r.Context())
	if err != nil {
		return nil, false, err
	}
	every := p.Can(marketing.ScopeSitesAdmin, "")
	mine := slices.DeleteFunc(all, func(s marketing.Site) bool { return !p.Can(marketing.ScopeSitesAdmin, s.ID) })
	return mine, every || len(mine) > 0, nil
}

// handleSettings is GET /settings (owners).
func (d *Dashboard) handleSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		d.renderSettings(w, r, p, http.StatusOK, "", settingsNotices[r.URL.Query().Get("done")], "", "")
	})
}

func (d *Dashboard) renderSettings(w http.ResponseWriter, r *http.Request, p *Principal, status int, problem, notice, secret, secretWhat string) {
	sites, ok, err := d.administered(r, p)
	if err != nil {
		d.ServerError(w, r, p, err)
		return
	}
	if !ok {
		d.Forbidden(w, r, p)
		return
	}
	data := &settingsData{Sites: sites, All: p.Can(marketing.ScopeSitesAdmin, ""), Roles: marketing.Roles, Scopes: marketing.Scopes,
		Problem: problem, Notice: notice, Secret: secret, SecretWhat: secretWhat}
	ctx := r.Context()
	var auditSites []string // nil: every entry
	if data.All {
		if data.Users, err = d.Store.Users(ctx); err == nil {
			data.Keys, err = d.Store.Keys(ctx)
		}
	} else {
		auditSites = []string{}
		for _, s := range sites {
			auditSites = append(auditSites, s.ID)
		}
	}
	for _, s := range sites {
		if err != nil {
			break
		}
		var links []marketing.SharedLink
		links, err = d.Store.SharedLinks(ctx, s.ID)
		for _, l := range links {
			data.Shares = append(data.Shares, shareView{SharedLink: l, Active: l.Active(d.Now())})
		}
	}
	if err == nil {
		data.Audit, err = d.Store.AuditEntries(ctx, auditSites, 100)
	}
	if err != nil {
		d.ServerError(w, r, p, err)
		return
	}
	pg, err := d.NewPage(r, p, nil, "settings", "Settings")
	if err != nil {
		d.ServerError(w, r, p, err)
		return
	}
	pg.Data, pg.Status = data, status
	d.Render(w, r, "settings", pg)
}

// settingsDone answers a settings form: back to the page with a notice,
// or the page again with what was wrong.
func (d *Dashboard) settingsDone(w http.ResponseWriter, r *http.Request, p *Principal, err error, done string) {
	if err == nil {
		seeOther(w, r, "/settings", url.Values{"done": {done}})
		return
	}
	if problem, status := d.actionError(w, r, p, err); status != 0 {
		d.renderSettings(w, r, p, status, problem, "", "", "")
	}
}

// list splits a text area or a comma-separated field into its values.
func list(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' })
}

// handleSiteCreate is POST /settings/sites: domain, name, time zone,
// origins (the API's POST /v1/admin/sites).
func (d *Dashboard) handleSiteCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		name, zone, domains := r.PostFormValue("name"), r.PostFormValue("timeZone"), list(r.PostFormValue("domains"))
		in := admin.SiteInput{ID: strings.TrimSpace(r.PostFormValue("id")), Name: &name, TimeZone: &zone, Domains: &domains}
		if o := list(r.PostFormValue("origins")); len(o) > 0 {
			in.Origins = &o
		}
		_, err := d.Admin.Actions.CreateSite(r.Context(), p.Actor, p.canFunc(), in)
		d.settingsDone(w, r, p, err, "site-added")
	})
}

// handleSiteUpdate is POST /settings/sites/{site}: name, time zone and
// origins (the API's PATCH /v1/admin/sites/{id}).
func (d *Dashboard) handleSiteUpdate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		name, zone, origins := r.PostFormValue("name"), r.PostFormValue("timeZone"), list(r.PostFormValue("origins"))
		in := admin.SiteInput{Name: &name, TimeZone: &zone, Origins: &origins}
		_, err := d.Admin.Actions.UpdateSite(r.Context(), p.Actor, p.canFunc(), r.PathValue("site"), in)
		d.settingsDone(w, r, p, err, "site-saved")
	})
}

// handleUserRole is POST /settings/users/{user}/role: a role on a site
// ("*": every site), or none.
func (d *Dashboard) handleUserRole() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		_, err := d.Admin.Actions.SetRole(r.Context(), p.Actor, p.canFunc(), r.PathValue("user"), r.PostFormValue("siteId"), r.PostFormValue("role"))
		d.settingsDone(w, r, p, err, "role-saved")
	})
}

// handleKeyCreate is POST /settings/keys: the page shows the new secret
// once, in the answer to the form, never in a URL.
func (d *Dashboard) handleKeyCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		if err := r.ParseForm(); err != nil {
			d.errorPage(w, r, p, http.StatusBadRequest, "The form could not be read.")
			return
		}
		in := admin.KeyInput{Scopes: r.PostForm["scopes"], Sites: list(r.PostForm.Get("sites")), Label: strings.TrimSpace(r.PostForm.Get("label")),
			ExpiresAt: r.PostForm.Get("expiresAt")}
		k, secret, err := d.Admin.Actions.CreateKey(r.Context(), p.Actor, p.canFunc(), in)
		if err != nil {
			d.settingsDone(w, r, p, err, "")
			return
		}
		d.renderSettings(w, r, p, http.StatusCreated, "", "Key "+k.Prefix+" is created. Copy its secret now: it is shown only this once.", secret, "API key secret")
	})
}

// handleKeyRevoke is POST /settings/keys/{key}/revoke.
func (d *Dashboard) handleKeyRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		_, err := d.Admin.Actions.RevokeKey(r.Context(), p.Actor, p.canFunc(), r.PathValue("key"))
		d.settingsDone(w, r, p, err, "key-revoked")
	})
}

// handleShareCreate is POST /settings/shares: a read-only link to a site's
// overview, optionally with a password and an expiry; its address is shown
// once.
func (d *Dashboard) handleShareCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		in := admin.ShareInput{Label: strings.TrimSpace(r.PostFormValue("label")), Password: r.PostFormValue("password"),
			ExpiresAt: r.PostFormValue("expiresAt")}
		if f := strings.TrimSpace(r.PostFormValue("filter")); f != "" {
			in.Filter = json.RawMessage(f) // validated by CreateShare (marketing.ShareFilter)
		}
		_, token, err := d.Admin.Actions.CreateShare(r.Context(), p.Actor, p.canFunc(), r.PostFormValue("siteId"), in)
		if err != nil {
			d.settingsDone(w, r, p, err, "")
			return
		}
		d.renderSettings(w, r, p, http.StatusCreated, "", "The shared link is created. Copy it now: it is shown only this once.",
			"/share/"+token, "Shared link")
	})
}

// handleShareRevoke is POST /settings/shares/{share}/revoke.
func (d *Dashboard) handleShareRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		_, err := d.Admin.Actions.RevokeShare(r.Context(), p.Actor, p.canFunc(), r.PathValue("share"))
		d.settingsDone(w, r, p, err, "share-revoked")
	})
}
