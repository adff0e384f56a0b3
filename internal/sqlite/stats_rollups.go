package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/altcontext/marketing"
)

// SaveStatsRollups replaces a property's stats rollups of a day in one
// transaction with one prepared insert.
func (db *DB) SaveStatsRollups(ctx context.Context, property, zone, day string, rows []marketing.StatsRollupRow) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM stats_rollups WHERE property_id = ? AND day = ?`, property, day); err != nil {
			return false, err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO stats_rollups (property_id, day, time_zone, field, value, visitors, converting_visitors,
				visits, pageviews, events, conversions, bounces, duration_ms, visitor_sketch, converting_sketch)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return false, err
		}
		defer ins.Close()
		for _, r := range rows {
			if _, err := ins.ExecContext(ctx, property, day, zone, r.Field, r.Value, r.Visitors, r.ConvertingVisitors, r.Visits,
				r.Pageviews, r.Events, r.Conversions, r.Bounces, r.DurationMs, r.VisitorSketch, r.ConvertingSketch); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: save stats rollups: %w", err))
	}
	return nil
}

// StatsRollups streams a property's rollup rows of the totals and a field.
func (db *DB) StatsRollups(ctx context.Context, property, zone, from, to, field string, fn func(*marketing.StatsRollupRow) error) error {
	var s marketing.StatsRollupRow
	var ferr error // fn's own error, returned as it is (never an outage)
	// Two range scans of the primary key (property, field, day), one per
	// field: written as one OR, SQLite's planner bounds neither by day and
	// reads the field's every day.
	const cols = `SELECT day, time_zone, field, value, visitors, converting_visitors, visits, pageviews, events, conversions,
			bounces, duration_ms, visitor_sketch, converting_sketch FROM stats_rollups `
	query, args := cols+`WHERE property_id = ? AND field = '' AND day BETWEEN ? AND ?`, []any{property, from, to}
	if field != "" {
		query += ` UNION ALL ` + cols + `WHERE property_id = ? AND field = ? AND time_zone = ? AND day BETWEEN ? AND ?`
		args = append(args, property, field, zone, from, to)
	}
	err := db.each(ctx, func(r scanner) error {
		if err := r.Scan(&s.Day, &s.TimeZone, &s.Field, &s.Value, &s.Visitors, &s.ConvertingVisitors, &s.Visits, &s.Pageviews, &s.Events, &s.Conversions,
			&s.Bounces, &s.DurationMs, &s.VisitorSketch, &s.ConvertingSketch); err != nil {
			return err
		}
		ferr = fn(&s)
		return ferr
	}, query, args...)
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: stats rollups: %w", err))
	}
	return nil
}

// StatsRollupsFirstDay is the oldest day with stats rollups and the oldest
// event's time (both read from the start of an index).
func (db *DB) StatsRollupsFirstDay(ctx context.Context) (string, time.Time, error) {
	var first sql.NullString
	var oldest sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT (SELECT min(day) FROM stats_rollups), (SELECT min(occurred_at) FROM events)`).Scan(&first, &oldest); err != nil {
		return "", time.Time{}, unavailable(fmt.Errorf("sqlite: stats rollups: %w", err))
	}
	var at time.Time
	if oldest.Valid {
		at = fromMS(oldest.Int64)
	}
	return first.String, at, nil
}
