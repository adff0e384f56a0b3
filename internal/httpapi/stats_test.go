package httpapi_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/stats"
)

// fixtureEvent is one stored event of the stats fixture.
type fixtureEvent struct {
	visitor, typ, path, at   string // at: local time in America/Toronto, "2006-01-02 15:04:05"
	referrer                 string
	utm                      marketing.UTM
	device, browser, country string
	conversion               bool
	lcp, inp                 int64
	cls                      float64
	props                    string
	property                 string
}

// statsFixture is the hand-computed fixture. The report zone is
// America/Toronto: EST (UTC-5) until 2026-03-08 02:00, EDT (UTC-4) after.
//
//	A0 visitor a, 2026-02-20 10:00        "/" direct desktop (the comparison period)
//	A1 visitor a, 2026-03-02 10:00-10:01  "/" google.com desktop Chrome CA, "/pricing", lead_captured (conversion)
//	B1 visitor b, 2026-03-02 23:30        "/blog" news.ycombinator.com mobile Safari US: a bounce (2026-03-03 in UTC)
//	C1 visitor c, 2026-03-05 12:00-12:00:20 "/pricing" direct desktop Firefox, cwv (lcp 5000, inp 600, cls 0.3), click {plan: pro}
//	E1 visitor e, 2026-03-09 00:30        "/" direct desktop: a bounce (2026-03-09 04:30 UTC; 03-08 with EST's offset)
//	B2 visitor b, 2026-03-09 09:00-09:02  "/" utm newsletter/email mobile Safari, cwv "/" (lcp 2000, inp 150, cls 0.05), "/pricing"
//	D1 visitor d on property "other", 2026-03-05: never counted
var statsFixture = []fixtureEvent{
	{visitor: "a", typ: "page_view", path: "/", at: "2026-02-20 10:00:00", device: "desktop", browser: "Chrome"},
	{visitor: "a", typ: "page_view", path: "/", at: "2026-03-02 10:00:00", referrer: "google.com", device: "desktop", browser: "Chrome", country: "CA"},
	{visitor: "a", typ: "page_view", path: "/pricing", at: "2026-03-02 10:00:30", referrer: "google.com", device: "desktop", browser: "Chrome", country: "CA"},
	{visitor: "a", typ: "lead_captured", path: "/pricing", at: "2026-03-02 10:01:00", device: "desktop", browser: "Chrome", country: "CA", conversion: true},
	{visitor: "b", typ: "page_view", path: "/blog", at: "2026-03-02 23:30:00", referrer: "news.ycombinator.com", device: "mobile", browser: "Safari", country: "US"},
	{visitor: "c", typ: "page_view", path: "/pricing", at: "2026-03-05 12:00:00", device: "desktop", browser: "Firefox"},
	{visitor: "c", typ: "cwv", path: "/pricing", at: "2026-03-05 12:00:05", device: "desktop", browser: "Firefox", lcp: 5000, inp: 600, cls: 0.3},
	{visitor: "c", typ: "click", path: "/pricing", at: "2026-03-05 12:00:20", device: "desktop", browser: "Firefox", props: `{"plan":"pro"}`},
	{visitor: "d", typ: "page_view", path: "/", at: "2026-03-05 12:00:00", device: "desktop", property: "other"},
	{visitor: "e", typ: "page_view", path: "/", at: "2026-03-09 00:30:00", device: "desktop", browser: "Chrome"},
	{visitor: "b", typ: "page_view", path: "/", at: "2026-03-09 09:00:00", utm: marketing.UTM{Source: "newsletter", Medium: "email"}, device: "mobile", browser: "Safari"},
	{visitor: "b", typ: "cwv", path: "/", at: "2026-03-09 09:00:10", utm: marketing.UTM{Source: "newsletter", Medium: "email"}, device: "mobile", browser: "Safari", lcp: 2000, inp: 150, cls: 0.05},
	{visitor: "b", typ: "page_view", path: "/pricing", at: "2026-03-09 09:02:00", device: "mobile", browser: "Safari"},
}

const statsSite = "site-1"

