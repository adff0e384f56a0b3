package httpapi_test

import (
	"html"
	"net/url"
	"strings"
	"testing"
)

// admEnv is a server with a registered site, an owner, a site admin and a
// site viewer, and two leads captured on the site.
type admEnv struct {
	*env
	owner, admin, viewer struct{ id, tok, csrf string }
}

const admWording = "Yes, send me the monthly newsletter. I can unsubscribe at any time (v3)"

func newAdmEnv(t *testing.T, open func(...string) *env) *admEnv {
	e := &admEnv{env: open("RATE_LIMIT_LEADS_PER_MINUTE=0")}
	e.mustSite(`{"domains":["example.com"]}`)
	for _, u := range []struct {
		who   *struct{ id, tok, csrf string }
		email string
		role  string
	}{{&e.owner, "owner@team.test", "*=owner"}, {&e.admin, "admin@team.test", "example.com=admin"}, {&e.viewer, "viewer@team.test", "example.com=viewer"}} {
		u.who.id = e.mustUser(u.email, u.role).ID
		u.who.tok, u.who.csrf = e.login(u.email)
	}
	e.do("POST", "/v1/leads/capture", `{"email":"Ada@Example.com","name":"Ada Lovelace","anonId":"visitor-ada-0001","consentStatus":"express",
		"consent":{"text":"`+admWording+`","purpose":"newsletter"},"sourceChannel":"newsletter","utm":{"campaign":"spring"},"formName":"signup","path":"/signup"}`,
		"Origin: "+site).expect(t, 200, "")
	e.do("POST", "/v1/leads/capture", `{"email":"bob@example.org","anonId":"visitor-bob-0001","formName":"contact","path":"/contact"}`,
		"Origin: "+site).expect(t, 200, "")
	e.sessionize()
	return e
}

func (e *admEnv) leadIDOf(email string) string {
	e.t.Helper()
	rows := e.rows(`SELECT id FROM leads WHERE email_normalized = ?`, email)
	if len(rows) != 1 {
		return ""
	}
	return toString(rows[0][0])
}

// page GETs a dashboard page as a session.
func (e *admEnv) page(tok, path string) resp {
	e.t.Helper()
	return e.do("GET", path, "", "Cookie: marketing_session="+tok)
}

// form POSTs a form as a session; csrf "" leaves the token out.
func (e *admEnv) form(tok, csrf, path string, vals url.Values) resp {
	e.t.Helper()
	if csrf != "" {
		vals.Set("csrf_token", csrf)
	}
	return e.do("POST", path, vals.Encode(), "Cookie: marketing_session="+tok, "Content-Type: application/x-www-form-urlencoded", "Origin: "+e.URL)
}

func mustStatus(t *testing.T, r resp, status int, what string) resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %.600s", what, r.Status, status, r.Raw)
	}
	return r
}

