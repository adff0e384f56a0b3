package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/altcontext/marketing"
)

// WriteEvents stores a batch in one IMMEDIATE transaction: visitor upserts,
// duplicate and latest-session lookups, PlanSessions, then session and event
// writes. SQLite has one writer, so batches never interleave.
func (db *DB) WriteEvents(ctx context.Context, events []marketing.PendingEvent, rules marketing.SessionRules) ([]marketing.EventResult, error) {
	var results []marketing.EventResult
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		plan, err := writeEvents(ctx, tx, events, rules)
		results = plan.Results
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", marketing.Errorf(marketing.EUNAVAILABLE, "database unavailable"), err)
	}
	return results, nil
}

// writeEvents does WriteEvents' work inside tx and returns the plan.
func writeEvents(ctx context.Context, tx *sql.Tx, events []marketing.PendingEvent, rules marketing.SessionRules) (marketing.SessionPlan, error) {
	visitors, existing, err := upsertVisitors(ctx, tx, events)
	if err != nil {
		return marketing.SessionPlan{}, err
	}
	dups, err := findDuplicates(ctx, tx, events)
	if err != nil {
		return marketing.SessionPlan{}, err
	}
	latest, err := latestSessions(ctx, tx, existing)
	if err != nil {
		return marketing.SessionPlan{}, err
	}
	plan := marketing.PlanSessions(events, visitors, latest, dups, rules)
	if err := insertSessions(ctx, tx, plan.Inserted); err != nil {
		return plan, err
	}
	if err := updateSessions(ctx, tx, plan.Updated); err != nil {
		return plan, err
	}
	return plan, insertEvents(ctx, tx, plan.Events)
}

// sessionColumns lists a session's columns in scanSession's order.
const sessionColumns = `id, visitor_id, property_id, started_at, last_event_at, landing_path,
	coalesce(referrer_host, ''), traffic_source, coalesce(utm_source, ''), coalesce(utm_medium, ''),
	coalesce(utm_campaign, ''), coalesce(utm_term, ''), coalesce(utm_content, ''),
	coalesce(exit_path, ''), page_views, event_count`

type scanner interface{ Scan(dest ...any) error }

func scanSession(r scanner, s *marketing.Session) error {
	var started, last int64
	err := r.Scan(&s.ID, &s.VisitorID, &s.PropertyID, &started, &last, &s.LandingPath,
		&s.ReferrerHost, &s.TrafficSource, &s.UTM.Source, &s.UTM.Medium, &s.UTM.Campaign, &s.UTM.Term,
		&s.UTM.Content, &s.ExitPath, &s.PageViews, &s.Events)
	s.StartedAt, s.LastEventAt = fromMS(started), fromMS(last)
	return err
}

func upsertVisitors(ctx context.Context, tx *sql.Tx, events []marketing.PendingEvent) (map[string]string, []string, error) {
	type agg struct {
		first, last time.Time
		ip, ua      string
	}
	byAnon := make(map[string]*agg, len(events))
	for i := range events {
		e := &events[i]
		a := byAnon[e.AnonID]
		if a == nil {
			byAnon[e.AnonID] = &agg{first: e.OccurredAt, last: e.OccurredAt, ip: e.IPHash, ua: e.UAHash}
			continue
		}
		if e.OccurredAt.Before(a.first) {
			a.first = e.OccurredAt
		}
		if !e.OccurredAt.Before(a.last) {
			a.last, a.ip, a.ua = e.OccurredAt, e.IPHash, e.UAHash
		}
	}
	anons := make([]string, 0, len(byAnon))
	for k := range byAnon {
		anons = append(anons, k)
	}
	sort.Strings(anons)
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO visitors AS v (id, anon_id, first_seen_at, last_seen_at, last_ip_hash, last_ua_hash)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (anon_id) DO UPDATE SET
			first_seen_at = min(v.first_seen_at, excluded.first_seen_at),
			last_seen_at = max(v.last_seen_at, excluded.last_seen_at),
			last_ip_hash = CASE WHEN excluded.last_seen_at >= v.last_seen_at THEN excluded.last_ip_hash ELSE v.last_ip_hash END,
			last_ua_hash = CASE WHEN excluded.last_seen_at >= v.last_seen_at THEN excluded.last_ua_hash ELSE v.last_ua_hash END
		RETURNING id`)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: upsert visitors: %w", err)
	}
	defer stmt.Close()
	visitors := make(map[string]string, len(anons))
	var existing []string
	for _, k := range anons {
		a := byAnon[k]
		proposed := marketing.NewID(a.first)
		var id string
		if err := stmt.QueryRowContext(ctx, proposed, k, ms(a.first), ms(a.last), nullable(a.ip), nullable(a.ua)).Scan(&id); err != nil {
			return nil, nil, fmt.Errorf("sqlite: upsert visitors: %w", err)
		}
		visitors[k] = id
		if id != proposed {
			existing = append(existing, id)
		}
	}
	return visitors, existing, nil
}

func findDuplicates(ctx context.Context, tx *sql.Tx, events []marketing.PendingEvent) ([]marketing.Duplicate, error) {
	stmt, err := tx.PrepareContext(ctx, `SELECT id, visitor_id, session_id, received_at FROM events WHERE dedupe_key = ? AND received_at > ? ORDER BY received_at DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find duplicates: %w", err)
	}
	defer stmt.Close()
	since := ms(time.Now().Add(-25 * time.Hour))
	var dups []marketing.Duplicate
	for i := range events {
		var d marketing.Duplicate
		var at int64
		err := stmt.QueryRowContext(ctx, events[i].DedupeKey, since).Scan(&d.Result.EventID, &d.Result.VisitorID, &d.Result.SessionID, &at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: find duplicates: %w", err)
		}
		d.Key, d.ReceivedAt = string(events[i].DedupeKey), fromMS(at)
		dups = append(dups, d)
	}
	return dups, nil
}

