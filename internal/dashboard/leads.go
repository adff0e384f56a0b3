package dashboard

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/altcontext/marketing"
)

// leadsPerPage is the list's page size.
const leadsPerPage = 50

// leadsData is the leads list's view model.
type leadsData struct {
	Base    string // /sites/{id}/leads
	Leads   []marketing.Lead
	Filter  leadsForm
	Next    string // the next page's cursor ("" on the last page)
	Search  bool   // the list answers a search by email (a POST)
	Problem string
	Notice  string
	// Statuses are the consent statuses a filter offers.
	Statuses []string
	CanWrite bool // erasure and unsubscribes: leads:write on every site
}

// leadsForm is the filter form as typed, for redisplay.
type leadsForm struct {
	ConsentStatus, Source, Campaign, Since, Until, Email string
}

func (f leadsForm) get(k string) string {
	switch k {
	case "consentStatus":
		return f.ConsentStatus
	case "source":
		return f.Source
	case "campaign":
		return f.Campaign
	case "since":
		return f.Since
	case "until":
		return f.Until
	case "email":
		return f.Email
	}
	return ""
}

// Query is the filters without the email, for GET links (paging).
func (f leadsForm) Query() string {
	q := url.Values{}
	for _, k := range []string{"consentStatus", "source", "campaign", "since", "until"} {
		if v := f.get(k); v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

var leadNotices = map[string]string{
	"erased": "The lead was erased: its address, submissions and links are gone; the consent ledger is kept under a pseudonym.",
}

// handleLeads is GET /sites/{id}/leads (filters in the query, none of
// them personal) and POST /sites/{id}/leads, the search by email: the
// address travels in the body, so it never reaches a URL, a log line or the
// browser's history, and the results page is not cached. Owners and admins
// only: a viewer gets the 403 page.
func (d *Dashboard) handleLeads() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site := d.SiteFor(w, r, p, marketing.ScopeLeadsRead)
		if site == nil {
			return
		}
		src := r.URL.Query()
		search := r.Method == http.MethodPost
		if search {
			if err := r.ParseForm(); err != nil {
				d.errorPage(w, r, p, http.StatusBadRequest, "The form could not be read.")
				return
			}
			src = r.PostForm
		}
		form := leadsForm{ConsentStatus: src.Get("consentStatus"), Source: src.Get("source"), Campaign: src.Get("campaign"),
			Since: src.Get("since"), Until: src.Get("until")}
		if search {
			form.Email = src.Get("email")
		}
		data := &leadsData{Base: "/sites/" + url.PathEscape(site.ID) + "/leads", Filter: form, Search: search && form.Email != "",
			Statuses: []string{marketing.ConsentPending, marketing.ConsentExpress, marketing.ConsentImplied, marketing.ConsentWithdrawn},
			CanWrite: p.Can(marketing.ScopeLeadsWrite, ""), Notice: leadNotices[r.URL.Query().Get("done")]}
		status := http.StatusOK
		f, err := marketing.ParseLeadFilter(form.get, d.siteZone(site))
		if err == nil && src.Get("cursor") != "" && !f.SetCursor(src.Get("cursor")) {
			err = &marketing.ValidationError{Issues: []marketing.Issue{{Path: "cursor", Message: "is not a page of this list"}}}
		}
		if err != nil {
			data.Problem, status = issuesText(err), http.StatusBadRequest
		} else {
			f.Properties, f.Limit = []string{site.ID}, leadsPerPage+1
			err = d.Store.Leads(r.Context(), f, func(l *marketing.Lead) error {
				data.Leads = append(data.Leads, *l)
				return nil
			})
			if err != nil {
				d.ServerError(w, r, p, err)
				return
			}
			if len(data.Leads) > leadsPerPage {
				data.Leads = data.Leads[:leadsPerPage]
				data.Next = data.Leads[leadsPerPage-1].Cursor()
			}
		}
		d.renderLeadsPage(w, r, p, site, "leads", "Leads", data, status)
	})
}

