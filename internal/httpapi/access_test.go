package httpapi_test

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/storetest"
)

// mustSite registers a site as root.
func (e *env) mustSite(body string) {
	e.t.Helper()
	e.do("POST", "/v1/admin/sites", body, "x-admin-key: "+adminKey).expect(e.t, 201, "")
}

// mustKey creates an API key as the given credentials and returns its secret.
func (e *env) mustKey(body string, auth string) string {
	e.t.Helper()
	r := e.do("POST", "/v1/admin/keys", body, auth).expect(e.t, 201, "")
	secret, _ := r.Body["secret"].(string)
	if !strings.HasPrefix(secret, "mk_") {
		e.t.Fatalf("no secret in %s", r.Raw)
	}
	return secret
}

func flipLast(s string) string {
	if strings.HasSuffix(s, "0") {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}

func bearer(secret string) string { return "Authorization: Bearer " + secret }

// TestSitesOriginsAndCORS: with no site, today's behaviour; once a site
// exists, its origins are allowed, its events carry its id whatever the
// page says, and unregistered origins are refused and counted.
func TestSitesOriginsAndCORS(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		ev := `{"eventType":"page_view","path":"/","propertyId":"made-up"}`
		e.do("POST", "/v1/events", ev, "Origin: https://www.example.org").expect(t, 403, "origin_not_allowed")
		e.do("POST", "/v1/events", `{"eventType":"page_view","path":"/"}`, "Origin: "+site).expect(t, 202, "")
		e.mustSite(`{"domains":["www.example.org"],"name":"Org","timeZone":"America/Toronto"}`)

		e.do("POST", "/v1/events", ev, "Origin: https://www.example.org").expect(t, 202, "")
		pre := e.do("OPTIONS", "/v1/events", "", "Origin: https://example.org", "Access-Control-Request-Method: POST").expect(t, 204, "")
		if pre.Header.Get("Access-Control-Allow-Origin") != "https://example.org" {
			t.Fatalf("preflight of a registered origin: %v", pre.Header)
		}
		e.do("OPTIONS", "/v1/events", "", "Origin: https://evil.example", "Access-Control-Request-Method: POST").expect(t, 403, "origin_not_allowed")
		e.do("POST", "/v1/events", ev, "Origin: http://www.example.org").expect(t, 403, "origin_not_allowed") // not https
		// CORS_ALLOWED_ORIGINS keeps working beside the sites.
		e.do("POST", "/v1/events", `{"eventType":"page_view","path":"/x"}`, "Origin: "+site).expect(t, 202, "")

		got := map[string]int64{}
		for _, r := range e.rows(`SELECT property_id, count(*) FROM events GROUP BY property_id`) {
			got[toString(r[0])] = r[1].(int64)
		}
		if got["example.org"] != 1 || got["made-up"] != 0 || got["example.com"] != 2 {
			t.Fatalf("events per property %v", got)
		}
		if err := e.pipe.Counters.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT CAST(coalesce(sum(count), 0) AS bigint) FROM ingest_rejections WHERE reason = 'origin'`); n != 3 {
			t.Fatalf("%d origin refusals counted, want 3", n)
		}

		// The admin API: read, update, delete; a bad zone is refused.
		r := e.do("GET", "/v1/admin/sites/example.org", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		s := r.Body["site"].(map[string]any)
		if s["timeZone"] != "America/Toronto" || len(s["origins"].([]any)) != 2 {
			t.Fatalf("site %s", r.Raw)
		}
		e.do("PATCH", "/v1/admin/sites/example.org", `{"timeZone":"Mars/Olympus"}`, "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("PATCH", "/v1/admin/sites/example.org", `{"origins":["https://shop.example.org"],"domains":["example.org","shop.example.org"]}`, "x-admin-key: "+adminKey).expect(t, 200, "")
		e.do("POST", "/v1/events", ev, "Origin: https://www.example.org").expect(t, 403, "origin_not_allowed")
		e.do("POST", "/v1/events", ev, "Origin: https://shop.example.org").expect(t, 202, "")
		e.do("POST", "/v1/admin/sites", `{"domains":["shop.example.org"]}`, "x-admin-key: "+adminKey).expect(t, 409, "conflict")
		e.do("DELETE", "/v1/admin/sites/example.org", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		e.do("DELETE", "/v1/admin/sites/example.org", "", "x-admin-key: "+adminKey).expect(t, 404, "not_found")
		// No site left: back to zero configuration.
		e.do("POST", "/v1/events", ev, "Origin: https://shop.example.org").expect(t, 403, "origin_not_allowed")
		if n := e.count(`SELECT count(*) FROM audit_log WHERE action LIKE 'site.%'`); n != 3 {
			t.Fatalf("%d site actions audited, want 3: %s", n, e.dump())
		}
	})
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestKeysScopesAndSites is acceptance 2 for API keys: a key reads only
// its sites, a stats:read key cannot write, revoked and expired keys get
// 401; and acceptance 4: one audit row per admin action, with actor and
// target, and no email of an erased subject.
func TestKeysScopesAndSites(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			c := &clock{t: time.Now()}
			e := newEnvClock(t, backend, c.now)
			root := "x-admin-key: " + adminKey
			e.mustSite(`{"domains":["a.example"]}`)
			e.mustSite(`{"domains":["b.example"]}`)
			ra := e.do("POST", "/v1/leads/capture", capture("ann@example.net", ""), "Origin: https://a.example").expect(t, 200, "")
			rb := e.do("POST", "/v1/leads/capture", strings.Replace(capture("bob@example.net", ""), "visitor-lead-0001", "visitor-lead-0002", 1), "Origin: https://b.example").expect(t, 200, "")
			leadA, leadB := e.leadID(ra), e.leadID(rb)

			stats := e.mustKey(`{"scopes":["stats:read"],"sites":["a.example"],"label":"reporting"}`, root)
			readerA := e.mustKey(`{"scopes":["leads:read"],"sites":["a.example"]}`, root)
			writer := e.mustKey(`{"scopes":["leads:read","leads:write"],"expiresAt":"`+c.now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`, "Authorization: Bearer "+adminKey)
			admin := e.mustKey(`{"scopes":["sites:admin"],"sites":["a.example"]}`, root)

			// stats:read cannot read leads nor write anything.
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/v1/admin/leads", ""}, {"GET", "/v1/admin/leads/" + leadA, ""},
				{"GET", "/v1/admin/privacy/export?email=ann@example.net", ""},
				{"POST", "/v1/leads/delete", `{"email":"ann@example.net"}`},
				{"POST", "/v1/leads/unsubscribe", `{"email":"ann@example.net"}`},
				{"POST", "/v1/admin/sites", `{"domains":["c.example"]}`},
				{"POST", "/v1/admin/keys", `{"scopes":["stats:read"]}`},
			} {
				e.do(r.method, r.path, r.body, bearer(stats)).expect(t, 403, "forbidden")
			}
			day := c.now().UTC().Format(time.DateOnly)
			e.do("GET", "/v1/metrics/summary?from="+day+"&to="+day+"&propertyId=a.example", "", bearer(stats)).expect(t, 200, "")
			e.do("GET", "/v1/metrics/summary?from="+day+"&to="+day+"&propertyId=b.example", "", bearer(stats)).expect(t, 403, "forbidden")
			e.do("GET", "/v1/metrics/summary?from="+day+"&to="+day, "", bearer(stats)).expect(t, 403, "forbidden")

			// A key of site A reads nothing of site B.
			r := e.do("GET", "/v1/admin/leads", "", bearer(readerA)).expect(t, 200, "")
			if leads := r.Body["leads"].([]any); len(leads) != 1 || leads[0].(map[string]any)["email"] != "ann@example.net" {
				t.Fatalf("site A's key lists %s", r.Raw)
			}
			if csv := e.do("GET", "/v1/admin/leads", "", bearer(readerA), "Accept: text/csv"); strings.Contains(csv.Raw, "bob@") || !strings.Contains(csv.Raw, "ann@") {
				t.Fatalf("site A's CSV: %s", csv.Raw)
			}
			e.do("GET", "/v1/admin/leads/"+leadA, "", bearer(readerA)).expect(t, 200, "")
			e.do("GET", "/v1/admin/leads/"+leadB, "", bearer(readerA)).expect(t, 404, "not_found")
			e.do("GET", "/v1/admin/privacy/export?email=bob@example.net", "", bearer(readerA)).expect(t, 403, "forbidden")
			e.do("GET", "/v1/admin/sites", "", bearer(admin)).expect(t, 200, "")
			if r := e.do("GET", "/v1/admin/sites", "", bearer(admin)); len(r.Body["sites"].([]any)) != 1 {
				t.Fatalf("site A's admin sees %s", r.Raw)
			}
			e.do("GET", "/v1/admin/sites/b.example", "", bearer(admin)).expect(t, 404, "not_found")
			e.do("PATCH", "/v1/admin/sites/b.example", `{"name":"x"}`, bearer(admin)).expect(t, 404, "not_found")
			e.do("PATCH", "/v1/admin/sites/a.example", `{"name":"Site A"}`, bearer(admin)).expect(t, 200, "")
			// Nobody grants what they do not hold.
			e.do("POST", "/v1/admin/keys", `{"scopes":["leads:read"]}`, bearer(admin)).expect(t, 403, "forbidden")

			// The unrestricted writer erases; the audit keeps no address.
			e.do("POST", "/v1/leads/delete", `{"email":"bob@example.net"}`, bearer(writer)).expect(t, 200, "")
			e.do("POST", "/v1/leads/unsubscribe", `{"email":"ann@example.net"}`, bearer(writer)).expect(t, 200, "")

			// Bad, revoked and expired keys: 401.
			e.do("GET", "/v1/admin/leads", "", bearer(flipLast(readerA))).expect(t, 401, "unauthorized")
			e.do("GET", "/v1/admin/leads", "", bearer("mk_000000000000_"+strings.Repeat("0", 64))).expect(t, 401, "unauthorized")
			prefix := readerA[:15]
			e.do("POST", "/v1/admin/keys/"+prefix+"/revoke", "", root).expect(t, 200, "")
			e.do("GET", "/v1/admin/leads", "", bearer(readerA)).expect(t, 401, "unauthorized")
			c.add(2 * time.Hour)
			e.do("GET", "/v1/admin/leads", "", bearer(writer)).expect(t, 401, "unauthorized")
			e.do("GET", "/v1/admin/leads", "", "Authorization: Bearer "+adminKey).expect(t, 200, "")

			r = e.do("GET", "/v1/admin/keys", "", root).expect(t, 200, "")
			if strings.Contains(r.Raw, readerA[16:]) || len(r.Body["keys"].([]any)) != 4 {
				t.Fatalf("key list %s", r.Raw)
			}
			if n := e.count(`SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL`); n != 4 {
				t.Fatalf("%d keys with last_used_at, want 4", n)
			}

			// The audit log: one row per admin action, actor and target.
			want := map[string]int{"site.create": 2, "site.update": 1, "key.create": 4, "key.revoke": 1,
				"leads.export": 1, "lead.erase": 1, "lead.unsubscribe": 1}
			got := map[string]int{}
			rows := e.rows(`SELECT action, actor, target FROM audit_log`)
			for _, row := range rows {
				got[toString(row[0])]++
				if toString(row[1]) == "" || toString(row[2]) == "" {
					t.Errorf("audit row without actor or target: %v", row)
				}
				if strings.Contains(toString(row[2]), "@") {
					t.Errorf("audit row names an address: %v", row)
				}
			}
			for a, n := range want {
				if got[a] != n {
					t.Errorf("audit %s: %d rows, want %d (all: %v)", a, got[a], n, got)
				}
			}
			if len(rows) != 11 {
				t.Errorf("%d audit rows, want 11: %v", len(rows), rows)
			}
			erase := e.rows(`SELECT actor FROM audit_log WHERE action = 'lead.erase'`)
			if len(erase) != 1 || toString(erase[0][0]) != "key:"+writer[:15] {
				t.Errorf("erasure actor %v, want key:%s", erase, writer[:15])
			}
			r = e.do("GET", "/v1/admin/audit", "", root).expect(t, 200, "")
			if n := len(r.Body["entries"].([]any)); n != 11 {
				t.Errorf("audit API lists %d entries", n)
			}
			r = e.do("GET", "/v1/admin/audit", "", bearer(admin)).expect(t, 200, "")
			for _, en := range r.Body["entries"].([]any) {
				if en.(map[string]any)["siteId"] != "a.example" {
					t.Errorf("site A's admin reads %v", en)
				}
			}
		})
	}
}

