package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

// The writer never checkpoints at commit; the background loop must copy
// committed pages into the database file while the store stays open.
func TestWALIsCheckpointedInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	time.Sleep(600 * time.Millisecond) // the migrations' pages land first
	before := size()
	t0 := time.Now().Add(-time.Hour)
	for b := range 20 {
		evs := make([]marketing.PendingEvent, 100)
		for i := range evs {
			evs[i] = storetest.Event(fmt.Sprintf("visitor-%d-%d", b, i), "page_view", "/p", t0)
		}
		if _, err := db.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes after 2,000 events: the WAL is not checkpointed", before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