// handleLeadsCSV is POST /sites/{id}/leads/export: every lead matching the
// list's filters (and search) as CSV, audited. A POST, because it is an
// audited export of personal data and its search may hold an address.
func (d *Dashboard) handleLeadsCSV() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site := d.SiteFor(w, r, p, marketing.ScopeLeadsRead)
		if site == nil {
			return
		}
		if err := r.ParseForm(); err != nil {
			d.errorPage(w, r, p, http.StatusBadRequest, "The form could not be read.")
			return
		}
		f, err := marketing.ParseLeadFilter(r.PostForm.Get, d.siteZone(site))
		if err != nil {
			d.errorPage(w, r, p, http.StatusBadRequest, issuesText(err))
			return
		}
		f.Properties = []string{site.ID}
		out := &lazyDownload{w: w, ctype: "text/csv; charset=utf-8", name: "leads-" + site.ID + ".csv"}
		n, err := d.Admin.Actions.WriteLeadsCSV(r.Context(), p.Actor, f, out)
		if err == nil {
			return
		}
		if !out.sent {
			d.ServerError(w, r, p, err)
			return
		}
		d.Log.Error("dashboard: csv export failed mid-stream", "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	})
}

// leadData is a lead's page.
type leadData struct {
	Base, LeadsBase string
	Lead            *marketing.LeadDetail
	Submissions     []submissionView
	UnsubscribeURL  string
	CanWrite        bool // erasure and unsubscribe
	CanExport       bool // the privacy export
	Problem         string
	Notice          string
}

type submissionView struct {
	marketing.Submission
	PayloadText string
}

var leadPageNotices = map[string]string{
	"unsubscribed": "The lead is unsubscribed: its consent is withdrawn (recorded in the ledger, source admin).",
}

// leadFor loads the path's lead when it belongs to the path's site (whose
// leads the principal may read); another site's lead is not found. A
// person-level action also needs personScope on every site ("": none),
// as in the API: else the 403 page.
func (d *Dashboard) leadFor(w http.ResponseWriter, r *http.Request, p *Principal, personScope string) (*marketing.Site, *marketing.LeadDetail) {
	site := d.SiteFor(w, r, p, marketing.ScopeLeadsRead)
	if site == nil {
		return nil, nil
	}
	id := r.PathValue("lead")
	if !marketing.IsUUID(id) {
		d.NotFound(w, r)
		return nil, nil
	}
	l, err := d.Store.LeadDetail(r.Context(), id)
	if marketing.ErrorCode(err) == marketing.ENOTFOUND || err == nil && l.PropertyID != site.ID {
		d.NotFound(w, r)
		return nil, nil
	}
	if err != nil {
		d.ServerError(w, r, p, err)
		return nil, nil
	}
	if personScope != "" && !p.Can(personScope, "") {
		d.Forbidden(w, r, p)
		return nil, nil
	}
	return site, l
}

// handleLead is GET /sites/{id}/leads/{lead}: the lead, its consent
// ledger with the exact wording shown, submissions, attribution and visits
// before conversion, and the actions.
func (d *Dashboard) handleLead() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site, l := d.leadFor(w, r, p, "")
		if l == nil {
			return
		}
		d.renderLead(w, r, p, site, l, http.StatusOK, "", leadPageNotices[r.URL.Query().Get("done")])
	})
}

func (d *Dashboard) renderLead(w http.ResponseWriter, r *http.Request, p *Principal, site *marketing.Site, l *marketing.LeadDetail, status int, problem, notice string) {
	base := "/sites/" + url.PathEscape(site.ID) + "/leads"
	data := &leadData{Base: base + "/" + url.PathEscape(l.ID), LeadsBase: base, Lead: l,
		CanWrite: p.Can(marketing.ScopeLeadsWrite, ""), CanExport: p.Can(marketing.ScopeLeadsRead, ""),
		Problem: problem, Notice: notice}
	if d.Admin.UnsubscribeURL != nil {
		data.UnsubscribeURL = d.Admin.UnsubscribeURL(r, l.ID)
	}
	for _, s := range l.Submissions {
		v := submissionView{Submission: s}
		if len(s.Payload) > 0 && string(s.Payload) != "null" {
			var pretty strings.Builder
			var obj any
			if json.Unmarshal(s.Payload, &obj) == nil {
				enc := json.NewEncoder(&pretty)
				enc.SetIndent("", "  ")
				_ = enc.Encode(obj)
			}
			v.PayloadText = strings.TrimSpace(pretty.String())
		}
		data.Submissions = append(data.Submissions, v)
	}
	d.renderLeadsPage(w, r, p, site, "lead", "Lead", data, status)
}

