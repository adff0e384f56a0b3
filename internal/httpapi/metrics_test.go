package httpapi_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/metrics"
	"github.com/altcontext/marketing/internal/storetest"
)

func (e *env) write(evs ...marketing.PendingEvent) {
	e.t.Helper()
	if _, err := e.store.AppendEvents(context.Background(), evs); err != nil {
		e.t.Fatal(err)
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func rollupOf(t *testing.T, e *env, property, day string) marketing.DayRollup {
	t.Helper()
	rows, err := e.store.Rollups(context.Background(), property, day, day, "")
	if err != nil || len(rows) != 1 {
		t.Fatalf("rollup of %s %s: %d rows, %v", property, day, len(rows), err)
	}
	return rows[0]
}

func TestRollupsReferenceFixture(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		ctx := context.Background()
		e.write(storetest.Event("visitor-a", "page_view", "/", at("2026-01-20T10:00:00Z"))) // a returns on the 22nd
		e.write(
			storetest.Event("visitor-a", "page_view", "/", at("2026-01-22T10:00:00Z")),
			storetest.Event("visitor-b", "page_view", "/pricing", at("2026-01-22T11:00:00Z")),
			storetest.Event("visitor-b", "form_start", "/pricing", at("2026-01-22T11:01:00Z")),
			storetest.Event("visitor-b", "form_submit", "/pricing", at("2026-01-22T11:02:00Z")),
		)
		if _, err := e.store.CaptureLead(ctx, storetest.Lead("b@example.com", "visitor-b", "", "", at("2026-01-22T11:02:01Z"))); err != nil {
			t.Fatal(err)
		}
		if _, err := e.jobs.Rollup(ctx, "2026-01-22", "2026-01-22"); err != nil {
			t.Fatal(err)
		}
		r := rollupOf(t, e, "default", "2026-01-22")
		got := []int64{r.UniqueVisitors, r.ReturningVisitors, r.PageViews, r.FormStarts, r.FormSubmits, r.NewLeads, r.Conversions, r.Entrances}
		want := []int64{2, 1, 2, 1, 1, 1, 1, 2}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("uniques, returning, page views, form starts, submits, new leads, conversions, entrances = %v, want %v", got, want)
		}
		if p := rollupOf(t, e, "example.com", "2026-01-22"); p.PageViews != 2 {
			t.Fatalf("per-property rollup %+v", p)
		}
		// Re-running gives identical rows.
		if _, err := e.jobs.Rollup(ctx, "2026-01-22", "2026-01-22"); err != nil {
			t.Fatal(err)
		}
		again := rollupOf(t, e, "default", "2026-01-22")
		again.GeneratedAt, r.GeneratedAt = time.Time{}, time.Time{}
		if fmt.Sprint(again) != fmt.Sprint(r) {
			t.Fatalf("re-run changed the row:\n%+v\n%+v", r, again)
		}
		if n := e.count(`SELECT count(*) FROM daily_metric_rollups WHERE day = '2026-01-22'`); n != 2 {
			t.Fatalf("%d rows for the day, want default + example.com", n)
		}
		// Two days; and the UTC day boundary.
		e.write(storetest.Event("visitor-c", "page_view", "/", at("2026-01-23T23:59:59.999Z")), storetest.Event("visitor-c", "page_view", "/x", at("2026-01-24T00:00:00Z")))
		days, err := e.jobs.Rollup(ctx, "2026-01-22", "2026-01-24")
		if err != nil || len(days) != 3 {
			t.Fatalf("days %v %v", days, err)
		}
		if a, b := rollupOf(t, e, "default", "2026-01-23").PageViews, rollupOf(t, e, "default", "2026-01-24").PageViews; a != 1 || b != 1 {
			t.Fatalf("boundary: %d and %d page views, want 1 and 1", a, b)
		}
	})
}

