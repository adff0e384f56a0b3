package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/admin"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/ingest"
)

// handleLeadsCapture is POST /v1/leads/capture (SPEC §3.4).
func (s *server) handleLeadsCapture() http.Handler {
	type answer struct {
		OK bool `json:"ok"`
		marketing.CaptureAnswer
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		property := s.Pipeline.PropertyOf("", origin)
		body, kind, ok := readBody(w, r, limitLeads, true)
		if !ok {
			return
		}
		form := kind == bodyForm
		in, err := marketing.DecodeLead(body, form)
		// A filled honeypot gets exactly what a person gets, before any
		// validation or rate limit, and nothing is written.
		if strings.TrimSpace(in.Honeypot) != "" {
			s.Pipeline.Reject(property, ingest.EndpointLeads, marketing.ReasonHoneypot)
			if form {
				s.redirectAfterPost(w, r, in.Redirect)
				return
			}
			writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
			return
		}
		// Per IP before validation, so invalid bodies count too; per
		// address once there is a valid one.
		if !s.allow(w, r, classLeads) {
			s.Pipeline.Reject(property, ingest.EndpointLeads, marketing.ReasonRateLimited)
			return
		}
		if err != nil {
			s.Pipeline.Reject(property, ingest.EndpointLeads, marketing.ReasonInvalid)
			if form {
				s.formError(w, r, err)
				return
			}
			s.writeError(w, r, err)
			return
		}
		// Per address and client: a stranger cannot use up someone else's
		// budget by submitting their address from elsewhere.
		if !s.allowKey(w, classLeadEmail, s.Pipeline.EmailHash(in.Email)+"|"+s.clientIP(r)) {
			s.Pipeline.Reject(property, ingest.EndpointLeads, marketing.ReasonRateLimited)
			return
		}
		window := time.Duration(0)
		if s.Config.EnableHeuristicLinking {
			window = s.Config.HeuristicLinkWindow
		}
		res, err := s.Pipeline.Lead(r.Context(), ingest.Request{
			IP: s.clientIP(r), UserAgent: r.UserAgent(), Origin: origin,
			GPC: strings.TrimSpace(r.Header.Get("Sec-GPC")) == "1",
		}, in, marketing.CaptureOptions{HeuristicWindow: window, DoubleOptIn: s.Config.DoubleOptIn || in.DoubleOptIn,
			Notify: s.Config.NotifyEmail != ""})
		if err != nil {
			if form {
				s.formError(w, r, err)
				return
			}
			s.writeError(w, r, err)
			return
		}
		s.Metrics.LeadCaptured()
		s.leadChanged()
		if form {
			s.redirectAfterPost(w, r, in.Redirect)
			return
		}
		// The same shape for a new, a known and an erased address: nothing
		// about anyone else's history (see marketing.LeadResult).
		writeJSON(w, http.StatusOK, answer{OK: true, CaptureAnswer: res.PublicAnswer()})
	})
}