// seedStats appends the fixture through the store and derives sessions.
func seedStats(t *testing.T, e *env) {
	t.Helper()
	loc, err := time.LoadLocation("America/Toronto")
	if err != nil {
		t.Fatal(err)
	}
	var batch []marketing.PendingEvent
	for i, f := range statsFixture {
		at, err := time.ParseInLocation(time.DateTime, f.at, loc)
		if err != nil {
			t.Fatal(err)
		}
		property := statsSite
		if f.property != "" {
			property = f.property
		}
		source := "direct"
		switch {
		case f.utm.Medium == "email":
			source = "email"
		case f.referrer == "google.com":
			source = "organic_search"
		case f.referrer != "":
			source = "social"
		}
		ev := marketing.PendingEvent{
			ID: fmt.Sprintf("ev-%02d", i), AnonID: f.visitor, VisitorID: "visitor-" + f.visitor, DedupeKey: []byte(fmt.Sprintf("key-%02d", i)),
			EventType: f.typ, Path: f.path, OccurredAt: at.UTC(), ReceivedAt: at.UTC(), ReferrerHost: f.referrer, UTM: f.utm,
			PropertyID: property, TrafficSource: source, DeviceType: f.device, Browser: f.browser, CountryCode: f.country,
			IsConversion: f.conversion,
		}
		if f.lcp > 0 {
			ev.LCPMs, ev.INPMs, ev.CLS = &f.lcp, &f.inp, &f.cls
		}
		if f.props != "" {
			ev.Props = []byte(f.props)
		}
		batch = append(batch, ev)
	}
	if _, err := e.store.AppendEvents(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	e.sessionize()
}

// statsQuery posts a query and returns the decoded answer.
func statsQuery(t *testing.T, e *env, body string, status int) map[string]any {
	t.Helper()
	r := e.do("POST", "/v1/stats/query", body, "x-admin-key: "+adminKey)
	if r.Status != status {
		t.Fatalf("POST %s: status %d, want %d: %s", body, r.Status, status, r.Raw)
	}
	return r.Body
}

// results renders rows as "dim|dim => m, m" lines, for exact comparison.
func results(t *testing.T, body map[string]any) []string {
	t.Helper()
	var out []string
	rows, _ := body["results"].([]any)
	for _, r := range rows {
		row := r.(map[string]any)
		b, _ := json.Marshal(row["metrics"])
		dims := []string{}
		for _, d := range row["dimensions"].([]any) {
			dims = append(dims, d.(string))
		}
		line := strings.Join(dims, "|") + " => " + string(b)
		if c, ok := row["comparison"].(map[string]any); ok {
			cd := []string{}
			for _, d := range c["dimensions"].([]any) {
				cd = append(cd, d.(string))
			}
			m, _ := json.Marshal(c["metrics"])
			ch, _ := json.Marshal(c["change"])
			line += fmt.Sprintf(" vs %s %s change %s", strings.Join(cd, "|"), m, ch)
		}
		out = append(out, line)
	}
	return out
}

func TestStatsFixture(t *testing.T) {
	const rng = `"date_range": ["2026-03-01", "2026-03-10"]`
	cases := []struct {
		name, body string
		want       []string
	}{
		{
			// Sessions in range: A1, B1, C1, E1, B2 (A0 is before, D1 another property).
			// visitors a, b, c, e = 4; visits 5; pageviews 2+1+1+1+2 = 7;
			// events 3+1+3+1+3 = 11; bounces B1, E1: 2/5 = 40%; durations
			// 60+0+20+0+120 = 200 s / 5 = 40; views per visit 7/5 = 1.4;
			// conversions: A1 = 1; conversion rate 1 of 4 visitors = 25%.
			name: "totals",
			body: `{"site_id": "site-1", "metrics": ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit", "conversions", "conversion_rate"], ` + rng + `}`,
			want: []string{` => [4,5,7,11,40,40,1.4,1,25]`},
		},
		{
			// LCP values 5000 (C1) and 2000 (B2): p75 by nearest rank is the
			// 2nd of 2 = 5000; good (≤ 2500) 1 of 2 = 50%, poor (> 4000) 50%.
			// INP 600, 150: p75 600, needs improvement 0%. CLS 0.3, 0.05: p75 0.3.
			name: "web vitals",
			body: `{"site_id": "site-1", "metrics": ["lcp", "lcp_good", "lcp_needs_improvement", "lcp_poor", "inp", "inp_needs_improvement", "cls", "fcp"], ` + rng + `}`,
			want: []string{` => [5000,50,0,50,600,0,0.3,null]`},
		},
		{
			// Events by page: "/" a pv, e pv, b pv, b cwv: visitors a, b, e = 3, pageviews 3, events 4.
			// "/pricing": a pv, a lead, c pv, c cwv, c click, b pv: visitors 3, pageviews 3, events 6.
			// "/blog": b pv: 1, 1, 1. Ties on visitors order by page.
			name: "event:page",
			body: `{"site_id": "site-1", "metrics": ["visitors", "pageviews", "events", "conversions"], "dimensions": ["event:page"], ` + rng + `}`,
			want: []string{`/ => [3,3,4,0]`, `/pricing => [3,3,6,1]`, `/blog => [1,1,1,0]`},
		},
		{
			name: "event:name",
			body: `{"site_id": "site-1", "metrics": ["events"], "dimensions": ["event:name"], ` + rng + `, "order_by": [["events", "desc"], ["event:name", "asc"]]}`,
			want: []string{`page_view => [7]`, `cwv => [2]`, `click => [1]`, `lead_captured => [1]`},
		},
		{
			name: "event:props",
			body: `{"site_id": "site-1", "metrics": ["visitors", "events"], "dimensions": ["event:props:plan"], ` + rng + `, "filters": [["is_not", "event:props:plan", [""]]]}`,
			want: []string{`pro => [1,1]`},
		},
		{
			// Sources of visits: "" B2, C1, E1 (3 visitors b, c, e), google.com A1, news.ycombinator.com B1.
			name: "visit:source",
			body: `{"site_id": "site-1", "metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["visit:source"], ` + rng + `}`,
			want: []string{` => [3,3,33]`, `google.com => [1,1,0]`, `news.ycombinator.com => [1,1,100]`},
		},
		{
			// Channels: Direct C1, E1; Organic Search A1; Organic Social B1 (news.ycombinator.com); Email B2.
			name: "visit:channel",
			body: `{"site_id": "site-1", "metrics": ["visits"], "dimensions": ["visit:channel"], ` + rng + `}`,
			want: []string{`Direct => [2]`, `Email => [1]`, `Organic Search => [1]`, `Organic Social => [1]`},
		},
		{
			name: "entry and exit pages",
			body: `{"site_id": "site-1", "metrics": ["visits"], "dimensions": ["visit:entry_page", "visit:exit_page"], ` + rng + `}`,
			want: []string{`/|/pricing => [2]`, `/|/ => [1]`, `/blog|/blog => [1]`, `/pricing|/pricing => [1]`},
		},
		{
			name: "device, browser, country, utm",
			body: `{"site_id": "site-1", "metrics": ["visits"], "dimensions": ["visit:device", "visit:utm_medium"], ` + rng + `}`,
			want: []string{`desktop| => [3]`, `mobile| => [1]`, `mobile|email => [1]`},
		},
		{
			name: "visit:country",
			body: `{"site_id": "site-1", "metrics": ["visitors"], "dimensions": ["visit:country"], ` + rng + `, "order_by": [["visit:country", "asc"]]}`,
			want: []string{` => [3]`, `CA => [1]`, `US => [1]`},
		},
		// Filters (acceptance 2).
		{
			name: "is",
			body: `{"site_id": "site-1", "metrics": ["visitors", "visits", "bounce_rate"], ` + rng + `, "filters": [["is", "visit:device", ["mobile"]]]}`,
			want: []string{` => [1,2,50]`},
		},
		{
			name: "is_not",
			body: `{"site_id": "site-1", "metrics": ["visits"], ` + rng + `, "filters": [["is_not", "visit:device", ["mobile"]]]}`,
			want: []string{` => [3]`},
		},
		{
			// Visits containing a page with "pric": A1, C1, B2.
			name: "contains on an event dimension",
			body: `{"site_id": "site-1", "metrics": ["visitors", "visits"], ` + rng + `, "filters": [["contains", "event:page", ["pric"]]]}`,
			want: []string{` => [3,3]`},
		},
		{
			name: "contains_not",
			body: `{"site_id": "site-1", "metrics": ["pageviews"], "dimensions": ["event:page"], ` + rng + `, "filters": [["contains_not", "event:page", ["pric", "blog"]]]}`,
			want: []string{`/ => [3]`},
		},
		{
			name: "multiple values",
			body: `{"site_id": "site-1", "metrics": ["visits"], ` + rng + `, "filters": [["is", "visit:browser", ["Chrome", "Firefox"]]]}`,
			want: []string{` => [3]`},
		},
		{
			name: "matches",
			body: `{"site_id": "site-1", "metrics": ["visits"], ` + rng + `, "filters": [["matches", "visit:entry_page", ["^/(blog|pricing)$"]]]}`,
			want: []string{` => [2]`},
		},
		{
			// desktop (A1, C1, E1) or (mobile and not email: B1) = 4.
			name: "nested or, and, not",
			body: `{"site_id": "site-1", "metrics": ["visits"], ` + rng + `, "filters": [["or", [["is", "visit:device", ["desktop"]], ["and", [["is", "visit:device", ["mobile"]], ["not", ["is", "visit:utm_medium", ["email"]]]]]]]]}`,
			want: []string{` => [4]`},
		},
		{
			// Mobile visits with a /pricing page: B2 only (2 page views).
			name: "session and event filters together",
			body: `{"site_id": "site-1", "metrics": ["visits", "pageviews"], ` + rng + `, "filters": [["is", "visit:device", ["mobile"]], ["is", "event:page", ["/pricing"]]]}`,
			want: []string{` => [1,2]`},
		},
		{
			// Pages of desktop visits: "/" a, e; "/pricing" a pv + lead, c pv + cwv + click.
			name: "event breakdown under a visit filter",
			body: `{"site_id": "site-1", "metrics": ["visitors", "events"], "dimensions": ["event:page"], ` + rng + `, "filters": [["is", "visit:device", ["desktop"]]]}`,
			want: []string{`/ => [2,2]`, `/pricing => [2,5]`},
		},
		{
			// The same under an or (the visit filter inside): desktop
			// visits' events plus b's cwv on "/" (a mobile visit).
			name: "event breakdown under a nested visit filter",
			body: `{"site_id": "site-1", "metrics": ["visitors", "events"], "dimensions": ["event:page"], ` + rng + `, "filters": [["or", [["is", "visit:device", ["desktop"]], ["is", "event:name", ["cwv"]]]]]}`,
			want: []string{`/ => [3,3]`, `/pricing => [2,5]`},
		},
		{
			// Local days: A1 and B1 on 03-02 (B1 is 03-03 in UTC), C1 on
			// 03-05, E1 and B2 on 03-09 (E1 is 03-08 with EST's offset);
			// empty days answer zeros.
			name: "time:day",
			body: `{"site_id": "site-1", "metrics": ["visits", "visitors"], "dimensions": ["time:day"], ` + rng + `, "include": {"time_labels": true}}`,
			want: []string{`2026-03-01 => [0,0]`, `2026-03-02 => [2,2]`, `2026-03-03 => [0,0]`, `2026-03-04 => [0,0]`, `2026-03-05 => [1,1]`,
				`2026-03-06 => [0,0]`, `2026-03-07 => [0,0]`, `2026-03-08 => [0,0]`, `2026-03-09 => [2,2]`, `2026-03-10 => [0,0]`},
		},
		{
			name: "time:week",
			body: `{"site_id": "site-1", "metrics": ["visits"], "dimensions": ["time:week"], ` + rng + `}`,
			// Monday weeks: 03-01 is a Sunday, in the week of 02-23.
			want: []string{`2026-02-23 => [0]`, `2026-03-02 => [3]`, `2026-03-09 => [2]`},
		},
		{
			// Previous period: 2026-02-19..02-28, moved back 4 days to start
			// on a Sunday like 03-01: 02-15..02-24, holding A0 (a bounce).
			// visits 5 vs 1: +400%; bounce rate 40 vs 100: -60 points.
			name: "previous period, day of week matched",
			body: `{"site_id": "site-1", "metrics": ["visits", "bounce_rate"], ` + rng + `, "include": {"comparisons": {"mode": "previous_period", "match_day_of_week": true}}}`,
			want: []string{` => [5,40] vs  [1,100] change [400,-60]`},
		},
		{
			// 2025-03-01..03-10 is empty: +100% by convention, rates
			// compared with 0.
			name: "year over year",
			body: `{"site_id": "site-1", "metrics": ["visits", "bounce_rate"], ` + rng + `, "include": {"comparisons": {"mode": "year_over_year"}}}`,
			want: []string{` => [5,40] vs  [0,0] change [100,40]`},
		},
		{
			// Without day matching the previous period is 02-19..02-28:
			// A0 on 02-20 (its 2nd day) lines up with 03-02 (2 visits:
			// +100%). The first three days of ten.
			name: "time series with comparison",
			body: `{"site_id": "site-1", "metrics": ["visits"], "dimensions": ["time:day"], ` + rng + `, "include": {"comparisons": {"mode": "previous_period"}}, "pagination": {"limit": 3}}`,
			want: []string{`2026-03-01 => [0] vs 2026-02-19 [0] change [0]`, `2026-03-02 => [2] vs 2026-02-20 [1] change [100]`, `2026-03-03 => [0] vs 2026-02-21 [0] change [0]`},
		},
		{
			name: "custom comparison",
			body: `{"site_id": "site-1", "metrics": ["visits"], ` + rng + `, "include": {"comparisons": {"mode": "custom", "date_range": ["2026-02-20", "2026-02-20"]}}}`,
			want: []string{` => [5] vs  [1] change [400]`},
		},
		{
			name: "pagination and total rows",
			body: `{"site_id": "site-1", "metrics": ["visitors"], "dimensions": ["event:page"], ` + rng + `, "pagination": {"limit": 1, "offset": 1}, "include": {"total_rows": true}}`,
			want: []string{`/pricing => [3]`},
		},
	}
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open("REPORT_TIMEZONE=America/Toronto")
		seedStats(t, e)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				body := statsQuery(t, e, c.body, 200)
				if got := results(t, body); !reflect.DeepEqual(got, c.want) {
					t.Fatalf("results\n got %q\nwant %q", got, c.want)
				}
			})
		}
		t.Run("meta", func(t *testing.T) {
			body := statsQuery(t, e, `{"site_id": "site-1", "metrics": ["visitors"], "dimensions": ["time:day"], `+rng+`, "include": {"time_labels": true, "total_rows": true}}`, 200)
			meta := body["meta"].(map[string]any)
			labels := meta["time_labels"].([]any)
			if len(labels) != 10 || labels[0] != "2026-03-01" || labels[9] != "2026-03-10" || meta["total_rows"] != 10.0 {
				t.Fatalf("meta %v", meta)
			}
			q := body["query"].(map[string]any)
			dr := q["date_range"].([]any)
			if dr[0] != "2026-03-01T00:00:00-05:00" || dr[1] != "2026-03-10T23:59:59-04:00" {
				t.Fatalf("normalised range %v", dr)
			}
			// Year over year with the day of the week matched: 2025-03-01 was
			// a Saturday, 2026-03-01 a Sunday: six days back, 02-23..03-04.
			body = statsQuery(t, e, `{"site_id": "site-1", "metrics": ["visits"], `+rng+`, "include": {"comparisons": {"mode": "year_over_year", "match_day_of_week": true}}}`, 200)
			cr := body["query"].(map[string]any)["comparison_date_range"].([]any)
			if cr[0] != "2025-02-23T00:00:00-05:00" || cr[1] != "2025-03-04T23:59:59-05:00" {
				t.Fatalf("comparison range %v", cr)
			}
		})
	})
}

