package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

func BenchmarkAppendEvents64(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs := make([]marketing.PendingEvent, 64)
		for j := range evs {
			evs[j] = storetest.Event(fmt.Sprintf("visitor-%d", (i*64+j)%10000), "page_view", "/p", now.Add(-time.Duration(j)*time.Second))
			evs[j].DedupeKey = []byte(fmt.Sprintf("%016d", i*64+j))
		}
		if _, err := db.AppendEvents(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
}
