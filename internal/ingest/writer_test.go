package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/ingest"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

// gated is a real SQLite store whose writes wait for a signal, so a test
// can hold the writer busy.
type gated struct {
	marketing.Store
	gate    chan struct{}
	entered chan struct{} // a write reached the gate (buffered)
}

func newGated(s marketing.Store) *gated {
	return &gated{Store: s, gate: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (g *gated) AppendEvents(ctx context.Context, evs []marketing.PendingEvent) ([]marketing.EventResult, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.Store.AppendEvents(ctx, evs)
}

func TestWriterQueueFullAndDrain(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := newGated(db)
	w := ingest.NewWriter(g, marketing.SessionRules{Inactivity: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		ingest.WriterOptions{QueueSize: 1, MaxBatch: 10, Workers: 1})
	now := time.Now()
	done := make(chan error, 2)
	submit := func(anon string) {
		_, err := w.Write([]marketing.PendingEvent{storetest.Event(anon, "page_view", "/", now)})
		done <- err
	}
	go submit("visitor-q-1") // taken by the worker, which blocks in the store
	<-g.entered
	go submit("visitor-q-2") // waits in the queue (capacity 1)
	// States, not sleeps: a loaded machine may run the goroutine late.
	for deadline := time.Now().Add(5 * time.Second); !w.Full(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second write never reached the queue")
		}
	}
	start := time.Now()
	_, err = w.Write([]marketing.PendingEvent{storetest.Event("visitor-q-3", "page_view", "/", now)})
	if marketing.ErrorCode(err) != marketing.EUNAVAILABLE || time.Since(start) > time.Second { // generous: a shared machine; a wait would be for ever
		t.Fatalf("full queue: %v after %v, want EUNAVAILABLE at once", err, time.Since(start))
	}
	if !w.Full() {
		t.Fatal("Full() is false with the queue full")
	}
	// Close while work is pending: everything accepted is still written.
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	close(g.gate)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("an accepted write failed: %v", err)
		}
	}
	<-closed
	for _, anon := range []string{"visitor-q-1", "visitor-q-2"} {
		res, err := db.AppendEvents(context.Background(), []marketing.PendingEvent{storetest.Event(anon, "page_view", "/", now)})
		if err != nil || !res[0].Duplicate {
			t.Fatalf("%s was not stored before Close returned: %+v %v", anon, res, err)
		}
	}
	if _, err := w.Write(nil); marketing.ErrorCode(err) != marketing.EUNAVAILABLE {
		t.Fatalf("write after Close: %v", err)
	}
}

// TestWriterIsolatesABadRequest: a request whose event the store refuses
// (a value no column allows) fails alone; the requests batched with it are
// stored, and the refusal is a bug (EINTERNAL), not an outage.
func TestWriterIsolatesABadRequest(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := newGated(db)
	w := ingest.NewWriter(g, marketing.SessionRules{Inactivity: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		ingest.WriterOptions{QueueSize: 16, MaxBatch: 100, Workers: 1})
	defer w.Close()
	now := time.Now()
	type out struct {
		anon string
		err  error
	}
	done := make(chan out, 4)
	submit := func(anon, source string) {
		e := storetest.Event(anon, "page_view", "/", now)
		e.TrafficSource = source
		_, err := w.Write([]marketing.PendingEvent{e})
		done <- out{anon, err}
	}
	go submit("visitor-first", "direct") // taken alone; the worker waits at the gate
	<-g.entered
	go submit("visitor-good-1", "direct")
	go submit("visitor-bad-01", "not-a-source")
	go submit("visitor-good-2", "direct")
	time.Sleep(50 * time.Millisecond)
	close(g.gate)
	for range 4 {
		o := <-done
		switch {
		case o.anon == "visitor-bad-01" && marketing.ErrorCode(o.err) != marketing.EINTERNAL:
			t.Errorf("the bad request: %v, want an internal error", o.err)
		case o.anon != "visitor-bad-01" && o.err != nil:
			t.Errorf("%s failed with the bad one: %v", o.anon, o.err)
		}
	}
}