func TestRollupsTimeZoneAndDST(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("REPORT_TIMEZONE=America/Toronto")
		ctx := context.Background()
		e.write(storetest.Event("visitor-tz", "page_view", "/", at("2026-03-08T03:30:00Z")))
		if _, err := e.jobs.Rollup(ctx, "2026-03-07", "2026-03-08"); err != nil {
			t.Fatal(err)
		}
		if n := rollupOf(t, e, "default", "2026-03-07").PageViews; n != 1 {
			t.Fatalf("03:30 UTC on 2026-03-08 counted %d times on March 7 (Toronto)", n)
		}
		for _, c := range []struct {
			from, day, to string
			hours         int64
		}{{"2026-03-07", "2026-03-08", "2026-03-09", 23}, {"2026-10-31", "2026-11-01", "2026-11-02", 25}} {
			loc, _ := time.LoadLocation("America/Toronto")
			start, _, _ := metrics.DayBounds(c.from, loc)
			_, end, _ := metrics.DayBounds(c.to, loc)
			var evs []marketing.PendingEvent
			for t0 := start; t0.Before(end); t0 = t0.Add(time.Hour) {
				ev := storetest.Event("visitor-dst-"+c.day, "page_view", "/h", t0)
				evs = append(evs, ev)
			}
			e.write(evs...)
			if _, err := e.jobs.Rollup(ctx, c.from, c.to); err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, d := range []string{c.from, c.day, c.to} {
				sum += rollupOf(t, e, "default", d).PageViews
			}
			mid := rollupOf(t, e, "default", c.day).PageViews
			extra := int64(0)
			if c.from == "2026-03-07" {
				extra = 1 // the 03:30 UTC event above
			}
			if mid != c.hours || sum != int64(len(evs))+extra {
				t.Fatalf("%s: %d hourly events on the day (want %d), %d over three days (want %d)", c.day, mid, c.hours, sum, int64(len(evs))+extra)
			}
		}
	})
}

func summary(t *testing.T, e *env, q string) map[string]any {
	t.Helper()
	return e.do("GET", "/v1/metrics/summary?"+q, "", "x-admin-key: "+adminKey).expect(t, 200, "").Body
}

func metric(s map[string]any, name string) (float64, any) {
	m := s["metrics"].(map[string]any)[name].(map[string]any)
	return m["value"].(float64), m["delta"]
}

