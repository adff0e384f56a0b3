// Package dashboard is the browser face of the backend: server-rendered
// html/template pages over the same stores and the same stats engine as the
// API, with embedded assets and no Node toolchain. internal/httpapi mounts
// it on every path outside /v1/ and supplies authentication through Deps,
// so this package holds no session, cookie or password logic of its own.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/stats"
	"github.com/altcontext/marketing/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Principal is who a dashboard request acts as, as the transport
// authenticated it.
type Principal struct {
	// Actor names the principal in the audit log: "user:<id>", "share:<id>".
	Actor string
	// UserID is the signed-in user ("" on a shared link).
	UserID string
	// CSRF is the token every form of the session carries as csrf_token.
	CSRF string
	// Share is the shared link of a read-only view (nil for a user).
	Share *marketing.SharedLink
	can   func(scope, site string) bool
}

// NewPrincipal builds a principal whose rights can answers.
func NewPrincipal(actor, userID, csrf string, can func(scope, site string) bool) *Principal {
	return &Principal{Actor: actor, UserID: userID, CSRF: csrf, can: can}
}

// Can reports whether the principal holds scope (marketing.Scope*) on site.
func (p *Principal) Can(scope, site string) bool {
	if p == nil {
		return false
	}
	if p.Share != nil {
		return scope == marketing.ScopeStatsRead && site == p.Share.SiteID
	}
	return p.can != nil && p.can(scope, site)
}

// Deps are what the dashboard needs from the process, the transport's
// authentication included.
type Deps struct {
	Store   marketing.Store
	Log     *slog.Logger
	Now     func() time.Time
	Version string
	// StatsEnv is the environment stats.Parse runs in (the stats API's).
	StatsEnv func() stats.Env
	// Session authenticates a request's login session. It answers 0 with
	// the principal; 401 when there is none (the dashboard redirects to
	// /login); 403 when a state-changing request fails the CSRF or
	// cross-origin check; 500 on a store error (already logged). It may
	// set cookies (a sliding session) but never writes a body.
	Session func(w http.ResponseWriter, r *http.Request) (*Principal, int)
	// SharedLink returns a token's active link (ENOTFOUND for unknown,
	// revoked or expired) and whether this browser gave its password.
	SharedLink func(r *http.Request, token string) (*marketing.SharedLink, bool, error)
	// UnlockShare checks a shared link's password and, when it matches,
	// sets the unlock cookie for cookiePath. It answers 0 when unlocked,
	// 401 for a wrong password, 403/429 for a refused attempt (cross-site,
	// rate limited; headers such as Retry-After set), 500 on an error.
	UnlockShare func(w http.ResponseWriter, r *http.Request, token, password, cookiePath string) int
	// WriteCSV writes a stats result as the stats API's CSV.
	WriteCSV func(w http.ResponseWriter, res *stats.Result)
	// Limit wraps each route (rate limits); nil: none.
	Limit func(http.Handler) http.Handler
	// LimitErase also wraps the erasure form, as the API's erasure is
	// limited (a few a minute); nil: none.
	LimitErase func(http.Handler) http.Handler
	// TrackerOrigin is the backend's public origin for the tracker
	// snippet of an empty site ("" : the request's).
	TrackerOrigin func(r *http.Request) string
	// Admin serves the leads, settings and operations pages (admin.go).
	Admin AdminDeps
	// CountryAttribution is the IP→country database's credit, shown under
	// Countries ("": no database is configured).
	CountryAttribution string
}

// Dashboard serves the pages.
type Dashboard struct {
	Deps
	pages  map[string]*template.Template
	assets map[string]asset
}

type asset struct {
	web.Asset
	ctype string
}

// New parses the templates and prepares the assets; a broken template is a
// programming error and panics at start-up (tests catch it).
func New(d Deps) *Dashboard {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	db := &Dashboard{Deps: d, pages: map[string]*template.Template{}, assets: map[string]asset{}}
	sub, _ := fs.Sub(assetFS, "assets")
	_ = fs.WalkDir(sub, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		ctype := "text/plain; charset=utf-8"
		switch path.Ext(p) {
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		db.assets[p] = asset{Asset: web.NewAsset(b), ctype: ctype}
		return nil
	})
	base := template.New("").Funcs(db.funcs()).Funcs(adminFuncs())
	base = template.Must(base.ParseFS(templateFS, "templates/_*.html"))
	files, _ := fs.Glob(templateFS, "templates/*.html")
	for _, f := range files {
		name := path.Base(f)
		if strings.HasPrefix(name, "_") {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, f))
		db.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return db
}

