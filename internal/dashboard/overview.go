package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/stats"
)

// panelDef is one breakdown of the overview: a card holds tabs, each tab
// one stats query grouped by one dimension.
type panelDef struct {
	ID, Card, Tab string
	Dim           string
	Key           string // the filter key a row click adds
	Metrics       []string
}

// Cards, in the order the overview shows them.
var cards = []struct{ ID, Title string }{
	{"acquisition", "Acquisition"},
	{"pages", "Pages"},
	{"conversions", "Conversions"},
	{"countries", "Countries"},
	{"devices", "Devices"},
}

var panelDefs = []panelDef{
	{"channels", "acquisition", "Channels", "visit:channel", "channel", []string{"visitors", "visits"}},
	{"sources", "acquisition", "Sources", "visit:source", "source", []string{"visitors", "visits"}},
	{"utm_sources", "acquisition", "UTM sources", "visit:utm_source", "utm_source", []string{"visitors", "visits"}},
	{"utm_mediums", "acquisition", "UTM mediums", "visit:utm_medium", "utm_medium", []string{"visitors", "visits"}},
	{"utm_campaigns", "acquisition", "UTM campaigns", "visit:utm_campaign", "utm_campaign", []string{"visitors", "visits"}},
	{"pages", "pages", "Top pages", "event:page", "page", []string{"visitors", "pageviews"}},
	{"entry_pages", "pages", "Entry pages", "visit:entry_page", "entry", []string{"visitors", "visits", "bounce_rate"}},
	{"exit_pages", "pages", "Exit pages", "visit:exit_page", "exit", []string{"visitors", "visits"}},
	{"conversions_channel", "conversions", "By channel", "visit:channel", "channel", []string{"conversions", "conversion_rate", "visitors"}},
	{"conversions_campaign", "conversions", "By campaign", "visit:utm_campaign", "utm_campaign", []string{"conversions", "conversion_rate", "visitors"}},
	{"conversions_landing", "conversions", "By landing page", "visit:entry_page", "entry", []string{"conversions", "conversion_rate", "visitors"}},
	{"countries", "countries", "Countries", "visit:country", "country", []string{"visitors"}},
	{"devices", "devices", "Devices", "visit:device", "device", []string{"visitors"}},
	{"browsers", "devices", "Browsers", "visit:browser", "browser", []string{"visitors"}},
	{"os", "devices", "Operating systems", "visit:os", "os", []string{"visitors"}},
}