// TestDashboardLeadsRights: a viewer never reaches the leads pages (the 403
// page) and never sees an address anywhere in the dashboard; a site admin
// reads the site's leads but may not erase (a person-level action needs
// leads:write on every site); the owner does everything.
func TestDashboardLeadsRights(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := newAdmEnv(t, open)
		ada := e.leadIDOf("ada@example.com")
		for _, path := range []string{"/sites/example.com/leads", "/sites/example.com/leads/" + ada, "/settings", "/operations"} {
			r := mustStatus(t, e.page(e.viewer.tok, path), 403, "viewer GET "+path)
			if strings.Contains(r.Raw, "ada@example.com") || strings.Contains(r.Raw, "bob@example.org") {
				t.Errorf("viewer's %s shows an address", path)
			}
		}
		// Every page a viewer can open is free of leads' addresses.
		for _, path := range []string{"/", "/sites/example.com", "/sites/example.com/realtime"} {
			r := e.page(e.viewer.tok, path)
			if r.Status >= 500 || strings.Contains(r.Raw, "ada@example.com") || strings.Contains(r.Raw, "bob@example.org") || strings.Contains(r.Raw, "/leads") {
				t.Errorf("viewer's %s: status %d, or an address or a leads link in it", path, r.Status)
			}
		}
		// A viewer's forms are refused, whatever their token.
		mustStatus(t, e.form(e.viewer.tok, e.viewer.csrf, "/sites/example.com/leads/"+ada+"/erase", url.Values{"confirm": {"erase"}}), 403, "viewer erase")
		mustStatus(t, e.form(e.viewer.tok, e.viewer.csrf, "/sites/example.com/leads", url.Values{"email": {"ada"}}), 403, "viewer search")
		mustStatus(t, e.form(e.viewer.tok, e.viewer.csrf, "/sites/example.com/leads/export", url.Values{}), 403, "viewer CSV")
		if e.leadIDOf("ada@example.com") == "" {
			t.Fatal("a viewer's erase went through")
		}

		// The site admin reads the list and the lead, but person-level
		// actions are refused.
		r := mustStatus(t, e.page(e.admin.tok, "/sites/example.com/leads"), 200, "admin list")
		if !strings.Contains(r.Raw, "ada@example.com") || !strings.Contains(r.Raw, "bob@example.org") {
			t.Fatalf("admin's list lacks the leads: %.800s", r.Raw)
		}
		mustStatus(t, e.form(e.admin.tok, e.admin.csrf, "/sites/example.com/leads/"+ada+"/erase", url.Values{"confirm": {"erase"}}), 403, "site admin erase")
		mustStatus(t, e.page(e.admin.tok, "/settings"), 403, "site admin settings")
		// A lead of another site is not found through this site's path.
		mustStatus(t, e.page(e.owner.tok, "/sites/other.example/leads"), 404, "unknown site")
	})
}

