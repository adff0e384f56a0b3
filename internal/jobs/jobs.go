// Package jobs runs the rollups, the retention purge and consent expiry,
// records every run in job_runs, and schedules them inside serve. It is
// dialect-free: the stores do the SQL, internal/metrics the definitions.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/metrics"
	"github.com/altcontext/marketing/internal/stats"
)

// Options configure a Runner.
type Options struct {
	Store         marketing.Store
	Rules         marketing.SessionRules // how sessions are derived
	Log           *slog.Logger
	Location      *time.Location // REPORT_TIMEZONE
	AllProperties string         // ROLLUP_DEFAULT_PROPERTY_ID
	BatchDays     int            // ROLLUP_BATCH_DAYS
	View          string         // materialized view to refresh, "" for none
	EventDays     int
	RollupDays    int
	RejectionDays int
	PurgeBatch    int
	Now           func() time.Time
	OnRollup      func() // e.g. clear the summary cache
	// FlushRejections writes the rejection counters held in memory (the
	// ingest pipeline's) before a day's facts are read, so a rollup never
	// misses the drops of the last seconds. nil: none held.
	FlushRejections func(context.Context) error
	OnJob           func(job, status string, d time.Duration) // metrics hook, optional
	MaxCatchUpDays  int                                       // how far back a catch-up goes, at most
}

// Runner runs jobs.
type Runner struct{ o Options }

// New builds a Runner.
func New(o Options) *Runner {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.OnRollup == nil {
		o.OnRollup = func() {}
	}
	if o.PurgeBatch == 0 {
		o.PurgeBatch = 5000
	}
	if o.Rules.Inactivity == 0 {
		o.Rules.Inactivity = 30 * time.Minute
	}
	if o.MaxCatchUpDays == 0 {
		o.MaxCatchUpDays = 400
	}
	return &Runner{o: o}
}

// Today is the current report day.
func (r *Runner) Today() string { return r.o.Now().In(r.o.Location).Format(time.DateOnly) }

// AddDays shifts a report day.
func AddDays(day string, n int) string {
	d, _ := time.Parse(time.DateOnly, day)
	return d.AddDate(0, 0, n).Format(time.DateOnly)
}

// sessionizeChunk is how many new events one sessionizer run takes at
// most. A run holds only the visitors it found in memory; their events are
// read a thousand visitors at a time.
const sessionizeChunk = 2_000_000

// Sessionize materialises the sessions of every event appended so far
// (until nothing waits), so that reads of sessions are complete. When
// another process is at it, it waits for that run to finish.
func (r *Runner) Sessionize(ctx context.Context) (marketing.SessionizeResult, error) {
	var total marketing.SessionizeResult
	for busy := 0; ; {
		res, err := r.o.Store.Sessionize(ctx, r.o.Rules, sessionizeChunk)
		if err != nil {
			return total, err
		}
		if res.Busy {
			if busy++; busy > 600 {
				return total, marketing.Errorf(marketing.EUNAVAILABLE, "the sessionizer is busy in another process")
			}
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		total.Events += res.Events
		total.Visitors += res.Visitors
		total.Sessions += res.Sessions
		if !res.More {
			return total, nil
		}
	}
}

// SessionizeLoop keeps sessions up to date in serve: a run every `every`,
// or, when runs are slow (a late event makes its visitor's whole visit be
// derived again, so a flood of late events costs more), ten times the last
// run's duration, at most maxSessionizeWait: the sessionizer then takes
// more events a run for the same reads, and about a tenth of the time.
func (r *Runner) SessionizeLoop(ctx context.Context, every time.Duration) {
	wait := every
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		start := time.Now()
		res, err := r.Sessionize(ctx)
		took := time.Since(start)
		if err != nil && ctx.Err() == nil {
			r.o.Log.Error("sessionize", "err", err)
		}
		if r.o.OnJob != nil && res.Events > 0 {
			status := marketing.JobOK
			if err != nil {
				status = marketing.JobFailed
			}
			r.o.OnJob("sessionize", status, took)
		}
		wait = min(max(every, 10*took), maxSessionizeWait)
	}
}

// maxSessionizeWait bounds the pause between sessionizer runs.
const maxSessionizeWait = 30 * time.Second

