package marketing

import "sync"

// VisitorCache keeps the stored state of recently seen visitors (their rows
// and latest sessions) in memory, so that a batch of events needs no reads
// for them. It is only trusted while nothing else has written visitors or
// sessions since the writer's own last commit. Each store can tell, under
// a lock the writer takes at the start of each batch, from an epoch value
// that every such write moves (PostgreSQL: a counter the event writers
// bump plus a sequence every other writer advances, migration 0006;
// SQLite: a counter its triggers bump). If the epoch moved (another
// process, a lead capture, a purge), the cache is dropped and the batch
// reads what it needs.
//
// When the epoch is known and every visitor of a batch is cached (or may be
// taken for new, see Looked), a store can plan the batch from the cache
// alone and send it in one round trip whose first statement checks, under
// the epoch lock, that the epoch is the one the plan was made at.
//
// A store holds one cache and locks it for a whole batch, so one process
// writes one batch at a time; the epoch lock serialises processes.
type VisitorCache struct {
	mu    sync.Mutex
	epoch int64 // after the last commit this cache reflects; -1: unknown
	max   int
	m     map[string]*Visitor
	// How often a visitor missing from the cache turned out to be stored
	// (decaying counts): while that is rare, a batch takes its uncached
	// visitors for new ones, and the unique anonId is the check.
	missed, stored float64
}

// NewVisitorCache holds at most max visitors.
func NewVisitorCache(max int) *VisitorCache {
	return &VisitorCache{epoch: -1, max: max, m: make(map[string]*Visitor)}
}

// Ahead reports whether a batch of these visitors can be planned from the
// cache alone: the epoch is known and every visitor is cached, or the ones
// that are not may be taken for new. It returns the epoch to check.
func (c *VisitorCache) Ahead(anonIDs []string) (int64, bool) {
	if c.epoch < 0 {
		return 0, false
	}
	presume := c.missed >= 32 && c.stored < c.missed/100
	for _, a := range anonIDs {
		if c.m[a] == nil && !presume {
			return 0, false
		}
	}
	return c.epoch, true
}

// Looked records that of missed visitors not in the cache, stored were
// found in the database.
func (c *VisitorCache) Looked(missed, stored int) {
	c.missed = c.missed*0.9 + float64(missed)
	c.stored = c.stored*0.9 + float64(stored)
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
	if len(c.m) > 0 {
		// Emptied, the cache will miss stored visitors: stop taking misses
		// for new ones until reads show that is safe again.
		c.stored = c.missed
	}
	clear(c.m)
}

// Committed records a batch's visitors after its commit, at the epoch the
// batch left behind.
func (c *VisitorCache) Committed(epoch int64, visitors map[string]*Visitor) {
	c.add(visitors)
	c.epoch = epoch
}

func (c *VisitorCache) add(visitors map[string]*Visitor) {
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
}
