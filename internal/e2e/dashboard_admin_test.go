package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// admWording is the consent wording the browser test's lead was shown.
const admWording = "Send me the monthly product newsletter; I can unsubscribe at any time (v2)"

// captureLead captures a lead on the dashboard's site, as its form would.
func (d *admServer) captureLead(t *testing.T, body string) {
	t.Helper()
	postLead(t, d.URL, "https://example.com", body)
}

// visits is the stats API's count of today's visits on the site, raw.
func (d *admServer) visits(t *testing.T) string {
	t.Helper()
	_, raw := adminCall(t, "POST", d.URL+"/v1/stats/query", admRootKey, `{"site_id":"`+admSite+`","metrics":["visits"],"date_range":"day"}`)
	return string(raw)
}

// adminLeads is GET /v1/admin/leads with the root key, raw.
func (d *admServer) adminLeads(t *testing.T) string {
	t.Helper()
	status, raw := adminCall(t, "GET", d.URL+"/v1/admin/leads", admRootKey, "")
	if status != 200 {
		t.Fatalf("GET /v1/admin/leads: %d %s", status, raw)
	}
	return string(raw)
}

// TestBrowserDashboardLeads: in Chromium, the owner opens the leads list
// and a lead's page (its consent wording shown), erases the lead with the
// typed confirmation (refused first without it), and the lead is gone
// from the list and from GET /v1/admin/leads; the settings page; a viewer
// gets the 403 page for leads and sees no address anywhere. axe-core finds
// no serious or critical violation on the list, the lead's page and the
// settings page; screenshots of the list and the lead's page are saved.
func TestBrowserDashboardLeads(t *testing.T) {
	chromium(t)
	d := admStart(t)
	// A visit before the conversion: a page view from a campaign, made a
	// session by the sessionizer before the lead is captured.
	ev := `{"anonId":"visitor-0001","eventType":"page_view","propertyId":"` + admSite + `","url":"https://example.com/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring","timestamp":"` +
		time.Now().UTC().Add(-10*time.Minute).Format(time.RFC3339) + `"}`
	if code, body, err := post(d.URL, ev); err != nil || code != 202 {
		t.Fatalf("event: %d %v %v", code, body, err)
	}
	eventually(t, "the visit's session", func() bool { return strings.Contains(d.visits(t), `"metrics":[1]`) })
	d.captureLead(t, `{"email":"ada.lovelace@example.com","name":"Ada Lovelace","anonId":"visitor-0001","path":"/pricing",
		"formName":"newsletter","consentStatus":"express","consent":{"text":"`+admWording+`","purpose":"newsletter"},
		"sourceChannel":"newsletter","utm":{"source":"newsletter","medium":"email","campaign":"spring"}}`)
	d.captureLead(t, `{"email":"lead.person@example.com","anonId":"visitor-0003","path":"/contact","formName":"contact"}`)
	ctx := newBrowser(t)
	d.admLogin(t, ctx, admOwner)

	// The list.
	do(t, ctx, chromedp.Navigate(d.URL+"/sites/"+admSite+"/leads"), chromedp.WaitVisible("#leads"))
	list := eval[string](t, ctx, `document.querySelector('#leads').innerText`)
	for _, want := range []string{"ada.lovelace@example.com", "lead.person@example.com", "express", "spring"} {
		if !strings.Contains(list, want) {
			t.Errorf("the list lacks %q:\n%s", want, list)
		}
	}
	axeCheck(t, ctx, "the leads list")
	savePage(t, ctx, "leads")

	// The filter narrows it (the query holds no address).
	do(t, ctx, chromedp.SetValue("#f-campaign", "spring"))
	admLoad(t, ctx, chromedp.Submit("#f-campaign"), "#leads")
	if loc := location(t, ctx); strings.Contains(loc, "@") || !strings.Contains(loc, "campaign=spring") {
		t.Errorf("filter URL %s", loc)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('#leads tbody tr').length`); got != 1 {
		t.Errorf("campaign filter: %d rows", got)
	}
	// The search by email travels in the body.
	do(t, ctx, chromedp.Navigate(d.URL+"/sites/"+admSite+"/leads"), chromedp.WaitVisible("#f-email"), chromedp.SendKeys("#f-email", "ADA."))
	admLoad(t, ctx, chromedp.Submit("#f-email"), "#leads")
	if loc := location(t, ctx); strings.Contains(loc, "ada") || strings.Contains(loc, "?") {
		t.Errorf("the search put something in the URL: %s", loc)
	}
	if got := eval[string](t, ctx, `document.querySelector('#leads').innerText`); !strings.Contains(got, "ada.lovelace@example.com") || strings.Contains(got, "lead.person") {
		t.Errorf("search results:\n%s", got)
	}

	// A lead's page, with its consent wording.
	admLoad(t, ctx, chromedp.Click(`#leads a`), "#ledger")
	if loc := location(t, ctx); strings.Contains(loc, "@") {
		t.Errorf("a lead's URL holds its address: %s", loc)
	}
	if ledger := eval[string](t, ctx, `document.querySelector('#ledger').innerText`); !strings.Contains(ledger, admWording) || !strings.Contains(ledger, "express") {
		t.Errorf("the ledger lacks the wording:\n%s", ledger)
	}
	if visits := eval[string](t, ctx, `document.querySelector('#visits').innerText`); !strings.Contains(visits, "/pricing") || !strings.Contains(visits, "spring") {
		t.Errorf("the visits before conversion:\n%s", visits)
	}
	axeCheck(t, ctx, "a lead's page")
	savePage(t, ctx, "lead")

	// Erasure: refused without the typed confirmation, done with it.
	do(t, ctx, chromedp.SendKeys("#confirm", "yes"))
	admLoad(t, ctx, chromedp.Click("#erase"), "#problem")
	if !strings.Contains(d.adminLeads(t), "ada.lovelace@example.com") {
		t.Fatal("a refused erasure erased")
	}
	do(t, ctx, chromedp.SendKeys("#confirm", "erase"))
	admLoad(t, ctx, chromedp.Click("#erase"), "#leads")
	if list := eval[string](t, ctx, `document.querySelector('main').innerText`); strings.Contains(list, "ada.lovelace") || !strings.Contains(list, "erased") {
		t.Errorf("the list after erasure:\n%s", list)
	}
	if strings.Contains(d.adminLeads(t), "ada.lovelace") {
		t.Error("GET /v1/admin/leads still lists the erased lead")
	}

	// Settings.
	do(t, ctx, chromedp.Navigate(d.URL+"/settings"), chromedp.WaitVisible("#audit"))
	if audit := eval[string](t, ctx, `document.querySelector('#audit').innerText`); !strings.Contains(audit, "lead.erase") {
		t.Errorf("the audit log lacks the erasure:\n%s", audit)
	}
	axeCheck(t, ctx, "the settings page")

	// Operations: the configuration with the root key masked, axe.
	do(t, ctx, chromedp.Navigate(d.URL+"/operations"), chromedp.WaitVisible("#config"))
	if html := eval[string](t, ctx, `document.documentElement.outerHTML`); strings.Contains(html, admRootKey) || !strings.Contains(html, "ADMIN_API_KEY") {
		t.Error("operations shows the root key, or no configuration")
	}
	axeCheck(t, ctx, "operations")

	// A viewer: the 403 page on leads, and no address anywhere.
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	d.admLogin(t, ctx, admViewer)
	for _, path := range []string{"/", "/sites/" + admSite, "/sites/" + admSite + "/realtime", "/sites/" + admSite + "/leads", "/settings"} {
		do(t, ctx, chromedp.Navigate(d.URL+path), chromedp.WaitReady("main"))
		html := eval[string](t, ctx, `document.documentElement.outerHTML`)
		if strings.Contains(html, "lead.person@example.com") || strings.Contains(html, "ada.lovelace") || strings.Contains(html, "/leads\"") {
			t.Errorf("the viewer's %s shows an address or a leads link", path)
		}
		if strings.HasSuffix(path, "/leads") && !strings.Contains(html, "403") {
			t.Errorf("the viewer's leads page is not the 403 page:\n%.500s", html)
		}
	}
}

// The helpers below start a server with a site, an owner and a viewer, and
// drive its forms; the browser, axe-core and screenshots are
// dashboard_test.go's.

const (
	admSite     = "example.com"
	admOwner    = "owner@team.example"
	admViewer   = "viewer@team.example"
	admPassword = "admin-pages-password-1"
	admRootKey  = "admin-pages-root-key-0123456789"
)

// admServer is `marketing serve` on SQLite with a registered site, an
// owner (every site) and a viewer of the site.
type admServer struct {
	*proc
	dir string
	env []string
}

func admStart(t *testing.T) *admServer {
	t.Helper()
	d := &admServer{dir: t.TempDir()}
	d.env = []string{"DATABASE_URL=sqlite:" + filepath.Join(d.dir, "m.db"), "ADMIN_API_KEY=" + admRootKey}
	for _, args := range [][]string{{"migrate"}, {"sites", "add", admSite, "--name", "Example"}} {
		if out, code := run(t, d.dir, d.env, args...); code != 0 {
			t.Fatalf("%v: %s", args, out)
		}
	}
	for _, u := range [][]string{{admOwner, "owner"}, {admViewer, "viewer", "--site", admSite}} {
		cmd := exec.Command(binary, append([]string{"users", "add", u[0], "--role"}, u[1:]...)...)
		cmd.Dir = d.dir
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, d.env...)
		cmd.Stdin = strings.NewReader(admPassword + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("users add %s: %v\n%s", u[0], err, out)
		}
	}
	d.proc = start(t, d.dir, d.env...)
	return d
}

// admLogin signs in through the login form.
func (d *admServer) admLogin(t *testing.T, ctx context.Context, email string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(d.URL+"/login"), chromedp.WaitVisible("#email"),
		chromedp.SendKeys("#email", email), chromedp.SendKeys("#password", admPassword))
	admLoad(t, ctx, chromedp.Submit("#password"), "main h1")
}

// admLoad performs an action that loads another page (a form's submit, a
// link) and waits for sel on the new page: the old page is marked first,
// so none of its elements counts.
func admLoad(t *testing.T, ctx context.Context, act chromedp.Action[chromedp.Void], sel string) {
	t.Helper()
	eval[bool](t, ctx, `window.admOld = true`)
	do(t, ctx, act)
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Errors while the page changes (no execution context) mean "not yet".
		old, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.admOld === true || document.readyState !== 'complete'`))
		if err == nil && !old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new page after the action (at %s)", location(t, ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	do(t, ctx, chromedp.WaitVisible(sel))
}
