package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// webhookFanout writes one message of a change per endpoint whose site
// matches, the address only for endpoints that opted in.
const webhookFanout = `INSERT INTO outbox (id, channel, endpoint_id, event_type, lead_id, property_id, payload, email, status, next_attempt_at, created_at)
	SELECT ?1 || '_' || e.id, 'webhook', e.id, ?2, ?3, ?4, ?5, CASE WHEN e.include_email THEN ?6 END, 'pending', ?7, ?7
	FROM webhook_endpoints e WHERE e.property_id IS NULL OR e.property_id = ?4`

const mailInsert = `INSERT INTO outbox (id, channel, event_type, lead_id, property_id, payload, email, status, next_attempt_at, created_at)
	VALUES (?, 'email', ?, ?, ?, ?, ?, 'pending', ?, ?)`

// writeOutgoing writes a change's messages.
func writeOutgoing(ctx context.Context, tx *sql.Tx, out []marketing.Outgoing) error {
	for _, o := range out {
		d := o.Data
		var err error
		if o.Mail == "" {
			_, err = tx.ExecContext(ctx, webhookFanout, o.ID, o.Type, nullable(d.LeadID), nullable(d.PropertyID), o.Payload(), nullable(o.Email), ms(o.At))
		} else {
			_, err = tx.ExecContext(ctx, mailInsert, o.ID, o.Mail, nullable(d.LeadID), nullable(d.PropertyID), o.Payload(), nullable(o.Email), ms(o.At), ms(o.At))
		}
		if err != nil {
			return unavailable(fmt.Errorf("sqlite: queue messages: %w", err))
		}
	}
	return nil
}

// writeConfirmation stores a double opt-in request and its wording.
func writeConfirmation(ctx context.Context, tx *sql.Tx, c *marketing.LeadCapture) error {
	in := &c.Input
	if c.WordingHash != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO consent_wordings (hash, text, purpose, version, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			c.WordingHash, in.Consent.Text, nullable(in.Consent.Purpose), nullable(in.Consent.Version), ms(c.Now)); err != nil {
			return unavailable(fmt.Errorf("sqlite: store wording: %w", err))
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO confirmations (id, email, email_hash, property_id, wording_hash, form_name, page_path, requested_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ConfirmationID, in.Email, c.EmailHash, nullable(c.Event.PropertyID), nullable(c.WordingHash), nullable(in.FormName), nullable(in.Path),
		ms(c.Now), ms(c.Now.Add(marketing.ConfirmationTTL))); err != nil {
		return unavailable(fmt.Errorf("sqlite: confirmation request: %w", err))
	}
	return nil
}

// AddEndpoint registers a webhook endpoint.
func (db *DB) AddEndpoint(ctx context.Context, e *marketing.WebhookEndpoint) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, url, property_id, secret, include_email, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, e.URL, nullable(e.PropertyID), e.Secret, e.IncludeEmail, ms(e.CreatedAt))
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: add endpoint: %w", err))
	}
	return nil
}

// Endpoints lists the endpoints, oldest first.
func (db *DB) Endpoints(ctx context.Context) ([]marketing.WebhookEndpoint, error) {
	out := []marketing.WebhookEndpoint{}
	err := db.each(ctx, func(r scanner) error {
		var e marketing.WebhookEndpoint
		var at int64
		err := r.Scan(&e.ID, &e.URL, &e.PropertyID, &e.Secret, &e.IncludeEmail, &at)
		e.CreatedAt = fromMS(at)
		out = append(out, e)
		return err
	}, `SELECT id, url, coalesce(property_id, ''), secret, include_email, created_at FROM webhook_endpoints ORDER BY created_at, id`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: list endpoints: %w", err))
	}
	return out, nil
}

// RemoveEndpoint deletes an endpoint and, by cascade, its messages.
func (db *DB) RemoveEndpoint(ctx context.Context, id string) error {
	r, err := db.write.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: remove endpoint: %w", err))
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such endpoint")
	}
	return nil
}