// TestPerSiteTimeZones is acceptance 3: a Toronto site and a Tokyo site on
// the same events get their own day boundaries; the all-properties row
// keeps REPORT_TIMEZONE (UTC here).
func TestPerSiteTimeZones(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		e.mustSite(`{"domains":["toronto.example"],"timeZone":"America/Toronto"}`)
		e.mustSite(`{"domains":["tokyo.example"],"timeZone":"Asia/Tokyo"}`)
		var evs []marketing.PendingEvent
		for _, p := range []string{"toronto.example", "tokyo.example"} {
			for i, at := range []string{"2026-01-21T14:00:00Z", "2026-01-21T23:30:00Z", "2026-01-22T02:00:00Z"} {
				ts, _ := time.Parse(time.RFC3339, at)
				ev := storetest.Event(p+"-visitor-"+strconv.Itoa(i), "page_view", "/", ts)
				ev.PropertyID = p
				evs = append(evs, ev)
			}
		}
		if _, err := e.store.AppendEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		e.sessionize()
		if _, err := e.jobs.Rollup(context.Background(), "2026-01-20", "2026-01-23"); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range e.rows(`SELECT property_id, day, total_page_views, time_zone FROM daily_metric_rollups WHERE total_page_views > 0`) {
			got[toString(r[0])+" "+toString(r[1])[:10]] = toString(r[2]) + " " + toString(r[3])
		}
		want := map[string]string{
			"toronto.example 2026-01-21": "3 America/Toronto",
			"tokyo.example 2026-01-21":   "1 Asia/Tokyo",
			"tokyo.example 2026-01-22":   "2 Asia/Tokyo",
			"default 2026-01-21":         "4 UTC",
			"default 2026-01-22":         "2 UTC",
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("page views per property and day\n got %v\nwant %v", got, want)
		}
	})
}

