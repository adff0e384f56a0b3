package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/stats"
)

// TestStatsRollups: every query the rollups can answer gives the raw
// answer, before and after the days are rolled up, and still after the raw
// rows are gone (so it is the rollups answering), on both stores. The
// fixture's sets are small, so the sketches are exact and the answers equal.
func TestStatsRollups(t *testing.T) {
	const rng = `"date_range": ["2026-03-01", "2026-03-10"]`
	visit := `["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit", "conversions", "conversion_rate"]`
	event := `["visitors", "pageviews", "events", "conversions", "conversion_rate"]`
	var bodies []string
	for _, d := range []string{"visit:entry_page", "visit:exit_page", "visit:source", "visit:channel", "visit:utm_source", "visit:utm_medium",
		"visit:utm_campaign", "visit:utm_term", "visit:utm_content", "visit:device", "visit:browser", "visit:os", "visit:country"} {
		bodies = append(bodies, `{"site_id": "site-1", "metrics": `+visit+`, "dimensions": ["`+d+`"], `+rng+`, "include": {"comparisons": {"mode": "previous_period"}}}`)
	}
	for _, d := range []string{"event:page", "event:name"} {
		bodies = append(bodies, `{"site_id": "site-1", "metrics": `+event+`, "dimensions": ["`+d+`"], `+rng+`}`)
	}
	for _, unit := range []string{"time:day", "time:week", "time:month"} {
		bodies = append(bodies,
			`{"site_id": "site-1", "metrics": `+visit+`, "dimensions": ["`+unit+`"], "date_range": ["2026-02-01", "2026-03-31"], "include": {"time_labels": true}}`,
			`{"site_id": "site-1", "metrics": ["visitors", "visits"], "dimensions": ["`+unit+`", "visit:device"], "date_range": ["2026-02-01", "2026-03-31"]}`,
			`{"site_id": "site-1", "metrics": `+event+`, "dimensions": ["`+unit+`", "event:page"], `+rng+`, "include": {"comparisons": {"mode": "year_over_year", "match_day_of_week": true}}}`)
	}
	bodies = append(bodies,
		`{"site_id": "site-1", "metrics": `+visit+`, `+rng+`, "include": {"comparisons": {"mode": "previous_period"}}}`,
		`{"site_id": "site-1", "metrics": `+visit+`, "date_range": ["2026-02-20", "2026-03-10"]}`)
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open("REPORT_TIMEZONE=America/Toronto")
		seedStats(t, e)
		answer := func() map[string][]string {
			out := map[string][]string{}
			for i, b := range bodies {
				out[b] = results(t, statsQuery(t, e, b, 200))
				if i == 0 && len(out[b]) == 0 {
					t.Fatalf("no rows for %s", b)
				}
			}
			return out
		}
		raw := answer()
		same := func(when string) {
			t.Helper()
			got, shared := answer(), sharedAnswers(t, e, bodies)
			for _, b := range bodies {
				if !reflect.DeepEqual(got[b], raw[b]) {
					t.Errorf("%s: %s\n got %q\nraw %q", when, b, got[b], raw[b])
				}
				if alone := withWarnings(t, statsQuery(t, e, b, 200)); !reflect.DeepEqual(shared[b], alone) {
					t.Errorf("%s, one page's queries at once sharing their reads: %s\n got %q\nalone %q", when, b, shared[b], alone)
				}
			}
		}
		// Days up to 03-05 rolled up, the later ones counted from raw rows.
		if _, err := e.jobs.Rollup(context.Background(), "2026-02-15", "2026-03-05"); err != nil {
			t.Fatal(err)
		}
		same("partly rolled up")
		if _, err := e.jobs.Rollup(context.Background(), "2026-03-06", "2026-03-12"); err != nil {
			t.Fatal(err)
		}
		// A day's totals row for each property with events: site-1 on
		// 02-20, 03-02, 03-05, 03-09; "other" on 03-05; and the default
		// property's (empty) row on each of the 26 days.
		if n := e.count(`SELECT count(*) FROM stats_rollups WHERE field = '' AND property_id <> 'default'`); n != 5 {
			t.Fatalf("%d days rolled up, want 5", n)
		}
		if n := e.count(`SELECT count(*) FROM stats_rollups WHERE property_id = 'default'`); n != 26 {
			t.Fatalf("%d default property rows, want 26", n)
		}
		same("rolled up")
		e.rows(`DELETE FROM events`)
		e.rows(`DELETE FROM sessions`)
		same("raw rows deleted")

		// Past the raw window the rollups lose their sketches (retention):
		// a day alone keeps its exact visitors; over several days, each
		// day's visitors add up, with a warning saying so.
		daily := `{"site_id": "site-1", "metrics": ["visitors"], "dimensions": ["time:day"], "date_range": ["2026-02-01", "2026-03-31"]}`
		total := `{"site_id": "site-1", "metrics": ["visitors"], "date_range": ["2026-02-01", "2026-03-31"]}`
		dailyBefore := results(t, statsQuery(t, e, daily, 200))
		distinct := results(t, statsQuery(t, e, total, 200))
		purged, err := e.store.Purge(context.Background(), marketing.Retention{Rollups: "0001-01-01", Sketches: "2026-04-01", BatchSize: 7}, false)
		if err != nil || purged["stats_rollups_sketches"] == 0 {
			t.Fatalf("purge %v %v", purged, err)
		}
		if n := e.count(`SELECT count(*) FROM stats_rollups WHERE length(visitor_sketch) > 0 OR length(converting_sketch) > 0`); n != 0 {
			t.Fatalf("%d rollup rows keep a sketch past the raw window", n)
		}
		if got := results(t, statsQuery(t, e, daily, 200)); !reflect.DeepEqual(got, dailyBefore) {
			t.Errorf("daily visitors after the sketches went: %q, before %q", got, dailyBefore)
		}
		sum := 0
		for _, line := range dailyBefore {
			var n int
			if _, err := fmt.Sscanf(line[strings.Index(line, "=> [")+4:], "%d", &n); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			sum += n
		}
		summed := statsQuery(t, e, total, 200)
		if got := results(t, summed); !reflect.DeepEqual(got, []string{fmt.Sprintf(" => [%d]", sum)}) || fmt.Sprint(distinct) == fmt.Sprint(got) {
			t.Errorf("visitors of 59 days without sketches: %q, want the days' sum %d (distinct before: %q)", got, sum, distinct)
		}
		if w := fmt.Sprint(summed["meta"]); !strings.Contains(w, "each day's visitors added up") {
			t.Errorf("no warning that the days are added up: %s", w)
		}
		// A filter needs raw rows: with them gone it finds nothing, which
		// shows the answers above came from the rollups.
		got := results(t, statsQuery(t, e, `{"site_id": "site-1", "metrics": ["visitors"], `+rng+`, "filters": [["is", "visit:device", ["desktop", "mobile"]]]}`, 200))
		if !reflect.DeepEqual(got, []string{` => [0]`}) {
			t.Fatalf("a filtered query after the raw rows were deleted: %q", got)
		}
		// The site moves to UTC: the Toronto days are past the raw window
		// and cannot be counted again, so they are left out with a warning.
		e.mustSite(`{"domains": ["site-1.example"], "id": "site-1", "timeZone": "UTC"}`)
		body := statsQuery(t, e, `{"site_id": "site-1", "metrics": ["visits"], `+rng+`}`, 200)
		warnings := fmt.Sprint(body["meta"].(map[string]any)["warnings"])
		if got := results(t, body); !reflect.DeepEqual(got, []string{` => [0]`}) || !strings.Contains(warnings, "3 days were rolled up in another time zone than UTC") ||
			body["query"].(map[string]any)["time_zone"] != "UTC" {
			t.Fatalf("after a zone change: %q, warnings %s, query %v", got, warnings, body["query"])
		}
	})
}

