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

// CaptureLead records one capture in one transaction (see
// marketing.LeadCapture). SQLite's single writer serialises captures.
func (db *DB) CaptureLead(ctx context.Context, c *marketing.LeadCapture) (marketing.LeadResult, error) {
	res := marketing.LeadResult{SubmissionID: c.SubmissionID, VisitorID: c.Event.VisitorID}
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		in := &c.Input
		if _, err := tx.ExecContext(ctx, eventInsert(), eventArgs(&c.Event)...); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: capture event: %w", err))
		}
		// The visitor's current session, derived from the log.
		from := ms(c.Now.Add(-captureLookback))
		var since sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(started_at) FROM sessions WHERE visitor_id = ? AND property_id = ? AND started_at <= ?`,
			c.Event.VisitorID, c.Event.PropertyID, ms(c.Event.OccurredAt)).Scan(&since); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: capture session: %w", err))
		}
		if since.Valid {
			from = since.Int64
		}
		events, err := queryEvents(ctx, tx, visitorEventsQuery, c.Event.VisitorID, from)
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: capture session: %w", err))
		}
		touch := marketing.CaptureTouch(events, &c.Event, c.Rules)
		res.SessionID = touch.SessionID
		var suppressed int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM suppressions WHERE email_hash = ?`, c.EmailHash).Scan(&suppressed); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: read suppression: %w", err))
		}
		if suppressed > 0 {
			// Erased: nothing about the address is stored again, but for a
			// double opt-in request, which brings the lead back only once
			// it is confirmed.
			if !c.NeedsConfirmation("") {
				return true, nil
			}
			if err := writeConfirmation(ctx, tx, c); err != nil {
				return false, err
			}
			return true, writeOutgoing(ctx, tx, c.CaptureOutbox("", "", ""))
		}
		t := touchArgs(touch.Touch)
		proposed := marketing.NewID(c.Now)
		var prev string
		err = tx.QueryRowContext(ctx, `INSERT INTO leads AS l (id, email_normalized, email_hash, property_id, name, consent_status, consent_at, source_channel, locale,
				first_captured_at, last_captured_at,
				ft_landing_path, ft_referrer_host, ft_traffic_source, ft_utm_source, ft_utm_medium, ft_utm_campaign, ft_utm_term, ft_utm_content,
				lt_landing_path, lt_referrer_host, lt_traffic_source, lt_utm_source, lt_utm_medium, lt_utm_campaign, lt_utm_term, lt_utm_content)
			VALUES (?1, ?2, ?15, ?17, ?3, 'pending', ?4, ?5, ?6, ?4, ?4, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
			ON CONFLICT (email_normalized) DO UPDATE SET
				name = coalesce(l.name, excluded.name),
				source_channel = coalesce(l.source_channel, excluded.source_channel),
				locale = coalesce(l.locale, excluded.locale),
				last_captured_at = excluded.last_captured_at,
				lt_landing_path = excluded.lt_landing_path, lt_referrer_host = excluded.lt_referrer_host,
				lt_traffic_source = excluded.lt_traffic_source, lt_utm_source = excluded.lt_utm_source,
				lt_utm_medium = excluded.lt_utm_medium, lt_utm_campaign = excluded.lt_utm_campaign,
				lt_utm_term = excluded.lt_utm_term, lt_utm_content = excluded.lt_utm_content,
				updated_at = ?16
			RETURNING id, consent_status`,
			append(append([]any{proposed, in.Email, nullable(in.Name), ms(c.Now), nullable(in.SourceChannel), nullable(in.Locale)}, t...), c.EmailHash, ms(c.Now), c.Event.PropertyID)...,
		).Scan(&res.LeadID, &prev)
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: upsert lead: %w", err))
		}
		if res.LeadID == proposed {
			prev = ""
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO lead_identities (lead_id, visitor_id, link_source, confidence, linked_at)
			VALUES (?, ?, 'form_submit', 1, ?)
			ON CONFLICT (lead_id, visitor_id, link_source) DO NOTHING`, res.LeadID, c.Event.VisitorID, ms(c.Now)); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: link visitor: %w", err))
		}
		if c.HeuristicWindow > 0 && c.Event.IPUAHash != "" {
			// Other visitors seen from the same address and agent inside the
			// window, in materialised sessions: the 20 most recent of their
			// latest 100 sessions, read in the index's order.
			r, err := tx.ExecContext(ctx, `INSERT INTO lead_identities (lead_id, visitor_id, link_source, confidence, linked_at)
				SELECT ?1, v, 'same_ip_ua_window', 0.35, ?4 FROM (
					SELECT visitor_id AS v FROM (
						SELECT visitor_id, ended_at FROM sessions WHERE ip_ua_hash = ?2 AND ended_at >= ?3 AND visitor_id <> ?5
						ORDER BY ended_at DESC LIMIT 100)
					GROUP BY visitor_id ORDER BY max(ended_at) DESC LIMIT 20)
				WHERE true
				ON CONFLICT (lead_id, visitor_id, link_source) DO NOTHING`,
				res.LeadID, c.Event.IPUAHash, ms(c.Now.Add(-c.HeuristicWindow)), ms(c.Now), c.Event.VisitorID)
			if err != nil {
				return false, unavailable(fmt.Errorf("sqlite: heuristic links: %w", err))
			}
			n, _ := r.RowsAffected()
			res.HeuristicLinksCreated = int(n)
		}
		var payload any
		if in.Payload != nil {
			payload = string(in.Payload)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO form_submissions (id, lead_id, visitor_id, property_id, form_name, path, payload, submitted_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.SubmissionID, res.LeadID, c.Event.VisitorID, c.Event.PropertyID, in.FormName, nullable(in.Path), payload, ms(c.Now)); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: insert submission: %w", err))
		}
		requested := c.Requested()
		if prev == "" && requested == "" {
			requested = marketing.ConsentPending
		}
		next := marketing.NextConsent(prev, c.Requested())
		r := consentRow{
			leadID: res.LeadID, prev: prev, requested: requested, next: next,
			source: marketing.SourceFormSubmit, wording: in.Consent, wordingHash: c.WordingHash,
			form: in.FormName, path: in.Path, ipHash: c.IPHash, now: c.Now,
			outbox: c.CaptureOutbox(res.LeadID, prev, next),
		}
		if c.NeedsConfirmation(next) {
			r.confirm = c
		}
		return true, recordConsent(ctx, tx, r)
	})
	if err != nil {
		return marketing.LeadResult{}, unavailable(err)
	}
	return res, nil
}

// captureLookback is how far back a capture reads its visitor's events
// when no session of the visitor is materialised yet.
const captureLookback = 48 * time.Hour

func touchArgs(s marketing.Touch) []any {
	return []any{nullable(s.LandingPath), nullable(s.ReferrerHost), nullable(s.TrafficSource), nullable(s.UTM.Source),
		nullable(s.UTM.Medium), nullable(s.UTM.Campaign), nullable(s.UTM.Term), nullable(s.UTM.Content)}
}

type consentRow struct {
	leadID, prev, requested, next string
	source, reason                string
	wording                       marketing.Consent
	wordingHash                   string
	form, path, ipHash            string
	now                           time.Time
	outbox                        []marketing.Outgoing   // written with the change
	confirm                       *marketing.LeadCapture // opens a double opt-in request
}

// recordConsent appends a ledger row when RecordConsent says one is due and
// keeps the lead's status in step.
func recordConsent(ctx context.Context, tx *sql.Tx, r consentRow) error {
	var subject, last string
	err := tx.QueryRowContext(ctx, `SELECT l.email_hash, coalesce((SELECT wording_hash FROM consent_events c
			WHERE c.lead_id = l.id AND c.wording_hash IS NOT NULL ORDER BY occurred_at DESC, id DESC LIMIT 1), '')
		FROM leads l WHERE l.id = ?`, r.leadID).Scan(&subject, &last)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: read consent: %w", err))
	}
	if r.confirm != nil {
		if err := writeConfirmation(ctx, tx, r.confirm); err != nil {
			return err
		}
	}
	if err := writeOutgoing(ctx, tx, r.outbox); err != nil {
		return err
	}
	if !marketing.RecordConsent(r.prev, r.requested, r.next, r.wordingHash, last) {
		return nil
	}
	if r.wordingHash != "" && r.wording.Text != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO consent_wordings (hash, text, purpose, version, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			r.wordingHash, r.wording.Text, nullable(r.wording.Purpose), nullable(r.wording.Version), ms(r.now)); err != nil {
			return unavailable(fmt.Errorf("sqlite: store wording: %w", err))
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO consent_events (id, lead_id, subject_hash, status, previous_status, source, wording_hash, form_name, page_path, reason, ip_hash, occurred_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		marketing.NewID(r.now), r.leadID, subject, r.next, nullable(r.prev), r.source, nullable(r.wordingHash),
		nullable(r.form), nullable(r.path), nullable(r.reason), nullable(r.ipHash), ms(r.now)); err != nil {
		return unavailable(fmt.Errorf("sqlite: append consent: %w", err))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE leads SET consent_status = ?, consent_at = ?, updated_at = ? WHERE id = ?`, r.next, ms(r.now), ms(r.now), r.leadID); err != nil {
		return unavailable(fmt.Errorf("sqlite: update consent: %w", err))
	}
	return nil
}