// TestSharedLinks: a link shows one site's figures to whoever holds it,
// behind its password when it has one, until it expires or is revoked.
func TestSharedLinks(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			c := &clock{t: time.Now()}
			e := newEnvClock(t, backend, c.now)
			root := "x-admin-key: " + adminKey
			e.mustSite(`{"domains":["a.example"]}`)
			e.mustSite(`{"domains":["b.example"]}`)
			e.do("POST", "/v1/events", `{"eventType":"page_view","path":"/"}`, "Origin: https://a.example").expect(t, 202, "")
			e.do("POST", "/v1/events", `[{"eventType":"page_view","path":"/"},{"eventType":"page_view","path":"/b"}]`, "Origin: https://b.example").expect(t, 202, "")
			adminB := e.mustKey(`{"scopes":["sites:admin"],"sites":["b.example"]}`, root)
			e.do("POST", "/v1/admin/sites/a.example/shares", `{}`, bearer(adminB)).expect(t, 404, "not_found")

			r := e.do("POST", "/v1/admin/sites/a.example/shares", `{"label":"client","filter":{"page":"/pricing"},"expiresAt":"`+
				c.now().Add(48*time.Hour).UTC().Format(time.RFC3339)+`"}`, root).expect(t, 201, "")
			open, openID := r.Body["token"].(string), r.Body["share"].(map[string]any)["id"].(string)
			day := c.now().UTC().Format(time.DateOnly)
			q := "?from=" + day + "&to=" + day + "&propertyId=b.example"
			// Locked to a filter, which the summary cannot apply: refused
			// (the dashboard's /share/ view applies it).
			e.do("GET", "/v1/shared/"+open+"/summary"+q, "").expect(t, 409, "conflict")
			if r.Body["dashboardPath"] != "/share/"+open || r.Body["share"].(map[string]any)["filter"].(map[string]any)["page"] != "/pricing" {
				t.Errorf("create answer %s", r.Raw)
			}
			// A filter that cannot be applied is refused with a 400 on both
			// stores, invalid UTF-8 too (PostgreSQL's jsonb cannot hold
			// it); an empty one locks nothing.
			for _, bad := range []string{`{"page":null}`, `{"page":["/a",null]}`, "{\"page\":\"\xff\"}"} {
				e.do("POST", "/v1/admin/sites/a.example/shares", `{"filter":`+bad+`}`, root).expect(t, 400, "invalid_request")
			}
			empty := e.do("POST", "/v1/admin/sites/a.example/shares", `{"filter":{}}`, root).expect(t, 201, "")
			e.do("GET", "/v1/shared/"+empty.Body["token"].(string)+"/summary"+q, "").expect(t, 200, "")
			plain := e.do("POST", "/v1/admin/sites/a.example/shares", `{"label":"all"}`, root).expect(t, 201, "")
			got := e.do("GET", "/v1/shared/"+plain.Body["token"].(string)+"/summary"+q, "").expect(t, 200, "")
			// Site A's one page view, though the query asks for site B's two.
			if !strings.Contains(got.Raw, `"totalPageViews":{"value":1,`) {
				t.Fatalf("shared summary %v %s", got.Header, got.Raw)
			}
			e.do("GET", "/v1/shared/"+flipLast(open)+"/summary"+q, "").expect(t, 404, "not_found")

			r = e.do("POST", "/v1/admin/sites/a.example/shares", `{"password":"client password"}`, root).expect(t, 201, "")
			locked := r.Body["token"].(string)
			e.do("GET", "/v1/shared/"+locked+"/summary"+q, "").expect(t, 401, "unauthorized")
			e.do("POST", "/v1/shared/"+locked+"/unlock", `{"password":"wrong"}`).expect(t, 401, "unauthorized")
			u := e.do("POST", "/v1/shared/"+locked+"/unlock", `{"password":"client password"}`).expect(t, 200, "")
			ck := cookieOf(u, "marketing_share")
			if ck == nil || !ck.HttpOnly {
				t.Fatalf("unlock cookie %v", u.Header)
			}
			e.do("GET", "/v1/shared/"+locked+"/summary"+q, "", "Cookie: marketing_share="+ck.Value).expect(t, 200, "")
			e.do("GET", "/v1/shared/"+locked+"/summary"+q, "", "Cookie: marketing_share="+flipLast(ck.Value)).expect(t, 401, "unauthorized")

			list := e.do("GET", "/v1/admin/sites/a.example/shares", "", root).expect(t, 200, "")
			if strings.Contains(list.Raw, open) || strings.Contains(list.Raw, "argon2") || len(list.Body["shares"].([]any)) != 4 {
				t.Fatalf("share list %s", list.Raw)
			}
			e.do("POST", "/v1/admin/shares/"+openID+"/revoke", "", bearer(adminB)).expect(t, 404, "not_found")
			e.do("POST", "/v1/admin/shares/"+openID+"/revoke", "", root).expect(t, 200, "")
			e.do("GET", "/v1/shared/"+open+"/summary"+q, "").expect(t, 404, "not_found")
			c.add(25 * time.Hour) // the unlock cookie has lapsed
			e.do("GET", "/v1/shared/"+locked+"/summary"+q, "", "Cookie: marketing_share="+ck.Value).expect(t, 401, "unauthorized")
			if n := e.count(`SELECT count(*) FROM audit_log WHERE action IN ('share.create', 'share.revoke')`); n != 5 {
				t.Fatalf("%d share actions audited, want 5", n)
			}
		})
	}
}

