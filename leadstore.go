package marketing

import (
	"encoding/json"
	"time"
)

// LeadCapture is what a store records for one capture.
type LeadCapture struct {
	Input           LeadInput
	EmailHash       string       // HMAC of the normalised email: suppressions and the ledger's pseudonym
	Event           PendingEvent // the server-side lead_captured conversion
	IPHash          string
	WordingHash     string        // sha256 hex of Input.Consent.Text, "" without wording
	HeuristicWindow time.Duration // 0 turns heuristic linking off
	Rules           SessionRules
	Now             time.Time
}

// LeadResult is the capture's answer.
type LeadResult struct {
	LeadID                string `json:"leadId"`
	VisitorID             string `json:"visitorId"`
	SessionID             string `json:"sessionId"`
	HeuristicLinksCreated int    `json:"heuristicLinksCreated"`
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
	SessionID   string          `json:"sessionId,omitempty"`
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
	Source        string
	Since         time.Time
	AfterTime     time.Time
	AfterID       string
	Limit         int // 0: no limit
}