const messageColumns = `o.id, o.channel, coalesce(o.endpoint_id, ''), o.event_type, coalesce(o.lead_id, ''), coalesce(o.property_id, ''),
	o.payload, coalesce(o.email, ''), o.status, o.attempts, o.next_attempt_at, coalesce(o.last_error, ''), o.created_at, o.finished_at`

func scanMessage(r scanner, m *marketing.Message, extra ...any) error {
	var payload string
	var next, created int64
	var finished sql.NullInt64
	err := r.Scan(append([]any{&m.ID, &m.Channel, &m.EndpointID, &m.Type, &m.LeadID, &m.PropertyID, &payload, &m.Email, &m.Status, &m.Attempts,
		&next, &m.LastError, &created, &finished}, extra...)...)
	m.Payload = []byte(payload)
	m.NextAttemptAt, m.CreatedAt = fromMS(next), fromMS(created)
	if finished.Valid {
		m.FinishedAt = fromMS(finished.Int64)
	}
	return err
}

// ClaimMessages leases due messages. SQLite's one writer serialises claims;
// the lease keeps a message from being claimed again until it runs out.
func (db *DB) ClaimMessages(ctx context.Context, owner string, channels []string, now time.Time, lease time.Duration, limit int) ([]marketing.Message, error) {
	var out []marketing.Message
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		args := []any{owner, ms(now.Add(lease)), ms(now), limit}
		marks := make([]string, len(channels))
		for i, c := range channels {
			marks[i] = fmt.Sprintf("?%d", len(args)+1)
			args = append(args, c)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE outbox AS o SET lease_owner = ?1, lease_until = ?2
			WHERE o.id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?3
				AND (lease_until IS NULL OR lease_until < ?3) AND channel IN (`+strings.Join(marks, ", ")+`)
				ORDER BY next_attempt_at LIMIT ?4)
			RETURNING `+strings.ReplaceAll(messageColumns, "o.", ""), args...)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var m marketing.Message
			if err := scanMessage(rows, &m); err != nil {
				rows.Close()
				return false, err
			}
			out = append(out, m)
		}
		if err := rows.Close(); err != nil {
			return false, err
		}
		for i := range out {
			m := &out[i]
			if m.EndpointID == "" {
				continue
			}
			e := &marketing.WebhookEndpoint{ID: m.EndpointID}
			if err := tx.QueryRowContext(ctx, `SELECT url, secret FROM webhook_endpoints WHERE id = ?`, m.EndpointID).Scan(&e.URL, &e.Secret); err != nil {
				return false, err
			}
			m.Endpoint = e
		}
		return true, nil
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: claim messages: %w", err))
	}
	return out, nil
}

// RecordAttempt logs an attempt and applies its outcome if owner still
// holds the message.
func (db *DB) RecordAttempt(ctx context.Context, owner string, a marketing.Attempt, o marketing.Outcome) error {
	var finished any
	next := ms(o.Next)
	if o.Status != marketing.MessagePending {
		finished, next = ms(a.At), ms(a.At)
	}
	var code any
	if a.StatusCode != 0 {
		code = a.StatusCode
	}
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (id, message_id, attempt, attempted_at, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			marketing.NewID(a.At), a.MessageID, a.Attempt, ms(a.At), code, a.Latency.Milliseconds(), nullable(a.Error)); err != nil {
			return false, err
		}
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET status = ?3, attempts = max(attempts, ?4), next_attempt_at = ?5, last_error = ?6, finished_at = ?7,
				lease_owner = NULL, lease_until = NULL
			WHERE id = ?1 AND lease_owner = ?2`,
			a.MessageID, owner, o.Status, a.Attempt, next, nullable(a.Error), finished)
		return true, err
	})
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: record attempt: %w", err))
	}
	return nil
}