// TestEventsWriteKey: a server-side sender's key must hold events:write
// on the properties it writes; without a key, events work as before.
func TestEventsWriteKey(t *testing.T) {
	e := newEnv(t, "sqlite")
	root := "x-admin-key: " + adminKey
	e.mustSite(`{"domains":["a.example"]}`)
	e.mustSite(`{"domains":["b.example"]}`)
	writer := e.mustKey(`{"scopes":["events:write"],"sites":["a.example"]}`, root)
	reader := e.mustKey(`{"scopes":["stats:read"]}`, root)
	ev := func(p string) string { return `{"eventType":"page_view","path":"/","propertyId":"` + p + `"}` }
	e.do("POST", "/v1/events", ev("a.example"), bearer(writer)).expect(t, 202, "")
	e.do("POST", "/v1/events", ev("b.example"), bearer(writer)).expect(t, 403, "forbidden")
	e.do("POST", "/v1/events", ev("a.example"), bearer(reader)).expect(t, 403, "forbidden")
	e.do("POST", "/v1/events", ev("a.example"), bearer(flipLast(writer))).expect(t, 401, "unauthorized")
	e.do("POST", "/v1/events", ev("b.example")).expect(t, 202, "")
	if n := e.count(`SELECT count(*) FROM events`); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}