func TestSummaryWindowsAndDeltas(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		ctx := context.Background()
		// Compare window 2026-02-01..03: two visitors, 4 page views.
		e.write(
			storetest.Event("visitor-p1", "page_view", "/", at("2026-02-01T10:00:00Z")),
			storetest.Event("visitor-p1", "page_view", "/", at("2026-02-02T10:00:00Z")),
			storetest.Event("visitor-p2", "page_view", "/", at("2026-02-03T10:00:00Z")),
			storetest.Event("visitor-p2", "page_view", "/b", at("2026-02-03T10:01:00Z")),
		)
		// Window 2026-02-04..06: "loyal" every day, two others once: 3 distinct (a sum of daily uniques would say 5); 6 page views.
		var evs []marketing.PendingEvent
		for i, d := range []string{"04", "05", "06"} {
			evs = append(evs, storetest.Event("visitor-loyal", "page_view", "/", at("2026-02-"+d+"T09:00:00Z")))
			if i < 2 {
				evs = append(evs, storetest.Event(fmt.Sprintf("visitor-once-%d", i), "page_view", "/", at("2026-02-"+d+"T12:00:00Z")))
			}
		}
		evs = append(evs, storetest.Event("visitor-loyal", "page_view", "/x", at("2026-02-06T09:05:00Z")))
		e.write(evs...)
		tt := storetest.Event("visitor-loyal", "cwv", "/", at("2026-02-06T09:06:00Z"))
		ttfb := int64(120)
		tt.TTFBMs, tt.Props = &ttfb, []byte(`{"ttfbMs":"abc"}`) // a poison string in props breaks nothing
		e.write(tt)
		if _, err := e.jobs.Rollup(ctx, "2026-02-01", "2026-02-06"); err != nil {
			t.Fatal(err)
		}
		s := summary(t, e, "from=2026-02-04&to=2026-02-06&compareTo=true")
		u, ud := metric(s, "uniqueVisitors")
		pv, pvd := metric(s, "totalPageViews")
		if u != 3 || pv != 6 {
			t.Fatalf("window uniques %v (want 3, distinct), page views %v (want 6)", u, pv)
		}
		// By hand: uniques 3 vs 2 → +0.5; page views 6 vs 4 → +0.5.
		if ud.(float64) != 0.5 || pvd.(float64) != 0.5 {
			t.Fatalf("deltas %v %v, want 0.5 and 0.5", ud, pvd)
		}
		if w := s["compareTo"].(map[string]any); w["from"] != "2026-02-01" || w["to"] != "2026-02-03" {
			t.Fatalf("compare window %v", w)
		}
		in := s["ingest"].(map[string]any)
		if in["p95TtfbMs"] != float64(130) || in["totalEventsAccepted"] != float64(7) {
			t.Fatalf("ingest %v", in)
		}
		if tr := s["trend"].([]any); len(tr) != 3 || tr[2].(map[string]any)["pageViews"] != float64(2) {
			t.Fatalf("trend %v", tr)
		}
		// Empty window: zeros, null deltas, zero-filled trend.
		empty := summary(t, e, "from=2026-04-01&to=2026-04-03")
		if v, d := metric(empty, "uniqueVisitors"); v != 0 || d != nil || empty["compareTo"] != nil || len(empty["trend"].([]any)) != 3 {
			t.Fatalf("empty window %v", empty)
		}
		// Validation.
		e.do("GET", "/v1/metrics/summary?from=2026-02-30&to=2026-03-01", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("GET", "/v1/metrics/summary?from=2026-03-02&to=2026-03-01", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("GET", "/v1/metrics/summary?from=2025-01-01&to=2026-03-01", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("GET", "/v1/metrics/summary?from=2026-01-01&to=2026-01-02&compareTo=maybe", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("GET", "/v1/metrics/summary?from=2026-01-01&to=2026-01-02", "").expect(t, 401, "unauthorized")
	})
}

func TestSummaryCacheAndToday(t *testing.T) {
	e := newEnv(t, "sqlite", "METRICS_SUMMARY_CACHE_TTL_MS=60000")
	today := time.Now().UTC().Format(time.DateOnly)
	q := "from=" + today + "&to=" + today
	e.do("POST", "/v1/events", `{"anonId":"visitor-today-1","eventType":"page_view","path":"/"}`).expect(t, 202, "")
	if v, _ := metric(summary(t, e, q), "totalPageViews"); v != 1 {
		t.Fatalf("today (live, not rolled up) shows %v page views", v)
	}
	e.do("POST", "/v1/events", `{"anonId":"visitor-today-2","eventType":"page_view","path":"/"}`).expect(t, 202, "")
	if v, _ := metric(summary(t, e, q), "totalPageViews"); v != 1 {
		t.Fatalf("cached summary changed to %v within its TTL", v)
	}
	if v, _ := metric(summary(t, e, q+"&propertyId=other"), "totalPageViews"); v != 0 {
		t.Fatal("the cache key ignores propertyId")
	}
	if _, err := e.jobs.Rollup(context.Background(), today, today); err != nil { // clears the cache
		t.Fatal(err)
	}
	if v, _ := metric(summary(t, e, q), "totalPageViews"); v != 2 {
		t.Fatalf("after rollups the summary still shows %v", v)
	}
}

func TestRetentionPurge(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		ctx := context.Background()
		old, recent := time.Now().AddDate(0, 0, -100), time.Now().AddDate(0, 0, -1)
		e.write(storetest.Event("visitor-old", "page_view", "/", old), storetest.Event("visitor-old", "click", "/", old.Add(time.Minute)))
		e.write(storetest.Event("visitor-new", "page_view", "/", recent))
		e.sessionize()
		oldDay := old.AddDate(0, 0, -700).Format(time.DateOnly)
		if err := e.store.SaveRollups(ctx, oldDay, []marketing.DayRollup{{PropertyID: "default", Day: oldDay, GeneratedAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		for _, day := range []string{oldDay, recent.Format(time.DateOnly)} {
			if err := e.store.SaveStatsRollups(ctx, "default", "UTC", day, []marketing.StatsRollupRow{{Day: day, VisitorSketch: []byte{}, ConvertingSketch: []byte{}}}); err != nil {
				t.Fatal(err)
			}
		}
		// Rollups of a day past the raw window (90 days) but within the
		// rollups' (730) keep their counts and lose their sketches; a
		// recent day's keep both.
		var sk metrics.Sketch
		sk.Add("visitor-old")
		sketch := sk.Encode()
		midDay, recentDay := old.AddDate(0, 0, -100).Format(time.DateOnly), recent.Format(time.DateOnly)
		for _, day := range []string{midDay, recentDay} {
			if err := e.store.SaveRollups(ctx, day, []marketing.DayRollup{{PropertyID: "p", Day: day, UniqueVisitors: 1, ReturningVisitors: 1,
				VisitorSketch: sketch, ReturningSketch: sketch, GeneratedAt: time.Now()}}); err != nil {
				t.Fatal(err)
			}
			if err := e.store.SaveStatsRollups(ctx, "p", "UTC", day, []marketing.StatsRollupRow{{Day: day, StatsCounts: marketing.StatsCounts{Visitors: 1, Visits: 2},
				VisitorSketch: sketch, ConvertingSketch: sketch}}); err != nil {
				t.Fatal(err)
			}
		}
		_ = e.store.AddRejections(ctx, []marketing.RejectionCount{{Hour: old.Truncate(time.Hour), PropertyID: "p", Endpoint: "/v1/events", Reason: "bot", Count: 3}})
		e.do("POST", "/v1/leads/capture", `{"email":"old-reason@example.com"}`).expect(t, 200, "")
		if err := e.store.SetConsent(ctx, marketing.ConsentChange{Email: "old-reason@example.com", Status: marketing.ConsentWithdrawn,
			Source: marketing.SourceUnsubscribe, Reason: "too many emails", Now: old}); err != nil {
			t.Fatal(err)
		}
		tables := []string{"events", "sessions", "daily_metric_rollups", "stats_rollups", "ingest_rejections"}
		counts := func() map[string]int64 {
			m := map[string]int64{}
			for _, tb := range tables {
				m[tb] = e.count(`SELECT count(*) FROM ` + tb)
			}
			return m
		}
		before := counts()
		var dry map[string]int64
		if _, err := e.jobs.Record(ctx, "retention", "", true, func(ctx context.Context) (map[string]any, error) {
			var err error
			dry, err = e.jobs.Purge(ctx, true)
			return map[string]any{"counts": dry}, err
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(counts()) != fmt.Sprint(before) {
			t.Fatal("the dry run changed rows")
		}
		want := map[string]int64{"events": 2, "sessions": 1, "daily_metric_rollups": 1, "ingest_rejections": 1, "consent_reasons": 1,
			"daily_metric_rollups_sketches": 1, "stats_rollups_sketches": 1}
		for tb, n := range want {
			if dry[tb] != n {
				t.Errorf("dry run: %s %d, want %d", tb, dry[tb], n)
			}
		}
		var real map[string]int64
		if _, err := e.jobs.Record(ctx, "retention", "", false, func(ctx context.Context) (map[string]any, error) {
			var err error
			real, err = e.jobs.Purge(ctx, false)
			return map[string]any{"counts": real}, err
		}); err != nil {
			t.Fatal(err)
		}
		after := counts()
		if real["stats_rollups"] != 1 || after["stats_rollups"] != 3 {
			t.Errorf("stats rollups: %d deleted, %d left; want the old day's 1 deleted, the recent and middle days' 3 left", real["stats_rollups"], after["stats_rollups"])
		}
		for _, c := range []struct {
			table, sketched string
			want            []string
		}{
			{"stats_rollups", `length(visitor_sketch) > 0 AND length(converting_sketch) > 0`, []string{midDay + " 1 false", recentDay + " 1 true"}},
			{"daily_metric_rollups", `visitor_sketch IS NOT NULL AND returning_sketch IS NOT NULL`, []string{midDay + " 1 false", recentDay + " 1 true"}},
		} {
			visitors := "visitors"
			if c.table == "daily_metric_rollups" {
				visitors = "unique_visitors"
			}
			var got []string
			for _, r := range e.rows(`SELECT CAST(day AS text), ` + visitors + `, CASE WHEN ` + c.sketched + ` THEN 'true' ELSE 'false' END FROM ` + c.table + ` WHERE property_id = 'p' ORDER BY day`) {
				got = append(got, fmt.Sprint(r[0], " ", r[1], " ", r[2]))
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s after the purge (day, visitors, sketched): %q, want %q", c.table, got, c.want)
			}
		}
		for _, tb := range tables {
			if before[tb]-after[tb] != real[tb] || real[tb] != dry[tb] {
				t.Errorf("%s: dry %d, deleted %d, rows %d → %d", tb, dry[tb], real[tb], before[tb], after[tb])
			}
		}
		// The old unsubscribe's free text is gone; its ledger row stays.
		if rows := e.rows(`SELECT reason FROM consent_events WHERE status = 'withdrawn'`); len(rows) != 1 || rows[0][0] != nil {
			t.Errorf("old reason after the purge: %v", rows)
		}
		runs, _ := e.store.JobRuns(ctx, 10)
		if len(runs) != 2 || !runs[1].DryRun || runs[0].DryRun || runs[0].Status != "ok" {
			t.Fatalf("job runs %+v", runs)
		}
	})
}

// TestSchedulerOncePerSlot: two processes' schedulers tick at once on one
// PostgreSQL; each job runs once per slot.
func TestSchedulerOncePerSlot(t *testing.T) {
	a := newEnv(t, "postgres")
	b := jobs.New(jobs.Options{Store: a.store, Log: nil, Location: time.UTC, AllProperties: "default", BatchDays: 2, EventDays: 90, RollupDays: 730, RejectionDays: 90})
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, r := range []*jobs.Runner{a.jobs, b, a.jobs, b} {
		wg.Add(1)
		go func() { defer wg.Done(); r.Tick(ctx) }()
	}
	wg.Wait()
	if n := a.count(`SELECT count(*) FROM job_runs WHERE job = 'rollups'`); n != 1 {
		t.Fatalf("%d rollup runs for one hour, want 1", n)
	}
	if n := a.count(`SELECT count(*) FROM job_runs WHERE job = 'retention'`); n != 1 {
		t.Fatalf("%d retention runs for one day, want 1", n)
	}
}

// TestCatchUpAfterOutage: three days down, then a restart rolls them up.
func TestCatchUpAfterOutage(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		ctx := context.Background()
		now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		r := jobs.New(jobs.Options{Store: e.store, Location: time.UTC, AllProperties: "default", BatchDays: 2, Now: clock})
		for _, d := range []string{"06-10", "06-11", "06-12", "06-13"} {
			e.write(storetest.Event("visitor-out", "page_view", "/"+d, at("2026-"+d+"T10:00:00Z")))
		}
		if _, err := r.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		now = now.AddDate(0, 0, 4) // down for three days, back on the 14th
		days, err := r.CatchUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(days) != "[2026-06-10 2026-06-11 2026-06-12 2026-06-13 2026-06-14]" {
			t.Fatalf("caught up %v", days)
		}
		for _, d := range []string{"2026-06-11", "2026-06-12", "2026-06-13"} {
			if rollupOf(t, e, "default", d).PageViews != 1 {
				t.Fatalf("missed day %s not rolled up", d)
			}
		}
	})
}

// TestCatchUpKeepsPurgedDays: a catch-up reaching past the raw window
// (ROLLUP_BATCH_DAYS over RETENTION_EVENT_DAYS) never rolls a day up again
// whose raw events are gone: its rollups keep their counts.
func TestCatchUpKeepsPurgedDays(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		ctx := context.Background()
		now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
		r := jobs.New(jobs.Options{Store: e.store, Location: time.UTC, AllProperties: "default", BatchDays: 60, EventDays: 30,
			Now: func() time.Time { return now }})
		old := "2026-05-01" // 40 days ago: past the raw window, its events purged
		if err := e.store.SaveRollups(ctx, old, []marketing.DayRollup{{PropertyID: "default", Day: old, PageViews: 7, GeneratedAt: now}}); err != nil {
			t.Fatal(err)
		}
		e.write(storetest.Event("visitor-k", "page_view", "/", at("2026-06-09T10:00:00Z")))
		days, err := r.CatchUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) == 0 || days[0] < "2026-05-12" || rollupOf(t, e, "default", old).PageViews != 7 || rollupOf(t, e, "default", "2026-06-09").PageViews != 1 {
			t.Fatalf("caught up %v; the purged day's page views %d", days, rollupOf(t, e, "default", old).PageViews)
		}
	})
}

