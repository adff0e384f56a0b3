package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/altcontext/marketing"
)

// CaptureLead records one capture in one transaction (see
// marketing.LeadCapture). Captures of one address are serialised by an
// advisory lock on its hash (a row-free lock: the lead may not exist yet);
// nothing an event batch takes is locked.
func (db *DB) CaptureLead(ctx context.Context, c *marketing.LeadCapture) (marketing.LeadResult, error) {
	res := marketing.LeadResult{SubmissionID: c.SubmissionID, VisitorID: c.Event.VisitorID}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		in := &c.Input
		var suppressed bool
		var since *time.Time
		var b pgx.Batch
		b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(emailLockClass), c.EmailHash)
		b.Queue(`SELECT EXISTS (SELECT 1 FROM suppressions WHERE email_hash = $1)`, c.EmailHash)
		b.Queue(eventInsert(), columnArrays([]marketing.PendingEvent{c.Event}, []int{0})...)
		b.Queue(`SELECT max(started_at) FROM sessions WHERE visitor_id = $1 AND property_id = $2 AND started_at <= $3`,
			c.Event.VisitorID, c.Event.PropertyID, c.Event.OccurredAt)
		br := tx.SendBatch(ctx, &b)
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&suppressed)
		}
		if err == nil {
			_, err = br.Exec()
		}
		if err == nil {
			err = br.QueryRow().Scan(&since)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return unavailable(fmt.Errorf("postgres: capture: %w", err))
		}
		// The visitor's current session, derived from the log (the
		// sessionizer may not have reached the latest events).
		from := c.Now.Add(-captureLookback)
		if since != nil {
			from = *since
		}
		events, err := visitorEvents(ctx, tx, c.Event.VisitorID, from)
		if err != nil {
			return err
		}
		touch := marketing.CaptureTouch(events, &c.Event, c.Rules)
		res.SessionID = touch.SessionID
		if suppressed {
			// Erased: nothing about the address is stored again, but for a
			// double opt-in request, which brings the lead back only once
			// it is confirmed.
			if !c.NeedsConfirmation("") {
				return nil
			}
			var b pgx.Batch
			queueConfirmation(&b, c)
			queueOutgoing(&b, c.CaptureOutbox("", "", ""))
			if err := execAll(tx.SendBatch(ctx, &b), b.Len()); err != nil {
				return unavailable(fmt.Errorf("postgres: confirmation request: %w", err))
			}
			return nil
		}
		var payload *string
		if in.Payload != nil {
			s := string(in.Payload)
			payload = &s
		}
		var prev, subject, last string
		var inserted bool
		var b2 pgx.Batch
		b2.Queue(`INSERT INTO leads AS l (id, email_normalized, email_hash, property_id, name, consent_status, consent_at, source_channel, locale,
				first_captured_at, last_captured_at,
				ft_landing_path, ft_referrer_host, ft_traffic_source, ft_utm_source, ft_utm_medium, ft_utm_campaign, ft_utm_term, ft_utm_content,
				lt_landing_path, lt_referrer_host, lt_traffic_source, lt_utm_source, lt_utm_medium, lt_utm_campaign, lt_utm_term, lt_utm_content)
			VALUES ($1, $2, $15, $16, $3, 'pending', $4, $5, $6, $4, $4, $7, $8, $9, $10, $11, $12, $13, $14, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (email_normalized) DO UPDATE SET
				name = coalesce(l.name, excluded.name),
				source_channel = coalesce(l.source_channel, excluded.source_channel),
				locale = coalesce(l.locale, excluded.locale),
				last_captured_at = excluded.last_captured_at,
				lt_landing_path = excluded.lt_landing_path, lt_referrer_host = excluded.lt_referrer_host,
				lt_traffic_source = excluded.lt_traffic_source, lt_utm_source = excluded.lt_utm_source,
				lt_utm_medium = excluded.lt_utm_medium, lt_utm_campaign = excluded.lt_utm_campaign,
				lt_utm_term = excluded.lt_utm_term, lt_utm_content = excluded.lt_utm_content,
				updated_at = now()
			RETURNING id, consent_status, xmax = 0`,
			append(append([]any{marketing.NewID(c.Now), in.Email, nullable(in.Name), c.Now, nullable(in.SourceChannel), nullable(in.Locale)},
				touchArgs(touch.Touch)...), c.EmailHash, c.Event.PropertyID)...)
		const lead = `(SELECT id FROM leads WHERE email_normalized = $1)`
		b2.Queue(`INSERT INTO form_submissions (id, lead_id, visitor_id, property_id, form_name, path, payload, submitted_at)
			VALUES ($2, `+lead+`, $3, $4, $5, $6, $7::jsonb, $8)`,
			in.Email, c.SubmissionID, c.Event.VisitorID, c.Event.PropertyID, in.FormName, nullable(in.Path), payload, c.Now)
		b2.Queue(consentRead+`l.email_normalized = $1`, in.Email)
		b2.Queue(`INSERT INTO lead_identities (lead_id, visitor_id, link_source, confidence, linked_at)
			VALUES (`+lead+`, $2, 'form_submit', 1, $3)
			ON CONFLICT (lead_id, visitor_id, link_source) DO NOTHING`, in.Email, c.Event.VisitorID, c.Now)
		heuristic := c.HeuristicWindow > 0 && c.Event.IPUAHash != ""
		if heuristic {
			// Other visitors seen from the same address and agent inside the
			// window, in materialised sessions (the sessionizer runs every
			// few seconds): the 20 most recent of their latest 100 sessions,
			// read in the index's order (an office behind one address has
			// thousands; this never sorts them).
			b2.Queue(`INSERT INTO lead_identities (lead_id, visitor_id, link_source, confidence, linked_at)
				SELECT `+lead+`, v, 'same_ip_ua_window', 0.35, $5 FROM (
					SELECT visitor_id AS v FROM (
						SELECT visitor_id, ended_at FROM sessions WHERE ip_ua_hash = $2 AND ended_at >= $3 AND visitor_id <> $4
						ORDER BY ended_at DESC LIMIT 100) recent
					GROUP BY visitor_id ORDER BY max(ended_at) DESC LIMIT 20) x
				ON CONFLICT (lead_id, visitor_id, link_source) DO NOTHING`,
				in.Email, c.Event.IPUAHash, c.Now.Add(-c.HeuristicWindow), c.Event.VisitorID, c.Now)
		}
		br = tx.SendBatch(ctx, &b2)
		err = br.QueryRow().Scan(&res.LeadID, &prev, &inserted)
		if err == nil {
			_, err = br.Exec()
		}
		if err == nil {
			err = br.QueryRow().Scan(&subject, &last)
		}
		if err == nil {
			_, err = br.Exec()
		}
		if err == nil && heuristic {
			var tag pgconn.CommandTag
			if tag, err = br.Exec(); err == nil {
				res.HeuristicLinksCreated = int(tag.RowsAffected())
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return unavailable(fmt.Errorf("postgres: record lead: %w", err))
		}
		if inserted {
			prev = ""
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
		return writeConsent(ctx, tx, r, subject, last)
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

// consentRead reads the subject of a lead's ledger and the wording of its
// last consent event; a condition on leads l completes it.
const consentRead = `SELECT l.email_hash, coalesce((SELECT wording_hash FROM consent_events c
		WHERE c.lead_id = l.id AND c.wording_hash IS NOT NULL ORDER BY occurred_at DESC, id DESC LIMIT 1), '')
	FROM leads l WHERE `

// recordConsent appends a ledger row when RecordConsent says one is due and
// keeps the lead's status in step. The caller holds the lead's row lock.
func recordConsent(ctx context.Context, tx pgx.Tx, r consentRow) error {
	var subject, last string
	if err := tx.QueryRow(ctx, consentRead+`l.id = $1`, r.leadID).Scan(&subject, &last); err != nil {
		return unavailable(fmt.Errorf("postgres: read consent: %w", err))
	}
	return writeConsent(ctx, tx, r, subject, last)
}

// writeConsent is recordConsent once the ledger's subject and last wording
// are known: its writes go in one round trip.
func writeConsent(ctx context.Context, tx batcher, r consentRow, subject, last string) error {
	var b pgx.Batch
	if r.confirm != nil {
		queueConfirmation(&b, r.confirm)
	}
	queueOutgoing(&b, r.outbox)
	if !marketing.RecordConsent(r.prev, r.requested, r.next, r.wordingHash, last) {
		if b.Len() == 0 {
			return nil
		}
		if err := execAll(tx.SendBatch(ctx, &b), b.Len()); err != nil {
			return unavailable(fmt.Errorf("postgres: queue messages: %w", err))
		}
		return nil
	}
	if r.wordingHash != "" && r.wording.Text != "" {
		b.Queue(`INSERT INTO consent_wordings (hash, text, purpose, version) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING`,
			r.wordingHash, r.wording.Text, nullable(r.wording.Purpose), nullable(r.wording.Version))
	}
	b.Queue(`INSERT INTO consent_events (id, lead_id, subject_hash, status, previous_status, source, wording_hash, form_name, page_path, reason, ip_hash, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		marketing.NewID(r.now), r.leadID, subject, r.next, nullable(r.prev), r.source, nullable(r.wordingHash),
		nullable(r.form), nullable(r.path), nullable(r.reason), nullable(r.ipHash), r.now)
	b.Queue(`UPDATE leads SET consent_status = $2, consent_at = $3, updated_at = now() WHERE id = $1`, r.leadID, r.next, r.now)
	if err := execAll(tx.SendBatch(ctx, &b), b.Len()); err != nil {
		return unavailable(fmt.Errorf("postgres: append consent: %w", err))
	}
	return nil
}

// SetConsent records a status change found by lead id or email.
func (db *DB) SetConsent(ctx context.Context, ch marketing.ConsentChange) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var id, status, email, property string
		err := tx.QueryRow(ctx, `SELECT id, consent_status, email_normalized, coalesce(property_id, '') FROM leads
			WHERE id = $1 OR email_normalized = $2 FOR UPDATE`,
			ch.LeadID, ch.Email).Scan(&id, &status, &email, &property)
		if errors.Is(err, pgx.ErrNoRows) {
			return marketing.Errorf(marketing.ENOTFOUND, "lead not found")
		}
		if err != nil {
			return unavailable(fmt.Errorf("postgres: find lead: %w", err))
		}
		next := ch.Status
		if status == marketing.ConsentWithdrawn && next == marketing.ConsentPending {
			next = status
		}
		return recordConsent(ctx, tx, consentRow{leadID: id, prev: status, requested: ch.Status, next: next,
			source: ch.Source, reason: ch.Reason, ipHash: ch.IPHash, now: ch.Now,
			outbox: marketing.ConsentOutbox(id, property, email, status, next, ch.Source, ch.Now)})
	})
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		return err
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// DeleteLead erases a lead. What stays proves consent and its withdrawal
// and joins to nothing else: the ledger under the email hash with status,
// time, wording hash and source only; a suppression. The lead, its links,
// its submissions and its capture events go (a capture event's time equals
// its ledger row's, so it would lead back to the visitor).
func (db *DB) DeleteLead(ctx context.Context, email, emailHash string, rules marketing.SessionRules, now time.Time) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var id, property string
		err := tx.QueryRow(ctx, `SELECT id, coalesce(property_id, '') FROM leads WHERE email_normalized = $1 FOR UPDATE`, email).Scan(&id, &property)
		if errors.Is(err, pgx.ErrNoRows) {
			return marketing.Errorf(marketing.ENOTFOUND, "lead not found")
		}
		if err != nil {
			return unavailable(fmt.Errorf("postgres: find lead: %w", err))
		}
		// Wait for a sessionizer run in progress (it holds this row for the
		// whole run, and could write back a session it read before this
		// erasure); none starts until this one commits.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM sessionizer WHERE id = 1 FOR UPDATE`); err != nil {
			return fmt.Errorf("postgres: erase lead: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id FROM form_submissions WHERE lead_id = $1`, id)
		if err != nil {
			return unavailable(fmt.Errorf("postgres: erase lead: %w", err))
		}
		subs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return unavailable(fmt.Errorf("postgres: erase lead: %w", err))
		}
		keys := make([][]byte, len(subs))
		for i, sub := range subs {
			keys[i] = marketing.CaptureDedupeKey(sub)
		}
		// The visits the capture events were in, to derive again after.
		rows, err = tx.Query(ctx, `SELECT visitor_id, property_id, min(occurred_at) FROM events WHERE dedupe_key = ANY($1::bytea[]) GROUP BY 1, 2`, keys)
		if err != nil {
			return fmt.Errorf("postgres: erase lead: %w", err)
		}
		var vs, ps []string
		var mins []time.Time
		var v, p string
		var m time.Time
		if _, err := pgx.ForEachRow(rows, []any{&v, &p, &m}, func() error {
			vs, ps, mins = append(vs, v), append(ps, p), append(mins, m)
			return nil
		}); err != nil {
			return fmt.Errorf("postgres: erase lead: %w", err)
		}
		var b pgx.Batch
		b.Queue(`INSERT INTO suppressions (email_hash, reason, created_at) VALUES ($1, 'erasure', $2) ON CONFLICT (email_hash) DO NOTHING`, emailHash, now)
		b.Queue(`DELETE FROM events WHERE dedupe_key = ANY($1::bytea[])`, keys)
		b.Queue(`DELETE FROM form_submissions WHERE lead_id = $1`, id)
		b.Queue(`UPDATE consent_events SET lead_id = NULL, subject_hash = $2, form_name = NULL, page_path = NULL, reason = NULL, ip_hash = NULL
			WHERE lead_id = $1`, id, emailHash)
		b.Queue(`DELETE FROM lead_identities WHERE lead_id = $1`, id)
		b.Queue(`DELETE FROM leads WHERE id = $1`, id)
		// Pending and past messages keep no personal data; the receivers
		// are told of the erasure.
		b.Queue(`UPDATE outbox SET email = NULL WHERE lead_id = $1`, id)
		b.Queue(`DELETE FROM confirmations WHERE email_hash = $1`, emailHash)
		queueOutgoing(&b, marketing.ErasureOutbox(id, property, now))
		if err := execAll(tx.SendBatch(ctx, &b), b.Len()); err != nil {
			return fmt.Errorf("postgres: erase lead: %w", err)
		}
		if len(vs) > 0 {
			if _, err := rederive(ctx, tx, vs, ps, mins, rules); err != nil {
				return fmt.Errorf("postgres: erase lead: derive sessions again: %w", err)
			}
		}
		return nil
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

func scanLead(row pgx.Row, l *marketing.Lead) error {
	f, t := &l.FirstTouch, &l.LastTouch
	return row.Scan(&l.ID, &l.Email, &l.Name, &l.ConsentStatus, &l.ConsentAt, &l.SourceChannel, &l.Locale,
		&l.FirstCapturedAt, &l.LastCapturedAt,
		&f.LandingPath, &f.ReferrerHost, &f.TrafficSource, &f.UTM.Source, &f.UTM.Medium, &f.UTM.Campaign, &f.UTM.Term, &f.UTM.Content,
		&t.LandingPath, &t.ReferrerHost, &t.TrafficSource, &t.UTM.Source, &t.UTM.Medium, &t.UTM.Campaign, &t.UTM.Term, &t.UTM.Content,
		&l.PropertyID)
}

// Leads streams leads matching f, newest first.
func (db *DB) Leads(ctx context.Context, f marketing.LeadFilter, fn func(*marketing.Lead) error) error {
	// The email search compares the address's first bytes (left, not
	// LIKE): a typed % or _ is a character like any other.
	q := `SELECT ` + leadColumns + ` FROM leads WHERE ($1 = '' OR consent_status = $1) AND ($2 = '' OR source_channel = $2)
		AND ($3::timestamptz IS NULL OR first_captured_at >= $3)
		AND ($4::timestamptz IS NULL OR (first_captured_at, id) < ($4, $5))
		AND ($6::text[] IS NULL OR property_id = ANY ($6))
		AND ($7 = '' OR ft_utm_campaign = $7 OR lt_utm_campaign = $7)
		AND ($8::timestamptz IS NULL OR first_captured_at < $8)
		AND ($9 = '' OR left(email_normalized, length($9)) = $9)
		ORDER BY first_captured_at DESC, id DESC`
	var properties []string // nil is NULL: every property
	if f.Properties != nil {
		properties = append([]string{}, f.Properties...)
	}
	args := []any{f.ConsentStatus, f.Source, nullTime(f.Since), nullTime(f.AfterTime), f.AfterID, properties,
		f.Campaign, nullTime(f.Until), f.Email}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: list leads: %w", err))
	}
	defer rows.Close()
	var l marketing.Lead
	for rows.Next() {
		if err := scanLead(rows, &l); err != nil {
			return unavailable(fmt.Errorf("postgres: list leads: %w", err))
		}
		if err := fn(&l); err != nil {
			return err
		}
	}
	return unavailable(rows.Err())
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// LeadIDByEmail finds a lead by normalised email.
func (db *DB) LeadIDByEmail(ctx context.Context, email string) (string, error) {
	var id string
	err := db.pool.QueryRow(ctx, `SELECT id FROM leads WHERE email_normalized = $1`, email).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", marketing.Errorf(marketing.ENOTFOUND, "lead not found")
	}
	if err != nil {
		return "", unavailable(fmt.Errorf("postgres: find lead: %w", err))
	}
	return id, nil
}

// LeadDetail returns one lead with everything linked to it.
func (db *DB) LeadDetail(ctx context.Context, id string) (*marketing.LeadDetail, error) {
	d := &marketing.LeadDetail{}
	err := scanLead(db.pool.QueryRow(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = $1`, id), &d.Lead)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "lead not found")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read lead: %w", err))
	}
	rows, err := db.pool.Query(ctx, `SELECT visitor_id, link_source, confidence, linked_at FROM lead_identities WHERE lead_id = $1 ORDER BY confidence DESC, linked_at`, id)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read identities: %w", err))
	}
	if d.Identities, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.Identity, error) {
		var i marketing.Identity
		return i, r.Scan(&i.VisitorID, &i.LinkSource, &i.Confidence, &i.LinkedAt)
	}); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read identities: %w", err))
	}
	if d.Consent, err = db.consent(ctx, `c.lead_id = $1`, id); err != nil {
		return nil, err
	}
	rows, err = db.pool.Query(ctx, `SELECT id, form_name, coalesce(path, ''), payload, coalesce(visitor_id, ''), submitted_at
		FROM form_submissions WHERE lead_id = $1 ORDER BY submitted_at`, id)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read submissions: %w", err))
	}
	if d.Submissions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.Submission, error) {
		var s marketing.Submission
		return s, r.Scan(&s.ID, &s.FormName, &s.Path, &s.Payload, &s.VisitorID, &s.SubmittedAt)
	}); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read submissions: %w", err))
	}
	rows, err = db.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.visitor_id IN (SELECT visitor_id FROM lead_identities WHERE lead_id = $1) AND s.started_at <= $2
		ORDER BY s.started_at`, id, d.FirstCapturedAt)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read visits: %w", err))
	}
	if d.Visits, err = pgx.CollectRows(rows, scanSession); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read visits: %w", err))
	}
	return d, nil
}

func (db *DB) consent(ctx context.Context, where string, arg any) ([]marketing.ConsentEvent, error) {
	rows, err := db.pool.Query(ctx, `SELECT c.status, coalesce(c.previous_status, ''), c.source, coalesce(c.form_name, ''), coalesce(c.page_path, ''),
			coalesce(c.reason, ''), coalesce(c.wording_hash, ''), coalesce(w.text, ''), coalesce(w.purpose, ''), coalesce(w.version, ''),
			coalesce(c.ip_hash, ''), c.occurred_at
		FROM consent_events c LEFT JOIN consent_wordings w ON w.hash = c.wording_hash
		WHERE `+where+` ORDER BY c.occurred_at, c.id`, arg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read consent: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.ConsentEvent, error) {
		var e marketing.ConsentEvent
		var w marketing.Consent
		err := r.Scan(&e.Status, &e.PreviousStatus, &e.Source, &e.FormName, &e.PagePath, &e.Reason, &e.WordingHash,
			&w.Text, &w.Purpose, &w.Version, &e.IPHash, &e.At)
		if e.WordingHash != "" {
			e.Wording = &w
		}
		return e, err
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read consent: %w", err))
	}
	return out, nil
}

// Subject returns the pseudonymised ledger of an email hash and whether the
// address is suppressed.
func (db *DB) Subject(ctx context.Context, emailHash string) ([]marketing.ConsentEvent, bool, error) {
	events, err := db.consent(ctx, `c.subject_hash = $1`, emailHash)
	if err != nil {
		return nil, false, err
	}
	var suppressed bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions WHERE email_hash = $1)`, emailHash).Scan(&suppressed); err != nil {
		return nil, false, unavailable(fmt.Errorf("postgres: read suppression: %w", err))
	}
	return events, suppressed, nil
}

// ExpireImpliedConsent moves implied consent older than cutoff to pending.
func (db *DB) ExpireImpliedConsent(ctx context.Context, cutoff, now time.Time) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, email_normalized, coalesce(property_id, '') FROM leads
			WHERE consent_status = 'implied' AND consent_at < $1 FOR UPDATE SKIP LOCKED`, cutoff)
		if err != nil {
			return err
		}
		type lead struct{ id, email, property string }
		ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lead, error) {
			var l lead
			return l, r.Scan(&l.id, &l.email, &l.property)
		})
		if err != nil {
			return err
		}
		for _, l := range ids {
			if err := recordConsent(ctx, tx, consentRow{leadID: l.id, prev: marketing.ConsentImplied, requested: marketing.ConsentPending,
				next: marketing.ConsentPending, source: marketing.SourceExpiry, now: now,
				outbox: marketing.ConsentOutbox(l.id, l.property, l.email, marketing.ConsentImplied, marketing.ConsentPending, marketing.SourceExpiry, now)}); err != nil {
				return err
			}
		}
		n = int64(len(ids))
		return nil
	})
	if err != nil {
		return 0, unavailable(fmt.Errorf("postgres: expire implied consent: %w", err))
	}
	return n, nil
}
