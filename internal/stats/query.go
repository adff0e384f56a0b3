// Package stats is the one query engine behind POST /v1/stats/query, the
// realtime view and the dashboard (internal/dashboard): it decodes and validates a
// Plausible Stats API v2 request, plans it over the event log and the
// derived sessions (marketing.StatsStore), and computes every metric in Go
// from the stores' counts, so PostgreSQL and SQLite answer alike.
// docs/metrics.md defines each metric and dimension.
package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// Limits of a query.
const (
	MaxLimit       = 10000 // rows a page may hold
	MaxRangeDays   = 731   // days a date range may span
	MaxBuckets     = 10000 // time buckets a query may produce
	MaxFilterDepth = 8     // nesting of and/or/not
	MaxFilterNodes = 64
	MaxValues      = 100 // values of one filter
)

// Query is a validated, normalised request. Its exported fields are the
// request as the engine understood it, echoed back in the response.
type Query struct {
	SiteID     string        `json:"site_id"`
	Metrics    []string      `json:"metrics"`
	DateRange  [2]string     `json:"date_range"` // RFC 3339, both inclusive
	Dimensions []string      `json:"dimensions"`
	Filters    []any         `json:"filters"`
	OrderBy    []OrderBy     `json:"order_by"`
	Include    Include       `json:"include"`
	Pagination Pagination    `json:"pagination"`
	TimeZone   string        `json:"time_zone"`
	Comparison *DateInterval `json:"comparison_date_range,omitempty"`

	from, to     time.Time
	cmpFrom      time.Time
	cmpTo        time.Time
	loc          *time.Location
	filter       *marketing.StatsFilter
	groups       []marketing.StatsGroup // non-time dimensions, in order
	timeDim      int                    // index of the time dimension in Dimensions, or -1
	unit         string                 // bucket unit when timeDim >= 0
	source       string
	needSessions bool
	rawFirst     string   // the first local day of the raw window (YYYY-MM-DD)
	reads        *Reads   // the page's shared raw reads (nil: none)
	warnings     []string // found while answering
}

// DateInterval is a resolved range, both ends inclusive, RFC 3339.
type DateInterval [2]string

// OrderBy is one ordering: a requested metric or dimension and a direction.
type OrderBy [2]string

// Include holds the optional parts of an answer.
type Include struct {
	TimeLabels  bool        `json:"time_labels"`
	TotalRows   bool        `json:"total_rows"`
	Comparisons *Comparison `json:"comparisons,omitempty"`
}

// Comparison asks for the same query over another range.
type Comparison struct {
	Mode           string   `json:"mode"` // previous_period, year_over_year, custom
	DateRange      []string `json:"date_range,omitempty"`
	MatchDayOfWeek bool     `json:"match_day_of_week"`
}

// Pagination is a page of rows.
type Pagination struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// Env is what parsing needs besides the body.
type Env struct {
	Now      time.Time
	Location *time.Location // REPORT_TIMEZONE
	RawDays  int            // raw retention window: how far back "all" reaches
	// SiteLocation, when set, gives a site's own time zone (nil: none);
	// the query is then read and bucketed in it instead of Location.
	SiteLocation func(site string) *time.Location
	// Reads, when set, is shared by the queries of one page (Reads).
	Reads *Reads
}

// metric sources: which tables can answer a metric.
type metricDef struct {
	events, sessions bool // answerable from events / sessions
	vital            string
	leads            bool
}

var metricDefs = func() map[string]metricDef {
	m := map[string]metricDef{
		"visitors":        {events: true, sessions: true},
		"visits":          {sessions: true},
		"pageviews":       {events: true, sessions: true},
		"views_per_visit": {sessions: true},
		"bounce_rate":     {sessions: true},
		"visit_duration":  {sessions: true},
		"events":          {events: true, sessions: true},
		"conversions":     {events: true, sessions: true},
		"conversion_rate": {events: true, sessions: true},
		"leads":           {leads: true},
	}
	for _, v := range []string{"lcp", "inp", "cls", "fcp", "ttfb"} {
		col := v + "_ms"
		if v == "cls" {
			col = "cls"
		}
		for _, suffix := range []string{"", "_good", "_needs_improvement", "_poor"} {
			m[v+suffix] = metricDef{vital: col}
		}
	}
	return m
}()