// TestSummaryView: the view enabled but missing or empty → the tables
// answer; refresh-view runs while summaries are read.
func TestSummaryView(t *testing.T) {
	e := newEnv(t, "postgres", "METRICS_USE_MATERIALIZED_VIEW=true", "METRICS_SUMMARY_CACHE_TTL_MS=0")
	ctx := context.Background()
	e.write(storetest.Event("visitor-v", "page_view", "/", at("2026-05-01T10:00:00Z")))
	if _, err := e.jobs.Rollup(ctx, "2026-05-01", "2026-05-01"); err != nil { // refreshes the view too
		t.Fatal(err)
	}
	q := "from=2026-05-01&to=2026-05-01"
	if v, _ := metric(summary(t, e, q), "totalPageViews"); v != 1 {
		t.Fatalf("from the view: %v", v)
	}
	if _, err := e.pg.Pool().Exec(ctx, `DROP MATERIALIZED VIEW metrics_daily_summary_mv`); err != nil {
		t.Fatal(err)
	}
	if v, _ := metric(summary(t, e, q), "totalPageViews"); v != 1 {
		t.Fatalf("view missing: %v", v)
	}
	// Recreate it empty (unpopulated): still the tables answer.
	if _, err := e.pg.Pool().Exec(ctx, `CREATE MATERIALIZED VIEW metrics_daily_summary_mv AS SELECT m.*, 0::bigint AS events_accepted, 0::bigint AS events_rejected,
		0::bigint AS leads_accepted, 0::bigint AS leads_rejected, NULL::int AS p95_ttfb_ms, NULL::bytea AS ttfb_histogram, '{}'::jsonb AS error_breakdown
		FROM daily_metric_rollups m WITH NO DATA;
		CREATE UNIQUE INDEX ON metrics_daily_summary_mv (property_id, day)`); err != nil {
		t.Fatal(err)
	}
	if v, _ := metric(summary(t, e, q), "totalPageViews"); v != 1 {
		t.Fatalf("view unpopulated: %v", v)
	}
	if err := e.store.RefreshView(ctx, "metrics_daily_summary_mv"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var bad, ok int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Straight to the store as the summary reads it (the HTTP route
			// is limited to 60 a minute), plus one request over HTTP.
			rows, err := e.store.Rollups(ctx, "default", "2026-05-01", "2026-05-01", "metrics_daily_summary_mv")
			if err != nil || len(rows) != 1 || rows[0].PageViews != 1 {
				bad++
			} else {
				ok++
			}
		}
	}()
	for range 5 {
		if err := e.store.RefreshView(ctx, "metrics_daily_summary_mv"); err != nil {
			t.Error(err)
		}
	}
	if v, _ := metric(summary(t, e, q), "totalPageViews"); v != 1 {
		t.Fatalf("during refreshes: %v", v)
	}
	close(stop)
	wg.Wait()
	if bad > 0 || ok == 0 {
		t.Fatalf("%d reads failed and %d succeeded during refreshes", bad, ok)
	}
}
