package marketing

import (
	"sort"
	"time"
)

// PendingEvent is a validated, enriched event ready for the store. Everything
// derived from the request (hashes, property, traffic source, device) is
// already computed; what depends on stored state (visitor and session ids,
// entrances, duplicates) is resolved by the store inside its transaction.
type PendingEvent struct {
	ID            string // pre-generated event id
	AnonID        string // visitor key: the client's anonId or a cookieless hash
	IPHash        string
	UAHash        string
	DedupeKey     []byte    // 16 bytes
	DedupeSince   time.Time // an event with this key received after this is a duplicate
	EventType     string
	Path          string
	OccurredAt    time.Time
	ReceivedAt    time.Time
	Referrer      string // full referrer, kept on the session only as its host
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

// EventResult is what the API answers for one event.
type EventResult struct {
	EventID   string `json:"eventId"`
	VisitorID string `json:"visitorId"`
	SessionID string `json:"sessionId"`
	Duplicate bool   `json:"-"`
}

// SessionRules configure session resolution.
type SessionRules struct {
	Inactivity time.Duration
}

// Session is the stored state of one session that PlanSessions reads and
// updates.
type Session struct {
	ID            string    `json:"id"`
	VisitorID     string    `json:"visitorId"`
	PropertyID    string    `json:"propertyId"`
	StartedAt     time.Time `json:"startedAt"`
	LastEventAt   time.Time `json:"lastEventAt"`
	LandingPath   string    `json:"landingPath"`
	ReferrerHost  string    `json:"referrerHost,omitempty"`
	TrafficSource string    `json:"trafficSource"`
	UTM           UTM       `json:"utm"`
	ExitPath      string    `json:"exitPath,omitempty"` // path of the last page view
	PageViews     int       `json:"pageViews"`
	Events        int       `json:"events"`
}

// PlannedEvent is an event with its visitor and session decided.
type PlannedEvent struct {
	*PendingEvent
	VisitorID  string
	SessionID  string
	IsEntrance bool
}

// SessionPlan is what a store writes for one batch.
type SessionPlan struct {
	Results  []EventResult
	Events   []PlannedEvent // new rows, duplicates excluded
	Inserted []*Session     // sessions to create
	Updated  []*Session     // existing sessions to update
}

// Duplicate is an event already stored under a dedupe key.
type Duplicate struct {
	Key        string // string(DedupeKey)
	ReceivedAt time.Time
	Result     EventResult
}

// PlanSessions decides, for one batch, which events are duplicates, which
// session each new event belongs to, and which sessions start or change.
// visitors maps anonId to visitor id; latest maps visitor id to its most
// recent session (absent: none). Both stores call it inside the transaction
// that holds the visitors' row locks, so two processes never decide
// differently for one visitor.
//
// A new session starts when the visitor has none, after rules.Inactivity of
// silence, or when a different non-empty campaign arrives; a page without
// UTM parameters continues the session.
func PlanSessions(events []PendingEvent, visitors map[string]string, latest map[string]*Session, dups []Duplicate, rules SessionRules) SessionPlan {
	plan := SessionPlan{Results: make([]EventResult, len(events))}
	known := make(map[string]Duplicate, len(dups))
	for _, d := range dups {
		// The most recent stored match decides: if any lies inside an
		// event's window, that one does.
		if prev, ok := known[d.Key]; !ok || d.ReceivedAt.After(prev.ReceivedAt) {
			known[d.Key] = d
		}
	}
	// Process each visitor's events in time order; results keep input order.
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ea, eb := &events[order[a]], &events[order[b]]
		if ea.AnonID != eb.AnonID {
			return ea.AnonID < eb.AnonID
		}
		return ea.OccurredAt.Before(eb.OccurredAt)
	})
	inserted := map[*Session]bool{}
	updated := map[*Session]bool{}
	for _, i := range order {
		ev := &events[i]
		key := string(ev.DedupeKey)
		if d, ok := known[key]; ok && !d.ReceivedAt.Before(ev.DedupeSince) {
			r := d.Result
			r.Duplicate = true
			plan.Results[i] = r
			continue
		}
		vid := visitors[ev.AnonID]
		s := latest[vid]
		entrance := false
		if s == nil || ev.OccurredAt.Sub(s.LastEventAt) > rules.Inactivity ||
			(ev.UTM.HasCampaign() && !ev.UTM.SameCampaign(s.UTM)) {
			s = &Session{
				ID: NewID(ev.OccurredAt), VisitorID: vid, PropertyID: ev.PropertyID,
				StartedAt: ev.OccurredAt, LastEventAt: ev.OccurredAt,
				LandingPath: ev.Path, ReferrerHost: ev.ReferrerHost,
				TrafficSource: ev.TrafficSource, UTM: ev.UTM,
			}
			latest[vid] = s
			inserted[s] = true
			plan.Inserted = append(plan.Inserted, s)
			entrance = true
		} else if !inserted[s] && !updated[s] {
			updated[s] = true
			plan.Updated = append(plan.Updated, s)
		}
		if ev.OccurredAt.After(s.LastEventAt) {
			s.LastEventAt = ev.OccurredAt
		}
		s.Events++
		if ev.EventType == "page_view" {
			s.PageViews++
			s.ExitPath = ev.Path
		}
		r := EventResult{EventID: ev.ID, VisitorID: vid, SessionID: s.ID}
		plan.Results[i] = r
		plan.Events = append(plan.Events, PlannedEvent{PendingEvent: ev, VisitorID: vid, SessionID: s.ID, IsEntrance: entrance})
		known[key] = Duplicate{Key: key, ReceivedAt: ev.ReceivedAt, Result: r}
	}
	return plan
}
