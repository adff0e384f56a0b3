package marketing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"time"
)

// Lead change types: each change of a lead writes one outbox message per
// matching webhook endpoint, in the change's own transaction.
const (
	EventLeadCreated      = "lead.created"
	EventLeadConfirmed    = "lead.confirmed"
	EventConsentChanged   = "consent.changed"
	EventLeadUnsubscribed = "lead.unsubscribed"
	EventLeadErased       = "lead.erased"
)

// Email message types, sent through the outbox too.
const (
	MailConfirmation = "email.confirmation" // to the subscriber: confirm a double opt-in
	MailNotification = "email.notification" // to the site's team: a new lead
)

// Outbox channels and message statuses.
const (
	DeliveryWebhook = "webhook"
	DeliveryEmail   = "email"

	MessagePending   = "pending"
	MessageDelivered = "delivered"
	MessageDead      = "dead"
)

// SourceDoubleOptIn is the ledger source of consent given by confirming a
// double opt-in email.
const SourceDoubleOptIn = "double_opt_in"

// ConfirmationTTL is how long a double opt-in link stays valid.
const ConfirmationTTL = 7 * 24 * time.Hour

// CaptureOptions are the per-capture choices the transport makes.
type CaptureOptions struct {
	HeuristicWindow time.Duration // 0 turns heuristic linking off
	// DoubleOptIn turns a request for express consent into pending consent
	// and a confirmation email; express is recorded on confirmation.
	DoubleOptIn bool
	// Notify queues a notification email to the site's team for a new lead.
	Notify bool
}

// ChangeData is the payload of a lead change without personal data: what
// every endpoint receives. The address is added, at delivery, only for
// endpoints that opted in (see WebhookBody).
type ChangeData struct {
	LeadID         string `json:"leadId"`
	PropertyID     string `json:"propertyId,omitempty"`
	ConsentStatus  string `json:"consentStatus,omitempty"`
	PreviousStatus string `json:"previousStatus,omitempty"`
	Source         string `json:"source,omitempty"`
	FormName       string `json:"formName,omitempty"`
	// ConfirmationID names a double opt-in request (confirmation emails).
	ConfirmationID string `json:"confirmationId,omitempty"`
}

// Change is one lead change for the outbox. A store writes one webhook
// message per endpoint whose site matches (id: Change.ID + "_" + the
// endpoint id), with Email copied only to endpoints that opted in.
type Change struct {
	ID    string // unique; message ids derive from it
	Type  string
	Email string // the lead's normalised address, "" when erased
	Data  ChangeData
	At    time.Time
}

// NewChange builds a change of a lead at now.
func NewChange(typ, email string, d ChangeData, now time.Time) Change {
	return Change{ID: "msg_" + strings.ReplaceAll(NewID(now), "-", ""), Type: typ, Email: email, Data: d, At: now}
}

// Payload is the change's data as stored.
func (c Change) Payload() string {
	b, _ := json.Marshal(c.Data)
	return string(b)
}

// ConsentChangeType names the webhook event of a consent change by source.
func ConsentChangeType(source, status string) string {
	switch {
	case status == ConsentWithdrawn && source == SourceUnsubscribe:
		return EventLeadUnsubscribed
	case source == SourceDoubleOptIn:
		return EventLeadConfirmed
	}
	return EventConsentChanged
}

// WebhookEndpoint is a receiver of signed webhooks.
type WebhookEndpoint struct {
	ID           string    `json:"id"`
	URL          string    `json:"url"`
	PropertyID   string    `json:"propertyId,omitempty"` // "" = every site
	Secret       string    `json:"-"`                    // whsec_…
	IncludeEmail bool      `json:"includeEmail"`
	CreatedAt    time.Time `json:"createdAt"`
}