// topMetrics are the top figures the engine answers with the view's
// filters; leads (unfilterable) and current visitors come apart.
var topMetrics = []string{"visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "conversion_rate"}

var metricLabels = map[string]string{
	"visitors": "Visitors", "visits": "Visits", "pageviews": "Page views", "views_per_visit": "Views per visit",
	"bounce_rate": "Bounce rate", "visit_duration": "Visit duration", "conversion_rate": "Conversion rate",
	"conversions": "Conversions", "leads": "Leads", "current_visitors": "Current visitors", "events": "Events",
}

var vitals = []struct{ ID, Label string }{
	{"lcp", "Largest contentful paint"}, {"inp", "Interaction to next paint"}, {"cls", "Cumulative layout shift"},
	{"fcp", "First contentful paint"}, {"ttfb", "Time to first byte"},
}

const panelRows = 10

// Figure is one top figure.
type Figure struct {
	ID, Label, Value, Change string
	// Raw is the engine's value, for tests and the title attribute.
	Raw any
	// Better is true when the change is good news (up for most, down for
	// the bounce rate), for its colour.
	Better, Worse bool
	Note          string
}

// PanelRow is one row of a breakdown.
type PanelRow struct {
	Label, Value string // shown; Value is the dimension's raw value
	FilterHref   string
	Cells        []string
	Bar          string // bar class of the first metric
}

// Panel is one rendered breakdown.
type Panel struct {
	ID, Card, Tab string
	Columns       []string
	Rows          []PanelRow
	More          int
	CSV           string
	Err           string
}

// Card groups panels under one heading with tabs.
type Card struct {
	ID, Title string
	Panels    []*Panel
	Credit    string // a data source's attribution, under the card
}

// GraphPoint is one bucket of the main graph.
type GraphPoint struct {
	Label, Value, Compare string
	Incomplete            bool
}

// Graph is the main graph's data, rendered as a table and handed to the
// script as JSON.
type Graph struct {
	Metric, MetricLabel, Interval string
	Points                        []GraphPoint
	// Data is what the script draws; html/template writes it as JSON
	// escaped for the <script type="application/json"> it sits in.
	Data graphData
	CSV  string
}

// VitalRow is one web vital's p75 and shares.
type VitalRow struct {
	ID, Label, P75, Good, NI, Poor string
	GoodBar, NIBar, PoorBar        string
}

// Overview is the overview page's view model.
type Overview struct {
	Base      string // "/sites/<id>" or "/share/<token>"
	State     State
	Figures   []Figure
	Graph     *Graph
	Cards     []Card
	Vitals    []VitalRow
	VitalsCSV string
	Comparing bool
	CompareTo string // the comparison range, said in words
	Empty     bool
	Snippet   string
	Shared    bool
	Periods   []struct{ ID, Label, Key string }
	Metrics   []struct{ ID, Label string }
	Intervals []string
	FilterKey []struct{ Key, Label string }
	RangeText string
	Warnings  []string
	// Zone is the time zone the engine counted the figures in.
	Zone string
}

// query runs one Stats API v2 body through stats.Parse and stats.Run, the
// stats API's own path: every number on the dashboard comes from here.
func (d *Dashboard) query(ctx context.Context, env stats.Env, body map[string]any) (*stats.Result, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	q, err := stats.Parse(b, env)
	if err != nil {
		return nil, err
	}
	return stats.Run(ctx, d.Store, q)
}

// Body is the Stats API body of a view's query: its site, period and
// filters, with the given metrics and dimensions. Exported so tests can
// send the very same query to POST /v1/stats/query.
func (s State) Body(site string, metrics, dims []string) map[string]any {
	b := map[string]any{"site_id": site, "metrics": metrics, "date_range": s.dateRange(), "filters": s.engineFilters()}
	if len(dims) > 0 {
		b["dimensions"] = dims
	}
	if s.Compare != "" {
		b["include"] = map[string]any{"comparisons": map[string]any{"mode": s.Compare}}
	}
	return b
}

// TopBody is the body of the top figures' query.
func (s State) TopBody(site string) map[string]any { return s.Body(site, topMetrics, nil) }

func (s State) interval() string {
	if s.Interval != "" {
		if s.Interval == "hour" && !(s.Period == "day" || s.Period == "7d" || s.Period == "custom" && s.days() <= 7) {
			return "day"
		}
		return s.Interval
	}
	switch s.Period {
	case "day":
		return "hour"
	case "6mo", "12mo", "year":
		return "month"
	case "all":
		return "week"
	case "custom":
		if n := s.days(); n <= 2 {
			return "hour"
		} else if n > 92 {
			return "month"
		}
	}
	return "day"
}

func (s State) days() int {
	a, err1 := time.Parse(time.DateOnly, s.From)
	b, err2 := time.Parse(time.DateOnly, s.To)
	if err1 != nil || err2 != nil {
		return 0
	}
	return int(b.Sub(a).Hours()/24) + 1
}

func (s State) metric() string {
	if s.Metric == "" {
		return "visitors"
	}
	return s.Metric
}

// GraphBody is the body of the main graph's query.
func (s State) GraphBody(site string) map[string]any {
	b := s.Body(site, []string{s.metric()}, []string{"time:" + s.interval()})
	inc, _ := b["include"].(map[string]any)
	if inc == nil {
		inc = map[string]any{}
	}
	inc["time_labels"] = true
	b["include"] = inc
	return b
}

// panelBody is a breakdown's body; limit 0 means every row (CSV).
func (s State) panelBody(site string, p panelDef, limit int) map[string]any {
	s.Compare = ""
	b := s.Body(site, p.Metrics, []string{p.Dim})
	if limit > 0 {
		b["pagination"] = map[string]any{"limit": limit}
		b["include"] = map[string]any{"total_rows": true}
	}
	return b
}

func vitalMetrics() []string {
	var out []string
	for _, v := range vitals {
		out = append(out, v.ID, v.ID+"_good", v.ID+"_needs_improvement", v.ID+"_poor")
	}
	return out
}

func (s State) vitalsBody(site string) map[string]any {
	s.Compare = ""
	return s.Body(site, vitalMetrics(), nil)
}

// leadsBody counts new leads: the engine takes no filter with leads.
func (s State) leadsBody(site string) map[string]any {
	c := s.clone()
	c.Filters = nil
	return c.Body(site, []string{"leads"}, nil)
}

// BuildOverview runs every query of the overview, concurrently, and
// builds its view model. base is the path the view's links start with.
func (d *Dashboard) BuildOverview(ctx context.Context, site *marketing.Site, st State, base string) (*Overview, error) {
	env := d.StatsEnv()
	env.Reads = &stats.Reads{} // the page's queries share their reads (this load only)
	ov := &Overview{Base: base, State: st, Comparing: st.Compare != "", Periods: Periods, Metrics: GraphMetrics,
		Intervals: []string{"hour", "day", "week", "month"}, FilterKey: FilterKeyLabels}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 4)
	)
	run := func(body map[string]any, done func(*stats.Result, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			res, err := d.query(ctx, env, body)
			<-sem
			mu.Lock()
			defer mu.Unlock()
			done(res, err)
		}()
	}
	fail := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	var top, leads, graph, vit *stats.Result
	run(st.TopBody(site.ID), func(r *stats.Result, err error) { top = r; fail(err) })
	run(st.GraphBody(site.ID), func(r *stats.Result, err error) { graph = r; fail(err) })
	run(st.vitalsBody(site.ID), func(r *stats.Result, err error) { vit = r; fail(err) })
	panels := make([]*Panel, len(panelDefs))
	for i, p := range panelDefs {
		panels[i] = &Panel{ID: p.ID, Card: p.Card, Tab: p.Tab, CSV: base + "/export/" + p.ID + ".csv" + st.Query()}
		for _, m := range p.Metrics {
			panels[i].Columns = append(panels[i].Columns, metricLabels[m])
		}
		run(st.panelBody(site.ID, p, panelRows), func(r *stats.Result, err error) {
			if err != nil {
				var ve *marketing.ValidationError
				if errors.As(err, &ve) {
					panels[i].Err = "This breakdown cannot be combined with the current filters."
					return
				}
				fail(err)
				return
			}
			fillPanel(panels[i], p, r, st, base)
		})
	}
	// Leads and current visitors take no filter: a view locked to one (a
	// shared link's) leaves them out rather than show the whole site's.
	realtime := &stats.Realtime{}
	if len(st.Locked) == 0 {
		run(st.leadsBody(site.ID), func(r *stats.Result, err error) { leads = r; fail(err) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt, err := stats.RealtimeStats(ctx, d.Store, site.ID, env.Now)
			mu.Lock()
			defer mu.Unlock()
			realtime = rt
			fail(err)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	ov.Figures = figures(top, leads, realtime, st)
	ov.Graph = buildGraph(graph, st, env, base)
	for _, c := range cards {
		card := Card{ID: c.ID, Title: c.Title}
		if c.ID == "countries" {
			card.Credit = d.CountryAttribution
		}
		for _, p := range panels {
			if p.Card == c.ID {
				card.Panels = append(card.Panels, p)
			}
		}
		ov.Cards = append(ov.Cards, card)
	}
	ov.Vitals = vitalRows(vit)
	ov.VitalsCSV = base + "/export/vitals.csv" + st.Query()
	ov.Warnings = top.Meta.Warnings
	ov.Zone = resultZone(top, env).String()
	if q := top.Query; q != nil {
		ov.RangeText = rangeText(q.DateRange[:])
		if q.Comparison != nil {
			ov.CompareTo = rangeText(q.Comparison[:])
		}
	}
	if len(top.Results) > 0 && isZero(top.Results[0].Metrics[0]) && !st.Filtered() && realtime.CurrentVisitors == 0 {
		all, err := d.query(ctx, env, map[string]any{"site_id": site.ID, "metrics": []string{"events"}, "date_range": "all"})
		if err != nil {
			return nil, err
		}
		ov.Empty = len(all.Results) > 0 && isZero(all.Results[0].Metrics[0])
	}
	return ov, nil
}

func isZero(v any) bool { f, ok := toFloat(v); return !ok || f == 0 }

// rangeText writes an engine range ("2026-03-01T00:00:00-05:00",
// "2026-03-30T23:59:59-04:00") as "2026-03-01 – 2026-03-30".
func rangeText(r []string) string {
	if len(r) != 2 {
		return ""
	}
	day := func(s string) string {
		if len(s) >= 10 {
			return s[:10]
		}
		return s
	}
	if day(r[0]) == day(r[1]) {
		return day(r[0])
	}
	return day(r[0]) + " – " + day(r[1])
}

func figures(top, leads *stats.Result, rt *stats.Realtime, st State) []Figure {
	var out []Figure
	add := func(id string, v, change any, note string) {
		f := Figure{ID: id, Label: metricLabels[id], Value: FormatMetric(id, v), Raw: v, Change: FormatChange(id, change), Note: note}
		if c, ok := toFloat(change); ok && c != 0 {
			good := c > 0
			if id == "bounce_rate" {
				good = !good
			}
			f.Better, f.Worse = good, !good
		}
		out = append(out, f)
	}
	row := top.Results[0]
	for i, m := range topMetrics {
		var change any
		if row.Comparison != nil {
			change = row.Comparison.Change[i]
		}
		if m == "conversion_rate" && leads != nil {
			// Leads come before the rate they make, as on the API's summary.
			lr := leads.Results[0]
			var lc any
			if lr.Comparison != nil {
				lc = lr.Comparison.Change[0]
			}
			note := ""
			if len(st.Filters) > 0 {
				note = "all visits: leads take no filter"
			}
			add("leads", lr.Metrics[0], lc, note)
		}
		add(m, row.Metrics[i], change, "")
	}
	if len(st.Locked) == 0 {
		add("current_visitors", rt.CurrentVisitors, nil, "in the last 5 minutes")
	}
	return out
}

func fillPanel(p *Panel, def panelDef, r *stats.Result, st State, base string) {
	var max any
	for i, row := range r.Results {
		if i == 0 {
			max = row.Metrics[0]
		}
		val := row.Dimensions[0]
		label := val
		if label == "" {
			label = "(none)"
			if def.Dim == "visit:channel" || def.Dim == "visit:source" {
				label = "Direct / none"
			}
		}
		pr := PanelRow{Label: label, Value: val, Bar: barClass(row.Metrics[0], max)}
		if val == stats.RollupOther {
			// Rolled-up days keep a field's first 100 values a day; this
			// row is the rest, and no filter can select it.
			pr.Label = "Other values (rolled up)"
		} else if def.Key != "" {
			pr.FilterHref = base + st.WithFilter(def.Key, "is", val)
		}
		for j, m := range def.Metrics {
			pr.Cells = append(pr.Cells, FormatMetric(m, row.Metrics[j]))
		}
		p.Rows = append(p.Rows, pr)
	}
	if r.Meta.TotalRows != nil && *r.Meta.TotalRows > len(r.Results) {
		p.More = *r.Meta.TotalRows - len(r.Results)
	}
}

func vitalRows(r *stats.Result) []VitalRow {
	if r == nil || len(r.Results) == 0 {
		return nil
	}
	m := r.Results[0].Metrics
	var out []VitalRow
	for i, v := range vitals {
		p75, good, ni, poor := m[4*i], m[4*i+1], m[4*i+2], m[4*i+3]
		out = append(out, VitalRow{ID: v.ID, Label: v.Label, P75: FormatMetric(v.ID, p75),
			Good: FormatMetric("x_good", good), NI: FormatMetric("x_good", ni), Poor: FormatMetric("x_good", poor),
			GoodBar: barClass(good, 100.0), NIBar: barClass(ni, 100.0), PoorBar: barClass(poor, 100.0)})
	}
	return out
}

// graphData is what the script draws.
type graphData struct {
	Metric     string   `json:"metric"`
	Label      string   `json:"label"`
	Labels     []string `json:"labels"`
	Series     []any    `json:"values"`
	Compare    []any    `json:"compare,omitempty"`
	Incomplete int      `json:"incomplete"` // index of the current, incomplete bucket; -1: none
}

func nowLabel(unit string, now time.Time) string {
	switch unit {
	case "hour":
		return now.Format("2006-01-02 15:00:00")
	case "day":
		return now.Format(time.DateOnly)
	case "week":
		wd := (int(now.Weekday()) + 6) % 7
		return now.AddDate(0, 0, -wd).Format(time.DateOnly)
	}
	return now.Format("2006-01") + "-01"
}

// resultZone is the zone the engine counted a result in (its time_zone),
// the report zone when it names none the process knows.
func resultZone(r *stats.Result, env stats.Env) *time.Location {
	if r != nil && r.Query != nil && r.Query.TimeZone != "" {
		if loc, err := time.LoadLocation(r.Query.TimeZone); err == nil {
			return loc
		}
	}
	return env.Location
}

func buildGraph(r *stats.Result, st State, env stats.Env, base string) *Graph {
	unit := st.interval()
	m := st.metric()
	g := &Graph{Metric: m, MetricLabel: metricLabels[m], Interval: unit, CSV: base + "/export/graph.csv" + st.Query()}
	cur := nowLabel(unit, env.Now.In(resultZone(r, env)))
	data := graphData{Metric: m, Label: metricLabels[m], Incomplete: -1, Labels: []string{}, Series: []any{}}
	future := false
	for i, row := range r.Results {
		label := row.Dimensions[0]
		if future {
			break // buckets after now are not drawn
		}
		p := GraphPoint{Label: label, Value: FormatMetric(m, row.Metrics[0])}
		if label == cur {
			p.Incomplete, data.Incomplete, future = true, i, true
		}
		data.Labels = append(data.Labels, label)
		data.Series = append(data.Series, row.Metrics[0])
		if row.Comparison != nil {
			p.Compare = FormatMetric(m, row.Comparison.Metrics[0])
			data.Compare = append(data.Compare, row.Comparison.Metrics[0])
		}
		g.Points = append(g.Points, p)
	}
	g.Data = data
	return g
}

// panelByID finds a breakdown for its CSV export.
func panelByID(id string) (panelDef, bool) {
	for _, p := range panelDefs {
		if p.ID == id {
			return p, true
		}
	}
	return panelDef{}, false
}

// exportBody is the body of a panel's CSV export: the panel's own query,
// every row.
func (s State) exportBody(site, panel string) (map[string]any, bool) {
	switch panel {
	case "top":
		return s.TopBody(site), true
	case "graph":
		return s.GraphBody(site), true
	case "vitals":
		return s.vitalsBody(site), true
	}
	p, ok := panelByID(panel)
	if !ok {
		return nil, false
	}
	return s.panelBody(site, p, 0), true
}

// export answers a panel's CSV through the stats API's CSV writer.
func (d *Dashboard) export(w http.ResponseWriter, r *http.Request, p *Principal, site *marketing.Site) {
	panel := strings.TrimSuffix(r.PathValue("panel"), ".csv")
	st, ok := d.viewState(w, r, p)
	if !ok {
		return
	}
	body, ok := st.exportBody(site.ID, panel)
	if !ok {
		d.NotFound(w, r)
		return
	}
	res, err := d.query(r.Context(), d.StatsEnv(), body)
	if err != nil {
		var ve *marketing.ValidationError
		if errors.As(err, &ve) {
			d.errorPage(w, r, p, http.StatusBadRequest, "This export cannot be combined with the current filters.")
			return
		}
		d.ServerError(w, r, p, err)
		return
	}
	name := fmt.Sprintf("%s-%s-%s.csv", safeName(site.ID), panel, st.Period)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	d.WriteCSV(w, res)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// handleOverview is GET /sites/{id}.
func (d *Dashboard) handleOverview() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site := d.SiteFor(w, r, p, marketing.ScopeStatsRead)
		if site == nil {
			return
		}
		base := "/sites/" + url.PathEscape(site.ID)
		if redirectFilterEditor(w, r, base) {
			return
		}
		d.overview(w, r, p, site, base, false)
	})
}

