package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/monitor"
)

func newRunner(cfg *config.Config, store marketing.Store, log *slog.Logger, onRollup func(), m *monitor.Metrics, flush func(context.Context) error) *jobs.Runner {
	view := ""
	if cfg.MetricsUseMaterializedView && cfg.Driver() == "postgres" {
		view = cfg.MetricsMaterializedViewName
	}
	return jobs.New(jobs.Options{
		Store: store, Rules: marketing.SessionRules{Inactivity: cfg.SessionInactivity}, Log: log, Location: cfg.ReportTimezone, AllProperties: cfg.RollupDefaultPropertyID,
		BatchDays: cfg.RollupBatchDays, View: view, EventDays: cfg.RetentionEventDays, RollupDays: cfg.RetentionRollupDays,
		RejectionDays: cfg.RetentionRejectionDays, OnRollup: onRollup, OnJob: m.JobRun, FlushRejections: flush,
	})
}

// withRunner opens a current store and a runner.
func withRunner(ctx context.Context, cfg *config.Config, stderr io.Writer, fn func(marketing.Store, *jobs.Runner) error) error {
	log := newLogger(cfg, stderr)
	store, err := openCurrent(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store, newRunner(cfg, store, log, nil, nil, nil))
}

// today is the current report day (REPORT_TIMEZONE), as the runner has it.
func today(cfg *config.Config) string {
	return time.Now().In(cfg.ReportTimezone).Format(time.DateOnly)
}

type dayFlags struct {
	from, to, property string
}

// parseDays reads --from and --to (and --property-id when withProperty).
// The window ends on lastDefault unless --to names a day; it starts
// ROLLUP_BATCH_DAYS-1 days before its end unless --from names one.
func parseDays(name string, args []string, cfg *config.Config, lastDefault string, withProperty bool, stderr io.Writer) (dayFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dayFlags
	fs.StringVar(&d.from, "from", "", "first day, YYYY-MM-DD (default: ROLLUP_BATCH_DAYS days before --to)")
	fs.StringVar(&d.to, "to", "", "last day, YYYY-MM-DD (default: "+lastDefault+")")
	d.property = cfg.RollupDefaultPropertyID
	if withProperty {
		fs.StringVar(&d.property, "property-id", cfg.RollupDefaultPropertyID, "property to compare (default: the all-properties row)")
	}
	if err := fs.Parse(args); err != nil {
		return d, &ExitError{Code: 2, Err: fmt.Errorf("%s: %w (usage: marketing %s [--from D] [--to D]%s)", name, err, name, propertyUsage(withProperty))}
	}
	if fs.NArg() > 0 {
		return d, &ExitError{Code: 2, Err: fmt.Errorf("%s: unexpected argument %q (usage: marketing %s [--from D] [--to D]%s)", name, fs.Arg(0), name, propertyUsage(withProperty))}
	}
	toGiven := d.to != ""
	if !toGiven {
		d.to = lastDefault
	}
	if d.from == "" {
		d.from = jobs.AddDays(d.to, -(cfg.RollupBatchDays - 1))
	}
	for _, v := range []string{d.from, d.to} {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return d, &ExitError{Code: 2, Err: fmt.Errorf("%q is not a day (YYYY-MM-DD)", v)}
		}
	}
	if d.from > d.to {
		if !toGiven {
			return d, &ExitError{Code: 2, Err: fmt.Errorf("--from %s is after the default --to, %s: name the last day with --to", d.from, d.to)}
		}
		return d, &ExitError{Code: 2, Err: errors.New("--from must be before or equal to --to")}
	}
	return d, nil
}

