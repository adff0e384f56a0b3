package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

func open(t *testing.T) (marketing.Store, func() marketing.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	handle := func() marketing.Store {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return handle(), handle
}

func TestStore(t *testing.T) { storetest.Run(t, open) }
