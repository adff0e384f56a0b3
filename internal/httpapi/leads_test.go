package httpapi_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/altcontext/marketing"
)

const wording = "Yes, send me product news by email. I can unsubscribe at any time."

func capture(email string, extra string) string {
	return `{"email":"` + email + `","anonId":"visitor-lead-0001","formName":"newsletter_signup","path":"/signup",
		"consentStatus":"express","consent":{"text":"` + wording + `","purpose":"newsletter","version":"v1"},
		"payload":{"name":"Person","phone":"555-0100"}` + extra + `}`
}

func TestLeadsReferenceBehaviour(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		r := e.do("POST", "/v1/leads/capture", capture("Person@Example.COM", `,"sourceChannel":"organic"`), "Origin: "+site).expect(t, 200, "")
		for _, k := range []string{"leadId", "visitorId", "sessionId", "heuristicLinksCreated"} {
			if _, ok := r.Body[k]; !ok {
				t.Fatalf("answer lacks %s: %s", k, r.Raw)
			}
		}
		lead := e.leadID(r)
		row := e.rows(`SELECT email_normalized, consent_status, source_channel FROM leads WHERE id = ?`, lead)
		if len(row) != 1 || row[0][0] != "person@example.com" || row[0][1] != "express" || row[0][2] != "organic" {
			t.Fatalf("lead row %v", row)
		}
		if n := e.count(`SELECT count(*) FROM lead_identities WHERE lead_id = ? AND link_source = 'form_submit' AND confidence = 1`, lead); n != 1 {
			t.Fatalf("%d strong identities", n)
		}
		if n := e.count(`SELECT count(*) FROM form_submissions WHERE lead_id = ? AND form_name = 'newsletter_signup'`, lead); n != 1 {
			t.Fatalf("%d submissions", n)
		}
		ce := e.rows(`SELECT c.status, c.source, w.text FROM consent_events c JOIN consent_wordings w ON w.hash = c.wording_hash WHERE c.lead_id = ?`, lead)
		if len(ce) != 1 || ce[0][0] != "express" || ce[0][1] != "form_submit" || ce[0][2] != wording {
			t.Fatalf("consent events %v", ce)
		}
		// The capture is the conversion, once; the tracker's form_submit is not.
		if n := e.count(`SELECT count(*) FROM events WHERE event_type = 'lead_captured' AND is_conversion = ?`, true); n != 1 {
			t.Fatalf("%d lead_captured conversions", n)
		}
		// Same address again, another visitor, no sourceChannel: one lead, channel kept, identical answer shape.
		r2 := e.do("POST", "/v1/leads/capture", strings.Replace(capture("person@example.com", ""), "visitor-lead-0001", "visitor-lead-0002", 1)).expect(t, 200, "")
		if e.leadID(r2) != lead || r2.Body["leadId"] == r.Body["leadId"] || len(r2.Body) != len(r.Body) {
			t.Fatalf("second capture %s", r2.Raw)
		}
		if n := e.count(`SELECT count(*) FROM leads`); n != 1 {
			t.Fatalf("%d leads", n)
		}
		if ch := e.rows(`SELECT source_channel FROM leads`)[0][0]; ch != "organic" {
			t.Fatalf("source_channel %v after a capture without one", ch)
		}
		// Unchanged status and wording: no new consent row.
		if n := e.count(`SELECT count(*) FROM consent_events`); n != 1 {
			t.Fatalf("%d consent rows after an unchanged capture", n)
		}
		// Form post: 303.
		form := url.Values{"email": {"form@example.com"}, "anonId": {"visitor-form-0001"}, "redirect": {"/thank-you"}}
		fr := e.do("POST", "/v1/leads/capture", form.Encode(), "Content-Type: application/x-www-form-urlencoded", "Origin: "+site)
		if fr.Status != 303 || fr.Header.Get("Location") != site+"/thank-you" {
			t.Fatalf("form post: %d %q", fr.Status, fr.Header.Get("Location"))
		}
		// Honeypot: 202, nothing stored; invalid email: 400 on email.
		before := e.count(`SELECT count(*) FROM leads`)
		e.do("POST", "/v1/leads/capture", `{"email":"bot@example.com","honeypot":"http://spam"}`).expect(t, 202, "")
		e.do("POST", "/v1/leads/capture", `{"email":"not-an-email","honeypot":"x"}`).expect(t, 202, "")
		if e.count(`SELECT count(*) FROM leads`) != before {
			t.Fatal("honeypot stored a lead")
		}
		bad := e.do("POST", "/v1/leads/capture", `{"email":"not-an-email"}`).expect(t, 400, "invalid_request")
		if !strings.Contains(bad.Raw, `"path":"email"`) {
			t.Fatalf("issues %s", bad.Raw)
		}
		e.do("POST", "/v1/leads/capture", `{"email":"x@example.com","consentStatus":"express"}`).expect(t, 400, "invalid_request")
		// Delete: 401 without the key, 200 with it and the payload gone, 404 after.
		e.do("POST", "/v1/leads/delete", `{"email":"person@example.com"}`).expect(t, 401, "unauthorized")
		e.do("POST", "/v1/leads/delete", `{"email":"person@example.com"}`, "x-admin-key: wrong").expect(t, 401, "unauthorized")
		if r := e.do("POST", "/v1/leads/delete", `{"email":"Person@Example.com"}`, "x-admin-key: "+adminKey).expect(t, 200, ""); r.Body["deleted"] != true {
			t.Fatalf("delete %s", r.Raw)
		}
		if n := e.count(`SELECT count(*) FROM form_submissions WHERE payload IS NOT NULL AND form_name = 'newsletter_signup'`); n != 0 {
			t.Fatalf("%d payloads kept after erasure", n)
		}
		e.do("POST", "/v1/leads/delete", `{"email":"person@example.com"}`, "x-admin-key: "+adminKey).expect(t, 404, "not_found")
	})
}

