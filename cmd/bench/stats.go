package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/stats"
)

// statsEvents is how many events the stats scenario seeds.
var statsEvents = flag.Int("stats-events", 300_000, "events the stats scenario seeds over 90 days (5 properties, 20,000 paths)")

var (
	benchReferrers = []string{"", "", "", "google.com", "google.com", "bing.com", "news.ycombinator.com", "l.facebook.com", "t.co", "blog.example.org", "mail.google.com", "youtube.com"}
	benchUTM       = []marketing.UTM{{}, {}, {}, {}, {Source: "newsletter", Medium: "email", Campaign: "weekly"}, {Source: "google", Medium: "cpc", Campaign: "brand"}, {Source: "facebook", Medium: "paid_social", Campaign: "spring"}}
	benchDevices   = []string{"desktop", "desktop", "mobile", "mobile", "tablet"}
	benchBrowsers  = []string{"Chrome", "Chrome", "Safari", "Firefox", "Edge"}
	benchCountries = []string{"CA", "US", "US", "GB", "FR", "DE", ""}
)

// seedStats appends about n events of 90 days through the store layer
// (visits of 1..6 page views, a web-vitals event in a third, a conversion
// in one visit of 50) and runs the sessionizer over them.
func seedStats(store, dbURL string, n int) error {
	ctx := context.Background()
	st, err := openStore(store, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	start := time.Now()
	batch := make([]marketing.PendingEvent, 0, 2000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := st.AppendEvents(ctx, batch)
		batch = batch[:0]
		return err
	}
	visitors := max(n/10, 100)
	written := 0
	for written < n {
		v := mrand.IntN(visitors)
		property := fmt.Sprintf("bench-%d", v%5+1)
		visitor := fmt.Sprintf("visitor-%07d", v)
		// Newer days are busier; a few visits are in the last minutes.
		age := time.Duration(mrand.ExpFloat64() * float64(20*24*time.Hour))
		if age > 90*24*time.Hour {
			age = time.Duration(mrand.Int64N(int64(90 * 24 * time.Hour)))
		}
		if mrand.IntN(2000) == 0 {
			age = time.Duration(mrand.Int64N(int64(5 * time.Minute)))
		}
		at := now.Add(-age)
		ref := benchReferrers[mrand.IntN(len(benchReferrers))]
		utm := benchUTM[mrand.IntN(len(benchUTM))]
		device := benchDevices[v%len(benchDevices)]
		browser := benchBrowsers[v%len(benchBrowsers)]
		country := benchCountries[v%len(benchCountries)]
		pages := 1 + int(mrand.ExpFloat64()*1.5)
		if pages > 6 {
			pages = 6
		}
		for p := range pages {
			path := fmt.Sprintf("/page-%d", int(mrand.ExpFloat64()*2000)%20_000)
			ev := marketing.PendingEvent{
				ID: marketing.NewID(at), VisitorID: visitor, EventType: "page_view", Path: path, OccurredAt: at, ReceivedAt: at,
				PropertyID: property, TrafficSource: "direct", DeviceType: device, Browser: browser, OS: "Linux", CountryCode: country,
				DedupeKey: make([]byte, 16),
			}
			if p == 0 {
				ev.ReferrerHost, ev.UTM = ref, utm
			}
			_, _ = rand.Read(ev.DedupeKey)
			batch = append(batch, ev)
			if p == 0 && mrand.IntN(3) == 0 {
				lcp, inp, ttfb := int64(800+mrand.IntN(5000)), int64(50+mrand.IntN(700)), int64(100+mrand.IntN(2000))
				cls := mrand.Float64() * 0.4
				cwv := ev
				cwv.ID, cwv.EventType, cwv.OccurredAt, cwv.DedupeKey = marketing.NewID(at), "cwv", at.Add(2*time.Second), make([]byte, 16)
				cwv.ReferrerHost, cwv.UTM = "", marketing.UTM{}
				cwv.LCPMs, cwv.INPMs, cwv.TTFBMs, cwv.CLS = &lcp, &inp, &ttfb, &cls
				_, _ = rand.Read(cwv.DedupeKey)
				batch = append(batch, cwv)
			}
			at = at.Add(time.Duration(10+mrand.IntN(120)) * time.Second)
		}
		if mrand.IntN(50) == 0 {
			conv := batch[len(batch)-1]
			conv.ID, conv.EventType, conv.IsConversion, conv.OccurredAt, conv.DedupeKey = marketing.NewID(at), "lead_captured", true, at, make([]byte, 16)
			conv.LCPMs, conv.INPMs, conv.TTFBMs, conv.CLS = nil, nil, nil, nil
			_, _ = rand.Read(conv.DedupeKey)
			batch = append(batch, conv)
		}
		written += pages
		if len(batch) >= 1500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	appended := time.Since(start)
	r := jobs.New(jobs.Options{Store: st, Rules: marketing.SessionRules{Inactivity: 30 * time.Minute}})
	res, err := r.Sessionize(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%s: stats seed: %d page views (and vitals, conversions) of %d visitors appended in %.0f s; %d sessions derived in %.0f s\n",
		store, written, visitors, appended.Seconds(), res.Sessions, time.Since(start).Seconds()-appended.Seconds())
	// The rollups of the 90 days, as serve's scheduler makes them (in UTC,
	// the server's REPORT_TIMEZONE here), then 305 more days of rollups
	// copied from them (day d-90k is day d's rows), so a 12-month series
	// reads 13 months of rollups as it would after a year of traffic.
	start = time.Now()
	r = jobs.New(jobs.Options{Store: st, Location: time.UTC, AllProperties: "__all__", Now: time.Now})
	today := now.Format(time.DateOnly)
	if _, err := r.Rollup(ctx, jobs.AddDays(today, -90), jobs.AddDays(today, -1)); err != nil {
		return err
	}
	rolled := time.Since(start)
	copies := 0
	for p := 1; p <= 5; p++ {
		property := fmt.Sprintf("bench-%d", p)
		byDay := map[string][]marketing.StatsRollupRow{}
		for _, field := range stats.RollupFields {
			err := st.StatsRollups(ctx, property, "UTC", jobs.AddDays(today, -90), jobs.AddDays(today, -1), field, func(row *marketing.StatsRollupRow) error {
				if row.Field == field {
					r := *row
					r.VisitorSketch, r.ConvertingSketch = slices.Clone(r.VisitorSketch), slices.Clone(r.ConvertingSketch)
					byDay[row.Day] = append(byDay[row.Day], r)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for back := 91; back <= 395; back++ {
			day := jobs.AddDays(today, -back)
			from := jobs.AddDays(today, -(1 + (back-1)%90))
			if err := st.SaveStatsRollups(ctx, property, "UTC", day, byDay[from]); err != nil {
				return err
			}
			copies++
		}
	}
	fmt.Printf("%s: stats rollups of 90 days built in %.0f s; %d more property-days copied in %.0f s\n",
		store, rolled.Seconds(), copies, time.Since(start).Seconds()-rolled.Seconds())
	return nil
}

// statsQueries are the query kinds the scenario times: dashboard panels
// (30 days, one dimension, up to two filters, limit 10; visit dimensions
// and event dimensions apart), a 12-month daily series with comparison,
// and realtime.
func statsQueries(i int) (kind, method, path, body string) {
	var metrics string
	site := fmt.Sprintf("bench-%d", i%5+1)
	dims := []string{"visit:source", "visit:channel", "event:page", "visit:entry_page", "visit:device", "visit:country", "visit:utm_campaign", "event:name"}
	filters := []string{``, `, "filters": [["is", "visit:device", ["desktop"]]]`,
		`, "filters": [["is", "visit:device", ["mobile"]], ["contains", "event:page", ["/page-1"]]]`,
		`, "filters": [["is_not", "visit:country", ["US"]], ["is", "visit:channel", ["Organic Search", "Direct"]]]`}
	switch i % 10 {
	case 8:
		return "series-12mo-compare", "POST", "/v1/stats/query", `{"site_id": "` + site + `", "metrics": ["visitors", "visits", "pageviews", "bounce_rate"], "date_range": "12mo",
			"dimensions": ["time:day"], "include": {"comparisons": {"mode": "year_over_year", "match_day_of_week": true}, "time_labels": true}}`
	case 9:
		return "realtime", "GET", "/v1/stats/realtime?site_id=" + site, ""
	}
	d := dims[(i/10)%len(dims)]
	kind, metrics = "panel-30d-visit", `["visitors", "visits", "bounce_rate", "visit_duration"]`
	if strings.HasPrefix(d, "event:") {
		kind, metrics = "panel-30d-event", `["visitors", "pageviews", "events"]`
	}
	if (i/3)%len(filters) != 0 { // filtered panels read raw rows; the others rollups
		kind += "+filters"
	}
	return kind, "POST", "/v1/stats/query", `{"site_id": "` + site + `", "metrics": ` + metrics + `, "date_range": "30d", "dimensions": ["` + d + `"]` +
		filters[(i/3)%len(filters)] + `, "pagination": {"limit": 10}}`
}

// benchStats seeds the event log and times the stats queries one at a
// time; it reports p50 and p99 per kind and the server's peak RSS.
func benchStats(binary string, env []string, work, store, dbURL string) ([]result, error) {
	if err := seedStats(store, dbURL, *statsEvents); err != nil {
		return nil, err
	}
	srv, err := startServer(binary, append(env, "SCHEDULER_ENABLED=false"), filepath.Join(work, store+"-stats.log"))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	const samples = 600
	fmt.Printf("%s: %d stats queries, one at a time\n", store, samples)
	times := map[string][]time.Duration{}
	bad := map[string]int{}
	for i := range samples {
		kind, method, path, body := statsQueries(i)
		req, _ := http.NewRequest(method, srv.url+path, strings.NewReader(body))
		req.Header.Set("x-admin-key", "bench-admin-key-0123456789")
		req.Header.Set("Content-Type", "application/json")
		status, raw, took, err := timed(i, req)
		if err != nil {
			return nil, err
		}
		times[kind] = append(times[kind], took)
		if status != 200 || !json.Valid(raw) {
			if bad[kind] == 0 {
				fmt.Printf("  %s: %d %s\n", kind, status, raw)
			}
			bad[kind]++
		}
	}
	dash, err := benchDashboard(srv.url, store, dbURL)
	if err != nil {
		return nil, err
	}
	rss := peakRSS(srv.cmd.Process.Pid)
	for i := range dash {
		dash[i].PeakRSSMB = rss
	}
	var out []result
	for _, kind := range []string{"panel-30d-visit", "panel-30d-visit+filters", "panel-30d-event", "panel-30d-event+filters", "series-12mo-compare", "realtime"} {
		ds := times[kind]
		r := result{Store: store, Target: "stats " + kind, Conns: 1, Accepted: int64(len(ds) - bad[kind]), Other: int64(bad[kind]), PeakRSSMB: rss}
		r.oneAtATime(ds)
		fmt.Printf("  %s: p50 %s, p99 %s, 200s %d, others %d, peak RSS %.1f MB\n", kind, r.P50, r.P99, r.Accepted, r.Other, rss)
		out = append(out, r)
	}
	return append(out, dash...), nil
}
