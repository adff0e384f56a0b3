package stats

import (
	"fmt"
	"time"

	"github.com/altcontext/marketing"
)

// bucket describes the report zone's offsets over [from, to) for stores.
func bucket(unit string, from, to time.Time, loc *time.Location) *marketing.StatsBucket {
	t := from.In(loc)
	_, off := t.Zone()
	b := &marketing.StatsBucket{Unit: unit, Offsets: []marketing.StatsOffset{{At: from.UTC(), Seconds: off}}}
	for range 64 {
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		t = end.In(loc)
		_, off = t.Zone()
		b.Offsets = append(b.Offsets, marketing.StatsOffset{At: end.UTC(), Seconds: off})
	}
	return b
}

// localKey is the bucket key of instant t.
func localKey(unit string, t time.Time, loc *time.Location) int64 {
	_, off := t.In(loc).Zone()
	return marketing.StatsBucketKey(unit, t.Unix()+int64(off))
}

// bucketKeys lists every bucket of [from, to), empty ones included.
func bucketKeys(unit string, from, to time.Time, loc *time.Location) []int64 {
	first, last := localKey(unit, from, loc), localKey(unit, to.Add(-time.Second), loc)
	if last-first >= MaxBuckets*4 {
		return make([]int64, last-first+1) // only the count matters: refused
	}
	out := make([]int64, 0, last-first+1)
	for k := first; k <= last; k++ {
		out = append(out, k)
	}
	return out
}

// label is a bucket's time label, in Plausible's formats (weeks by their
// Monday, months by their first day).
func label(unit string, k int64) string {
	switch unit {
	case "minute":
		return time.Unix(k*60, 0).UTC().Format("2006-01-02 15:04:00")
	case "hour":
		return time.Unix(k*3600, 0).UTC().Format("2006-01-02 15:00:00")
	case "day":
		return time.Unix(k*86400, 0).UTC().Format(time.DateOnly)
	case "week":
		return time.Unix((k*7-3)*86400, 0).UTC().Format(time.DateOnly)
	}
	return fmt.Sprintf("%04d-%02d-01", k/12, k%12+1)
}

// comparisonRange resolves the comparison's range: the period just before
// (as many days, or as long for datetimes), the same dates a year before,
// or the custom range; match_day_of_week then moves it back 0..6 days so
// that it starts on the same weekday as the main range.
func (q *Query) comparisonRange(c *Comparison) {
	from, to := q.from.In(q.loc), q.to.In(q.loc)
	switch c.Mode {
	case "previous_period":
		if isMidnight(from) && isMidnight(to) {
			days := daysBetween(from, to)
			q.cmpFrom, q.cmpTo = from.AddDate(0, 0, -days), from
		} else {
			q.cmpFrom, q.cmpTo = from.Add(-to.Sub(from)), from
		}
	case "year_over_year":
		q.cmpFrom, q.cmpTo = from.AddDate(-1, 0, 0), to.AddDate(-1, 0, 0)
	}
	if c.MatchDayOfWeek {
		cf := q.cmpFrom.In(q.loc)
		shift := (int(cf.Weekday()) - int(from.Weekday()) + 7) % 7
		q.cmpFrom = cf.AddDate(0, 0, -shift)
		q.cmpTo = q.cmpTo.In(q.loc).AddDate(0, 0, -shift)
	}
	q.Comparison = &DateInterval{q.cmpFrom.In(q.loc).Format(time.RFC3339), q.cmpTo.Add(-time.Second).In(q.loc).Format(time.RFC3339)}
}

func isMidnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// daysBetween counts calendar days (DST days have 23 or 25 hours).
func daysBetween(a, b time.Time) int {
	ua := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	ub := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	return int(ub.Sub(ua).Hours() / 24)
}
