package metrics

import (
	"errors"
	"time"

	"github.com/altcontext/marketing"
)

// Value is one metric and its change against the comparison window:
// (value − baseline) / baseline, null without a comparison or a zero
// baseline.
type Value struct {
	Value float64  `json:"value"`
	Delta *float64 `json:"delta"`
}

// Window is an inclusive range of report days.
type Window struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Freshness says how far rollups reach.
type Freshness struct {
	RolledUpThrough *string `json:"rolledUpThrough"`
	LagDays         *int    `json:"lagDays"`
	GeneratedAt     *string `json:"generatedAt"`
}

// Summary is the GET /v1/metrics/summary answer (the reference's shape).
type Summary struct {
	OK        bool      `json:"ok"`
	Window    Window    `json:"window"`
	CompareTo *Window   `json:"compareTo"`
	Freshness Freshness `json:"freshness"`
	Metrics   struct {
		UniqueVisitors Value `json:"uniqueVisitors"`
		// ReturningVisitorsPct is a fraction from 0 to 1 (kept under the
		// reference's name): distinct returning visitors / distinct visitors.
		ReturningVisitorsPct      Value              `json:"returningVisitorsPct"`
		TotalPageViews            Value              `json:"totalPageViews"`
		LeadCaptureRate           Value              `json:"leadCaptureRate"`
		FormCompletionRate        Value              `json:"formCompletionRate"`
		LandingPageConversionRate Value              `json:"landingPageConversionRate"`
		AvgTimeToFirstCaptureHrs  Value              `json:"avgTimeToFirstCaptureHrs"`
		TrafficSourceMix          map[string]float64 `json:"trafficSourceMix"`
	} `json:"metrics"`
	Ingest struct {
		SuccessPct          float64          `json:"successPct"`
		P95TtfbMs           *int64           `json:"p95TtfbMs"`
		TotalEventsAccepted int64            `json:"totalEventsAccepted"`
		TotalEventsRejected int64            `json:"totalEventsRejected"`
		Dropped             map[string]int64 `json:"dropped"`
	} `json:"ingest"`
	Trend []TrendDay `json:"trend"`
	// Warnings say how a figure was counted when it is not what its name
	// says (unique visitors over days past the raw window are added up).
	Warnings []string `json:"warnings,omitempty"`
}

// TrendDay is one day of the window, zero-filled.
type TrendDay struct {
	Day            string `json:"day"`
	UniqueVisitors int64  `json:"uniqueVisitors"`
	PageViews      int64  `json:"pageViews"`
	NewLeads       int64  `json:"newLeads"`
}

// totals is a window's rows merged.
type totals struct {
	visitors, returning Sketch
	// The visitors of days without sketches (past the raw window: counts
	// only), added up day by day.
	summed, summedReturning                      int64
	ttfb                                         Histogram
	pageViews, entrances, conversions            int64
	formStarts, formSubmits, newLeads            int64
	captureSum, captureCount, accepted, rejected int64
	sources, dropped                             map[string]int64
}

func merge(rows []marketing.DayRollup) (*totals, error) {
	t := &totals{sources: map[string]int64{}, dropped: map[string]int64{}}
	for _, r := range rows {
		if len(r.VisitorSketch) == 0 {
			t.summed += r.UniqueVisitors
		}
		if len(r.ReturningSketch) == 0 {
			t.summedReturning += r.ReturningVisitors
		}
		if err := errors.Join(t.visitors.MergeEncoded(r.VisitorSketch), t.returning.MergeEncoded(r.ReturningSketch),
			t.ttfb.MergeEncoded(r.TTFBHistogram)); err != nil {
			return nil, err
		}
		t.pageViews += r.PageViews
		t.entrances += r.Entrances
		t.conversions += r.Conversions
		t.formStarts += r.FormStarts
		t.formSubmits += r.FormSubmits
		t.newLeads += r.NewLeads
		t.captureSum += r.TimeToCaptureSumMs
		t.captureCount += r.TimeToCaptureCount
		t.accepted += r.EventsAccepted
		t.rejected += r.EventsRejected
		for k, n := range r.TrafficSources {
			t.sources[k] += n
		}
		for k, n := range r.Dropped {
			t.dropped[k] += n
		}
	}
	return t, nil
}

func ratio(n, d float64) float64 {
	if d <= 0 {
		return 0
	}
	return n / d
}

type figures struct {
	uniques, returningPct, pageViews, captureRate, formRate, landingRate, captureHrs float64
}

