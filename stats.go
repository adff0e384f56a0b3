package marketing

import (
	"context"
	"time"
)

// StatsStore answers the stats engine's (internal/stats) aggregate queries
// over raw events and materialised sessions. A StatsPlan names fields, not
// columns: each store maps the allowlisted field names of StatsFields to its
// own column expressions and binds every value, so no user text reaches SQL.
type StatsStore interface {
	// StatsAggregate groups the plan's source rows in [From, To) by its
	// GroupBy fields (and time bucket) and returns the counts of
	// StatsCounts for each group (one row with no Keys when ungrouped).
	StatsAggregate(ctx context.Context, p *StatsPlan) ([]StatsRow, error)
	// StatsValues returns the measurements (StatsVitals columns) of the
	// plan's matching events that carry any, one row per event with its
	// group keys, so percentiles are computed by the same Go code on every
	// store. One read serves every vital asked for.
	StatsValues(ctx context.Context, p *StatsPlan, vitals []string) ([]StatsValue, error)
	// StatsNewLeads counts leads first captured in [From, To) on the plan's
	// property, per time bucket when the plan has one.
	StatsNewLeads(ctx context.Context, p *StatsPlan) ([]StatsRow, error)

	// SaveStatsRollups replaces one property's stats rollups of one day
	// (in any zone) with rows counted in zone.
	SaveStatsRollups(ctx context.Context, property, zone, day string, rows []StatsRollupRow) error
	// StatsRollups calls fn with each of a property's rollup rows of the
	// days from..to (inclusive, YYYY-MM-DD): the totals (field "") in every
	// zone, and field's counted in zone. The totals row of a day says the
	// day was rolled up, and in which zone. The row is reused between calls.
	StatsRollups(ctx context.Context, property, zone, from, to, field string, fn func(*StatsRollupRow) error) error
	// StatsRollupsFirstDay is the oldest day with stats rollups ("" none)
	// and the oldest event's time (zero: no event).
	StatsRollupsFirstDay(ctx context.Context) (day string, oldestEvent time.Time, err error)
}

// StatsVisitorField groups a plan by visitor id. The engine alone uses it
// (rollups count distinct visitors with sketches of these rows); it is not
// in StatsFields, so no query can name it.
const StatsVisitorField = "visitor_id"

// StatsRollupRow is one day's counts of one value of one field (Field ""
// and Value "": the day's totals), with sketches of its visitors and
// converting visitors (internal/metrics) so that days merge into windows.
// Visitors and ConvertingVisitors are the day's exact counts.
type StatsRollupRow struct {
	Day          string // YYYY-MM-DD in TimeZone
	TimeZone     string
	Field, Value string
	StatsCounts
	VisitorSketch, ConvertingSketch []byte
}

// Stats sources: the table a plan aggregates.
const (
	StatsEvents   = "events"   // one row per event, in [From, To) by occurred_at
	StatsSessions = "sessions" // one row per session, in [From, To) by started_at
)

// StatsFields maps each field a plan may group or filter by to the source
// it belongs to. The names are the engine's; each store maps them to its
// columns. "props" is the event props object, keyed by StatsFilter.Key.
var StatsFields = map[string]string{
	"path":           StatsEvents,
	"event_type":     StatsEvents,
	"props":          StatsEvents,
	"landing_path":   StatsSessions,
	"exit_path":      StatsSessions,
	"referrer_host":  StatsSessions,
	"traffic_source": StatsSessions,
	"channel":        StatsSessions,
	"utm_source":     StatsSessions,
	"utm_medium":     StatsSessions,
	"utm_campaign":   StatsSessions,
	"utm_term":       StatsSessions,
	"utm_content":    StatsSessions,
	"device_type":    StatsSessions,
	"browser":        StatsSessions,
	"os":             StatsSessions,
	"country_code":   StatsSessions,
}

// StatsVitals are the event measurement columns StatsValues reads.
var StatsVitals = []string{"lcp_ms", "inp_ms", "cls", "fcp_ms", "ttfb_ms"}

