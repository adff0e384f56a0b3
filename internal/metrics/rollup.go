package metrics

import (
	"sort"
	"time"

	"github.com/altcontext/marketing"
)

// Endpoints as the rejection counters name them.
const (
	endpointEvents = "/v1/events"
	endpointLeads  = "/v1/leads/capture"
)

// DayBounds returns the UTC instants of a report day in loc: midnight to
// midnight, 23 or 25 hours long on DST days.
func DayBounds(day string, loc *time.Location) (time.Time, time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return d.UTC(), d.AddDate(0, 0, 1).UTC(), nil
}

// Build turns one day's facts into rollup rows: one per property seen, plus
// the all-properties row under allProperties. Entrances are session starts,
// exits sessions that ended on a page view, conversions lead captures and
// custom events flagged as conversions, form submits the tracker's
// form_submit events (never the server's lead_captured, so nothing counts
// twice).
func Build(f *marketing.RollupFacts, day, allProperties string, now time.Time) []marketing.DayRollup {
	type acc struct {
		r         marketing.DayRollup
		visitors  Sketch
		returning Sketch
		ttfb      Histogram
		paths     map[string]*marketing.LandingPath
	}
	rows := map[string]*acc{}
	get := func(p string) []*acc {
		all := rows[allProperties]
		if all == nil {
			all = &acc{paths: map[string]*marketing.LandingPath{}}
			rows[allProperties] = all
		}
		if p == allProperties || p == "" {
			return []*acc{all}
		}
		a := rows[p]
		if a == nil {
			a = &acc{paths: map[string]*marketing.LandingPath{}}
			rows[p] = a
		}
		return []*acc{all, a}
	}
	get(allProperties)
	for _, e := range f.Events {
		for _, a := range get(e.PropertyID) {
			a.r.EventsAccepted += e.Count
			if a.r.TrafficSources == nil {
				a.r.TrafficSources = map[string]int64{}
			}
			a.r.TrafficSources[e.TrafficSource] += e.Count
			switch e.EventType {
			case "page_view":
				a.r.PageViews += e.Count
			case "form_start":
				a.r.FormStarts += e.Count
			case "form_submit":
				a.r.FormSubmits += e.Count
			}
			if e.Conversion {
				a.r.Conversions += e.Count
			}
		}
	}
	for _, v := range f.Visitors {
		for _, a := range get(v.PropertyID) {
			a.visitors.Add(v.VisitorID)
			if v.Returning {
				a.returning.Add(v.VisitorID)
			}
		}
	}
	for _, s := range f.Sessions {
		for _, a := range get(s.PropertyID) {
			a.r.Entrances++
			if s.PageViews > 0 {
				a.r.Exits++
			}
			lp := a.paths[s.LandingPath]
			if lp == nil {
				lp = &marketing.LandingPath{Path: s.LandingPath}
				a.paths[s.LandingPath] = lp
			}
			lp.Entrances++
			if s.Converted {
				lp.Conversions++
			}
		}
	}
	for _, v := range f.TTFB {
		for _, a := range get(v.PropertyID) {
			a.ttfb.Add(v.Value)
		}
	}
	for _, l := range f.NewLeads {
		for _, a := range get(l.PropertyID) {
			a.r.NewLeads++
			if l.Value >= 0 {
				a.r.TimeToCaptureSumMs += l.Value
				a.r.TimeToCaptureCount++
			}
		}
	}
	for _, s := range f.Submissions {
		for _, a := range get(s.PropertyID) {
			a.r.LeadsAccepted += s.Value
		}
	}
	for _, c := range f.Rejections {
		for _, a := range get(c.PropertyID) {
			switch c.Endpoint {
			case endpointEvents:
				if a.r.Dropped == nil {
					a.r.Dropped = map[string]int64{}
				}
				a.r.Dropped[c.Reason] += c.Count
				if c.Reason == marketing.ReasonInvalid {
					a.r.EventsRejected += c.Count
				}
			case endpointLeads:
				if c.Reason == marketing.ReasonInvalid {
					a.r.LeadsRejected += c.Count
				}
			}
		}
	}
	out := make([]marketing.DayRollup, 0, len(rows))
	for p, a := range rows {
		r := a.r
		r.PropertyID, r.Day, r.GeneratedAt = p, day, now
		r.UniqueVisitors, r.ReturningVisitors = a.visitors.Count(), a.returning.Count()
		r.VisitorSketch, r.ReturningSketch = a.visitors.Encode(), a.returning.Encode()
		r.TTFBHistogram, r.P95TTFBMs = a.ttfb.Encode(), a.ttfb.Quantile(0.95)
		if r.TrafficSources == nil {
			r.TrafficSources = map[string]int64{}
		}
		if r.Dropped == nil {
			r.Dropped = map[string]int64{}
		}
		r.TopLandingPaths = topPaths(a.paths, 10)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PropertyID < out[j].PropertyID })
	return out
}

func topPaths(m map[string]*marketing.LandingPath, n int) []marketing.LandingPath {
	out := make([]marketing.LandingPath, 0, len(m))
	for _, p := range m {
		if p.Entrances > 0 {
			p.ConversionRate = float64(p.Conversions) / float64(p.Entrances)
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Entrances != b.Entrances {
			return a.Entrances > b.Entrances
		}
		if a.Conversions != b.Conversions {
			return a.Conversions > b.Conversions
		}
		return a.Path < b.Path
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
