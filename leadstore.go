package marketing

import (
	"crypto/sha256"
	"encoding/json"
	"time"
)

// LeadCapture is what a store records for one capture, in one transaction:
// the lead_captured event appended to the log; the visitor's current
// session derived from the log for attribution; the lead upserted (a new
// capture fills empty profile fields, never overwrites them); the identity
// links; the submission; the consent change. An address that was erased
// (suppressed) or whose consent was withdrawn is not brought back by a
// capture: the erased one gets nothing stored but the anonymous event, the
// withdrawn one a submission and no status change.
type LeadCapture struct {
	Input           LeadInput
	EmailHash       string       // HMAC of the normalised email: suppressions and the ledger's pseudonym
	SubmissionID    string       // the submission's id, also the public answer's leadId
	Event           PendingEvent // the server-side lead_captured conversion
	IPHash          string
	WordingHash     string        // sha256 hex of Input.Consent.Text, "" without wording
	HeuristicWindow time.Duration // 0 turns heuristic linking off
	// DoubleOptIn: a request for express consent is recorded as pending,
	// with a confirmation request (ConfirmationID) and its email.
	DoubleOptIn    bool
	ConfirmationID string
	Notify         bool // queue a notification email for a new lead
	Rules          SessionRules
	Now            time.Time
}

// Requested is the consent status the capture asks the store for: under
// double opt-in, express waits for the confirmation.
func (c *LeadCapture) Requested() string {
	if c.DoubleOptIn && c.Input.ConsentStatus == ConsentExpress {
		return ConsentPending
	}
	return c.Input.ConsentStatus
}

// NeedsConfirmation reports whether the capture opens a double opt-in
// request, given the status the lead is left with.
func (c *LeadCapture) NeedsConfirmation(next string) bool {
	return c.DoubleOptIn && c.Input.ConsentStatus == ConsentExpress && next != ConsentExpress && c.ConfirmationID != ""
}

// Outgoing is a message a change queues: a webhook fan-out (Mail "") or
// one email of type Mail.
type Outgoing struct {
	Mail string
	Change
}

// CaptureOutbox lists what a capture queues once the store knows the lead
// (leadID, "" when the address is suppressed), its previous status ("" for
// a new lead) and the status recorded: lead.created (and the team's
// notification) for a new lead, consent.changed for a change, and the
// confirmation email of a double opt-in.
func (c *LeadCapture) CaptureOutbox(leadID, prev, next string) []Outgoing {
	var out []Outgoing
	d := ChangeData{LeadID: leadID, PropertyID: c.Event.PropertyID, ConsentStatus: next, Source: SourceFormSubmit, FormName: c.Input.FormName}
	switch {
	case leadID == "":
	case prev == "":
		out = append(out, Outgoing{Change: NewChange(EventLeadCreated, c.Input.Email, d, c.Now)})
		if c.Notify {
			out = append(out, Outgoing{Mail: MailNotification, Change: NewChange(MailNotification, c.Input.Email, d, c.Now)})
		}
	case next != prev:
		d.PreviousStatus = prev
		out = append(out, Outgoing{Change: NewChange(EventConsentChanged, c.Input.Email, d, c.Now)})
	}
	if c.NeedsConfirmation(next) {
		cd := ChangeData{LeadID: leadID, PropertyID: c.Event.PropertyID, FormName: c.Input.FormName, ConfirmationID: c.ConfirmationID}
		out = append(out, Outgoing{Mail: MailConfirmation, Change: NewChange(MailConfirmation, c.Input.Email, cd, c.Now)})
	}
	return out
}

// LeadResult is what a capture did. The public answer shows only
// SubmissionID (as leadId), the caller's own visitor and session, and 0
// heuristic links, whatever the address's history: see PublicAnswer.
type LeadResult struct {
	LeadID                string // "" when nothing was stored about the address
	SubmissionID          string
	VisitorID             string
	SessionID             string
	HeuristicLinksCreated int
}

// CaptureDedupeKey is the dedupe key of the lead_captured event of a
// submission: unique to it (no capture's event is a duplicate of
// another's), and how erasure finds a lead's capture events.
func CaptureDedupeKey(submissionID string) []byte {
	sum := sha256.Sum256([]byte("capture\x00" + submissionID))
	return sum[:16]
}

// CaptureAnswer is the public answer to a capture: the same shape for a
// new, a known and an erased address.
type CaptureAnswer struct {
	LeadID                string `json:"leadId"`
	VisitorID             string `json:"visitorId"`
	SessionID             string `json:"sessionId"`
	HeuristicLinksCreated int    `json:"heuristicLinksCreated"`
}

// PublicAnswer is what a capture tells an unauthenticated caller: a random
// id of this submission (never the lead's, whose UUIDv7 would date the
// first capture), the caller's own visitor and session, and 0 links.
func (r LeadResult) PublicAnswer() CaptureAnswer {
	return CaptureAnswer{LeadID: r.SubmissionID, VisitorID: r.VisitorID, SessionID: r.SessionID}
}

