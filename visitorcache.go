package marketing

import "sync"

// VisitorCache keeps the stored state of recently seen visitors (their rows
// and latest sessions) in memory, so that a batch of events needs no reads
// for them. It is only trusted while nothing else has written visitors or
// sessions since the writer's own last commit, or while what was written is
// known. Each store can tell, under a lock the writer takes at the start of
// each batch, from an Epoch that every such write moves (PostgreSQL: a
// counter the event writers bump plus a sequence every other writer
// advances, migrations 0006 and 0007; SQLite: a counter its triggers bump).
// If the epoch moved and the store cannot say which visitors the other
// writers touched (another process's event writer, a purge), the cache is
// dropped and the batch reads what it needs; if it can (a lead capture
// names its visitor), only those are forgotten.
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
	epoch Epoch // after the last commit this cache reflects
	known bool  // whether epoch is
	max   int
	m     map[string]*Visitor
	// Visitors dropped while stored (another writer touched them, or a
	// plan that did not commit changed them): a batch must read them, and
	// finding them stored says nothing about other misses.
	gone map[string]bool
	// How often a visitor missing from the cache turned out to be stored
	// (decaying counts): while that is rare, a batch takes its uncached
	// visitors for new ones, and the unique anonId is the check.
	missed, stored float64
}

// Epoch is a store's count of the writes to visitors and sessions: Seq,
// the event writers' batches (or, on SQLite, every write), and Foreign, the
// transactions of other writers (PostgreSQL).
type Epoch struct{ Seq, Foreign int64 }

// NewVisitorCache holds at most max visitors.
func NewVisitorCache(max int) *VisitorCache {
	return &VisitorCache{max: max, m: make(map[string]*Visitor), gone: make(map[string]bool)}
}

// Ahead reports whether a batch of these visitors can be planned from the
// cache alone: the epoch is known and every visitor is cached, or the ones
// that are not may be taken for new. It returns the epoch to check.
func (c *VisitorCache) Ahead(anonIDs []string) (Epoch, bool) {
	if !c.known {
		return Epoch{}, false
	}
	presume := c.missed >= 32 && c.stored < c.missed/100
	for _, a := range anonIDs {
		if c.m[a] == nil && (!presume || c.gone[a]) {
			return Epoch{}, false
		}
	}
	return c.epoch, true
}

// Epoch returns the epoch the cache reflects, if it is known.
func (c *VisitorCache) Epoch() (Epoch, bool) { return c.epoch, c.known }

// Looked records which of the visitors missing from the cache were found
// in the database.
func (c *VisitorCache) Looked(misses []string, found map[string]*Visitor) {
	var missed, stored float64
	for _, a := range misses {
		if !c.gone[a] {
			missed++
			if found[a] != nil {
				stored++
			}
		}
	}
	c.missed = c.missed*0.9 + missed
	c.stored = c.stored*0.9 + stored
}

// Lock takes the cache for one batch.
func (c *VisitorCache) Lock() { c.mu.Lock() }

// Unlock releases it.
func (c *VisitorCache) Unlock() { c.mu.Unlock() }

// Valid reports whether the cache reflects the database at epoch, which
// the caller read under the epoch lock. If not, it empties the cache.
func (c *VisitorCache) Valid(epoch Epoch) bool {
	if c.known && c.epoch == epoch {
		return true
	}
	c.Reset()
	return false
}

// Moved records that the epoch moved to epoch by writes that touched only
// the visitors touched: they are forgotten, the rest still holds.
func (c *VisitorCache) Moved(epoch Epoch, touched []string) {
	c.Forget(touched)
	c.epoch = epoch
}

// Forget drops these visitors: a plan changed them in place and did not
// commit, or another writer changed them.
func (c *VisitorCache) Forget(anonIDs []string) {
	if len(c.gone)+len(anonIDs) > c.max/4 {
		c.Reset()
		return
	}
	for _, a := range anonIDs {
		delete(c.m, a)
		c.gone[a] = true
	}
}

// Get returns the cached visitor for anonId, or nil.
func (c *VisitorCache) Get(anonID string) *Visitor { return c.m[anonID] }

// Reset forgets everything: after a failed or unknown commit, or when the
// epoch moved. Plans update cached objects in place, so a batch that did
// not commit must reset.
func (c *VisitorCache) Reset() {
	c.known = false
	if len(c.m) > 0 {
		// Emptied, the cache will miss stored visitors: stop taking misses
		// for new ones until reads show that is safe again.
		c.stored = c.missed
	}
	clear(c.m)
	clear(c.gone)
}

// Committed records a batch's visitors after its commit, at the epoch the
// batch left behind.
func (c *VisitorCache) Committed(epoch Epoch, visitors map[string]*Visitor) {
	c.add(visitors)
	c.epoch, c.known = epoch, true
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
		delete(c.gone, k)
	}
}
