package httpapi_test

import (
	"context"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/dashboard"
)

// registerSite registers a site so the dashboard lists it.
func (e *env) registerSite(id, name string) {
	e.t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := &marketing.Site{ID: id, Name: name, Domains: []string{id + ".example"}, Origins: []string{}, Created: now, Updated: now}
	if err := e.store.CreateSite(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
}

// dashGet fetches a dashboard page with a session cookie ("" for none).
func (e *env) dashGet(path, session string, headers ...string) resp {
	e.t.Helper()
	if session != "" {
		headers = append(headers, "Cookie: marketing_session="+session)
	}
	return e.do("GET", path, "", headers...)
}

var figureRE = regexp.MustCompile(`data-metric="(\w+)"><dt>[^<]*</dt>\s*<dd><span class="value">([^<]*)</span>(?: <span class="change[^"]*">([^<]*)</span>)?`)

// pageFigures reads the top figures of an overview page: metric → value
// (and change when shown, after a "|").
func pageFigures(t *testing.T, page string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range figureRE.FindAllStringSubmatch(page, -1) {
		out[m[1]] = html.UnescapeString(m[2])
		if m[3] != "" {
			out[m[1]] += "|" + html.UnescapeString(m[3])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no figures in the page:\n%s", page)
	}
	return out
}

// apiFigures asks the stats API the overview's top-figure query and
// formats the answer as the page does.
func apiFigures(t *testing.T, e *env, site string, st dashboard.State) map[string]string {
	t.Helper()
	body, _ := json.Marshal(st.TopBody(site))
	res := statsQuery(t, e, string(body), 200)
	row := res["results"].([]any)[0].(map[string]any)
	metrics := res["query"].(map[string]any)["metrics"].([]any)
	out := map[string]string{}
	for i, m := range metrics {
		name := m.(string)
		out[name] = dashboard.FormatMetric(name, row["metrics"].([]any)[i])
		if c, ok := row["comparison"].(map[string]any); ok {
			if ch := dashboard.FormatChange(name, c["change"].([]any)[i]); ch != "" {
				out[name] += "|" + ch
			}
		}
	}
	return out
}

// TestDashboardOverview: the overview's figures are the stats API's for
// the same query, with and without a filter and a comparison; every panel
// and the graph's table are in the HTML (JavaScript off reads them); the
// page carries the CSP and no inline script or style.
func TestDashboardOverview(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("REPORT_TIMEZONE=America/Toronto")
		seedStats(t, e)
		e.registerSite(statsSite, "Site one")
		e.mustUser("owner@example.com", "*=owner")
		tok, _ := e.login("owner@example.com")

		home := e.dashGet("/", tok).expect(t, 303, "")
		if loc := home.Header.Get("Location"); loc != "/sites/"+statsSite {
			t.Fatalf("/ goes to %q", loc)
		}
		views := []string{
			"period=custom&from=2026-03-01&to=2026-03-10",
			"period=custom&from=2026-03-01&to=2026-03-10&f=page:is:/pricing",
			"period=custom&from=2026-03-01&to=2026-03-10&compare=previous_period",
			"period=custom&from=2026-03-01&to=2026-03-10&f=device:is_not:mobile&f=source:contains:google&compare=previous_period",
		}
		var unfiltered map[string]string
		for i, v := range views {
			q, _ := url.ParseQuery(v)
			st := dashboard.ParseState(q)
			page := e.dashGet("/sites/"+statsSite+"?"+v, tok).expect(t, 200, "")
			got, want := pageFigures(t, page.Raw), apiFigures(t, e, statsSite, st)
			for m, w := range want {
				if got[m] != w {
					t.Errorf("%s: %s is %q on the page, %q from the API", v, m, got[m], w)
				}
			}
			if i == 0 {
				unfiltered = got
				checkNoJS(t, page.Raw)
				checkPageSecurity(t, page)
			}
			if i == 1 && got["visitors"] == unfiltered["visitors"] {
				t.Errorf("the page filter left visitors at %s", got["visitors"])
			}
			if strings.Contains(v, "compare") && !strings.Contains(got["visitors"], "|") {
				t.Errorf("%s: no change shown for visitors: %q", v, got["visitors"])
			}
		}
	})
}

