package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/metrics"
)

// SummaryCache keeps recent summaries for METRICS_SUMMARY_CACHE_TTL_MS,
// keyed by every parameter, and is cleared whenever rollups run. It is a
// cache: each process has its own, and none is the truth.
type SummaryCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]cached
}

type cached struct {
	body    []byte
	expires time.Time
}

// NewSummaryCache makes a cache; ttl 0 disables it.
func NewSummaryCache(ttl time.Duration) *SummaryCache {
	return &SummaryCache{ttl: ttl, m: map[string]cached{}}
}

func (c *SummaryCache) get(key string, now time.Time) []byte {
	if c == nil || c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.After(e.expires) {
		return nil
	}
	return e.body
}

func (c *SummaryCache) put(key string, body []byte, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 128 {
		clear(c.m)
	}
	c.m[key] = cached{body: body, expires: now.Add(c.ttl)}
}

// Clear drops every entry (rollups ran: the figures changed).
func (c *SummaryCache) Clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// handleMetricsSummary is GET /v1/metrics/summary (admin).
func (s *server) handleMetricsSummary() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		is := marketing.NewIssues()
		day := func(name string) time.Time {
			v := strings.TrimSpace(q.Get(name))
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				is.Add(name, "must be a valid day, YYYY-MM-DD")
			}
			return t
		}
		from, to := day("from"), day("to")
		property := strings.TrimSpace(q.Get("propertyId"))
		if property == "" {
			property = s.Config.RollupDefaultPropertyID
		} else if len(property) > 128 || !marketing.Storable(property) {
			is.Add("propertyId", "must be at most 128 characters without NUL")
		}
		compare := false
		if v := q.Get("compareTo"); v != "" {
			b, ok := config.ParseBool(v)
			if !ok {
				is.Add("compareTo", "must be true or false (1/0, yes/no, on/off)")
			}
			compare = b
		}
		if len(is.List()) == 0 {
			if from.After(to) {
				is.Add("from", "from must be less than or equal to to")
			} else if to.Sub(from).Hours()/24+1 > 366 {
				is.Add("to", "date window cannot exceed 366 days")
			}
		}
		if err := is.Err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.authorize(r, marketing.ScopeStatsRead, property); err != nil {
			s.writeError(w, r, err)
			return
		}
		win := metrics.Window{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly)}
		key := strings.Join([]string{property, win.From, win.To, boolString(compare), s.view()}, "|")
		now := s.Now()
		if body := s.Summaries.get(key, now); body != nil {
			w.Header().Set("X-Cache", "hit")
			writeRaw(w, body)
			return
		}
		rows, err := s.windowRows(r, property, win)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var cwin *metrics.Window
		var crows []marketing.DayRollup
		if compare {
			n := int(to.Sub(from).Hours()/24) + 1
			cwin = &metrics.Window{From: from.AddDate(0, 0, -n).Format(time.DateOnly), To: from.AddDate(0, 0, -1).Format(time.DateOnly)}
			if crows, err = s.windowRows(r, property, *cwin); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		fresh, err := s.freshness(r, rows)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sum, err := metrics.Summarize(win, rows, cwin, crows, fresh)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := json.Marshal(sum)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Summaries.put(key, body, now)
		writeRaw(w, body)
	})
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (s *server) view() string {
	if s.Config.MetricsUseMaterializedView && s.Config.Driver() == "postgres" {
		return s.Config.MetricsMaterializedViewName
	}
	return ""
}

// windowRows reads a window's rollups; today, not rolled up yet, comes live
// from raw rows so the summary is never a day behind.
func (s *server) windowRows(r *http.Request, property string, w metrics.Window) ([]marketing.DayRollup, error) {
	rows, err := s.Store.Rollups(r.Context(), property, w.From, w.To, s.view())
	if err != nil {
		return nil, err
	}
	// A site with its own time zone is rolled up in it; everything else
	// in REPORT_TIMEZONE.
	zone := s.Config.ReportTimezone.String()
	if tz := s.Pipeline.Sites.TimeZone(property); tz != "" {
		zone = tz
	}
	if err := sameZone(rows, zone); err != nil {
		return nil, err
	}
	today := s.Jobs.Today()
	if today < w.From || today > w.To {
		return rows, nil
	}
	live, err := s.Jobs.BuildDay(r.Context(), today)
	if err != nil {
		return nil, err
	}
	kept := rows[:0]
	for _, row := range rows {
		if row.Day != today {
			kept = append(kept, row)
		}
	}
	for _, row := range live {
		if row.PropertyID == property {
			kept = append(kept, row)
		}
	}
	return kept, nil
}

// sameZone refuses rollups of days rolled up in another report zone than
// zone: their days have other bounds, and merging them would drop or
// double-count the hours between (rows without a recorded zone predate
// the record and are taken as they are).
func sameZone(rows []marketing.DayRollup, zone string) error {
	var other []string
	built := ""
	for _, row := range rows {
		if row.TimeZone != "" && row.TimeZone != zone {
			other, built = append(other, row.Day), row.TimeZone
		}
	}
	if len(other) == 0 {
		return nil
	}
	return marketing.Errorf(marketing.ECONFLICT, "%d days from %s to %s were rolled up in %s, not the report zone %s: roll them up again (marketing rollups run --from %s --to %s) while their raw events are kept",
		len(other), other[0], other[len(other)-1], built, zone, other[0], other[len(other)-1])
}

func (s *server) freshness(r *http.Request, rows []marketing.DayRollup) (metrics.Freshness, error) {
	var f metrics.Freshness
	_, last, err := s.Store.RollupDays(r.Context())
	if err != nil || last == "" {
		return f, err
	}
	lt, _ := time.Parse(time.DateOnly, last)
	tt, _ := time.Parse(time.DateOnly, s.Jobs.Today())
	lag := int(tt.Sub(lt).Hours() / 24)
	f.RolledUpThrough, f.LagDays = &last, &lag
	var gen time.Time
	for _, row := range rows {
		if row.Day <= last && row.GeneratedAt.After(gen) {
			gen = row.GeneratedAt
		}
	}
	if !gen.IsZero() {
		g := gen.UTC().Format(time.RFC3339)
		f.GeneratedAt = &g
	}
	return f, nil
}

func writeRaw(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
