package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/sqlite"
)

func openSites(t testing.TB, n int) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sites.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range n {
		s := &marketing.Site{Domains: []string{fmt.Sprintf("site%d.example", i)}, Created: now, Updated: now}
		if err := s.Normalize(); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSite(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestSiteIndexRefreshes: the index reads the store once, serves its
// snapshot, and sees a change after SiteRefresh without blocking a reader.
func TestSiteIndexRefreshes(t *testing.T) {
	db := openSites(t, 1)
	now := time.Now()
	clock := func() time.Time { return now }
	x := NewSiteIndex(db, nil, clock)
	if id, ok := x.ByHost("site0.example"); !ok || id != "site0.example" {
		t.Fatalf("ByHost = %q, %v", id, ok)
	}
	if _, ok := x.ByOrigin("https://www.site0.example"); !ok {
		t.Fatal("a default origin is not allowed")
	}
	s := &marketing.Site{Domains: []string{"late.example"}, Created: now, Updated: now}
	_ = s.Normalize()
	if err := db.CreateSite(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, ok := x.ByHost("late.example"); ok {
		t.Fatal("the snapshot changed before it was stale")
	}
	now = now.Add(SiteRefresh)
	x.ByHost("late.example") // starts the refresh in the background
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := x.ByHost("late.example"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index never saw the new site")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var nilIndex *SiteIndex
	if nilIndex.Registered() {
		t.Fatal("a nil index has sites")
	}
}

// BenchmarkPropertyOf is the ingest hot path's cost of sites: a snapshot
// load and a map lookup per event.
func BenchmarkPropertyOf(b *testing.B) {
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			db := openSites(b, n)
			p := &Pipeline{opt: Options{DefaultProperty: "default"}, Sites: NewSiteIndex(db, nil, nil)}
			p.PropertyOf("", "https://www.site7.example")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.PropertyOf("", "https://www.site7.example")
			}
		})
	}
}
