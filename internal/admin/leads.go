// Package admin holds the admin actions on leads that the HTTP API and the
// dashboard both offer (erasure, an admin's unsubscribe, the privacy
// export, the CSV export): one implementation, so a form in the browser and
// a call to the API do, record and audit exactly the same thing.
package admin

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// Options are the actions' dependencies.
type Options struct {
	Store marketing.Store
	// EmailHash is the keyed hash that names an address in the ledger,
	// suppressions and the audit log (ingest.Pipeline.EmailHash).
	EmailHash func(email string) string
	Rules     marketing.SessionRules
	Now       func() time.Time
	Log       *slog.Logger
	// OnLeadChange wakes the delivery worker after a change that queued
	// outbox messages (nil: nothing).
	OnLeadChange func()
	// OnSiteChange makes a change to the sites count at once in this
	// process (the site index's Refresh; nil: nothing).
	OnSiteChange func(ctx context.Context)
	// HashPassword hashes a shared link's password (password.Hasher.Hash).
	HashPassword func(ctx context.Context, password string) (string, error)
}

// Actions performs the admin actions. The caller checks the rights; each
// action records its audit entry with the actor it is given.
type Actions struct{ o Options }

// New returns the actions over o.
func New(o Options) *Actions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Actions{o: o}
}

// Audit records an admin action by actor. The action has happened: a
// failure to record it is logged, not returned.
func (a *Actions) Audit(ctx context.Context, actor, action, target, site, detail string) {
	err := a.o.Store.Audit(context.WithoutCancel(ctx), marketing.AuditEntry{
		At: a.o.Now().UTC(), Actor: actor, Action: action, Target: target, SiteID: site, Detail: detail})
	if err != nil {
		a.o.Log.Error("write the audit log", "action", action, "err", err)
	}
}

func (a *Actions) changed() {
	if a.o.OnLeadChange != nil {
		a.o.OnLeadChange()
	}
}

// EmailTarget is how the audit log names a person: by the keyed hash of
// the address, never the address.
func (a *Actions) EmailTarget(email string) string { return "email:" + a.o.EmailHash(email) }

// Erase erases the lead of a normalised address (ENOTFOUND when unknown):
// see marketing.LeadStore.DeleteLead.
func (a *Actions) Erase(ctx context.Context, actor, email string) error {
	if err := a.o.Store.DeleteLead(ctx, email, a.o.EmailHash(email), a.o.Rules, a.o.Now().UTC()); err != nil {
		return err
	}
	a.Audit(ctx, actor, marketing.AuditLeadErase, a.EmailTarget(email), "", "")
	a.changed()
	return nil
}

// Unsubscribe withdraws the consent of a normalised address on an admin's
// word (source admin), with the reason and the admin's IP hash.
func (a *Actions) Unsubscribe(ctx context.Context, actor, email, reason, ipHash string) error {
	ch := marketing.ConsentChange{Email: email, Status: marketing.ConsentWithdrawn, Source: marketing.SourceAdmin,
		Reason: strings.TrimSpace(reason), IPHash: ipHash, Now: a.o.Now().UTC()}
	if err := a.o.Store.SetConsent(ctx, ch); err != nil {
		return err
	}
	a.Audit(ctx, actor, marketing.AuditLeadUnsubscribe, a.EmailTarget(email), "", "")
	a.changed()
	return nil
}

// VisitorData is one visitor linked to a lead, in a privacy export.
type VisitorData struct {
	VisitorID  string                   `json:"visitorId"`
	LinkSource string                   `json:"linkSource"`
	Sessions   []marketing.Session      `json:"sessions"`
	Events     []marketing.SessionEvent `json:"events"`
}

// Export is everything held about one address (a PIPEDA access request).
type Export struct {
	OK             bool                     `json:"ok"`
	Email          string                   `json:"email"`
	Lead           *marketing.LeadDetail    `json:"lead"`
	Suppressed     bool                     `json:"suppressed"`
	ConsentLedger  []marketing.ConsentEvent `json:"consentLedger"`
	GeneratedAt    string                   `json:"generatedAt"`
	UnsubscribeURL string                   `json:"unsubscribeUrl,omitempty"`
	// Visitors is there (a list, empty or not) exactly when Lead is.
	Visitors *[]VisitorData `json:"visitors,omitempty"`
}