// TestStatsPlausibleExample sends the request body of Plausible's Stats API
// v2 documentation (its curl example, site_id mapped to a property id) and
// gets Plausible's result shape back.
func TestStatsPlausibleExample(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open()
		seedStats(t, e)
		body := statsQuery(t, e, `{ "site_id": "site-1", "metrics": ["visitors"], "date_range": "7d" }`, 200)
		rows := body["results"].([]any)
		row := rows[0].(map[string]any)
		if len(rows) != 1 || len(row["dimensions"].([]any)) != 0 || len(row["metrics"].([]any)) != 1 {
			t.Fatalf("results %v", body["results"])
		}
		q := body["query"].(map[string]any)
		if q["site_id"] != "site-1" || len(q["date_range"].([]any)) != 2 || body["meta"] == nil {
			t.Fatalf("body %v", body)
		}
		// Its second example: a breakdown with a filter (Plausible's
		// visit:country_name is visit:country here; cities are not kept).
		statsQuery(t, e, `{"site_id": "site-1", "metrics": ["visitors", "pageviews", "bounce_rate"], "date_range": "7d",
			"filters": [["is_not", "visit:country", [""]]], "dimensions": ["visit:country"]}`, 200)
	})
}

// TestStatsRefusals: bad queries are 400s in the envelope naming the
// problem, never 5xx; the routes need the admin key.
func TestStatsRefusals(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open()
		for _, c := range []struct{ body, path, says string }{
			{`{"site_id": "s", "metrics": ["nope"], "date_range": "7d"}`, "metrics.0", `unknown metric "nope"`},
			{`{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["event:goal"]}`, "dimensions.0", "unknown dimension"},
			{`{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "filters": [["has_done", "event:page", ["/"]]]}`, "filters.0.0", "unknown operator"},
			{`{"site_id": "s", "metrics": ["visit_duration"], "date_range": "7d", "dimensions": ["event:name"]}`, "metrics.0", "visit metric"},
			{`{"site_id": "s", "metrics": ["visitors"], "date_range": ["2015-01-01", "2025-01-01"]}`, "date_range", "at most 731"},
			{`{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "pagination": {"limit": 10001}}`, "pagination.limit", "10000"},
			{`{"site_id": "s", "metrics": ["visitors"], "date_range": "7d"`, "", "JSON object"},
			{`{"site_id": ["s"], "metrics": {"a": 1}, "date_range": 7}`, "site_id", "string"},
		} {
			r := e.do("POST", "/v1/stats/query", c.body, "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
			found := false
			for _, is := range r.Body["issues"].([]any) {
				m := is.(map[string]any)
				found = found || (m["path"] == c.path && strings.Contains(m["message"].(string), c.says))
			}
			if !found {
				t.Errorf("%s: issues %s, want %q at %q", c.body, r.Raw, c.says, c.path)
			}
		}
		e.do("POST", "/v1/stats/query", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d"}`).expect(t, 401, "")
		e.do("GET", "/v1/stats/realtime?site_id=s", "").expect(t, 401, "")
		e.do("GET", "/v1/stats/realtime", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
	})
}

// TestStatsCSV: Accept: text/csv answers the same rows as CSV that
// encoding/csv reads back, with formula cells neutralised.
func TestStatsCSV(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open()
		ctx := context.Background()
		now := time.Now().UTC()
		var batch []marketing.PendingEvent
		for i, path := range []string{"=HYPERLINK(\"x\")", "+1", "-2", "@sum", "/plain, \"quoted\"", "/plain, \"quoted\""} {
			batch = append(batch, marketing.PendingEvent{ID: fmt.Sprintf("csv-%d", i), VisitorID: fmt.Sprintf("v%d", i), DedupeKey: []byte(fmt.Sprintf("csv-%d", i)),
				EventType: "page_view", Path: path, OccurredAt: now, ReceivedAt: now, PropertyID: statsSite, TrafficSource: "direct", DeviceType: "desktop"})
		}
		if _, err := e.store.AppendEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
		q := `{"site_id": "site-1", "metrics": ["visitors", "pageviews"], "dimensions": ["event:page"], "date_range": "day"}`
		r := e.do("POST", "/v1/stats/query", q, "x-admin-key: "+adminKey, "Accept: text/csv")
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("status %d %s: %s", r.Status, r.Header.Get("Content-Type"), r.Raw)
		}
		recs, err := csv.NewReader(strings.NewReader(r.Raw)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"event:page", "visitors", "pageviews"}, {"/plain, \"quoted\"", "2", "2"},
			{"'+1", "1", "1"}, {"'-2", "1", "1"}, {"'=HYPERLINK(\"x\")", "1", "1"}, {"'@sum", "1", "1"}}
		if !reflect.DeepEqual(recs, want) {
			t.Fatalf("csv %q, want %q", recs, want)
		}
		// The JSON answer holds the same rows.
		got := results(t, statsQuery(t, e, q, 200))
		if len(got) != 5 || got[0] != `/plain, "quoted" => [2,2]` || got[1] != `+1 => [1,1]` {
			t.Fatalf("json %q", got)
		}
	})
}

