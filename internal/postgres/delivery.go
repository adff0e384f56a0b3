package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
)

// webhookFanout writes one message of a change per endpoint whose site
// matches, the address only for endpoints that opted in.
const webhookFanout = `INSERT INTO outbox (id, channel, endpoint_id, event_type, lead_id, property_id, payload, email, status, next_attempt_at, created_at)
	SELECT $1::text || '_' || e.id, 'webhook', e.id, $2, $3, $4, $5, CASE WHEN e.include_email THEN $6::text END, 'pending', $7, $7
	FROM webhook_endpoints e WHERE e.property_id IS NULL OR e.property_id = $4`

const mailInsert = `INSERT INTO outbox (id, channel, event_type, lead_id, property_id, payload, email, status, next_attempt_at, created_at)
	VALUES ($1, 'email', $2, $3, $4, $5, $6, 'pending', $7, $7)`

// queueOutgoing adds a change's messages to a batch.
func queueOutgoing(b *pgx.Batch, out []marketing.Outgoing) {
	for _, o := range out {
		d := o.Data
		if o.Mail == "" {
			b.Queue(webhookFanout, o.ID, o.Type, nullable(d.LeadID), nullable(d.PropertyID), o.Payload(), nullable(o.Email), o.At)
		} else {
			b.Queue(mailInsert, o.ID, o.Mail, nullable(d.LeadID), nullable(d.PropertyID), o.Payload(), nullable(o.Email), o.At)
		}
	}
}

// queueConfirmation adds a double opt-in request (and its wording) to a
// batch.
func queueConfirmation(b *pgx.Batch, c *marketing.LeadCapture) {
	in := &c.Input
	if c.WordingHash != "" {
		b.Queue(`INSERT INTO consent_wordings (hash, text, purpose, version) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING`,
			c.WordingHash, in.Consent.Text, nullable(in.Consent.Purpose), nullable(in.Consent.Version))
	}
	b.Queue(`INSERT INTO confirmations (id, email, email_hash, property_id, wording_hash, form_name, page_path, requested_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ConfirmationID, in.Email, c.EmailHash, nullable(c.Event.PropertyID), nullable(c.WordingHash), nullable(in.FormName), nullable(in.Path),
		c.Now, c.Now.Add(marketing.ConfirmationTTL))
}

// AddEndpoint registers a webhook endpoint.
func (db *DB) AddEndpoint(ctx context.Context, e *marketing.WebhookEndpoint) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, url, property_id, secret, include_email, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.URL, nullable(e.PropertyID), e.Secret, e.IncludeEmail, e.CreatedAt)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: add endpoint: %w", err))
	}
	return nil
}

// Endpoints lists the endpoints, oldest first.
func (db *DB) Endpoints(ctx context.Context) ([]marketing.WebhookEndpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, url, coalesce(property_id, ''), secret, include_email, created_at FROM webhook_endpoints ORDER BY created_at, id`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list endpoints: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.WebhookEndpoint, error) {
		var e marketing.WebhookEndpoint
		return e, r.Scan(&e.ID, &e.URL, &e.PropertyID, &e.Secret, &e.IncludeEmail, &e.CreatedAt)
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list endpoints: %w", err))
	}
	return out, nil
}

// RemoveEndpoint deletes an endpoint and, by cascade, its messages.
func (db *DB) RemoveEndpoint(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: remove endpoint: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such endpoint")
	}
	return nil
}

const messageColumns = `o.id, o.channel, coalesce(o.endpoint_id, ''), o.event_type, coalesce(o.lead_id, ''), coalesce(o.property_id, ''),
	o.payload, coalesce(o.email, ''), o.status, o.attempts, o.next_attempt_at, coalesce(o.last_error, ''), o.created_at, o.finished_at`

func scanMessage(r pgx.Row, m *marketing.Message) error {
	var payload string
	var finished *time.Time
	err := r.Scan(&m.ID, &m.Channel, &m.EndpointID, &m.Type, &m.LeadID, &m.PropertyID, &payload, &m.Email, &m.Status, &m.Attempts,
		&m.NextAttemptAt, &m.LastError, &m.CreatedAt, &finished)
	m.Payload = []byte(payload)
	if finished != nil {
		m.FinishedAt = *finished
	}
	return err
}

// ClaimMessages leases due messages: SKIP LOCKED keeps two processes'
// claims apart, and the lease keeps a message from being claimed again
// until it runs out.
func (db *DB) ClaimMessages(ctx context.Context, owner string, channels []string, now time.Time, lease time.Duration, limit int) ([]marketing.Message, error) {
	rows, err := db.pool.Query(ctx, `WITH c AS (
			UPDATE outbox o SET lease_owner = $1, lease_until = $2
			WHERE o.id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 AND channel = ANY($4)
				AND (lease_until IS NULL OR lease_until < $3)
				ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED)
			RETURNING o.*)
		SELECT `+messageColumns+`, coalesce(e.url, ''), coalesce(e.secret, '')
		FROM c o LEFT JOIN webhook_endpoints e ON e.id = o.endpoint_id ORDER BY o.next_attempt_at`,
		owner, now.Add(lease), now, channels, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: claim messages: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.Message, error) {
		var m marketing.Message
		var url, secret string
		var payload string
		var finished *time.Time
		err := r.Scan(&m.ID, &m.Channel, &m.EndpointID, &m.Type, &m.LeadID, &m.PropertyID, &payload, &m.Email, &m.Status, &m.Attempts,
			&m.NextAttemptAt, &m.LastError, &m.CreatedAt, &finished, &url, &secret)
		m.Payload = []byte(payload)
		if m.EndpointID != "" {
			m.Endpoint = &marketing.WebhookEndpoint{ID: m.EndpointID, URL: url, Secret: secret}
		}
		return m, err
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: claim messages: %w", err))
	}
	return out, nil
}

