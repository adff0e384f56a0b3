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

// WriteEvents stores a batch in one IMMEDIATE transaction: the epoch, the
// duplicate probe, reads for visitors the writer's cache cannot vouch for,
// PlanSessions, then visitor, session and event writes. SQLite has one
// writer, so batches never interleave.
func (db *DB) WriteEvents(ctx context.Context, events []marketing.PendingEvent, rules marketing.SessionRules) ([]marketing.EventResult, error) {
	c := db.visitors
	c.Lock()
	defer c.Unlock()
	var plan marketing.SessionPlan
	var epoch marketing.Epoch
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		var err error
		plan, epoch, err = writeEvents(ctx, tx, events, rules, c)
		return err == nil, err
	})
	if err != nil {
		c.Reset()
		return nil, fmt.Errorf("%w: %w", marketing.Errorf(marketing.EUNAVAILABLE, "database unavailable"), err)
	}
	c.Committed(epoch, plan.Visitors)
	if db.batches++; db.batches%1024 == 0 {
		_, _ = db.write.ExecContext(ctx, `DELETE FROM ingest_touched WHERE at < ?`, ms(time.Now().Add(-10*time.Minute)))
	}
	if db.checkpointDue.CompareAndSwap(true, false) {
		// Between batches no commit can race the copy, so it completes
		// and the next batch restarts the log.
		_, _ = db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	}
	return plan.Results, nil
}

// writeEvents does WriteEvents' work inside tx and returns the plan and the
// epoch it leaves. With cache nil (a writer other than the event writer,
// such as a lead capture) every visitor is read, and the write names the
// visitors it touched for the event writer (migration 0007).
func writeEvents(ctx context.Context, tx *sql.Tx, events []marketing.PendingEvent, rules marketing.SessionRules, cache *marketing.VisitorCache) (marketing.SessionPlan, marketing.Epoch, error) {
	var epoch marketing.Epoch
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM ingest_epoch WHERE id = 1`).Scan(&epoch.Seq); err != nil {
		return marketing.SessionPlan{}, epoch, fmt.Errorf("sqlite: read ingest epoch: %w", err)
	}
	from := epoch.Seq
	if cache != nil {
		if err := explainMove(ctx, tx, cache, epoch); err != nil {
			return marketing.SessionPlan{}, epoch, err
		}
	}
	valid := cache != nil && cache.Valid(epoch)
	var reads []string
	known := make(map[string]*marketing.Visitor, len(events))
	for _, a := range marketing.AnonIDs(events) {
		if valid {
			if v := cache.Get(a); v != nil {
				known[a] = v
				continue
			}
		}
		reads = append(reads, a)
	}
	if err := readVisitors(ctx, tx, reads, known); err != nil {
		return marketing.SessionPlan{}, epoch, err
	}
	dups, err := findDuplicates(ctx, tx, events)
	if err != nil {
		return marketing.SessionPlan{}, epoch, err
	}
	plan := marketing.PlanSessions(events, known, dups, rules)
	if err := writeVisitors(ctx, tx, plan.NewVisitors, plan.ChangedVisitors); err != nil {
		return plan, epoch, err
	}
	if err := insertSessions(ctx, tx, plan.Inserted); err != nil {
		return plan, epoch, err
	}
	if err := updateSessions(ctx, tx, plan.Updated); err != nil {
		return plan, epoch, err
	}
	if err := insertEvents(ctx, tx, plan.Events); err != nil {
		return plan, epoch, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM ingest_epoch WHERE id = 1`).Scan(&epoch.Seq); err != nil {
		return plan, epoch, fmt.Errorf("sqlite: read ingest epoch: %w", err)
	}
	if cache == nil && epoch.Seq != from {
		list, _ := json.Marshal(marketing.AnonIDs(events))
		if _, err := tx.ExecContext(ctx, `INSERT INTO ingest_touched (from_seq, to_seq, anon_ids, at) VALUES (?, ?, ?, ?)`,
			from, epoch.Seq, string(list), ms(time.Now())); err != nil {
			return plan, epoch, fmt.Errorf("sqlite: note touched visitors: %w", err)
		}
	}
	return plan, epoch, nil
}

