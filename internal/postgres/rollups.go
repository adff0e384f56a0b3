package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/altcontext/marketing"
)

// RollupFacts returns the raw aggregates of [start, end).
func (db *DB) RollupFacts(ctx context.Context, start, end time.Time) (*marketing.RollupFacts, error) {
	f := &marketing.RollupFacts{Start: start, End: end}
	var b pgx.Batch
	b.Queue(`SELECT property_id, event_type, traffic_source, is_conversion, count(*) FROM events
		WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY 1, 2, 3, 4`, start, end)
	// Returning: the visitor has an event before the day (within the raw
	// retention window, as with any visitor history).
	b.Queue(`SELECT d.property_id, d.visitor_id, EXISTS (SELECT 1 FROM events p WHERE p.visitor_id = d.visitor_id AND p.occurred_at < $1)
		FROM (SELECT DISTINCT property_id, visitor_id FROM events WHERE occurred_at >= $1 AND occurred_at < $2) d`, start, end)
	b.Queue(`SELECT s.property_id, s.landing_path, s.page_views, s.converted FROM sessions s
		WHERE s.started_at >= $1 AND s.started_at < $2`, start, end)
	b.Queue(`SELECT property_id, ttfb_ms::int8 FROM events WHERE ttfb_ms IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2`, start, end)
	b.Queue(`SELECT coalesce(l.property_id, ''), coalesce((SELECT (extract(epoch FROM l.first_captured_at - min(e.occurred_at)) * 1000)::int8
			FROM lead_identities i JOIN events e ON e.visitor_id = i.visitor_id WHERE i.lead_id = l.id AND i.link_source = 'form_submit'), -1)
		FROM leads l WHERE l.first_captured_at >= $1 AND l.first_captured_at < $2`, start, end)
	b.Queue(`SELECT coalesce(property_id, ''), count(*) FROM form_submissions
		WHERE submitted_at >= $1 AND submitted_at < $2 AND validation_status = 'accepted' GROUP BY 1`, start, end)
	br := db.pool.SendBatch(ctx, &b)
	defer br.Close()
	var err error
	collect := func(fn func(pgx.CollectableRow) error) {
		if err != nil {
			return
		}
		rows, qerr := br.Query()
		if qerr != nil {
			err = qerr
			return
		}
		_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) { return struct{}{}, fn(r) })
	}
	collect(func(r pgx.CollectableRow) error {
		var g marketing.EventGroup
		err := r.Scan(&g.PropertyID, &g.EventType, &g.TrafficSource, &g.Conversion, &g.Count)
		f.Events = append(f.Events, g)
		return err
	})
	collect(func(r pgx.CollectableRow) error {
		var v marketing.DayVisitor
		err := r.Scan(&v.PropertyID, &v.VisitorID, &v.Returning)
		f.Visitors = append(f.Visitors, v)
		return err
	})
	collect(func(r pgx.CollectableRow) error {
		var s marketing.DaySession
		err := r.Scan(&s.PropertyID, &s.LandingPath, &s.PageViews, &s.Converted)
		f.Sessions = append(f.Sessions, s)
		return err
	})
	for _, into := range []*[]marketing.PropertyValue{&f.TTFB, &f.NewLeads, &f.Submissions} {
		collect(func(r pgx.CollectableRow) error {
			var v marketing.PropertyValue
			err := r.Scan(&v.PropertyID, &v.Value)
			*into = append(*into, v)
			return err
		})
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: rollup facts: %w", err))
	}
	if err := br.Close(); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: rollup facts: %w", err))
	}
	if f.Rejections, err = db.Rejections(ctx, start, end); err != nil {
		return nil, err
	}
	return f, nil
}

