package dashboard

import (
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// opsDays is how many days of ingest counters the operations page shows.
const opsDays = 14

// operationsData is the operations page: recent job runs with their
// errors, ingest accepted and rejected by reason per day, migrations,
// version and the effective configuration with secrets masked.
type operationsData struct {
	Version    string
	GoVersion  string
	Driver     string
	Jobs       []marketing.JobRun
	Failed     int
	Ingest     []ingestDay
	Reasons    []string
	Migrations []marketing.MigrationState
	Pending    int
	Config     []configLine
	Zone       string
}

type ingestDay struct {
	Day                            string
	EventsAccepted, EventsRejected int64
	LeadsAccepted, LeadsRejected   int64
	ByReason                       []int64 // in Reasons' order
}

type configLine struct{ Name, Value string }

// handleOperations is GET /operations (who administers every site).
func (d *Dashboard) handleOperations() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		if !p.Can(marketing.ScopeSitesAdmin, "") {
			d.Forbidden(w, r, p)
			return
		}
		ctx := r.Context()
		data := &operationsData{Version: d.Version, GoVersion: runtime.Version(),
			Reasons: []string{marketing.ReasonBot, marketing.ReasonHoneypot, marketing.ReasonInvalid, marketing.ReasonOrigin, marketing.ReasonRateLimited}}
		var err error
		if data.Jobs, err = d.Store.JobRuns(ctx, 50); err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		for _, j := range data.Jobs {
			if j.Status == marketing.JobFailed {
				data.Failed++
			}
		}
		if data.Migrations, err = d.Store.Migrations(ctx); err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		data.Pending = len(marketing.SchemaBehind(data.Migrations))
		all, loc := "default", time.UTC
		if c := d.Admin.Config; c != nil {
			all, data.Driver = c.RollupDefaultPropertyID, c.Driver()
			if c.ReportTimezone != nil {
				loc = c.ReportTimezone
			}
			for _, line := range c.Masked() {
				k, v, _ := strings.Cut(line, "=")
				data.Config = append(data.Config, configLine{k, v})
			}
		}
		data.Zone = loc.String()
		today := d.Now().In(loc)
		from := today.AddDate(0, 0, -(opsDays - 1)).Format(time.DateOnly)
		rows, err := d.Store.Rollups(ctx, all, from, today.Format(time.DateOnly), "")
		if err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		for _, row := range rows {
			day := ingestDay{Day: row.Day, EventsAccepted: row.EventsAccepted, EventsRejected: row.EventsRejected,
				LeadsAccepted: row.LeadsAccepted, LeadsRejected: row.LeadsRejected}
			for _, reason := range data.Reasons {
				day.ByReason = append(day.ByReason, row.Dropped[reason])
			}
			data.Ingest = append(data.Ingest, day)
		}
		slices.Reverse(data.Ingest) // newest first
		pg, err := d.NewPage(r, p, nil, "operations", "Operations")
		if err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		pg.Data = data
		d.Render(w, r, "operations", pg)
	})
}