func rollupsRun(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	// Every property, always: a day's rows are replaced in one
	// transaction, so there is no per-property run.
	d, err := parseDays("rollups run", args, cfg, today(cfg), false, stderr)
	if err != nil {
		return err
	}
	return withRunner(ctx, cfg, stderr, func(store marketing.Store, r *jobs.Runner) error {
		var days []string
		_, err = r.Record(ctx, "rollups", "", false, func(ctx context.Context) (map[string]any, error) {
			var err error
			days, err = r.Rollup(ctx, d.from, d.to)
			return map[string]any{"from": d.from, "to": d.to, "days": days}, err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rolled up %d day(s), %s to %s, every property plus %q\n", len(days), d.from, d.to, cfg.RollupDefaultPropertyID)
		return nil
	})
}

func rollupsStatus(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	return withRunner(ctx, cfg, stderr, func(store marketing.Store, r *jobs.Runner) error {
		first, last, err := store.RollupDays(ctx)
		if err != nil {
			return err
		}
		if last == "" {
			fmt.Fprintln(stdout, "rolledUpThrough: none")
		} else {
			lt, _ := time.Parse(time.DateOnly, last)
			tt, _ := time.Parse(time.DateOnly, r.Today())
			fmt.Fprintf(stdout, "rolledUpFrom: %s\nrolledUpThrough: %s (lagDays=%d)\n", first, last, int(tt.Sub(lt).Hours()/24))
		}
		runs, err := store.JobRuns(ctx, 10)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "recent job runs:")
		for _, j := range runs {
			fmt.Fprintf(stdout, "  %s  %-10s %-7s slot=%s %s\n", j.StartedAt.Format(time.RFC3339), j.Job, j.Status, j.Slot, j.Error)
		}
		return nil
	})
}

// rollupsDiscrepancy recomputes each day from raw rows and compares with
// what is stored; exit 2 on any mismatch.
func rollupsDiscrepancy(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	// Complete days only by default: today's rollup is a snapshot of a day
	// still receiving events, so it differs from the raw rows by design.
	// --to today asks for it anyway.
	d, err := parseDays("rollups discrepancy", args, cfg, jobs.AddDays(today(cfg), -1), true, stderr)
	if err != nil {
		return err
	}
	return withRunner(ctx, cfg, stderr, func(store marketing.Store, r *jobs.Runner) error {
		// The raw side includes every event stored so far.
		if _, err := r.Sessionize(ctx); err != nil {
			return err
		}
		stored, err := store.Rollups(ctx, d.property, d.from, d.to, "")
		if err != nil {
			return err
		}
		byDay := map[string]marketing.DayRollup{}
		for _, s := range stored {
			byDay[s.Day] = s
		}
		fmt.Fprintf(stdout, "propertyId=%s window=%s..%s\n", d.property, d.from, d.to)
		var problems []string
		for day := d.from; day <= d.to; day = jobs.AddDays(day, 1) {
			fresh, err := r.BuildDay(ctx, day)
			if err != nil {
				return err
			}
			var raw marketing.DayRollup
			for _, f := range fresh {
				if f.PropertyID == d.property {
					raw = f
				}
			}
			s := byDay[day]
			for _, c := range []struct {
				name      string
				raw, roll int64
			}{
				{"events_accepted", raw.EventsAccepted, s.EventsAccepted},
				{"events_rejected", raw.EventsRejected, s.EventsRejected},
				{"total_page_views", raw.PageViews, s.PageViews},
				{"unique_visitors", raw.UniqueVisitors, s.UniqueVisitors},
				{"new_leads", raw.NewLeads, s.NewLeads},
			} {
				if c.raw != c.roll {
					problems = append(problems, fmt.Sprintf("- %s %s raw=%d rollup=%d", day, c.name, c.raw, c.roll))
				}
			}
		}
		if len(problems) == 0 {
			fmt.Fprintln(stdout, "no rollup discrepancies")
			return nil
		}
		fmt.Fprintf(stdout, "%d discrepancy(s):\n", len(problems))
		for _, p := range problems {
			fmt.Fprintln(stdout, p)
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("%d rollup discrepancy(s): run `marketing rollups run` for those days", len(problems))}
	})
}

// sessionsRebuild drops the materialised sessions and derives them all
// again from the log. A running serve keeps answering meanwhile (session
// reports are short until the rebuild ends), and its own sessionizer may
// do part of the work: one run holds the cursor at a time.
func sessionsRebuild(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	return withRunner(ctx, cfg, stderr, func(store marketing.Store, r *jobs.Runner) error {
		if err := store.ResetSessions(ctx); err != nil {
			return err
		}
		res, err := r.Sessionize(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "derived %d sessions of %d visitors from %d events\n", res.Sessions, res.Visitors, res.Events)
		return nil
	})
}

func rollupsRefreshView(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	return withRunner(ctx, cfg, stderr, func(store marketing.Store, r *jobs.Runner) error {
		_, err := r.Record(ctx, "refresh_view", "", false, func(ctx context.Context) (map[string]any, error) {
			return map[string]any{"view": cfg.MetricsMaterializedViewName}, store.RefreshView(ctx, cfg.MetricsMaterializedViewName)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "refreshed %s\n", cfg.MetricsMaterializedViewName)
		return nil
	})
}

func retentionPurge(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("retention purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dry := fs.Bool("dry-run", false, "count what would be deleted, change nothing")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return &ExitError{Code: 2, Err: errors.New("usage: marketing retention purge [--dry-run]")}
	}
	return withRunner(ctx, cfg, stderr, func(store marketing.Store, r *jobs.Runner) error {
		var counts map[string]int64
		_, err := r.Record(ctx, "retention", "", *dry, func(ctx context.Context) (map[string]any, error) {
			var err error
			counts, err = r.Purge(ctx, *dry)
			return map[string]any{"counts": counts}, err
		})
		if err != nil {
			return err
		}
		verb := "deleted"
		if *dry {
			verb = "would delete (dry run, nothing changed)"
		}
		fmt.Fprintf(stdout, "retention: events %d days, rollups %d days, rejections %d days; %s:\n", cfg.RetentionEventDays, cfg.RetentionRollupDays, cfg.RetentionRejectionDays, verb)
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "  %-24s %d\n", k, counts[k])
		}
		return nil
	})
}

func propertyUsage(withProperty bool) string {
	if withProperty {
		return " [--property-id P]"
	}
	return ""
}
