package dashboard

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/altcontext/marketing"
)

// State is a view's whole state, held in the URL's query so a link
// reproduces the view:
//
//	period   day, 7d, 30d, month, 6mo, 12mo, year, all, or custom with from, to (YYYY-MM-DD)
//	compare  previous_period or year_over_year (absent: no comparison)
//	f        a filter, repeatable: <key>:<op>:<value>, op is, is_not or contains;
//	         several f with the same key and op are one filter with several values
//	metric   the graph's metric; interval: hour, day, week or month
type State struct {
	Period   string
	From, To string
	Compare  string
	Filters  []Filter
	// Locked are a shared link's filters: applied before Filters, shown,
	// never in the URL and never removable.
	Locked   []Filter
	Metric   string
	Interval string
}

// Filter is one filter of the view: a dimension key, an operator and the
// values any of which match (is, contains) or none of which (is_not).
type Filter struct {
	Key    string
	Op     string
	Values []string
}

// Periods are the date presets, with their keyboard shortcut.
var Periods = []struct{ ID, Label, Key string }{
	{"day", "Today", "d"},
	{"7d", "Last 7 days", "7"},
	{"30d", "Last 30 days", "3"},
	{"month", "Month to date", "m"},
	{"6mo", "Last 6 months", "6"},
	{"12mo", "Last 12 months", "1"},
	{"year", "Year to date", "y"},
	{"all", "All stored", "a"},
}

// filterKeys maps the URL's short filter keys to the engine's dimensions
// (a shared link's filter names the same keys).
var filterKeys = marketing.ShareFilterKeys

// FilterKeyLabels names the filter keys for the filter editor, in order.
var FilterKeyLabels = []struct{ Key, Label string }{
	{"page", "Page"}, {"entry", "Entry page"}, {"exit", "Exit page"}, {"source", "Source"}, {"channel", "Channel"},
	{"utm_source", "UTM source"}, {"utm_medium", "UTM medium"}, {"utm_campaign", "UTM campaign"},
	{"utm_term", "UTM term"}, {"utm_content", "UTM content"},
	{"device", "Device"}, {"browser", "Browser"}, {"os", "OS"}, {"country", "Country"},
}

var filterOps = map[string]string{"is": "is", "is_not": "is not", "contains": "contains"}

// GraphMetrics are the metrics the graph can show, in the chooser's order.
var GraphMetrics = []struct{ ID, Label string }{
	{"visitors", "Visitors"}, {"visits", "Visits"}, {"pageviews", "Page views"},
	{"views_per_visit", "Views per visit"}, {"bounce_rate", "Bounce rate"},
	{"visit_duration", "Visit duration"}, {"conversion_rate", "Conversion rate"},
}

var dateOnly = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// ParseState reads a view's state from a query, dropping what it does
// not know (a stale or hand-edited link still opens).
func ParseState(q url.Values) State {
	s := State{Period: "30d"}
	p := q.Get("period")
	switch {
	case p == "custom" && dateOnly.MatchString(q.Get("from")) && dateOnly.MatchString(q.Get("to")) && q.Get("from") <= q.Get("to"):
		s.Period, s.From, s.To = p, q.Get("from"), q.Get("to")
	case slices.ContainsFunc(Periods, func(x struct{ ID, Label, Key string }) bool { return x.ID == p }):
		s.Period = p
	}
	if c := q.Get("compare"); c == "previous_period" || c == "year_over_year" {
		s.Compare = c
	}
	if m := q.Get("metric"); slices.ContainsFunc(GraphMetrics, func(x struct{ ID, Label string }) bool { return x.ID == m }) {
		s.Metric = m
	}
	if i := q.Get("interval"); i == "hour" || i == "day" || i == "week" || i == "month" {
		s.Interval = i
	}
	for _, f := range q["f"] {
		key, rest, ok1 := strings.Cut(f, ":")
		op, val, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || filterKeys[key] == "" || filterOps[op] == "" || len(val) > 1024 {
			continue
		}
		s.addFilter(key, op, val)
	}
	return s
}

func (s *State) addFilter(key, op, val string) {
	for i := range s.Filters {
		if f := &s.Filters[i]; f.Key == key && f.Op == op {
			if !slices.Contains(f.Values, val) && len(f.Values) < 20 {
				f.Values = append(f.Values, val)
			}
			return
		}
	}
	if len(s.Filters) < 20 {
		s.Filters = append(s.Filters, Filter{Key: key, Op: op, Values: []string{val}})
	}
}

