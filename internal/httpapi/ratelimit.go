package httpapi

import (
	"container/list"
	"math"
	"net"
	"sync"
	"time"
)

// limiter is a per-key token bucket: n tokens refill over a period, and a
// full bucket holds n.
//
// Memory is bounded by max keys. Past the cap the least recently used key
// is evicted, never the whole table: a flood from many addresses pushes out
// idle keys, while a client still knocking stays at the front with its count.
// Each key costs about 200 bytes (the key string of up to ~60 bytes, the
// bucket, its list element and the map entry), so the default cap of 100,000
// keys is about 20 MB per class.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*list.Element // of *bucket
	lru     *list.List               // front: most recently used
	max     int
	now     func() time.Time
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

func newLimiter(n int, per time.Duration, now func() time.Time) *limiter {
	if n <= 0 {
		return nil // no limit
	}
	return &limiter{rate: float64(n) / per.Seconds(), burst: float64(n), buckets: map[string]*list.Element{},
		lru: list.New(), max: 100_000, now: now}
}

// allow takes a token for key. When none is left it returns the time until
// one will be.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e := l.buckets[key]; e != nil {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	} else {
		l.sweep(now)
		for len(l.buckets) >= l.max {
			l.evict(l.lru.Back())
		}
		b = &bucket{key: key, tokens: l.burst, last: now}
		l.buckets[key] = l.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// sweep drops least recently used buckets idle long enough to be full again:
// forgetting them changes nothing. It stops at the first one still in use.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for e := l.lru.Back(); e != nil && now.Sub(e.Value.(*bucket).last) >= full; e = l.lru.Back() {
		l.evict(e)
	}
}

func (l *limiter) evict(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// rateKey is the key a client address is limited under: an IPv4 address
// itself, an IPv6 address's /64. One subscriber, host or VM usually holds a
// whole /64, so per-address keys would give it 2^64 budgets.
func rateKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return ip
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
