// Package delivery sends what the outbox holds: Standard Webhooks-signed
// webhooks and email, with retries on a schedule and dead letters. Any
// number of processes may run a Worker on one database: each claims
// messages under a lease, so a message is sent by one of them at a time,
// and again only if its sender died or lost its lease (at least once).
package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/altcontext/marketing"
)

// Options configure a Worker. Zero values take the defaults.
type Options struct {
	Store marketing.Store
	Log   *slog.Logger
	// Owner names this process in leases (default: host, pid, random).
	Owner string
	// Lease is how long a claim lasts; it must exceed the longest attempt
	// (Timeout, and the SMTP session's 30 s). A process killed mid-send
	// leaves its messages to others once it runs out (default 1 min).
	Lease time.Duration
	// Poll is how often the outbox is read when idle (default 1 s).
	Poll time.Duration
	// Batch is how many messages one claim takes (default 32), sent
	// Parallel at a time (default 8).
	Batch, Parallel int
	// Schedule is the wait before each attempt (default marketing.RetrySchedule).
	Schedule []time.Duration
	// Timeout bounds one webhook request (default 15 s).
	Timeout time.Duration
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses (WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	// Mailer sends email; nil leaves email queued (no SMTP_URL).
	Mailer Mailer
	Mail   MailSettings
	Now    func() time.Time
	// Observe is told each attempt's channel, outcome and latency.
	Observe func(channel, outcome string, latency time.Duration)
	// OnStats is given the outbox's counts every StatsEvery (default 15 s).
	OnStats    func(marketing.OutboxStats)
	StatsEvery time.Duration
	// KeepFinished is how long delivered and dead messages and their logs
	// are kept (default 30 days); expired opt-in requests go too, hourly.
	KeepFinished time.Duration
}

// MailSettings are what emails need to say and link to.
type MailSettings struct {
	SiteName  string
	From      string // MAIL_FROM
	NotifyTo  string // NOTIFY_EMAIL
	PublicURL string // links' origin
	// Secret signs confirmation and unsubscribe links.
	Secret []byte
}

// Worker claims and sends outbox messages.
type Worker struct {
	opt    Options
	client *http.Client
	wake   chan struct{}
}

// New builds a worker.
func New(o Options) *Worker {
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = host + "-" + strconv.Itoa(os.Getpid()) + "-" + randomHex(4)
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 32
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if len(o.Schedule) == 0 {
		o.Schedule = marketing.RetrySchedule
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StatsEvery <= 0 {
		o.StatsEvery = 15 * time.Second
	}
	if o.KeepFinished <= 0 {
		o.KeepFinished = 30 * 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Worker{opt: o, client: newClient(o.Timeout, o.AllowPrivate), wake: make(chan struct{}, 1)}
}

// Wake asks the worker to look at the outbox now (a lead just changed).
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends messages until ctx ends, reports the outbox's counts and
// purges what is past keeping.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.opt.Poll)
	defer t.Stop()
	var lastStats, lastPurge time.Time
	for {
		if now := time.Now(); w.opt.OnStats != nil && now.Sub(lastStats) >= w.opt.StatsEvery {
			lastStats = now
			if st, err := w.opt.Store.OutboxStats(ctx); err == nil {
				w.opt.OnStats(st)
			}
		}
		if now := time.Now(); now.Sub(lastPurge) >= time.Hour {
			lastPurge = now
			at := w.opt.Now().UTC()
			if n, err := w.opt.Store.PurgeDelivery(ctx, at, at.Add(-w.opt.KeepFinished)); err != nil {
				w.opt.Log.Warn("delivery: purge", "err", err)
			} else if n > 0 {
				w.opt.Log.Info("delivery: purged", "rows", n)
			}
		}
		for {
			n, err := w.RunOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.opt.Log.Warn("delivery: claim messages", "err", err)
				}
				break
			}
			if n < w.opt.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// channels are the channels this worker can send.
func (w *Worker) channels() []string {
	if w.opt.Mailer == nil {
		return []string{marketing.DeliveryWebhook}
	}
	return []string{marketing.DeliveryWebhook, marketing.DeliveryEmail}
}

// RunOnce claims one batch of due messages and sends them; it returns how
// many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	msgs, err := w.opt.Store.ClaimMessages(ctx, w.opt.Owner, w.channels(), w.opt.Now().UTC(), w.opt.Lease, w.opt.Batch)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, w.opt.Parallel)
	var wg sync.WaitGroup
	for i := range msgs {
		sem <- struct{}{}
		wg.Add(1)
		go func(m *marketing.Message) {
			defer func() { <-sem; wg.Done() }()
			w.attempt(ctx, m)
		}(&msgs[i])
	}
	wg.Wait()
	return len(msgs), nil
}

// attempt sends one message and records the attempt and its outcome.
func (w *Worker) attempt(ctx context.Context, m *marketing.Message) {
	start, clock := w.opt.Now().UTC(), time.Now()
	var code int
	var err error
	final := false // a failure no retry can fix
	switch m.Channel {
	case marketing.DeliveryWebhook:
		code, err = w.sendWebhook(ctx, m, start)
	case marketing.DeliveryEmail:
		final, err = w.sendMail(ctx, m, start)
	default:
		final, err = true, fmt.Errorf("unknown channel %q", m.Channel)
	}
	if ctx.Err() != nil {
		// Shutting down: the lease runs out and another attempt follows.
		return
	}
	end := w.opt.Now().UTC()
	a := marketing.Attempt{MessageID: m.ID, Attempt: m.Attempts + 1, At: start, StatusCode: code, Latency: time.Since(clock)}
	o := marketing.Outcome{Status: marketing.MessageDelivered}
	if err != nil {
		a.Error = attemptError(err)
		o = marketing.NextOutcome(w.opt.Schedule, a.Attempt, end)
		if final {
			o = marketing.Outcome{Status: marketing.MessageDead}
		}
	}
	if w.opt.Observe != nil {
		w.opt.Observe(m.Channel, o.Status, a.Latency)
	}
	if o.Status == marketing.MessageDead {
		w.opt.Log.Warn("delivery: dead letter", "message_id", m.ID, "channel", m.Channel, "type", m.Type, "attempts", a.Attempt, "err", a.Error)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.opt.Store.RecordAttempt(rctx, w.opt.Owner, a, o); err != nil {
		w.opt.Log.Error("delivery: record attempt", "message_id", m.ID, "err", err)
	}
}

// sendWebhook posts a message, signed, to its endpoint. A 2xx answer
// delivers it.
func (w *Worker) sendWebhook(ctx context.Context, m *marketing.Message, now time.Time) (int, error) {
	if m.Endpoint == nil {
		return 0, fmt.Errorf("message without an endpoint")
	}
	body := m.WebhookBody()
	sig, err := Sign(m.Endpoint.Secret, m.ID, now, body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "marketing-webhooks/1")
	h.Set("webhook-id", m.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// sendMail composes and sends an email message. final is set when no retry
// could send it (the address was erased, nobody to notify).
func (w *Worker) sendMail(ctx context.Context, m *marketing.Message, now time.Time) (final bool, err error) {
	s := w.opt.Mail
	var d marketing.ChangeData
	_ = json.Unmarshal(m.Payload, &d)
	site := s.SiteName
	mail := Mail{From: s.From, Date: now}
	switch m.Type {
	case marketing.MailConfirmation:
		if m.Email == "" {
			return true, fmt.Errorf("the address was erased")
		}
		link := s.PublicURL + "/v1/leads/confirm?token=" + url.QueryEscape(marketing.ConfirmToken(s.Secret, d.ConfirmationID))
		data := map[string]string{"Site": site, "Link": link}
		mail.To, mail.Subject = m.Email, "Please confirm your subscription to "+site
		mail.Text, mail.HTML = render(confirmText, data), render(confirmHTML, data)
		if d.LeadID != "" {
			mail.Unsubscribe = s.PublicURL + "/v1/leads/unsubscribe?token=" + url.QueryEscape(marketing.UnsubscribeToken(s.Secret, d.LeadID))
		}
	case marketing.MailNotification:
		if s.NotifyTo == "" {
			return true, fmt.Errorf("NOTIFY_EMAIL is not set")
		}
		email := m.Email
		if email == "" {
			email = "(erased since)"
		}
		link := ""
		if d.LeadID != "" && m.Email != "" {
			link = s.PublicURL + "/v1/admin/leads/" + d.LeadID
		}
		data := map[string]string{"Site": site, "Email": email, "Form": d.FormName, "Property": d.PropertyID, "Consent": d.ConsentStatus, "Link": link}
		mail.To, mail.Subject = s.NotifyTo, "New lead on "+site
		mail.Text, mail.HTML = render(notifyText, data), render(notifyHTML, data)
	default:
		return true, fmt.Errorf("unknown email type %q", m.Type)
	}
	return false, w.opt.Mailer.Send(ctx, fromAddress(s.From), []string{mail.To}, Compose(mail))
}

// fromAddress is the envelope sender of a From header.
func fromAddress(from string) string {
	if a, err := parseAddress(from); err == nil {
		return a
	}
	return from
}