// Message is one outbox row: a webhook to one endpoint or one email.
type Message struct {
	ID            string          `json:"id"`
	Channel       string          `json:"channel"`
	EndpointID    string          `json:"endpointId,omitempty"`
	Type          string          `json:"type"`
	LeadID        string          `json:"leadId,omitempty"`
	PropertyID    string          `json:"propertyId,omitempty"`
	Payload       json.RawMessage `json:"data"`
	Email         string          `json:"-"` // personal: never in listings
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt time.Time       `json:"nextAttemptAt"`
	LastError     string          `json:"lastError,omitempty"`
	CreatedAt     time.Time       `json:"createdAt"`
	FinishedAt    time.Time       `json:"finishedAt,omitzero"`
	// Endpoint is the message's endpoint, filled in by a claim.
	Endpoint *WebhookEndpoint `json:"-"`
}

// WebhookBody is the JSON body of a webhook message, in the Standard
// Webhooks shape {type, timestamp, data}; the address is in data only when
// the message carries one (the endpoint opted in and the lead is not erased).
func (m *Message) WebhookBody() []byte {
	var data map[string]any
	_ = json.Unmarshal(m.Payload, &data)
	if data == nil {
		data = map[string]any{}
	}
	if m.Email != "" {
		data["email"] = m.Email
	}
	b, _ := json.Marshal(map[string]any{"type": m.Type, "timestamp": m.CreatedAt.UTC().Format(time.RFC3339), "data": data})
	return b
}

// Attempt is one delivery attempt in the log: never a response body.
type Attempt struct {
	MessageID  string        `json:"messageId"`
	Attempt    int           `json:"attempt"`
	At         time.Time     `json:"at"`
	StatusCode int           `json:"statusCode,omitempty"` // 0: no answer
	Latency    time.Duration `json:"-"`
	LatencyMS  int64         `json:"latencyMs"`
	Error      string        `json:"error,omitempty"`
}

// Outcome is what an attempt leaves the message as: delivered, pending
// again at Next, or dead.
type Outcome struct {
	Status string
	Next   time.Time
}

// RetrySchedule is the wait before each attempt, as the established
// webhook services do it: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
// 10 h; after the last failure the message is dead-lettered.
var RetrySchedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// NextOutcome decides what a failed attempt leaves: attempts is how many
// attempts have been made (this one included). The wait gets ±10% jitter
// so that a receiver back from an outage is not hit by every message at
// once.
func NextOutcome(schedule []time.Duration, attempts int, now time.Time) Outcome {
	if attempts >= len(schedule) {
		return Outcome{Status: MessageDead}
	}
	wait := schedule[attempts]
	if wait > 0 {
		wait += time.Duration((rand.Float64()*0.2 - 0.1) * float64(wait))
	}
	return Outcome{Status: MessagePending, Next: now.Add(wait)}
}

// MessageFilter selects outbox messages for the admin listing.
type MessageFilter struct {
	Status string // "" any
	Limit  int
}

// OutboxStats are the gauges of the outbox.
type OutboxStats struct {
	Pending   int64
	Dead      int64
	OldestDue time.Time // created_at of the oldest pending message (zero: none)
	Delivered int64
}

// Confirmation is a double opt-in request as the confirmation records it.
type Confirmation struct {
	ID         string
	Email      string
	EmailHash  string
	PropertyID string
	ExpiresAt  time.Time
}

// ConfirmRequest confirms a double opt-in.
type ConfirmRequest struct {
	ID     string
	IPHash string
	Now    time.Time
}

