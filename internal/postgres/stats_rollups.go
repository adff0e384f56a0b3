package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
)

// SaveStatsRollups replaces a property's stats rollups of a day: one
// statement of arrays, so a day of thousands of paths is one round trip.
func (db *DB) SaveStatsRollups(ctx context.Context, property, zone, day string, rows []marketing.StatsRollupRow) error {
	n := len(rows)
	fields, values := make([]string, n), make([]string, n)
	cols := make([][]int64, 8)
	for i := range cols {
		cols[i] = make([]int64, n)
	}
	vis, conv := make([][]byte, n), make([][]byte, n)
	for i, r := range rows {
		fields[i], values[i] = r.Field, r.Value
		for j, v := range []int64{r.Visitors, r.ConvertingVisitors, r.Visits, r.Pageviews, r.Events, r.Conversions, r.Bounces, r.DurationMs} {
			cols[j][i] = v
		}
		vis[i], conv[i] = r.VisitorSketch, r.ConvertingSketch
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// Two runs of one day (a manual run beside the hourly one) take
		// turns: each deletes, then inserts, and the second would hit the
		// first's rows. A transaction lock works through PgBouncer too.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(21332, hashtext($1 || ' ' || $2))`, property, day); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM stats_rollups WHERE property_id = $1 AND day = $2::date`, property, day); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO stats_rollups (property_id, day, time_zone, field, value, visitors, converting_visitors, visits,
				pageviews, events, conversions, bounces, duration_ms, visitor_sketch, converting_sketch)
			SELECT $1, $2::date, $3, * FROM unnest($4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[],
				$11::int8[], $12::int8[], $13::int8[], $14::bytea[], $15::bytea[])`,
			property, day, zone, fields, values, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], vis, conv)
		return err
	})
	if err != nil {
		return unavailable(fmt.Errorf("postgres: save stats rollups: %w", err))
	}
	return nil
}

// StatsRollups streams a property's rollup rows of the totals and a field.
func (db *DB) StatsRollups(ctx context.Context, property, zone, from, to, field string, fn func(*marketing.StatsRollupRow) error) error {
	rows, err := db.pool.Query(ctx, `SELECT day::text, time_zone, field, value, visitors, converting_visitors, visits, pageviews, events, conversions,
			bounces, duration_ms, visitor_sketch, converting_sketch
		FROM stats_rollups WHERE property_id = $1 AND (field = '' OR field = $2 AND time_zone = $5) AND day BETWEEN $3::date AND $4::date`,
		property, field, from, to, zone)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: stats rollups: %w", err))
	}
	defer rows.Close()
	var s marketing.StatsRollupRow
	for rows.Next() {
		if err := rows.Scan(&s.Day, &s.TimeZone, &s.Field, &s.Value, &s.Visitors, &s.ConvertingVisitors, &s.Visits, &s.Pageviews, &s.Events, &s.Conversions,
			&s.Bounces, &s.DurationMs, &s.VisitorSketch, &s.ConvertingSketch); err != nil {
			return unavailable(fmt.Errorf("postgres: stats rollups: %w", err))
		}
		if err := fn(&s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(fmt.Errorf("postgres: stats rollups: %w", err))
	}
	return nil
}

// StatsRollupsFirstDay is the oldest day with stats rollups and the oldest
// event's time (both read from the start of an index).
func (db *DB) StatsRollupsFirstDay(ctx context.Context) (string, time.Time, error) {
	var first *string
	var oldest *time.Time
	if err := db.pool.QueryRow(ctx, `SELECT (SELECT min(day)::text FROM stats_rollups), (SELECT min(occurred_at) FROM events)`).Scan(&first, &oldest); err != nil {
		return "", time.Time{}, unavailable(fmt.Errorf("postgres: stats rollups: %w", err))
	}
	var day string
	var at time.Time
	if first != nil {
		day = *first
	}
	if oldest != nil {
		at = *oldest
	}
	return day, at, nil
}
