package stats

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing"
)

func testEnv(t testing.TB) Env {
	loc, err := time.LoadLocation("America/Toronto")
	if err != nil {
		t.Fatal(err)
	}
	return Env{Now: time.Date(2026, 3, 10, 12, 0, 0, 0, loc), Location: loc, RawDays: 90}
}

// TestParseRejects: every bad query is refused with an issue whose path
// names the field and whose message says what is wrong or allowed.
func TestParseRejects(t *testing.T) {
	cases := []struct{ name, body, path, says string }{
		{"malformed JSON", `{"site_id": `, "", "JSON object"},
		{"not an object", `[1, 2]`, "", "JSON object"},
		{"two objects", `{} {}`, "", "one JSON object"},
		{"unknown field", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "period": "7d"}`, "period", "unknown field"},
		{"missing site", `{"metrics": ["visitors"], "date_range": "7d"}`, "site_id", "required"},
		{"site wrong type", `{"site_id": 5, "metrics": ["visitors"], "date_range": "7d"}`, "site_id", "string"},
		{"missing metrics", `{"site_id": "s", "date_range": "7d"}`, "metrics", "required"},
		{"metrics wrong type", `{"site_id": "s", "metrics": "visitors", "date_range": "7d"}`, "metrics", "list"},
		{"unknown metric", `{"site_id": "s", "metrics": ["visitors", "revenue"], "date_range": "7d"}`, "metrics.1", `unknown metric "revenue"; allowed: `},
		{"unknown dimension", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:city"]}`, "dimensions.0", `unknown dimension "visit:city"`},
		{"bad props key", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["event:props:a\"b"]}`, "dimensions.0", "props key"},
		{"two time dimensions", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["time:day", "time:week"]}`, "dimensions.1", "one time dimension"},
		{"three dimensions", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:os", "visit:browser", "visit:device"]}`, "dimensions", "at most two"},
		{"unknown operator", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "filters": [["starts_with", "event:page", ["/"]]]}`, "filters.0.0", `unknown operator "starts_with"`},
		{"filter on time", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "filters": [["is", "time:day", ["x"]]]}`, "filters.0.1", "date_range"},
		{"filter values not a list", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "filters": [["is", "event:page", "/"]]}`, "filters.0.2", "list of 1 to"},
		{"empty or", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "filters": [["or", []]]}`, "filters.0", "non-empty list"},
		{"bad regexp", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "filters": [["matches", "event:page", ["(("]]]}`, "filters.0.2.0", "regular expression"},
		{"case insensitive", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "filters": [["contains", "event:page", ["a"], {"case_sensitive": false}]]}`, "filters.0.3.case_sensitive", "case_sensitive"},
		{"visit metric by event dimension", `{"site_id": "s", "metrics": ["bounce_rate"], "date_range": "7d", "dimensions": ["event:page"]}`, "metrics.0", "visit metric"},
		{"vital by visit dimension", `{"site_id": "s", "metrics": ["lcp"], "date_range": "7d", "dimensions": ["visit:source"]}`, "metrics.0", "per event"},
		{"event and visit dimensions", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["event:page", "visit:source"]}`, "dimensions", "cannot be combined"},
		{"leads by a dimension", `{"site_id": "s", "metrics": ["leads"], "date_range": "7d", "dimensions": ["visit:source"]}`, "metrics.0", "leads"},
		{"ten-year range", `{"site_id": "s", "metrics": ["visitors"], "date_range": ["2016-01-01", "2025-12-31"]}`, "date_range", "at most 731"},
		{"reversed range", `{"site_id": "s", "metrics": ["visitors"], "date_range": ["2026-02-01", "2026-01-01"]}`, "date_range", "not be after"},
		{"unknown range", `{"site_id": "s", "metrics": ["visitors"], "date_range": "5d"}`, "date_range", `unknown range "5d"`},
		{"bad date", `{"site_id": "s", "metrics": ["visitors"], "date_range": ["2026-13-01", "2026-12-01"]}`, "date_range.0", "YYYY-MM-DD"},
		{"limit too large", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "pagination": {"limit": 10001}}`, "pagination.limit", "1 to 10000"},
		{"limit not integer", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "pagination": {"limit": 1.5}}`, "pagination.limit", "integer"},
		{"negative offset", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "pagination": {"offset": -1}}`, "pagination.offset", "non-negative"},
		{"order by unknown", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "order_by": [["visits", "desc"]]}`, "order_by.0", "neither"},
		{"order by direction", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "order_by": [["visitors", "down"]]}`, "order_by.0", `"asc" | "desc"`},
		{"time labels without time", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "include": {"time_labels": true}}`, "include.time_labels", "time dimension"},
		{"comparison mode", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "include": {"comparisons": {"mode": "last_week"}}}`, "include.comparisons.mode", "previous_period"},
		{"custom without range", `{"site_id": "s", "metrics": ["visitors"], "date_range": "7d", "include": {"comparisons": {"mode": "custom"}}}`, "include.comparisons.date_range", "required"},
		{"too many buckets", `{"site_id": "s", "metrics": ["visitors"], "date_range": "12mo", "dimensions": ["time:minute"]}`, "dimensions.0", "buckets"},
		{"duplicate metric", `{"site_id": "s", "metrics": ["visitors", "visitors"], "date_range": "7d"}`, "metrics.1", "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body), testEnv(t))
			var v *marketing.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("err %v, want a validation error", err)
			}
			for _, is := range v.Issues {
				if is.Path == c.path && strings.Contains(is.Message, c.says) {
					return
				}
			}
			t.Fatalf("issues %+v, want one at %q saying %q", v.Issues, c.path, c.says)
		})
	}
}

