package stats

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// Result is the answer to a query, in Plausible's v2 shape.
type Result struct {
	Results []Row  `json:"results"`
	Meta    Meta   `json:"meta"`
	Query   *Query `json:"query"`
}

// Row is one group: its dimension values (in the order asked) and its
// metrics (in the order asked; null where a measure has no data).
type Row struct {
	Dimensions []string       `json:"dimensions"`
	Metrics    []any          `json:"metrics"`
	Comparison *RowComparison `json:"comparison,omitempty"`
}

// RowComparison is the same group over the comparison range, and the change
// of each metric: a percentage for counts and measures, a difference in
// points for rates (bounce_rate, conversion_rate and the vitals' shares).
type RowComparison struct {
	Dimensions []string `json:"dimensions"`
	Metrics    []any    `json:"metrics"`
	Change     []any    `json:"change"`
}

// Meta carries warnings, the time labels (every bucket of the range) and
// the row count before pagination.
type Meta struct {
	Warnings   []string `json:"warnings,omitempty"`
	TimeLabels []string `json:"time_labels,omitempty"`
	TotalRows  *int     `json:"total_rows,omitempty"`
}

// group is one group's aggregates.
type group struct {
	keys   []string
	bucket int64
	c      marketing.StatsCounts
	vitals map[string][]float64
}

func groupKey(keys []string, bucket int64) string {
	return strings.Join(keys, "\x00") + "\x00" + strconv.FormatInt(bucket, 10)
}

type groups struct {
	m     map[string]*group
	order []string
}

func (gs *groups) get(keys []string, bucket int64) *group {
	k := groupKey(keys, bucket)
	g, ok := gs.m[k]
	if !ok {
		g = &group{keys: keys, bucket: bucket, vitals: map[string][]float64{}}
		gs.m[k] = g
		gs.order = append(gs.order, k)
	}
	return g
}

// Run answers a query.
func Run(ctx context.Context, st marketing.StatsStore, q *Query) (*Result, error) {
	main, err := q.aggregate(ctx, st, q.from, q.to, 0)
	if err != nil {
		return nil, err
	}
	var prev *groups
	shift := int64(0)
	if q.Include.Comparisons != nil {
		if q.timeDim >= 0 {
			shift = localKey(q.unit, q.from, q.loc) - localKey(q.unit, q.cmpFrom, q.loc)
		}
		if prev, err = q.aggregate(ctx, st, q.cmpFrom, q.cmpTo, shift); err != nil {
			return nil, err
		}
	}
	res := &Result{Query: q, Results: []Row{}}
	if q.timeDim >= 0 {
		keys := bucketKeys(q.unit, q.from, q.to, q.loc)
		if len(q.groups) == 0 { // every bucket answers, empty ones with zeros
			for _, k := range keys {
				main.get([]string{}, k)
			}
		}
		if q.Include.TimeLabels {
			for _, k := range keys {
				res.Meta.TimeLabels = append(res.Meta.TimeLabels, label(q.unit, k))
			}
		}
	} else if len(q.groups) == 0 {
		main.get([]string{}, 0) // totals always have their row
	}
	all := make([]*group, 0, len(main.order))
	for _, k := range main.order {
		all = append(all, main.m[k])
	}
	values := make(map[*group][]any, len(all))
	for _, g := range all {
		values[g] = q.values(g)
	}
	q.sort(all, values)
	total := len(all)
	if q.Include.TotalRows {
		res.Meta.TotalRows = &total
	}
	start := min(q.Pagination.Offset, total)
	end := min(start+q.Pagination.Limit, total)
	for _, g := range all[start:end] {
		row := Row{Dimensions: q.dimensions(g, g.bucket), Metrics: values[g]}
		if prev != nil {
			p, ok := prev.m[groupKey(g.keys, g.bucket)]
			if !ok {
				p = &group{keys: g.keys, bucket: g.bucket}
			}
			pv := q.values(p)
			row.Comparison = &RowComparison{Dimensions: q.dimensions(p, g.bucket-shift), Metrics: pv, Change: q.changes(row.Metrics, pv)}
		}
		res.Results = append(res.Results, row)
	}
	res.Meta.Warnings = append(res.Meta.Warnings, q.warnings...)
	if q.source == marketing.StatsSessions && q.needSessions && namesEvents(q.filter) {
		res.Meta.Warnings = append(res.Meta.Warnings, "visit metrics under event filters count the visits that contain a matching event")
	}
	return res, nil
}

