package stats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/metrics"
)

// RollupFields are the fields a day's stats rollups count, one row per
// value: "" is the day's totals (visits, as a query without dimensions
// counts them), then every visit and event field a breakdown can name but
// props (free-form keys) and traffic_source (no dimension names it).
var RollupFields = []string{"", "path", "event_type", "landing_path", "exit_path", "referrer_host", "channel",
	"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "device_type", "browser", "os", "country_code"}

// RollupTopValues is how many values of a field a day's rollups keep: the
// ones with the most visitors (then page views, events, value). The rest of
// the day's values are one row of value RollupOther, so a field's rows
// still add up to the day, and a day holds at most 101 rows per field
// however many distinct paths, referrers or campaigns its events name.
const RollupTopValues = 100

// RollupOther is the value of the row that holds a day's values past the
// first RollupTopValues of a field.
const RollupOther = "(other)"

// dayValue names one value of a field on one local day (days since the
// epoch in the zone).
type dayValue struct {
	day   int64
	value string
}

// tally is what rows of one group add up to: the additive counts, sketches
// of the visitors and converting visitors, and how many day rows merged
// (one day's exact counts are kept as they are).
type tally struct {
	c         marketing.StatsCounts
	vis, conv metrics.Sketch
	days      int
	exact     int64 // Visitors of the one day merged, exact
	exactConv int64
	// The visitors of merged days that have no sketch any more (past the
	// raw window, docs/metrics.md): added up, each day's its own.
	summed, summedConv int64
}

func (t *tally) addCounts(c *marketing.StatsCounts) {
	t.c.Visits += c.Visits
	t.c.Pageviews += c.Pageviews
	t.c.Events += c.Events
	t.c.Conversions += c.Conversions
	t.c.Bounces += c.Bounces
	t.c.DurationMs += c.DurationMs
}

// merge adds a day's tally (or a stored row's) to a group's.
func (t *tally) merge(o *tally) {
	t.addCounts(&o.c)
	t.vis.Merge(&o.vis)
	t.conv.Merge(&o.conv)
	t.days += o.days
	t.exact, t.exactConv = o.c.Visitors, o.c.ConvertingVisitors
	t.summed += o.summed
	t.summedConv += o.summedConv
}

// counts are the group's counts: distinct visitors from the sketches, or
// the exact counts when one day made the group.
func (t *tally) counts() marketing.StatsCounts {
	c := t.c
	if t.days == 1 {
		c.Visitors, c.ConvertingVisitors = t.exact, t.exactConv
	} else {
		c.Visitors, c.ConvertingVisitors = t.vis.Count()+t.summed, t.conv.Count()+t.summedConv
	}
	return c
}

// countFields counts each field's values per local day of [from, to)
// (local midnights) from the raw rows, in one read per source: the store
// groups the rows by every field of a source at once, per day and visitor,
// so its definitions of every count stay the only ones, and here each
// field's rows are summed per value (the counts are additive; a visitor is
// counted once per value, and converting when any of its rows is) and the
// visitors go into sketches.
func countFields(ctx context.Context, st marketing.StatsStore, property string, fields []string, from, to time.Time, loc *time.Location) (map[string]map[dayValue]*tally, error) {
	out := make(map[string]map[dayValue]*tally, len(fields))
	bySource := map[string][]string{}
	for _, f := range fields {
		out[f] = map[dayValue]*tally{}
		src := marketing.StatsSessions // the totals count visits
		if f != "" {
			src = marketing.StatsFields[f]
		}
		bySource[src] = append(bySource[src], f)
	}
	type seenKey struct {
		field          int
		day            int64
		value, visitor string
	}
	// The sources are read at once: the page waits for the slower read,
	// not for both.
	sources := []string{marketing.StatsSessions, marketing.StatsEvents}
	rows := make([][]marketing.StatsRow, len(sources))
	errs := make([]error, len(sources))
	keys := make([][]int, len(sources)) // each field's key in a row; -1: the totals
	var wg sync.WaitGroup
	for j, src := range sources {
		fs := bySource[src]
		if len(fs) == 0 {
			continue
		}
		p := &marketing.StatsPlan{Source: src, PropertyID: property, From: from.UTC(), To: to.UTC(), Bucket: bucket("day", from, to, loc)}
		keys[j] = make([]int, len(fs))
		for i, f := range fs {
			keys[j][i] = -1
			if f != "" {
				keys[j][i] = len(p.GroupBy)
				p.GroupBy = append(p.GroupBy, marketing.StatsGroup{Field: f})
			}
		}
		p.GroupBy = append(p.GroupBy, marketing.StatsGroup{Field: marketing.StatsVisitorField})
		wg.Go(func() { rows[j], errs[j] = st.StatsAggregate(ctx, p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for j, src := range sources {
		fs := bySource[src]
		seen := map[seenKey]bool{} // visitor counted → counted as converting
		for _, r := range rows[j] {
			visitor := r.Keys[len(r.Keys)-1]
			for i, f := range fs {
				k := dayValue{day: r.Bucket}
				if keys[j][i] >= 0 {
					k.value = r.Keys[keys[j][i]]
				}
				t := out[f][k]
				if t == nil {
					t = &tally{days: 1}
					out[f][k] = t
				}
				t.addCounts(&r.StatsCounts)
				sk := seenKey{i, k.day, k.value, visitor}
				conv, counted := seen[sk]
				if !counted {
					t.c.Visitors++
					t.vis.Add(visitor)
				}
				if !conv && r.ConvertingVisitors > 0 {
					t.c.ConvertingVisitors++
					t.conv.Add(visitor)
					conv = true
				}
				seen[sk] = conv
			}
		}
	}
	return out, nil
}

// Reads lets the queries of one page share their reads. The first query
// that needs the raw rows of the days not rolled up yet (today, and
// yesterday until its rollups are made) counts every rollup field of them
// at once, in one read per source, and the page's other queries take their
// field's counts from it; two queries that ask the rollups for the same
// field, range and buckets, or the raw rows for the same plan (a breakdown
// and its conversions tab), read them once. A Reads lives for one page
// load, never longer (every event moves the counts), and is safe for
// concurrent queries; what it hands out is read only. Its queries share
// one context (the request's): a read runs under the context of the query
// that asked first, and its error, a cancellation too, answers them all.
// The zero value is ready to use.
type Reads struct {
	mu sync.Mutex
	m  map[any]*read
}

type read struct {
	once sync.Once
	v    any
	err  error
}

// do answers f's value for key k, calling f once per Reads; a nil Reads
// calls f every time.
func (r *Reads) do(k any, f func() (any, error)) (any, error) {
	if r == nil {
		return f()
	}
	r.mu.Lock()
	if r.m == nil {
		r.m = map[any]*read{}
	}
	e := r.m[k]
	if e == nil {
		e = &read{}
		r.m[k] = e
	}
	r.mu.Unlock()
	e.once.Do(func() { e.v, e.err = f() })
	return e.v, e.err
}

// rawKey names a raw count of every rollup field; rollupKey a rollup
// answer.
type rawKey struct {
	property, zone string
	from, to       int64
}

type rollupKey struct {
	property, zone, field, unit string // unit "": no time buckets
	from, to                    int64
}

// rolledUp is rollupAggregate's answer.
type rolledUp struct {
	rows     []marketing.StatsRow
	ok       bool
	warnings []string
}

// rawDays counts field's values per local day of [from, to) from the raw
// rows; on a page, every rollup field at once, shared (Reads). The tallies
// are read only: callers merge them into their own.
func (q *Query) rawDays(ctx context.Context, st marketing.StatsStore, field string, from, to time.Time) (map[dayValue]*tally, error) {
	fields := []string{field}
	if q.reads != nil {
		fields = RollupFields
	}
	v, err := q.reads.do(rawKey{q.SiteID, q.loc.String(), from.Unix(), to.Unix()}, func() (any, error) {
		return countFields(ctx, st, q.SiteID, fields, from, to, q.loc)
	})
	if err != nil {
		return nil, err
	}
	return v.(map[string]map[dayValue]*tally)[field], nil
}

// BuildRollups computes one property's stats rollup rows of one day in
// loc. The totals row is always there: it marks the day as rolled up.
func BuildRollups(ctx context.Context, st marketing.StatsStore, property, day string, loc *time.Location) ([]marketing.StatsRollupRow, error) {
	from, to, err := metrics.DayBounds(day, loc)
	if err != nil {
		return nil, marketing.Errorf(marketing.EINVALID, "bad day %q", day)
	}
	rows := []marketing.StatsRollupRow{}
	counted, err := countFields(ctx, st, property, RollupFields, from, to, loc)
	if err != nil {
		return nil, err
	}
	for _, field := range RollupFields {
		m := counted[field]
		if field == "" && len(m) == 0 {
			m[dayValue{}] = &tally{days: 1}
		}
		keepTop(m, RollupTopValues)
		for k, t := range m {
			rows = append(rows, marketing.StatsRollupRow{Day: day, Field: field, Value: k.value, StatsCounts: t.c,
				VisitorSketch: t.vis.Encode(), ConvertingSketch: t.conv.Encode()})
		}
	}
	slices.SortFunc(rows, func(a, b marketing.StatsRollupRow) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.Value, b.Value))
	})
	return rows, nil
}

// keepTop keeps a day's n values with the most visitors (then page views,
// events, value) and merges the others into one RollupOther row.
func keepTop(m map[dayValue]*tally, n int) {
	if len(m) <= n {
		return
	}
	keys := make([]dayValue, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b dayValue) int {
		ta, tb := m[a].c, m[b].c
		return cmp.Or(cmp.Compare(tb.Visitors, ta.Visitors), cmp.Compare(tb.Pageviews, ta.Pageviews), cmp.Compare(tb.Events, ta.Events),
			strings.Compare(a.value, b.value))
	})
	other := m[dayValue{day: keys[0].day, value: RollupOther}]
	if other == nil {
		other = &tally{days: 1}
	}
	for _, k := range keys[n:] {
		t := m[k]
		delete(m, k)
		if k.value == RollupOther {
			continue // merged below, as it is
		}
		other.addCounts(&t.c)
		other.vis.Merge(&t.vis)
		other.conv.Merge(&t.conv)
	}
	other.c.Visitors, other.c.ConvertingVisitors = other.vis.Count(), other.conv.Count()
	m[dayValue{day: keys[0].day, value: RollupOther}] = other
}

// rollupField says whether the rollups can answer the query's counts, and
// for which field: no filter, at most one dimension besides time that the
// rollups count, whole local days, and time buckets of days or longer.
func (q *Query) rollupField() (string, bool) {
	if q.filter != nil || len(q.groups) > 1 || !isMidnight(q.from.In(q.loc)) || !isMidnight(q.to.In(q.loc)) {
		return "", false
	}
	if q.timeDim >= 0 && q.unit != "day" && q.unit != "week" && q.unit != "month" {
		return "", false
	}
	if q.Include.Comparisons != nil && (!isMidnight(q.cmpFrom.In(q.loc)) || !isMidnight(q.cmpTo.In(q.loc))) {
		return "", false
	}
	if len(q.groups) == 0 {
		return "", true
	}
	g := q.groups[0]
	return g.Field, g.Key == "" && slices.Contains(RollupFields, g.Field)
}

// epochDay is a YYYY-MM-DD date's number of days since 1970-01-01.
func epochDay(day string) (int64, bool) {
	t, err := time.Parse(time.DateOnly, day)
	return t.Unix() / 86400, err == nil
}

// rollupAggregate answers the counts of [from, to) (local midnights) from
// the days rolled up in the query's zone, and counts the other days (today,
// days not rolled up yet) from raw rows the same way. ok is false when no
// day of the range is rolled up: the raw plan answers exactly then.
func (q *Query) rollupAggregate(ctx context.Context, st marketing.StatsStore, field string, from, to time.Time) ([]marketing.StatsRow, bool, error) {
	k := rollupKey{property: q.SiteID, zone: q.loc.String(), field: field, from: from.Unix(), to: to.Unix()}
	if q.timeDim >= 0 {
		k.unit = q.unit
	}
	v, err := q.reads.do(k, func() (any, error) { return q.readRollups(ctx, st, field, from, to) })
	if err != nil {
		return nil, false, err
	}
	r := v.(*rolledUp)
	q.warnings = append(q.warnings, r.warnings...)
	return r.rows, r.ok, nil
}

// readRollups is rollupAggregate's read. It never touches q's own state:
// its answer may serve another query of the page.
func (q *Query) readRollups(ctx context.Context, st marketing.StatsStore, field string, from, to time.Time) (*rolledUp, error) {
	first := from.In(q.loc).Format(time.DateOnly)
	last := to.Add(-time.Second).In(q.loc).Format(time.DateOnly)
	zone := q.loc.String()
	groups := map[dayValue]*tally{} // by value and bucket
	group := func(day int64, value string) *tally {
		b := int64(0)
		if q.timeDim >= 0 {
			b = marketing.StatsBucketKey(q.unit, day*86400)
		}
		k := dayValue{day: b, value: value}
		g := groups[k]
		if g == nil {
			g = &tally{}
			groups[k] = g
		}
		return g
	}
	// Rows are merged into their group as they stream in: memory holds the
	// groups (a page of values), never the range's rows and their sketches.
	rolled := map[int64]bool{}
	var elsewhere []string // days rolled up in another zone, past the raw window
	err := st.StatsRollups(ctx, q.SiteID, zone, first, last, field, func(r *marketing.StatsRollupRow) error {
		d, ok := epochDay(r.Day)
		switch {
		case !ok:
			return nil
		case r.Field == "" && r.TimeZone == zone:
			rolled[d] = true
		case r.Field == "" && r.Day < q.rawFirst:
			elsewhere = append(elsewhere, r.Day+" ("+r.TimeZone+")")
		}
		if r.Field != field || r.TimeZone != zone {
			return nil
		}
		g := group(d, r.Value)
		g.addCounts(&r.StatsCounts)
		g.days++
		g.exact, g.exactConv = r.Visitors, r.ConvertingVisitors
		if len(r.VisitorSketch) == 0 && r.Visitors > 0 {
			// Past the raw window a day keeps counts only.
			g.summed += r.Visitors
			if len(r.ConvertingSketch) == 0 {
				g.summedConv += r.ConvertingVisitors
			}
			return nil
		}
		if err := g.vis.MergeEncoded(r.VisitorSketch); err != nil {
			return err
		}
		return g.conv.MergeEncoded(r.ConvertingSketch)
	})
	if err != nil {
		return nil, err
	}
	res := &rolledUp{}
	if len(elsewhere) > 0 {
		slices.Sort(elsewhere)
		res.warnings = append(res.warnings, fmt.Sprintf("%d days were rolled up in another time zone than %s and their raw events are purged: they are left out, never mixed in (%s)",
			len(elsewhere), zone, strings.Join(elsewhere, ", ")))
	}
	if len(rolled) == 0 {
		return res, nil
	}
	// The days not rolled up, in runs of consecutive days, from raw rows.
	firstDay, _ := epochDay(first)
	lastDay, _ := epochDay(last)
	for d := firstDay; d <= lastDay; {
		if rolled[d] {
			d++
			continue
		}
		end := d
		for end+1 <= lastDay && !rolled[end+1] {
			end++
		}
		a := time.Unix(d*86400, 0).UTC()
		b := time.Unix((end+1)*86400, 0).UTC()
		live, err := q.rawDays(ctx, st, field,
			time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, q.loc), time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, q.loc))
		if err != nil {
			return nil, err
		}
		for k, t := range live {
			group(k.day, k.value).merge(t)
		}
		d = end + 1
	}
	for _, g := range groups {
		if g.days > 1 && g.summed > 0 { // days without sketches added up
			res.warnings = append(res.warnings, "visitors of days past the raw window (RETENTION_EVENT_DAYS) are each day's visitors added up: "+
				"those days keep counts only, so a visitor who came back on another of them counts again")
			break
		}
	}
	res.ok = true
	res.rows = make([]marketing.StatsRow, 0, len(groups))
	for k, g := range groups {
		row := marketing.StatsRow{Keys: []string{}, Bucket: k.day, StatsCounts: g.counts()}
		if field != "" {
			row.Keys = []string{k.value}
		}
		res.rows = append(res.rows, row)
	}
	return res, nil
}
