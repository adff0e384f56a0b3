package ingest

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/altcontext/marketing"
)

// SiteIndex is the registered sites as the hot path reads them: a snapshot
// in memory, replaced every SiteRefresh at most, so that no event costs a
// database query. A refresh runs in the background while requests read the
// previous snapshot; only the very first load waits for the database. A
// nil *SiteIndex is valid and holds no site.
type SiteIndex struct {
	store   marketing.SiteStore
	log     *slog.Logger
	now     func() time.Time
	every   time.Duration
	cur     atomic.Pointer[siteSnapshot]
	loading sync.Mutex
}

// SiteRefresh is how stale the index may be: a site added by the CLI or by
// another process counts within this long.
const SiteRefresh = 5 * time.Second

type siteSnapshot struct {
	at      time.Time
	byHost  map[string]string // normalised domain → site id
	origins map[string]string // exact origin → site id
	sites   map[string]*marketing.Site
}

// NewSiteIndex builds an index over store; nothing is read until first use.
func NewSiteIndex(store marketing.SiteStore, log *slog.Logger, now func() time.Time) *SiteIndex {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SiteIndex{store: store, log: log, now: now, every: SiteRefresh}
}

// emptySites is what a nil index holds: no site registered.
var emptySites = &siteSnapshot{}

func (x *SiteIndex) snapshot() *siteSnapshot {
	if x == nil {
		return emptySites
	}
	s := x.cur.Load()
	if s == nil {
		x.loading.Lock()
		defer x.loading.Unlock()
		if s = x.cur.Load(); s == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = x.load(ctx)
			s = x.cur.Load()
		}
		return s
	}
	if x.now().Sub(s.at) >= x.every && x.loading.TryLock() {
		go func() {
			defer x.loading.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = x.load(ctx)
		}()
	}
	return s
}

// load reads every site. On failure the previous snapshot stays (or, on
// the first load, an empty one: today's zero-configuration behaviour)
// and the next read tries again.
func (x *SiteIndex) load(ctx context.Context) error {
	list, err := x.store.Sites(ctx)
	if err != nil {
		x.log.Warn("load sites", "err", err)
		if x.cur.Load() == nil {
			x.cur.Store(&siteSnapshot{at: x.now().Add(-x.every)})
		}
		return err
	}
	s := &siteSnapshot{at: x.now(), byHost: map[string]string{}, origins: map[string]string{}, sites: map[string]*marketing.Site{}}
	for i := range list {
		site := &list[i]
		s.sites[site.ID] = site
		for _, d := range site.Domains {
			s.byHost[d] = site.ID
		}
		for _, o := range site.Origins {
			s.origins[o] = site.ID
		}
	}
	x.cur.Store(s)
	return nil
}

// Run reloads the index every SiteRefresh until ctx ends, so a change made
// by the CLI or another process counts within that long even after an
// idle spell (a read only starts a reload in the background, answered from
// the copy it has).
func (x *SiteIndex) Run(ctx context.Context) {
	t := time.NewTicker(x.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if x.loading.TryLock() {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = x.load(lctx)
			cancel()
			x.loading.Unlock()
		}
	}
}

// Refresh reloads the index now: after a change made in this process.
func (x *SiteIndex) Refresh(ctx context.Context) error {
	x.loading.Lock()
	defer x.loading.Unlock()
	return x.load(ctx)
}

// Registered reports whether any site is registered: with none, properties
// and origins behave as they did before sites existed.
func (x *SiteIndex) Registered() bool { return len(x.snapshot().sites) > 0 }

// ByHost returns the site whose domain is host (normalised, as HostOf
// gives it).
func (x *SiteIndex) ByHost(host string) (string, bool) {
	if host == "" {
		return "", false
	}
	id, ok := x.snapshot().byHost[host]
	return id, ok
}

// TimeZone is a registered site's own time zone ("" when the site has none
// or is not registered: REPORT_TIMEZONE applies).
func (x *SiteIndex) TimeZone(id string) string {
	if site := x.snapshot().sites[id]; site != nil {
		return site.TimeZone
	}
	return ""
}

// ByOrigin returns the site that allows the exact origin.
func (x *SiteIndex) ByOrigin(origin string) (string, bool) {
	id, ok := x.snapshot().origins[origin]
	return id, ok
}