func TestLeadRedirectsNeverLeave(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, c := range []struct{ origin, redirect, want string }{
		{site, "/thank-you?x=1", site + "/thank-you?x=1"},
		{site, "//evil.example/x", "/v1/leads/thanks"},
		{site, "https://evil.example/", "/v1/leads/thanks"},
		{site, "/\\evil.example", "/v1/leads/thanks"},
		{site, "javascript:alert(1)", "/v1/leads/thanks"},
		{"https://evil.example", "/thank-you", ""}, // a foreign origin is refused outright
		{"", "/thank-you", "/v1/leads/thanks"},
	} {
		form := url.Values{"email": {fmt.Sprintf("r%d@example.com", len(c.redirect)+len(c.origin))}, "redirect": {c.redirect}}
		h := []string{"Content-Type: application/x-www-form-urlencoded"}
		if c.origin != "" {
			h = append(h, "Origin: "+c.origin)
		}
		r := e.do("POST", "/v1/leads/capture", form.Encode(), h...)
		if c.want == "" {
			r.expect(t, 403, "origin_not_allowed")
			continue
		}
		if r.Status != 303 || r.Header.Get("Location") != c.want {
			t.Errorf("origin %q redirect %q: %d → %q, want %q", c.origin, c.redirect, r.Status, r.Header.Get("Location"), c.want)
		}
	}
	if r := e.do("GET", "/v1/leads/thanks", ""); r.Status != 200 || !strings.Contains(r.Raw, "Thank you") {
		t.Fatalf("thanks page %d", r.Status)
	}
	// A honeypot form post gets the same 303 as a person.
	form := url.Values{"email": {"r@example.com"}, "redirect": {"/thank-you"}, "honeypot": {"x"}}
	r := e.do("POST", "/v1/leads/capture", form.Encode(), "Content-Type: application/x-www-form-urlencoded", "Origin: "+site)
	if r.Status != 303 || r.Header.Get("Location") != site+"/thank-you" {
		t.Fatalf("honeypot form post: %d %q", r.Status, r.Header.Get("Location"))
	}
}

