package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/altcontext/marketing/internal/storetest"
)

func TestForeignWritesThatNameTheirVisitors(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.ForeignWrites(t, db, func(sessionID string) {
		if _, err := db.write.ExecContext(ctx, `UPDATE sessions SET event_count = event_count + 100 WHERE id = ?`, sessionID); err != nil {
			t.Fatal(err)
		}
	}, func(anon string) bool {
		db.visitors.Lock()
		defer db.visitors.Unlock()
		return db.visitors.Get(anon) != nil
	})
}