// redirectAfterPost answers a form post with 303: to redirect on the
// submitting site when that site is an allowed origin and redirect is a
// plain path, else to the built-in thanks page. Never an open redirect.
func (s *server) redirectAfterPost(w http.ResponseWriter, r *http.Request, redirect string) {
	site := r.Header.Get("Origin")
	if site == "" || site == "null" {
		if u, err := url.Parse(r.Referer()); err == nil && u.Host != "" {
			site = u.Scheme + "://" + u.Host
		}
	}
	target := "/v1/leads/thanks"
	if o, ok := s.listedOrigin(site); ok && safePath(redirect) {
		target = o + redirect
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// formError answers a plain HTML form's invalid post with a page a visitor
// can read (the JSON envelope would be shown raw), saying what was wrong
// and linking back to the form when it is on an allowed origin. Other
// errors keep the envelope.
func (s *server) formError(w http.ResponseWriter, r *http.Request, err error) {
	var v *marketing.ValidationError
	if marketing.ErrorCode(err) != marketing.EINVALID || !errors.As(err, &v) {
		s.writeError(w, r, err)
		return
	}
	p := page{Title: "Please check the form", Message: "Your details were not sent:"}
	for _, is := range v.Issues {
		p.Issues = append(p.Issues, fieldLabel(is.Path)+" "+is.Message+".")
	}
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host != "" {
		if _, ok := s.listedOrigin(ref.Scheme + "://" + ref.Host); ok {
			p.Back = ref.String()
		}
	}
	writePage(w, http.StatusBadRequest, p)
}

// fieldLabel names a form field in plain words.
func fieldLabel(path string) string {
	switch path {
	case "":
		return "The form"
	case "email":
		return "The email address"
	case "name":
		return "The name"
	case "consent", "consentStatus":
		return "The consent field"
	case "consent.text":
		return "The consent wording"
	}
	return "The field " + strconv.Quote(path)
}

// listedOrigin returns origin normalised when it is listed in
// CORS_ALLOWED_ORIGINS or belongs to a registered site.
func (s *server) listedOrigin(origin string) (string, bool) {
	o, ok := config.NormalizeOrigin(origin)
	if !ok {
		return "", false
	}
	if slices.Contains(s.Config.CORSAllowedOrigins, o) {
		return o, true
	}
	_, ok = s.Sites.ByOrigin(o)
	return o, ok
}

// safePath accepts "/x…" but not "//host", "/\host" or anything with a
// scheme, control characters or backslashes.
func safePath(p string) bool {
	if len(p) == 0 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && len(p) <= 2048
}

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
button{font:inherit;padding:.5rem 1rem;cursor:pointer}textarea{width:100%;font:inherit}</style></head>
<body><h1>{{.Title}}</h1>{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .ConfirmToken}}<form method="post" action="/v1/leads/confirm">
<input type="hidden" name="token" value="{{.ConfirmToken}}">
<button type="submit">Confirm my subscription</button></form>{{end}}
{{if .Token}}<form method="post" action="/v1/leads/unsubscribe">
<input type="hidden" name="token" value="{{.Token}}">
<p><label for="reason">Anything you would like to tell us? (optional)</label><br>
<textarea id="reason" name="reason" rows="3" maxlength="512"></textarea></p>
<button type="submit">Unsubscribe</button></form>{{end}}
{{if .Issues}}<ul>{{range .Issues}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Back}}<p><a href="{{.Back}}">Back to the form</a></p>{{end}}
</body></html>`))

type page struct {
	Title, Message, Token string
	ConfirmToken          string   // a double opt-in confirmation's button
	Issues                []string // what was wrong, in plain words
	Back                  string   // a link back to the form, on an allowed origin
}

func writePage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Never framed (the unsubscribe button must not be clickjacked), never
	// sniffed, and no Referer: the unsubscribe URL carries its token.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pages.Execute(w, p)
}

// handleLeadsThanks is the fallback page after a form post.
func (s *server) handleLeadsThanks() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writePage(w, http.StatusOK, page{Title: "Thank you", Message: "You're signed up. You can close this page."})
	})
}

// Unsubscribe tokens name a lead and never expire: base64url(id) "."
// base64url(HMAC-SHA256(secret, id)[:16]).
func (s *server) unsubscribeToken(leadID string) string {
	return marketing.UnsubscribeToken(s.UnsubscribeSecret, leadID)
}

func (s *server) verifyToken(token string) (string, bool) {
	return marketing.VerifyUnsubscribeToken(s.UnsubscribeSecret, token)
}

// leadChanged wakes the delivery worker: a change queued messages.
func (s *server) leadChanged() {
	if s.OnLeadChange != nil {
		s.OnLeadChange()
	}
}

// unsubscribeURL is the link for emails: on PUBLIC_URL, else on the origin
// the admin's request reached (see ownOrigin).
func (s *server) unsubscribeURL(r *http.Request, leadID string) string {
	return s.ownOrigin(r) + "/v1/leads/unsubscribe?token=" + url.QueryEscape(s.unsubscribeToken(leadID))
}

// handleUnsubscribePage shows a confirmation page whose button POSTs: a mail
// scanner that prefetches the link changes nothing.
func (s *server) handleUnsubscribePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if _, ok := s.verifyToken(token); !ok {
			writePage(w, http.StatusBadRequest, page{Title: "This link is not valid", Message: "Please use the unsubscribe link from your most recent email."})
			return
		}
		writePage(w, http.StatusOK, page{Title: "Unsubscribe", Message: "Press the button to stop receiving our emails.", Token: token})
	})
}

// handleUnsubscribe is POST /v1/leads/unsubscribe: with a signed token
// (public; also RFC 8058 one-click, token in the query), or with the admin
// key and an email.
func (s *server) handleUnsubscribe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, kind, ok := readBody(w, r, limitDefault, true)
		if !ok {
			return
		}
		var f struct{ Token, Email, Reason, OneClick string }
		if kind == bodyForm {
			v, _ := url.ParseQuery(string(body))
			f.Token, f.Email, f.Reason, f.OneClick = v.Get("token"), v.Get("email"), v.Get("reason"), v.Get("List-Unsubscribe")
		} else if len(strings.TrimSpace(string(body))) > 0 {
			var j struct {
				Token  string `json:"token"`
				Email  string `json:"email"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal(body, &j); err != nil {
				s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "", Message: "body must be a JSON object"}}})
				return
			}
			f.Token, f.Email, f.Reason = j.Token, j.Email, j.Reason
		}
		if f.Token == "" {
			f.Token = r.URL.Query().Get("token")
		}
		html := kind == bodyForm && f.OneClick == ""
		// A valid token is limited per lead, not per IP: mail providers
		// send one-click unsubscribes for many people from few addresses.
		// Everything else (a forged token, the admin's email route) is
		// limited per IP.
		id, valid := "", false
		if f.Token != "" {
			id, valid = s.verifyToken(f.Token)
		}
		if valid {
			if !s.allowKey(w, classUnsubscribe, "lead|"+id) {
				return
			}
		} else if !s.allow(w, r, classUnsubscribe) {
			return
		}
		if !marketing.Storable(f.Reason) {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "reason", Message: "must not contain NUL characters"}}})
			return
		}
		if len([]rune(f.Reason)) > 512 {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "reason", Message: "must be at most 512 characters"}}})
			return
		}
		ch := marketing.ConsentChange{Status: marketing.ConsentWithdrawn, Source: marketing.SourceUnsubscribe,
			Reason: strings.TrimSpace(f.Reason), IPHash: s.Pipeline.Hash(s.clientIP(r)), Now: s.Now().UTC()}
		switch {
		case f.Token != "":
			if !valid {
				if html {
					writePage(w, http.StatusBadRequest, page{Title: "This link is not valid", Message: "Nothing was changed."})
					return
				}
				s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "token", Message: "is not a valid unsubscribe token"}}})
				return
			}
			ch.LeadID = id
		case f.Email != "":
			// Unsubscribing a person by address concerns every site.
			p := s.authenticate(w, r)
			if p == nil {
				return
			}
			if !p.can(marketing.ScopeLeadsWrite, "") {
				writeProblem(w, http.StatusForbidden, "forbidden", nil)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey, p))
			email, ok := marketing.NormalizeEmail(f.Email)
			if !ok {
				s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "email", Message: "must be a valid email address"}}})
				return
			}
			ch.Email, ch.Source = email, marketing.SourceAdmin
		default:
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "token", Message: "a token (or, with the admin key, an email) is required"}}})
			return
		}
		var err error
		if ch.Email != "" {
			err = s.admin.Unsubscribe(r.Context(), principalOf(r).actor, ch.Email, ch.Reason, ch.IPHash)
		} else {
			err = s.Store.SetConsent(r.Context(), ch)
		}
		if err != nil {
			if html && marketing.ErrorCode(err) == marketing.ENOTFOUND {
				writePage(w, http.StatusNotFound, page{Title: "Already gone", Message: "We hold no address for this link any more."})
				return
			}
			s.writeError(w, r, err)
			return
		}
		if ch.Email == "" {
			s.leadChanged()
		}
		if html {
			writePage(w, http.StatusOK, page{Title: "You are unsubscribed", Message: "You will not receive our emails any more."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true, "found": true})
	})
}