// DeliveryStore holds webhook endpoints, the outbox, the delivery log and
// double opt-in requests. Lead changes write the outbox themselves (see
// LeadStore); this is the delivery side.
type DeliveryStore interface {
	// AddEndpoint registers a webhook endpoint.
	AddEndpoint(ctx context.Context, e *WebhookEndpoint) error
	// Endpoints lists the endpoints, oldest first.
	Endpoints(ctx context.Context) ([]WebhookEndpoint, error)
	// RemoveEndpoint deletes an endpoint and its messages (ENOTFOUND).
	RemoveEndpoint(ctx context.Context, id string) error
	// ClaimMessages leases up to limit due pending messages of the given
	// channels to owner until now+lease. A message is leased to one owner
	// at a time; an expired lease may be claimed again.
	ClaimMessages(ctx context.Context, owner string, channels []string, now time.Time, lease time.Duration, limit int) ([]Message, error)
	// RecordAttempt logs an attempt and, while owner still holds the
	// lease, applies its outcome and releases the lease.
	RecordAttempt(ctx context.Context, owner string, a Attempt, o Outcome) error
	// Messages lists messages, newest first.
	Messages(ctx context.Context, f MessageFilter) ([]Message, error)
	// Message returns one message and its attempts (ENOTFOUND).
	Message(ctx context.Context, id string) (*Message, []Attempt, error)
	// Replay makes a message (id) or every dead message (id "") due at now
	// again with a fresh attempt budget; it returns how many.
	Replay(ctx context.Context, id string, now time.Time) (int64, error)
	// OutboxStats counts pending, dead and delivered messages.
	OutboxStats(ctx context.Context) (OutboxStats, error)
	// ConfirmOptIn records express consent for a double opt-in request
	// (source double_opt_in, with the wording shown): an erased address's
	// lead is created again here, and only here. ENOTFOUND when the
	// request is unknown, expired or purged; confirming twice is fine.
	ConfirmOptIn(ctx context.Context, r ConfirmRequest) error
	// ResendConfirmation queues the confirmation email of the address's
	// latest open request again (ENOTFOUND when none).
	ResendConfirmation(ctx context.Context, email string, now time.Time) error
	// PurgeDelivery deletes expired or confirmed opt-in requests and
	// messages finished before before; it returns how many rows went.
	PurgeDelivery(ctx context.Context, now, before time.Time) (int64, error)
}

// Tokens in links are base64url(id) "." base64url(HMAC-SHA256(secret,
// purpose NUL id)[:16]): unforgeable, and the purpose keeps a token of one
// kind from working as another.
func signedToken(secret []byte, purpose, id string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose + "\x00" + id))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(id)) + "." + enc.EncodeToString(m.Sum(nil)[:16])
}

func verifySigned(secret []byte, purpose, token string) (string, bool) {
	a, _, ok := strings.Cut(token, ".")
	if !ok || len(token) > 200 {
		return "", false
	}
	id, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil {
		return "", false
	}
	return string(id), hmac.Equal([]byte(signedToken(secret, purpose, string(id))), []byte(token))
}

// UnsubscribeToken names a lead in unsubscribe links; it never expires.
func UnsubscribeToken(secret []byte, leadID string) string {
	return signedToken(secret, "unsubscribe", leadID)
}

// VerifyUnsubscribeToken returns the lead an unsubscribe token names.
func VerifyUnsubscribeToken(secret []byte, token string) (string, bool) {
	return verifySigned(secret, "unsubscribe", token)
}

// ConfirmToken names a double opt-in request in confirmation links; the
// request itself expires (ConfirmationTTL).
func ConfirmToken(secret []byte, id string) string { return signedToken(secret, "confirm", id) }

// VerifyConfirmToken returns the request a confirmation token names.
func VerifyConfirmToken(secret []byte, token string) (string, bool) {
	return verifySigned(secret, "confirm", token)
}

// ConsentOutbox lists what a consent change from outside a capture queues:
// nothing when the status stays, else lead.unsubscribed or consent.changed.
func ConsentOutbox(leadID, propertyID, email, prev, next, source string, now time.Time) []Outgoing {
	if next == prev {
		return nil
	}
	d := ChangeData{LeadID: leadID, PropertyID: propertyID, ConsentStatus: next, PreviousStatus: prev, Source: source}
	return []Outgoing{{Change: NewChange(ConsentChangeType(source, next), email, d, now)}}
}

// ErasureOutbox is what an erasure queues: lead.erased, without the
// address.
func ErasureOutbox(leadID, propertyID string, now time.Time) []Outgoing {
	return []Outgoing{{Change: NewChange(EventLeadErased, "", ChangeData{LeadID: leadID, PropertyID: propertyID}, now)}}
}