// MetricNames lists the known metrics, sorted, for messages and docs.
func MetricNames() []string {
	out := make([]string, 0, len(metricDefs))
	for k := range metricDefs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// dimensionFields maps Plausible's dimension names to engine fields.
var dimensionFields = map[string]string{
	"event:page":         "path",
	"event:name":         "event_type",
	"visit:entry_page":   "landing_path",
	"visit:exit_page":    "exit_path",
	"visit:source":       "referrer_host",
	"visit:referrer":     "referrer_host",
	"visit:channel":      "channel",
	"visit:utm_source":   "utm_source",
	"visit:utm_medium":   "utm_medium",
	"visit:utm_campaign": "utm_campaign",
	"visit:utm_term":     "utm_term",
	"visit:utm_content":  "utm_content",
	"visit:device":       "device_type",
	"visit:browser":      "browser",
	"visit:os":           "os",
	"visit:country":      "country_code",
}

var timeDimensions = map[string]string{"time": "", "time:minute": "minute", "time:hour": "hour", "time:day": "day", "time:week": "week", "time:month": "month"}

const propsPrefix = "event:props:"

var propKey = regexp.MustCompile(`^[A-Za-z0-9_.:\- ]{1,64}$`)

// DimensionNames lists the known dimensions, sorted, for messages and docs.
func DimensionNames() []string {
	out := []string{propsPrefix + "<key>"}
	for k := range dimensionFields {
		out = append(out, k)
	}
	for k := range timeDimensions {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// field resolves a dimension name to its engine field.
func field(name string) (marketing.StatsGroup, bool) {
	if key, ok := strings.CutPrefix(name, propsPrefix); ok {
		return marketing.StatsGroup{Field: "props", Key: key}, propKey.MatchString(key)
	}
	f, ok := dimensionFields[name]
	return marketing.StatsGroup{Field: f}, ok
}

var dateRanges = []string{"day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all"}

// Parse decodes and validates a request body. Every problem is reported as
// an Issue naming the field and what is allowed; the error is a
// *marketing.ValidationError.
func Parse(body []byte, env Env) (*Query, error) {
	is := marketing.NewIssues()
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		is.Add("", "the body must be a JSON object (Plausible Stats API v2 query)")
		return nil, is.Err()
	}
	if dec.More() {
		is.Add("", "the body must hold one JSON object")
		return nil, is.Err()
	}
	q := &Query{timeDim: -1, loc: env.Location, TimeZone: env.Location.String(), reads: env.Reads}
	known := map[string]bool{"site_id": true, "metrics": true, "date_range": true, "dimensions": true, "filters": true, "order_by": true, "include": true, "pagination": true}
	for k := range raw {
		if !known[k] {
			is.Add(k, "unknown field; allowed: site_id, metrics, date_range, dimensions, filters, order_by, include, pagination")
		}
	}
	if !str(is, raw, "site_id", &q.SiteID) || q.SiteID == "" {
		if _, ok := raw["site_id"]; !ok || q.SiteID == "" {
			is.Add("site_id", "is required: the property id")
		}
	} else if len(q.SiteID) > 128 || !marketing.Storable(q.SiteID) {
		is.Add("site_id", "must be at most 128 characters without NUL")
	}
	if env.SiteLocation != nil && q.SiteID != "" {
		if loc := env.SiteLocation(q.SiteID); loc != nil {
			env.Location, q.loc, q.TimeZone = loc, loc, loc.String()
		}
	}
	now := env.Now.In(env.Location)
	q.rawFirst = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, env.Location).AddDate(0, 0, 1-max(env.RawDays, 1)).Format(time.DateOnly)
	q.parseMetrics(is.At("metrics"), raw["metrics"])
	q.parseDimensions(is.At("dimensions"), raw["dimensions"])
	q.parseDateRange(is.At("date_range"), raw["date_range"], env)
	q.parseFilters(is.At("filters"), raw["filters"])
	q.parseInclude(is.At("include"), raw["include"], env)
	q.parsePagination(is.At("pagination"), raw["pagination"])
	q.parseOrderBy(is.At("order_by"), raw["order_by"])
	if len(is.List()) == 0 {
		q.plan(is)
	}
	// Echo lists as lists, never null.
	if q.Dimensions == nil {
		q.Dimensions = []string{}
	}
	if q.Filters == nil {
		q.Filters = []any{}
	}
	if q.OrderBy == nil {
		q.OrderBy = []OrderBy{}
	}
	if err := is.Err(); err != nil {
		return nil, err
	}
	return q, nil
}

func str(is marketing.Issues, raw map[string]json.RawMessage, name string, into *string) bool {
	v, ok := raw[name]
	if !ok {
		return false
	}
	if err := json.Unmarshal(v, into); err != nil {
		is.Add(name, "must be a string")
		return false
	}
	return true
}

func (q *Query) parseMetrics(is marketing.Issues, raw json.RawMessage) {
	if raw == nil {
		is.Add("", "is required: a list of metrics, e.g. [\"visitors\"]")
		return
	}
	if err := json.Unmarshal(raw, &q.Metrics); err != nil {
		is.Add("", "must be a list of metric names")
		return
	}
	if len(q.Metrics) == 0 {
		is.Add("", "must name at least one metric")
	}
	seen := map[string]bool{}
	for i, m := range q.Metrics {
		if _, ok := metricDefs[m]; !ok {
			is.AtIndex(i).Add("", fmt.Sprintf("unknown metric %q; allowed: %s", m, strings.Join(MetricNames(), ", ")))
		} else if seen[m] {
			is.AtIndex(i).Add("", fmt.Sprintf("metric %q is listed twice", m))
		}
		seen[m] = true
	}
}

func (q *Query) parseDimensions(is marketing.Issues, raw json.RawMessage) {
	if raw == nil {
		return
	}
	if err := json.Unmarshal(raw, &q.Dimensions); err != nil {
		is.Add("", "must be a list of dimension names")
		return
	}
	seen := map[string]bool{}
	for i, d := range q.Dimensions {
		if seen[d] {
			is.AtIndex(i).Add("", fmt.Sprintf("dimension %q is listed twice", d))
			continue
		}
		seen[d] = true
		if unit, ok := timeDimensions[d]; ok {
			if q.timeDim >= 0 {
				is.AtIndex(i).Add("", "at most one time dimension")
			}
			q.timeDim, q.unit = i, unit
			continue
		}
		g, ok := field(d)
		if !ok {
			if strings.HasPrefix(d, propsPrefix) {
				is.AtIndex(i).Add("", "a props key is 1..64 letters, digits, spaces or _.:-")
			} else {
				is.AtIndex(i).Add("", fmt.Sprintf("unknown dimension %q; allowed: %s", d, strings.Join(DimensionNames(), ", ")))
			}
			continue
		}
		q.groups = append(q.groups, g)
	}
	if len(q.groups) > 2 {
		is.Add("", "at most two dimensions besides time")
	}
}

// parseDateRange resolves date_range to [from, to) in the report zone.
func (q *Query) parseDateRange(is marketing.Issues, raw json.RawMessage, env Env) {
	if raw == nil {
		is.Add("", "is required: one of "+strings.Join(dateRanges, ", ")+", or two ISO 8601 dates or datetimes")
		return
	}
	from, to, ok := resolveRange(is, raw, env)
	if !ok {
		return
	}
	if !from.Before(to) {
		is.Add("", "the first date must not be after the second")
		return
	}
	if to.Sub(from) > time.Duration(MaxRangeDays)*24*time.Hour+time.Hour {
		is.Add("", fmt.Sprintf("spans %d days; at most %d", int(to.Sub(from).Hours()/24), MaxRangeDays))
		return
	}
	q.from, q.to = from, to
	q.DateRange = [2]string{from.In(q.loc).Format(time.RFC3339), to.Add(-time.Second).In(q.loc).Format(time.RFC3339)}
}

func resolveRange(is marketing.Issues, raw json.RawMessage, env Env) (from, to time.Time, ok bool) {
	loc := env.Location
	now := env.Now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	tomorrow := today.AddDate(0, 0, 1)
	var name string
	if json.Unmarshal(raw, &name) == nil {
		switch name {
		case "day":
			return today, tomorrow, true
		case "7d", "28d", "30d", "91d":
			var n int
			fmt.Sscanf(name, "%dd", &n)
			return today.AddDate(0, 0, 1-n), tomorrow, true
		case "month":
			return today.AddDate(0, 0, 1-today.Day()), tomorrow, true
		case "6mo", "12mo":
			n := 6
			if name == "12mo" {
				n = 12
			}
			return today.AddDate(0, 0, 1-today.Day()).AddDate(0, 1-n, 0), tomorrow, true
		case "year":
			return time.Date(now.Year(), 1, 1, 0, 0, 0, 0, loc), tomorrow, true
		case "all":
			return today.AddDate(0, 0, 1-max(env.RawDays, 1)), tomorrow, true
		}
		is.Add("", fmt.Sprintf("unknown range %q; allowed: %s, or two ISO 8601 dates or datetimes", name, strings.Join(dateRanges, ", ")))
		return from, to, false
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		is.Add("", "must be one of "+strings.Join(dateRanges, ", ")+", or a list of two ISO 8601 dates or datetimes")
		return from, to, false
	}
	var ends [2]time.Time
	for i, v := range pair {
		if d, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			if i == 1 {
				d = d.AddDate(0, 0, 1) // a date includes its whole day
			}
			ends[i] = d
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			is.AtIndex(i).Add("", "must be a date (YYYY-MM-DD) or an RFC 3339 datetime with offset")
			return from, to, false
		}
		if i == 1 {
			t = t.Add(time.Second) // an end datetime is inclusive to the second
		}
		ends[i] = t
	}
	return ends[0], ends[1], true
}

