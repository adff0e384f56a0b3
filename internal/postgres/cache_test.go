package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/storetest"
)

// A visitor evicted from the writer's cache, while the cache takes misses
// for new visitors, is planned as new; the unique anonId stops that plan and
// the batch is written the careful way, with the stored visitor.
func TestEvictedVisitorIsNotDuplicated(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	db.visitors = marketing.NewVisitorCache(1)
	rules := marketing.SessionRules{Inactivity: 30 * time.Minute}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	batch := func(prefix string) []marketing.EventResult {
		evs := make([]marketing.PendingEvent, 40)
		for i := range evs {
			evs[i] = storetest.Event(fmt.Sprintf("%s-%02d", prefix, i), "page_view", "/", t0)
		}
		res, err := db.WriteEvents(ctx, evs, rules)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := batch("v")
	batch("w") // evicts every v
	db.visitors.Lock()
	_, ahead := db.visitors.Ahead([]string{"v-05"})
	db.visitors.Unlock()
	if !ahead {
		t.Fatal("the cache does not take an uncached visitor for new after 80 new ones")
	}
	res, err := db.WriteEvents(ctx, []marketing.PendingEvent{storetest.Event("v-05", "click", "/x", t0.Add(time.Minute))}, rules)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].VisitorID != first[5].VisitorID || res[0].SessionID != first[5].SessionID {
		t.Fatalf("evicted visitor got visitor %s session %s, want %s %s", res[0].VisitorID, res[0].SessionID, first[5].VisitorID, first[5].SessionID)
	}
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM visitors WHERE anon_id = 'v-05'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("visitor rows for v-05: %d, %v", n, err)
	}
}

func TestForeignWritesThatNameTheirVisitors(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	storetest.ForeignWrites(t, db, func(sessionID string) {
		if _, err := db.pool.Exec(ctx, `UPDATE sessions SET event_count = event_count + 100 WHERE id = $1`, sessionID); err != nil {
			t.Fatal(err)
		}
	}, func(anon string) bool {
		db.visitors.Lock()
		defer db.visitors.Unlock()
		return db.visitors.Get(anon) != nil
	})
}