// renderLeadsPage renders a page of the Leads section; its times and date
// filters are in the site's zone, which the header names.
func (d *Dashboard) renderLeadsPage(w http.ResponseWriter, r *http.Request, p *Principal, site *marketing.Site, tmpl, title string, data any, status int) {
	pg, err := d.NewPage(r, p, site, "leads", title)
	if err != nil {
		d.ServerError(w, r, p, err)
		return
	}
	pg.Zone, pg.SiteZone, pg.Data, pg.Status = d.siteZone(site).String(), "", data, status
	d.Render(w, r, tmpl, pg)
}

// handleLeadUnsubscribe is POST /sites/{id}/leads/{lead}/unsubscribe: an
// admin withdraws the lead's consent (person-level: leads:write on every
// site), with an optional reason.
func (d *Dashboard) handleLeadUnsubscribe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site, l := d.leadFor(w, r, p, marketing.ScopeLeadsWrite)
		if l == nil {
			return
		}
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		if len([]rune(reason)) > 512 || !marketing.Storable(reason) {
			d.renderLead(w, r, p, site, l, http.StatusBadRequest, "The reason must be at most 512 characters.", "")
			return
		}
		ip := ""
		if d.Admin.IPHash != nil {
			ip = d.Admin.IPHash(r)
		}
		if err := d.Admin.Actions.Unsubscribe(r.Context(), p.Actor, l.Email, reason, ip); err != nil {
			if problem, status := d.actionError(w, r, p, err); status != 0 {
				d.renderLead(w, r, p, site, l, status, problem, "")
			}
			return
		}
		seeOther(w, r, "/sites/"+url.PathEscape(site.ID)+"/leads/"+url.PathEscape(l.ID), url.Values{"done": {"unsubscribed"}})
	})
}

// eraseWord is what a person may type, instead of the address, to confirm
// an erasure.
const eraseWord = "erase"

// handleLeadErase is POST /sites/{id}/leads/{lead}/erase: erasure, once
// the person typed the lead's address or "erase" (anything else changes
// nothing and says so).
func (d *Dashboard) handleLeadErase() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site, l := d.leadFor(w, r, p, marketing.ScopeLeadsWrite)
		if l == nil {
			return
		}
		typed := strings.TrimSpace(r.PostFormValue("confirm"))
		typedEmail, _ := marketing.NormalizeEmail(typed)
		if !strings.EqualFold(typed, eraseWord) && typedEmail != l.Email {
			d.renderLead(w, r, p, site, l, http.StatusBadRequest,
				`Nothing was erased: type the lead's email address, or the word "erase", to confirm.`, "")
			return
		}
		if err := d.Admin.Actions.Erase(r.Context(), p.Actor, l.Email); err != nil {
			if problem, status := d.actionError(w, r, p, err); status != 0 {
				d.renderLead(w, r, p, site, l, status, problem, "")
			}
			return
		}
		seeOther(w, r, "/sites/"+url.PathEscape(site.ID)+"/leads", url.Values{"done": {"erased"}})
	})
}

// handleLeadExport is POST /sites/{id}/leads/{lead}/export: the privacy
// export of the lead's address (everything held about the person, as the
// API's GET /v1/admin/privacy/export), downloaded as JSON and audited.
func (d *Dashboard) handleLeadExport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r)
		site, l := d.leadFor(w, r, p, marketing.ScopeLeadsRead)
		if l == nil {
			return
		}
		out, err := d.Admin.Actions.PrivacyExport(r.Context(), p.Actor, l.Email, func(id string) string {
			if d.Admin.UnsubscribeURL == nil {
				return ""
			}
			return d.Admin.UnsubscribeURL(r, id)
		})
		if err != nil {
			if problem, status := d.actionError(w, r, p, err); status != 0 {
				d.renderLead(w, r, p, site, l, status, problem, "")
			}
			return
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			d.ServerError(w, r, p, err)
			return
		}
		dl := &lazyDownload{w: w, ctype: "application/json; charset=utf-8", name: "privacy-export-" + l.ID + ".json"}
		_, _ = dl.Write(append(b, '\n'))
	})
}