func TestUnsubscribeWithProof(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		lead := e.leadID(e.do("POST", "/v1/leads/capture", capture("sub@example.com", "")).expect(t, 200, ""))
		status := func() string { return e.rows(`SELECT consent_status FROM leads WHERE id = ?`, lead)[0][0].(string) }
		consentRows := func() int64 { return e.count(`SELECT count(*) FROM consent_events WHERE lead_id = ?`, lead) }
		detail := e.do("GET", "/v1/admin/leads/"+lead, "", "x-admin-key: "+adminKey).expect(t, 200, "")
		link, _ := detail.Body["unsubscribeUrl"].(string)
		u, err := url.Parse(link)
		if err != nil || u.Query().Get("token") == "" {
			t.Fatalf("unsubscribe url %q", link)
		}
		token := u.Query().Get("token")

		// Without a valid token nothing changes; an email needs the admin key.
		e.do("POST", "/v1/leads/unsubscribe", `{"token":"forged.token"}`).expect(t, 400, "invalid_request")
		e.do("POST", "/v1/leads/unsubscribe", `{"token":"`+token[:len(token)-2]+`xx"}`).expect(t, 400, "invalid_request")
		e.do("POST", "/v1/leads/unsubscribe", `{"email":"sub@example.com"}`).expect(t, 401, "unauthorized")
		// A scanner prefetching the link changes nothing.
		page := e.do("GET", u.RequestURI(), "")
		if page.Status != 200 || !strings.Contains(page.Raw, `method="post"`) {
			t.Fatalf("unsubscribe page %d %s", page.Status, page.Raw)
		}
		if status() != "express" {
			t.Fatal("GET changed the status")
		}
		// The page's button: a same-origin form post.
		form := url.Values{"token": {token}, "reason": {"too many emails"}}.Encode()
		done := e.do("POST", "/v1/leads/unsubscribe", form, "Content-Type: application/x-www-form-urlencoded", "Origin: "+e.URL)
		if done.Status != 200 || !strings.Contains(done.Raw, "unsubscribed") {
			t.Fatalf("button post %d %s", done.Status, done.Raw)
		}
		if status() != "withdrawn" {
			t.Fatalf("status %s after unsubscribe", status())
		}
		row := e.rows(`SELECT source, reason FROM consent_events WHERE lead_id = ? AND status = 'withdrawn'`, lead)
		if len(row) != 1 || row[0][0] != "unsubscribe" || row[0][1] != "too many emails" {
			t.Fatalf("ledger %v", row)
		}
		// Again (RFC 8058 one-click): 200, no new row.
		n := consentRows()
		e.do("POST", "/v1/leads/unsubscribe?token="+url.QueryEscape(token), "List-Unsubscribe=One-Click", "Content-Type: application/x-www-form-urlencoded").expect(t, 200, "")
		if consentRows() != n {
			t.Fatal("an unchanged status wrote a consent row")
		}
		// withdrawn → pending (a later form without consent) is ignored.
		e.do("POST", "/v1/leads/capture", `{"email":"sub@example.com","consentStatus":"pending"}`).expect(t, 200, "")
		e.do("POST", "/v1/leads/capture", `{"email":"sub@example.com","consentStatus":"implied"}`).expect(t, 200, "")
		if status() != "withdrawn" || consentRows() != n {
			t.Fatalf("withdrawn lead moved to %s", status())
		}
		// Nor does an express capture from anyone undo the opt-out: it is
		// kept as a submission, and the status stays.
		subs := func() int64 { return e.count(`SELECT count(*) FROM form_submissions WHERE lead_id = ?`, lead) }
		before := subs()
		e.do("POST", "/v1/leads/capture", capture("sub@example.com", "")).expect(t, 200, "")
		if status() != "withdrawn" || consentRows() != n || subs() != before+1 {
			t.Fatalf("express capture after an opt-out: %s, %d rows, %d submissions", status(), consentRows(), subs())
		}

		// One-click on a fresh lead, and the admin route by email.
		l2 := e.leadID(e.do("POST", "/v1/leads/capture", `{"email":"one@example.com","consentStatus":"implied"}`).expect(t, 200, ""))
		d2 := e.do("GET", "/v1/admin/leads/"+l2, "", "x-admin-key: "+adminKey).expect(t, 200, "")
		u2, _ := url.Parse(d2.Body["unsubscribeUrl"].(string))
		e.do("POST", u2.RequestURI(), "List-Unsubscribe=One-Click", "Content-Type: application/x-www-form-urlencoded").expect(t, 200, "")
		if s := e.rows(`SELECT consent_status FROM leads WHERE id = ?`, l2)[0][0]; s != "withdrawn" {
			t.Fatalf("one-click: %v", s)
		}
		e.do("POST", "/v1/leads/unsubscribe", `{"email":"nobody@example.com"}`, "x-admin-key: "+adminKey).expect(t, 404, "not_found")
		e.do("POST", "/v1/leads/unsubscribe", `{"email":"sub@example.com","reason":"asked by phone"}`, "x-admin-key: "+adminKey).expect(t, 200, "")
		if status() != "withdrawn" {
			t.Fatal("admin unsubscribe did not withdraw")
		}
	})
}

