package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	msqlite "modernc.org/sqlite"

	"github.com/altcontext/marketing"
)

// statsColumns maps the engine's field names (marketing.StatsFields) to
// columns; a name missing here is refused, so no other text reaches SQL.
var statsColumns = map[string]string{
	"path": "path", "event_type": "event_type",
	"landing_path": "landing_path", "exit_path": "exit_path", "referrer_host": "referrer_host",
	"traffic_source": "traffic_source", "channel": "channel",
	"utm_source": "utm_source", "utm_medium": "utm_medium", "utm_campaign": "utm_campaign",
	"utm_term": "utm_term", "utm_content": "utm_content",
	"device_type": "device_type", "browser": "browser", "os": "os", "country_code": "country_code",
	marketing.StatsVisitorField: "visitor_id",
}

var statsVitalColumns = map[string]string{"lcp_ms": "lcp_ms", "inp_ms": "inp_ms", "cls": "cls", "fcp_ms": "fcp_ms", "ttfb_ms": "ttfb_ms"}

// registerRegexp gives every connection of the driver opened afterwards
// regexp(pattern, text) (the matches filters), which SQLite declares but
// does not implement. The driver's function table is process-wide, hence
// the Once; Open calls it before opening connections.
var registerRegexp = sync.OnceValue(func() error {
	var mu sync.Mutex
	cache := map[string]*regexp.Regexp{}
	return msqlite.RegisterDeterministicScalarFunction("regexp", 2, func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		pat, _ := args[0].(string)
		var text string
		switch v := args[1].(type) {
		case string:
			text = v
		case []byte:
			text = string(v)
		case nil:
		default:
			text = fmt.Sprint(v)
		}
		mu.Lock()
		re, ok := cache[pat]
		if !ok {
			var err error
			if re, err = regexp.Compile(pat); err != nil {
				mu.Unlock()
				return nil, err
			}
			if len(cache) >= 64 {
				clear(cache)
			}
			cache[pat] = re
		}
		mu.Unlock()
		if re.MatchString(text) {
			return int64(1), nil
		}
		return int64(0), nil
	})
})

// statsSQL builds one statement, binding every value.
type statsSQL struct {
	args     []any
	alias    int
	from, to string // the plan's bounds, bound once
}

// bind appends a value and returns its numbered placeholder (?NNN), so a
// placeholder can appear more than once and in any order.
func (b *statsSQL) bind(v any) string {
	b.args = append(b.args, v)
	return "?" + strconv.Itoa(len(b.args))
}

func (b *statsSQL) field(alias, field, key string) (string, error) {
	if field == "props" {
		// Values read as PostgreSQL's ->> reads them: booleans as true/false.
		path := `$."` + key + `"`
		return "coalesce(CASE json_type(" + alias + ".props, " + b.bind(path) + ") WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(" +
			alias + ".props, " + b.bind(path) + ") AS TEXT) END, '')", nil
	}
	col, ok := statsColumns[field]
	if !ok {
		return "", fmt.Errorf("sqlite: stats: unknown field %q", field)
	}
	return "coalesce(" + alias + "." + col + ", '')", nil
}

// local is a time column's local time in seconds since the epoch.
func (b *statsSQL) local(col string, bk *marketing.StatsBucket) string {
	var sb strings.Builder
	sb.WriteString("(" + col + " / 1000 + ")
	if len(bk.Offsets) <= 1 {
		off := 0
		if len(bk.Offsets) == 1 {
			off = bk.Offsets[0].Seconds
		}
		sb.WriteString(b.bind(off) + ")")
		return sb.String()
	}
	sb.WriteString("CASE")
	for i := 1; i < len(bk.Offsets); i++ {
		sb.WriteString(" WHEN " + col + " < " + b.bind(ms(bk.Offsets[i].At)) + " THEN " + b.bind(bk.Offsets[i-1].Seconds))
	}
	sb.WriteString(" ELSE " + b.bind(bk.Offsets[len(bk.Offsets)-1].Seconds) + " END)")
	return sb.String()
}