// TestDashboardLeadsList: filters, the search by email (a POST: the
// address is never in a URL), CSRF refusal, the CSV export.
func TestDashboardLeadsList(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := newAdmEnv(t, open)
		r := mustStatus(t, e.page(e.owner.tok, "/sites/example.com/leads?consentStatus=express"), 200, "filter")
		if !strings.Contains(r.Raw, "ada@example.com") || strings.Contains(r.Raw, "bob@example.org") {
			t.Errorf("express filter: %.600s", r.Raw)
		}
		r = mustStatus(t, e.page(e.owner.tok, "/sites/example.com/leads?campaign=spring"), 200, "campaign")
		if !strings.Contains(r.Raw, "ada@example.com") || strings.Contains(r.Raw, "bob@example.org") {
			t.Errorf("campaign filter: %.600s", r.Raw)
		}
		mustStatus(t, e.page(e.owner.tok, "/sites/example.com/leads?since=someday"), 400, "a bad date")
		// The search: the start of an address, sent in the body.
		r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/sites/example.com/leads", url.Values{"email": {"BOB@"}}), 200, "search")
		if !strings.Contains(r.Raw, "bob@example.org") || strings.Contains(r.Raw, "ada@example.com") {
			t.Errorf("search: %.600s", r.Raw)
		}
		if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
			t.Errorf("search results cacheable: %q", r.Header.Get("Cache-Control"))
		}
		// Without the token, or from another site: refused, nothing shown.
		for name, res := range map[string]resp{
			"no token":   e.form(e.owner.tok, "", "/sites/example.com/leads", url.Values{"email": {"bob"}}),
			"bad token":  e.form(e.owner.tok, "x"+e.owner.csrf[1:], "/sites/example.com/leads", url.Values{"email": {"bob"}}),
			"cross-site": e.do("POST", "/sites/example.com/leads", "email=bob&csrf_token="+e.owner.csrf, "Cookie: marketing_session="+e.owner.tok, "Content-Type: application/x-www-form-urlencoded", "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"),
		} {
			if res.Status != 403 || strings.Contains(res.Raw, "bob@example.org") {
				t.Errorf("%s: status %d", name, res.Status)
			}
		}
		// CSV of the filtered list, audited.
		r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/sites/example.com/leads/export", url.Values{"consentStatus": {"express"}}), 200, "CSV")
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.Contains(r.Raw, "ada@example.com") || strings.Contains(r.Raw, "bob@example.org") {
			t.Errorf("CSV %s: %.400s", r.Header.Get("Content-Type"), r.Raw)
		}
		if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'leads.export' AND actor = ?`, "user:"+e.owner.id); n != 1 {
			t.Errorf("%d CSV export audit entries", n)
		}
	})
}

// TestDashboardLeadPageAndErasure: a lead's page shows its consent wording;
// an erasure without the typed confirmation, or without the CSRF token,
// changes nothing; with it the lead is gone from the list and the API.
func TestDashboardLeadPageAndErasure(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := newAdmEnv(t, open)
		ada := e.leadIDOf("ada@example.com")
		base := "/sites/example.com/leads/" + ada
		r := mustStatus(t, e.page(e.owner.tok, base), 200, "lead page")
		for _, want := range []string{"ada@example.com", admWording, "express", "Ada Lovelace", "spring", "/signup"} {
			if !strings.Contains(r.Raw, want) {
				t.Errorf("lead page lacks %q", want)
			}
		}
		// Privacy export: a JSON download, audited.
		r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, base+"/export", url.Values{}), 200, "privacy export")
		if !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(r.Raw, `"email": "ada@example.com"`) {
			t.Errorf("export %q: %.300s", r.Header.Get("Content-Disposition"), r.Raw)
		}
		// Unsubscribe by the owner: withdrawn, source admin.
		mustStatus(t, e.form(e.owner.tok, e.owner.csrf, base+"/unsubscribe", url.Values{"reason": {"asked by phone"}}), 303, "unsubscribe")
		if n := e.count(`SELECT count(*) FROM leads WHERE id = ? AND consent_status = 'withdrawn'`, ada); n != 1 {
			t.Error("the unsubscribe did not withdraw the consent")
		}

		// Erasure refused: a wrong confirmation, no token, a GET.
		r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, base+"/erase", url.Values{"confirm": {"ada@example.org"}}), 400, "wrong confirmation")
		if !strings.Contains(r.Raw, "Nothing was erased") {
			t.Errorf("the refusal does not say so: %.300s", r.Raw)
		}
		mustStatus(t, e.form(e.owner.tok, "", base+"/erase", url.Values{"confirm": {"erase"}}), 403, "erase without token")
		if e.leadIDOf("ada@example.com") == "" {
			t.Fatal("a refused erasure erased")
		}
		// The address typed in another case confirms it.
		r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, base+"/erase", url.Values{"confirm": {" ADA@example.com "}}), 303, "erase")
		if loc := r.Header.Get("Location"); loc != "/sites/example.com/leads?done=erased" {
			t.Errorf("after erasure: Location %q", loc)
		}
		if e.leadIDOf("ada@example.com") != "" {
			t.Fatal("the lead is still stored")
		}
		r = mustStatus(t, e.page(e.owner.tok, "/sites/example.com/leads?done=erased"), 200, "list after")
		if strings.Contains(r.Raw, "ada@example.com") || !strings.Contains(r.Raw, "bob@example.org") || !strings.Contains(r.Raw, "erased") {
			t.Errorf("list after erasure: %.600s", r.Raw)
		}
		api := e.do("GET", "/v1/admin/leads", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		if strings.Contains(api.Raw, "ada@example.com") {
			t.Error("the API still lists the erased lead")
		}
		// Erasures are limited as the API's are: a few a minute per IP.
		bob, limited := e.leadIDOf("bob@example.org"), 0
		for range 11 {
			if r := e.form(e.owner.tok, e.owner.csrf, "/sites/example.com/leads/"+bob+"/erase", url.Values{"confirm": {"not bob"}}); r.Status == 429 {
				limited++
			}
		}
		if limited == 0 || e.leadIDOf("bob@example.org") == "" {
			t.Errorf("11 erasure forms in a row: %d refused with 429", limited)
		}
		mustStatus(t, e.page(e.owner.tok, base), 404, "erased lead's page")
		if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'lead.erase' AND actor = ? AND target NOT LIKE '%@%'`, "user:"+e.owner.id); n != 1 {
			t.Errorf("%d erasure audit entries without an address", n)
		}
	})
}