func TestImpliedConsentExpiry(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		lead := e.leadID(e.do("POST", "/v1/leads/capture", `{"email":"implied@example.com","consentStatus":"implied"}`).expect(t, 200, ""))
		e.do("POST", "/v1/leads/capture", `{"email":"fresh@example.com","consentStatus":"implied"}`).expect(t, 200, "")
		ctx := context.Background()
		now := time.Now()
		// Nothing is six months old yet.
		if n, err := e.store.ExpireImpliedConsent(ctx, marketing.ImpliedConsentCutoff(now), now); err != nil || n != 0 {
			t.Fatalf("expired %d, %v; want 0", n, err)
		}
		// Seven months later (an injected clock): both lapse.
		later := now.AddDate(0, 7, 0)
		n, err := e.store.ExpireImpliedConsent(ctx, marketing.ImpliedConsentCutoff(later), later)
		if err != nil || n != 2 {
			t.Fatalf("expired %d, %v; want 2", n, err)
		}
		row := e.rows(`SELECT l.consent_status, c.source, c.previous_status FROM leads l JOIN consent_events c ON c.lead_id = l.id
			WHERE l.id = ? ORDER BY c.occurred_at DESC LIMIT 1`, lead)
		if row[0][0] != "pending" || row[0][1] != "expiry" || row[0][2] != "implied" {
			t.Fatalf("after expiry: %v", row)
		}
	})
}

func TestLeadRateLimits(t *testing.T) {
	frozen := time.Now()
	e := newEnvClock(t, "sqlite", func() time.Time { return frozen }, "RATE_LIMIT_LEADS_PER_MINUTE=1000")
	for i := range 5 {
		e.do("POST", "/v1/leads/capture", `{"email":"same@example.com"}`).expect(t, 200, "")
		_ = i
	}
	e.do("POST", "/v1/leads/capture", `{"email":"SAME@example.com"}`).expect(t, 429, "rate_limited")
	e.do("POST", "/v1/leads/capture", `{"email":"other@example.com"}`).expect(t, 200, "")
	// The budget is per address and client: a stranger who used up his
	// own does not block the person's sign-up from elsewhere.
	e.do("POST", "/v1/leads/capture", `{"email":"same@example.com"}`, "From-Peer: 127.0.0.2").expect(t, 200, "")
	for range 40 {
		e.do("POST", "/v1/leads/capture", `{"email":"same@example.com","honeypot":"x"}`).expect(t, 202, "")
	}
	ip := newEnvClock(t, "sqlite", func() time.Time { return frozen })
	for i := range 24 {
		ip.do("POST", "/v1/leads/capture", fmt.Sprintf(`{"email":"p%d@example.com"}`, i)).expect(t, 200, "")
	}
	ip.do("POST", "/v1/leads/capture", `{"email":"p99@example.com"}`).expect(t, 429, "rate_limited")
	// Invalid bodies count against the per-IP limit too.
	bad := newEnvClock(t, "sqlite", func() time.Time { return frozen })
	for range 24 {
		bad.do("POST", "/v1/leads/capture", `{"email":"nope"}`).expect(t, 400, "invalid_request")
	}
	bad.do("POST", "/v1/leads/capture", `{"email":"nope"}`).expect(t, 429, "rate_limited")
}

// TestCaptureAnswerRevealsNothing: the public answer for a new, a known
// and an erased address has the same shape and tells nothing of the
// address's history: a fresh submission id (never the lead's UUIDv7),
// the caller's own visitor, 0 links.
func TestCaptureAnswerRevealsNothing(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		e.do("POST", "/v1/leads/capture", `{"email":"known@example.com","anonId":"visitor-first-01"}`).expect(t, 200, "")
		e.do("POST", "/v1/leads/capture", `{"email":"erased@example.com","anonId":"visitor-first-01"}`).expect(t, 200, "")
		e.do("POST", "/v1/leads/delete", `{"email":"erased@example.com"}`, "x-admin-key: "+adminKey).expect(t, 200, "")
		var answers []resp
		for _, email := range []string{"new@example.com", "known@example.com", "erased@example.com"} {
			answers = append(answers, e.do("POST", "/v1/leads/capture", `{"email":"`+email+`","anonId":"visitor-prober-1"}`).expect(t, 200, ""))
		}
		own := e.do("POST", "/v1/events", `{"anonId":"visitor-prober-1","eventType":"page_view","path":"/"}`).expect(t, 202, "").Body["visitorId"]
		leads := map[string]bool{}
		for _, row := range e.rows(`SELECT id FROM leads`) {
			leads[toString(row[0])] = true
		}
		seen := map[any]bool{}
		for i, a := range answers {
			if len(a.Body) != 5 || a.Body["visitorId"] != own || a.Body["heuristicLinksCreated"] != float64(0) || a.Body["sessionId"] == "" {
				t.Errorf("answer %d tells more: %s", i, a.Raw)
			}
			if leads[toString(a.Body["leadId"])] || seen[a.Body["leadId"]] {
				t.Errorf("answer %d's leadId %v is a lead's id or repeats", i, a.Body["leadId"])
			}
			seen[a.Body["leadId"]] = true
		}
	})
}