func (q *Query) parseInclude(is marketing.Issues, raw json.RawMessage, env Env) {
	if raw == nil {
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		is.Add("", "must be an object with time_labels, total_rows, comparisons")
		return
	}
	for k, v := range m {
		switch k {
		case "time_labels", "total_rows":
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				is.Add(k, "must be true or false")
			}
			if k == "time_labels" {
				q.Include.TimeLabels = b
			} else {
				q.Include.TotalRows = b
			}
		case "comparisons":
			q.parseComparison(is.At(k), v, env)
		case "imports":
			// Plausible's imported data: there is none here; accepted for its clients.
		default:
			is.Add(k, "unknown include; allowed: time_labels, total_rows, comparisons")
		}
	}
}

func (q *Query) parseComparison(is marketing.Issues, raw json.RawMessage, env Env) {
	if string(raw) == "null" {
		return
	}
	var c struct {
		Mode           *string         `json:"mode"`
		DateRange      json.RawMessage `json:"date_range"`
		MatchDayOfWeek *bool           `json:"match_day_of_week"`
		Extra          map[string]any  `json:"-"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		is.Add("", "must be an object: mode (previous_period, year_over_year, custom), date_range (custom only), match_day_of_week")
		return
	}
	cmp := &Comparison{}
	if c.Mode != nil {
		cmp.Mode = *c.Mode
	}
	if c.MatchDayOfWeek != nil {
		cmp.MatchDayOfWeek = *c.MatchDayOfWeek
	}
	switch cmp.Mode {
	case "previous_period", "year_over_year":
		if c.DateRange != nil {
			is.Add("date_range", "only with mode custom")
		}
	case "custom":
		if c.DateRange == nil {
			is.Add("date_range", "is required with mode custom: two ISO 8601 dates or datetimes")
			break
		}
		from, to, ok := resolveRange(is.At("date_range"), c.DateRange, env)
		if !ok {
			break
		}
		if !from.Before(to) || to.Sub(from) > time.Duration(MaxRangeDays)*24*time.Hour+time.Hour {
			is.Add("date_range", fmt.Sprintf("must be an ordered range of at most %d days", MaxRangeDays))
			break
		}
		q.cmpFrom, q.cmpTo = from, to
		cmp.DateRange = []string{from.In(env.Location).Format(time.RFC3339), to.Add(-time.Second).In(env.Location).Format(time.RFC3339)}
	default:
		is.Add("mode", "must be previous_period, year_over_year or custom")
	}
	q.Include.Comparisons = cmp
}

func (q *Query) parsePagination(is marketing.Issues, raw json.RawMessage) {
	q.Pagination = Pagination{Limit: MaxLimit}
	if raw == nil {
		return
	}
	var p struct {
		Limit  *json.Number `json:"limit"`
		Offset *json.Number `json:"offset"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		is.Add("", "must be an object: limit (1..10000), offset (≥ 0)")
		return
	}
	if p.Limit != nil {
		n, err := p.Limit.Int64()
		if err != nil || n < 1 || n > MaxLimit {
			is.Add("limit", fmt.Sprintf("must be an integer from 1 to %d", MaxLimit))
		} else {
			q.Pagination.Limit = int(n)
		}
	}
	if p.Offset != nil {
		n, err := p.Offset.Int64()
		if err != nil || n < 0 || n > 1<<30 {
			is.Add("offset", "must be a non-negative integer")
		} else {
			q.Pagination.Offset = int(n)
		}
	}
}