// Messages lists messages, newest first.
func (db *DB) Messages(ctx context.Context, f marketing.MessageFilter) ([]marketing.Message, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	out := []marketing.Message{}
	err := db.each(ctx, func(r scanner) error {
		var m marketing.Message
		err := scanMessage(r, &m)
		out = append(out, m)
		return err
	}, `SELECT `+messageColumns+` FROM outbox o WHERE (?1 = '' OR o.status = ?1) ORDER BY o.created_at DESC, o.id DESC LIMIT ?2`, f.Status, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: list messages: %w", err))
	}
	return out, nil
}

// Message returns one message and its attempts.
func (db *DB) Message(ctx context.Context, id string) (*marketing.Message, []marketing.Attempt, error) {
	var m marketing.Message
	err := scanMessage(db.read.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM outbox o WHERE o.id = ?`, id), &m)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, marketing.Errorf(marketing.ENOTFOUND, "no such message")
	}
	if err != nil {
		return nil, nil, unavailable(fmt.Errorf("sqlite: read message: %w", err))
	}
	attempts := []marketing.Attempt{}
	err = db.each(ctx, func(r scanner) error {
		var a marketing.Attempt
		var at int64
		err := r.Scan(&a.MessageID, &a.Attempt, &at, &a.StatusCode, &a.LatencyMS, &a.Error)
		a.At, a.Latency = fromMS(at), time.Duration(a.LatencyMS)*time.Millisecond
		attempts = append(attempts, a)
		return err
	}, `SELECT message_id, attempt, attempted_at, coalesce(status_code, 0), latency_ms, coalesce(error, '')
		FROM delivery_attempts WHERE message_id = ? ORDER BY attempt, attempted_at`, id)
	if err != nil {
		return nil, nil, unavailable(fmt.Errorf("sqlite: read attempts: %w", err))
	}
	return &m, attempts, nil
}

// Replay makes one message, or every dead one, due again.
func (db *DB) Replay(ctx context.Context, id string, now time.Time) (int64, error) {
	r, err := db.write.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2, finished_at = NULL,
			lease_owner = NULL, lease_until = NULL
		WHERE (?1 = '' AND status = 'dead') OR (?1 <> '' AND id = ?1)`, id, ms(now))
	if err != nil {
		return 0, unavailable(fmt.Errorf("sqlite: replay: %w", err))
	}
	n, _ := r.RowsAffected()
	if id != "" && n == 0 {
		return 0, marketing.Errorf(marketing.ENOTFOUND, "no such message")
	}
	return n, nil
}

