package httpapi

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// refusalLog samples the request log for refusals (403, 429), which a flood
// produces by the million: per status, the first refusal of a minute is
// logged as a request, the rest are only counted, and the count is logged
// as one line once the minute is over (with the first request after it).
// Every other request keeps its line.
type refusalLog struct {
	pending atomic.Int64 // refusals counted and not yet reported
	mu      sync.Mutex
	windows map[int]*refusalWindow
}

type refusalWindow struct {
	start      time.Time
	suppressed int64
}

const refusalWindowLength = time.Minute

func refused(status int) bool {
	return status == http.StatusForbidden || status == http.StatusTooManyRequests
}

// log reports whether a request with status gets its own line, first
// writing the counts of windows that are over.
func (l *refusalLog) log(log *slog.Logger, now time.Time, status int) bool {
	if !refused(status) && l.pending.Load() == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for st, w := range l.windows {
		if w.suppressed > 0 && now.Sub(w.start) >= refusalWindowLength {
			log.Warn("requests refused in the last minute", "status", st, "count", w.suppressed,
				"since", w.start.UTC().Format(time.RFC3339))
			l.pending.Add(-w.suppressed)
			w.suppressed = 0
		}
	}
	if !refused(status) {
		return true
	}
	if l.windows == nil {
		l.windows = map[int]*refusalWindow{}
	}
	w := l.windows[status]
	if w == nil || now.Sub(w.start) >= refusalWindowLength {
		l.windows[status] = &refusalWindow{start: now}
		return true
	}
	w.suppressed++
	l.pending.Add(1)
	return false
}
