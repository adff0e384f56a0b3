package marketing

import (
	"testing"
	"time"
)

// TestNewIDOrderWithinMillisecond: ids made for one millisecond sort in the
// order they were made; the job-runs listing relies on it for a tie.
func TestNewIDOrderWithinMillisecond(t *testing.T) {
	now := time.Date(2026, 11, 30, 2, 51, 9, 610_000_000, time.UTC)
	prev := NewID(now)
	for i := 0; i < 1000; i++ {
		id := NewID(now)
		if id <= prev {
			t.Fatalf("id %d: %s does not sort after %s", i, id, prev)
		}
		if !IsUUID(id) || id[14] != '7' || id[19] < '8' || id[19] > 'b' {
			t.Fatalf("not a UUIDv7: %s", id)
		}
		prev = id
	}
	// Another millisecond keeps its own timestamp, earlier or later.
	if earlier := NewID(now.Add(-time.Hour)); earlier >= prev {
		t.Fatalf("a backdated id %s sorts after %s", earlier, prev)
	}
}