// TestStatsRealtimeAndLeads: a capture just now is a current visitor, in
// its minute, and a new lead of today.
func TestStatsRealtimeAndLeads(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open()
		e.do("POST", "/v1/leads/capture", capture("person@example.com", ""), "Origin: "+site).expect(t, 200, "")
		r := e.do("GET", "/v1/stats/realtime?site_id=example.com", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		minutes := r.Body["minutes"].([]any)
		last := minutes[len(minutes)-1].(map[string]any)
		prev := minutes[len(minutes)-2].(map[string]any)
		if r.Body["current_visitors"] != 1.0 || len(minutes) != 30 || last["visitors"].(float64)+prev["visitors"].(float64) != 1 {
			t.Fatalf("realtime %s", r.Raw)
		}
		e.sessionize()
		got := results(t, statsQuery(t, e, `{"site_id": "example.com", "metrics": ["leads", "visitors", "conversions", "conversion_rate"], "date_range": "day"}`, 200))
		if !reflect.DeepEqual(got, []string{` => [1,1,1,100]`}) {
			t.Fatalf("results %q", got)
		}
		got = results(t, statsQuery(t, e, `{"site_id": "other", "metrics": ["leads"], "date_range": "day"}`, 200))
		if !reflect.DeepEqual(got, []string{` => [0]`}) {
			t.Fatalf("another property's leads %q", got)
		}
	})
}

