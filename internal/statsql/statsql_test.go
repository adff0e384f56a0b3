package statsql

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing"
)

// testDialect writes each hook as a plain function call, so a test sees
// which hook made what.
type testDialect struct{}

func (testDialect) Name() string             { return "test" }
func (testDialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }
func (testDialect) BindTime(bind func(any) string, t time.Time) string {
	return "time(" + bind(t) + ")"
}
func (testDialect) Int(expr string) string               { return "int(" + expr + ")" }
func (testDialect) Float(expr string) string             { return "float(" + expr + ")" }
func (testDialect) Seconds(col string) string            { return "seconds(" + col + ")" }
func (testDialect) DatePart(part, seconds string) string { return part + "(" + seconds + ")" }
func (testDialect) Prop(bind func(any) string, alias, key string) string {
	return "prop(" + alias + ", " + bind(key) + ")"
}
func (testDialect) Contains(col, sub string) string { return "contains(" + col + ", " + sub + ")" }
func (testDialect) Matches(col, re string) string   { return "matches(" + col + ", " + re + ")" }
func (testDialect) CountIf(cond string) string      { return "countif(" + cond + ")" }
func (testDialect) CountTrue(col string) string     { return "counttrue(" + col + ")" }
func (testDialect) DurationMs(start, end string) string {
	return "duration(" + start + ", " + end + ")"
}

// TestStatsQueryBindsUserText: no value, props key or property id of a
// plan reaches the SQL text; each is bound.
func TestStatsQueryBindsUserText(t *testing.T) {
	const evil = "x'); DROP TABLE events; --"
	leaf := func(op, field, key string) marketing.StatsFilter {
		return marketing.StatsFilter{Op: op, Field: field, Key: key, Values: []string{evil + op}}
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	p := &marketing.StatsPlan{
		Source: marketing.StatsEvents, PropertyID: evil + "property", From: from, To: from.AddDate(0, 1, 0),
		GroupBy: []marketing.StatsGroup{{Field: "props", Key: evil + "group"}, {Field: "path"}},
		Bucket:  &marketing.StatsBucket{Unit: "month", Offsets: []marketing.StatsOffset{{Seconds: 3600}, {At: from.AddDate(0, 0, 10), Seconds: 7200}}},
		Filter: &marketing.StatsFilter{Op: marketing.OpAnd, Children: []marketing.StatsFilter{
			leaf(marketing.OpIs, "channel", ""),
			leaf(marketing.OpContains, "props", evil+"key"),
			{Op: marketing.OpOr, Children: []marketing.StatsFilter{leaf(marketing.OpMatchesNot, "landing_path", ""), leaf(marketing.OpIsNot, "event_type", "")}},
		}},
	}
	agg, err := AggregateQuery(testDialect{}, p)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := ValuesQuery(testDialect{}, p, []string{"lcp_ms", "cls"})
	if err != nil {
		t.Fatal(err)
	}
	leads, err := NewLeadsQuery(testDialect{}, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{agg, vals, leads} {
		if strings.Contains(q.SQL, "DROP") || strings.Contains(q.SQL, "'x") {
			t.Errorf("user text in SQL: %s", q.SQL)
		}
		if n := strings.Count(q.SQL, "$"); n < len(q.Args) {
			t.Errorf("%d placeholders for %d args: %s", n, len(q.Args), q.SQL)
		}
	}
	for _, want := range []string{"JOIN sessions xs", "EXISTS (SELECT 1 FROM sessions x1", "GROUP BY 1, 2, 3, 4) g GROUP BY 1, 2, 3"} {
		if !strings.Contains(agg.SQL, want) {
			t.Errorf("aggregate lacks %q: %s", want, agg.SQL)
		}
	}
}

// TestStatsQueryRefusesUnknownNames: only allowlisted fields, vitals,
// operators, sources and bucket units build a statement.
func TestStatsQueryRefusesUnknownNames(t *testing.T) {
	ok := func() *marketing.StatsPlan {
		return &marketing.StatsPlan{Source: marketing.StatsEvents, PropertyID: "p"}
	}
	cases := map[string]func(p *marketing.StatsPlan){
		"group field": func(p *marketing.StatsPlan) { p.GroupBy = []marketing.StatsGroup{{Field: "email"}} },
		"visitor filter": func(p *marketing.StatsPlan) { // the visitor id groups rollups; no filter names it
			p.Filter = &marketing.StatsFilter{Op: marketing.OpIs, Field: marketing.StatsVisitorField, Values: []string{"a"}}
		},
		"other source": func(p *marketing.StatsPlan) { p.GroupBy = []marketing.StatsGroup{{Field: "channel"}} },
		"source":       func(p *marketing.StatsPlan) { p.Source = "leads" },
		"bucket":       func(p *marketing.StatsPlan) { p.Bucket = &marketing.StatsBucket{Unit: "year"} },
		"filter field": func(p *marketing.StatsPlan) {
			p.Filter = &marketing.StatsFilter{Op: marketing.OpIs, Field: "1=1", Values: []string{"a"}}
		},
		"operator": func(p *marketing.StatsPlan) {
			p.Filter = &marketing.StatsFilter{Op: "like", Field: "path", Values: []string{"a"}}
		},
	}
	if _, err := AggregateQuery(testDialect{}, ok()); err != nil {
		t.Fatal(err)
	}
	for name, change := range cases {
		p := ok()
		change(p)
		if _, err := AggregateQuery(testDialect{}, p); err == nil || !strings.HasPrefix(err.Error(), "test: stats: ") {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, err := ValuesQuery(testDialect{}, ok(), []string{"lcp_ms", "visitor_id"}); err == nil {
		t.Error("an unknown vital built a statement")
	}
}