func TestErasureAndPrivacyExport(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("TRUSTED_PROXY=fly")
		const name = "Zebediah Quux"
		body := `{"email":"Erase.Me+tag@Exämple.com","name":"` + name + `","anonId":"visitor-erase-01","consentStatus":"express",
			"consent":{"text":"` + wording + `"},"payload":{"note":"Zebediah's note"}}`
		r := e.do("POST", "/v1/leads/capture", body, "Fly-Client-IP: 198.51.100.20").expect(t, 200, "")
		lead := e.leadID(r)
		if got := e.rows(`SELECT email_normalized FROM leads WHERE id = ?`, lead)[0][0]; got != "erase.me+tag@xn--exmple-cua.com" {
			t.Fatalf("normalised %v", got)
		}
		// A visitor from the same IP and agent minutes earlier gets a heuristic
		// link (once its session is materialised); the public answer says 0.
		e.do("POST", "/v1/events", `{"anonId":"visitor-other-01","eventType":"page_view","path":"/"}`, "Fly-Client-IP: 198.51.100.20").expect(t, 202, "")
		e.sessionize()
		heuristic := func() int64 {
			return e.count(`SELECT count(*) FROM lead_identities WHERE lead_id = ? AND link_source = 'same_ip_ua_window'`, lead)
		}
		r2 := e.do("POST", "/v1/leads/capture", `{"email":"erase.me+tag@xn--exmple-cua.com","anonId":"visitor-erase-01"}`, "Fly-Client-IP: 198.51.100.20").expect(t, 200, "")
		if r2.Body["heuristicLinksCreated"] != float64(0) || heuristic() != 1 {
			t.Fatalf("heuristic links: answer %v, stored %d; want 0 and 1", r2.Body["heuristicLinksCreated"], heuristic())
		}
		e.do("POST", "/v1/leads/capture", `{"email":"erase.me+tag@xn--exmple-cua.com","anonId":"visitor-erase-01"}`, "Fly-Client-IP: 198.51.100.20").expect(t, 200, "")
		if heuristic() != 1 {
			t.Fatalf("existing links stored again: %d", heuristic())
		}
		other := e.do("POST", "/v1/leads/capture", `{"email":"someone.else@example.com","name":"Other Person","consentStatus":"implied"}`).expect(t, 200, "")

		// A page the person viewed after signing up is theirs too.
		e.do("POST", "/v1/events", `{"anonId":"visitor-erase-01","eventType":"page_view","path":"/after-signup"}`).expect(t, 202, "")
		e.sessionize()
		// The export holds this lead, its identities, submissions and
		// consent with wording, every linked visitor's sessions and page
		// events, and nothing of the other lead.
		x := e.do("GET", "/v1/admin/privacy/export?email="+url.QueryEscape("erase.me+tag@exämple.com"), "", "x-admin-key: "+adminKey).expect(t, 200, "")
		for _, want := range []string{lead, name, "form_submit", "same_ip_ua_window", "Zebediah's note", wording, `"status":"express"`, "/after-signup", `"sessions"`} {
			if !strings.Contains(x.Raw, want) {
				t.Errorf("export lacks %q", want)
			}
		}
		for _, not := range []string{"someone.else", "Other Person", e.leadID(other)} {
			if strings.Contains(x.Raw, not) {
				t.Errorf("export holds another lead's %q", not)
			}
		}
		e.do("GET", "/v1/admin/privacy/export?email=nobody@example.com", "", "x-admin-key: "+adminKey).expect(t, 404, "not_found")
		e.do("GET", "/v1/admin/privacy/export?email=x", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")

		e.do("POST", "/v1/leads/delete", `{"email":"erase.me+tag@exämple.com"}`, "x-admin-key: "+adminKey).expect(t, 200, "")
		all := e.dump()
		for _, s := range []string{"erase.me", "Erase.Me", "xn--exmple-cua", name, "Zebediah"} {
			if strings.Contains(all, s) {
				t.Errorf("after erasure the database holds %q", s)
			}
		}
		if n := e.count(`SELECT count(*) FROM suppressions`); n != 1 {
			t.Fatalf("%d suppressions", n)
		}
		if n := e.count(`SELECT count(*) FROM consent_events WHERE lead_id IS NULL`); n < 1 {
			t.Fatal("the ledger rows went with the lead")
		}
		// The export now says what is kept: the pseudonymised ledger.
		x = e.do("GET", "/v1/admin/privacy/export?email=erase.me%2Btag@xn--exmple-cua.com", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		if x.Body["suppressed"] != true || x.Body["lead"] != nil {
			t.Fatalf("export after erasure %s", x.Raw)
		}
		// A capture, even with express consent, does not re-add the address
		// (only a confirmed double opt-in or an admin action may).
		e.do("POST", "/v1/leads/capture", `{"email":"erase.me+tag@xn--exmple-cua.com","consentStatus":"implied"}`).expect(t, 200, "")
		e.do("POST", "/v1/leads/capture", `{"email":"erase.me+tag@xn--exmple-cua.com","consentStatus":"express","consent":{"text":"`+wording+`"}}`).expect(t, 200, "")
		if n := e.count(`SELECT count(*) FROM leads WHERE email_normalized LIKE 'erase.me%'`); n != 0 {
			t.Fatal("a suppressed address was re-added by a capture")
		}
		if n := e.count(`SELECT count(*) FROM suppressions`); n != 1 {
			t.Fatal("a capture lifted the suppression")
		}
	})
}

