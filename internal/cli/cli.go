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
	"os"
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
  rollups run [--from D] [--to D]
                   recompute daily rollups of every property (default: the last
                   ROLLUP_BATCH_DAYS days, today included); each day's rows are
                   replaced in one transaction
  rollups status   how far rollups reach, and recent job runs
  rollups discrepancy [--from D] [--to D] [--property-id P]
                   compare rollups with raw rows; exit 2 on a mismatch (default:
                   the last ROLLUP_BATCH_DAYS complete days, today excluded unless
                   --to names it: today's rollup is partial by design)
  rollups refresh-view
                   refresh the PostgreSQL materialized view (concurrently)
  sessions rebuild derive every session again from the event log (after a
                   change to the session definition, e.g. migration 0002's channel)
  retention purge [--dry-run]
                   delete what is older than the retention windows, in batches
  sites add DOMAIN [--name N] [--timezone TZ] [--origin URL]... [--domain D]... [--id ID]
                   register a site; its events carry its id (default: the domain)
  sites list       list the registered sites
  sites update ID [--name N] [--timezone TZ] [--origin URL]... [--domain D]...
                   change a site (a repeated flag replaces the whole list)
  sites remove ID  unregister a site (its data stays under its id)
  keys create --scope SCOPE[,SCOPE] [--site ID]... [--expires DATE] [--label L]
                   create an API key; its secret alone on standard output
  keys list        list API keys (never their secrets)
  keys revoke ID-OR-PREFIX
                   revoke an API key
  users add EMAIL --role owner|admin|viewer [--site ID]
                   create a user (password: first line of standard input, or prompted)
  users list       list users and their roles
  users remove EMAIL-OR-ID
  users reset-password EMAIL-OR-ID
                   replace a password (read as for add); signs the user out everywhere
  users disable-totp EMAIL-OR-ID
                   remove a user's second factor (a lost authenticator)
  users set-role EMAIL-OR-ID --role owner|admin|viewer|none [--site ID]
                   give or take away a role (default: on every site)
  config check     print the effective configuration, secrets masked
  webhooks add URL [--site ID] [--include-email]
                   register a webhook endpoint; prints its signing secret (whsec_…)
  webhooks list    list the endpoints
  webhooks remove ID
                   delete an endpoint and its messages
  webhooks replay MESSAGE_ID | --dead
                   send one message again, or every dead-lettered one
  webhooks messages [MESSAGE_ID] [--status S] [--limit N]
                   the outbox (webhooks and email), or one message's delivery log
  secrets generate print fresh IP_HASH_PEPPER and ADMIN_API_KEY values (for fly secrets set)
  version          print the version

Settings come from the environment only (README: Configuration).
`

// ExitError asks Main to exit with a specific code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageError is exit status 2 with a message naming what is allowed.
func usageError(format string, a ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, a...)}
}

// Main runs the program and turns its error into an exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := Run(ctx, args, getenv, stdout, stderr)
	if err == nil {
		return 0
	}
	// Errors of package marketing already begin with "marketing: ".
	fmt.Fprintln(stderr, "marketing:", strings.TrimPrefix(err.Error(), "marketing: "))
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

// command is a subcommand that needs the configuration.
type command func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error

// Run dispatches a subcommand, reading standard input where a command
// needs it (a password). Arguments are checked before the environment, so
// a mistyped command is reported as such.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return RunInput(ctx, args, getenv, os.Stdin, stdout, stderr)
}

// RunInput is Run with standard input as a parameter.
func RunInput(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return usageError("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "version", "--version", "-v":
		if len(rest) > 0 {
			return usageError("usage: marketing version (it takes no arguments; got %q)", strings.Join(rest, " "))
		}
		fmt.Fprintln(stdout, "marketing", Version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	case "secrets":
		if len(rest) != 1 || rest[0] != "generate" {
			return usageError("usage: marketing secrets generate")
		}
		fmt.Fprintf(stdout, "IP_HASH_PEPPER=%s\nADMIN_API_KEY=%s\n", randomHex(32), randomHex(24))
		return nil
	}
	run, err := route(cmd, rest, stdin, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return run(ctx, cfg, stdout, stderr)
}

// route finds the subcommand args name, or a usage error naming what the
// command accepts.
func route(cmd string, rest []string, stdin io.Reader, stderr io.Writer) (command, error) {
	noArgs := func(name string, c command) (command, error) {
		if len(rest) > 0 {
			hint := ""
			if strings.HasPrefix(rest[0], "-") {
				hint = "; settings come from the environment (PORT, HOST, DATABASE_URL, …)"
			}
			return nil, usageError("usage: marketing %s (it takes no arguments; got %q%s)", name, strings.Join(rest, " "), hint)
		}
		return c, nil
	}
	sub, subArgs := "", []string(nil)
	if len(rest) > 0 {
		sub, subArgs = rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return noArgs("serve", serve)
	case "migrate":
		switch {
		case len(rest) == 0:
			return func(ctx context.Context, cfg *config.Config, stdout, _ io.Writer) error {
				return migrate(ctx, cfg, stdout)
			}, nil
		case sub == "status" && len(subArgs) == 0:
			return func(ctx context.Context, cfg *config.Config, stdout, _ io.Writer) error {
				return migrateStatus(ctx, cfg, stdout)
			}, nil
		}
		return nil, usageError("usage: marketing migrate | marketing migrate status (got %q)", strings.Join(rest, " "))
	case "rollups":
		const u = "usage: marketing rollups run [--from D] [--to D] | status | discrepancy [--from D] [--to D] [--property-id P] | refresh-view"
		switch {
		case sub == "run":
			return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
				return rollupsRun(ctx, cfg, subArgs, stdout, stderr)
			}, nil
		case sub == "discrepancy":
			return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
				return rollupsDiscrepancy(ctx, cfg, subArgs, stdout, stderr)
			}, nil
		case sub == "status" && len(subArgs) == 0:
			return rollupsStatus, nil
		case sub == "refresh-view" && len(subArgs) == 0:
			return rollupsRefreshView, nil
		case sub == "":
			return nil, usageError("%s (no subcommand given)", u)
		}
		return nil, usageError("%s (got %q)", u, strings.Join(rest, " "))
	case "sessions":
		if sub != "rebuild" || len(subArgs) > 0 {
			return nil, usageError("usage: marketing sessions rebuild (got %q)", strings.Join(rest, " "))
		}
		return sessionsRebuild, nil
	case "retention":
		if sub != "purge" {
			return nil, usageError("usage: marketing retention purge [--dry-run] (got %q)", strings.Join(rest, " "))
		}
		return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
			return retentionPurge(ctx, cfg, subArgs, stdout, stderr)
		}, nil
	case "sites":
		return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
			return sitesCmd(ctx, cfg, rest, stdout, stderr)
		}, nil
	case "keys":
		return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
			return keysCmd(ctx, cfg, rest, stdout, stderr)
		}, nil
	case "users":
		return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
			return usersCmd(ctx, cfg, rest, stdin, stdout, stderr)
		}, nil
	case "webhooks":
		return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
			return webhooks(ctx, cfg, rest, stdout, stderr)
		}, nil
	case "config":
		if sub != "check" || len(subArgs) > 0 {
			return nil, usageError("usage: marketing config check (got %q)", strings.Join(rest, " "))
		}
		return configCheck, nil
	}
	fmt.Fprint(stderr, usage)
	return nil, usageError("unknown command %q (commands: serve, migrate, rollups, sessions, retention, sites, keys, users, webhooks, config, secrets, version, help)", cmd)
}

// configCheck prints the effective configuration, secrets masked, and
// warns on stderr about settings that leave production half working.
func configCheck(_ context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	for _, line := range cfg.Masked() {
		fmt.Fprintln(stdout, line)
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, "WARNING:", w)
	}
	fmt.Fprintln(stdout, "configuration OK")
	return nil
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