// RecordAttempt logs an attempt and applies its outcome if owner still
// holds the message.
func (db *DB) RecordAttempt(ctx context.Context, owner string, a marketing.Attempt, o marketing.Outcome) error {
	var finished, next any
	if o.Status != marketing.MessagePending {
		finished = a.At
		next = a.At
	} else {
		next = o.Next
	}
	var code *int
	if a.StatusCode != 0 {
		code = &a.StatusCode
	}
	var b pgx.Batch
	b.Queue(`INSERT INTO delivery_attempts (id, message_id, attempt, attempted_at, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		marketing.NewID(a.At), a.MessageID, a.Attempt, a.At, code, a.Latency.Milliseconds(), nullable(a.Error))
	b.Queue(`UPDATE outbox SET status = $3, attempts = greatest(attempts, $4), next_attempt_at = $5, last_error = $6, finished_at = $7,
			lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2`,
		a.MessageID, owner, o.Status, a.Attempt, next, nullable(a.Error), finished)
	if err := execAll(db.pool.SendBatch(ctx, &b), b.Len()); err != nil {
		return unavailable(fmt.Errorf("postgres: record attempt: %w", err))
	}
	return nil
}

// Messages lists messages, newest first.
func (db *DB) Messages(ctx context.Context, f marketing.MessageFilter) ([]marketing.Message, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT `+messageColumns+` FROM outbox o WHERE ($1 = '' OR o.status = $1)
		ORDER BY o.created_at DESC, o.id DESC LIMIT $2`, f.Status, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list messages: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.Message, error) {
		var m marketing.Message
		return m, scanMessage(r, &m)
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list messages: %w", err))
	}
	return out, nil
}

// Message returns one message and its attempts.
func (db *DB) Message(ctx context.Context, id string) (*marketing.Message, []marketing.Attempt, error) {
	var m marketing.Message
	err := scanMessage(db.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM outbox o WHERE o.id = $1`, id), &m)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, marketing.Errorf(marketing.ENOTFOUND, "no such message")
	}
	if err != nil {
		return nil, nil, unavailable(fmt.Errorf("postgres: read message: %w", err))
	}
	rows, err := db.pool.Query(ctx, `SELECT message_id, attempt, attempted_at, coalesce(status_code, 0), latency_ms, coalesce(error, '')
		FROM delivery_attempts WHERE message_id = $1 ORDER BY attempt, attempted_at`, id)
	if err != nil {
		return nil, nil, unavailable(fmt.Errorf("postgres: read attempts: %w", err))
	}
	attempts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.Attempt, error) {
		var a marketing.Attempt
		err := r.Scan(&a.MessageID, &a.Attempt, &a.At, &a.StatusCode, &a.LatencyMS, &a.Error)
		a.Latency = time.Duration(a.LatencyMS) * time.Millisecond
		return a, err
	})
	if err != nil {
		return nil, nil, unavailable(fmt.Errorf("postgres: read attempts: %w", err))
	}
	return &m, attempts, nil
}

// Replay makes one message, or every dead one, due again.
func (db *DB) Replay(ctx context.Context, id string, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, finished_at = NULL,
			lease_owner = NULL, lease_until = NULL
		WHERE ($1 = '' AND status = 'dead') OR ($1 <> '' AND id = $1)`, id, now)
	if err != nil {
		return 0, unavailable(fmt.Errorf("postgres: replay: %w", err))
	}
	if id != "" && tag.RowsAffected() == 0 {
		return 0, marketing.Errorf(marketing.ENOTFOUND, "no such message")
	}
	return tag.RowsAffected(), nil
}