func TestAdminLeadsListAndCSV(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("RATE_LIMIT_LEADS_PER_MINUTE=0")
		names := []string{`=HYPERLINK("http://evil.example","x")`, "+1 555", "-2", "@SUM(A1)", "Plain, \"quoted\"\nname"}
		for i, n := range names {
			b := fmt.Sprintf(`{"email":"l%d@example.com","name":%q,"sourceChannel":"ads","consentStatus":"implied"}`, i, n)
			e.do("POST", "/v1/leads/capture", b).expect(t, 200, "")
		}
		e.do("POST", "/v1/leads/capture", `{"email":"organic@example.com","sourceChannel":"organic"}`).expect(t, 200, "")
		e.do("GET", "/v1/admin/leads", "").expect(t, 401, "unauthorized")
		page := e.do("GET", "/v1/admin/leads?limit=4&source=ads", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		leads := page.Body["leads"].([]any)
		cursor, _ := page.Body["nextCursor"].(string)
		if len(leads) != 4 || cursor == "" {
			t.Fatalf("page 1: %d leads, cursor %q", len(leads), cursor)
		}
		page2 := e.do("GET", "/v1/admin/leads?limit=4&source=ads&cursor="+cursor, "", "x-admin-key: "+adminKey).expect(t, 200, "")
		if l2 := page2.Body["leads"].([]any); len(l2) != 1 || page2.Body["nextCursor"] != "" {
			t.Fatalf("page 2: %s", page2.Raw)
		}
		e.do("GET", "/v1/admin/leads?consentStatus=maybe", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		// An address never travels in a URL: the search is the dashboard's POST form.
		e.do("GET", "/v1/admin/leads?email=l1%40example.com", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		e.do("GET", "/v1/admin/leads?since=2026-03-02&until=2026-03-01", "", "x-admin-key: "+adminKey).expect(t, 400, "invalid_request")
		if p := e.do("GET", "/v1/admin/leads?until=2000-01-01", "", "x-admin-key: "+adminKey).expect(t, 200, ""); len(p.Body["leads"].([]any)) != 0 {
			t.Fatalf("until 2000: %s", p.Raw)
		}
		if p := e.do("GET", "/v1/admin/leads?consentStatus=pending", "", "x-admin-key: "+adminKey).expect(t, 200, ""); len(p.Body["leads"].([]any)) != 1 {
			t.Fatalf("filter by status: %s", p.Raw)
		}

		res := e.do("GET", "/v1/admin/leads?source=ads", "", "x-admin-key: "+adminKey, "Accept: text/csv")
		if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: %d %s", res.Status, res.Header.Get("Content-Type"))
		}
		records, err := csv.NewReader(strings.NewReader(res.Raw)).ReadAll()
		if err != nil {
			t.Fatalf("CSV does not parse: %v", err)
		}
		if len(records) != 1+len(names) {
			t.Fatalf("%d records", len(records))
		}
		got := map[string]bool{}
		for _, rec := range records[1:] {
			got[rec[2]] = true
		}
		for _, want := range []string{`'=HYPERLINK("http://evil.example","x")`, "'+1 555", "'-2", "'@SUM(A1)", "Plain, \"quoted\"\nname"} {
			if !got[want] {
				t.Errorf("CSV lacks the cell %q (have %v)", want, got)
			}
		}
	})
}