// TestStatsSharedReads: a page's filtered queries, two of them on the same
// plan with different metrics (a breakdown and its conversions tab), give
// the same answers run at once with one stats.Reads as one by one over
// HTTP, on both stores.
func TestStatsSharedReads(t *testing.T) {
	const rng = `"date_range": ["2026-03-01", "2026-03-10"]`
	var bodies []string
	for _, f := range []string{`[["is", "visit:device", ["desktop"]]]`, `[["contains", "event:page", ["/p"]]]`, `[["is_not", "visit:country", ["US"]]]`} {
		for _, d := range []string{"visit:channel", "visit:entry_page"} {
			bodies = append(bodies,
				`{"site_id": "site-1", "metrics": ["visitors", "visits"], "dimensions": ["`+d+`"], `+rng+`, "filters": `+f+`}`,
				`{"site_id": "site-1", "metrics": ["conversions", "conversion_rate", "visitors"], "dimensions": ["`+d+`"], `+rng+`, "filters": `+f+`}`)
		}
		bodies = append(bodies,
			`{"site_id": "site-1", "metrics": ["visitors", "pageviews"], "dimensions": ["event:page"], `+rng+`, "filters": `+f+`}`,
			`{"site_id": "site-1", "metrics": ["events", "visitors"], "dimensions": ["event:page"], `+rng+`, "filters": `+f+`}`)
		bodies = append(bodies, `{"site_id": "site-1", "metrics": ["visitors", "visits", "bounce_rate"], `+rng+`, "filters": `+f+`, "include": {"comparisons": {"mode": "previous_period"}}}`)
	}
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open("REPORT_TIMEZONE=America/Toronto")
		seedStats(t, e)
		shared := sharedAnswers(t, e, bodies)
		rows := 0
		for _, b := range bodies {
			want := withWarnings(t, statsQuery(t, e, b, 200))
			rows += len(want)
			if !reflect.DeepEqual(shared[b], want) {
				t.Errorf("%s\nshared %q\n  HTTP %q", b, shared[b], want)
			}
		}
		if rows < len(bodies) {
			t.Fatalf("%d rows for %d queries: the fixture does not exercise the filters", rows, len(bodies))
		}
	})
}