// redirectFilterEditor turns the filter editor's fields (fk, fo, fv: one
// value per line) into the view's canonical URL, so the address bar always
// holds the state in one form. It reports whether it answered.
func redirectFilterEditor(w http.ResponseWriter, r *http.Request, base string) bool {
	q := r.URL.Query()
	if !q.Has("fk") {
		return false
	}
	st := ParseState(q)
	key, op := q.Get("fk"), q.Get("fo")
	if filterKeys[key] != "" && filterOps[op] != "" {
		for _, v := range strings.Split(strings.ReplaceAll(q.Get("fv"), "\r", ""), "\n") {
			if v = strings.TrimSpace(v); v != "" && len(v) <= 1024 {
				st.addFilter(key, op, v)
			}
		}
	}
	http.Redirect(w, r, base+st.Query(), http.StatusSeeOther)
	return true
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, p *Principal, site *marketing.Site, base string, frameable bool) {
	st, ok := d.viewState(w, r, p)
	if !ok {
		return
	}
	ov, err := d.BuildOverview(r.Context(), site, st, base)
	if err != nil {
		var ve *marketing.ValidationError
		if errors.As(err, &ve) {
			d.errorPage(w, r, p, http.StatusBadRequest, "These filters cannot be combined: remove one.")
			return
		}
		d.ServerError(w, r, p, err)
		return
	}
	ov.Shared = p.Share != nil
	if ov.Empty {
		ov.Snippet = d.snippet(r, site)
	}
	pg, err := d.NewPage(r, p, site, "overview", siteName(site)+" · Overview")
	if err != nil {
		d.ServerError(w, r, p, err)
		return
	}
	pg.Frameable, pg.Data = frameable, ov
	pg.Zone = ov.Zone
	if pg.SiteZone == pg.Zone {
		pg.SiteZone = ""
	}
	d.Render(w, r, "overview", pg)
}

