package httpapi

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(60, time.Minute, func() time.Time { return now })
	for i := range 60 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("61st: ok=%v wait=%v, want refused for about a second", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(time.Second)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("no refill after a second")
	}
	// Bounded memory: idle, full buckets are evicted; the table never
	// exceeds its cap.
	l.max = 100
	for i := range 1000 {
		now = now.Add(2 * time.Minute)
		l.allow(strconv.Itoa(i))
	}
	if n := l.size(); n > 100 {
		t.Fatalf("%d buckets, cap 100", n)
	}
	if newLimiter(0, time.Minute, time.Now) != nil {
		t.Fatal("0 must turn the limit off")
	}
	var off *limiter
	if ok, _ := off.allow("x"); !ok {
		t.Fatal("a nil limiter refuses")
	}
}

// TestLimiterFloodKeepsCounts: a flood of new keys past the cap evicts the
// least recently used, never a client still being refused.
func TestLimiterFloodKeepsCounts(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(5, time.Minute, func() time.Time { return now })
	l.max = 100
	for range 5 {
		l.allow("limited")
	}
	for i := range 10_000 {
		l.allow("flood-" + strconv.Itoa(i))
		if i%10 == 0 {
			if ok, _ := l.allow("limited"); ok {
				t.Fatalf("after %d flood keys the limited client was allowed again", i+1)
			}
		}
		if n := l.size(); n > 100 {
			t.Fatalf("%d buckets, cap 100", n)
		}
	}
	// The flood's oldest keys went first: a key used once long ago is new
	// again (a full bucket), which changes nothing for it.
	if ok, _ := l.allow("flood-0"); !ok {
		t.Fatal("an evicted key refused")
	}
}
