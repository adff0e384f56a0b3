// Package statsql builds the SQL of the stats queries (marketing.StatsStore)
// once for both stores. A store supplies its Dialect (placeholders, how a
// time is bound and read, casts, substring and regex matching, props,
// boolean counts) and an Each that runs a statement; this package keeps the
// join strategy and the security invariant: only allowlisted field names
// map to columns, and every value is bound.
package statsql

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// Dialect is what differs between the stores' SQL. Each hook returns SQL
// text built from its arguments, which are column expressions and
// placeholders, never user text.
type Dialect interface {
	Name() string             // the store, as errors name it ("postgres")
	Placeholder(n int) string // the nth bound value
	// BindTime binds t (with bind) as time columns store it and returns
	// its placeholder, cast where the dialect needs it.
	BindTime(bind func(any) string, t time.Time) string
	Int(expr string) string   // expr as a 64-bit integer
	Float(expr string) string // expr as a float
	// Seconds is a time column's whole seconds since the epoch.
	Seconds(col string) string
	// DatePart is the UTC "year" or "month" (1-12) of a number of
	// seconds since the epoch.
	DatePart(part, seconds string) string
	// Prop is the text of the props key bound with bind on alias's row
	// (booleans as true/false), NULL when missing.
	Prop(bind func(any) string, alias, key string) string
	Contains(col, sub string) string     // col contains the text sub
	Matches(col, re string) string       // col matches the regular expression re
	CountIf(cond string) string          // the number of rows where cond holds
	CountTrue(col string) string         // the number of rows where a boolean column is true
	DurationMs(start, end string) string // whole milliseconds between two time columns
}

// Each runs q with args and calls row with the Scan of each result row; a
// store's Each classifies its errors (they are returned unchanged).
type Each func(ctx context.Context, q string, args []any, row func(scan func(dest ...any) error) error) error

// Query is one statement and its bound values.
type Query struct {
	SQL  string
	Args []any
	keys int // key columns: the group keys and the bucket
}

// columns maps the engine's field names (marketing.StatsFields) to
// columns; a name missing here is refused, so no other text reaches SQL.
var columns = map[string]string{
	"path": "path", "event_type": "event_type",
	"landing_path": "landing_path", "exit_path": "exit_path", "referrer_host": "referrer_host",
	"traffic_source": "traffic_source", "channel": "channel",
	"utm_source": "utm_source", "utm_medium": "utm_medium", "utm_campaign": "utm_campaign",
	"utm_term": "utm_term", "utm_content": "utm_content",
	"device_type": "device_type", "browser": "browser", "os": "os", "country_code": "country_code",
	marketing.StatsVisitorField: "visitor_id", // groups only: filters check StatsFields first
}

var vitalColumns = map[string]string{"lcp_ms": "lcp_ms", "inp_ms": "inp_ms", "cls": "cls", "fcp_ms": "fcp_ms", "ttfb_ms": "ttfb_ms"}

// Aggregate groups a plan's rows and counts them (StatsStore.StatsAggregate).
func Aggregate(ctx context.Context, d Dialect, p *marketing.StatsPlan, each Each) ([]marketing.StatsRow, error) {
	q, err := AggregateQuery(d, p)
	return collect(ctx, each, q, err, func(scan func(...any) error) (marketing.StatsRow, error) {
		row := marketing.StatsRow{Keys: make([]string, len(p.GroupBy))}
		dest := make([]any, 0, q.keys+8)
		for i := range row.Keys {
			dest = append(dest, &row.Keys[i])
		}
		c := &row.StatsCounts
		dest = append(dest, &row.Bucket, &c.Visitors, &c.ConvertingVisitors, &c.Visits, &c.Pageviews, &c.Events, &c.Conversions, &c.Bounces, &c.DurationMs)
		err := scan(dest...)
		return row, err
	})
}

// Values returns a measurement's values with their groups
// (StatsStore.StatsValues).
func Values(ctx context.Context, d Dialect, p *marketing.StatsPlan, vitals []string, each Each) ([]marketing.StatsValue, error) {
	q, err := ValuesQuery(d, p, vitals)
	return collect(ctx, each, q, err, func(scan func(...any) error) (marketing.StatsValue, error) {
		v := marketing.StatsValue{Keys: make([]string, len(p.GroupBy)), Values: make([]*float64, len(vitals))}
		dest := make([]any, 0, q.keys+len(vitals))
		for i := range v.Keys {
			dest = append(dest, &v.Keys[i])
		}
		dest = append(dest, &v.Bucket)
		for i := range v.Values {
			dest = append(dest, &v.Values[i])
		}
		err := scan(dest...)
		return v, err
	})
}