// checkNoJS: every figure, every breakdown's table and the graph's table
// are in the server-rendered HTML.
func checkNoJS(t *testing.T, html string) {
	t.Helper()
	for _, m := range []string{"visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "leads", "conversion_rate", "current_visitors"} {
		if !strings.Contains(html, `data-metric="`+m+`"`) {
			t.Errorf("no figure %s", m)
		}
	}
	for _, p := range []string{"channels", "sources", "utm_sources", "utm_mediums", "utm_campaigns", "pages", "entry_pages", "exit_pages",
		"conversions_channel", "conversions_campaign", "conversions_landing", "countries", "devices", "browsers", "os"} {
		if !strings.Contains(html, `id="panel-`+p+`"`) || !strings.Contains(html, "/export/"+p+".csv") {
			t.Errorf("no panel %s with its CSV link", p)
		}
	}
	for _, s := range []string{`<details class="graph-table" open>`, `data-vital="lcp"`, `href="/sites/site-1?f=page%3Ais%3A%2Fpricing`, `<td class="label"><span class="bar w100"></span>`} {
		if !strings.Contains(html, s) {
			t.Errorf("no %s in the page", s)
		}
	}
}

var inlineRE = regexp.MustCompile(`<script(?:\s[^>]*)?>|\sstyle=|<style`)

// checkPageSecurity: the CSP forbids inline script and style, and the page
// has none (only external scripts and the graph's JSON data block).
func checkPageSecurity(t *testing.T, page resp) {
	t.Helper()
	if csp := page.Header.Get("Content-Security-Policy"); csp != dashboard.CSP || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if page.Header.Get("X-Frame-Options") != "DENY" || page.Header.Get("Cache-Control") != "no-store" || page.Header.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("headers %v", page.Header)
	}
	for _, m := range inlineRE.FindAllString(page.Raw, -1) {
		if !strings.Contains(m, ` src="/assets/`) && !strings.Contains(m, `type="application/json"`) {
			t.Errorf("inline script or style: %s", m)
		}
	}
}

