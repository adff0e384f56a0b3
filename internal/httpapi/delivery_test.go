package httpapi_test

import (
	"context"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/delivery"
	"github.com/altcontext/marketing/internal/deliverytest"
)

// startWorker runs a delivery worker over the env's store until the test
// ends, with the server's link secret and a fast retry schedule.
func (e *env) startWorker(mailer delivery.Mailer, now func() time.Time) {
	e.t.Helper()
	w := delivery.New(delivery.Options{Store: e.store, Poll: 10 * time.Millisecond, AllowPrivate: true, Mailer: mailer, Now: now,
		Schedule: []time.Duration{0, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond},
		Mail:     delivery.MailSettings{SiteName: "Example", From: "news@example.com", PublicURL: e.URL, Secret: []byte("unsubscribe-secret-for-tests")}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mailText returns the plain-text part of a received message.
func mailText(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 8192)
	for {
		n, err := p.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

var confirmLink = regexp.MustCompile(`https?://\S+/v1/leads/confirm\?token=\S+`)

// TestDoubleOptIn: a form asking for double opt-in records pending consent
// and sends a confirmation email; a prefetch (GET) of its link changes
// nothing, a tampered or expired link neither; the POST records express
// consent by double_opt_in with the wording shown.
func TestDoubleOptIn(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		var offset atomic.Int64
		now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		e := newEnvClock(t, backendOf(t), now)
		_ = open
		smtpSrv := deliverytest.NewSMTPServer(t)
		m, err := delivery.ParseSMTPURL(smtpSrv.URL())
		if err != nil {
			t.Fatal(err)
		}
		e.startWorker(m, now)
		capture := func(email string) {
			form := url.Values{"email": {email}, "consentStatus": {"express"}, "consent_text": {"Yes, send me the newsletter"},
				"doubleOptIn": {"true"}, "formName": {"newsletter"}}
			e.do("POST", "/v1/leads/capture", form.Encode(), "Content-Type: application/x-www-form-urlencoded", "Origin: "+site).expect(t, 303, "")
		}
		ledger := func(email string) []marketing.ConsentEvent {
			id, err := e.store.LeadIDByEmail(context.Background(), email)
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.store.LeadDetail(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			return d.Consent
		}
		capture("Confirm.Me@Example.com")
		capture("late@example.com")
		if l := ledger("confirm.me@example.com"); len(l) != 1 || l[0].Status != marketing.ConsentPending {
			t.Fatalf("after the capture: %+v", l)
		}
		waitUntil(t, "the confirmation emails", func() bool { return len(smtpSrv.Messages()) == 2 })
		tokens := map[string]string{}
		for _, got := range smtpSrv.Messages() {
			link := confirmLink.FindString(mailText(t, got.Data))
			if link == "" {
				t.Fatalf("no confirmation link in %s", got.Data)
			}
			tokens[got.To[0]] = strings.TrimPrefix(link, e.URL)
		}
		path := tokens["confirm.me@example.com"]
		if path == "" {
			t.Fatalf("mail to %v", tokens)
		}
		// A prefetch shows a button and changes nothing.
		page := e.do("GET", path, "")
		if page.Status != 200 || !strings.Contains(page.Raw, `action="/v1/leads/confirm"`) {
			t.Fatalf("confirmation page %d %s", page.Status, page.Raw)
		}
		if l := ledger("confirm.me@example.com"); len(l) != 1 {
			t.Fatalf("a GET changed the ledger: %+v", l)
		}
		token, _ := url.QueryUnescape(strings.TrimPrefix(path, "/v1/leads/confirm?token="))
		post := func(tok string) resp {
			return e.do("POST", "/v1/leads/confirm", url.Values{"token": {tok}}.Encode(), "Content-Type: application/x-www-form-urlencoded", "Origin: null") // as a browser sends it from the page
		}
		// Change one signature character to a different one: a fixed
		// replacement like "AA" equals the real ending 1 time in 256.
		i := len(token) - 3
		swap := byte('A')
		if token[i] == 'A' {
			swap = 'B'
		}
		tampered := token[:i] + string(swap) + token[i+1:]
		if r := post(tampered); r.Status != 400 || !strings.Contains(r.Raw, "not valid") {
			t.Fatalf("tampered link: %d %s", r.Status, r.Raw)
		}
		if r := e.do("GET", "/v1/leads/confirm?token="+url.QueryEscape(tampered), ""); r.Status != 400 {
			t.Fatalf("tampered link page: %d", r.Status)
		}
		if l := ledger("confirm.me@example.com"); len(l) != 1 {
			t.Fatalf("a tampered link changed the ledger: %+v", l)
		}
		if r := post(token); r.Status != 200 || !strings.Contains(r.Raw, "confirmed") {
			t.Fatalf("confirmation: %d %s", r.Status, r.Raw)
		}
		l := ledger("confirm.me@example.com")
		if len(l) != 2 || l[0].Status != marketing.ConsentPending || l[1].Status != marketing.ConsentExpress || l[1].Source != marketing.SourceDoubleOptIn ||
			l[1].Wording == nil || l[1].Wording.Text != "Yes, send me the newsletter" || l[1].IPHash == "" {
			t.Fatalf("ledger after confirmation: %+v", l)
		}
		// Eight days later the other link has expired.
		offset.Store(int64(8 * 24 * time.Hour))
		late, _ := url.QueryUnescape(strings.TrimPrefix(tokens["late@example.com"], "/v1/leads/confirm?token="))
		if r := post(late); r.Status != 410 || !strings.Contains(r.Raw, "expired") {
			t.Fatalf("expired link: %d %s", r.Status, r.Raw)
		}
		if l := ledger("late@example.com"); len(l) != 1 || l[0].Status != marketing.ConsentPending {
			t.Fatalf("an expired link changed the ledger: %+v", l)
		}
	})
}

// backendOf names the backend a backends() subtest runs.
func backendOf(t *testing.T) string {
	if strings.HasSuffix(t.Name(), "/sqlite") {
		return "sqlite"
	}
	return "postgres"
}

// TestWebhooksAdmin: the admin API registers endpoints (refusing private
// targets unless allowed), lists them without secrets, shows the outbox and
// a message's log, replays and removes.
func TestWebhooksAdmin(t *testing.T) {
	backends(t, func(t *testing.T, open func(vars ...string) *env) {
		strict := open()
		for _, u := range []string{"http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/x", "http://[::1]/x", "http://localhost/x"} {
			strict.do("POST", "/v1/admin/webhooks", `{"url":"`+u+`"}`, "x-admin-key: "+adminKey).expect(t, 400, "")
		}
		strict.do("POST", "/v1/admin/webhooks", `{"url":"http://127.0.0.1:9/x"}`).expect(t, 401, "")

		e := open("WEBHOOK_ALLOW_PRIVATE=true")
		recv := deliverytest.NewReceiver(t, "", 1)
		r := e.do("POST", "/v1/admin/webhooks", `{"url":"`+recv.URL+`/hook","includeEmail":true}`, "x-admin-key: "+adminKey).expect(t, 201, "")
		secret, _ := r.Body["secret"].(string)
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("secret %q", secret)
		}
		recv.Secret = secret
		epID := r.Body["endpoint"].(map[string]any)["id"].(string)
		list := e.do("GET", "/v1/admin/webhooks", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		if strings.Contains(list.Raw, secret) || !strings.Contains(list.Raw, epID) {
			t.Fatalf("list %s", list.Raw)
		}
		e.do("POST", "/v1/leads/capture", `{"email":"hook@example.com","consentStatus":"express","consent":{"text":"I agree"}}`, "Origin: "+site).expect(t, 200, "")
		e.startWorker(nil, nil)
		waitUntil(t, "the webhook", func() bool { _, _, n, _ := recv.Counts(); return n == 1 })
		d := recv.Deliveries()[0]
		if d.Type != "lead.created" || d.Data["email"] != "hook@example.com" || d.Data["consentStatus"] != "express" {
			t.Fatalf("delivered %+v", d)
		}
		var msg map[string]any
		waitUntil(t, "the log", func() bool {
			msg = e.do("GET", "/v1/admin/deliveries/"+d.ID, "", "x-admin-key: "+adminKey).expect(t, 200, "").Body
			return msg["message"].(map[string]any)["status"] == "delivered"
		})
		if attempts := msg["attempts"].([]any); len(attempts) != 2 {
			t.Fatalf("attempts %v", attempts)
		}
		ds := e.do("GET", "/v1/admin/deliveries?status=delivered", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		if strings.Contains(ds.Raw, "hook@example.com") || !strings.Contains(ds.Raw, d.ID) {
			t.Fatalf("the outbox listing %s", ds.Raw)
		}
		e.do("POST", "/v1/admin/deliveries/"+d.ID+"/replay", "", "x-admin-key: "+adminKey).expect(t, 200, "")
		waitUntil(t, "the replay", func() bool { _, _, _, dups := recv.Counts(); return dups == 1 })
		e.do("POST", "/v1/admin/deliveries/nope/replay", "", "x-admin-key: "+adminKey).expect(t, 404, "")
		e.do("DELETE", "/v1/admin/webhooks/"+epID, "", "x-admin-key: "+adminKey).expect(t, 200, "")
		e.do("DELETE", "/v1/admin/webhooks/"+epID, "", "x-admin-key: "+adminKey).expect(t, 404, "")
	})
}
