package ingest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/altcontext/marketing"
)

// Writer batches events from many requests into few transactions. A caller
// blocks until the batch holding its events has committed (or failed), so a
// 202 always means stored. The queue is bounded: when it is full the caller
// is told EUNAVAILABLE at once instead of waiting.
type Writer struct {
	store    marketing.EventLog
	hints    *marketing.SessionHints // under hintsMu
	hintsMu  sync.Mutex
	rules    marketing.SessionRules
	log      *slog.Logger
	queue    chan *job
	maxBatch int
	timeout  time.Duration
	mu       sync.RWMutex
	closed   bool
	wg       sync.WaitGroup
	observe  func(BatchStats)
}

// BatchStats describes one committed (or failed) batch, for metrics.
type BatchStats struct {
	Events   int
	Requests int
	Duration time.Duration
	Err      error
}

type job struct {
	events []marketing.PendingEvent
	res    []marketing.EventResult
	err    error
	done   chan struct{}
}

// WriterOptions size the writer.
type WriterOptions struct {
	QueueSize int // requests waiting, at most
	MaxBatch  int // events per transaction, at most
	Workers   int // transactions in flight at once
	Timeout   time.Duration
	Observe   func(BatchStats) // optional
}

// NewWriter starts the workers.
func NewWriter(store marketing.EventLog, rules marketing.SessionRules, log *slog.Logger, o WriterOptions) *Writer {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Observe == nil {
		o.Observe = func(BatchStats) {}
	}
	w := &Writer{store: store, hints: marketing.NewSessionHints(hintVisitors), rules: rules, log: log, queue: make(chan *job, o.QueueSize),
		maxBatch: o.MaxBatch, timeout: o.Timeout, observe: o.Observe}
	for range o.Workers {
		w.wg.Add(1)
		go w.work()
	}
	return w
}

// Write stores events and returns their results once committed.
func (w *Writer) Write(events []marketing.PendingEvent) ([]marketing.EventResult, error) {
	j := &job{events: events, done: make(chan struct{})}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil, marketing.Errorf(marketing.EUNAVAILABLE, "shutting down")
	}
	select {
	case w.queue <- j:
	default:
		w.mu.RUnlock()
		return nil, marketing.Errorf(marketing.EUNAVAILABLE, "write queue full")
	}
	w.mu.RUnlock()
	<-j.done
	return j.res, j.err
}

// Depth is the number of requests waiting for a batch.
func (w *Writer) Depth() int { return len(w.queue) }

// Full reports whether the queue has no room left.
func (w *Writer) Full() bool { return len(w.queue) >= cap(w.queue) }

// Close stops accepting, writes everything queued, and waits for the
// workers: nothing accepted into the queue is dropped.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *Writer) work() {
	defer w.wg.Done()
	for first := range w.queue {
		w.flush(w.fill(first))
	}
}

// hintVisitors bounds the provisional-session hints (about 200 bytes a
// visitor).
const hintVisitors = 50_000

// fill takes, after first, the requests waiting, up to maxBatch events.
func (w *Writer) fill(first *job) ([]*job, int) {
	batch := []*job{first}
	n := len(first.events)
	for n < w.maxBatch {
		select {
		case j, ok := <-w.queue:
			if !ok {
				return batch, n
			}
			batch = append(batch, j)
			n += len(j.events)
		default:
			return batch, n
		}
	}
	return batch, n
}

func (w *Writer) flush(batch []*job, n int) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	events := concat(batch, n)
	res, err := w.store.AppendEvents(ctx, events)
	cancel()
	if err == nil {
		w.place(events, res)
	}
	w.answer(batch, n, time.Since(start), res, err)
}

// place fills in each result's provisional session from this process's
// hints (see marketing.EventResult).
func (w *Writer) place(events []marketing.PendingEvent, res []marketing.EventResult) {
	w.hintsMu.Lock()
	defer w.hintsMu.Unlock()
	for i := range events {
		if res[i].Duplicate {
			res[i].SessionID = w.hints.Current(res[i].VisitorID)
			continue
		}
		res[i].SessionID = w.hints.Place(&events[i], w.rules)
	}
}

// concat lists the events of a batch's n requests.
func concat(batch []*job, n int) []marketing.PendingEvent {
	events := make([]marketing.PendingEvent, 0, n)
	for _, j := range batch {
		events = append(events, j.events...)
	}
	return events
}

// answer hands each request of a written batch its results, or the error.
func (w *Writer) answer(batch []*job, n int, took time.Duration, res []marketing.EventResult, err error) {
	w.observe(BatchStats{Events: n, Requests: len(batch), Duration: took, Err: err})
	if err != nil && len(batch) > 1 && marketing.ErrorCode(err) != marketing.EUNAVAILABLE {
		// One request's events must not fail the others: retry each request
		// alone, all at once, so each waits for one more round trip (as
		// many at a time as the store has connections), not for the others.
		w.log.Error("event batch failed; retrying its requests one by one", "events", n, "err", err)
		var wg sync.WaitGroup
		for _, j := range batch {
			wg.Add(1)
			go func() { defer wg.Done(); w.flush([]*job{j}, len(j.events)) }()
		}
		wg.Wait()
		return
	}
	if err != nil {
		w.log.Error("event batch failed", "events", n, "requests", len(batch), "err", err)
	}
	off := 0
	for _, j := range batch {
		if err != nil {
			j.err = err
		} else {
			j.res = res[off : off+len(j.events)]
		}
		off += len(j.events)
		close(j.done)
	}
}