// TestDashboardAuth: without a session a page redirects to the login form
// with a same-site next; the login returns there; logout needs the CSRF
// token; unknown sites and sites without a role are 404.
func TestDashboardAuth(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.registerSite("site-1", "One")
	e.registerSite("site-2", "Two")
	e.mustUser("owner@example.com", "*=owner")
	e.mustUser("viewer@example.com", "site-1=viewer")

	r := e.dashGet("/sites/site-1?period=7d&f=page:is:/x", "").expect(t, 303, "")
	if loc := r.Header.Get("Location"); loc != "/login?next="+url.QueryEscape("/sites/site-1?period=7d&f=page:is:/x") {
		t.Fatalf("redirect to %q", loc)
	}
	if loc := e.dashGet("/", "", "Cookie: marketing_session=forged").expect(t, 303, "").Header.Get("Location"); loc != "/login?next=%2F" {
		t.Fatalf("forged session: redirect to %q", loc)
	}
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example"} {
		page := e.dashGet("/login?next="+url.QueryEscape(next), "").expect(t, 200, "")
		if strings.Contains(page.Raw, "evil.example") {
			t.Errorf("next %q kept in the login form", next)
		}
	}
	// The form posts back with the CSRF cookie and lands on next.
	page := e.dashGet("/login?next="+url.QueryEscape("/sites/site-2?period=day"), "").expect(t, 200, "")
	csrf := cookieOf(page, "marketing_csrf").Value
	form := url.Values{"email": {"owner@example.com"}, "password": {testPassword}, "csrf_token": {csrf}, "next": {"/sites/site-2?period=day"}}
	r = e.do("POST", "/login", form.Encode(), "Content-Type: application/x-www-form-urlencoded", "Cookie: marketing_csrf="+csrf).expect(t, 303, "")
	if r.Header.Get("Location") != "/sites/site-2?period=day" {
		t.Fatalf("login went to %q", r.Header.Get("Location"))
	}
	tok := cookieOf(r, "marketing_session").Value
	ov := e.dashGet("/sites/site-2?period=day", tok).expect(t, 200, "")
	token := regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`).FindStringSubmatch(ov.Raw)
	if token == nil {
		t.Fatal("no logout form with a CSRF token")
	}
	e.dashGet("/sites/nope", tok).expect(t, 404, "")
	e.dashGet("/nope/nope", tok).expect(t, 404, "")

	// A viewer: analytics of its site only, no admin navigation, no email.
	vtok, _ := e.login("viewer@example.com")
	if loc := e.dashGet("/", vtok).expect(t, 303, "").Header.Get("Location"); loc != "/sites/site-1" {
		t.Fatalf("viewer's / goes to %q", loc)
	}
	vp := e.dashGet("/sites/site-1", vtok).expect(t, 200, "")
	for _, s := range []string{"@", "/leads", ">Settings<", ">Operations<", "site-2"} {
		if strings.Contains(vp.Raw, s) {
			t.Errorf("the viewer's overview shows %q", s)
		}
	}
	if !strings.Contains(vp.Raw, ">Realtime<") {
		t.Error("the viewer has no Realtime link")
	}
	e.dashGet("/sites/site-2", vtok).expect(t, 404, "")
	e.dashGet("/sites/site-2/export/pages.csv", vtok).expect(t, 404, "")
	e.dashGet("/sites/site-1/realtime", vtok).expect(t, 200, "")
	if op := e.dashGet("/sites/site-1", tok).Raw; !strings.Contains(op, ">Settings<") || !strings.Contains(op, ">Leads<") {
		t.Error("the owner has no Leads or Settings link")
	}

	// Logout: refused without the token or cross-site, then done with it.
	ct := "Content-Type: application/x-www-form-urlencoded"
	e.do("POST", "/logout", "csrf_token=", ct, "Cookie: marketing_session="+tok).expect(t, 403, "")
	e.do("POST", "/logout", "csrf_token="+token[1], ct, "Cookie: marketing_session="+tok, "Sec-Fetch-Site: cross-site").expect(t, 403, "")
	out := e.do("POST", "/logout", "csrf_token="+token[1], ct, "Cookie: marketing_session="+tok).expect(t, 303, "")
	if out.Header.Get("Location") != "/login" {
		t.Fatalf("logout went to %q", out.Header.Get("Location"))
	}
	e.dashGet("/sites/site-2", tok).expect(t, 303, "")

	// The filter editor's form becomes the canonical URL.
	r = e.dashGet("/sites/site-1?period=7d&fk=page&fo=contains&fv="+url.QueryEscape("/a\r\n/b\n"), vtok).expect(t, 303, "")
	if loc := r.Header.Get("Location"); loc != "/sites/site-1?f=page%3Acontains%3A%2Fa&f=page%3Acontains%3A%2Fb&period=7d" {
		t.Fatalf("filter editor went to %q", loc)
	}
}

// TestDashboardExport: a panel's CSV is the stats API's CSV of the same
// query, every row.
func TestDashboardExport(t *testing.T) {
	e := newEnv(t, "sqlite", "REPORT_TIMEZONE=America/Toronto")
	seedStats(t, e)
	e.registerSite(statsSite, "")
	e.mustUser("viewer@example.com", statsSite+"=viewer")
	tok, _ := e.login("viewer@example.com")
	v := "period=custom&from=2026-03-01&to=2026-03-10&f=device:is:desktop"
	for _, c := range []struct{ panel, body string }{
		{"pages", `{"metrics":["visitors","pageviews"],"dimensions":["event:page"]}`},
		{"channels", `{"metrics":["visitors","visits"],"dimensions":["visit:channel"]}`},
		{"conversions_landing", `{"metrics":["conversions","conversion_rate","visitors"],"dimensions":["visit:entry_page"]}`},
	} {
		got := e.dashGet("/sites/"+statsSite+"/export/"+c.panel+".csv?"+v, tok).expect(t, 200, "")
		if !strings.HasPrefix(got.Header.Get("Content-Type"), "text/csv") || !strings.Contains(got.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("%s: headers %v", c.panel, got.Header)
		}
		var b map[string]any
		_ = json.Unmarshal([]byte(c.body), &b)
		b["site_id"], b["date_range"], b["filters"] = statsSite, []string{"2026-03-01", "2026-03-10"}, []any{[]any{"is", "visit:device", []string{"desktop"}}}
		body, _ := json.Marshal(b)
		want := e.do("POST", "/v1/stats/query", string(body), "x-admin-key: "+adminKey, "Accept: text/csv").expect(t, 200, "")
		if got.Raw != want.Raw || strings.Count(got.Raw, "\n") < 2 {
			t.Errorf("%s: the dashboard's CSV\n%s\nthe API's\n%s", c.panel, got.Raw, want.Raw)
		}
	}
	e.dashGet("/sites/"+statsSite+"/export/nope.csv", tok).expect(t, 404, "")
}

// TestDashboardShare: a shared link opens the overview read-only (no
// navigation, no leads, frameable without password); with a password, the
// form comes first and a wrong password does not open it.
func TestDashboardShare(t *testing.T) {
	e := newEnv(t, "sqlite", "REPORT_TIMEZONE=America/Toronto")
	seedStats(t, e)
	e.registerSite(statsSite, "Site one")
	open := e.do("POST", "/v1/admin/sites/"+statsSite+"/shares", `{"label":"public"}`, "x-admin-key: "+adminKey).expect(t, 201, "")
	locked := e.do("POST", "/v1/admin/sites/"+statsSite+"/shares", `{"label":"locked","password":"share-password-1"}`, "x-admin-key: "+adminKey).expect(t, 201, "")

	v := "?period=custom&from=2026-03-01&to=2026-03-10"
	page := e.dashGet("/share/"+open.Body["token"].(string)+v, "").expect(t, 200, "")
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors *") || page.Header.Get("X-Frame-Options") != "" {
		t.Errorf("an open shared link cannot be embedded: %v", page.Header)
	}
	got := pageFigures(t, page.Raw)
	q, _ := url.ParseQuery(v[1:])
	if want := apiFigures(t, e, statsSite, dashboard.ParseState(q)); got["visitors"] != want["visitors"] || got["pageviews"] != want["pageviews"] {
		t.Errorf("shared figures %v, API %v", got, want)
	}
	for _, s := range []string{`aria-label="Main"`, ">Leads<", "/logout", `data-metric="leads"`} {
		if strings.Contains(page.Raw, s) {
			t.Errorf("the shared view shows %q", s)
		}
	}
	e.dashGet("/share/"+open.Body["token"].(string)+"/export/pages.csv"+v, "").expect(t, 200, "")
	e.dashGet("/share/unknown-token", "").expect(t, 404, "")

	lt := locked.Body["token"].(string)
	form := e.dashGet("/share/"+lt+v, "").expect(t, 401, "")
	if strings.Contains(form.Raw, `data-metric="visitors"`) || !strings.Contains(form.Raw, `name="password"`) {
		t.Fatal("a locked link showed figures before its password")
	}
	if form.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("a locked link may be framed")
	}
	e.dashGet("/share/"+lt+"/export/pages.csv", "").expect(t, 401, "")
	ct := "Content-Type: application/x-www-form-urlencoded"
	if r := e.do("POST", "/share/"+lt, "password=wrong-password", ct).expect(t, 401, ""); cookieOf(r, "marketing_share") != nil {
		t.Fatal("a wrong password set the cookie")
	}
	e.do("POST", "/share/"+lt, "password=share-password-1", ct, "Sec-Fetch-Site: cross-site").expect(t, 403, "")
	r := e.do("POST", "/share/"+lt, "password=share-password-1", ct).expect(t, 303, "")
	c := cookieOf(r, "marketing_share")
	if c == nil || c.Path != "/share/"+lt || !c.HttpOnly {
		t.Fatalf("unlock cookie %v", c)
	}
	unlocked := e.dashGet("/share/"+lt+v, "", "Cookie: marketing_share="+c.Value).expect(t, 200, "")
	if !strings.Contains(unlocked.Raw, `data-metric="visitors"`) || unlocked.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatal("the unlocked view has no figures, or may be framed")
	}
	// The cookie of one link opens no other.
	e.dashGet("/share/"+open.Body["token"].(string), "", "Cookie: marketing_share="+c.Value).expect(t, 200, "")
	other := e.do("POST", "/v1/admin/sites/"+statsSite+"/shares", `{"password":"share-password-2"}`, "x-admin-key: "+adminKey).expect(t, 201, "")
	e.dashGet("/share/"+other.Body["token"].(string), "", "Cookie: marketing_share="+c.Value).expect(t, 401, "")
}

// TestDashboardShareFilter: a link locked to a filter shows only what
// matches it, in the page, its exports and the API; the viewer cannot take
// the filter off; leads and current visitors (which take no filter) are
// left out; a filter that cannot be applied shows nothing, and is refused
// when the link is made.
func TestDashboardShareFilter(t *testing.T) {
	e := newEnv(t, "sqlite", "REPORT_TIMEZONE=America/Toronto")
	seedStats(t, e)
	e.registerSite(statsSite, "Site one")
	root := "x-admin-key: " + adminKey
	for _, bad := range []string{`{"bogus":"x"}`, `{"device":5}`, `{"device":[]}`, `["device"]`} {
		e.do("POST", "/v1/admin/sites/"+statsSite+"/shares", `{"filter":`+bad+`}`, root).expect(t, 400, "invalid_request")
	}
	share := e.do("POST", "/v1/admin/sites/"+statsSite+"/shares", `{"label":"desktop only","filter":{"device":"desktop"}}`, root).expect(t, 201, "")
	token := share.Body["token"].(string)
	if f, ok := share.Body["share"].(map[string]any)["filter"].(map[string]any); !ok || f["device"] != "desktop" {
		t.Errorf("the link's filter is answered as %v, not as the object given", share.Body["share"])
	}
	v := "?period=custom&from=2026-03-01&to=2026-03-10"
	q, _ := url.ParseQuery(v[1:])
	all := dashboard.ParseState(q)
	locked := dashboard.ParseState(q)
	locked.Lock(map[string][]string{"device": {"desktop"}})

	page := e.dashGet("/share/"+token+v, "").expect(t, 200, "")
	got, want, whole := pageFigures(t, page.Raw), apiFigures(t, e, statsSite, locked), apiFigures(t, e, statsSite, all)
	if got["visitors"] != want["visitors"] || got["pageviews"] != want["pageviews"] || got["visitors"] == whole["visitors"] {
		t.Fatalf("locked link's figures %v, the API's with the filter %v, without %v", got, want, whole)
	}
	for _, s := range []string{`data-metric="current_visitors"`, `data-metric="leads"`, "Remove filter: Device"} {
		if strings.Contains(page.Raw, s) {
			t.Errorf("the locked view shows %q", s)
		}
	}
	if !strings.Contains(page.Raw, "(this link's filter)") {
		t.Error("the locked filter is not shown")
	}
	// A URL cannot take the filter off: other filters add to it.
	mobile := e.dashGet("/share/"+token+v+"&f=device:is:mobile", "").expect(t, 200, "")
	if f := pageFigures(t, mobile.Raw); f["visitors"] != "0" {
		t.Errorf("desktop and mobile at once: %v", f)
	}
	csv := e.dashGet("/share/"+token+"/export/pages.csv"+v, "").expect(t, 200, "")
	body, _ := json.Marshal(map[string]any{"site_id": statsSite, "metrics": []string{"visitors", "pageviews"}, "dimensions": []string{"event:page"},
		"date_range": []string{"2026-03-01", "2026-03-10"}, "filters": []any{[]any{"is", "visit:device", []string{"desktop"}}}})
	if api := e.do("POST", "/v1/stats/query", string(body), root, "Accept: text/csv").expect(t, 200, ""); csv.Raw != api.Raw {
		t.Errorf("the locked link's CSV\n%s\nthe API's\n%s", csv.Raw, api.Raw)
	}
	// The summary takes no filter: it refuses rather than show all.
	e.do("GET", "/v1/shared/"+token+"/summary?from=2026-03-01&to=2026-03-10", "").expect(t, 409, "conflict")

	// A link stored with a filter the dashboard cannot apply shows nothing.
	tok2 := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := e.store.CreateSharedLink(context.Background(), &marketing.SharedLink{ID: marketing.NewID(now), TokenHash: marketing.HashSecret(tok2),
		SiteID: statsSite, Filter: `{"props":"x"}`, CreatedBy: "test", Created: now}); err != nil {
		t.Fatal(err)
	}
	bad := e.dashGet("/share/"+tok2+v, "").expect(t, 409, "")
	if strings.Contains(bad.Raw, `data-metric="visitors"`) {
		t.Fatal("a link with an unusable filter showed figures")
	}
	e.dashGet("/share/"+tok2+"/export/pages.csv"+v, "").expect(t, 409, "")
}

// TestDashboardAssets: assets are versioned by content, cached for a year
// under their version, compressed; the JavaScript stays within budget.
func TestDashboardAssets(t *testing.T) {
	e := newEnv(t, "sqlite")
	login := e.dashGet("/login", "").expect(t, 200, "")
	href := regexp.MustCompile(`href="(/assets/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(login.Raw)
	if href == nil {
		t.Fatal("no versioned stylesheet in the login page")
	}
	r := e.dashGet(href[1], "", "Accept-Encoding: gzip").expect(t, 200, "")
	if r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.Header.Get("Content-Encoding") != "gzip" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Errorf("asset headers %v", r.Header)
	}
	if r := e.dashGet("/assets/app.css?v=stale", ""); r.Header.Get("Cache-Control") == "public, max-age=31536000, immutable" {
		t.Error("a stale version is cached for a year")
	}
	e.dashGet("/assets/nope.js", "").expect(t, 404, "")
}