// TestStatsEveryCombination: every metric under every dimension, filtered
// by a visit and an event dimension, answers 200 or a 400 naming what is
// refused — never a 5xx (the store side of "no query is a 500").
func TestStatsEveryCombination(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open("REPORT_TIMEZONE=America/Toronto")
		seedStats(t, e)
		n := 0
		for _, d := range stats.DimensionNames() {
			d = strings.ReplaceAll(d, "<key>", "plan")
			for _, m := range stats.MetricNames() {
				n++ // from its own address: 600 queries a minute per client
				body := fmt.Sprintf(`{"site_id": "site-1", "metrics": [%q], "dimensions": [%q], "date_range": ["2026-03-01", "2026-03-10"],
					"filters": [["or", [["contains", "visit:channel", ["Di"]], ["matches", "event:page", ["^/p"]]]]],
					"include": {"comparisons": {"mode": "previous_period"}}}`, m, d)
				r := e.do("POST", "/v1/stats/query", body, "x-admin-key: "+adminKey, fmt.Sprintf("From-Peer: 127.0.%d.%d", n/250+1, n%250+1))
				switch {
				case r.Status == 200:
				case r.Status == 400 && (strings.Contains(r.Raw, m) || strings.Contains(r.Raw, d)):
				default:
					t.Fatalf("%s by %s: %d %s", m, d, r.Status, r.Raw)
				}
			}
		}
	})
}

// TestStatsEventFilterWarning: visit metrics filtered by an event
// dimension carry the warning that says how they are counted; filtered by
// a visit dimension only, they do not.
func TestStatsEventFilterWarning(t *testing.T) {
	e := newEnv(t, "sqlite")
	seedStats(t, e)
	const warning = "visit metrics under event filters count the visits that contain a matching event"
	for _, c := range []struct {
		filters string
		warns   bool
	}{
		{`[["is", "visit:device", ["desktop"]]]`, false},
		{`[["is", "event:page", ["/"]]]`, true},
		{`[["not", ["contains", "event:page", ["/p"]]], ["is", "visit:device", ["desktop"]]]`, true},
	} {
		body := statsQuery(t, e, `{"site_id": "site-1", "metrics": ["visits"], "date_range": ["2026-03-01", "2026-03-10"], "filters": `+c.filters+`}`, 200)
		warns := strings.Contains(fmt.Sprint(body["meta"]), warning)
		if warns != c.warns {
			t.Errorf("%s: warning %v, want %v (meta %v)", c.filters, warns, c.warns, body["meta"])
		}
	}
}