// SetConsent records a status change found by lead id or email.
func (db *DB) SetConsent(ctx context.Context, ch marketing.ConsentChange) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		var id, status, email, property string
		err := tx.QueryRowContext(ctx, `SELECT id, consent_status, email_normalized, coalesce(property_id, '') FROM leads WHERE id = ? OR email_normalized = ?`,
			ch.LeadID, ch.Email).Scan(&id, &status, &email, &property)
		if errors.Is(err, sql.ErrNoRows) {
			return false, marketing.Errorf(marketing.ENOTFOUND, "lead not found")
		}
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: find lead: %w", err))
		}
		next := ch.Status
		if status == marketing.ConsentWithdrawn && next == marketing.ConsentPending {
			next = status
		}
		return true, recordConsent(ctx, tx, consentRow{leadID: id, prev: status, requested: ch.Status, next: next,
			source: ch.Source, reason: ch.Reason, ipHash: ch.IPHash, now: ch.Now,
			outbox: marketing.ConsentOutbox(id, property, email, status, next, ch.Source, ch.Now)})
	})
	return err
}

// DeleteLead erases a lead (see the PostgreSQL store for what stays).
func (db *DB) DeleteLead(ctx context.Context, email, emailHash string, rules marketing.SessionRules, now time.Time) error {
	// No sessionizer run may write back a session it read before this
	// erasure.
	db.sessionizing.Lock()
	defer db.sessionizing.Unlock()
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		var id, property string
		err := tx.QueryRowContext(ctx, `SELECT id, coalesce(property_id, '') FROM leads WHERE email_normalized = ?`, email).Scan(&id, &property)
		if errors.Is(err, sql.ErrNoRows) {
			return false, marketing.Errorf(marketing.ENOTFOUND, "lead not found")
		}
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: find lead: %w", err))
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM form_submissions WHERE lead_id = ?`, id)
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: erase lead: %w", err))
		}
		var keys [][]byte
		for rows.Next() {
			var sub string
			if err := rows.Scan(&sub); err != nil {
				rows.Close()
				return false, unavailable(fmt.Errorf("sqlite: erase lead: %w", err))
			}
			keys = append(keys, marketing.CaptureDedupeKey(sub))
		}
		if err := rows.Close(); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: erase lead: %w", err))
		}
		// The visits the capture events were in, to derive again after.
		var groups []sessionGroup
		for _, k := range keys {
			var g sessionGroup
			err := tx.QueryRowContext(ctx, `SELECT visitor_id, property_id, occurred_at FROM events WHERE dedupe_key = ?`, k).Scan(&g.v, &g.p, &g.min)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("sqlite: erase lead: %w", err)
			}
			groups = append(groups, g)
			if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE dedupe_key = ?`, k); err != nil {
				return false, fmt.Errorf("sqlite: erase lead: %w", err)
			}
		}
		steps := []struct {
			q    string
			args []any
		}{
			{`INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, 'erasure', ?) ON CONFLICT (email_hash) DO NOTHING`, []any{emailHash, ms(now)}},
			{`DELETE FROM form_submissions WHERE lead_id = ?`, []any{id}},
			{`UPDATE consent_events SET lead_id = NULL, subject_hash = ?, form_name = NULL, page_path = NULL, reason = NULL, ip_hash = NULL
				WHERE lead_id = ?`, []any{emailHash, id}},
			{`DELETE FROM lead_identities WHERE lead_id = ?`, []any{id}},
			{`DELETE FROM leads WHERE id = ?`, []any{id}},
			// Pending and past messages keep no personal data.
			{`UPDATE outbox SET email = NULL WHERE lead_id = ?`, []any{id}},
			{`DELETE FROM confirmations WHERE email_hash = ?`, []any{emailHash}},
		}
		for _, st := range steps {
			if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
				return false, unavailable(fmt.Errorf("sqlite: erase lead: %w", err))
			}
		}
		if len(groups) > 0 {
			if _, err := rederive(ctx, tx, groups, rules); err != nil {
				return false, fmt.Errorf("sqlite: erase lead: derive sessions again: %w", err)
			}
		}
		// The receivers are told of the erasure.
		return true, writeOutgoing(ctx, tx, marketing.ErasureOutbox(id, property, now))
	})
	return unavailable(err)
}

