package httpapi_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNULIsRefusedAtValidation: text PostgreSQL cannot store is a 400 on
// both stores, before any batch sees it, wherever it hides.
func TestNULIsRefusedAtValidation(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		for _, body := range []string{
			`{"anonId":"visitor-nul-001","eventType":"page_view","path":"/a\u0000b"}`,
			`{"anonId":"visitor-nul-001","eventType":"page_view","path":"/","props":{"k":"v\u0000"}}`,
			`{"anonId":"visitor-nul-001","eventType":"page_view","path":"/","props":{"k\u0000":"v"}}`,
			`{"anonId":"visitor-nul-001\u0000","eventType":"page_view","path":"/"}`,
			`{"anonId":"visitor-nul-001","eventType":"page_view","path":"/","utm":{"source":"x\u0000"}}`,
		} {
			e.do("POST", "/v1/events", body).expect(t, 400, "invalid_request")
		}
		// In a URL's query the NUL is dropped with the parameter, never stored.
		r := e.do("POST", "/v1/events", `{"anonId":"visitor-nul-001","eventType":"page_view","url":"https://www.example.com/p?utm_source=a%00b"}`).expect(t, 202, "")
		if row := e.rows(`SELECT path, coalesce(utm_source, '') FROM events WHERE id = ?`, r.Body["eventId"]); len(row) != 1 || row[0][0] != "/p" || row[0][1] != "" {
			t.Fatalf("stored %v", row)
		}
		for _, body := range []string{
			`{"email":"nul@example.com","name":"A\u0000B"}`,
			`{"email":"nul@example.com","payload":{"note":"x\u0000"}}`,
			`{"email":"nul\u0000@example.com"}`,
		} {
			e.do("POST", "/v1/leads/capture", body).expect(t, 400, "invalid_request")
		}
		form := url.Values{"email": {"nul@example.com"}, "name": {"A\x00B"}}
		if r := e.do("POST", "/v1/leads/capture", form.Encode(), "Content-Type: application/x-www-form-urlencoded"); r.Status != 400 {
			t.Fatalf("form post with a NUL: %d", r.Status)
		}
		e.do("GET", "/v1/admin/leads?source=%00", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("GET", "/v1/metrics/summary?from=2026-11-01&to=2026-11-02&propertyId=%00", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("GET", "/v1/admin/leads/%00", "", "x-admin-key: "+adminKey).expect(t, 404, "not_found")
		e.do("GET", "/v1/admin/leads/not-a-lead", "", "x-admin-key: "+adminKey).expect(t, 404, "not_found")
		e.do("POST", "/v1/leads/unsubscribe", `{"email":"nul@example.com","reason":"a\u0000"}`, "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		// The store took every valid request of the run.
		e.do("POST", "/v1/events", `{"anonId":"visitor-nul-001","eventType":"page_view","path":"/ok"}`).expect(t, 202, "")
	})
}

// TestPathStoredWithoutQuery: a page's query string (tokens, addresses)
// is never stored; its UTM parameters are read from it first.
func TestPathStoredWithoutQuery(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		r := e.do("POST", "/v1/events", `{"anonId":"visitor-query-1","eventType":"page_view","path":"/reset?email=someone%40example.com&token=s3cret&utm_source=news#frag"}`).expect(t, 202, "")
		row := e.rows(`SELECT path, utm_source FROM events WHERE id = ?`, r.Body["eventId"])
		if len(row) != 1 || row[0][0] != "/reset" || row[0][1] != "news" {
			t.Fatalf("stored %v, want /reset and utm_source news", row)
		}
		e.do("POST", "/v1/leads/capture", `{"email":"q@example.com","anonId":"visitor-query-1","path":"/signup?token=s3cret"}`).expect(t, 200, "")
		e.sessionize()
		all := e.dump()
		for _, leak := range []string{"s3cret", "someone@example.com", "someone%40example.com", "frag"} {
			if strings.Contains(all, leak) {
				t.Errorf("the database holds %q", leak)
			}
		}
	})
}

// TestTwoCapturesTwoConversions: two different leads from one visitor,
// form and path within seconds are two conversions, as they are two leads.
func TestTwoCapturesTwoConversions(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		for _, email := range []string{"one@example.com", "two@example.com"} {
			e.do("POST", "/v1/leads/capture", `{"email":"`+email+`","anonId":"visitor-twice-01","formName":"signup","path":"/signup"}`).expect(t, 200, "")
		}
		today := time.Now().In(e.cfg.ReportTimezone).Format(time.DateOnly)
		rows, err := e.jobs.BuildDay(context.Background(), today)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.PropertyID == e.cfg.RollupDefaultPropertyID && (r.NewLeads != 2 || r.Conversions != 2) {
				t.Fatalf("newLeads %d, conversions %d; want 2 and 2", r.NewLeads, r.Conversions)
			}
		}
	})
}

// TestCountryFromTheDatabase: with an IP→country database the country is
// the database's for the caller's address (never the raw address, which
// is not kept); without one, only the client's hint, never a guess.
func TestCountryFromTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "countries.csv")
	if err := os.WriteFile(db, []byte("127.0.0.0,127.0.0.255,ZZ\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("GEOIP_COUNTRY_CSV=" + db)
		a := e.do("POST", "/v1/events", `{"anonId":"visitor-geo-001","eventType":"page_view","path":"/","traffic":{"countryCode":"ca"}}`).expect(t, 202, "")
		b := e.do("POST", "/v1/events", `{"anonId":"visitor-geo-001","eventType":"page_view","path":"/b"}`, "From-Peer: 127.0.1.5").expect(t, 202, "")
		for ev, want := range map[any]any{a.Body["eventId"]: "ZZ", b.Body["eventId"]: nil} {
			if got := e.rows(`SELECT country_code FROM events WHERE id = ?`, ev)[0][0]; got != want {
				t.Errorf("country %v, want %v", got, want)
			}
		}
		// The database's credit is under the dashboard's Countries.
		e.mustSite(`{"id": "default", "domains": ["default.example"]}`)
		e.mustUser("owner@example.com", "*=owner")
		tok, _ := e.login("owner@example.com")
		if page := e.dashGet("/sites/default", tok).expect(t, 200, ""); !strings.Contains(page.Raw, "Country data © Number Resource Organization (NRO), CC BY 4.0") {
			t.Error("the overview lacks the country database's attribution")
		}
		plain := open()
		c := plain.do("POST", "/v1/events", `{"anonId":"visitor-geo-002","eventType":"page_view","path":"/","traffic":{"countryCode":"ca"}}`).expect(t, 202, "")
		if got := plain.rows(`SELECT country_code FROM events WHERE id = ?`, c.Body["eventId"])[0][0]; got != "CA" {
			t.Errorf("without a database: %v, want the client's CA", got)
		}
	})
}