// A batch sent behind one that fails must fail too, even when the epoch
// moved by exactly one batch (another process's writer): it was planned on
// the first one's uncommitted session. Both are then written the careful
// way, and the second continues the session the first really started.
func TestPipelinedBatchBehindAFailedOne(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	open := func() *DB {
		db, err := Open(ctx, url, pgtest.Direct(url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rules := marketing.SessionRules{Inactivity: 30 * time.Minute}
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	first, err := a.WriteEvents(ctx, []marketing.PendingEvent{storetest.Event("visitor-x", "page_view", "/", t0)}, rules)
	if err != nil {
		t.Fatal(err)
	}
	// Another process writes one batch: the epoch moves by one.
	if _, err := b.WriteEvents(ctx, []marketing.PendingEvent{storetest.Event("visitor-z", "page_view", "/", t0)}, rules); err != nil {
		t.Fatal(err)
	}
	// An hour later X starts a new session (f1, which fails its guard), and
	// f2, planned on top of f1, continues it.
	f1 := a.SendEvents(ctx, []marketing.PendingEvent{storetest.Event("visitor-x", "page_view", "/a", t0.Add(time.Hour))}, rules)
	f2 := a.SendEvents(ctx, []marketing.PendingEvent{storetest.Event("visitor-x", "page_view", "/b", t0.Add(time.Hour+time.Minute))}, rules)
	r1, err := f1.Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f2.Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r1[0].SessionID == first[0].SessionID || r2[0].SessionID != r1[0].SessionID {
		t.Fatalf("sessions: first %s, f1 %s, f2 %s; want f1 = f2, a new one", first[0].SessionID, r1[0].SessionID, r2[0].SessionID)
	}
	var orphans, count int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = e.session_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if err := a.pool.QueryRow(ctx, `SELECT event_count FROM sessions WHERE id = $1`, r1[0].SessionID).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || count != 2 {
		t.Fatalf("%d events name a session that does not exist; the new session counts %d events, want 2", orphans, count)
	}
}

// capture_guard fails a capture whose visitor changed after it was read:
// another event in the visitor's latest session, or a visitor that appeared
// when the capture planned a new one.
func TestCaptureGuard(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	rules := marketing.SessionRules{Inactivity: 30 * time.Minute}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	res, err := db.WriteEvents(ctx, []marketing.PendingEvent{storetest.Event("visitor-g", "page_view", "/", t0)}, rules)
	if err != nil {
		t.Fatal(err)
	}
	guard := func(anon string, vid *string, seen *time.Time, sid *string, n *int32) error {
		tx, err := db.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, `SELECT capture_guard($1, $2, $3, $4, $5, NULL, NULL)`, anon, vid, seen, sid, n)
		return err
	}
	vid, sid := res[0].VisitorID, res[0].SessionID
	one, two := int32(1), int32(2)
	if err := guard("visitor-g", &vid, &t0, &sid, &one); err != nil {
		t.Fatalf("the visitor as stored: %v", err)
	}
	for name, err := range map[string]error{
		"stale session":                  guard("visitor-g", &vid, &t0, &sid, &two),
		"visitor planned new but stored": guard("visitor-g", nil, nil, nil, nil),
		"stale last seen":                guard("visitor-g", &vid, new(time.Time), &sid, &one),
	} {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "MK003" {
			t.Errorf("%s: %v, want MK003", name, err)
		}
	}
}

// The pipelined guard, as the writer sends it (guardNext), passes an
// undisturbed batch and sets the epoch to the value it names: called more
// than once a batch, its second call would find that value and fail every
// batch. Its dedupe probe (migration 0010) still finds a stored key behind
// one that is not stored.
func TestGuardNext(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	ev := storetest.Event("visitor-n", "page_view", "/", time.Now().Add(-time.Minute).Truncate(time.Millisecond))
	if _, err := db.WriteEvents(ctx, []marketing.PendingEvent{ev}, marketing.SessionRules{Inactivity: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	guard := func(keys [][]byte) (int64, error) {
		tx, err := db.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		var seq, foreign int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT seq FROM ingest_epoch WHERE id = 1), (SELECT last_value FROM ingest_foreign_writes)`).Scan(&seq, &foreign); err != nil {
			t.Fatal(err)
		}
		since := make([]time.Time, len(keys))
		for i := range since {
			since[i] = time.Now().Add(-time.Hour)
		}
		rows, err := tx.Query(ctx, guardNext, seq, seq+7919, foreign, []string{"visitor-m"}, keys, since)
		if err != nil {
			return 0, err
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if n != 1 {
			t.Fatalf("guard returned %d rows, want 1", n)
		}
		var after int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM ingest_epoch WHERE id = 1`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		return after - seq, nil
	}
	moved, err := guard([][]byte{[]byte("not-stored-key-1")})
	if err != nil || moved != 7919 {
		t.Fatalf("undisturbed batch: epoch moved by %d, %v; want 7919 and no error", moved, err)
	}
	_, err = guard([][]byte{[]byte("not-stored-key-1"), ev.DedupeKey})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "MK002" {
		t.Fatalf("a stored dedupe key: %v, want MK002", err)
	}
}

// Captures and event batches for one visitor, all at once: every event is
// counted in its session, and every session an event names exists.
func TestCapturesAmidEvents(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	rules := marketing.SessionRules{Inactivity: 30 * time.Minute}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 60 {
			ev := storetest.Event("visitor-m", "page_view", fmt.Sprintf("/p%d", i), t0.Add(time.Duration(i)*time.Second))
			if _, err := db.WriteEvents(ctx, []marketing.PendingEvent{ev}, rules); err != nil {
				errs <- err
			}
		}
	}()
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				c := storetest.Lead(fmt.Sprintf("m%d-%d@example.com", g, i), "visitor-m", marketing.ConsentExpress, "", t0.Add(time.Duration(g*10+i)*time.Second))
				if _, err := db.CaptureLead(ctx, c); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var events, counted, orphans, visitors int
	if err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT sum(event_count) FROM sessions),
		(SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = e.session_id)),
		(SELECT count(*) FROM visitors)`).Scan(&events, &counted, &orphans, &visitors); err != nil {
		t.Fatal(err)
	}
	if events != 90 || counted != 90 || orphans != 0 || visitors != 1 {
		t.Fatalf("%d events, %d counted in sessions, %d without a session, %d visitors; want 90, 90, 0, 1", events, counted, orphans, visitors)
	}
}

// migrated opens a store on a new, migrated database, closed with the test.
func migrated(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db, err := Open(ctx, url, pgtest.Direct(url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}