// aggregate runs the plans of [from, to); bucket keys move by shift so a
// comparison's buckets line up with the main range's.
func (q *Query) aggregate(ctx context.Context, st marketing.StatsStore, from, to time.Time, shift int64) (*groups, error) {
	gs := &groups{m: map[string]*group{}}
	p := &marketing.StatsPlan{Source: q.source, PropertyID: q.SiteID, From: from.UTC(), To: to.UTC(), Filter: q.filter, GroupBy: q.groups}
	if q.timeDim >= 0 {
		p.Bucket = bucket(q.unit, from, to, q.loc)
	}
	var counts, leads bool
	vitals := map[string]bool{}
	for _, m := range q.Metrics {
		d := metricDefs[m]
		switch {
		case d.leads:
			leads = true
		case d.vital != "":
			vitals[d.vital] = true
		default:
			counts = true
		}
	}
	if counts {
		var rows []marketing.StatsRow
		rolled := false
		if field, ok := q.rollupField(); ok {
			var err error
			if rows, rolled, err = q.rollupAggregate(ctx, st, field, from, to); err != nil {
				return nil, err
			}
		}
		if !rolled {
			var err error
			if rows, err = q.rawAggregate(ctx, st, p); err != nil {
				return nil, err
			}
		}
		for _, r := range rows {
			gs.get(r.Keys, r.Bucket+shift).c = r.StatsCounts
		}
	}
	if leads {
		rows, err := st.StatsNewLeads(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			gs.get([]string{}, r.Bucket+shift).c.Leads = r.Leads
		}
	}
	var cols []string
	for _, col := range marketing.StatsVitals {
		if vitals[col] {
			cols = append(cols, col)
		}
	}
	if len(cols) > 0 {
		ev := *p
		ev.Source = marketing.StatsEvents
		vals, err := st.StatsValues(ctx, &ev, cols)
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			g := gs.get(v.Keys, v.Bucket+shift)
			for i, col := range cols {
				if x := v.Values[i]; x != nil {
					g.vitals[col] = append(g.vitals[col], *x)
				}
			}
		}
	}
	return gs, nil
}

// namesEvents reports whether a filter tests an event dimension anywhere.
func namesEvents(f *marketing.StatsFilter) bool {
	if f == nil {
		return false
	}
	if f.Field != "" && marketing.StatsFields[f.Field] == marketing.StatsEvents {
		return true
	}
	for i := range f.Children {
		if namesEvents(&f.Children[i]) {
			return true
		}
	}
	return false
}

// rawAggregate is the store's StatsAggregate of p; on a page (Reads), two
// queries with the same plan (a filtered breakdown and its conversions
// tab) read it once. The rows are read only.
func (q *Query) rawAggregate(ctx context.Context, st marketing.StatsStore, p *marketing.StatsPlan) ([]marketing.StatsRow, error) {
	if q.reads == nil {
		return st.StatsAggregate(ctx, p)
	}
	k, err := json.Marshal(p) // every field of a plan is data: equal text, equal plan
	if err != nil {
		return nil, err
	}
	v, err := q.reads.do(planKey(k), func() (any, error) { return st.StatsAggregate(ctx, p) })
	if err != nil {
		return nil, err
	}
	return v.([]marketing.StatsRow), nil
}

// planKey names a raw read by its plan's JSON.
type planKey string

