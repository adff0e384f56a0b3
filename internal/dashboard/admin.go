package dashboard

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/admin"
	"github.com/altcontext/marketing/internal/config"
)

// AdminDeps are what the leads, settings and operations pages need beyond
// Deps: the admin actions the API performs too (internal/admin), so a form
// and an API call do, check and audit the same thing.
type AdminDeps struct {
	Actions *admin.Actions
	// Config is the effective configuration (operations shows it masked;
	// its all-properties id names the ingest rollups).
	Config *config.Config
	// IPHash is the keyed hash of the request's client IP (an admin's
	// unsubscribe records it, as the API's does).
	IPHash func(r *http.Request) string
	// UnsubscribeURL is a lead's never-expiring unsubscribe link.
	UnsubscribeURL func(r *http.Request, leadID string) string
}

// adminRoutes are the leads, settings and operations pages. Every action
// is a POST form carrying the session's CSRF token; nothing personal is
// ever in a URL (a lead is named by its id, a search travels in a POST
// body).
func (d *Dashboard) adminRoutes() []route {
	return []route{
		{"GET /sites/{id}/leads", d.SignedIn(d.handleLeads())},
		{"POST /sites/{id}/leads", d.SignedIn(d.handleLeads())}, // the search by email
		{"POST /sites/{id}/leads/export", d.SignedIn(d.handleLeadsCSV())},
		{"GET /sites/{id}/leads/{lead}", d.SignedIn(d.handleLead())},
		{"POST /sites/{id}/leads/{lead}/unsubscribe", d.SignedIn(d.handleLeadUnsubscribe())},
		{"POST /sites/{id}/leads/{lead}/erase", d.limitErase(d.SignedIn(d.handleLeadErase()))},
		{"POST /sites/{id}/leads/{lead}/export", d.SignedIn(d.handleLeadExport())},

		{"GET /settings", d.SignedIn(d.handleSettings())},
		{"POST /settings/sites", d.SignedIn(d.handleSiteCreate())},
		{"POST /settings/sites/{site}", d.SignedIn(d.handleSiteUpdate())},
		{"POST /settings/users/{user}/role", d.SignedIn(d.handleUserRole())},
		{"POST /settings/keys", d.SignedIn(d.handleKeyCreate())},
		{"POST /settings/keys/{key}/revoke", d.SignedIn(d.handleKeyRevoke())},
		{"POST /settings/shares", d.SignedIn(d.handleShareCreate())},
		{"POST /settings/shares/{share}/revoke", d.SignedIn(d.handleShareRevoke())},

		{"GET /operations", d.SignedIn(d.handleOperations())},
	}
}

func (d *Dashboard) limitErase(h http.Handler) http.Handler {
	if d.LimitErase == nil {
		return h
	}
	return d.LimitErase(h)
}

// can adapts a principal's rights to the admin actions' check.
func (p *Principal) canFunc() admin.Can { return p.Can }

// actionError answers a failed admin action: a validation problem or a
// refusal is shown on the page the form was on (status), anything else
// is the 500 page (logged).
func (d *Dashboard) actionError(w http.ResponseWriter, r *http.Request, p *Principal, err error) (problem string, status int) {
	switch marketing.ErrorCode(err) {
	case marketing.EINVALID, marketing.ECONFLICT:
		return issuesText(err), http.StatusBadRequest
	case marketing.EFORBIDDEN:
		return "Your role does not allow this.", http.StatusForbidden
	case marketing.ENOTFOUND:
		return "It is not there any more.", http.StatusNotFound
	}
	d.ServerError(w, r, p, err)
	return "", 0
}

// issuesText is a validation error in one sentence per issue.
func issuesText(err error) string {
	var v *marketing.ValidationError
	if !errors.As(err, &v) {
		return marketing.ErrorMessage(err)
	}
	out := ""
	for i, is := range v.Issues {
		if i > 0 {
			out += " "
		}
		if is.Path != "" {
			out += is.Path + ": "
		}
		out += is.Message + "."
	}
	return out
}

// seeOther answers a form with 303 to a same-site path.
func seeOther(w http.ResponseWriter, r *http.Request, path string, q url.Values) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	securityHeaders(w.Header(), false)
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// lazyDownload sets a download's headers with its first bytes, so a store
// that fails at once gets an error page, never an empty 200 file.
type lazyDownload struct {
	w           http.ResponseWriter
	ctype, name string
	sent        bool
}

func (l *lazyDownload) Write(b []byte) (int, error) {
	if !l.sent {
		l.sent = true
		h := l.w.Header()
		h.Set("Content-Type", l.ctype)
		h.Set("Content-Disposition", `attachment; filename="`+l.name+`"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
	}
	return l.w.Write(b)
}

var _ io.Writer = (*lazyDownload)(nil)

// siteZone is where a site's days are counted: its own zone, else the
// report zone. The leads pages show their times and read their date
// filters in it, and their header names it as the page's zone.
func (d *Dashboard) siteZone(s *marketing.Site) *time.Location {
	if s != nil && s.TimeZone != "" {
		if loc, err := time.LoadLocation(s.TimeZone); err == nil {
			return loc
		}
	}
	if d.Admin.Config != nil && d.Admin.Config.ReportTimezone != nil {
		return d.Admin.Config.ReportTimezone
	}
	return time.UTC
}

// adminFuncs are the template functions of the admin pages.
func adminFuncs() template.FuncMap {
	return template.FuncMap{
		// when writes a time in a zone (by name), to the minute.
		"when": func(t time.Time, zone string) string {
			if t.IsZero() {
				return "—"
			}
			loc, err := time.LoadLocation(zone)
			if err != nil {
				loc = time.UTC
			}
			return t.In(loc).Format("2006-01-02 15:04")
		},
		// dict builds a map from key, value pairs (hidden form fields).
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
	}
}
