package ingest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/altcontext/marketing"
)

// Counters aggregate dropped and rejected requests in memory and add them to
// the store's hourly counters now and then, so a flood of garbage costs one
// upsert per key per flush instead of one row per request. Distinct keys per
// flush are bounded: past the bound, the property is recorded as "(other)".
type Counters struct {
	store   marketing.Store
	log     *slog.Logger
	mu      sync.Mutex
	pending map[marketing.RejectionCount]int64
	max     int
	observe func(endpoint, reason string)
}

// OtherProperty stands for properties beyond the per-flush bound.
const OtherProperty = "(other)"

// NewCounters builds an empty aggregator.
func NewCounters(store marketing.Store, log *slog.Logger, observe func(endpoint, reason string)) *Counters {
	if observe == nil {
		observe = func(string, string) {}
	}
	return &Counters{store: store, log: log, pending: map[marketing.RejectionCount]int64{}, max: 1000, observe: observe}
}

// Add counts one dropped or rejected request.
func (c *Counters) Add(at time.Time, property, endpoint, reason string) {
	c.observe(endpoint, reason)
	k := marketing.RejectionCount{Hour: at.UTC().Truncate(time.Hour), PropertyID: property, Endpoint: endpoint, Reason: reason}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[k]; !ok && len(c.pending) >= c.max {
		k.PropertyID = OtherProperty
	}
	c.pending[k]++
}

// Flush writes what was counted. On failure the counts are kept for the
// next flush.
func (c *Counters) Flush(ctx context.Context) error {
	c.mu.Lock()
	taken := c.pending
	c.pending = map[marketing.RejectionCount]int64{}
	c.mu.Unlock()
	if len(taken) == 0 {
		return nil
	}
	counts := make([]marketing.RejectionCount, 0, len(taken))
	for k, n := range taken {
		k.Count = n
		counts = append(counts, k)
	}
	if err := c.store.AddRejections(ctx, counts); err != nil {
		c.mu.Lock()
		for k, n := range taken {
			c.pending[k] += n
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes every interval until ctx ends.
func (c *Counters) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Flush(ctx); err != nil {
				c.log.Warn("flush ingest counters", "err", err)
			}
		}
	}
}