func TestDateRanges(t *testing.T) {
	env := testEnv(t) // 2026-03-10 12:00 in Toronto (EDT since 03-08)
	cases := map[string][2]string{
		`"day"`:   {"2026-03-10T00:00:00-04:00", "2026-03-10T23:59:59-04:00"},
		`"7d"`:    {"2026-03-04T00:00:00-05:00", "2026-03-10T23:59:59-04:00"},
		`"month"`: {"2026-03-01T00:00:00-05:00", "2026-03-10T23:59:59-04:00"},
		`"6mo"`:   {"2025-10-01T00:00:00-04:00", "2026-03-10T23:59:59-04:00"},
		`"12mo"`:  {"2025-04-01T00:00:00-04:00", "2026-03-10T23:59:59-04:00"},
		`"year"`:  {"2026-01-01T00:00:00-05:00", "2026-03-10T23:59:59-04:00"},
		`"all"`:   {"2025-12-11T00:00:00-05:00", "2026-03-10T23:59:59-04:00"},
		`["2026-01-01T12:00:00+02:00", "2026-01-01T15:59:59+02:00"]`: {"2026-01-01T05:00:00-05:00", "2026-01-01T08:59:59-05:00"},
	}
	for rng, want := range cases {
		q, err := Parse([]byte(`{"site_id": "s", "metrics": ["visitors"], "date_range": `+rng+`}`), env)
		if err != nil {
			t.Fatalf("%s: %v", rng, err)
		}
		if q.DateRange != want {
			t.Errorf("%s: %v, want %v", rng, q.DateRange, want)
		}
	}
}

// TestDayBucketsAcrossDST: the 23-hour day of the spring change is one
// bucket, and the offsets handed to stores change at 02:00 local.
func TestDayBucketsAcrossDST(t *testing.T) {
	env := testEnv(t)
	from := time.Date(2026, 3, 7, 0, 0, 0, 0, env.Location)
	to := time.Date(2026, 3, 10, 0, 0, 0, 0, env.Location)
	keys := bucketKeys("day", from, to, env.Location)
	var labels []string
	for _, k := range keys {
		labels = append(labels, label("day", k))
	}
	if strings.Join(labels, ",") != "2026-03-07,2026-03-08,2026-03-09" {
		t.Fatalf("labels %v", labels)
	}
	b := bucket("day", from, to, env.Location)
	if len(b.Offsets) != 2 || b.Offsets[0].Seconds != -5*3600 || b.Offsets[1].Seconds != -4*3600 ||
		!b.Offsets[1].At.Equal(time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("offsets %+v", b.Offsets)
	}
}

func TestP75(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{1}, 1}, {[]float64{2, 1}, 2}, {[]float64{4, 3, 2, 1}, 3}, {[]float64{5, 1, 4, 2, 3}, 4}} {
		if got := P75(c.in); got != c.want {
			t.Errorf("P75(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// FuzzParse: no input panics; anything refused is a validation error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"site_id": "s", "metrics": ["visitors"], "date_range": "7d"}`,
		`{"site_id": "s", "metrics": ["visits", "bounce_rate"], "date_range": ["2026-01-01", "2026-02-01"], "dimensions": ["visit:source", "time:day"],
			"filters": [["or", [["is", "event:page", ["/"]], ["not", ["contains", "visit:utm_source", ["x"]]]]]], "order_by": [["visits", "asc"]],
			"include": {"time_labels": true, "total_rows": true, "comparisons": {"mode": "custom", "date_range": ["2025-01-01", "2025-02-01"], "match_day_of_week": true}},
			"pagination": {"limit": 10, "offset": 5}}`,
		`{"site_id": "s", "metrics": ["lcp", "leads"], "date_range": "all", "dimensions": ["time"]}`,
		`[]`, `null`, `{"filters": [[[[[]]]]]}`,
	} {
		f.Add(s)
	}
	env := testEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		q, err := Parse([]byte(body), env)
		if err != nil {
			var v *marketing.ValidationError
			if !errors.As(err, &v) || len(v.Issues) == 0 {
				t.Fatalf("%q: %v is not a validation error with issues", body, err)
			}
			return
		}
		if q.from.IsZero() || !q.from.Before(q.to) || q.Pagination.Limit < 1 || q.Pagination.Limit > MaxLimit {
			t.Fatalf("%q: accepted an invalid query %+v", body, q)
		}
	})
}