// OutboxStats counts messages by status.
func (db *DB) OutboxStats(ctx context.Context) (marketing.OutboxStats, error) {
	var s marketing.OutboxStats
	var oldest *time.Time
	err := db.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'dead'),
			count(*) FILTER (WHERE status = 'delivered'), min(created_at) FILTER (WHERE status = 'pending')
		FROM outbox`).Scan(&s.Pending, &s.Dead, &s.Delivered, &oldest)
	if err != nil {
		return s, unavailable(fmt.Errorf("postgres: outbox stats: %w", err))
	}
	if oldest != nil {
		s.OldestDue = *oldest
	}
	return s, nil
}

// ConfirmOptIn records a confirmed double opt-in.
func (db *DB) ConfirmOptIn(ctx context.Context, r marketing.ConfirmRequest) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var email, hash, property, wording, form, path string
		var confirmed *time.Time
		err := tx.QueryRow(ctx, `SELECT email, email_hash, coalesce(property_id, ''), coalesce(wording_hash, ''), coalesce(form_name, ''),
				coalesce(page_path, ''), confirmed_at
			FROM confirmations WHERE id = $1 AND (confirmed_at IS NOT NULL OR expires_at > $2) FOR UPDATE`, r.ID, r.Now).
			Scan(&email, &hash, &property, &wording, &form, &path, &confirmed)
		if errors.Is(err, pgx.ErrNoRows) {
			return marketing.Errorf(marketing.ENOTFOUND, "confirmation not found or expired")
		}
		if err != nil {
			return unavailable(fmt.Errorf("postgres: read confirmation: %w", err))
		}
		if confirmed != nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(emailLockClass), hash); err != nil {
			return unavailable(fmt.Errorf("postgres: confirm: %w", err))
		}
		// The address returns here, by the subscriber's own confirmation:
		// its suppression is lifted and its lead created if erased.
		var id, prev string
		var inserted bool
		var b pgx.Batch
		b.Queue(`DELETE FROM suppressions WHERE email_hash = $1`, hash)
		b.Queue(`INSERT INTO leads AS l (id, email_normalized, email_hash, property_id, consent_status, consent_at, first_captured_at, last_captured_at)
			VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)
			ON CONFLICT (email_normalized) DO UPDATE SET updated_at = now()
			RETURNING id, consent_status, xmax = 0`, marketing.NewID(r.Now), email, hash, nullable(property), r.Now)
		b.Queue(`UPDATE confirmations SET confirmed_at = $2, email = '' WHERE id = $1`, r.ID, r.Now)
		br := tx.SendBatch(ctx, &b)
		_, err = br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&id, &prev, &inserted)
		}
		if err == nil {
			_, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return unavailable(fmt.Errorf("postgres: confirm: %w", err))
		}
		d := marketing.ChangeData{LeadID: id, PropertyID: property, ConsentStatus: marketing.ConsentExpress, PreviousStatus: prev,
			Source: marketing.SourceDoubleOptIn, FormName: form}
		var out []marketing.Outgoing
		if inserted {
			prev = ""
			d.PreviousStatus = ""
			out = append(out, marketing.Outgoing{Change: marketing.NewChange(marketing.EventLeadCreated, email, d, r.Now)})
		}
		if prev != marketing.ConsentExpress {
			out = append(out, marketing.Outgoing{Change: marketing.NewChange(marketing.EventLeadConfirmed, email, d, r.Now)})
		}
		return recordConsent(ctx, tx, consentRow{leadID: id, prev: prev, requested: marketing.ConsentExpress, next: marketing.ConsentExpress,
			source: marketing.SourceDoubleOptIn, wordingHash: wording, form: form, path: path, ipHash: r.IPHash, now: r.Now, outbox: out})
	})
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		return err
	}
	return unavailable(err)
}

// ResendConfirmation queues the latest open request's email again.
func (db *DB) ResendConfirmation(ctx context.Context, email string, now time.Time) error {
	var id, property, form string
	err := db.pool.QueryRow(ctx, `SELECT id, coalesce(property_id, ''), coalesce(form_name, '') FROM confirmations
		WHERE email = $1 AND confirmed_at IS NULL AND expires_at > $2 ORDER BY requested_at DESC LIMIT 1`, email, now).Scan(&id, &property, &form)
	if errors.Is(err, pgx.ErrNoRows) {
		return marketing.Errorf(marketing.ENOTFOUND, "no open confirmation request")
	}
	if err != nil {
		return unavailable(fmt.Errorf("postgres: read confirmation: %w", err))
	}
	var leadID string
	_ = db.pool.QueryRow(ctx, `SELECT id FROM leads WHERE email_normalized = $1`, email).Scan(&leadID)
	c := marketing.NewChange(marketing.MailConfirmation, email,
		marketing.ChangeData{LeadID: leadID, PropertyID: property, FormName: form, ConfirmationID: id}, now)
	var b pgx.Batch
	queueOutgoing(&b, []marketing.Outgoing{{Mail: marketing.MailConfirmation, Change: c}})
	if err := execAll(db.pool.SendBatch(ctx, &b), b.Len()); err != nil {
		return unavailable(fmt.Errorf("postgres: resend confirmation: %w", err))
	}
	return nil
}

// PurgeDelivery deletes expired and confirmed opt-in requests, and
// messages finished before before.
func (db *DB) PurgeDelivery(ctx context.Context, now, before time.Time) (int64, error) {
	var n int64
	for _, st := range []struct {
		q   string
		arg time.Time
	}{
		{`DELETE FROM confirmations WHERE expires_at <= $1 OR confirmed_at IS NOT NULL`, now},
		{`DELETE FROM outbox WHERE status <> 'pending' AND finished_at < $1`, before},
	} {
		tag, err := db.pool.Exec(ctx, st.q, st.arg)
		if err != nil {
			return n, unavailable(fmt.Errorf("postgres: purge delivery: %w", err))
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