// SaveRollups replaces the day's rollup rows.
func (db *DB) SaveRollups(ctx context.Context, day string, rows []marketing.DayRollup) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue(`DELETE FROM daily_metric_rollups WHERE day = $1`, day)
		b.Queue(`DELETE FROM daily_ingest_rollups WHERE day = $1`, day)
		for _, r := range rows {
			sources, _ := json.Marshal(r.TrafficSources)
			paths, _ := json.Marshal(r.TopLandingPaths)
			dropped, _ := json.Marshal(r.Dropped)
			b.Queue(`INSERT INTO daily_metric_rollups (property_id, day, unique_visitors, returning_visitors, total_page_views,
					total_entrances, total_exits, total_conversions, form_starts, form_submits, new_leads,
					time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, top_landing_paths,
					visitor_sketch, returning_sketch, generated_at, time_zone)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
				r.PropertyID, day, r.UniqueVisitors, r.ReturningVisitors, r.PageViews, r.Entrances, r.Exits, r.Conversions,
				r.FormStarts, r.FormSubmits, r.NewLeads, r.TimeToCaptureSumMs, r.TimeToCaptureCount, string(sources), string(paths),
				r.VisitorSketch, r.ReturningSketch, r.GeneratedAt, r.TimeZone)
			b.Queue(`INSERT INTO daily_ingest_rollups (property_id, day, events_accepted, events_rejected, leads_accepted, leads_rejected,
					p95_ttfb_ms, ttfb_histogram, error_breakdown, generated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				r.PropertyID, day, r.EventsAccepted, r.EventsRejected, r.LeadsAccepted, r.LeadsRejected, r.P95TTFBMs,
				r.TTFBHistogram, string(dropped), r.GeneratedAt)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return unavailable(fmt.Errorf("postgres: save rollups: %w", err))
	}
	return nil
}

const rollupColumns = `property_id, day::text, unique_visitors, returning_visitors, total_page_views, total_entrances, total_exits,
	total_conversions, form_starts, form_submits, new_leads, time_to_first_capture_sum_ms, time_to_first_capture_count,
	traffic_source_breakdown, top_landing_paths, visitor_sketch, returning_sketch, generated_at,
	events_accepted, events_rejected, leads_accepted, leads_rejected, p95_ttfb_ms, ttfb_histogram, error_breakdown,
	time_zone`

// Rollups returns a property's rollups of days from..to.
func (db *DB) Rollups(ctx context.Context, property, from, to, view string) ([]marketing.DayRollup, error) {
	const tables = `(SELECT m.*, coalesce(i.events_accepted, 0) AS events_accepted, coalesce(i.events_rejected, 0) AS events_rejected,
		coalesce(i.leads_accepted, 0) AS leads_accepted, coalesce(i.leads_rejected, 0) AS leads_rejected, i.p95_ttfb_ms,
		i.ttfb_histogram, coalesce(i.error_breakdown, '{}') AS error_breakdown
		FROM daily_metric_rollups m LEFT JOIN daily_ingest_rollups i ON i.property_id = m.property_id AND i.day = m.day) r`
	source := tables
	if view != "" {
		var populated bool
		err := db.pool.QueryRow(ctx, `SELECT ispopulated FROM pg_matviews WHERE matviewname = $1 AND schemaname = current_schema()`, view).Scan(&populated)
		if err == nil && populated {
			source = pgx.Identifier{view}.Sanitize()
		} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, unavailable(fmt.Errorf("postgres: check view: %w", err))
		}
	}
	rows, err := db.pool.Query(ctx, `SELECT `+rollupColumns+` FROM `+source+` WHERE property_id = $1 AND day BETWEEN $2::date AND $3::date ORDER BY day`,
		property, from, to)
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && pgErr.Code == "42703" && source != tables {
		// A view created before the rollups recorded their zone (a custom
		// METRICS_MATERIALIZED_VIEW_NAME): the tables answer, as when a
		// view is missing.
		rows, err = db.pool.Query(ctx, `SELECT `+rollupColumns+` FROM `+tables+` WHERE property_id = $1 AND day BETWEEN $2::date AND $3::date ORDER BY day`,
			property, from, to)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read rollups: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.DayRollup, error) {
		var d marketing.DayRollup
		var sources, paths, dropped []byte
		err := r.Scan(&d.PropertyID, &d.Day, &d.UniqueVisitors, &d.ReturningVisitors, &d.PageViews, &d.Entrances, &d.Exits,
			&d.Conversions, &d.FormStarts, &d.FormSubmits, &d.NewLeads, &d.TimeToCaptureSumMs, &d.TimeToCaptureCount,
			&sources, &paths, &d.VisitorSketch, &d.ReturningSketch, &d.GeneratedAt,
			&d.EventsAccepted, &d.EventsRejected, &d.LeadsAccepted, &d.LeadsRejected, &d.P95TTFBMs, &d.TTFBHistogram, &dropped, &d.TimeZone)
		if err == nil {
			err = errors.Join(json.Unmarshal(sources, &d.TrafficSources), json.Unmarshal(paths, &d.TopLandingPaths), json.Unmarshal(dropped, &d.Dropped))
		}
		return d, err
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read rollups: %w", err))
	}
	return out, nil
}