func (b *statsSQL) bucket(col string, bk *marketing.StatsBucket) (string, error) {
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
		return "(CAST(strftime('%Y', " + l + ", 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', " + b.local(col, bk) + ", 'unixepoch') AS INTEGER) - 1)", nil
	}
	return "", fmt.Errorf("sqlite: stats: unknown bucket %q", bk.Unit)
}

// where compiles a filter on rows of source under alias.
func (b *statsSQL) where(source, alias string, f *marketing.StatsFilter) (string, error) {
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
			return "", fmt.Errorf("sqlite: stats: not takes one filter")
		}
		p, err := b.where(source, alias, &f.Children[0])
		return "NOT " + p, err
	}
	fieldSource, ok := marketing.StatsFields[f.Field]
	if !ok {
		return "", fmt.Errorf("sqlite: stats: unknown field %q", f.Field)
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

func (b *statsSQL) leaf(alias string, f *marketing.StatsFilter) (string, error) {
	col, err := b.field(alias, f.Field, f.Key)
	if err != nil {
		return "", err
	}
	if len(f.Values) == 0 {
		return "", fmt.Errorf("sqlite: stats: filter without values")
	}
	any := func(tmpl string) string {
		parts := make([]string, len(f.Values))
		for i, v := range f.Values {
			parts[i] = strings.ReplaceAll(tmpl, "$v", b.bind(v))
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
		return any("instr(" + col + ", $v) > 0"), nil
	case marketing.OpContainsNot:
		return "NOT " + any("instr("+col+", $v) > 0"), nil
	case marketing.OpMatches:
		return any("regexp($v, " + col + ")"), nil
	case marketing.OpMatchesNot:
		return "NOT " + any("regexp($v, "+col+")"), nil
	}
	return "", fmt.Errorf("sqlite: stats: unknown operator %q", f.Op)
}

// frame is the FROM and WHERE of a plan, and the expressions of its keys.
func (b *statsSQL) frame(p *marketing.StatsPlan) (keys []string, from string, err error) {
	alias, timeCol, table := "e", "e.occurred_at", "events"
	if p.Source == marketing.StatsSessions {
		alias, timeCol, table = "s", "s.started_at", "sessions"
	} else if p.Source != marketing.StatsEvents {
		return nil, "", fmt.Errorf("sqlite: stats: unknown source %q", p.Source)
	}
	for _, g := range p.GroupBy {
		if marketing.StatsFields[g.Field] != p.Source && g.Field != marketing.StatsVisitorField {
			return nil, "", fmt.Errorf("sqlite: stats: cannot group %s by %s", p.Source, g.Field)
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
	b.from, b.to = b.bind(ms(p.From)), b.bind(ms(p.To))
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

// StatsAggregate groups a plan's rows and counts them.
func (db *DB) StatsAggregate(ctx context.Context, p *marketing.StatsPlan) ([]marketing.StatsRow, error) {
	var b statsSQL
	keys, from, err := b.frame(p)
	if err != nil {
		return nil, err
	}
	// Per visitor first, then per group: distinct visitors become a count
	// of rows, which hashes instead of sorting each group's ids.
	var inner, outer string
	if p.Source == marketing.StatsEvents {
		inner = `e.visitor_id, sum(CASE WHEN e.event_type = 'page_view' THEN 1 ELSE 0 END) AS pv, count(*) AS ev, sum(e.is_conversion) AS conv`
		outer = `count(*), sum(CASE WHEN conv > 0 THEN 1 ELSE 0 END), 0, sum(pv), sum(ev), sum(conv), 0, 0`
	} else {
		inner = `s.visitor_id, count(*) AS visits, sum(s.page_views) AS pv, sum(s.event_count) AS ev, sum(s.converted) AS conv,
			sum(s.bounce) AS bounces, sum(s.ended_at - s.started_at) AS dur`
		outer = `count(*), sum(CASE WHEN conv > 0 THEN 1 ELSE 0 END), sum(visits), sum(pv), sum(ev), sum(conv), sum(bounces), sum(dur)`
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = fmt.Sprintf("k%d", i)
		keys[i] = k + " AS " + names[i]
	}
	q := "SELECT " + strings.Join(names, ", ") + ", " + outer + " FROM (SELECT " + strings.Join(keys, ", ") + ", " + inner + from +
		groupBy(len(keys)+1) + ") g" + groupBy(len(keys))
	var out []marketing.StatsRow
	err = db.each(ctx, func(r scanner) error {
		row := marketing.StatsRow{Keys: make([]string, len(p.GroupBy))}
		dest := make([]any, 0, len(keys)+8)
		for i := range row.Keys {
			dest = append(dest, &row.Keys[i])
		}
		c := &row.StatsCounts
		dest = append(dest, &row.Bucket, &c.Visitors, &c.ConvertingVisitors, &c.Visits, &c.Pageviews, &c.Events, &c.Conversions, &c.Bounces, &c.DurationMs)
		if err := r.Scan(dest...); err != nil {
			return err
		}
		out = append(out, row)
		return nil
	}, q, b.args...)
	if err != nil {
		return nil, statsError(err)
	}
	return out, nil
}

// StatsValues returns a measurement's values with their groups.
func (db *DB) StatsValues(ctx context.Context, p *marketing.StatsPlan, vital string) ([]marketing.StatsValue, error) {
	col, ok := statsVitalColumns[vital]
	if !ok || p.Source != marketing.StatsEvents {
		return nil, fmt.Errorf("sqlite: stats: no values of %q in %s", vital, p.Source)
	}
	var b statsSQL
	keys, from, err := b.frame(p)
	if err != nil {
		return nil, err
	}
	q := "SELECT " + strings.Join(keys, ", ") + ", CAST(e." + col + " AS REAL)" + from + " AND e." + col + " IS NOT NULL"
	var out []marketing.StatsValue
	err = db.each(ctx, func(r scanner) error {
		v := marketing.StatsValue{Keys: make([]string, len(p.GroupBy))}
		dest := make([]any, 0, len(keys)+1)
		for i := range v.Keys {
			dest = append(dest, &v.Keys[i])
		}
		dest = append(dest, &v.Bucket, &v.Value)
		if err := r.Scan(dest...); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}, q, b.args...)
	if err != nil {
		return nil, statsError(err)
	}
	return out, nil
}

// StatsNewLeads counts leads first captured in the plan's window.
func (db *DB) StatsNewLeads(ctx context.Context, p *marketing.StatsPlan) ([]marketing.StatsRow, error) {
	var b statsSQL
	key := "0"
	if p.Bucket != nil {
		var err error
		if key, err = b.bucket("l.first_captured_at", p.Bucket); err != nil {
			return nil, err
		}
	}
	q := "SELECT " + key + ", count(*) FROM leads l WHERE l.property_id = " + b.bind(p.PropertyID) +
		" AND l.first_captured_at >= " + b.bind(ms(p.From)) + " AND l.first_captured_at < " + b.bind(ms(p.To)) + " GROUP BY 1"
	var out []marketing.StatsRow
	err := db.each(ctx, func(r scanner) error {
		var row marketing.StatsRow
		if err := r.Scan(&row.Bucket, &row.Leads); err != nil {
			return err
		}
		out = append(out, row)
		return nil
	}, q, b.args...)
	if err != nil {
		return nil, statsError(err)
	}
	return out, nil
}

func statsError(err error) error {
	if strings.Contains(err.Error(), "error parsing regexp") {
		return marketing.Errorf(marketing.EINVALID, "a matches filter is not a valid regular expression")
	}
	return unavailable(fmt.Errorf("sqlite: stats: %w", err))
}