func latestSessions(ctx context.Context, tx *sql.Tx, visitorIDs []string) (map[string]*marketing.Session, error) {
	latest := map[string]*marketing.Session{}
	if len(visitorIDs) == 0 {
		return latest, nil
	}
	stmt, err := tx.PrepareContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE visitor_id = ? ORDER BY started_at DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: latest sessions: %w", err)
	}
	defer stmt.Close()
	for _, vid := range visitorIDs {
		s := &marketing.Session{}
		err := scanSession(stmt.QueryRowContext(ctx, vid), s)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: latest sessions: %w", err)
		}
		latest[vid] = s
	}
	return latest, nil
}

func insertSessions(ctx context.Context, tx *sql.Tx, ss []*marketing.Session) error {
	if len(ss) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO sessions (id, visitor_id, property_id, started_at, last_event_at, landing_path,
			referrer_host, traffic_source, utm_source, utm_medium, utm_campaign, utm_term, utm_content, exit_path, page_views, event_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: insert sessions: %w", err)
	}
	defer stmt.Close()
	for _, s := range ss {
		if _, err := stmt.ExecContext(ctx, s.ID, s.VisitorID, s.PropertyID, ms(s.StartedAt), ms(s.LastEventAt), s.LandingPath,
			nullable(s.ReferrerHost), s.TrafficSource, nullable(s.UTM.Source), nullable(s.UTM.Medium), nullable(s.UTM.Campaign),
			nullable(s.UTM.Term), nullable(s.UTM.Content), nullable(s.ExitPath), s.PageViews, s.Events); err != nil {
			return fmt.Errorf("sqlite: insert sessions: %w", err)
		}
	}
	return nil
}

func updateSessions(ctx context.Context, tx *sql.Tx, ss []*marketing.Session) error {
	if len(ss) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `UPDATE sessions SET last_event_at = ?, exit_path = ?, page_views = ?, event_count = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("sqlite: update sessions: %w", err)
	}
	defer stmt.Close()
	for _, s := range ss {
		if _, err := stmt.ExecContext(ctx, ms(s.LastEventAt), nullable(s.ExitPath), s.PageViews, s.Events, s.ID); err != nil {
			return fmt.Errorf("sqlite: update sessions: %w", err)
		}
	}
	return nil
}

func insertEvents(ctx context.Context, tx *sql.Tx, evs []marketing.PlannedEvent) error {
	if len(evs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (id, visitor_id, session_id, dedupe_key, event_type, path, occurred_at, received_at,
			property_id, referrer_host, traffic_source, device_type, browser, os, country_code, is_entrance, is_conversion,
			engaged_ms, scroll_pct, fcp_ms, lcp_ms, inp_ms, ttfb_ms, cls, props)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: insert events: %w", err)
	}
	defer stmt.Close()
	for i := range evs {
		e := &evs[i]
		var props any
		if e.Props != nil {
			props = string(e.Props)
		}
		if _, err := stmt.ExecContext(ctx, e.ID, e.VisitorID, e.SessionID, e.DedupeKey, e.EventType, e.Path, ms(e.OccurredAt), ms(e.ReceivedAt),
			e.PropertyID, nullable(e.ReferrerHost), e.TrafficSource, e.DeviceType, nullable(e.Browser), nullable(e.OS), nullable(e.CountryCode),
			e.IsEntrance, e.IsConversion, e.EngagedMs, e.ScrollPct, e.FCPMs, e.LCPMs, e.INPMs, e.TTFBMs, e.CLS, props); err != nil {
			return fmt.Errorf("sqlite: insert events: %w", err)
		}
	}
	return nil
}

// AddRejections adds to the hourly rejection counters.
func (db *DB) AddRejections(ctx context.Context, counts []marketing.RejectionCount) error {
	if len(counts) == 0 {
		return nil
	}
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO ingest_rejections AS r (hour, property_id, endpoint, reason, count) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (hour, property_id, endpoint, reason) DO UPDATE SET count = r.count + excluded.count`)
		if err != nil {
			return false, err
		}
		defer stmt.Close()
		for _, c := range counts {
			if _, err := stmt.ExecContext(ctx, ms(c.Hour), c.PropertyID, c.Endpoint, c.Reason, c.Count); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: add rejections: %w", err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Rejections sums the counters of hours in [from, to).
func (db *DB) Rejections(ctx context.Context, from, to time.Time) ([]marketing.RejectionCount, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT property_id, endpoint, reason, sum(count) FROM ingest_rejections
		WHERE hour >= ? AND hour < ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("sqlite: rejections: %w", err)
	}
	defer rows.Close()
	var out []marketing.RejectionCount
	for rows.Next() {
		var c marketing.RejectionCount
		if err := rows.Scan(&c.PropertyID, &c.Endpoint, &c.Reason, &c.Count); err != nil {
			return nil, fmt.Errorf("sqlite: rejections: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// VisitorSessions lists a visitor's sessions, oldest first.
func (db *DB) VisitorSessions(ctx context.Context, visitorID string) ([]marketing.Session, error) {
	return db.sessions(ctx, `visitor_id = ?`, visitorID)
}

func (db *DB) sessions(ctx context.Context, where string, args ...any) ([]marketing.Session, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE `+where+` ORDER BY started_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sessions: %w", err)
	}
	defer rows.Close()
	var out []marketing.Session
	for rows.Next() {
		var s marketing.Session
		if err := scanSession(rows, &s); err != nil {
			return nil, fmt.Errorf("sqlite: sessions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