// ConsentChange is a status change from outside a capture: an unsubscribe,
// an admin action.
type ConsentChange struct {
	LeadID string // or
	Email  string // normalised
	Status string
	Source string
	Reason string
	IPHash string
	Now    time.Time
}

// Touch is one attribution snapshot: where a lead came from.
type Touch struct {
	LandingPath   string `json:"landingPath,omitempty"`
	ReferrerHost  string `json:"referrerHost,omitempty"`
	TrafficSource string `json:"trafficSource,omitempty"`
	UTM           UTM    `json:"utm"`
}

// Lead is a stored lead.
type Lead struct {
	ID              string    `json:"id"`
	Email           string    `json:"email"`
	Name            string    `json:"name,omitempty"`
	ConsentStatus   string    `json:"consentStatus"`
	ConsentAt       time.Time `json:"consentAt"`
	SourceChannel   string    `json:"sourceChannel,omitempty"`
	Locale          string    `json:"locale,omitempty"`
	FirstCapturedAt time.Time `json:"firstCapturedAt"`
	LastCapturedAt  time.Time `json:"lastCapturedAt"`
	FirstTouch      Touch     `json:"firstTouch"`
	LastTouch       Touch     `json:"lastTouch"`
	PropertyID      string    `json:"propertyId,omitempty"` // of the first capture
}

// Identity links a lead to a visitor.
type Identity struct {
	VisitorID  string    `json:"visitorId"`
	LinkSource string    `json:"linkSource"`
	Confidence float64   `json:"confidence"`
	LinkedAt   time.Time `json:"linkedAt"`
}

// ConsentEvent is one ledger row.
type ConsentEvent struct {
	Status         string    `json:"status"`
	PreviousStatus string    `json:"previousStatus,omitempty"`
	Source         string    `json:"source"`
	FormName       string    `json:"formName,omitempty"`
	PagePath       string    `json:"pagePath,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	WordingHash    string    `json:"wordingHash,omitempty"`
	Wording        *Consent  `json:"wording,omitempty"`
	IPHash         string    `json:"ipHash,omitempty"`
	At             time.Time `json:"at"`
}

// Submission is one stored form submission.
type Submission struct {
	ID          string          `json:"id"`
	FormName    string          `json:"formName"`
	Path        string          `json:"path,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	VisitorID   string          `json:"visitorId,omitempty"`
	SubmittedAt time.Time       `json:"submittedAt"`
}

// LeadDetail is a lead with everything linked to it.
type LeadDetail struct {
	Lead
	Identities  []Identity     `json:"identities"`
	Consent     []ConsentEvent `json:"consentHistory"`
	Submissions []Submission   `json:"submissions"`
	// Visits are the linked visitors' sessions that started before the
	// first capture.
	Visits []Session `json:"visitsBeforeConversion"`
}

// LeadFilter selects leads for the admin list and export. Leads come newest
// first (first capture, then id); After is the id of the last lead of the
// previous page.
type LeadFilter struct {
	ConsentStatus string
	Source        string // source_channel, exactly
	// Campaign matches the UTM campaign of the first or the last touch.
	Campaign string
	// Since and Until bound the first capture: Since <= t < Until.
	Since time.Time
	Until time.Time
	// Email is a normalised address or the start of one: leads whose
	// address starts with it. It is personal data: callers keep it out of
	// URLs and logs.
	Email     string
	AfterTime time.Time
	AfterID   string
	Limit     int // 0: no limit
	// Properties, when non-nil, keeps only leads first captured on one of
	// them (a principal restricted to some sites).
	Properties []string
}

// CaptureAttribution is the session a capture's event belongs to, derived
// from the visitor's events, and the attribution it gives the lead.
type CaptureAttribution struct {
	SessionID string
	Touch     Touch
}

// CaptureTouch derives the session of a capture's event from its visitor's
// events on the same property (the event itself among them) and returns
// its attribution: landing page, referrer, source and campaign of the
// session's entrance.
func CaptureTouch(events []SessionEvent, ev *PendingEvent, rules SessionRules) CaptureAttribution {
	same := events[:0:0]
	for _, e := range events {
		if e.PropertyID == ev.PropertyID {
			same = append(same, e)
		}
	}
	// Stores keep milliseconds (PostgreSQL microseconds): compare at that.
	at := ev.OccurredAt.Truncate(time.Millisecond)
	for _, s := range DeriveSessions(same, rules) {
		if !at.Before(s.StartedAt.Truncate(time.Millisecond)) && !at.After(s.EndedAt.Truncate(time.Millisecond)) {
			return CaptureAttribution{SessionID: s.ID, Touch: Touch{LandingPath: s.LandingPath, ReferrerHost: s.ReferrerHost,
				TrafficSource: s.TrafficSource, UTM: s.UTM}}
		}
	}
	// Not found (the event was not read back): the event is its own session.
	return CaptureAttribution{SessionID: ev.ID, Touch: Touch{LandingPath: ev.Path, ReferrerHost: ev.ReferrerHost,
		TrafficSource: ev.TrafficSource, UTM: ev.UTM}}
}