const leadColumns = `id, email_normalized, coalesce(name, ''), consent_status, consent_at, coalesce(source_channel, ''), coalesce(locale, ''),
	first_captured_at, last_captured_at,
	coalesce(ft_landing_path, ''), coalesce(ft_referrer_host, ''), coalesce(ft_traffic_source, ''), coalesce(ft_utm_source, ''),
	coalesce(ft_utm_medium, ''), coalesce(ft_utm_campaign, ''), coalesce(ft_utm_term, ''), coalesce(ft_utm_content, ''),
	coalesce(lt_landing_path, ''), coalesce(lt_referrer_host, ''), coalesce(lt_traffic_source, ''), coalesce(lt_utm_source, ''),
	coalesce(lt_utm_medium, ''), coalesce(lt_utm_campaign, ''), coalesce(lt_utm_term, ''), coalesce(lt_utm_content, ''),
	coalesce(property_id, '')`

func scanLead(row scanner, l *marketing.Lead) error {
	f, t := &l.FirstTouch, &l.LastTouch
	var consentAt, first, last int64
	err := row.Scan(&l.ID, &l.Email, &l.Name, &l.ConsentStatus, &consentAt, &l.SourceChannel, &l.Locale, &first, &last,
		&f.LandingPath, &f.ReferrerHost, &f.TrafficSource, &f.UTM.Source, &f.UTM.Medium, &f.UTM.Campaign, &f.UTM.Term, &f.UTM.Content,
		&t.LandingPath, &t.ReferrerHost, &t.TrafficSource, &t.UTM.Source, &t.UTM.Medium, &t.UTM.Campaign, &t.UTM.Term, &t.UTM.Content,
		&l.PropertyID)
	l.ConsentAt, l.FirstCapturedAt, l.LastCapturedAt = fromMS(consentAt), fromMS(first), fromMS(last)
	return err
}

