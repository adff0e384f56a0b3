package marketing

import (
	"sort"
	"time"
)

// PendingEvent is a validated, enriched event ready for the event log.
// Everything is derived from the request alone (hashes, ids, property,
// traffic source, device): appending it reads nothing stored.
type PendingEvent struct {
	ID        string // pre-generated event id (UUIDv7 of the receive time)
	AnonID    string // visitor key: the client's anonId or a cookieless hash
	VisitorID string // keyed hash of AnonID: the same in every process
	IPUAHash  string // keyed hash of IP and user agent together (heuristic lead links)
	// DedupeKey is unique in the log: an event whose key is stored is a
	// duplicate. PrevKey, when set, is the key the same content had in the
	// previous 30-second bucket: a stored event under it received after
	// DedupeSince is a duplicate too (a sliding window without a read of
	// its own).
	DedupeKey     []byte
	PrevKey       []byte
	DedupeSince   time.Time
	EventType     string
	Path          string
	OccurredAt    time.Time
	ReceivedAt    time.Time
	ReferrerHost  string
	UTM           UTM
	PropertyID    string
	TrafficSource string
	DeviceType    string
	Browser       string
	OS            string
	CountryCode   string
	IsConversion  bool
	Props         []byte // JSON object of the client's props, or nil
	// Measurements, typed so that no client string can break a rollup.
	EngagedMs, ScrollPct        *int64
	FCPMs, LCPMs, INPMs, TTFBMs *int64
	CLS                         *float64
}

// EventResult is what the API answers for one event. SessionID is
// provisional: the session this process expects the event to belong to.
// Sessions are derived later from the whole log (see DeriveSessions), and
// the derived id can differ (for example when an earlier event of the same
// visitor arrives late).
type EventResult struct {
	EventID   string `json:"eventId"`
	VisitorID string `json:"visitorId"`
	SessionID string `json:"sessionId"`
	Duplicate bool   `json:"-"`
}

// SessionRules configure session derivation.
type SessionRules struct {
	Inactivity time.Duration
}

// SessionEvent is what session derivation reads of one stored event.
type SessionEvent struct {
	ID            string    `json:"id"`
	VisitorID     string    `json:"visitorId"`
	PropertyID    string    `json:"propertyId"`
	EventType     string    `json:"eventType"`
	Path          string    `json:"path"`
	OccurredAt    time.Time `json:"occurredAt"`
	ReferrerHost  string    `json:"referrerHost,omitempty"`
	TrafficSource string    `json:"trafficSource"`
	UTM           UTM       `json:"utm"`
	DeviceType    string    `json:"deviceType,omitempty"`
	Browser       string    `json:"browser,omitempty"`
	OS            string    `json:"os,omitempty"`
	CountryCode   string    `json:"countryCode,omitempty"`
	IsConversion  bool      `json:"isConversion"`
	EngagedMs     int64     `json:"engagedMs,omitempty"`
	IPUAHash      string    `json:"ipUaHash,omitempty"` // keyed hash of address and agent
}

// Session is one derived visit. Its id is its entrance event's id, so it
// stays the same when the session is derived again unless an earlier event
// of the visitor arrives late and becomes its entrance; nothing durable
// stores a session id for that reason.
type Session struct {
	ID            string    `json:"id"`
	VisitorID     string    `json:"visitorId"`
	PropertyID    string    `json:"propertyId"`
	StartedAt     time.Time `json:"startedAt"`
	EndedAt       time.Time `json:"endedAt"`
	LandingPath   string    `json:"landingPath"`
	ExitPath      string    `json:"exitPath,omitempty"` // path of the last page view
	ReferrerHost  string    `json:"referrerHost,omitempty"`
	TrafficSource string    `json:"trafficSource"`
	Channel       string    `json:"channel"` // default channel grouping of the entrance (Channel)
	UTM           UTM       `json:"utm"`
	DeviceType    string    `json:"deviceType,omitempty"`
	Browser       string    `json:"browser,omitempty"`
	OS            string    `json:"os,omitempty"`
	CountryCode   string    `json:"countryCode,omitempty"`
	PageViews     int       `json:"pageViews"`
	Events        int       `json:"events"`
	EngagedMs     int64     `json:"engagedMs"`
	Converted     bool      `json:"converted"`
	Bounce        bool      `json:"bounce"`
	IPUAHash      string    `json:"-"`
}

// Event types the tracker sends that are not interactions of their own: a
// session with one page view and only these is a bounce (Plausible's rule:
// engagement pings do not count as interaction).
var passiveEventTypes = map[string]bool{"page_view": true, "engagement": true, "cwv": true}

