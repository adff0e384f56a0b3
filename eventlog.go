package marketing

import (
	"context"
	"time"
)

// EventLog is the append-only log of events: the source of truth every
// report and every session is derived from. An adapter for another engine
// (docs/scale-out.md) implements this interface and nothing else of Store.
type EventLog interface {
	// AppendEvents appends a batch in one transaction: a row per event
	// whose dedupe key is not stored (see PendingEvent), nothing else read
	// or locked. Results are in input order; a duplicate gets the stored
	// event's ids and Duplicate set (its SessionID is left empty).
	AppendEvents(ctx context.Context, events []PendingEvent) ([]EventResult, error)
	// VisitorEvents returns what session derivation reads of a visitor's
	// events that occurred at or after since, in time order.
	VisitorEvents(ctx context.Context, visitorID string, since time.Time) ([]SessionEvent, error)
}

// SessionStore holds the sessions derived from the event log.
type SessionStore interface {
	// Sessionize materialises the sessions of the events appended since its
	// last run (at most about limit of them a call): it finds the visitors
	// that have new events, derives each one's sessions again from the
	// session before its earliest new event onwards (so a late event lands
	// where its time says), replaces those sessions (a few hundred visitors
	// a transaction, so memory stays bounded) and then moves its cursor. A
	// run that dies before the cursor moves is done again by the next.
	// Concurrent calls (any process) do not overlap: one returns with Busy
	// set; More says events wait beyond limit.
	Sessionize(ctx context.Context, rules SessionRules, limit int) (SessionizeResult, error)
	// ResetSessions drops every materialised session and the cursor, so
	// the next runs derive everything from the log again.
	ResetSessions(ctx context.Context) error
	// VisitorSessions lists a visitor's materialised sessions, oldest first.
	VisitorSessions(ctx context.Context, visitorID string) ([]Session, error)
}

// SessionizeResult is one Sessionize call's work.
type SessionizeResult struct {
	Busy     bool  // another call holds the cursor
	Events   int64 // new events taken
	Visitors int   // visitors whose sessions were derived again
	Sessions int   // sessions written
	More     bool  // more events wait beyond limit
}

// ColumnKind is how a stored event column is typed in each dialect.
type ColumnKind int

// Column kinds.
const (
	KindText  ColumnKind = iota // text; "" is stored as NULL unless NotNull
	KindBytes                   // bytea / blob
	KindTime                    // timestamptz / integer milliseconds
	KindInt                     // bigint, nullable
	KindFloat                   // double precision, nullable
	KindBool                    // boolean / integer 0-1
	KindJSON                    // jsonb / text holding JSON, nullable
)

// EventColumn is one stored column of the event log and how to read its
// value from a PendingEvent. Both stores build their insert from
// EventColumns, so a new stored field is: the PendingEvent field, an entry
// here, a migration, and a test.
type EventColumn struct {
	Name    string
	Kind    ColumnKind
	NotNull bool
	Value   func(*PendingEvent) any // string, []byte, time.Time, *int64, *float64, bool or []byte (JSON)
}

func textOf(f func(*PendingEvent) string) func(*PendingEvent) any {
	return func(e *PendingEvent) any { return f(e) }
}

