package e2e

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/altcontext/marketing/internal/deliverytest"
	"github.com/altcontext/marketing/internal/demo"
)

// chromium finds Debian's Chromium; the test fails under CI=true without it.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and no Chromium (Debian: apt-get install chromium)")
	}
	t.Skip("no Chromium installed")
	return ""
}

// site serves examples/site on its own origin.
func site(t *testing.T, api string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: demo.Handler("../../examples/site", api)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBrowser(t *testing.T) {
	exe := chromium(t)
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "data", "marketing.db")

	// The site's origin must be known before the backend starts (CORS).
	siteL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	siteURL := "http://" + siteL.Addr().String()
	backend := start(t, dir, "DATABASE_URL="+dbURL, "CORS_ALLOWED_ORIGINS="+siteURL)
	siteSrv := &http.Server{Handler: demo.Handler("../../examples/site", backend.URL)}
	go func() { _ = siteSrv.Serve(siteL) }()
	defer siteSrv.Close()
	foreign := site(t, backend.URL) // same pages, an origin the backend does not allow

	count := func(q string) int { return len(query(t, dbURL, q)) }
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join("..", "..", ".e2e")
	}
	_ = os.MkdirAll(shots, 0o755)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1100, 900),
		// Headless Chromium says "HeadlessChrome", which the bot filter drops
		// (as it should): browse as the desktop Chrome a visitor would use.
		chromedp.UserAgent(ua))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// No timeout on this context: it would stop the browser (chromedp's
	// rule). The go test timeout bounds the run.

	// A page view, with the site's host as the property.
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL+"/"), chromedp.WaitVisible("#signup")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the page view", func() bool {
		ok := count(`SELECT id FROM events WHERE event_type = 'page_view' AND path = '/' AND property_id = '127.0.0.1'`) == 1
		if !ok && os.Getenv("E2E_DEBUG") != "" {
			t.Log(backend.stdout.String(), query(t, dbURL, `SELECT event_type || ' ' || path || ' ' || property_id FROM events`))
		}
		return ok
	})
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(shots, "before-signup.png"), png, 0o644)
	}

	// A data-marketing-event click and an SPA navigation.
	if err := chromedp.Do(ctx, chromedp.Click("#cta"), chromedp.Click("#pricing"), chromedp.WaitVisible("#view")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cta click", func() bool {
		return count(`SELECT id FROM events WHERE event_type = 'cta_click' AND props LIKE '%"plan":"pro"%'`) == 1
	})
	eventually(t, "the SPA page view", func() bool {
		return count(`SELECT id FROM events WHERE event_type = 'page_view' AND path = '/pricing'`) == 1
	})

	// The sign-up: leads, an identity and the consent row with the label's exact text.
	const label = "Yes, send me the Example Co. newsletter. I can unsubscribe at any time."
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`#signup input[name=email]`, "Browser.Person@Example.com"),
		chromedp.SendKeys(`#signup input[name=name]`, "Browser Person"),
		chromedp.Click("#consent"),
		chromedp.Click(`#signup button[type=submit]`),
		chromedp.WaitVisible(`[data-marketing-success]`),
	); err != nil {
		t.Fatal(err)
	}
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(shots, "after-signup.png"), png, 0o644)
	}
	eventually(t, "the lead", func() bool {
		return count(`SELECT id FROM leads WHERE email_normalized = 'browser.person@example.com' AND consent_status = 'express'`) == 1
	})
	if n := count(`SELECT i.visitor_id FROM lead_identities i JOIN leads l ON l.id = i.lead_id WHERE l.email_normalized = 'browser.person@example.com'`); n < 1 {
		t.Fatal("no lead_identities row")
	}
	words := query(t, dbURL, `SELECT w.text FROM consent_events c JOIN consent_wordings w ON w.hash = c.wording_hash
		JOIN leads l ON l.id = c.lead_id WHERE l.email_normalized = 'browser.person@example.com'`)
	if len(words) != 1 || words[0] != label {
		t.Fatalf("consent wording %q, want the label %q", words, label)
	}

	// Engagement is sent when the page is left.
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL+"/about.html"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "engagement after navigating away", func() bool {
		return count(`SELECT id FROM events WHERE event_type = 'engagement' AND engaged_ms IS NOT NULL`) >= 1
	})

	// A filled honeypot stores nothing.
	leads := count(`SELECT id FROM leads`)
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL+"/"), chromedp.WaitVisible("#signup"),
		chromedp.SetValue("#honeypot", "http://spam.example"),
		chromedp.SendKeys(`#signup input[name=email]`, "bot@example.com"),
		chromedp.Click(`#signup button[type=submit]`),
		chromedp.WaitVisible(`[data-marketing-success]`),
	); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := count(`SELECT id FROM leads`); n != leads {
		t.Fatalf("a honeypot sign-up stored a lead (%d → %d)", leads, n)
	}

	// A page served from an origin the backend does not allow stores nothing.
	// Leave the allowed page first: its pagehide beacons are legitimate.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Sleep(700*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	events := count(`SELECT id FROM events`)
	refused := strings.Count(backend.stdout.String(), `"route":"POST /v1/events","status":403`)
	if err := chromedp.Do(ctx, chromedp.Navigate(foreign+"/"), chromedp.WaitVisible("#signup"), chromedp.Click("#cta"),
		chromedp.Navigate("about:blank"), chromedp.Sleep(700*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT id FROM events`); n != events {
		t.Fatalf("a foreign origin's page stored %d events", n-events)
	}
	// Refusals are logged sampled (the first a minute), so they are read
	// from the rejection counters, which the server flushes every 10 s.
	deadline := time.Now().Add(15 * time.Second)
	for count(`SELECT hour FROM ingest_rejections WHERE endpoint = '/v1/events' AND reason = 'origin' AND count >= 2`) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the foreign page's beacons were not refused and counted (%d 403 lines logged)",
				strings.Count(backend.stdout.String(), `"route":"POST /v1/events","status":403`)-refused)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Beacons and the form helper send text/plain: no CORS preflight, ever.
	if strings.Contains(backend.stdout.String(), `"method":"OPTIONS"`) {
		t.Fatal("the browser sent a CORS preflight")
	}

	// Without JavaScript the form still works: a post and a 303 back to the site.
	noJS, cancelNoJS := chromedp.NewContext(alloc)
	defer cancelNoJS()
	if _, err := chromedp.Call(noJS, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(noJS,
		chromedp.Navigate(siteURL+"/"),
		chromedp.SendKeys(`#signup input[name=email]`, "nojs@example.com"),
		chromedp.Click("#consent"),
		chromedp.Click(`#signup button[type=submit]`),
		chromedp.Sleep(time.Second),
	); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(noJS, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != siteURL+"/thanks.html" {
		t.Fatalf("after the no-JS post the browser is at %q, want %s/thanks.html", loc, siteURL)
	}
	eventually(t, "the no-JS lead", func() bool {
		return count(`SELECT id FROM leads WHERE email_normalized = 'nojs@example.com' AND consent_status = 'express'`) == 1
	})
	t.Logf("screenshots in %s", shots)
}

// TestBrowserDoubleOptIn: a form marked data-marketing-double-opt-in is
// submitted in the browser; the test reads the confirmation email from a
// real SMTP server, a prefetch of its link changes nothing, a tampered link
// shows a clear page and changes nothing, and the button on the link's page
// confirms: the ledger shows pending, then express by double_opt_in with
// the label's wording.
func TestBrowserDoubleOptIn(t *testing.T) {
	exe := chromium(t)
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "data", "marketing.db")
	mailSrv := deliverytest.NewSMTPServer(t)
	siteL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	siteURL := "http://" + siteL.Addr().String()
	backend := start(t, dir, "DATABASE_URL="+dbURL, "CORS_ALLOWED_ORIGINS="+siteURL, "SMTP_URL="+mailSrv.URL(),
		"SITE_NAME=Example Co.", "MAIL_FROM=news@example.com")
	siteSrv := &http.Server{Handler: demo.Handler("../../examples/site", backend.URL)}
	go func() { _ = siteSrv.Serve(siteL) }()
	defer siteSrv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1100, 900), chromedp.UserAgent(ua))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	const label = "Yes, send me the Example Co. newsletter. I can unsubscribe at any time."
	if err := chromedp.Do(ctx,
		chromedp.Navigate(siteURL+"/"), chromedp.WaitVisible("#signup"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#signup').setAttribute('data-marketing-double-opt-in', ''), {}`),
		chromedp.SendKeys(`#signup input[name=email]`, "Double.Opt@Example.com"),
		chromedp.Click("#consent"),
		chromedp.Click(`#signup button[type=submit]`),
		chromedp.WaitVisible(`[data-marketing-success]`),
	); err != nil {
		t.Fatal(err)
	}
	ledger := func() []string {
		return query(t, dbURL, `SELECT c.status || ' ' || c.source || ' ' || coalesce(w.text, '') FROM consent_events c
			JOIN leads l ON l.id = c.lead_id LEFT JOIN consent_wordings w ON w.hash = c.wording_hash
			WHERE l.email_normalized = 'double.opt@example.com' ORDER BY c.occurred_at, c.id`)
	}
	eventually(t, "the pending lead", func() bool { return len(ledger()) == 1 })
	if l := ledger(); l[0] != "pending form_submit "+label {
		t.Fatalf("ledger after the sign-up: %q", l)
	}
	eventually(t, "the confirmation email", func() bool { return len(mailSrv.Messages()) == 1 })
	got := mailSrv.Messages()[0]
	if len(got.To) != 1 || got.To[0] != "double.opt@example.com" {
		t.Fatalf("mail to %v", got.To)
	}
	text := plainPart(t, got.Data)
	link := regexp.MustCompile(`http://\S+/v1/leads/confirm\?token=\S+`).FindString(text)
	if link == "" || !strings.Contains(text, "Example Co.") {
		t.Fatalf("no confirmation link in:\n%s", text)
	}
	// The link is on PUBLIC_URL, here the process on localhost.
	link = strings.Replace(link, "http://localhost:", "http://127.0.0.1:", 1)

	// A mail scanner's prefetch changes nothing.
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || len(ledger()) != 1 {
		t.Fatalf("prefetch: %d, ledger %q", res.StatusCode, ledger())
	}
	// A tampered link: a clear page, nothing changed.
	if err := chromedp.Do(ctx, chromedp.Navigate(link[:len(link)-3]+"xyz"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "not valid") || len(ledger()) != 1 {
		t.Fatalf("tampered link page %q, ledger %q", body, ledger())
	}
	// The link's page, its button, the confirmation.
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	if len(ledger()) != 1 {
		t.Fatalf("opening the link changed the ledger: %q", ledger())
	}
	if err := chromedp.Do(ctx, chromedp.Click("button[type=submit]"), chromedp.Sleep(500*time.Millisecond), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	if body, err = chromedp.Run(ctx, chromedp.Text("body")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "confirmed") {
		t.Fatalf("after the button: %q", body)
	}
	l := ledger()
	if len(l) != 2 || l[0] != "pending form_submit "+label || l[1] != "express double_opt_in "+label {
		t.Fatalf("ledger %q", l)
	}
	if n := len(query(t, dbURL, `SELECT id FROM leads WHERE email_normalized = 'double.opt@example.com' AND consent_status = 'express'`)); n != 1 {
		t.Fatal("the lead is not express")
	}
}

// plainPart is the decoded text/plain part of a raw message.
func plainPart(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := multipart.NewReader(m.Body, params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