// BuildDay computes a day's rollup rows without storing them (the summary
// uses it for today, which is not rolled up yet). It reads the sessions as
// materialised (serve's sessionizer keeps them within seconds); Rollup and
// the discrepancy check bring them up to date first.
func (r *Runner) BuildDay(ctx context.Context, day string) ([]marketing.DayRollup, error) {
	start, end, err := metrics.DayBounds(day, r.o.Location)
	if err != nil {
		return nil, marketing.Errorf(marketing.EINVALID, "bad day %q", day)
	}
	if r.o.FlushRejections != nil {
		if err := r.o.FlushRejections(ctx); err != nil {
			return nil, fmt.Errorf("flush rejection counters: %w", err)
		}
	}
	f, err := r.o.Store.RollupFacts(ctx, start, end)
	if err != nil {
		return nil, err
	}
	now := r.o.Now().UTC()
	rows := metrics.Build(f, day, r.o.AllProperties, now)
	for i := range rows {
		rows[i].TimeZone = r.o.Location.String()
	}
	// A site with its own zone has its rows built from its own day: one
	// more pass per distinct zone, keeping only that zone's sites. The
	// all-properties row stays in REPORT_TIMEZONE.
	sites, err := r.o.Store.Sites(ctx)
	if err != nil {
		return nil, err
	}
	zones := map[string]map[string]bool{}
	for _, s := range sites {
		if s.TimeZone != "" && s.TimeZone != r.o.Location.String() {
			if zones[s.TimeZone] == nil {
				zones[s.TimeZone] = map[string]bool{}
			}
			zones[s.TimeZone][s.ID] = true
		}
	}
	for zone, ids := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			r.o.Log.Warn("a site's time zone is unknown here; its rollups use REPORT_TIMEZONE", "zone", zone)
			continue
		}
		start, end, _ := metrics.DayBounds(day, loc)
		f, err := r.o.Store.RollupFacts(ctx, start, end)
		if err != nil {
			return nil, err
		}
		kept := rows[:0]
		for _, row := range rows {
			if !ids[row.PropertyID] {
				kept = append(kept, row)
			}
		}
		rows = kept
		for _, row := range metrics.Build(f, day, r.o.AllProperties, now) {
			if ids[row.PropertyID] {
				row.TimeZone = zone
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// Rollup recomputes and stores the days from..to (inclusive). Re-running
// gives the same rows.
func (r *Runner) Rollup(ctx context.Context, from, to string) ([]string, error) {
	var done []string
	if _, err := r.Sessionize(ctx); err != nil {
		return nil, fmt.Errorf("roll up: sessions: %w", err)
	}
	for day := from; day <= to; day = AddDays(day, 1) {
		rows, err := r.BuildDay(ctx, day)
		if err != nil {
			return done, fmt.Errorf("roll up %s: %w", day, err)
		}
		if err := r.o.Store.SaveRollups(ctx, day, rows); err != nil {
			return done, fmt.Errorf("roll up %s: %w", day, err)
		}
		if err := r.rollupStats(ctx, day, rows); err != nil {
			return done, fmt.Errorf("roll up %s: stats: %w", day, err)
		}
		done = append(done, day)
	}
	r.o.OnRollup()
	if r.o.View != "" && len(done) > 0 {
		if err := r.o.Store.RefreshView(ctx, r.o.View); err != nil {
			r.o.Log.Warn("refresh the metrics view", "view", r.o.View, "err", err)
		}
	}
	return done, nil
}

// statsFinalAfter is how long after its end a day's raw rows stop changing:
// ingest dates an event at most 24 h back (pipeline.go), and an hour more
// covers the queue and the sessionizer. Only then are its stats rolled up,
// so a rolled-up day agrees with a raw (filtered) answer for good.
const statsFinalAfter = 25 * time.Hour

// rollupStats stores the stats engine's rollups of a day for each property
// that has the day's rows, in the zone they were counted in. A day that
// can still change (statsFinalAfter) is left to the engine, which counts it
// from raw rows at each query.
func (r *Runner) rollupStats(ctx context.Context, day string, rows []marketing.DayRollup) error {
	// The all-properties row's id is also the default property's (events
	// of no registered site), whose own rows the engine reads like any
	// property's: it is rolled up like the others, and so every rolled-up
	// day has at least its totals row, which CatchUp counts on.
	for _, row := range rows {
		loc := r.o.Location
		if row.TimeZone != "" && row.TimeZone != loc.String() {
			l, err := time.LoadLocation(row.TimeZone)
			if err != nil {
				continue // BuildDay warned and counted it in REPORT_TIMEZONE
			}
			loc = l
		}
		_, end, err := metrics.DayBounds(day, loc)
		if err != nil || end.After(r.o.Now().Add(-statsFinalAfter)) {
			continue
		}
		built, err := stats.BuildRollups(ctx, r.o.Store, row.PropertyID, day, loc)
		if err != nil {
			return err
		}
		if err := r.o.Store.SaveStatsRollups(ctx, row.PropertyID, loc.String(), day, built); err != nil {
			return err
		}
	}
	return nil
}

// CatchUp rolls up from the last rolled-up day (or ROLLUP_BATCH_DAYS ago)
// through today, so days missed while the service was down are filled in.
func (r *Runner) CatchUp(ctx context.Context) ([]string, error) {
	today := r.Today()
	from := AddDays(today, -(r.o.BatchDays - 1))
	_, last, err := r.o.Store.RollupDays(ctx)
	if err != nil {
		return nil, err
	}
	if last != "" && last < from {
		from = last
	}
	// The routine window never reaches a day whose raw events the
	// retention may have removed, even in part, however large
	// ROLLUP_BATCH_DAYS or old the last rolled-up day: its rollups would be
	// overwritten with less. The first whole day of the raw window, in any
	// zone, is EventDays − 1 days ago, less a day of slack. The backfill
	// below may go further: it starts at a day that still has raw rows.
	if r.o.EventDays > 0 {
		if raw := AddDays(today, -(r.o.EventDays - 2)); from < raw {
			from = raw
		}
	}
	// The stats rollups reach back to the oldest raw event (an upgrade from
	// a release without them, or a manual run of a few days first): raw
	// rows older than the oldest stats rollup get theirs before they are
	// purged. Every rolled-up day has a totals row (rollupStats), so once
	// done this asks for nothing more. A day of slack absorbs a site zone's
	// offset from this one.
	statsFirst, oldest, err := r.o.Store.StatsRollupsFirstDay(ctx)
	if err != nil {
		return nil, err
	}
	floor := AddDays(today, -r.o.MaxCatchUpDays)
	if !oldest.IsZero() {
		od := max(oldest.In(r.o.Location).Format(time.DateOnly), floor)
		if (statsFirst == "" || statsFirst > AddDays(od, 1)) && od < from {
			from = od
		}
	}
	if from < floor {
		from = floor
	}
	if yesterday := AddDays(today, -1); from > yesterday {
		from = yesterday
	}
	return r.Rollup(ctx, from, today)
}

// Purge applies retention (or counts, dry) and expires implied consent.
func (r *Runner) Purge(ctx context.Context, dryRun bool) (map[string]int64, error) {
	now := r.o.Now().UTC()
	ret := marketing.Retention{
		Events:  now.AddDate(0, 0, -r.o.EventDays),
		Rollups: AddDays(r.Today(), -r.o.RollupDays),
		// A day before this one (a UTC date) has ended, in any zone (−12 h
		// to +14 h), before the raw cutoff now − EventDays: its raw events
		// are gone, so its rollups' visitor sketches go too.
		Sketches:   AddDays(now.Format(time.DateOnly), -r.o.EventDays-1),
		Rejections: now.AddDate(0, 0, -r.o.RejectionDays),
		Salts:      now.Add(-48 * time.Hour),
		// Expired login sessions can never be used again.
		LoginSessions: now,
		BatchSize:     r.o.PurgeBatch,
	}
	counts, err := r.o.Store.Purge(ctx, ret, dryRun)
	if err != nil || dryRun {
		return counts, err
	}
	if r.o.View != "" && counts["daily_metric_rollups_sketches"] > 0 {
		// The view copies the sketches: it loses them now, not at the next
		// rollup.
		if err := r.o.Store.RefreshView(ctx, r.o.View); err != nil {
			r.o.Log.Warn("refresh the metrics view", "view", r.o.View, "err", err)
		}
	}
	n, err := r.o.Store.ExpireImpliedConsent(ctx, marketing.ImpliedConsentCutoff(now), now)
	counts["implied_consent_expired"] = n
	return counts, err
}

// Record runs fn as a job run: claimed by (job, slot) so that of many
// processes one runs it, and recorded with its outcome. It returns false
// when another process holds the slot.
func (r *Runner) Record(ctx context.Context, job, slot string, dryRun bool, fn func(ctx context.Context) (map[string]any, error)) (bool, error) {
	now := r.o.Now().UTC()
	run := &marketing.JobRun{ID: marketing.NewID(now), Job: job, Slot: slot, DryRun: dryRun, StartedAt: now}
	if slot == "" {
		run.Slot = "manual:" + run.ID
	}
	ok, err := r.o.Store.ClaimJob(ctx, run)
	if err != nil || !ok {
		return false, err
	}
	details, ferr := fn(ctx)
	run.Details, run.FinishedAt, run.Status = details, r.o.Now().UTC(), marketing.JobOK
	if ferr != nil {
		run.Status, run.Error = marketing.JobFailed, ferr.Error()
	}
	if r.o.OnJob != nil {
		r.o.OnJob(job, run.Status, run.FinishedAt.Sub(run.StartedAt))
	}
	if err := r.o.Store.FinishJob(context.WithoutCancel(ctx), run); err != nil {
		return true, errors.Join(ferr, err)
	}
	return true, ferr
}

// Scheduler runs the hourly rollup (today and yesterday, or a catch-up
// after downtime) and the daily purge and consent expiry inside serve. Each
// run is claimed by its hour or day slot in job_runs, so any number of
// processes run each once.
func (r *Runner) Scheduler(ctx context.Context, tick time.Duration) {
	for {
		r.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
	}
}

// Tick runs whatever is due now: the hour's rollup and the day's retention,
// each only if no process has claimed its slot.
func (r *Runner) Tick(ctx context.Context) {
	now := r.o.Now().UTC()
	hour := now.Truncate(time.Hour).Format("2006-01-02T15")
	if _, err := r.Record(ctx, "rollups", hour, false, func(ctx context.Context) (map[string]any, error) {
		days, err := r.CatchUp(ctx)
		return map[string]any{"days": days}, err
	}); err != nil {
		r.o.Log.Error("scheduled rollups", "err", err)
	}
	day := now.Format(time.DateOnly)
	if _, err := r.Record(ctx, "retention", day, false, func(ctx context.Context) (map[string]any, error) {
		counts, err := r.Purge(ctx, false)
		return map[string]any{"deleted": counts}, err
	}); err != nil {
		r.o.Log.Error("scheduled retention", "err", err)
	}
}