// sharedAnswers runs bodies at once through the engine with one
// stats.Reads, as the dashboard runs a page's queries, and renders each
// answer as results does.
func sharedAnswers(t *testing.T, e *env, bodies []string) map[string][]string {
	t.Helper()
	env := stats.Env{Now: time.Now(), Location: e.cfg.ReportTimezone, RawDays: e.cfg.RetentionEventDays, Reads: &stats.Reads{}}
	out := make([]map[string]any, len(bodies))
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() {
			q, err := stats.Parse([]byte(b), env)
			if err != nil {
				errs[i] = err
				return
			}
			res, err := stats.Run(context.Background(), e.store, q)
			if err != nil {
				errs[i] = err
				return
			}
			raw, _ := json.Marshal(res)
			errs[i] = json.Unmarshal(raw, &out[i])
		})
	}
	wg.Wait()
	m := map[string][]string{}
	for i, b := range bodies {
		if errs[i] != nil {
			t.Fatalf("%s: %v", b, errs[i])
		}
		m[b] = withWarnings(t, out[i])
	}
	return m
}

// withWarnings is results and then the answer's warnings, so shared reads
// are checked to warn as a query alone does.
func withWarnings(t *testing.T, body map[string]any) []string {
	t.Helper()
	out := results(t, body)
	if meta, ok := body["meta"].(map[string]any); ok && meta["warnings"] != nil {
		out = append(out, fmt.Sprint("warnings: ", meta["warnings"]))
	}
	return out
}

// TestStatsRollupsSavedTwiceAtOnce: two runs of one day at once (a manual
// run beside the hourly one) both succeed and leave one day's rows.
func TestStatsRollupsSavedTwiceAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open()
		rows := []marketing.StatsRollupRow{{Day: "2026-03-02", VisitorSketch: []byte{}, ConvertingSketch: []byte{}},
			{Day: "2026-03-02", Field: "path", Value: "/", VisitorSketch: []byte{}, ConvertingSketch: []byte{}}}
		errs := make(chan error, 20)
		for range 20 {
			go func() { errs <- e.store.SaveStatsRollups(context.Background(), "site-1", "UTC", "2026-03-02", rows) }()
		}
		for range 20 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := e.count(`SELECT count(*) FROM stats_rollups`); n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
	})
}

// TestStatsRollupsBackfill: a manual run of one recent day first does not
// stop the hourly catch-up from rolling up the older raw days, once; the
// next catch-up rolls up only the recent days again.
func TestStatsRollupsBackfill(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open("REPORT_TIMEZONE=America/Toronto")
		seedStats(t, e)
		ctx := context.Background()
		if _, err := e.jobs.Rollup(ctx, "2026-03-09", "2026-03-09"); err != nil {
			t.Fatal(err)
		}
		days, err := e.jobs.CatchUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if days[0] != "2026-02-20" { // the oldest event's day
			t.Fatalf("catch-up from %s", days[0])
		}
		got := e.rows(`SELECT CAST(day AS text) FROM stats_rollups WHERE property_id = 'site-1' AND field = '' ORDER BY day`)
		if fmt.Sprint(got) != "[[2026-02-20] [2026-03-02] [2026-03-05] [2026-03-09]]" {
			t.Fatalf("site-1 days rolled up: %v", got)
		}
		if days, err = e.jobs.CatchUp(ctx); err != nil || len(days) > 8 {
			t.Fatalf("a second catch-up rolled up %d days (%v)", len(days), err)
		}
	})
}
