package postgres_test

import (
	"context"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

// dialectOnly are the columns one dialect has and the other must not: each
// store's sessionizer cursor on the event log (a transaction id on
// PostgreSQL, the rowid on SQLite).
var dialectOnly = map[string]string{"events.tx": "postgres", "events.seq": "sqlite"}

// TestSchemasMatch migrates both dialects and compares the resulting
// schemas table by table, column by column, and the migration lists.
func TestSchemasMatch(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	pg, err := postgres.Open(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "schema.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	for _, s := range []interface {
		Migrate(context.Context) ([]string, error)
	}{pg, lite} {
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	pgMig, _ := postgres.Migrations()
	liteMig, _ := sqlite.Migrations()
	if len(pgMig) != len(liteMig) {
		t.Fatalf("%d PostgreSQL migrations, %d SQLite", len(pgMig), len(liteMig))
	}
	for i := range pgMig {
		if pgMig[i].Name != liteMig[i].Name {
			t.Errorf("migration %d: %s and %s", i+1, pgMig[i].Name, liteMig[i].Name)
		}
	}

	pgCols := map[string][]string{}
	rows, err := pg.Pool().Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name IN (SELECT tablename FROM pg_tables WHERE schemaname = current_schema())`)
	if err != nil {
		t.Fatal(err)
	}
	var table, col string
	if _, err := pgx.ForEachRow(rows, []any{&table, &col}, func() error {
		if dialectOnly[table+"."+col] != "postgres" {
			pgCols[table] = append(pgCols[table], col)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	liteCols := map[string][]string{}
	tables, err := lite.SQL().QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	tables.Close()
	for _, n := range names {
		cols, err := lite.SQL().QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, n)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			if err := cols.Scan(&col); err != nil {
				t.Fatal(err)
			}
			if dialectOnly[n+"."+col] != "sqlite" {
				liteCols[n] = append(liteCols[n], col)
			}
		}
		cols.Close()
	}
	for _, m := range []map[string][]string{pgCols, liteCols} {
		for _, c := range m {
			sort.Strings(c)
		}
	}
	if len(pgCols) < 10 {
		t.Fatalf("only %d tables read from PostgreSQL", len(pgCols))
	}
	for tb, c := range pgCols {
		if !reflect.DeepEqual(c, liteCols[tb]) {
			t.Errorf("table %s:\n  postgres %s\n  sqlite   %s", tb, strings.Join(c, ", "), strings.Join(liteCols[tb], ", "))
		}
	}
	for tb := range liteCols {
		if _, ok := pgCols[tb]; !ok {
			t.Errorf("table %s exists only in SQLite", tb)
		}
	}
}

// TestAddingAnEventColumn adds nothing but a column to the event log, the
// way README's "Adding an event field" says, and shows it is stored by
// both stores. A real field takes four files: the PendingEvent field
// (session.go), its EventColumns entry (eventlog.go), one migration per
// dialect (internal/{postgres,sqlite}/migrations), and a test. Here the
// migration is an ALTER TABLE run by the test and the value is derived
// from an existing field, so that nothing else changes.
func TestAddingAnEventColumn(t *testing.T) {
	ctx := context.Background()
	orig := marketing.EventColumns
	marketing.EventColumns = append(append([]marketing.EventColumn(nil), orig...), marketing.EventColumn{
		Name: "path_length", Kind: marketing.KindInt,
		Value: func(e *marketing.PendingEvent) any { n := int64(len(e.Path)); return &n },
	})
	defer func() { marketing.EventColumns = orig }()

	pg, err := postgres.Open(ctx, pgtest.NewDatabase(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "column.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	for name, s := range map[string]struct {
		store marketing.Store
		exec  func(q string) error
		read  func(q string) (int64, error)
	}{
		"postgres": {pg, func(q string) error { _, err := pg.Pool().Exec(ctx, q); return err },
			func(q string) (n int64, err error) { err = pg.Pool().QueryRow(ctx, q).Scan(&n); return }},
		"sqlite": {lite, func(q string) error { _, err := lite.SQL().ExecContext(ctx, q); return err },
			func(q string) (n int64, err error) { err = lite.SQL().QueryRowContext(ctx, q).Scan(&n); return }},
	} {
		if _, err := s.store.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.exec(`ALTER TABLE events ADD COLUMN path_length integer`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.AppendEvents(ctx, []marketing.PendingEvent{storetest.Event("visitor-col", "page_view", "/twelve-long", time.Now())}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n, err := s.read(`SELECT path_length FROM events`); err != nil || n != 12 {
			t.Fatalf("%s: path_length = %d, %v; want 12", name, n, err)
		}
	}
}