// explainMove tells the cache which visitors were touched, when the epoch
// moved from where it was only by writers that named them (migration 0007).
func explainMove(ctx context.Context, tx *sql.Tx, cache *marketing.VisitorCache, epoch marketing.Epoch) error {
	cached, known := cache.Epoch()
	if !known || epoch.Seq <= cached.Seq {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT from_seq, to_seq, anon_ids FROM ingest_touched WHERE from_seq >= ? AND to_seq <= ? ORDER BY from_seq`, cached.Seq, epoch.Seq)
	if err != nil {
		return fmt.Errorf("sqlite: read touched visitors: %w", err)
	}
	defer rows.Close()
	at := cached.Seq
	var touched []string
	for rows.Next() {
		var from, to int64
		var anons string
		if err := rows.Scan(&from, &to, &anons); err != nil {
			return fmt.Errorf("sqlite: read touched visitors: %w", err)
		}
		if from != at {
			break
		}
		var some []string
		if err := json.Unmarshal([]byte(anons), &some); err != nil {
			return fmt.Errorf("sqlite: read touched visitors: %w", err)
		}
		touched, at = append(touched, some...), to
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read touched visitors: %w", err)
	}
	if at == epoch.Seq {
		cache.Moved(epoch, touched)
	}
	return nil
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

// readVisitors reads the stored visitors among anons, each with its latest
// session, into into.
func readVisitors(ctx context.Context, tx *sql.Tx, anons []string, into map[string]*marketing.Visitor) error {
	if len(anons) == 0 {
		return nil
	}
	vstmt, err := tx.PrepareContext(ctx, `SELECT id, first_seen_at, last_seen_at, coalesce(last_ip_hash, ''), coalesce(last_ua_hash, '') FROM visitors WHERE anon_id = ?`)
	if err != nil {
		return fmt.Errorf("sqlite: read visitors: %w", err)
	}
	defer vstmt.Close()
	sstmt, err := tx.PrepareContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE visitor_id = ? ORDER BY started_at DESC LIMIT 1`)
	if err != nil {
		return fmt.Errorf("sqlite: latest sessions: %w", err)
	}
	defer sstmt.Close()
	for _, a := range anons {
		v := &marketing.Visitor{AnonID: a}
		var first, last int64
		err := vstmt.QueryRowContext(ctx, a).Scan(&v.ID, &first, &last, &v.IPHash, &v.UAHash)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: read visitors: %w", err)
		}
		v.FirstSeen, v.LastSeen = fromMS(first), fromMS(last)
		s := &marketing.Session{}
		err = scanSession(sstmt.QueryRowContext(ctx, v.ID), s)
		switch {
		case err == nil:
			v.Latest = s
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: latest sessions: %w", err)
		}
		into[a] = v
	}
	return nil
}

// writeVisitors inserts new visitors and rewrites changed ones.
func writeVisitors(ctx context.Context, tx *sql.Tx, added, changed []*marketing.Visitor) error {
	if len(added) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, last_ip_hash, last_ua_hash) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("sqlite: insert visitors: %w", err)
		}
		defer stmt.Close()
		for _, v := range added {
			if _, err := stmt.ExecContext(ctx, v.ID, v.AnonID, ms(v.FirstSeen), ms(v.LastSeen), nullable(v.IPHash), nullable(v.UAHash)); err != nil {
				return fmt.Errorf("sqlite: insert visitors: %w", err)
			}
		}
	}
	if len(changed) > 0 {
		stmt, err := tx.PrepareContext(ctx, `UPDATE visitors SET first_seen_at = ?, last_seen_at = ?, last_ip_hash = ?, last_ua_hash = ? WHERE id = ?`)
		if err != nil {
			return fmt.Errorf("sqlite: update visitors: %w", err)
		}
		defer stmt.Close()
		for _, v := range changed {
			if _, err := stmt.ExecContext(ctx, ms(v.FirstSeen), ms(v.LastSeen), nullable(v.IPHash), nullable(v.UAHash), v.ID); err != nil {
				return fmt.Errorf("sqlite: update visitors: %w", err)
			}
		}
	}
	return nil
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
