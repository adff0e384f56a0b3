package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/altcontext/marketing"
)

// RollupFacts returns the raw aggregates of [start, end).
func (db *DB) RollupFacts(ctx context.Context, start, end time.Time) (*marketing.RollupFacts, error) {
	f := &marketing.RollupFacts{Start: start, End: end}
	s, e := ms(start), ms(end)
	steps := []struct {
		q    string
		args []any
		scan func(scanner) error
	}{
		{`SELECT property_id, event_type, traffic_source, is_conversion, count(*) FROM events
			WHERE occurred_at >= ? AND occurred_at < ? GROUP BY 1, 2, 3, 4`, []any{s, e}, func(r scanner) error {
			var g marketing.EventGroup
			err := r.Scan(&g.PropertyID, &g.EventType, &g.TrafficSource, &g.Conversion, &g.Count)
			f.Events = append(f.Events, g)
			return err
		}},
		{`SELECT d.property_id, d.visitor_id, EXISTS (SELECT 1 FROM events p WHERE p.visitor_id = d.visitor_id AND p.occurred_at < ?1)
			FROM (SELECT DISTINCT property_id, visitor_id FROM events WHERE occurred_at >= ?1 AND occurred_at < ?2) d`, []any{s, e}, func(r scanner) error {
			var v marketing.DayVisitor
			err := r.Scan(&v.PropertyID, &v.VisitorID, &v.Returning)
			f.Visitors = append(f.Visitors, v)
			return err
		}},
		{`SELECT s.property_id, s.landing_path, s.page_views, s.converted FROM sessions s
			WHERE s.started_at >= ?1 AND s.started_at < ?2`, []any{s, e}, func(r scanner) error {
			var x marketing.DaySession
			err := r.Scan(&x.PropertyID, &x.LandingPath, &x.PageViews, &x.Converted)
			f.Sessions = append(f.Sessions, x)
			return err
		}},
		{`SELECT property_id, ttfb_ms FROM events WHERE ttfb_ms IS NOT NULL AND occurred_at >= ? AND occurred_at < ?`, []any{s, e}, value(&f.TTFB)},
		{`SELECT coalesce(l.property_id, ''), coalesce((SELECT l.first_captured_at - min(e.occurred_at)
				FROM lead_identities i JOIN events e ON e.visitor_id = i.visitor_id WHERE i.lead_id = l.id AND i.link_source = 'form_submit'), -1)
			FROM leads l WHERE l.first_captured_at >= ? AND l.first_captured_at < ?`, []any{s, e}, value(&f.NewLeads)},
		{`SELECT coalesce(property_id, ''), count(*) FROM form_submissions
			WHERE submitted_at >= ? AND submitted_at < ? AND validation_status = 'accepted' GROUP BY 1`, []any{s, e}, value(&f.Submissions)},
	}
	for _, st := range steps {
		if err := db.each(ctx, st.scan, st.q, st.args...); err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: rollup facts: %w", err))
		}
	}
	var err error
	if f.Rejections, err = db.Rejections(ctx, start, end); err != nil {
		return nil, err
	}
	return f, nil
}

func value(into *[]marketing.PropertyValue) func(scanner) error {
	return func(r scanner) error {
		var v marketing.PropertyValue
		err := r.Scan(&v.PropertyID, &v.Value)
		*into = append(*into, v)
		return err
	}
}