// Values is the state as a query, defaults left out.
func (s State) Values() url.Values {
	v := url.Values{}
	if s.Period != "30d" {
		v.Set("period", s.Period)
	}
	if s.Period == "custom" {
		v.Set("from", s.From)
		v.Set("to", s.To)
	}
	if s.Compare != "" {
		v.Set("compare", s.Compare)
	}
	for _, f := range s.Filters {
		for _, val := range f.Values {
			v.Add("f", f.Key+":"+f.Op+":"+val)
		}
	}
	if s.Metric != "" {
		v.Set("metric", s.Metric)
	}
	if s.Interval != "" {
		v.Set("interval", s.Interval)
	}
	return v
}

// Query is the encoded state, with "?" when not empty.
func (s State) Query() string {
	if e := s.Values().Encode(); e != "" {
		return "?" + e
	}
	return ""
}

func (s State) clone() State {
	c := s
	c.Filters = make([]Filter, len(s.Filters))
	for i, f := range s.Filters {
		c.Filters[i] = Filter{Key: f.Key, Op: f.Op, Values: slices.Clone(f.Values)}
	}
	return c
}

// WithPeriod, WithCompare, WithFilter, WithoutFilter, WithMetric and
// WithInterval are the links of the view's controls.
func (s State) WithPeriod(p string) string {
	c := s.clone()
	c.Period, c.From, c.To = p, "", ""
	return c.Query()
}

func (s State) WithCompare(mode string) string {
	c := s.clone()
	c.Compare = mode
	return c.Query()
}

func (s State) WithFilter(key, op, val string) string {
	c := s.clone()
	c.addFilter(key, op, val)
	return c.Query()
}

func (s State) WithoutFilter(i int) string {
	c := s.clone()
	if i >= 0 && i < len(c.Filters) {
		c.Filters = slices.Delete(c.Filters, i, i+1)
	}
	return c.Query()
}

func (s State) WithMetric(m string) string {
	c := s.clone()
	c.Metric = m
	return c.Query()
}

func (s State) WithInterval(i string) string {
	c := s.clone()
	c.Interval = i
	return c.Query()
}

// Hidden is the state as hidden form fields, minus the named parameters
// (the form sets those itself).
func (s State) Hidden(except ...string) [][2]string {
	var out [][2]string
	v := s.Values()
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(except, k) {
			continue
		}
		for _, val := range v[k] {
			out = append(out, [2]string{k, val})
		}
	}
	return out
}

// Filtered reports whether the view has any filter, locked or chosen.
func (s State) Filtered() bool { return len(s.Locked)+len(s.Filters) > 0 }

// Lock adds a shared link's filter (marketing.ShareFilter) as locked
// filters, in key order.
func (s *State) Lock(f map[string][]string) {
	for _, k := range slices.Sorted(maps.Keys(f)) {
		s.Locked = append(s.Locked, Filter{Key: k, Op: "is", Values: f[k]})
	}
}

// engineFilters is the state's filters in the Stats API's syntax.
func (s State) engineFilters() []any {
	out := []any{}
	for _, f := range slices.Concat(s.Locked, s.Filters) {
		out = append(out, []any{f.Op, filterKeys[f.Key], f.Values})
	}
	return out
}

// dateRange is the state's period in the Stats API's syntax.
func (s State) dateRange() any {
	if s.Period == "custom" {
		return []string{s.From, s.To}
	}
	return s.Period
}

// FilterLabel describes a filter for its chip: "Page is /a or /b".
func (f Filter) Label() string {
	name := f.Key
	for _, k := range FilterKeyLabels {
		if k.Key == f.Key {
			name = k.Label
		}
	}
	join := " or "
	if f.Op == "is_not" {
		join = " nor "
	}
	vals := make([]string, len(f.Values))
	for i, v := range f.Values {
		vals[i] = v
		if v == "" {
			vals[i] = "(none)" // as the panels label an empty value
		}
	}
	return name + " " + filterOps[f.Op] + " " + strings.Join(vals, join)
}

// PeriodLabel names the state's period.
func (s State) PeriodLabel() string {
	if s.Period == "custom" {
		return s.From + " to " + s.To
	}
	for _, p := range Periods {
		if p.ID == s.Period {
			return p.Label
		}
	}
	return s.Period
}
