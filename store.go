package marketing

import (
	"context"
	"time"
)

// Store is everything the service needs from a database: one interface
// per aggregate, so that each can move to another engine on its own (the
// event log first, docs/scale-out.md). PostgreSQL and SQLite implement all
// of them; internal/storetest holds the suite both must pass.
type Store interface {
	Database
	Settings
	EventLog
	SessionStore
	Rejections
	LeadStore
	RollupStore
	JobStore
	SiteStore
	KeyStore
	AuditLog
	UserStore
	SharedLinkStore
	DeliveryStore
	StatsStore
}

// Database is the connection and its schema.
type Database interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases connections.
	Close() error
	// Migrate applies pending migrations and returns the names it applied.
	// Concurrent calls are safe and apply each migration once.
	Migrate(ctx context.Context) ([]string, error)
	// Migrations lists every known migration and whether it is applied.
	Migrations(ctx context.Context) ([]MigrationState, error)
}

// Settings are process-wide values that survive restarts, and the daily
// salts of cookieless visitors.
type Settings interface {
	// Setting returns a stored setting, or ENOTFOUND.
	Setting(ctx context.Context, key string) (string, error)
	// EnsureSetting stores value under key unless a value exists, and
	// returns the stored one: concurrent callers all get the same answer.
	EnsureSetting(ctx context.Context, key, value string) (string, error)
	// DailySalt returns the salt of a UTC day, storing candidate if the day
	// has none yet, so every process agrees on one salt a day.
	DailySalt(ctx context.Context, day time.Time, candidate []byte) ([]byte, error)
	// DeleteSaltsBefore removes salts created before t.
	DeleteSaltsBefore(ctx context.Context, t time.Time) (int64, error)
}

// Rejections are the hourly counters of dropped and refused requests.
type Rejections interface {
	// AddRejections adds counts to the hourly ingest rejection counters.
	AddRejections(ctx context.Context, counts []RejectionCount) error
	// Rejections returns the counters of hours in [from, to), summed per
	// property, endpoint and reason (Hour is left zero).
	Rejections(ctx context.Context, from, to time.Time) ([]RejectionCount, error)
}

// LeadStore holds leads, their consent ledger and suppressions.
type LeadStore interface {
	// CaptureLead records one capture in one transaction (see LeadCapture).
	CaptureLead(ctx context.Context, c *LeadCapture) (LeadResult, error)
	// SetConsent records a consent change for a lead found by id or by
	// normalised email (ENOTFOUND when neither matches).
	SetConsent(ctx context.Context, ch ConsentChange) error
	// DeleteLead erases a lead: the lead, its links, its submissions and
	// its capture events go, and the sessions those events were in are
	// derived again without them (rules), in the same transaction; the
	// ledger stays under emailHash with only the proof of consent, and a
	// suppression is added. ENOTFOUND when the address is unknown.
	DeleteLead(ctx context.Context, email, emailHash string, rules SessionRules, now time.Time) error
	// Leads streams leads matching f, newest first, to fn.
	Leads(ctx context.Context, f LeadFilter, fn func(*Lead) error) error
	// LeadDetail returns one lead with everything linked to it.
	LeadDetail(ctx context.Context, id string) (*LeadDetail, error)
	// LeadIDByEmail finds a lead by normalised email (ENOTFOUND).
	LeadIDByEmail(ctx context.Context, email string) (string, error)
	// Subject returns what is kept about an email hash after erasure: the
	// pseudonymised ledger and whether the address is suppressed.
	Subject(ctx context.Context, emailHash string) ([]ConsentEvent, bool, error)
	// ExpireImpliedConsent moves implied consent given before cutoff to
	// pending, recording source "expiry"; it returns how many leads moved.
	ExpireImpliedConsent(ctx context.Context, cutoff, now time.Time) (int64, error)
}

// RollupStore holds the daily rollups and reads the facts they are built from.
type RollupStore interface {
	// RollupFacts returns the raw aggregates of [start, end), sessions
	// from the materialised ones (run the sessionizer first).
	RollupFacts(ctx context.Context, start, end time.Time) (*RollupFacts, error)
	// SaveRollups replaces every rollup row of day with rows, atomically.
	SaveRollups(ctx context.Context, day string, rows []DayRollup) error
	// Rollups returns a property's rollups of days from..to (inclusive),
	// in day order. With view set (PostgreSQL), rows come from that
	// materialized view when it exists and is populated, else the tables.
	Rollups(ctx context.Context, property, from, to, view string) ([]DayRollup, error)
	// RollupDays returns the first and last days that have rollups ("" none).
	RollupDays(ctx context.Context) (first, last string, err error)
	// RefreshView refreshes the named materialized view concurrently
	// (EINVALID on SQLite, ENOTFOUND when it does not exist).
	RefreshView(ctx context.Context, name string) error
}

// JobStore records job runs and applies retention.
type JobStore interface {
	// ClaimJob records a run as started unless a run of the same job and
	// slot exists: it returns false when another process has it.
	ClaimJob(ctx context.Context, run *JobRun) (bool, error)
	// FinishJob records a claimed run's outcome.
	FinishJob(ctx context.Context, run *JobRun) error
	// JobRuns lists the latest runs, newest first.
	JobRuns(ctx context.Context, limit int) ([]JobRun, error)
	// Purge deletes, in batches, what is older than the retention cutoffs,
	// or only counts it when dryRun is set. It returns counts per table.
	Purge(ctx context.Context, r Retention, dryRun bool) (map[string]int64, error)
}

// MigrationState is one migration and when it was applied (zero: pending).
type MigrationState struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

// SchemaBehind reports the migrations not yet applied.
func SchemaBehind(states []MigrationState) []MigrationState {
	var out []MigrationState
	for _, s := range states {
		if s.AppliedAt.IsZero() {
			out = append(out, s)
		}
	}
	return out
}

// RejectionCount is an increment of one ingest counter: requests dropped or
// rejected in an hour, for a property, endpoint and reason. Hourly buckets let
// reports group them by days of any time zone.
type RejectionCount struct {
	Hour       time.Time // UTC, truncated to the hour
	PropertyID string
	Endpoint   string
	Reason     string
	Count      int64
}

// Reasons an event or request is dropped or rejected.
const (
	ReasonInvalid     = "invalid"
	ReasonBot         = "bot"
	ReasonHoneypot    = "honeypot"
	ReasonRateLimited = "rate_limited"
	ReasonOrigin      = "origin"
)