func (s *server) emailFromBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, kind, ok := readBody(w, r, limitDefault, true)
	if !ok {
		return "", false
	}
	var raw string
	if kind == bodyForm {
		v, _ := url.ParseQuery(string(body))
		raw = v.Get("email")
	} else {
		var j struct {
			Email string `json:"email"`
		}
		_ = json.Unmarshal(body, &j)
		raw = j.Email
	}
	email, valid := marketing.NormalizeEmail(raw)
	if !valid {
		s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "email", Message: "must be a valid email address"}}})
		return "", false
	}
	return email, true
}

// handleLeadsDelete is POST /v1/leads/delete (admin): erasure.
func (s *server) handleLeadsDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Erasure concerns a person on every site.
		if err := s.authorize(r, marketing.ScopeLeadsWrite, ""); err != nil {
			s.writeError(w, r, err)
			return
		}
		email, ok := s.emailFromBody(w, r)
		if !ok {
			return
		}
		if err := s.admin.Erase(r.Context(), principalOf(r).actor, email); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true, "deleted": true})
	})
}

// handleAdminLeads is GET /v1/admin/leads: a page of JSON, or with
// Accept: text/csv every matching lead streamed as CSV.
func (s *server) handleAdminLeads() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		is := marketing.NewIssues()
		f, err := marketing.ParseLeadFilter(q.Get, time.UTC)
		var v *marketing.ValidationError
		if errors.As(err, &v) {
			for _, i := range v.Issues {
				is.Add(i.Path, i.Message)
			}
		}
		if q.Get("email") != "" {
			// An address in a URL ends up in logs and browser history.
			is.Add("email", "is not accepted in a URL: find one address with the dashboard's search (a POST form)")
		}
		f.Limit, f.Properties = 50, principalOf(r).sitesFor(marketing.ScopeLeadsRead)
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 500 {
				is.Add("limit", "must be 1..500")
			}
			f.Limit = n
		}
		if c := q.Get("cursor"); c != "" && !f.SetCursor(c) {
			is.Add("cursor", "is not a cursor this API gave out")
		}
		if err := is.Err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		if wantsCSV(r) {
			s.streamLeadsCSV(w, r, f)
			return
		}
		leads := []marketing.Lead{}
		f.Limit++ // one more tells whether there is a next page
		err = s.Store.Leads(r.Context(), f, func(l *marketing.Lead) error {
			leads = append(leads, *l)
			return nil
		})
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		next := ""
		if len(leads) == f.Limit {
			leads = leads[:f.Limit-1]
			next = leads[len(leads)-1].Cursor()
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "leads": leads, "nextCursor": next})
	})
}