// Leads streams leads matching f, newest first.
func (db *DB) Leads(ctx context.Context, f marketing.LeadFilter, fn func(*marketing.Lead) error) error {
	// The email search compares the address's first characters (substr,
	// not LIKE): a typed % or _ is a character like any other.
	q := `SELECT ` + leadColumns + ` FROM leads WHERE (?1 = '' OR consent_status = ?1) AND (?2 = '' OR source_channel = ?2)
		AND (?3 IS NULL OR first_captured_at >= ?3)
		AND (?4 IS NULL OR (first_captured_at, id) < (?4, ?5))
		AND (?6 IS NULL OR property_id IN (SELECT value FROM json_each(?6)))
		AND (?7 = '' OR ft_utm_campaign = ?7 OR lt_utm_campaign = ?7)
		AND (?8 IS NULL OR first_captured_at < ?8)
		AND (?9 = '' OR substr(email_normalized, 1, length(?9)) = ?9)
		ORDER BY first_captured_at DESC, id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	var properties any // NULL: every property
	if f.Properties != nil {
		b, _ := json.Marshal(f.Properties)
		properties = string(b)
	}
	rows, err := db.read.QueryContext(ctx, q, f.ConsentStatus, f.Source, nullMS(f.Since), nullMS(f.AfterTime), f.AfterID, properties,
		f.Campaign, nullMS(f.Until), f.Email)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: list leads: %w", err))
	}
	defer rows.Close()
	var l marketing.Lead
	for rows.Next() {
		if err := scanLead(rows, &l); err != nil {
			return unavailable(fmt.Errorf("sqlite: list leads: %w", err))
		}
		if err := fn(&l); err != nil {
			return err
		}
	}
	return unavailable(rows.Err())
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

// LeadIDByEmail finds a lead by normalised email.
func (db *DB) LeadIDByEmail(ctx context.Context, email string) (string, error) {
	var id string
	err := db.read.QueryRowContext(ctx, `SELECT id FROM leads WHERE email_normalized = ?`, email).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", marketing.Errorf(marketing.ENOTFOUND, "lead not found")
	}
	if err != nil {
		return "", unavailable(fmt.Errorf("sqlite: find lead: %w", err))
	}
	return id, nil
}

// LeadDetail returns one lead with everything linked to it.
func (db *DB) LeadDetail(ctx context.Context, id string) (*marketing.LeadDetail, error) {
	d := &marketing.LeadDetail{}
	err := scanLead(db.read.QueryRowContext(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = ?`, id), &d.Lead)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "lead not found")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read lead: %w", err))
	}
	d.Identities = []marketing.Identity{}
	if err := db.each(ctx, func(r scanner) error {
		var i marketing.Identity
		var at int64
		err := r.Scan(&i.VisitorID, &i.LinkSource, &i.Confidence, &at)
		i.LinkedAt = fromMS(at)
		d.Identities = append(d.Identities, i)
		return err
	}, `SELECT visitor_id, link_source, confidence, linked_at FROM lead_identities WHERE lead_id = ? ORDER BY confidence DESC, linked_at`, id); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read identities: %w", err))
	}
	if d.Consent, err = db.consent(ctx, `c.lead_id = ?`, id); err != nil {
		return nil, err
	}
	d.Submissions = []marketing.Submission{}
	if err := db.each(ctx, func(r scanner) error {
		var s marketing.Submission
		var at int64
		var payload sql.NullString
		err := r.Scan(&s.ID, &s.FormName, &s.Path, &payload, &s.VisitorID, &at)
		s.SubmittedAt = fromMS(at)
		if payload.Valid {
			s.Payload = []byte(payload.String)
		}
		d.Submissions = append(d.Submissions, s)
		return err
	}, `SELECT id, form_name, coalesce(path, ''), payload, coalesce(visitor_id, ''), submitted_at
		FROM form_submissions WHERE lead_id = ? ORDER BY submitted_at`, id); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read submissions: %w", err))
	}
	if d.Visits, err = db.sessions(ctx, `s.visitor_id IN (SELECT visitor_id FROM lead_identities WHERE lead_id = ?) AND s.started_at <= ?`, id, ms(d.FirstCapturedAt)); err != nil {
		return nil, err
	}
	return d, nil
}