// StatsPlan is one aggregate query over one source, built and validated by
// internal/stats.
type StatsPlan struct {
	Source     string // StatsEvents or StatsSessions
	PropertyID string
	From, To   time.Time // UTC, [From, To)
	Filter     *StatsFilter
	GroupBy    []StatsGroup
	Bucket     *StatsBucket // nil: no time grouping
}

// StatsGroup is one grouping field; Key names the props key for "props".
type StatsGroup struct {
	Field string
	Key   string
}

// Filter operators of StatsFilter. Leaves compare a field with Values (any
// one matching: several values mean "any"); And, Or and Not combine
// Children. Contains is a case-insensitive substring match; Matches a
// regular expression (PostgreSQL's ~, SQLite's regexp()).
const (
	OpAnd         = "and"
	OpOr          = "or"
	OpNot         = "not"
	OpIs          = "is"
	OpIsNot       = "is_not"
	OpContains    = "contains"
	OpContainsNot = "contains_not"
	OpMatches     = "matches"
	OpMatchesNot  = "matches_not"
)

// StatsFilter is a node of a filter tree. A leaf on a field of the other
// source matches the rows linked to a matching row of that source: a
// session that contains a matching event (same visitor and property,
// occurred between its start and end), or an event inside a matching
// session. A missing value ("" or NULL) is the empty string.
type StatsFilter struct {
	Op       string
	Field    string
	Key      string // props key
	Values   []string
	Children []StatsFilter
}

// StatsBucket groups rows by a unit of local time in a report zone. The
// zone is given as its UTC offsets: Offsets[i] applies from its At (the
// first one from the beginning of time) until the next one's, so stores do
// offset arithmetic and never need time zone data.
type StatsBucket struct {
	Unit    string // minute, hour, day, week (Monday), month
	Offsets []StatsOffset
}

// StatsOffset is a zone's offset from UTC from At on.
type StatsOffset struct {
	At      time.Time
	Seconds int
}

// StatsCounts are the additive and distinct counts a group aggregates to.
// Which are filled depends on the source: events fill Visitors,
// ConvertingVisitors, Pageviews, Events and Conversions; sessions fill
// everything but Conversions (Events is the sum of their event counts).
type StatsCounts struct {
	Visitors           int64 // distinct visitor ids
	ConvertingVisitors int64 // distinct visitor ids with a conversion
	Visits             int64 // sessions
	Pageviews          int64
	Events             int64
	Conversions        int64 // conversion events
	Bounces            int64
	DurationMs         int64 // sum of session durations
	Leads              int64 // StatsNewLeads only
}

// StatsRow is one group: the values of the plan's GroupBy fields (missing
// values as ""), its bucket key (see StatsBucketKey) and its counts.
type StatsRow struct {
	Keys   []string
	Bucket int64
	StatsCounts
}

// StatsValue is one measurement with its group.
type StatsValue struct {
	Keys   []string
	Bucket int64
	Values []*float64 // one per vital asked for; nil: not measured
}

// StatsBucketKey is a bucket's key as stores compute it from local time
// (UTC time plus the zone offset, in seconds since the epoch): the number
// of whole minutes, hours or days since the epoch, the number of Monday
// weeks ((days + 3) / 7: 1970-01-01 was a Thursday), or year*12 + month-1.
func StatsBucketKey(unit string, local int64) int64 {
	switch unit {
	case "minute":
		return local / 60
	case "hour":
		return local / 3600
	case "day":
		return local / 86400
	case "week":
		return (local/86400 + 3) / 7
	default:
		t := time.Unix(local, 0).UTC()
		return int64(t.Year())*12 + int64(t.Month()) - 1
	}
}

// StatsOffsetAt returns the offset in effect at t.
func (b *StatsBucket) StatsOffsetAt(t time.Time) int {
	off := 0
	for _, o := range b.Offsets {
		if !t.Before(o.At) {
			off = o.Seconds
		}
	}
	return off
}
