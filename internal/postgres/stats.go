package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/statsql"
)

// statsDialect is PostgreSQL's SQL for internal/statsql: times are
// timestamptz, matches is ~.
type statsDialect struct{}

func (statsDialect) Name() string             { return "postgres" }
func (statsDialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }
func (statsDialect) BindTime(bind func(any) string, t time.Time) string {
	return bind(t) + "::timestamptz"
}
func (statsDialect) Int(expr string) string    { return expr + "::int8" }
func (statsDialect) Float(expr string) string  { return expr + "::float8" }
func (statsDialect) Seconds(col string) string { return "floor(extract(epoch FROM " + col + "))::int8" }
func (statsDialect) DatePart(part, seconds string) string {
	return "extract(" + part + " FROM to_timestamp(" + seconds + ") AT TIME ZONE 'UTC')"
}
func (statsDialect) Prop(bind func(any) string, alias, key string) string {
	return alias + ".props ->> " + bind(key) + "::text"
}
func (statsDialect) Contains(col, sub string) string {
	return "strpos(" + col + ", " + sub + "::text) > 0"
}
func (statsDialect) Matches(col, re string) string { return col + " ~ " + re + "::text" }
func (statsDialect) CountIf(cond string) string    { return "count(*) FILTER (WHERE " + cond + ")" }
func (statsDialect) CountTrue(col string) string   { return "count(*) FILTER (WHERE " + col + ")" }

// DurationMs is in whole milliseconds, as SQLite stores times.
func (statsDialect) DurationMs(start, end string) string {
	return "(floor(extract(epoch FROM " + end + ") * 1000) - floor(extract(epoch FROM " + start + ") * 1000))::float8"
}

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

// statsEach runs a stats statement unprepared: each is planned for its own
// values (a property's rows, a window), and the many shapes of stats
// queries never evict the ingest path's prepared statements from the
// connection's cache.
func (db *DB) statsEach(ctx context.Context, q string, args []any, fn func(func(...any) error) error) error {
	rows, err := db.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return statsError(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return statsError(err)
		}
	}
	if err := rows.Err(); err != nil {
		return statsError(err)
	}
	return nil
}

func statsError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "2201B" { // invalid_regular_expression
		return marketing.Errorf(marketing.EINVALID, "a matches filter is not a valid regular expression")
	}
	return unavailable(fmt.Errorf("postgres: stats: %w", err))
}