// RollupDays returns the first and last rolled-up days.
func (db *DB) RollupDays(ctx context.Context) (string, string, error) {
	var first, last *string
	if err := db.pool.QueryRow(ctx, `SELECT min(day)::text, max(day)::text FROM daily_metric_rollups`).Scan(&first, &last); err != nil {
		return "", "", unavailable(fmt.Errorf("postgres: rollup days: %w", err))
	}
	if first == nil {
		return "", "", nil
	}
	return *first, *last, nil
}

// RefreshView refreshes a materialized view concurrently (readers are not
// blocked); the first fill of an empty view cannot be concurrent.
func (db *DB) RefreshView(ctx context.Context, name string) error {
	var populated bool
	err := db.pool.QueryRow(ctx, `SELECT ispopulated FROM pg_matviews WHERE matviewname = $1 AND schemaname = current_schema()`, name).Scan(&populated)
	if errors.Is(err, pgx.ErrNoRows) {
		return marketing.Errorf(marketing.ENOTFOUND, "materialized view %s does not exist", name)
	}
	if err != nil {
		return unavailable(fmt.Errorf("postgres: refresh view: %w", err))
	}
	q := `REFRESH MATERIALIZED VIEW CONCURRENTLY ` + pgx.Identifier{name}.Sanitize()
	if !populated {
		q = `REFRESH MATERIALIZED VIEW ` + pgx.Identifier{name}.Sanitize()
	}
	if _, err := db.pool.Exec(ctx, q); err != nil {
		return unavailable(fmt.Errorf("postgres: refresh view: %w", err))
	}
	return nil
}