// TestDashboardSettingsAndOperations: the owner's settings page lists
// sites, people, keys, links and the audit log; a key's secret is shown
// once in the form's answer; operations shows the configuration with the
// root key masked.
func TestDashboardSettingsAndOperations(t *testing.T) {
	e := newAdmEnv(t, func(vars ...string) *env { return newEnv(t, "sqlite", vars...) })
	r := mustStatus(t, e.page(e.owner.tok, "/settings"), 200, "settings")
	for _, want := range []string{"example.com", "viewer@team.test", "Audit log", "site.create"} {
		if !strings.Contains(r.Raw, want) {
			t.Errorf("settings lack %q", want)
		}
	}
	r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/keys", url.Values{"scopes": {"stats:read"}, "label": {"reporting"}}), 201, "new key")
	if !strings.Contains(r.Raw, `value="mk_`) || e.count(`SELECT count(*) FROM api_keys WHERE label = 'reporting'`) != 1 {
		t.Errorf("new key page: %.400s", r.Raw)
	}
	mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/keys", url.Values{"scopes": {"everything"}}), 400, "bad scope")
	mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/sites/example.com", url.Values{"name": {"Example"}, "timeZone": {"America/Toronto"}, "origins": {"https://www.example.com"}}), 303, "edit site")
	mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/sites/example.com", url.Values{"timeZone": {"Mars/Olympus"}}), 400, "bad zone")
	r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/shares", url.Values{"siteId": {"example.com"}, "label": {"client"}, "password": {"long enough pw"}}), 201, "new share")
	if !strings.Contains(r.Raw, "/share/") {
		t.Errorf("new link not shown: %.300s", r.Raw)
	}
	mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/shares", url.Values{"siteId": {"example.com"}, "filter": {`{"campaign": "spring"}`}}), 400, "bad share filter")
	r = mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/shares", url.Values{"siteId": {"example.com"}, "label": {"spring"}, "filter": {`{"utm_campaign": "spring"}`}}), 201, "locked share")
	if !strings.Contains(r.Raw, html.EscapeString(`{"utm_campaign":"spring"}`)) || e.count(`SELECT count(*) FROM shared_links WHERE filter <> ''`) != 1 {
		t.Errorf("the locked link's filter is not shown or not stored: %.300s", r.Raw)
	}
	mustStatus(t, e.form(e.owner.tok, e.owner.csrf, "/settings/users/"+e.viewer.id+"/role", url.Values{"siteId": {"example.com"}, "role": {"admin"}}), 303, "role")
	r = mustStatus(t, e.page(e.owner.tok, "/operations"), 200, "operations")
	for _, want := range []string{"DATABASE_URL", "Migrations", "Job runs", "Ingest"} {
		if !strings.Contains(r.Raw, want) {
			t.Errorf("operations lack %q", want)
		}
	}
	if strings.Contains(r.Raw, adminKey) {
		t.Error("operations shows the root key")
	}

	// An owner of one site: its settings, not the people or keys of all,
	// no new site, no operations.
	e.mustUser("siteowner@team.test", "example.com=owner")
	tok, csrf := e.login("siteowner@team.test")
	r = mustStatus(t, e.page(tok, "/settings"), 200, "site owner's settings")
	if strings.Contains(r.Raw, "viewer@team.test") || strings.Contains(r.Raw, "mk_") || !strings.Contains(r.Raw, "example.com") {
		t.Errorf("a site owner sees the people or keys of every site: %.400s", r.Raw)
	}
	mustStatus(t, e.form(tok, csrf, "/settings/sites", url.Values{"domains": {"new.example"}}), 403, "site owner adds a site")
	mustStatus(t, e.form(tok, csrf, "/settings/keys", url.Values{"scopes": {"stats:read"}}), 403, "site owner creates a key")
	mustStatus(t, e.page(tok, "/operations"), 403, "site owner's operations")
}
