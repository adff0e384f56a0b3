package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/jobs"
)

// TestRollupFlushesRejections: a drop counted in memory seconds ago is in
// the day a rollup builds when the runner flushes the counters first, and
// missing without (the "up to 10 s of drops are missed").
func TestRollupFlushesRejections(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open()
		ctx := context.Background()
		e.do("POST", "/v1/events", `{"anonId":"visitor-bot-0003","eventType":"page_view","path":"/"}`, "Origin: "+site,
			"User-Agent: Googlebot/2.1 (+http://www.google.com/bot.html)").expect(t, 202, "")
		dropped := func(flush func(context.Context) error) int64 {
			r := jobs.New(jobs.Options{Store: e.store, Rules: marketing.SessionRules{Inactivity: e.cfg.SessionInactivity}, Location: e.cfg.ReportTimezone,
				AllProperties: e.cfg.RollupDefaultPropertyID, FlushRejections: flush})
			rows, err := r.BuildDay(ctx, r.Today())
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				if row.PropertyID == e.cfg.RollupDefaultPropertyID {
					return row.Dropped[marketing.ReasonBot]
				}
			}
			return 0
		}
		if n := dropped(nil); n != 0 {
			t.Fatalf("without a flush the rollup saw %d bot drops: the counter was already written", n)
		}
		if n := dropped(e.pipe.Counters.Flush); n != 1 {
			t.Fatalf("with the flush the rollup saw %d bot drops, want 1", n)
		}
	})
}

// TestSummaryRefusesAnotherZone: days rolled up in America/Toronto are
// refused by a server reporting in UTC (409 naming both zones and the
// command), and answer again once rolled up in UTC.
func TestSummaryRefusesAnotherZone(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		e := open("REPORT_TIMEZONE=UTC")
		ctx := context.Background()
		toronto, err := time.LoadLocation("America/Toronto")
		if err != nil {
			t.Fatal(err)
		}
		day := time.Now().UTC().AddDate(0, 0, -3).Format(time.DateOnly)
		other := jobs.New(jobs.Options{Store: e.store, Location: toronto, AllProperties: e.cfg.RollupDefaultPropertyID})
		if _, err := other.Rollup(ctx, day, day); err != nil {
			t.Fatal(err)
		}
		path := "/v1/metrics/summary?from=" + day + "&to=" + day
		r := e.do("GET", path, "", "x-admin-key: "+adminKey).expect(t, 409, "conflict")
		if !strings.Contains(r.Raw, "America/Toronto") || !strings.Contains(r.Raw, "report zone UTC") || !strings.Contains(r.Raw, "rollups run --from "+day) {
			t.Fatalf("409 body %s", r.Raw)
		}
		if _, err := e.jobs.Rollup(ctx, day, day); err != nil {
			t.Fatal(err)
		}
		e.do("GET", path, "", "x-admin-key: "+adminKey).expect(t, 200, "")
	})
}

// TestSummaryOldShapedView: a populated view of the shape before the zone
// was recorded (a custom view name) is not a 500: the tables answer.
func TestSummaryOldShapedView(t *testing.T) {
	e := newEnv(t, "postgres", "METRICS_USE_MATERIALIZED_VIEW=true", "METRICS_MATERIALIZED_VIEW_NAME=old_mv", "METRICS_SUMMARY_CACHE_TTL_MS=0")
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if _, err := e.store.AppendEvents(ctx, []marketing.PendingEvent{{ID: "e1", VisitorID: "v1", DedupeKey: []byte("k1"), EventType: "page_view", Path: "/",
		OccurredAt: at, ReceivedAt: at, PropertyID: e.cfg.RollupDefaultPropertyID, TrafficSource: "direct", DeviceType: "desktop"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pg.Pool().Exec(ctx, `CREATE MATERIALIZED VIEW old_mv AS
		SELECT m.property_id, m.day, m.unique_visitors, m.returning_visitors, m.total_page_views, m.total_entrances,
		m.total_exits, m.total_conversions, m.form_starts, m.form_submits, m.new_leads,
		m.time_to_first_capture_sum_ms, m.time_to_first_capture_count, m.traffic_source_breakdown,
		m.top_landing_paths, m.visitor_sketch, m.returning_sketch, m.generated_at,
		0::bigint AS events_accepted, 0::bigint AS events_rejected, 0::bigint AS leads_accepted, 0::bigint AS leads_rejected,
		NULL::int AS p95_ttfb_ms, NULL::bytea AS ttfb_histogram, '{}'::jsonb AS error_breakdown
		FROM daily_metric_rollups m WITH NO DATA;
		CREATE UNIQUE INDEX ON old_mv (property_id, day)`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.Rollup(ctx, "2026-05-01", "2026-05-01"); err != nil { // refreshes old_mv
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/metrics/summary?from=2026-05-01&to=2026-05-01", "", "x-admin-key: "+adminKey).expect(t, 200, "")
	if !strings.Contains(r.Raw, `"totalPageViews":{"value":1,`) {
		t.Fatalf("summary %s", r.Raw)
	}
}