func (db *DB) each(ctx context.Context, fn func(scanner) error, q string, args ...any) error {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (db *DB) consent(ctx context.Context, where string, arg any) ([]marketing.ConsentEvent, error) {
	out := []marketing.ConsentEvent{}
	err := db.each(ctx, func(r scanner) error {
		var e marketing.ConsentEvent
		var w marketing.Consent
		var at int64
		err := r.Scan(&e.Status, &e.PreviousStatus, &e.Source, &e.FormName, &e.PagePath, &e.Reason, &e.WordingHash,
			&w.Text, &w.Purpose, &w.Version, &e.IPHash, &at)
		e.At = fromMS(at)
		if e.WordingHash != "" {
			e.Wording = &w
		}
		out = append(out, e)
		return err
	}, `SELECT c.status, coalesce(c.previous_status, ''), c.source, coalesce(c.form_name, ''), coalesce(c.page_path, ''),
			coalesce(c.reason, ''), coalesce(c.wording_hash, ''), coalesce(w.text, ''), coalesce(w.purpose, ''), coalesce(w.version, ''),
			coalesce(c.ip_hash, ''), c.occurred_at
		FROM consent_events c LEFT JOIN consent_wordings w ON w.hash = c.wording_hash
		WHERE `+where+` ORDER BY c.occurred_at, c.id`, arg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read consent: %w", err))
	}
	return out, nil
}

// Subject returns the pseudonymised ledger of an email hash and whether the
// address is suppressed.
func (db *DB) Subject(ctx context.Context, emailHash string) ([]marketing.ConsentEvent, bool, error) {
	events, err := db.consent(ctx, `c.subject_hash = ?`, emailHash)
	if err != nil {
		return nil, false, err
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM suppressions WHERE email_hash = ?`, emailHash).Scan(&n); err != nil {
		return nil, false, unavailable(fmt.Errorf("sqlite: read suppression: %w", err))
	}
	return events, n > 0, nil
}

// ExpireImpliedConsent moves implied consent older than cutoff to pending.
func (db *DB) ExpireImpliedConsent(ctx context.Context, cutoff, now time.Time) (int64, error) {
	var n int64
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		rows, err := tx.QueryContext(ctx, `SELECT id, email_normalized, coalesce(property_id, '') FROM leads WHERE consent_status = 'implied' AND consent_at < ?`, ms(cutoff))
		if err != nil {
			return false, err
		}
		type lead struct{ id, email, property string }
		var ids []lead
		for rows.Next() {
			var l lead
			if err := rows.Scan(&l.id, &l.email, &l.property); err != nil {
				rows.Close()
				return false, err
			}
			ids = append(ids, l)
		}
		rows.Close()
		for _, l := range ids {
			if err := recordConsent(ctx, tx, consentRow{leadID: l.id, prev: marketing.ConsentImplied, requested: marketing.ConsentPending,
				next: marketing.ConsentPending, source: marketing.SourceExpiry, now: now,
				outbox: marketing.ConsentOutbox(l.id, l.property, l.email, marketing.ConsentImplied, marketing.ConsentPending, marketing.SourceExpiry, now)}); err != nil {
				return false, err
			}
		}
		n = int64(len(ids))
		return true, nil
	})
	if err != nil {
		return 0, unavailable(fmt.Errorf("sqlite: expire implied consent: %w", err))
	}
	return n, nil
}