// EventColumns lists the event log's stored columns, in insert order.
var EventColumns = []EventColumn{
	{"id", KindText, true, textOf(func(e *PendingEvent) string { return e.ID })},
	{"visitor_id", KindText, true, textOf(func(e *PendingEvent) string { return e.VisitorID })},
	{"dedupe_key", KindBytes, true, func(e *PendingEvent) any { return e.DedupeKey }},
	{"event_type", KindText, true, textOf(func(e *PendingEvent) string { return e.EventType })},
	{"path", KindText, true, textOf(func(e *PendingEvent) string { return e.Path })},
	{"occurred_at", KindTime, true, func(e *PendingEvent) any { return e.OccurredAt }},
	{"received_at", KindTime, true, func(e *PendingEvent) any { return e.ReceivedAt }},
	{"property_id", KindText, true, textOf(func(e *PendingEvent) string { return e.PropertyID })},
	{"referrer_host", KindText, false, textOf(func(e *PendingEvent) string { return e.ReferrerHost })},
	{"traffic_source", KindText, true, textOf(func(e *PendingEvent) string { return e.TrafficSource })},
	{"utm_source", KindText, false, textOf(func(e *PendingEvent) string { return e.UTM.Source })},
	{"utm_medium", KindText, false, textOf(func(e *PendingEvent) string { return e.UTM.Medium })},
	{"utm_campaign", KindText, false, textOf(func(e *PendingEvent) string { return e.UTM.Campaign })},
	{"utm_term", KindText, false, textOf(func(e *PendingEvent) string { return e.UTM.Term })},
	{"utm_content", KindText, false, textOf(func(e *PendingEvent) string { return e.UTM.Content })},
	{"device_type", KindText, true, textOf(func(e *PendingEvent) string { return e.DeviceType })},
	{"browser", KindText, false, textOf(func(e *PendingEvent) string { return e.Browser })},
	{"os", KindText, false, textOf(func(e *PendingEvent) string { return e.OS })},
	{"country_code", KindText, false, textOf(func(e *PendingEvent) string { return e.CountryCode })},
	{"is_conversion", KindBool, true, func(e *PendingEvent) any { return e.IsConversion }},
	{"engaged_ms", KindInt, false, func(e *PendingEvent) any { return e.EngagedMs }},
	{"scroll_pct", KindInt, false, func(e *PendingEvent) any { return e.ScrollPct }},
	{"fcp_ms", KindInt, false, func(e *PendingEvent) any { return e.FCPMs }},
	{"lcp_ms", KindInt, false, func(e *PendingEvent) any { return e.LCPMs }},
	{"inp_ms", KindInt, false, func(e *PendingEvent) any { return e.INPMs }},
	{"ttfb_ms", KindInt, false, func(e *PendingEvent) any { return e.TTFBMs }},
	{"cls", KindFloat, false, func(e *PendingEvent) any { return e.CLS }},
	{"props", KindJSON, false, func(e *PendingEvent) any { return e.Props }},
	{"ip_ua_hash", KindText, false, textOf(func(e *PendingEvent) string { return e.IPUAHash })},
}

// DedupeEvents resolves the duplicates inside one batch before it is
// appended: an event whose key (or previous-bucket key, inside its window)
// matches an earlier event of the batch is that event's duplicate. It
// returns, per event, the index of the event it duplicates, or -1.
func DedupeEvents(events []PendingEvent) []int {
	of := make([]int, len(events))
	byKey := make(map[string]int, len(events))
	for i := range events {
		of[i] = -1
		ev := &events[i]
		if j, ok := byKey[string(ev.DedupeKey)]; ok {
			of[i] = j
			continue
		}
		if ev.PrevKey != nil {
			if j, ok := byKey[string(ev.PrevKey)]; ok && events[j].ReceivedAt.After(ev.DedupeSince) {
				of[i] = j
				continue
			}
		}
		byKey[string(ev.DedupeKey)] = i
	}
	return of
}

// StoredKey is a stored event found under a dedupe key.
type StoredKey struct {
	EventID    string
	VisitorID  string
	ReceivedAt time.Time
}

// ResolveDuplicate answers an event the log did not store: it duplicates
// the event stored under its key, else the one under its previous-bucket
// key. found holds what the store read under both.
func ResolveDuplicate(ev *PendingEvent, found map[string]StoredKey) EventResult {
	k, ok := found[string(ev.DedupeKey)]
	if !ok && ev.PrevKey != nil {
		k, ok = found[string(ev.PrevKey)]
	}
	if !ok {
		// The stored original went between the insert and this read (a
		// purge): it was stored, so the answer is still a duplicate.
		k = StoredKey{EventID: ev.ID, VisitorID: ev.VisitorID}
	}
	return EventResult{EventID: k.EventID, VisitorID: k.VisitorID, Duplicate: true}
}