// TestCSVExportStreams exports 100,000 leads and samples the heap while the
// body streams: it must stay well below the size of the CSV.
func TestCSVExportStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 leads")
	}
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		seed := `INSERT INTO leads (id, email_normalized, email_hash, name, consent_status, consent_at, source_channel, first_captured_at, last_captured_at, ft_landing_path, lt_landing_path)
			SELECT 'lead-' || n, 'person' || n || '@example.com', 'h' || n, 'Person Number ' || n, 'express', %s, 'ads', %s, %s, '/landing/page', '/landing/page' FROM %s`
		if e.db != nil {
			now := fmt.Sprint(time.Now().UnixMilli())
			_, err := e.db.Exec(fmt.Sprintf(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000) `+seed, now, now+" - n", now, "s"))
			if err != nil {
				t.Fatal(err)
			}
		} else if _, err := e.pg.Pool().Exec(context.Background(), fmt.Sprintf(seed, "now()", "now() - n * interval '1 second'", "now()", "generate_series(1, 100000) AS g(n)")); err != nil {
			t.Fatal(err)
		}
		// Collect garbage eagerly, so the heap shows what is live.
		defer debug.SetGCPercent(debug.SetGCPercent(5))
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stop := make(chan struct{})
		go func() {
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
					runtime.ReadMemStats(&m)
					if m.HeapAlloc > peak.Load() {
						peak.Store(m.HeapAlloc)
					}
				}
			}
		}()
		req, _ := http.NewRequest("GET", e.URL+"/v1/admin/leads", nil)
		req.Header.Set("x-admin-key", adminKey)
		req.Header.Set("Accept", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		close(stop)
		if err != nil || res.StatusCode != 200 {
			t.Fatal(res.StatusCode, err)
		}
		grew := int64(peak.Load()) - int64(base.HeapAlloc)
		t.Logf("%s: CSV of 100,000 leads: %.1f MB streamed; heap grew at most %.1f MB", strings.TrimPrefix(t.Name(), "TestCSVExportStreams/"), float64(n)/1e6, float64(grew)/1e6)
		if n < 10_000_000 {
			t.Fatalf("CSV only %d bytes", n)
		}
		if grew > n/4 {
			t.Fatalf("heap grew %d bytes for a %d-byte export: not streaming", grew, n)
		}
	})
}

// TestOneClickUnsubscribesNotLimitedByIP: a mail provider posting one-click
// unsubscribes for many people from one address is never refused; forged
// tokens from one address still are.
func TestOneClickUnsubscribesNotLimitedByIP(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		var links []string
		for i := range 15 {
			lead := e.leadID(e.do("POST", "/v1/leads/capture", fmt.Sprintf(`{"email":"many%d@example.com","consentStatus":"implied"}`, i)).expect(t, 200, ""))
			d := e.do("GET", "/v1/admin/leads/"+lead, "", "x-admin-key: "+adminKey).expect(t, 200, "")
			u, err := url.Parse(d.Body["unsubscribeUrl"].(string))
			if err != nil {
				t.Fatal(err)
			}
			links = append(links, u.RequestURI())
		}
		for i, l := range links {
			if r := e.do("POST", l, "List-Unsubscribe=One-Click", "Content-Type: application/x-www-form-urlencoded"); r.Status != 200 {
				t.Fatalf("one-click %d: %d %s", i+1, r.Status, r.Raw)
			}
		}
		if n := e.count(`SELECT count(*) FROM leads WHERE consent_status = 'withdrawn'`); n != 15 {
			t.Fatalf("%d withdrawn, want 15", n)
		}
		limited := false
		for range 13 {
			r := e.do("POST", "/v1/leads/unsubscribe?token=Zm9v.forged", "List-Unsubscribe=One-Click", "Content-Type: application/x-www-form-urlencoded")
			if r.Status == 429 {
				limited = true
				break
			}
			r.expect(t, 400, "invalid_request")
		}
		if !limited {
			t.Fatal("13 forged tokens from one address were never rate limited")
		}
	})
}

// TestPublicURL: links for emails are built on PUBLIC_URL, never on the Host
// the admin's request happened to carry; PUBLIC_URL is the own origin.
func TestPublicURL(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("PUBLIC_URL=https://Marketing.example.com:443/")
		lead := e.leadID(e.do("POST", "/v1/leads/capture", `{"email":"pub@example.com"}`).expect(t, 200, ""))
		d := e.do("GET", "/v1/admin/leads/"+lead, "", "x-admin-key: "+adminKey, "Host: attacker.example").expect(t, 200, "")
		if link, _ := d.Body["unsubscribeUrl"].(string); !strings.HasPrefix(link, "https://marketing.example.com/v1/leads/unsubscribe?token=") {
			t.Fatalf("unsubscribe url %q", link)
		}
		ev := `{"anonId":"visitor-0001","eventType":"page_view","path":"/"}`
		e.do("POST", "/v1/events", ev, "Origin: https://marketing.example.com").expect(t, 202, "")
	})
}

// TestCSVExportOutage: with the database gone before anything was sent, the
// export answers 503, never a 200 with the header row alone.
func TestCSVExportOutage(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		e.do("POST", "/v1/leads/capture", `{"email":"gone@example.com"}`).expect(t, 200, "")
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/v1/admin/leads", "", "x-admin-key: "+adminKey, "Accept: text/csv").expect(t, 503, "unavailable")
		if r.Header.Get("Content-Disposition") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("an error answered as a CSV download: %v", r.Header)
		}
		e.do("GET", "/v1/admin/leads", "", "x-admin-key: "+adminKey).expect(t, 503, "unavailable")
	})
}

// TestCSVExportBrokenMidStream: a PostgreSQL backend terminated while the
// export streams ends the response as a broken transfer, never a clean end.
func TestCSVExportBrokenMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 leads")
	}
	e := newEnv(t, "postgres")
	ctx := context.Background()
	_, err := e.pg.Pool().Exec(ctx, `INSERT INTO leads (id, email_normalized, email_hash, name, consent_status, consent_at, source_channel, first_captured_at, last_captured_at, ft_landing_path, lt_landing_path)
		SELECT 'lead-' || n, 'person' || n || '@example.com', 'h' || n, 'Person Number ' || n, 'express', now(), 'ads', now() - n * interval '1 second', now(), '/landing/page', '/landing/page'
		FROM generate_series(1, 100000) AS g(n)`)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.URL+"/v1/admin/leads", nil)
	req.Header.Set("x-admin-key", adminKey)
	req.Header.Set("Accept", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if _, err := io.CopyN(io.Discard, res.Body, 64<<10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the buffers fill; the backend waits on its socket
	var killed int
	err = e.pg.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state = 'active' AND query LIKE '%FROM leads%') t`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d backends: %v", killed, err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil {
		t.Fatalf("the export ended cleanly after the backend was terminated (%d more bytes)", n)
	}
	t.Logf("broken after %d more bytes: %v", n, err)
}

