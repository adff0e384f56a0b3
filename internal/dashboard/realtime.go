package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/stats"
)

// Realtime is the realtime view's model, also its JSON (the refresh).
type Realtime struct {
	CurrentVisitors int64                  `json:"currentVisitors"`
	Minutes         []stats.RealtimeMinute `json:"minutes"`
	Pageviews       int64                  `json:"pageviews"`
	MaxVisitors     int64                  `json:"-"`
	Bars            []RealtimeBar          `json:"bars"`
	Pages           []RealtimeRow          `json:"pages"`
	Sources         []RealtimeRow          `json:"sources"`
	JSONPath        string                 `json:"-"`
}

// RealtimeBar is one minute's column.
type RealtimeBar struct {
	Minute   string `json:"minute"`
	Label    string `json:"label"` // HH:MM in the report zone
	Visitors int64  `json:"visitors"`
	Bar      string `json:"bar"`
}

// RealtimeRow is a page or a source of the last 30 minutes.
type RealtimeRow struct {
	Label    string `json:"label"`
	Visitors int64  `json:"visitors"`
	Bar      string `json:"bar"`
}

// buildRealtime reads the last 30 minutes: current visitors and minutes
// from stats.RealtimeStats, top pages and sources from the engine over the
// same 30 minutes (sources come from sessions: the sessionizer's seconds
// behind).
func (d *Dashboard) buildRealtime(ctx context.Context, site string) (*Realtime, error) {
	env := d.StatsEnv()
	rt, err := stats.RealtimeStats(ctx, d.Store, site, env.Now)
	if err != nil {
		return nil, err
	}
	out := &Realtime{CurrentVisitors: rt.CurrentVisitors, Minutes: rt.Minutes, Pages: []RealtimeRow{}, Sources: []RealtimeRow{}}
	for _, m := range rt.Minutes {
		out.Pageviews += m.Pageviews
		out.MaxVisitors = max(out.MaxVisitors, m.Visitors)
	}
	for _, m := range rt.Minutes {
		t, _ := time.Parse(time.RFC3339, m.Minute)
		out.Bars = append(out.Bars, RealtimeBar{Minute: m.Minute, Label: t.In(env.Location).Format("15:04"), Visitors: m.Visitors, Bar: barClass(m.Visitors, out.MaxVisitors)})
	}
	now := env.Now.UTC().Truncate(time.Second)
	rng := []string{now.Add(-30 * time.Minute).Format(time.RFC3339), now.Format(time.RFC3339)}
	for _, part := range []struct {
		dim  string
		into *[]RealtimeRow
	}{{"event:page", &out.Pages}, {"visit:source", &out.Sources}} {
		res, err := d.query(ctx, env, map[string]any{"site_id": site, "metrics": []string{"visitors"}, "date_range": rng,
			"dimensions": []string{part.dim}, "pagination": map[string]any{"limit": 10}})
		if err != nil {
			return nil, err
		}
		var top any
		for i, row := range res.Results {
			if i == 0 {
				top = row.Metrics[0]
			}
			v, _ := toFloat(row.Metrics[0])
			label := row.Dimensions[0]
			if label == "" {
				label = "Direct / none"
			}
			*part.into = append(*part.into, RealtimeRow{Label: label, Visitors: int64(v), Bar: barClass(v, top)})
		}
	}
	return out, nil
}

// handleRealtime is GET /sites/{id}/realtime: the first paint is server
// rendered; a small script refreshes it from realtime.json.
func (d *Dashboard) handleRealtime() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site := d.SiteFor(w, r, p, marketing.ScopeStatsRead)
		if site == nil {
			return
		}
		rt, err := d.buildRealtime(r.Context(), site.ID)
		if err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		rt.JSONPath = r.URL.Path + ".json"
		pg, err := d.NewPage(r, p, site, "realtime", siteName(site)+" · Realtime")
		if err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		pg.Data = rt
		d.Render(w, r, "realtime", pg)
	})
}

// handleRealtimeJSON is GET /sites/{id}/realtime.json, the refresh.
func (d *Dashboard) handleRealtimeJSON() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site := d.SiteFor(w, r, p, marketing.ScopeStatsRead)
		if site == nil {
			return
		}
		rt, err := d.buildRealtime(r.Context(), site.ID)
		if err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		h := w.Header()
		securityHeaders(h, false)
		h.Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rt)
	})
}

func siteName(s *marketing.Site) string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}