// PrivacyExport gathers everything held about a normalised address: the
// lead with every linked visitor's sessions and events, the pseudonymised
// ledger and whether the address is suppressed (ENOTFOUND when nothing is
// held). unsubscribeURL makes the lead's link (nil: none). It is audited.
func (a *Actions) PrivacyExport(ctx context.Context, actor, email string, unsubscribeURL func(leadID string) string) (*Export, error) {
	var lead *marketing.LeadDetail
	id, err := a.o.Store.LeadIDByEmail(ctx, email)
	if err == nil {
		lead, err = a.o.Store.LeadDetail(ctx, id)
	}
	if err != nil && marketing.ErrorCode(err) != marketing.ENOTFOUND {
		return nil, err
	}
	ledger, suppressed, err := a.o.Store.Subject(ctx, a.o.EmailHash(email))
	if err != nil {
		return nil, err
	}
	if lead == nil && len(ledger) == 0 && !suppressed {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "nothing held")
	}
	out := &Export{OK: true, Email: email, Lead: lead, Suppressed: suppressed, ConsentLedger: ledger,
		GeneratedAt: a.o.Now().UTC().Format(time.RFC3339)}
	if lead != nil {
		if unsubscribeURL != nil {
			out.UnsubscribeURL = unsubscribeURL(lead.ID)
		}
		// Everything linked to the address: every linked visitor's
		// sessions and events, before and after the first capture.
		visitors := []VisitorData{}
		out.Visitors = &visitors
		for _, id := range lead.Identities {
			v := VisitorData{VisitorID: id.VisitorID, LinkSource: id.LinkSource}
			if v.Sessions, err = a.o.Store.VisitorSessions(ctx, id.VisitorID); err == nil {
				v.Events, err = a.o.Store.VisitorEvents(ctx, id.VisitorID, time.Time{})
			}
			if err != nil {
				return nil, err
			}
			visitors = append(visitors, v)
		}
	}
	a.Audit(ctx, actor, marketing.AuditPrivacyExport, a.EmailTarget(email), "", "")
	return out, nil
}

// CSVHeader is the leads CSV's header row.
var CSVHeader = []string{"id", "email", "name", "consent_status", "consent_at", "source_channel", "locale",
	"first_captured_at", "last_captured_at",
	"first_landing_path", "first_referrer_host", "first_traffic_source", "first_utm_source", "first_utm_medium", "first_utm_campaign", "first_utm_term", "first_utm_content",
	"last_landing_path", "last_referrer_host", "last_traffic_source", "last_utm_source", "last_utm_medium", "last_utm_campaign", "last_utm_term", "last_utm_content"}

// CSVCell neutralises a cell a spreadsheet would run as a formula (=, +,
// -, @, and tab or carriage return, per OWASP) by prefixing a quote.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteLeadsCSV writes every lead matching f as RFC 4180 CSV, row by row
// as the store streams them, so memory stays flat whatever the count. It
// returns the rows written. The export is audited before the first row
// (sites: the principal's restriction, "" for every site).
func (a *Actions) WriteLeadsCSV(ctx context.Context, actor string, f marketing.LeadFilter, w io.Writer) (int, error) {
	a.Audit(ctx, actor, marketing.AuditLeadsExport, "leads", "", strings.Join(f.Properties, ","))
	f.Limit = 0
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	_ = cw.Write(CSVHeader)
	row := make([]string, len(CSVHeader))
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	n := 0
	err := a.o.Store.Leads(ctx, f, func(l *marketing.Lead) error {
		ft, lt := l.FirstTouch, l.LastTouch
		vals := []string{l.ID, l.Email, l.Name, l.ConsentStatus, ts(l.ConsentAt), l.SourceChannel, l.Locale,
			ts(l.FirstCapturedAt), ts(l.LastCapturedAt),
			ft.LandingPath, ft.ReferrerHost, ft.TrafficSource, ft.UTM.Source, ft.UTM.Medium, ft.UTM.Campaign, ft.UTM.Term, ft.UTM.Content,
			lt.LandingPath, lt.ReferrerHost, lt.TrafficSource, lt.UTM.Source, lt.UTM.Medium, lt.UTM.Campaign, lt.UTM.Term, lt.UTM.Content}
		for i, v := range vals {
			row[i] = CSVCell(v)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		if n++; n%1000 == 0 {
			cw.Flush()
		}
		return cw.Error()
	})
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	return n, err
}
