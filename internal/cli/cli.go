// Package cli holds the subcommands of the marketing binary. Run is the
// whole program, testable in-process: arguments, environment and output are
// parameters.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/sqlite"
)

// Version is stamped at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

const usage = `usage: marketing <command>

commands:
  serve            run the HTTP server (migrates SQLite itself outside production)
  migrate          apply pending database migrations (idempotent, safe concurrently)
  migrate status   list migrations and whether each is applied
  rollups run [--from D] [--to D] [--property-id P]
                   recompute daily rollups (default: the last ROLLUP_BATCH_DAYS days)
  rollups status   how far rollups reach, and recent job runs
  rollups discrepancy [--from D] [--to D] [--property-id P]
                   compare rollups with raw rows; exit 2 on a mismatch
  rollups refresh-view
                   refresh the PostgreSQL materialized view (concurrently)
  sessions rebuild derive every session again from the event log (after a
                   change to the session definition, e.g. migration 0002's channel)
  retention purge [--dry-run]
                   delete what is older than the retention windows, in batches
  config check     print the effective configuration, secrets masked
  secrets generate print fresh IP_HASH_PEPPER and ADMIN_API_KEY values (for fly secrets set)
  version          print the version
`

// ExitError asks Main to exit with a specific code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs the program and turns its error into an exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := Run(ctx, args, getenv, stdout, stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "marketing:", err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

// Run dispatches a subcommand.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return &ExitError{Code: 2, Err: errors.New("no command given")}
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "marketing", Version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	case "secrets":
		if len(rest) != 1 || rest[0] != "generate" {
			return &ExitError{Code: 2, Err: errors.New("usage: marketing secrets generate")}
		}
		fmt.Fprintf(stdout, "IP_HASH_PEPPER=%s\nADMIN_API_KEY=%s\n", randomHex(32), randomHex(24))
		return nil
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	switch {
	case cmd == "serve" && len(rest) == 0:
		return serve(ctx, cfg, stdout, stderr)
	case cmd == "migrate" && len(rest) == 0:
		return migrate(ctx, cfg, stdout)
	case cmd == "migrate" && len(rest) == 1 && rest[0] == "status":
		return migrateStatus(ctx, cfg, stdout)
	case cmd == "rollups" && len(rest) >= 1 && rest[0] == "run":
		return rollupsRun(ctx, cfg, rest[1:], stdout, stderr)
	case cmd == "rollups" && len(rest) == 1 && rest[0] == "status":
		return rollupsStatus(ctx, cfg, stdout, stderr)
	case cmd == "rollups" && len(rest) >= 1 && rest[0] == "discrepancy":
		return rollupsDiscrepancy(ctx, cfg, rest[1:], stdout, stderr)
	case cmd == "rollups" && len(rest) == 1 && rest[0] == "refresh-view":
		return rollupsRefreshView(ctx, cfg, stdout, stderr)
	case cmd == "sessions" && len(rest) == 1 && rest[0] == "rebuild":
		return sessionsRebuild(ctx, cfg, stdout, stderr)
	case cmd == "retention" && len(rest) >= 1 && rest[0] == "purge":
		return retentionPurge(ctx, cfg, rest[1:], stdout, stderr)
	case cmd == "config" && len(rest) == 1 && rest[0] == "check":
		for _, line := range cfg.Masked() {
			fmt.Fprintln(stdout, line)
		}
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown command %q", strings.Join(args[1:], " "))}
}

// openStore opens the store DATABASE_URL selects.
func openStore(ctx context.Context, cfg *config.Config) (marketing.Store, error) {
	switch cfg.Driver() {
	case "postgres":
		return postgres.Open(ctx, cfg.DatabaseURL, cfg.DirectDatabaseURL)
	case "sqlite":
		return sqlite.Open(ctx, config.SQLitePath(cfg.DatabaseURL))
	}
	return nil, fmt.Errorf("unsupported DATABASE_URL")
}

// openCurrent opens the store and checks its schema is current. SQLite
// outside production migrates itself (zero configuration); anything else
// behind is refused with the command that fixes it.
func openCurrent(ctx context.Context, cfg *config.Config, log *slog.Logger) (marketing.Store, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	states, err := store.Migrations(ctx)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	behind := marketing.SchemaBehind(states)
	switch {
	case len(behind) == 0:
		return store, nil
	case cfg.Driver() == "sqlite" && !cfg.Production():
		applied, err := store.Migrate(ctx)
		if err != nil {
			store.Close()
			return nil, err
		}
		log.Info("migrated the SQLite database", "applied", applied)
		return store, nil
	}
	store.Close()
	return nil, fmt.Errorf("database schema is behind by %d migration(s) (next: %04d_%s): run `marketing migrate` first",
		len(behind), behind[0].Version, behind[0].Name)
}

func migrate(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	applied, err := store.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema is up to date")
	}
	return nil
}

func migrateStatus(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	states, err := store.Migrations(ctx)
	if err != nil {
		return err
	}
	for _, s := range states {
		at := "pending"
		if !s.AppliedAt.IsZero() {
			at = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(stdout, "%04d_%s\t%s\n", s.Version, s.Name, at)
	}
	if n := len(marketing.SchemaBehind(states)); n > 0 {
		fmt.Fprintf(stdout, "%d pending: run `marketing migrate`\n", n)
	}
	return nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