// Routes registers every dashboard route with handle (a ServeMux's Handle).
// routes.go lists them.
func (d *Dashboard) Routes(handle func(pattern string, h http.Handler)) {
	limit := d.Limit
	if limit == nil {
		limit = func(h http.Handler) http.Handler { return h }
	}
	for _, r := range d.routes() {
		handle(r.pattern, limit(r.handler))
	}
}

type route struct {
	pattern string
	handler http.Handler
}

// AssetURL is the versioned path of an embedded asset: the content hash in
// the query lets it be cached for a year.
func (d *Dashboard) AssetURL(name string) string {
	a, ok := d.assets[name]
	if !ok {
		return "/assets/" + name
	}
	return "/assets/" + name + "?v=" + a.Version()
}

func (d *Dashboard) handleAsset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := d.assets[r.PathValue("name")]
		if !ok {
			d.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		if r.URL.Query().Get("v") == a.Version() {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		a.Serve(w, r)
	})
}

// CSP is the dashboard's Content-Security-Policy: no inline script or
// style anywhere, never framed. Shared links without a password relax
// frame-ancestors only (see securityHeaders).
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every dashboard page carries. A
// frameable page (a shared link without password) may be embedded in any
// site; every other page refuses framing.
func securityHeaders(h http.Header, frameable bool) {
	csp := CSP
	if frameable {
		csp = strings.Replace(csp, "frame-ancestors 'none'", "frame-ancestors *", 1)
	} else {
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" with the pages' own form posts, which the origin check
	// refuses. Other sites still get no referrer (no path, no token).
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// Page is what the layout renders around a page's content.
type Page struct {
	Title  string
	Active string // the nav item's ID
	P      *Principal
	Sites  []marketing.Site // the sites the principal may read
	Site   *marketing.Site  // the current site, or nil
	// Zone is the time zone the figures are counted in (REPORT_TIMEZONE,
	// as in the stats API); SiteZone the site's own when it differs.
	Zone, SiteZone string
	// Path is the current path, for the site switcher.
	Path string
	// Frameable marks a page that may be embedded (see securityHeaders).
	Frameable bool
	// Data is the page's own view model.
	Data any
	// Status is the HTTP status (0: 200).
	Status int
	// CSP replaces the Content-Security-Policy ("": CSP).
	CSP string
}

// NavItem is one entry of the navigation.
type NavItem struct {
	ID, Label, Href string
	Current         bool
}

// Nav lists the navigation for the page: analytics for everyone who may
// read the site, Leads for who may read leads, Settings and Operations for
// owners. Shared links have no navigation.
func (p *Page) Nav() []NavItem {
	if p.P == nil || p.P.Share != nil {
		return nil
	}
	var out []NavItem
	add := func(id, label, href string) {
		out = append(out, NavItem{ID: id, Label: label, Href: href, Current: id == p.Active})
	}
	if p.Site != nil {
		base := "/sites/" + url.PathEscape(p.Site.ID)
		add("overview", "Overview", base)
		add("realtime", "Realtime", base+"/realtime")
		if p.P.Can(marketing.ScopeLeadsRead, p.Site.ID) {
			add("leads", "Leads", base+"/leads")
		}
	}
	if p.P.Can(marketing.ScopeSitesAdmin, "") || p.Site != nil && p.P.Can(marketing.ScopeSitesAdmin, p.Site.ID) {
		add("settings", "Settings", "/settings")
	}
	if p.P.Can(marketing.ScopeSitesAdmin, "") {
		add("operations", "Operations", "/operations")
	}
	return out
}

// Render writes a page: the named template (templates/<name>.html) inside
// the layout, with the security headers. Rendering goes to a buffer first,
// so a template error is a clean 500, never half a page.
func (d *Dashboard) Render(w http.ResponseWriter, r *http.Request, name string, p *Page) {
	t, ok := d.pages[name]
	if !ok {
		d.Log.Error("dashboard: no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if p.Path == "" {
		p.Path = r.URL.Path
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		d.Log.Error("dashboard: render", "template", name, "err", err)
		securityHeaders(w.Header(), false)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h, p.Frameable)
	if p.CSP != "" {
		h.Set("Content-Security-Policy", p.CSP)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	status := p.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// errorPage renders a short error page with the layout.
func (d *Dashboard) errorPage(w http.ResponseWriter, r *http.Request, p *Principal, status int, msg string) {
	d.Render(w, r, "error", &Page{Title: http.StatusText(status), P: p, Status: status,
		Data: struct {
			Status  int
			Message string
		}{status, msg}})
}

// Audit records an action taken in the dashboard by p. The action has
// happened: a failure to record it is logged, not answered.
func (d *Dashboard) Audit(r *http.Request, p *Principal, action, target, site, detail string) {
	err := d.Store.Audit(context.WithoutCancel(r.Context()), marketing.AuditEntry{
		At: d.Now().UTC(), Actor: p.Actor, Action: action, Target: target, SiteID: site, Detail: detail})
	if err != nil {
		d.Log.Error("dashboard: write the audit log", "action", action, "err", err)
	}
}

// LoginForm is the login page's data.
type LoginForm struct{ CSRF, Next, Email, Error string }

// loginCSP is stricter than CSP: the login page runs no script at all.
const loginCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// RenderLogin writes the login page (the transport sets its CSRF cookie
// and handles the post).
func (d *Dashboard) RenderLogin(w http.ResponseWriter, r *http.Request, status int, f LoginForm) {
	d.Render(w, r, "login", &Page{Title: "Sign in", Status: status, CSP: loginCSP, Data: f})
}

// NotFound is the dashboard's 404 page (the transport uses it for unknown
// paths outside /v1/).
func (d *Dashboard) NotFound(w http.ResponseWriter, r *http.Request) {
	d.errorPage(w, r, nil, http.StatusNotFound, "There is no page here.")
}

// Forbidden is the dashboard's 403 page.
func (d *Dashboard) Forbidden(w http.ResponseWriter, r *http.Request, p *Principal) {
	d.errorPage(w, r, p, http.StatusForbidden, "Your role does not allow this page.")
}

// ServerError is the dashboard's 500 page; the cause is logged, not shown.
func (d *Dashboard) ServerError(w http.ResponseWriter, r *http.Request, p *Principal, err error) {
	if err != nil {
		d.Log.Error("dashboard", "route", r.Pattern, "err", err) // the pattern: a path may hold a share token
	}
	d.errorPage(w, r, p, http.StatusInternalServerError, "Something went wrong; it has been logged.")
}

type ctxKey int

const principalKey ctxKey = 0

// PrincipalOf is the principal SignedIn stored in the request.
func PrincipalOf(r *http.Request) *Principal {
	p, _ := r.Context().Value(principalKey).(*Principal)
	return p
}

// SignedIn wraps a page for signed-in users: without a session, a GET is
// redirected to /login?next=<this path and query>; a refused POST (CSRF,
// cross-site) gets the 403 page.
func (d *Dashboard) SignedIn(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, status := d.Session(w, r)
		switch status {
		case 0:
			h.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
		case http.StatusUnauthorized:
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet && r.Method != http.MethodHead || !SafeNext(next) {
				next = "/"
			}
			securityHeaders(w.Header(), false)
			http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
		case http.StatusForbidden:
			d.errorPage(w, r, nil, http.StatusForbidden, "This form was refused: reload the page and try again.")
		default:
			d.ServerError(w, r, nil, nil)
		}
	})
}

// SafeNext reports whether p is a same-site path to return to after a
// login: one leading slash, no scheme or host, no control characters.
func SafeNext(p string) bool {
	if len(p) == 0 || len(p) > 2048 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(u.Path, "/v1/")
}

// readableSites lists the registered sites p may read analytics of.
func (d *Dashboard) readableSites(r *http.Request, p *Principal) ([]marketing.Site, error) {
	all, err := d.Store.Sites(r.Context())
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s marketing.Site) bool { return !p.Can(marketing.ScopeStatsRead, s.ID) }), nil
}

// SiteFor resolves the {id} path value to a site p may read with scope:
// nil when it has answered (404 for a site that does not exist or that p
// may not see at all, 403 when p sees it but lacks scope).
func (d *Dashboard) SiteFor(w http.ResponseWriter, r *http.Request, p *Principal, scope string) *marketing.Site {
	id := r.PathValue("id")
	if !p.Can(marketing.ScopeStatsRead, id) {
		d.NotFound(w, r)
		return nil
	}
	s, err := d.Store.Site(r.Context(), id)
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		d.NotFound(w, r)
		return nil
	}
	if err != nil {
		d.ServerError(w, r, p, err)
		return nil
	}
	if !p.Can(scope, id) {
		d.Forbidden(w, r, p)
		return nil
	}
	return s
}

// NewPage starts the layout data of a signed-in page about site (nil: no
// site), with the sites p may switch to.
func (d *Dashboard) NewPage(r *http.Request, p *Principal, site *marketing.Site, active, title string) (*Page, error) {
	pg := &Page{Title: title, Active: active, P: p, Site: site, Zone: d.zone()}
	if site != nil && site.TimeZone != "" && site.TimeZone != pg.Zone {
		pg.SiteZone = site.TimeZone // the overview replaces Zone with the engine's
	}
	if p.Share == nil {
		sites, err := d.readableSites(r, p)
		if err != nil {
			return nil, err
		}
		pg.Sites = sites
	}
	return pg, nil
}

func (d *Dashboard) zone() string {
	if d.StatsEnv == nil {
		return "UTC"
	}
	return d.StatsEnv().Location.String()
}
