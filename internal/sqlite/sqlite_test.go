package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

func open(t *testing.T) marketing.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) { storetest.Run(t, open) }
