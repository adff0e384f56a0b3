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

// Visitor is a visitor's stored row with its most recent session: all that
// PlanSessions needs to place that visitor's events.
type Visitor struct {
	ID        string
	AnonID    string
	FirstSeen time.Time
	LastSeen  time.Time
	IPHash    string
	UAHash    string
	Latest    *Session // nil: no session yet
}

// SessionPlan is what a store writes for one batch.
type SessionPlan struct {
	Results  []EventResult
	Events   []PlannedEvent // new rows, duplicates excluded
	Inserted []*Session     // sessions to create
	Updated  []*Session     // existing sessions to update
	// NewVisitors are to be inserted, ChangedVisitors updated (first or
	// last seen, address or agent hash).
	NewVisitors     []*Visitor
	ChangedVisitors []*Visitor
	// Visitors is every visitor of the batch as stored once the plan is
	// written, by anonId.
	Visitors map[string]*Visitor
}

// Duplicate is an event already stored under a dedupe key.
type Duplicate struct {
	Key        string // string(DedupeKey)
	ReceivedAt time.Time
	Result     EventResult
}

// lastSeenStep is how far last_seen_at must move before a visitor row is
// rewritten for it alone: a busy visitor costs one update a minute, not one
// per batch.
const lastSeenStep = time.Minute

// PlanSessions decides, for one batch, which events are duplicates, which
// visitor and session each new event belongs to, and which visitors and
// sessions are created or change. known holds the stored state of the
// batch's visitors that exist (by anonId; absent: a new visitor); the
// objects in it are updated in place. Stores call it while they hold the
// lock that serialises every writer of visitors and sessions, so two
// processes never decide differently for one visitor.
//
// A new session starts when the visitor has none, after rules.Inactivity of
// silence, or when a different non-empty campaign arrives; a page without
// UTM parameters continues the session.
func PlanSessions(events []PendingEvent, known map[string]*Visitor, dups []Duplicate, rules SessionRules) SessionPlan {
	plan := SessionPlan{Results: make([]EventResult, len(events)), Visitors: make(map[string]*Visitor, len(known))}
	dupOf := make(map[string]Duplicate, len(dups))
	for _, d := range dups {
		// The most recent stored match decides: if any lies inside an
		// event's window, that one does.
		if prev, ok := dupOf[d.Key]; !ok || d.ReceivedAt.After(prev.ReceivedAt) {
			dupOf[d.Key] = d
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
	seen := map[*Visitor]*visitorSeen{}
	for _, i := range order {
		ev := &events[i]
		key := string(ev.DedupeKey)
		if d, ok := dupOf[key]; ok && !d.ReceivedAt.Before(ev.DedupeSince) {
			r := d.Result
			r.Duplicate = true
			plan.Results[i] = r
			continue
		}
		v := plan.Visitors[ev.AnonID]
		if v == nil {
			if v = known[ev.AnonID]; v == nil {
				v = &Visitor{ID: NewID(ev.OccurredAt), AnonID: ev.AnonID, FirstSeen: ev.OccurredAt, LastSeen: ev.OccurredAt,
					IPHash: ev.IPHash, UAHash: ev.UAHash}
				plan.NewVisitors = append(plan.NewVisitors, v)
			}
			plan.Visitors[ev.AnonID] = v
			seen[v] = &visitorSeen{first: ev.OccurredAt, last: ev.OccurredAt, ip: ev.IPHash, ua: ev.UAHash}
		} else {
			seen[v].add(ev)
		}
		s := v.Latest
		entrance := false
		if s == nil || ev.OccurredAt.Sub(s.LastEventAt) > rules.Inactivity ||
			(ev.UTM.HasCampaign() && !ev.UTM.SameCampaign(s.UTM)) {
			s = &Session{
				ID: NewID(ev.OccurredAt), VisitorID: v.ID, PropertyID: ev.PropertyID,
				StartedAt: ev.OccurredAt, LastEventAt: ev.OccurredAt,
				LandingPath: ev.Path, ReferrerHost: ev.ReferrerHost,
				TrafficSource: ev.TrafficSource, UTM: ev.UTM,
			}
			v.Latest = s
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
		r := EventResult{EventID: ev.ID, VisitorID: v.ID, SessionID: s.ID}
		plan.Results[i] = r
		plan.Events = append(plan.Events, PlannedEvent{PendingEvent: ev, VisitorID: v.ID, SessionID: s.ID, IsEntrance: entrance})
		dupOf[key] = Duplicate{Key: key, ReceivedAt: ev.ReceivedAt, Result: r}
	}
	isNew := make(map[*Visitor]bool, len(plan.NewVisitors))
	for _, v := range plan.NewVisitors {
		isNew[v] = true
	}
	for _, anon := range sortedKeys(plan.Visitors) {
		v := plan.Visitors[anon]
		sn := seen[v]
		if isNew[v] {
			v.FirstSeen, v.LastSeen, v.IPHash, v.UAHash = sn.first, sn.last, sn.ip, sn.ua
		} else if sn.apply(v) {
			plan.ChangedVisitors = append(plan.ChangedVisitors, v)
		}
	}
	return plan
}

// visitorSeen is the span of one visitor's events in a batch, with the
// address and agent hashes of the latest.
type visitorSeen struct {
	first, last time.Time
	ip, ua      string
}

func (s *visitorSeen) add(ev *PendingEvent) {
	if ev.OccurredAt.Before(s.first) {
		s.first = ev.OccurredAt
	}
	if !ev.OccurredAt.Before(s.last) {
		s.last, s.ip, s.ua = ev.OccurredAt, ev.IPHash, ev.UAHash
	}
}

// apply moves a stored visitor to include s, and reports whether its row
// must be rewritten: first seen earlier, last seen more than lastSeenStep
// later, or another address or agent on its latest event. Otherwise v is
// left as stored.
func (s *visitorSeen) apply(v *Visitor) bool {
	newer := !s.last.Before(v.LastSeen)
	if !s.first.Before(v.FirstSeen) && !s.last.After(v.LastSeen.Add(lastSeenStep)) &&
		!(newer && (s.ip != v.IPHash || s.ua != v.UAHash)) {
		return false
	}
	if s.first.Before(v.FirstSeen) {
		v.FirstSeen = s.first
	}
	if newer {
		v.LastSeen, v.IPHash, v.UAHash = s.last, s.ip, s.ua
	}
	return true
}

// AnonIDs lists the distinct visitor keys of a batch, in first-seen order.
func AnonIDs(events []PendingEvent) []string {
	seen := make(map[string]bool, len(events))
	out := make([]string, 0, len(events))
	for i := range events {
		if a := events[i].AnonID; !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
