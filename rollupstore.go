package marketing

import "time"

// RollupFacts are the raw aggregates of one report day, [Start, End) in UTC,
// from which internal/metrics builds the rollup rows. Stores produce them
// with plain GROUP BY queries; what they mean is defined once, in Go.
type RollupFacts struct {
	Start, End time.Time
	// Events grouped by property, type, traffic source and conversion.
	Events []EventGroup
	// Visitors active in the day, per property; Returning when first seen
	// before Start.
	Visitors []DayVisitor
	// Sessions started in the day (entrances), with their landing path,
	// page views and whether they held a conversion.
	Sessions []DaySession
	// TTFB measurements (ms) per property.
	TTFB []PropertyValue
	// Leads first captured in the day, with the property of their first
	// capture and the time from the strongly linked visitor's first visit to
	// the capture (ms; -1 when unknown).
	NewLeads []PropertyValue
	// Form submissions accepted in the day, per property.
	Submissions []PropertyValue
	// Rejection and drop counters in the day.
	Rejections []RejectionCount
}

// EventGroup is a count of events sharing these attributes.
type EventGroup struct {
	PropertyID    string
	EventType     string
	TrafficSource string
	Conversion    bool
	Count         int64
}

// DayVisitor is one visitor active on a day for a property.
type DayVisitor struct {
	PropertyID string
	VisitorID  string
	Returning  bool
}

// DaySession is one session started on a day.
type DaySession struct {
	PropertyID  string
	LandingPath string
	PageViews   int
	Converted   bool
}

// PropertyValue is a number attached to a property (a count or a measure).
type PropertyValue struct {
	PropertyID string
	Value      int64
}

// DayRollup is the stored rollup of one property and day: the reference's
// counters plus mergeable structures for window-wide distinct visitors and
// percentiles.
type DayRollup struct {
	PropertyID string
	Day        string // YYYY-MM-DD in TimeZone
	// TimeZone is the IANA zone the day was counted in (the site's own,
	// else REPORT_TIMEZONE; "" for rows rolled up before zones were
	// recorded). Days of another zone than the property's current one are
	// never merged with it: the summary refuses them.
	TimeZone           string
	UniqueVisitors     int64
	ReturningVisitors  int64
	PageViews          int64
	Entrances          int64
	Exits              int64
	Conversions        int64
	FormStarts         int64
	FormSubmits        int64
	NewLeads           int64
	TimeToCaptureSumMs int64
	TimeToCaptureCount int64
	TrafficSources     map[string]int64
	TopLandingPaths    []LandingPath
	VisitorSketch      []byte // internal/metrics sketch of visitor ids
	ReturningSketch    []byte
	EventsAccepted     int64
	EventsRejected     int64
	LeadsAccepted      int64
	LeadsRejected      int64
	Dropped            map[string]int64 // events dropped or rejected, by reason
	TTFBHistogram      []byte           // internal/metrics histogram
	P95TTFBMs          *int64
	GeneratedAt        time.Time
}

// LandingPath is one row of a day's top landing pages.
type LandingPath struct {
	Path           string  `json:"path"`
	Entrances      int64   `json:"entrances"`
	Conversions    int64   `json:"conversions"`
	ConversionRate float64 `json:"conversionRate"`
}

// JobRun is one recorded run of a scheduled or manual job.
type JobRun struct {
	ID         string         `json:"id"`
	Job        string         `json:"job"`  // rollups, retention, consent_expiry, refresh_view
	Slot       string         `json:"slot"` // claims a run: one per job and slot, across processes
	Status     string         `json:"status"`
	DryRun     bool           `json:"dryRun"`
	Details    map[string]any `json:"details,omitempty"`
	Error      string         `json:"error,omitempty"`
	StartedAt  time.Time      `json:"startedAt"`
	FinishedAt time.Time      `json:"finishedAt"`
}

// Job statuses.
const (
	JobRunning = "running"
	JobOK      = "ok"
	JobFailed  = "failed"
)

// Retention says what a purge removes: everything strictly older than each
// cutoff.
type Retention struct {
	Events  time.Time // raw events and sessions; free-text unsubscribe reasons are cleared
	Rollups string    // daily rollups before this day (YYYY-MM-DD)
	// Sketches: the rollups of days before this one (YYYY-MM-DD), whose
	// raw events are gone, keep their counts and lose their sketches of
	// visitor ids, so nothing per visitor outlives the raw window ("":
	// none).
	Sketches   string
	Rejections time.Time // ingest rejection counters
	Salts      time.Time // cookieless visitor salts
	// LoginSessions removes login sessions that expired before it (zero:
	// none).
	LoginSessions time.Time
	BatchSize     int
}