func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// CSVCell neutralises a cell a spreadsheet would run as a formula: see
// admin.CSVCell.
func CSVCell(s string) string { return admin.CSVCell(s) }

// streamLeadsCSV writes RFC 4180 CSV row by row as the store streams leads,
// so memory stays flat whatever the count. Nothing is sent until the first
// rows fill a buffer or the store has finished without error: a store that
// fails at once gets an error status (503 in an outage), never a 200 with
// the header row alone. A failure after rows were sent aborts the response,
// so the client sees a broken transfer, never a clean end.
func (s *server) streamLeadsCSV(w http.ResponseWriter, r *http.Request, f marketing.LeadFilter) {
	out := &lazyCSV{w: w}
	n, err := s.admin.WriteLeadsCSV(r.Context(), principalOf(r).actor, f, out)
	if err == nil {
		return
	}
	if !out.sent {
		s.storeError(w, r, err)
		return
	}
	s.log.Error("csv export failed mid-stream", "request_id", requestID(r), "rows", n, "err", err)
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// lazyCSV sets the CSV headers with the first bytes it passes on, and
// remembers that it has.
type lazyCSV struct {
	w    http.ResponseWriter
	sent bool
}

func (l *lazyCSV) Write(b []byte) (int, error) {
	if !l.sent {
		l.sent = true
		h := l.w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="leads.csv"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}
	return l.w.Write(b)
}

// storeError answers a failed store call. An error the store did not
// classify is an outage (503 unavailable) when the database does not answer
// a ping either, else an internal error.
func (s *server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if marketing.ErrorCode(err) == marketing.EINTERNAL {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Second)
		defer cancel()
		if perr := s.Store.Ping(ctx); perr != nil {
			err = fmt.Errorf("%w: %w", marketing.Errorf(marketing.EUNAVAILABLE, "database unavailable"), err)
		}
	}
	s.writeError(w, r, err)
}

// handleAdminLead is GET /v1/admin/leads/{id}.
func (s *server) handleAdminLead() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !marketing.IsUUID(id) {
			s.writeError(w, r, marketing.Errorf(marketing.ENOTFOUND, "no such lead"))
			return
		}
		d, err := s.Store.LeadDetail(r.Context(), id)
		if err == nil && !principalOf(r).can(marketing.ScopeLeadsRead, d.PropertyID) {
			// Another site's lead is not there, as far as this caller knows.
			err = marketing.Errorf(marketing.ENOTFOUND, "no such lead")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "lead": d, "unsubscribeUrl": s.unsubscribeURL(r, d.ID)})
	})
}

// handlePrivacyExport is GET /v1/admin/privacy/export?email=: everything
// held about one address (a PIPEDA access request).
func (s *server) handlePrivacyExport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An access request covers everything held about a person.
		if err := s.authorize(r, marketing.ScopeLeadsRead, ""); err != nil {
			s.writeError(w, r, err)
			return
		}
		email, ok := marketing.NormalizeEmail(r.URL.Query().Get("email"))
		if !ok {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "email", Message: "must be a valid email address"}}})
			return
		}
		out, err := s.admin.PrivacyExport(r.Context(), principalOf(r).actor, email, func(id string) string { return s.unsubscribeURL(r, id) })
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Disposition", `attachment; filename="privacy-export.json"`)
		writeJSON(w, http.StatusOK, out)
	})
}