func (t *totals) figures() figures {
	u := float64(t.visitors.Count() + t.summed)
	return figures{
		uniques:      u,
		returningPct: ratio(float64(t.returning.Count()+t.summedReturning), u),
		pageViews:    float64(t.pageViews),
		captureRate:  ratio(float64(t.newLeads), u),
		formRate:     ratio(float64(t.formSubmits), float64(t.formStarts)),
		landingRate:  ratio(float64(t.conversions), float64(t.entrances)),
		captureHrs:   ratio(float64(t.captureSum), float64(t.captureCount)) / 3_600_000,
	}
}

func value(v float64, base *float64) Value {
	out := Value{Value: v}
	if base != nil && *base != 0 {
		d := (v - *base) / *base
		out.Delta = &d
	}
	return out
}

// Summarize merges a window's rows (and a comparison window's, when
// compare is not nil) into the summary.
func Summarize(w Window, rows []marketing.DayRollup, compare *Window, compareRows []marketing.DayRollup, fresh Freshness) (*Summary, error) {
	cur, err := merge(rows)
	if err != nil {
		return nil, err
	}
	s := &Summary{OK: true, Window: w, CompareTo: compare, Freshness: fresh}
	f := cur.figures()
	var b *figures
	summed, unlike := cur.summed+cur.summedReturning > 0, false
	if compare != nil {
		prev, err := merge(compareRows)
		if err != nil {
			return nil, err
		}
		pf := prev.figures()
		b = &pf
		ps := prev.summed+prev.summedReturning > 0
		unlike = summed != ps
		summed = summed || ps
	}
	if summed {
		s.Warnings = append(s.Warnings, "unique and returning visitors of days past the raw window (RETENTION_EVENT_DAYS) are each day's added up: "+
			"those days keep counts only, so a visitor who came back on another of them counts again")
	}
	pick := func(get func(figures) float64) *float64 {
		if b == nil {
			return nil
		}
		v := get(*b)
		return &v
	}
	m := &s.Metrics
	m.UniqueVisitors = value(f.uniques, pick(func(x figures) float64 { return x.uniques }))
	m.ReturningVisitorsPct = value(f.returningPct, pick(func(x figures) float64 { return x.returningPct }))
	if unlike {
		// One window added days up and the other did not: their visitors
		// are not counted alike, so no change is claimed.
		m.UniqueVisitors.Delta, m.ReturningVisitorsPct.Delta = nil, nil
	}
	m.TotalPageViews = value(f.pageViews, pick(func(x figures) float64 { return x.pageViews }))
	m.LeadCaptureRate = value(f.captureRate, pick(func(x figures) float64 { return x.captureRate }))
	m.FormCompletionRate = value(f.formRate, pick(func(x figures) float64 { return x.formRate }))
	m.LandingPageConversionRate = value(f.landingRate, pick(func(x figures) float64 { return x.landingRate }))
	m.AvgTimeToFirstCaptureHrs = value(f.captureHrs, pick(func(x figures) float64 { return x.captureHrs }))
	var total int64
	for _, n := range cur.sources {
		total += n
	}
	m.TrafficSourceMix = map[string]float64{}
	for _, k := range marketing.TrafficSources {
		m.TrafficSourceMix[k] = ratio(float64(cur.sources[k]), float64(total))
	}
	in := &s.Ingest
	in.SuccessPct = ratio(float64(cur.accepted), float64(cur.accepted+cur.rejected))
	in.P95TtfbMs = cur.ttfb.Quantile(0.95)
	in.TotalEventsAccepted, in.TotalEventsRejected = cur.accepted, cur.rejected
	in.Dropped = map[string]int64{}
	for _, k := range []string{marketing.ReasonBot, marketing.ReasonHoneypot, marketing.ReasonRateLimited, marketing.ReasonInvalid, marketing.ReasonOrigin} {
		in.Dropped[k] = cur.dropped[k]
	}
	byDay := map[string]marketing.DayRollup{}
	for _, r := range rows {
		byDay[r.Day] = r
	}
	from, _ := time.Parse(time.DateOnly, w.From)
	to, _ := time.Parse(time.DateOnly, w.To)
	s.Trend = []TrendDay{}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		r := byDay[day]
		s.Trend = append(s.Trend, TrendDay{Day: day, UniqueVisitors: r.UniqueVisitors, PageViews: r.PageViews, NewLeads: r.NewLeads})
	}
	return s, nil
}