// viewState is the view's state from the URL, with a shared link's filter
// locked in. It answers (false) when the link's filter cannot be applied:
// such a link shows nothing rather than the whole site.
func (d *Dashboard) viewState(w http.ResponseWriter, r *http.Request, p *Principal) (State, bool) {
	st := ParseState(r.URL.Query())
	if p == nil || p.Share == nil || p.Share.Filter == "" {
		return st, true
	}
	f, err := marketing.ShareFilter(p.Share.Filter)
	if err != nil {
		d.errorPage(w, r, p, http.StatusConflict, "This link is locked to a filter the dashboard cannot apply: ask whoever shared it for a new link.")
		return st, false
	}
	st.Lock(f)
	return st, true
}

// snippet is the tracker tag to paste into the site's pages.
func (d *Dashboard) snippet(r *http.Request, site *marketing.Site) string {
	origin := ""
	if d.TrackerOrigin != nil {
		origin = d.TrackerOrigin(r)
	}
	return fmt.Sprintf(`<script defer src="%s/v1/tracker.js" data-property="%s"></script>`, origin, site.ID)
}

// handleExport is GET /sites/{id}/export/{panel}.csv.
func (d *Dashboard) handleExport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site := d.SiteFor(w, r, p, marketing.ScopeStatsRead)
		if site == nil {
			return
		}
		d.export(w, r, p, site)
	})
}
