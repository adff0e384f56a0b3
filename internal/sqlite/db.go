// Package sqlite implements marketing.Store on an embedded SQLite file with
// modernc.org/sqlite (no cgo). It mirrors internal/postgres file by file.
// Times are stored as UTC milliseconds since the epoch.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

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

// DB is the SQLite store. Writes go through one connection (SQLite has one
// writer anyway) with BEGIN IMMEDIATE; reads use a small pool.
type DB struct {
	write *sql.DB
	read  *sql.DB

	sessionizing sync.Mutex // held by a Sessionize run

	stop, stopped chan struct{} // the checkpoint loop's
	closeOnce     sync.Once
	checkpointDue atomic.Bool // the writer should finish a checkpoint
}

var _ marketing.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path, in WAL mode
// with a busy timeout, foreign keys on and synchronous=FULL, so a commit is
// on disk before the caller is told.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := registerRegexp(); err != nil {
		return nil, fmt.Errorf("sqlite: register regexp: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "journal_size_limit(67108864)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	// The one writer gets a 16 MB page cache (hot index pages); readers keep
	// SQLite's 2 MB default, so memory stays small whatever the load.
	// The writer does not checkpoint the WAL at commit (a commit that
	// crosses the threshold would copy a thousand pages back before it
	// returns); a background loop does, on a reader's connection.
	write, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode()+"&_pragma=cache_size(-16384)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	read.SetMaxOpenConns(4)
	db := &DB{write: write, read: read, stop: make(chan struct{}), stopped: make(chan struct{})}
	go db.checkpoint(checkpointEvery)
	return db, nil
}

// checkpointEvery is how often the WAL is copied back into the database.
const checkpointEvery = 250 * time.Millisecond

// walRestartFrames is the log length (about 16 MB) past which the writer
// is asked to finish a checkpoint so that the log restarts.
const walRestartFrames = 4000

// checkpoint copies committed WAL frames back into the database file every
// interval without blocking the writer (PASSIVE), so the WAL stays small.
func (db *DB) checkpoint(interval time.Duration) {
	defer close(db.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
		}
		var busy, frames, done int
		if err := db.read.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
			continue
		}
		if frames > walRestartFrames {
			// With commits arriving all the time this loop never quite
			// catches up, and the log restarts only once it has: the
			// writer finishes the copy between two batches (see
			// AppendEvents), which leaves it little to do.
			db.checkpointDue.Store(true)
		}
	}
}

// SQL exposes the read handle to tests that inspect rows.
func (db *DB) SQL() *sql.DB { return db.read }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return marketing.Errorf(marketing.EUNAVAILABLE, "database unreachable: %v", err)
	}
	return nil
}

// Close stops the checkpoints and closes both handles (the last connection
// to close checkpoints what is left).
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.stop) })
	<-db.stopped
	return errors.Join(db.write.Close(), db.read.Close())
}

// Migrate applies pending migrations, each in its own transaction. The
// single write connection with BEGIN IMMEDIATE serialises concurrent runs.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at integer NOT NULL)`); err != nil {
		return nil, fmt.Errorf("sqlite: migrate: create schema_migrations: %w", err)
	}
	var done []string
	for _, m := range all {
		applied, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return false, err
			}
			if n > 0 {
				return false, nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return false, err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, ms(time.Now()))
			return true, err
		})
		if err != nil {
			return done, fmt.Errorf("sqlite: migrate %04d_%s: %w", m.Version, m.Name, err)
		}
		if applied {
			done = append(done, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
	}
	return done, nil
}

func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) (bool, error)) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	v, err := fn(tx)
	if err != nil {
		return false, errors.Join(err, tx.Rollback())
	}
	return v, tx.Commit()
}

// Migrations lists every known migration with its applied time.
func (db *DB) Migrations(ctx context.Context) ([]marketing.MigrationState, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	applied := map[int]time.Time{}
	var exists int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read schema_migrations: %w", err))
	}
	if exists > 0 {
		rows, err := db.read.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations`)
		if err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: read schema_migrations: %w", err))
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			var at int64
			if err := rows.Scan(&v, &at); err != nil {
				return nil, unavailable(fmt.Errorf("sqlite: read schema_migrations: %w", err))
			}
			applied[v] = fromMS(at)
		}
		if err := rows.Err(); err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: read schema_migrations: %w", err))
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
	err := db.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", marketing.Errorf(marketing.ENOTFOUND, "setting %s not found", key)
	}
	if err != nil {
		return "", unavailable(fmt.Errorf("sqlite: read setting: %w", err))
	}
	return v, nil
}

// EnsureSetting stores value unless key has one, and returns the stored one.
func (db *DB) EnsureSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", unavailable(fmt.Errorf("sqlite: ensure setting: %w", err))
	}
	return db.Setting(ctx, key)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