// dimensions are a group's values in the order the query named them.
func (q *Query) dimensions(g *group, bucket int64) []string {
	out := make([]string, 0, len(q.Dimensions))
	i := 0
	for j := range q.Dimensions {
		if j == q.timeDim {
			out = append(out, label(q.unit, bucket))
			continue
		}
		if i < len(g.keys) {
			out = append(out, g.keys[i])
		} else {
			out = append(out, "")
		}
		i++
	}
	return out
}

func (q *Query) values(g *group) []any {
	out := make([]any, len(q.Metrics))
	for i, m := range q.Metrics {
		out[i] = metricValue(m, g)
	}
	return out
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func ratio(a, b int64, scale float64, places int) float64 {
	if b == 0 {
		return 0
	}
	return round(float64(a)*scale/float64(b), places)
}

// metricValue computes one metric of a group (docs/metrics.md).
func metricValue(m string, g *group) any {
	c := &g.c
	switch m {
	case "visitors":
		return c.Visitors
	case "visits":
		return c.Visits
	case "pageviews":
		return c.Pageviews
	case "events":
		return c.Events
	case "conversions":
		return c.Conversions
	case "leads":
		return c.Leads
	case "views_per_visit":
		return ratio(c.Pageviews, c.Visits, 1, 2)
	case "bounce_rate":
		return ratio(c.Bounces, c.Visits, 100, 0)
	case "visit_duration":
		return ratio(c.DurationMs, c.Visits, 0.001, 0)
	case "conversion_rate":
		return ratio(c.ConvertingVisitors, c.Visitors, 100, 2)
	}
	d := metricDefs[m]
	return vitalValue(m, d.vital, g.vitals[d.vital])
}

// Google's Core Web Vitals thresholds: good at or below the first, poor
// above the second.
var vitalThresholds = map[string][2]float64{
	"lcp_ms": {2500, 4000}, "inp_ms": {200, 500}, "cls": {0.1, 0.25}, "fcp_ms": {1800, 3000}, "ttfb_ms": {800, 1800},
}

// P75 is the 75th percentile by nearest rank: the smallest value at or
// above which a quarter of the values lie. vals is sorted in place.
func P75(vals []float64) float64 {
	slices.Sort(vals)
	i := int(math.Ceil(0.75*float64(len(vals)))) - 1
	return vals[max(i, 0)]
}

func vitalValue(m, col string, vals []float64) any {
	if len(vals) == 0 {
		return nil
	}
	t := vitalThresholds[col]
	var good, poor int
	for _, v := range vals {
		switch {
		case v <= t[0]:
			good++
		case v > t[1]:
			poor++
		}
	}
	n := float64(len(vals))
	switch {
	case strings.HasSuffix(m, "_good"):
		return round(100*float64(good)/n, 1)
	case strings.HasSuffix(m, "_poor"):
		return round(100*float64(poor)/n, 1)
	case strings.HasSuffix(m, "_needs_improvement"):
		return round(100*float64(len(vals)-good-poor)/n, 1)
	case col == "cls":
		return round(P75(vals), 3)
	}
	return round(P75(vals), 0)
}

func isRate(m string) bool {
	return m == "bounce_rate" || m == "conversion_rate" || strings.HasSuffix(m, "_good") || strings.HasSuffix(m, "_poor") || strings.HasSuffix(m, "_needs_improvement")
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// changes compares each metric with the comparison range's value.
func (q *Query) changes(cur, prev []any) []any {
	out := make([]any, len(cur))
	for i, m := range q.Metrics {
		c, okc := num(cur[i])
		p, okp := num(prev[i])
		switch {
		case !okc || !okp:
			out[i] = nil
		case isRate(m):
			out[i] = round(c-p, 1)
		case p == 0 && c == 0:
			out[i] = 0.0
		case p == 0:
			out[i] = 100.0
		default:
			out[i] = round((c-p)/p*100, 1)
		}
	}
	return out
}

func compareAny(a, b any) int {
	x, okx := num(a)
	y, oky := num(b)
	switch {
	case !okx && !oky:
		return 0
	case !okx:
		return -1
	case !oky:
		return 1
	}
	return cmp.Compare(x, y)
}

// sort orders groups by order_by, then by default: time ascending when
// there is a time dimension, else the first metric descending; dimension
// values ascending break ties, so the order never depends on a store. The
// order is total (no two groups share their keys and bucket), so an
// unstable sort gives the one answer.
func (q *Query) sort(all []*group, values map[*group][]any) {
	type ranked struct {
		g *group
		v []any
		d []string // dimensions, when an ordering names one
	}
	byDim := false
	for _, o := range q.OrderBy {
		byDim = byDim || !slices.Contains(q.Metrics, o[0])
	}
	rs := make([]ranked, len(all))
	for i, g := range all {
		rs[i] = ranked{g: g, v: values[g]}
		if byDim {
			rs[i].d = q.dimensions(g, g.bucket)
		}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		for _, o := range q.OrderBy {
			c := 0
			if i := slices.Index(q.Metrics, o[0]); i >= 0 {
				c = compareAny(a.v[i], b.v[i])
			} else if i := slices.Index(q.Dimensions, o[0]); i == q.timeDim {
				c = cmp.Compare(a.g.bucket, b.g.bucket)
			} else {
				c = strings.Compare(a.d[i], b.d[i])
			}
			if o[1] == "desc" {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if q.timeDim >= 0 {
			if c := cmp.Compare(a.g.bucket, b.g.bucket); c != 0 {
				return c
			}
		} else if c := compareAny(b.v[0], a.v[0]); c != 0 {
			return c
		}
		return slices.Compare(a.g.keys, b.g.keys)
	})
	for i := range rs {
		all[i] = rs[i].g
	}
}

// Realtime is GET /v1/stats/realtime: visitors of the last five minutes
// and the last 30 minutes per minute (UTC), straight from the event log.
type Realtime struct {
	SiteID          string           `json:"site_id"`
	CurrentVisitors int64            `json:"current_visitors"`
	Minutes         []RealtimeMinute `json:"minutes"`
}

// RealtimeMinute is one minute of the realtime view.
type RealtimeMinute struct {
	Minute    string `json:"minute"`
	Visitors  int64  `json:"visitors"`
	Pageviews int64  `json:"pageviews"`
}

// RealtimeStats reads the realtime view of a property.
func RealtimeStats(ctx context.Context, st marketing.StatsStore, site string, now time.Time) (*Realtime, error) {
	now = now.UTC()
	out := &Realtime{SiteID: site, Minutes: []RealtimeMinute{}}
	cur, err := st.StatsAggregate(ctx, &marketing.StatsPlan{Source: marketing.StatsEvents, PropertyID: site, From: now.Add(-5 * time.Minute), To: now.Add(time.Second)})
	if err != nil {
		return nil, err
	}
	for _, r := range cur {
		out.CurrentVisitors += r.Visitors
	}
	end := now.Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-30 * time.Minute)
	rows, err := st.StatsAggregate(ctx, &marketing.StatsPlan{Source: marketing.StatsEvents, PropertyID: site, From: start, To: end,
		Bucket: &marketing.StatsBucket{Unit: "minute", Offsets: []marketing.StatsOffset{{At: start}}}})
	if err != nil {
		return nil, err
	}
	by := map[int64]marketing.StatsRow{}
	for _, r := range rows {
		by[r.Bucket] = r
	}
	for t := start; t.Before(end); t = t.Add(time.Minute) {
		r := by[t.Unix()/60]
		out.Minutes = append(out.Minutes, RealtimeMinute{Minute: t.Format(time.RFC3339), Visitors: r.Visitors, Pageviews: r.Pageviews})
	}
	return out, nil
}