// TestFormPostErrorsAreAPage: a plain HTML form's invalid post gets a page
// a person can read, with a way back only to an allowed site; JSON callers
// keep the envelope.
func TestFormPostErrorsAreAPage(t *testing.T) {
	e := newEnv(t, "sqlite")
	form := "Content-Type: application/x-www-form-urlencoded"
	r := e.do("POST", "/v1/leads/capture", url.Values{"email": {"not-an-email"}}.Encode(), form, "Origin: "+site, "Referer: "+site+"/signup?x=1")
	if r.Status != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s: %s", r.Status, r.Header.Get("Content-Type"), r.Raw)
	}
	if !strings.Contains(r.Raw, "The email address must be a valid email address.") || !strings.Contains(r.Raw, `href="`+site+`/signup?x=1"`) {
		t.Fatalf("page %s", r.Raw)
	}
	// A checkbox named consent, from a page on no allowed origin: no link.
	r = e.do("POST", "/v1/leads/capture", url.Values{"email": {"box@example.com"}, "consent": {"on"}}.Encode(), form, "Referer: https://evil.example/form")
	if r.Status != 400 || !strings.Contains(r.Raw, "The consent field") || strings.Contains(r.Raw, "href=") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	e.do("POST", "/v1/leads/capture", `{"email":"not-an-email"}`).expect(t, 400, "invalid_request")
}
