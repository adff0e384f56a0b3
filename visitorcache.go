package marketing

import "sync"

// VisitorCache keeps the stored state of recently seen visitors (their rows
// and latest sessions) in memory, so that a batch of events needs no reads
// for them. It is only trusted while nothing else has written visitors or
// sessions: every store keeps a write counter, the epoch, that any change
// to those tables bumps (a trigger), and the event writer takes it with a
// lock at the start of each batch. If the epoch moved since the writer's
// last commit (another process, a lead capture, a purge), the cache is
// dropped and the batch reads what it needs.
//
// A store holds one cache and locks it for a whole batch, so one process
// writes one batch at a time; the epoch lock already serialises writers.
type VisitorCache struct {
	mu    sync.Mutex
	epoch int64 // epoch after the last commit this cache reflects; -1: none
	max   int
	m     map[string]*Visitor
}

// NewVisitorCache holds at most max visitors.
func NewVisitorCache(max int) *VisitorCache {
	return &VisitorCache{epoch: -1, max: max, m: make(map[string]*Visitor)}
}

// Lock takes the cache for one batch.
func (c *VisitorCache) Lock() { c.mu.Lock() }

// Unlock releases it.
func (c *VisitorCache) Unlock() { c.mu.Unlock() }

// Valid reports whether the cache reflects the database at epoch, which
// the caller read under the epoch lock. If not, it empties the cache.
func (c *VisitorCache) Valid(epoch int64) bool {
	if c.epoch >= 0 && c.epoch == epoch {
		return true
	}
	c.Reset()
	return false
}

// Get returns the cached visitor for anonId, or nil.
func (c *VisitorCache) Get(anonID string) *Visitor { return c.m[anonID] }

// Reset forgets everything: after a failed or unknown commit, or when the
// epoch moved. Plans update cached objects in place, so a batch that did
// not commit must reset.
func (c *VisitorCache) Reset() {
	c.epoch = -1
	clear(c.m)
}

// Committed records a batch's visitors after its commit, at the epoch the
// batch left behind.
func (c *VisitorCache) Committed(epoch int64, visitors map[string]*Visitor) {
	if len(c.m)+len(visitors) > c.max {
		// Drop about a quarter, in the map's arbitrary order: the cache is
		// an optimisation, a miss only costs a read.
		n := len(c.m) + len(visitors) - c.max*3/4
		for k := range c.m {
			if n <= 0 {
				break
			}
			delete(c.m, k)
			n--
		}
	}
	for k, v := range visitors {
		c.m[k] = v
	}
	c.epoch = epoch
}
