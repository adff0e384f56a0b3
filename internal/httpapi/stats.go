package httpapi

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/stats"
)

// limitStatsQuery bounds a stats query body (filters can be long).
const limitStatsQuery = 64 << 10

// handleStatsQuery is POST /v1/stats/query (admin): a Plausible Stats API
// v2 query answered by internal/stats. Sessions are read as the
// sessionizer left them (at most its interval behind the log).
func (s *server) handleStatsQuery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _, ok := readBody(w, r, limitStatsQuery, false)
		if !ok {
			return
		}
		q, err := stats.Parse(body, s.statsEnv())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := stats.Run(r.Context(), s.Store, q)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if wantsCSV(r) {
			writeStatsCSV(w, res)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// handleStatsRealtime is GET /v1/stats/realtime?site_id= (admin).
func (s *server) handleStatsRealtime() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site := r.URL.Query().Get("site_id")
		if site == "" || len(site) > 128 || !marketing.Storable(site) {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "site_id", Message: "is required: a property id of at most 128 characters"}}})
			return
		}
		res, err := stats.RealtimeStats(r.Context(), s.Store, site, s.Now())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

func (s *server) statsEnv() stats.Env {
	return stats.Env{Now: s.Now(), Location: s.Config.ReportTimezone, RawDays: s.Config.RetentionEventDays,
		// A site with its own zone is reported in it, as its rollups are.
		SiteLocation: func(site string) *time.Location {
			if tz := s.Pipeline.Sites.TimeZone(site); tz != "" {
				if loc, err := time.LoadLocation(tz); err == nil {
					return loc
				}
			}
			return nil
		}}
}

// writeStatsCSV writes a result as RFC 4180 CSV: one column per dimension
// and per metric (then the comparison's metrics and changes, when asked),
// every cell neutralised as in the leads export.
func writeStatsCSV(w http.ResponseWriter, res *stats.Result) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	q := res.Query
	header := append(append([]string{}, q.Dimensions...), q.Metrics...)
	if q.Include.Comparisons != nil {
		for _, m := range q.Metrics {
			header = append(header, "comparison_"+m)
		}
		for _, m := range q.Metrics {
			header = append(header, "change_"+m)
		}
	}
	_ = cw.Write(header)
	for _, row := range res.Results {
		rec := make([]string, 0, len(header))
		for _, d := range row.Dimensions {
			rec = append(rec, CSVCell(d))
		}
		rec = appendCells(rec, row.Metrics)
		if row.Comparison != nil {
			rec = appendCells(rec, row.Comparison.Metrics)
			rec = appendCells(rec, row.Comparison.Change)
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func appendCells(rec []string, vals []any) []string {
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			rec = append(rec, "")
		case float64:
			rec = append(rec, CSVCell(strconv.FormatFloat(x, 'f', -1, 64)))
		default:
			rec = append(rec, CSVCell(strings.TrimSpace(fmt.Sprint(x))))
		}
	}
	return rec
}
