package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/statsql"
)

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

// statsDialect is SQLite's SQL for internal/statsql: times are integer
// milliseconds since the epoch, matches is regexp() (registerRegexp).
type statsDialect struct{}

func (statsDialect) Name() string { return "sqlite" }

// Placeholder is numbered (?NNN), so a placeholder can appear more than
// once and in any order.
func (statsDialect) Placeholder(n int) string { return "?" + strconv.Itoa(n) }
func (statsDialect) BindTime(bind func(any) string, t time.Time) string {
	return bind(ms(t))
}
func (statsDialect) Int(expr string) string    { return expr }
func (statsDialect) Float(expr string) string  { return "CAST(" + expr + " AS REAL)" }
func (statsDialect) Seconds(col string) string { return col + " / 1000" }
func (statsDialect) DatePart(part, seconds string) string {
	f := "%Y"
	if part == "month" {
		f = "%m"
	}
	return "CAST(strftime('" + f + "', " + seconds + ", 'unixepoch') AS INTEGER)"
}

// Prop reads values as PostgreSQL's ->> reads them: booleans as true/false.
func (statsDialect) Prop(bind func(any) string, alias, key string) string {
	path := `$."` + key + `"`
	return "CASE json_type(" + alias + ".props, " + bind(path) + ") WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(" +
		alias + ".props, " + bind(path) + ") AS TEXT) END"
}
func (statsDialect) Contains(col, sub string) string { return "instr(" + col + ", " + sub + ") > 0" }
func (statsDialect) Matches(col, re string) string   { return "regexp(" + re + ", " + col + ")" }
func (statsDialect) CountIf(cond string) string {
	return "sum(CASE WHEN " + cond + " THEN 1 ELSE 0 END)"
}
func (statsDialect) CountTrue(col string) string         { return "sum(" + col + ")" }
func (statsDialect) DurationMs(start, end string) string { return end + " - " + start }

// StatsAggregate groups a plan's rows and counts them.
func (db *DB) StatsAggregate(ctx context.Context, p *marketing.StatsPlan) ([]marketing.StatsRow, error) {
	return statsql.Aggregate(ctx, statsDialect{}, p, db.statsEach)
}

// StatsValues returns a measurement's values with their groups.
func (db *DB) StatsValues(ctx context.Context, p *marketing.StatsPlan, vitals []string) ([]marketing.StatsValue, error) {
	return statsql.Values(ctx, statsDialect{}, p, vitals, db.statsEach)
}

// StatsNewLeads counts leads first captured in the plan's window.
func (db *DB) StatsNewLeads(ctx context.Context, p *marketing.StatsPlan) ([]marketing.StatsRow, error) {
	return statsql.NewLeads(ctx, statsDialect{}, p, db.statsEach)
}

// statsEach runs a stats statement on the read pool.
func (db *DB) statsEach(ctx context.Context, q string, args []any, fn func(func(...any) error) error) error {
	if err := db.each(ctx, func(r scanner) error { return fn(r.Scan) }, q, args...); err != nil {
		return statsError(err)
	}
	return nil
}

func statsError(err error) error {
	if strings.Contains(err.Error(), "error parsing regexp") {
		return marketing.Errorf(marketing.EINVALID, "a matches filter is not a valid regular expression")
	}
	return unavailable(fmt.Errorf("sqlite: stats: %w", err))
}