// OutboxStats counts messages by status.
func (db *DB) OutboxStats(ctx context.Context) (marketing.OutboxStats, error) {
	var s marketing.OutboxStats
	var oldest sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'dead'),
			count(*) FILTER (WHERE status = 'delivered'), min(created_at) FILTER (WHERE status = 'pending')
		FROM outbox`).Scan(&s.Pending, &s.Dead, &s.Delivered, &oldest)
	if err != nil {
		return s, unavailable(fmt.Errorf("sqlite: outbox stats: %w", err))
	}
	if oldest.Valid {
		s.OldestDue = fromMS(oldest.Int64)
	}
	return s, nil
}

// ConfirmOptIn records a confirmed double opt-in.
func (db *DB) ConfirmOptIn(ctx context.Context, r marketing.ConfirmRequest) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		var email, hash, property, wording, form, path string
		var confirmed sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT email, email_hash, coalesce(property_id, ''), coalesce(wording_hash, ''), coalesce(form_name, ''),
				coalesce(page_path, ''), confirmed_at
			FROM confirmations WHERE id = ? AND (confirmed_at IS NOT NULL OR expires_at > ?)`, r.ID, ms(r.Now)).
			Scan(&email, &hash, &property, &wording, &form, &path, &confirmed)
		if errors.Is(err, sql.ErrNoRows) {
			return false, marketing.Errorf(marketing.ENOTFOUND, "confirmation not found or expired")
		}
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: read confirmation: %w", err))
		}
		if confirmed.Valid {
			return false, nil
		}
		// The address returns here, by the subscriber's own confirmation:
		// its suppression is lifted and its lead created if erased.
		proposed := marketing.NewID(r.Now)
		var id, prev string
		if _, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE email_hash = ?`, hash); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: confirm: %w", err))
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO leads AS l (id, email_normalized, email_hash, property_id, consent_status, consent_at, first_captured_at, last_captured_at)
			VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?5)
			ON CONFLICT (email_normalized) DO UPDATE SET updated_at = ?5
			RETURNING id, consent_status`, proposed, email, hash, nullable(property), ms(r.Now)).Scan(&id, &prev)
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: confirm: %w", err))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE confirmations SET confirmed_at = ?, email = '' WHERE id = ?`, ms(r.Now), r.ID); err != nil {
			return false, unavailable(fmt.Errorf("sqlite: confirm: %w", err))
		}
		d := marketing.ChangeData{LeadID: id, PropertyID: property, ConsentStatus: marketing.ConsentExpress, PreviousStatus: prev,
			Source: marketing.SourceDoubleOptIn, FormName: form}
		var out []marketing.Outgoing
		if id == proposed {
			prev = ""
			d.PreviousStatus = ""
			out = append(out, marketing.Outgoing{Change: marketing.NewChange(marketing.EventLeadCreated, email, d, r.Now)})
		}
		if prev != marketing.ConsentExpress {
			out = append(out, marketing.Outgoing{Change: marketing.NewChange(marketing.EventLeadConfirmed, email, d, r.Now)})
		}
		return true, recordConsent(ctx, tx, consentRow{leadID: id, prev: prev, requested: marketing.ConsentExpress, next: marketing.ConsentExpress,
			source: marketing.SourceDoubleOptIn, wordingHash: wording, form: form, path: path, ipHash: r.IPHash, now: r.Now, outbox: out})
	})
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		return err
	}
	return unavailable(err)
}

// ResendConfirmation queues the latest open request's email again.
func (db *DB) ResendConfirmation(ctx context.Context, email string, now time.Time) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		var id, property, form string
		err := tx.QueryRowContext(ctx, `SELECT id, coalesce(property_id, ''), coalesce(form_name, '') FROM confirmations
			WHERE email = ? AND confirmed_at IS NULL AND expires_at > ? ORDER BY requested_at DESC LIMIT 1`, email, ms(now)).Scan(&id, &property, &form)
		if errors.Is(err, sql.ErrNoRows) {
			return false, marketing.Errorf(marketing.ENOTFOUND, "no open confirmation request")
		}
		if err != nil {
			return false, unavailable(fmt.Errorf("sqlite: read confirmation: %w", err))
		}
		var leadID string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM leads WHERE email_normalized = ?`, email).Scan(&leadID); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, unavailable(fmt.Errorf("sqlite: find lead: %w", err))
		}
		c := marketing.NewChange(marketing.MailConfirmation, email,
			marketing.ChangeData{LeadID: leadID, PropertyID: property, FormName: form, ConfirmationID: id}, now)
		return true, writeOutgoing(ctx, tx, []marketing.Outgoing{{Mail: marketing.MailConfirmation, Change: c}})
	})
	return err
}

// PurgeDelivery deletes expired and confirmed opt-in requests, and
// messages finished before before.
func (db *DB) PurgeDelivery(ctx context.Context, now, before time.Time) (int64, error) {
	var n int64
	for _, st := range []struct {
		q   string
		arg int64
	}{
		{`DELETE FROM confirmations WHERE expires_at <= ? OR confirmed_at IS NOT NULL`, ms(now)},
		{`DELETE FROM outbox WHERE status <> 'pending' AND finished_at < ?`, ms(before)},
	} {
		r, err := db.write.ExecContext(ctx, st.q, st.arg)
		if err != nil {
			return n, unavailable(fmt.Errorf("sqlite: purge delivery: %w", err))
		}
		k, _ := r.RowsAffected()
		n += k
	}
	return n, nil
}