// NewSession reports whether ev starts a new session after last, the
// visitor's previous event in the same session (nil: none): after
// rules.Inactivity of silence, or when a different non-empty campaign
// arrives (a page without UTM parameters continues the session).
func NewSession(last *SessionEvent, cur *Session, ev *SessionEvent, rules SessionRules) bool {
	return last == nil || ev.OccurredAt.Sub(last.OccurredAt) > rules.Inactivity ||
		(ev.UTM.HasCampaign() && !ev.UTM.SameCampaign(cur.UTM))
}

// DeriveSessions is the one definition of a session. It takes the events of
// visitors (any order, any number of visitors and properties) and returns
// their sessions, ordered by visitor, property and start. Each visitor's
// events on one property are read in time order (ties broken by id, so the
// answer never depends on the input order); the first event of a session
// is its entrance, the last page view its exit.
func DeriveSessions(events []SessionEvent, rules SessionRules) []Session {
	sorted := make([]*SessionEvent, len(events))
	for i := range events {
		sorted[i] = &events[i]
	}
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.VisitorID != b.VisitorID {
			return a.VisitorID < b.VisitorID
		}
		if a.PropertyID != b.PropertyID {
			return a.PropertyID < b.PropertyID
		}
		if !a.OccurredAt.Equal(b.OccurredAt) {
			return a.OccurredAt.Before(b.OccurredAt)
		}
		return a.ID < b.ID
	})
	var out []Session
	var cur *Session
	var last *SessionEvent
	interactive := false
	closeCur := func() {
		if cur != nil {
			cur.Bounce = cur.PageViews <= 1 && !interactive
			out = append(out, *cur)
		}
	}
	for _, ev := range sorted {
		if last != nil && (last.VisitorID != ev.VisitorID || last.PropertyID != ev.PropertyID) {
			last = nil
		}
		if NewSession(last, cur, ev, rules) {
			closeCur()
			cur = &Session{
				ID: ev.ID, VisitorID: ev.VisitorID, PropertyID: ev.PropertyID,
				StartedAt: ev.OccurredAt, LandingPath: ev.Path, ReferrerHost: ev.ReferrerHost,
				TrafficSource: ev.TrafficSource, UTM: ev.UTM, DeviceType: ev.DeviceType,
				Browser: ev.Browser, OS: ev.OS, CountryCode: ev.CountryCode,
				Channel: Channel(ev.ReferrerHost, ev.UTM, ev.TrafficSource),
			}
			interactive = false
		}
		cur.EndedAt = ev.OccurredAt
		cur.Events++
		cur.EngagedMs += ev.EngagedMs
		cur.IPUAHash = ev.IPUAHash
		if ev.EventType == "page_view" {
			cur.PageViews++
			cur.ExitPath = ev.Path
		}
		if ev.IsConversion {
			cur.Converted = true
		}
		if !passiveEventTypes[ev.EventType] {
			interactive = true
		}
		last = ev
	}
	closeCur()
	return out
}

// Duration is the time between a session's first and last events (0 for a
// session of one event, as Plausible counts bounces).
func (s *Session) Duration() time.Duration { return s.EndedAt.Sub(s.StartedAt) }

// SessionHints is a process's guess of each recent visitor's current
// session, for the provisional sessionId of a 202. It is bounded and never
// the truth: sessions are derived from the log.
type SessionHints struct {
	max int
	m   map[string]sessionHint
}

type sessionHint struct {
	id   string
	last SessionEvent
	utm  UTM
}

// Current is the hinted session of a visitor ("" when unknown).
func (h *SessionHints) Current(visitorID string) string { return h.m[visitorID].id }

// NewSessionHints keeps at most max visitors.
func NewSessionHints(max int) *SessionHints {
	return &SessionHints{max: max, m: make(map[string]sessionHint)}
}

// Place returns the session id ev is expected to belong to and remembers
// it. The caller serialises calls.
func (h *SessionHints) Place(ev *PendingEvent, rules SessionRules) string {
	se := SessionEvent{ID: ev.ID, OccurredAt: ev.OccurredAt, UTM: ev.UTM}
	prev, ok := h.m[ev.VisitorID]
	if ok && ev.OccurredAt.Before(prev.last.OccurredAt) {
		// A late event: the hint cannot place it without the log.
		return prev.id
	}
	var last *SessionEvent
	if ok {
		last = &prev.last
	}
	if NewSession(last, &Session{UTM: prev.utm}, &se, rules) {
		prev = sessionHint{id: ev.ID, utm: ev.UTM}
	}
	prev.last = se
	if !ok && len(h.m) >= h.max {
		for k := range h.m { // drop an arbitrary entry: a hint, not a cache of truth
			delete(h.m, k)
			break
		}
	}
	h.m[ev.VisitorID] = prev
	return prev.id
}