func (q *Query) parseOrderBy(is marketing.Issues, raw json.RawMessage) {
	if raw == nil {
		return
	}
	var list [][]string
	if err := json.Unmarshal(raw, &list); err != nil {
		is.Add("", `must be a list of [name, "asc" | "desc"] pairs`)
		return
	}
	for i, o := range list {
		if len(o) != 2 || (o[1] != "asc" && o[1] != "desc") {
			is.AtIndex(i).Add("", `must be [name, "asc" | "desc"]`)
			continue
		}
		if !slices.Contains(q.Metrics, o[0]) && !slices.Contains(q.Dimensions, o[0]) {
			is.AtIndex(i).Add("", fmt.Sprintf("%q is neither a requested metric nor a requested dimension", o[0]))
			continue
		}
		q.OrderBy = append(q.OrderBy, OrderBy{o[0], o[1]})
	}
}

// plan checks that the metrics and dimensions go together and picks the
// source: events when an event dimension is asked for, else sessions.
func (q *Query) plan(is marketing.Issues) {
	q.source = marketing.StatsSessions
	var eventDims, visitDims []string
	for i, d := range q.Dimensions {
		if i == q.timeDim {
			continue
		}
		g, _ := field(d)
		if marketing.StatsFields[g.Field] == marketing.StatsEvents {
			eventDims = append(eventDims, d)
		} else {
			visitDims = append(visitDims, d)
		}
	}
	if len(eventDims) > 0 && len(visitDims) > 0 {
		is.At("dimensions").Add("", fmt.Sprintf("event dimensions (%s) and visit dimensions (%s) cannot be combined; filter on one and group by the other",
			strings.Join(eventDims, ", "), strings.Join(visitDims, ", ")))
		return
	}
	if len(eventDims) > 0 {
		q.source = marketing.StatsEvents
	}
	for i, m := range q.Metrics {
		d := metricDefs[m]
		switch {
		case d.leads && (len(eventDims)+len(visitDims) > 0 || q.filter != nil):
			is.At("metrics").AtIndex(i).Add("", "leads counts new leads per property: it takes no dimension but time and no filter")
		case d.vital != "" && len(visitDims) > 0:
			is.At("metrics").AtIndex(i).Add("", fmt.Sprintf("%s is measured per event: it cannot be broken down by visit dimensions (%s)", m, strings.Join(visitDims, ", ")))
		case !d.events && !d.leads && d.vital == "" && len(eventDims) > 0:
			is.At("metrics").AtIndex(i).Add("", fmt.Sprintf("%s is a visit metric: it cannot be broken down by event dimensions (%s); filter on them instead", m, strings.Join(eventDims, ", ")))
		}
		if d.sessions && q.source == marketing.StatsSessions {
			q.needSessions = true
		}
	}
	if q.timeDim >= 0 {
		if q.unit == "" {
			q.unit = autoUnit(q.from, q.to)
		}
		if n := len(bucketKeys(q.unit, q.from, q.to, q.loc)); n > MaxBuckets {
			is.At("dimensions").AtIndex(q.timeDim).Add("", fmt.Sprintf("%s over this range makes %d buckets; at most %d", q.Dimensions[q.timeDim], n, MaxBuckets))
		}
	} else if q.Include.TimeLabels {
		is.At("include.time_labels").Add("", "needs a time dimension")
	}
	if c := q.Include.Comparisons; c != nil {
		q.comparisonRange(c)
	}
}

// autoUnit is the bucket of the plain "time" dimension: hours for up to
// two days, days for up to 92, months beyond.
func autoUnit(from, to time.Time) string {
	switch d := to.Sub(from); {
	case d <= 49*time.Hour:
		return "hour"
	case d <= 93*24*time.Hour:
		return "day"
	}
	return "month"
}