// TestDashboardEmptyAndRealtime: a site without data shows the tracker tag
// with its own values; the realtime page and its JSON answer, and the
// header names the site's zone when it differs from the report zone.
func TestDashboardEmptyAndRealtime(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.registerSite("fresh-site", "Fresh")
	s, err := e.store.Site(context.Background(), "fresh-site")
	if err != nil {
		t.Fatal(err)
	}
	s.TimeZone = "Asia/Tokyo"
	if err := e.store.UpdateSite(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	e.mustUser("owner@example.com", "*=owner")
	tok, _ := e.login("owner@example.com")
	page := html.UnescapeString(e.dashGet("/sites/fresh-site", tok).expect(t, 200, "").Raw)
	if !strings.Contains(page, `<script defer src="`+e.URL+`/v1/tracker.js" data-property="fresh-site"></script>`) {
		t.Fatalf("no tracker snippet for an empty site:\n%s", page)
	}
	// The header names the zone the engine counts in (its answer's
	// time_zone), and the site's own when that differs.
	tz := statsQuery(t, e, `{"site_id":"fresh-site","metrics":["visitors"],"date_range":"day"}`, 200)["query"].(map[string]any)["time_zone"].(string)
	want := "Time zone: " + tz
	if tz != "Asia/Tokyo" {
		want += " (the site's: Asia/Tokyo)"
	}
	if !strings.Contains(page, want+"</span>") {
		t.Errorf("the header does not say %q", want)
	}
	if strings.Contains(e.dashGet("/sites/fresh-site?f=page:is:/x", tok).Raw, `id="snippet"`) {
		t.Error("a filtered view is taken for an empty site")
	}
	e.dashGet("/sites/fresh-site/realtime", tok).expect(t, 200, "")
	rt := e.dashGet("/sites/fresh-site/realtime.json", tok).expect(t, 200, "")
	if bars, _ := rt.Body["bars"].([]any); len(bars) != 30 || rt.Body["currentVisitors"] != 0.0 {
		t.Fatalf("realtime JSON %s", rt.Raw)
	}
	if r := e.dashGet("/sites/fresh-site/realtime.json", ""); r.Status != 303 {
		t.Fatalf("realtime JSON without a session: %d", r.Status)
	}
}