// ClaimJob records a run unless its (job, slot) exists.
func (db *DB) ClaimJob(ctx context.Context, run *marketing.JobRun) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO job_runs (id, job, slot, status, dry_run, started_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (job, slot) DO NOTHING`, run.ID, run.Job, run.Slot, marketing.JobRunning, run.DryRun, run.StartedAt)
	if err != nil {
		return false, unavailable(fmt.Errorf("postgres: claim job: %w", err))
	}
	return tag.RowsAffected() == 1, nil
}

// FinishJob records a run's outcome.
func (db *DB) FinishJob(ctx context.Context, run *marketing.JobRun) error {
	details, _ := json.Marshal(run.Details)
	_, err := db.pool.Exec(ctx, `UPDATE job_runs SET status = $2, details = $3, error = $4, finished_at = $5 WHERE id = $1`,
		run.ID, run.Status, string(details), nullable(run.Error), run.FinishedAt)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: finish job: %w", err))
	}
	return nil
}

// JobRuns lists the latest runs.
func (db *DB) JobRuns(ctx context.Context, limit int) ([]marketing.JobRun, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, job, slot, status, dry_run, coalesce(details::text, '{}'), coalesce(error, ''), started_at,
		coalesce(finished_at, started_at) FROM job_runs ORDER BY started_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: job runs: %w", err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.JobRun, error) {
		var j marketing.JobRun
		var details string
		err := r.Scan(&j.ID, &j.Job, &j.Slot, &j.Status, &j.DryRun, &details, &j.Error, &j.StartedAt, &j.FinishedAt)
		if err == nil {
			err = json.Unmarshal([]byte(details), &j.Details)
		}
		return j, err
	})
}

// purgeSteps are the retention deletes.
var purgeSteps = []struct {
	table, count, delete string
	cutoff               func(marketing.Retention) any
}{
	{"events", `SELECT count(*) FROM events WHERE occurred_at < $1`,
		`DELETE FROM events WHERE ctid IN (SELECT ctid FROM events WHERE occurred_at < $1 LIMIT $2)`,
		func(r marketing.Retention) any { return r.Events }},
	{"sessions", `SELECT count(*) FROM sessions WHERE ended_at < $1`,
		`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE ended_at < $1 LIMIT $2)`,
		func(r marketing.Retention) any { return r.Events }},
	// The free text of an unsubscribe is feedback, kept as long as raw
	// events; the ledger row itself stays.
	{"consent_reasons", `SELECT count(*) FROM consent_events WHERE reason IS NOT NULL AND occurred_at < $1`,
		`UPDATE consent_events SET reason = NULL WHERE id IN (SELECT id FROM consent_events WHERE reason IS NOT NULL AND occurred_at < $1 LIMIT $2)`,
		func(r marketing.Retention) any { return r.Events }},
	{"daily_metric_rollups", `SELECT count(*) FROM daily_metric_rollups WHERE day < $1::date`,
		`DELETE FROM daily_metric_rollups WHERE (property_id, day) IN (SELECT property_id, day FROM daily_metric_rollups WHERE day < $1::date LIMIT $2)`,
		func(r marketing.Retention) any { return r.Rollups }},
	{"daily_ingest_rollups", `SELECT count(*) FROM daily_ingest_rollups WHERE day < $1::date`,
		`DELETE FROM daily_ingest_rollups WHERE (property_id, day) IN (SELECT property_id, day FROM daily_ingest_rollups WHERE day < $1::date LIMIT $2)`,
		func(r marketing.Retention) any { return r.Rollups }},
	{"stats_rollups", `SELECT count(*) FROM stats_rollups WHERE day < $1::date`,
		`DELETE FROM stats_rollups WHERE (property_id, field, day, value) IN (SELECT property_id, field, day, value FROM stats_rollups WHERE day < $1::date LIMIT $2)`,
		func(r marketing.Retention) any { return r.Rollups }},
	// Past the raw window the rollups keep counts only: their sketches of
	// visitor ids go (docs/metrics.md, "Past the raw window").
	// Both sketches of a row are always written and cleared together, so
	// the visitor sketch says for both; the predicates are those of the
	// partial indexes of migration 0007, which hold the rows left to clear.
	{"daily_metric_rollups_sketches", `SELECT count(*) FROM daily_metric_rollups WHERE day < $1::date AND visitor_sketch IS NOT NULL`,
		`UPDATE daily_metric_rollups SET visitor_sketch = NULL, returning_sketch = NULL WHERE (property_id, day) IN
			(SELECT property_id, day FROM daily_metric_rollups WHERE day < $1::date AND visitor_sketch IS NOT NULL LIMIT $2)`,
		func(r marketing.Retention) any { return sketchCutoff(r) }},
	{"stats_rollups_sketches", `SELECT count(*) FROM stats_rollups WHERE day < $1::date AND length(visitor_sketch) > 0`,
		`UPDATE stats_rollups SET visitor_sketch = '', converting_sketch = '' WHERE (property_id, field, day, value) IN
			(SELECT property_id, field, day, value FROM stats_rollups WHERE day < $1::date AND length(visitor_sketch) > 0 LIMIT $2)`,
		func(r marketing.Retention) any { return sketchCutoff(r) }},
	{"ingest_rejections", `SELECT count(*) FROM ingest_rejections WHERE hour < $1`,
		`DELETE FROM ingest_rejections WHERE (hour, property_id, endpoint, reason) IN (SELECT hour, property_id, endpoint, reason FROM ingest_rejections WHERE hour < $1 LIMIT $2)`,
		func(r marketing.Retention) any { return r.Rejections }},
	{"visitor_salts", `SELECT count(*) FROM visitor_salts WHERE created_at < $1`,
		`DELETE FROM visitor_salts WHERE day IN (SELECT day FROM visitor_salts WHERE created_at < $1 LIMIT $2)`,
		func(r marketing.Retention) any { return r.Salts }},
	{"login_sessions", `SELECT count(*) FROM login_sessions WHERE expires_at < $1`,
		`DELETE FROM login_sessions WHERE id IN (SELECT id FROM login_sessions WHERE expires_at < $1 LIMIT $2)`,
		func(r marketing.Retention) any { return r.LoginSessions }},
}

// sketchCutoff is the day before which rollups lose their sketches; a
// day no rollup precedes when the retention names none.
func sketchCutoff(r marketing.Retention) string {
	if r.Sketches == "" {
		return "0001-01-01"
	}
	return r.Sketches
}

// Purge deletes (or counts) what retention removes, a batch per
// transaction, so the tables stay writable.
func (db *DB) Purge(ctx context.Context, r marketing.Retention, dryRun bool) (map[string]int64, error) {
	out := map[string]int64{}
	for _, st := range purgeSteps {
		cut := st.cutoff(r)
		if dryRun {
			var n int64
			if err := db.pool.QueryRow(ctx, st.count, cut).Scan(&n); err != nil {
				return out, unavailable(fmt.Errorf("postgres: count %s: %w", st.table, err))
			}
			out[st.table] = n
			continue
		}
		for {
			var tag pgconn.CommandTag
			tag, err := db.pool.Exec(ctx, st.delete, cut, r.BatchSize)
			if err != nil {
				return out, unavailable(fmt.Errorf("postgres: purge %s: %w", st.table, err))
			}
			out[st.table] += tag.RowsAffected()
			if tag.RowsAffected() < int64(r.BatchSize) {
				break
			}
		}
	}
	return out, nil
}