// SaveRollups replaces the day's rollup rows.
func (db *DB) SaveRollups(ctx context.Context, day string, rows []marketing.DayRollup) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		for _, q := range []string{`DELETE FROM daily_metric_rollups WHERE day = ?`, `DELETE FROM daily_ingest_rollups WHERE day = ?`} {
			if _, err := tx.ExecContext(ctx, q, day); err != nil {
				return false, err
			}
		}
		for _, r := range rows {
			sources, _ := json.Marshal(r.TrafficSources)
			paths, _ := json.Marshal(r.TopLandingPaths)
			dropped, _ := json.Marshal(r.Dropped)
			if _, err := tx.ExecContext(ctx, `INSERT INTO daily_metric_rollups (property_id, day, unique_visitors, returning_visitors, total_page_views,
					total_entrances, total_exits, total_conversions, form_starts, form_submits, new_leads,
					time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, top_landing_paths,
					visitor_sketch, returning_sketch, generated_at, time_zone)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.PropertyID, day, r.UniqueVisitors, r.ReturningVisitors, r.PageViews, r.Entrances, r.Exits, r.Conversions,
				r.FormStarts, r.FormSubmits, r.NewLeads, r.TimeToCaptureSumMs, r.TimeToCaptureCount, string(sources), string(paths),
				r.VisitorSketch, r.ReturningSketch, ms(r.GeneratedAt), r.TimeZone); err != nil {
				return false, err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO daily_ingest_rollups (property_id, day, events_accepted, events_rejected, leads_accepted, leads_rejected,
					p95_ttfb_ms, ttfb_histogram, error_breakdown, generated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.PropertyID, day, r.EventsAccepted, r.EventsRejected, r.LeadsAccepted, r.LeadsRejected, r.P95TTFBMs,
				r.TTFBHistogram, string(dropped), ms(r.GeneratedAt)); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: save rollups: %w", err))
	}
	return nil
}

// Rollups returns a property's rollups of days from..to. SQLite has no
// materialized view: view is ignored.
func (db *DB) Rollups(ctx context.Context, property, from, to, view string) ([]marketing.DayRollup, error) {
	var out []marketing.DayRollup
	err := db.each(ctx, func(r scanner) error {
		var d marketing.DayRollup
		var sources, paths, dropped string
		var generated int64
		var p95 sql.NullInt64
		err := r.Scan(&d.PropertyID, &d.Day, &d.UniqueVisitors, &d.ReturningVisitors, &d.PageViews, &d.Entrances, &d.Exits,
			&d.Conversions, &d.FormStarts, &d.FormSubmits, &d.NewLeads, &d.TimeToCaptureSumMs, &d.TimeToCaptureCount,
			&sources, &paths, &d.VisitorSketch, &d.ReturningSketch, &generated,
			&d.EventsAccepted, &d.EventsRejected, &d.LeadsAccepted, &d.LeadsRejected, &p95, &d.TTFBHistogram, &dropped, &d.TimeZone)
		if err != nil {
			return err
		}
		d.GeneratedAt = fromMS(generated)
		if p95.Valid {
			d.P95TTFBMs = &p95.Int64
		}
		if err := errors.Join(json.Unmarshal([]byte(sources), &d.TrafficSources), json.Unmarshal([]byte(paths), &d.TopLandingPaths),
			json.Unmarshal([]byte(dropped), &d.Dropped)); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	}, `SELECT m.property_id, m.day, m.unique_visitors, m.returning_visitors, m.total_page_views, m.total_entrances, m.total_exits,
			m.total_conversions, m.form_starts, m.form_submits, m.new_leads, m.time_to_first_capture_sum_ms, m.time_to_first_capture_count,
			m.traffic_source_breakdown, m.top_landing_paths, m.visitor_sketch, m.returning_sketch, m.generated_at,
			coalesce(i.events_accepted, 0), coalesce(i.events_rejected, 0), coalesce(i.leads_accepted, 0), coalesce(i.leads_rejected, 0),
			i.p95_ttfb_ms, i.ttfb_histogram, coalesce(i.error_breakdown, '{}'), m.time_zone
		FROM daily_metric_rollups m LEFT JOIN daily_ingest_rollups i ON i.property_id = m.property_id AND i.day = m.day
		WHERE m.property_id = ? AND m.day BETWEEN ? AND ? ORDER BY m.day`, property, from, to)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read rollups: %w", err))
	}
	return out, nil
}

// RollupDays returns the first and last rolled-up days.
func (db *DB) RollupDays(ctx context.Context) (string, string, error) {
	var first, last sql.NullString
	if err := db.read.QueryRowContext(ctx, `SELECT min(day), max(day) FROM daily_metric_rollups`).Scan(&first, &last); err != nil {
		return "", "", fmt.Errorf("sqlite: rollup days: %w", err)
	}
	return first.String, last.String, nil
}

// RefreshView: SQLite has no materialized views.
func (db *DB) RefreshView(ctx context.Context, name string) error {
	return marketing.Errorf(marketing.EINVALID, "materialized views are a PostgreSQL feature; SQLite summaries read the rollup tables")
}

// ClaimJob records a run unless its (job, slot) exists.
func (db *DB) ClaimJob(ctx context.Context, run *marketing.JobRun) (bool, error) {
	res, err := db.write.ExecContext(ctx, `INSERT INTO job_runs (id, job, slot, status, dry_run, started_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (job, slot) DO NOTHING`, run.ID, run.Job, run.Slot, marketing.JobRunning, run.DryRun, ms(run.StartedAt))
	if err != nil {
		return false, unavailable(fmt.Errorf("sqlite: claim job: %w", err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// FinishJob records a run's outcome.
func (db *DB) FinishJob(ctx context.Context, run *marketing.JobRun) error {
	details, _ := json.Marshal(run.Details)
	_, err := db.write.ExecContext(ctx, `UPDATE job_runs SET status = ?, details = ?, error = ?, finished_at = ? WHERE id = ?`,
		run.Status, string(details), nullable(run.Error), ms(run.FinishedAt), run.ID)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: finish job: %w", err))
	}
	return nil
}

// JobRuns lists the latest runs.
func (db *DB) JobRuns(ctx context.Context, limit int) ([]marketing.JobRun, error) {
	var out []marketing.JobRun
	err := db.each(ctx, func(r scanner) error {
		var j marketing.JobRun
		var details string
		var started, finished int64
		if err := r.Scan(&j.ID, &j.Job, &j.Slot, &j.Status, &j.DryRun, &details, &j.Error, &started, &finished); err != nil {
			return err
		}
		j.StartedAt, j.FinishedAt = fromMS(started), fromMS(finished)
		out = append(out, j)
		return json.Unmarshal([]byte(details), &out[len(out)-1].Details)
	}, `SELECT id, job, slot, status, dry_run, coalesce(details, '{}'), coalesce(error, ''), started_at, coalesce(finished_at, started_at)
		FROM job_runs ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: job runs: %w", err))
	}
	return out, nil
}

// purgeSteps mirror internal/postgres.
var purgeSteps = []struct {
	table, where, key string
	cutoff            func(marketing.Retention) any
	name, change      string // how it is reported ("": table); the change ("": DELETE)
}{
	{"events", `occurred_at < ?`, "seq", func(r marketing.Retention) any { return ms(r.Events) }, "", ""},
	{"sessions", `ended_at < ?`, "id", func(r marketing.Retention) any { return ms(r.Events) }, "", ""},
	// The ledger row stays; only its free-text reason goes.
	{"consent_events", `reason IS NOT NULL AND occurred_at < ?`, "id", func(r marketing.Retention) any { return ms(r.Events) },
		"consent_reasons", `UPDATE consent_events SET reason = NULL`},
	{"daily_metric_rollups", `day < ?`, "rowid", func(r marketing.Retention) any { return r.Rollups }, "", ""},
	{"daily_ingest_rollups", `day < ?`, "rowid", func(r marketing.Retention) any { return r.Rollups }, "", ""},
	{"stats_rollups", `day < ?`, "rowid", func(r marketing.Retention) any { return r.Rollups }, "", ""},
	// Both sketches of a row go together; the predicates are those of the
	// partial indexes of migration 0007 (the rows left to clear).
	{"daily_metric_rollups", `day < ? AND visitor_sketch IS NOT NULL`, "rowid", sketchCutoff,
		"daily_metric_rollups_sketches", `UPDATE daily_metric_rollups SET visitor_sketch = NULL, returning_sketch = NULL`},
	{"stats_rollups", `day < ? AND length(visitor_sketch) > 0`, "rowid", sketchCutoff,
		"stats_rollups_sketches", `UPDATE stats_rollups SET visitor_sketch = X'', converting_sketch = X''`},
	{"ingest_rejections", `hour < ?`, "rowid", func(r marketing.Retention) any { return ms(r.Rejections) }, "", ""},
	{"visitor_salts", `created_at < ?`, "day", func(r marketing.Retention) any { return ms(r.Salts) }, "", ""},
	{"login_sessions", `expires_at < ?`, "id", func(r marketing.Retention) any { return ms(r.LoginSessions) }, "", ""},
}

// sketchCutoff is the day before which rollups lose their sketches of
// visitor ids (docs/metrics.md, "Past the raw window"); a day no rollup
// precedes when the retention names none.
func sketchCutoff(r marketing.Retention) any {
	if r.Sketches == "" {
		return "0001-01-01"
	}
	return r.Sketches
}

// Purge deletes (or counts) what retention removes, a batch per transaction.
func (db *DB) Purge(ctx context.Context, r marketing.Retention, dryRun bool) (map[string]int64, error) {
	out := map[string]int64{}
	for _, st := range purgeSteps {
		cut, name := st.cutoff(r), st.name
		if name == "" {
			name = st.table
		}
		if dryRun {
			var n int64
			if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM `+st.table+` WHERE `+st.where, cut).Scan(&n); err != nil {
				return out, fmt.Errorf("sqlite: count %s: %w", st.table, err)
			}
			out[name] = n
			continue
		}
		for {
			change := st.change
			if change == "" {
				change = `DELETE FROM ` + st.table
			}
			res, err := db.write.ExecContext(ctx, change+` WHERE `+st.key+` IN (SELECT `+st.key+` FROM `+st.table+` WHERE `+st.where+` LIMIT ?)`, cut, r.BatchSize)
			if err != nil {
				return out, fmt.Errorf("sqlite: purge %s: %w", st.table, err)
			}
			n, _ := res.RowsAffected()
			out[name] += n
			if n < int64(r.BatchSize) {
				break
			}
		}
	}
	return out, nil
}
