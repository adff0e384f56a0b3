// Package postgres implements marketing.Store on PostgreSQL with pgx/v5.
// It mirrors internal/sqlite file by file: settings.go, events.go, salts.go.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/altcontext/marketing"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded migrations, in order.
func Migrations() ([]marketing.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return marketing.ReadMigrations(sub)
}

// migrationLock is the advisory lock key that serialises migrations.
const migrationLock = 0x6d61726b6574 // "market"

// DB is the PostgreSQL store.
type DB struct {
	pool         *pgxpool.Pool
	migrationURL string
}

var _ marketing.Store = (*DB)(nil)

// Open connects a pool to url. directURL, when set, is used for migrations
// and locks (it bypasses a transaction pooler).
func Open(ctx context.Context, url, directURL string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: parse DATABASE_URL: %w", err))
	}
	// Two event writers, the sessionizer (a run holds one connection and
	// uses another), lead captures and reads share the pool.
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	// A directURL other than url says url is a pooler (PgBouncer in
	// transaction mode on Fly Managed Postgres): a server connection is
	// ours for one transaction, and PgBouncer before 1.21 keeps no
	// prepared statements across them. There, unless the URL names a
	// default_query_exec_mode, each statement is parsed unnamed in the
	// round trip that runs it, its description cached here. Direct, pgx
	// keeps its named prepared statements, planned once per connection and
	// cheaper (docs/deploy.md has the numbers).
	if directURL != "" && directURL != url && !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "marketing"
	cfg.HealthCheckPeriod = 5 * time.Second
	// A dead server must be noticed quickly: readyz answers within 2 s.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 2*time.Second {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: open: %w", err))
	}
	if directURL == "" {
		directURL = url
	}
	return &DB{pool: pool, migrationURL: directURL}, nil
}

// Pool exposes the pool to tests and benchmarks that inspect rows.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return marketing.Errorf(marketing.EUNAVAILABLE, "database unreachable: %v", err)
	}
	return nil
}

// Close releases the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Migrate applies pending migrations under an advisory lock held on a
// dedicated connection, each migration in its own transaction.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, db.migrationURL)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: migrate: connect: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: migrate: lock: %w", err))
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: migrate: create schema_migrations: %w", err))
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, m := range all {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("postgres: migrate %04d_%s: %w", m.Version, m.Name, err)
		}
		done = append(done, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return done, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// batcher sends a batch: the pool, or a transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// execAll reads n results of a batch of statements that return no rows
// the caller needs, and stops at the first error.
func execAll(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	return br.Close()
}

// emailLockClass is the advisory lock class of a capture's address
// (pg_advisory_xact_lock's two-key form): captures of one address run one
// at a time.
const emailLockClass = 0x6d6b7461 // "mkta"

func appliedVersions(ctx context.Context, q querier) (map[int]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read schema_migrations: %w", err))
	}
	out := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			return nil, unavailable(fmt.Errorf("postgres: read schema_migrations: %w", err))
		}
		out[v] = at
	}
	return out, rows.Err()
}

// Migrations lists every known migration with its applied time.
func (db *DB) Migrations(ctx context.Context) ([]marketing.MigrationState, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, marketing.Errorf(marketing.EUNAVAILABLE, "database unreachable: %v", err)
	}
	applied := map[int]time.Time{}
	if exists {
		if applied, err = appliedVersions(ctx, db.pool); err != nil {
			return nil, err
		}
	}
	out := make([]marketing.MigrationState, len(all))
	for i, m := range all {
		out[i] = marketing.MigrationState{Version: m.Version, Name: m.Name, AppliedAt: applied[m.Version]}
	}
	return out, nil
}

// Setting returns a stored setting, or ENOTFOUND.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", marketing.Errorf(marketing.ENOTFOUND, "setting %s not found", key)
	}
	if err != nil {
		return "", unavailable(fmt.Errorf("postgres: read setting: %w", err))
	}
	return v, nil
}

// EnsureSetting stores value unless key has one, and returns the stored one.
func (db *DB) EnsureSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := db.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", unavailable(fmt.Errorf("postgres: ensure setting: %w", err))
	}
	return db.Setting(ctx, key)
}