// NewLeads counts leads first captured in the plan's window
// (StatsStore.StatsNewLeads).
func NewLeads(ctx context.Context, d Dialect, p *marketing.StatsPlan, each Each) ([]marketing.StatsRow, error) {
	q, err := NewLeadsQuery(d, p)
	return collect(ctx, each, q, err, func(scan func(...any) error) (marketing.StatsRow, error) {
		var row marketing.StatsRow
		err := scan(&row.Bucket, &row.Leads)
		return row, err
	})
}

// collect runs q (unless building it failed with err) and scans each row
// with read.
func collect[T any](ctx context.Context, each Each, q Query, err error, read func(scan func(...any) error) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	var out []T
	err = each(ctx, q.SQL, q.Args, func(scan func(...any) error) error {
		v, err := read(scan)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AggregateQuery is the statement of Aggregate: its columns are the plan's
// group keys, the bucket key (0 without a bucket), then the StatsCounts
// from Visitors to DurationMs (Leads excepted).
func AggregateQuery(d Dialect, p *marketing.StatsPlan) (Query, error) {
	b := builder{d: d}
	keys, from, err := b.frame(p)
	if err != nil {
		return Query{}, err
	}
	// Per visitor first, then per group: distinct visitors become a count
	// of rows, which hashes instead of sorting each group's ids. When the
	// plan groups by the visitor itself (the rollups' counts), each inner
	// row is already one group: the outer level takes its row as it is
	// instead of grouping again, one to one.
	perVisitor := slices.ContainsFunc(p.GroupBy, func(g marketing.StatsGroup) bool { return g.Field == marketing.StatsVisitorField })
	count, countIf, sum := "count(*)", d.CountIf, func(x string) string { return d.Int("sum(" + x + ")") }
	if perVisitor {
		count = d.Int("1")
		countIf = func(cond string) string { return d.Int("CASE WHEN " + cond + " THEN 1 ELSE 0 END") }
		sum = func(x string) string { return d.Int(x) }
	}
	var inner, outer string
	if p.Source == marketing.StatsEvents {
		inner = "e.visitor_id, " + d.CountIf("e.event_type = 'page_view'") + " AS pv, count(*) AS ev, " + d.CountTrue("e.is_conversion") + " AS conv"
		outer = count + ", " + countIf("conv > 0") + ", " + d.Int("0") + ", " + sum("pv") + ", " + sum("ev") + ", " + sum("conv") + ", " +
			d.Int("0") + ", " + d.Int("0")
	} else {
		inner = "s.visitor_id, count(*) AS visits, sum(s.page_views) AS pv, sum(s.event_count) AS ev, " + d.CountTrue("s.converted") + " AS conv, " +
			d.CountTrue("s.bounce") + " AS bounces, sum(" + d.DurationMs("s.started_at", "s.ended_at") + ") AS dur"
		outer = count + ", " + countIf("conv > 0") + ", " + sum("visits") + ", " + sum("pv") + ", " + sum("ev") + ", " + sum("conv") + ", " +
			sum("bounces") + ", " + sum("dur")
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = fmt.Sprintf("k%d", i)
		keys[i] = k + " AS " + names[i]
	}
	q := "SELECT " + strings.Join(names, ", ") + ", " + outer + " FROM (SELECT " + strings.Join(keys, ", ") + ", " + inner + from +
		groupBy(len(keys)+1) + ") g"
	if !perVisitor {
		q += groupBy(len(keys))
	}
	return Query{SQL: q, Args: b.args, keys: len(keys)}, nil
}

// ValuesQuery is the statement of Values: the plan's group keys, the
// bucket key, then the measurement as a float.
func ValuesQuery(d Dialect, p *marketing.StatsPlan, vitals []string) (Query, error) {
	cols := make([]string, len(vitals))
	for i, vital := range vitals {
		col, ok := vitalColumns[vital]
		if !ok || p.Source != marketing.StatsEvents {
			return Query{}, fmt.Errorf("%s: stats: no values of %q in %s", d.Name(), vital, p.Source)
		}
		cols[i] = d.Float("e." + col)
	}
	if len(cols) == 0 {
		return Query{}, fmt.Errorf("%s: stats: no vital asked for", d.Name())
	}
	b := builder{d: d}
	keys, from, err := b.frame(p)
	if err != nil {
		return Query{}, err
	}
	// hasVitals repeats the predicate of the partial index events_vitals_idx
	// word for word, so both stores read only the events that carry a
	// measurement (a few in ten) instead of every event of the window.
	q := "SELECT " + strings.Join(keys, ", ") + ", " + strings.Join(cols, ", ") + from + " AND " + hasVitals
	return Query{SQL: q, Args: b.args, keys: len(keys)}, nil
}

// hasVitals is the predicate of the partial index events_vitals_idx
// (migration 0006 of each store, which made it cover the values), written
// exactly as there.
const hasVitals = "(e.lcp_ms IS NOT NULL OR e.inp_ms IS NOT NULL OR e.cls IS NOT NULL OR e.fcp_ms IS NOT NULL OR e.ttfb_ms IS NOT NULL)"

// NewLeadsQuery is the statement of NewLeads: the bucket key and the
// number of leads.
func NewLeadsQuery(d Dialect, p *marketing.StatsPlan) (Query, error) {
	b := builder{d: d}
	key := "0"
	if p.Bucket != nil {
		var err error
		if key, err = b.bucket("l.first_captured_at", p.Bucket); err != nil {
			return Query{}, err
		}
	}
	q := "SELECT " + key + ", count(*) FROM leads l WHERE l.property_id = " + b.bind(p.PropertyID) +
		" AND l.first_captured_at >= " + b.time(p.From) + " AND l.first_captured_at < " + b.time(p.To) + " GROUP BY 1"
	return Query{SQL: q, Args: b.args, keys: 1}, nil
}

// builder builds one statement, binding every value.
type builder struct {
	d        Dialect
	args     []any
	alias    int
	from, to string // the plan's bounds, bound once
}

func (b *builder) bind(v any) string {
	b.args = append(b.args, v)
	return b.d.Placeholder(len(b.args))
}

func (b *builder) time(t time.Time) string { return b.d.BindTime(b.bind, t) }

func (b *builder) errorf(format string, args ...any) error {
	return fmt.Errorf(b.d.Name()+": stats: "+format, args...)
}

func (b *builder) field(alias, field, key string) (string, error) {
	if field == "props" {
		return "coalesce(" + b.d.Prop(b.bind, alias, key) + ", '')", nil
	}
	col, ok := columns[field]
	if !ok {
		return "", b.errorf("unknown field %q", field)
	}
	return "coalesce(" + alias + "." + col + ", '')", nil
}

// local is a time column's local time in seconds since the epoch.
func (b *builder) local(col string, bk *marketing.StatsBucket) string {
	var sb strings.Builder
	sb.WriteString("(" + b.d.Seconds(col) + " + ")
	if len(bk.Offsets) <= 1 {
		off := 0
		if len(bk.Offsets) == 1 {
			off = bk.Offsets[0].Seconds
		}
		sb.WriteString(b.d.Int(b.bind(off)) + ")")
		return sb.String()
	}
	sb.WriteString("CASE")
	for i := 1; i < len(bk.Offsets); i++ {
		sb.WriteString(" WHEN " + col + " < " + b.time(bk.Offsets[i].At) + " THEN " + b.d.Int(b.bind(bk.Offsets[i-1].Seconds)))
	}
	sb.WriteString(" ELSE " + b.d.Int(b.bind(bk.Offsets[len(bk.Offsets)-1].Seconds)) + " END)")
	return sb.String()
}

func (b *builder) bucket(col string, bk *marketing.StatsBucket) (string, error) {
	l := b.local(col, bk)
	switch bk.Unit {
	case "minute":
		return l + " / 60", nil
	case "hour":
		return l + " / 3600", nil
	case "day":
		return l + " / 86400", nil
	case "week":
		return "(" + l + " / 86400 + 3) / 7", nil
	case "month":
		return b.d.Int("(" + b.d.DatePart("year", l) + " * 12 + " + b.d.DatePart("month", b.local(col, bk)) + " - 1)"), nil
	}
	return "", b.errorf("unknown bucket %q", bk.Unit)
}

// where compiles a filter on rows of source under alias.
func (b *builder) where(source, alias string, f *marketing.StatsFilter) (string, error) {
	switch f.Op {
	case marketing.OpAnd, marketing.OpOr:
		parts := make([]string, 0, len(f.Children))
		for i := range f.Children {
			p, err := b.where(source, alias, &f.Children[i])
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			return "1 = 1", nil
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(f.Op)+" ") + ")", nil
	case marketing.OpNot:
		if len(f.Children) != 1 {
			return "", b.errorf("not takes one filter")
		}
		p, err := b.where(source, alias, &f.Children[0])
		return "NOT " + p, err
	}
	fieldSource, ok := marketing.StatsFields[f.Field]
	if !ok {
		return "", b.errorf("unknown field %q", f.Field)
	}
	if fieldSource == source {
		return b.leaf(alias, f)
	}
	b.alias++
	x := fmt.Sprintf("x%d", b.alias)
	cond, err := b.leaf(x, f)
	if err != nil {
		return "", err
	}
	// The constant bounds are implied by the join (a session starting in
	// the window holds no event before it; a session holding an event of
	// the window overlaps it) and let the planner narrow the other side.
	if fieldSource == marketing.StatsEvents { // a session containing a matching event
		return "EXISTS (SELECT 1 FROM events " + x + " WHERE " + x + ".visitor_id = " + alias + ".visitor_id AND " + x + ".property_id = " + alias + ".property_id AND " +
			x + ".occurred_at BETWEEN " + alias + ".started_at AND " + alias + ".ended_at AND " + x + ".occurred_at >= " + b.from + " AND " + cond + ")", nil
	}
	return "EXISTS (SELECT 1 FROM sessions " + x + " WHERE " + x + ".visitor_id = " + alias + ".visitor_id AND " + x + ".property_id = " + alias + ".property_id AND " +
		alias + ".occurred_at BETWEEN " + x + ".started_at AND " + x + ".ended_at AND " + x + ".started_at < " + b.to + " AND " + x + ".ended_at >= " + b.from + " AND " + cond + ")", nil
}

func (b *builder) leaf(alias string, f *marketing.StatsFilter) (string, error) {
	col, err := b.field(alias, f.Field, f.Key)
	if err != nil {
		return "", err
	}
	if len(f.Values) == 0 {
		return "", b.errorf("filter without values")
	}
	any := func(match func(col, v string) string) string {
		parts := make([]string, len(f.Values))
		for i, v := range f.Values {
			parts[i] = match(col, b.bind(v))
		}
		return "(" + strings.Join(parts, " OR ") + ")"
	}
	switch f.Op {
	case marketing.OpIs, marketing.OpIsNot:
		ph := make([]string, len(f.Values))
		for i, v := range f.Values {
			ph[i] = b.bind(v)
		}
		not := ""
		if f.Op == marketing.OpIsNot {
			not = "NOT "
		}
		return col + " " + not + "IN (" + strings.Join(ph, ", ") + ")", nil
	case marketing.OpContains:
		return any(b.d.Contains), nil
	case marketing.OpContainsNot:
		return "NOT " + any(b.d.Contains), nil
	case marketing.OpMatches:
		return any(b.d.Matches), nil
	case marketing.OpMatchesNot:
		return "NOT " + any(b.d.Matches), nil
	}
	return "", b.errorf("unknown operator %q", f.Op)
}

// frame is the FROM and WHERE of a plan, and the expressions of its keys.
func (b *builder) frame(p *marketing.StatsPlan) (keys []string, from string, err error) {
	alias, timeCol, table := "e", "e.occurred_at", "events"
	if p.Source == marketing.StatsSessions {
		alias, timeCol, table = "s", "s.started_at", "sessions"
	} else if p.Source != marketing.StatsEvents {
		return nil, "", b.errorf("unknown source %q", p.Source)
	}
	for _, g := range p.GroupBy {
		if marketing.StatsFields[g.Field] != p.Source && g.Field != marketing.StatsVisitorField {
			return nil, "", b.errorf("cannot group %s by %s", p.Source, g.Field)
		}
		k, err := b.field(alias, g.Field, g.Key)
		if err != nil {
			return nil, "", err
		}
		keys = append(keys, k)
	}
	if p.Bucket != nil {
		k, err := b.bucket(timeCol, p.Bucket)
		if err != nil {
			return nil, "", err
		}
		keys = append(keys, k)
	} else {
		keys = append(keys, "0")
	}
	b.from, b.to = b.time(p.From), b.time(p.To)
	filter, visit := p.Filter, []string(nil)
	join := ""
	if p.Source == marketing.StatsEvents && filter != nil && filter.Op == marketing.OpAnd {
		// Visit filters at the top of an event query join the one session
		// holding each event (a visitor's sessions on a property never
		// overlap, so the join adds no row): one hash join instead of a
		// lookup per event.
		rest := &marketing.StatsFilter{Op: marketing.OpAnd}
		for i := range filter.Children {
			c := &filter.Children[i]
			if c.Field != "" && marketing.StatsFields[c.Field] == marketing.StatsSessions {
				cond, err := b.leaf("xs", c)
				if err != nil {
					return nil, "", err
				}
				visit = append(visit, cond)
			} else {
				rest.Children = append(rest.Children, *c)
			}
		}
		if len(visit) > 0 {
			join = " JOIN sessions xs ON xs.visitor_id = e.visitor_id AND xs.property_id = e.property_id AND e.occurred_at BETWEEN xs.started_at AND xs.ended_at" +
				" AND xs.started_at < " + b.to + " AND xs.ended_at >= " + b.from
			filter = rest
		}
	}
	from = " FROM " + table + " " + alias + join + " WHERE " + alias + ".property_id = " + b.bind(p.PropertyID) +
		" AND " + timeCol + " >= " + b.from + " AND " + timeCol + " < " + b.to
	for _, v := range visit {
		from += " AND " + v
	}
	if filter != nil && (filter.Op != marketing.OpAnd || len(filter.Children) > 0) {
		w, err := b.where(p.Source, alias, filter)
		if err != nil {
			return nil, "", err
		}
		from += " AND " + w
	}
	return keys, from, nil
}

func groupBy(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(i + 1)
	}
	return " GROUP BY " + strings.Join(s, ", ")
}
