package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/altcontext/marketing/internal/dashboard"
)

const (
	dashSite     = "example.com"
	dashOwner    = "owner@example.com"
	dashViewer   = "viewer@example.com"
	dashPassword = "dashboard-password-1"
	dashAdminKey = "dashboard-admin-key-0123456789"
)

// dashServer is `marketing serve` with a registered site, an owner and a
// viewer, and events seeded over HTTP and sessionised.
type dashServer struct {
	*proc
	dir string
	env []string
}

// startDashboard starts the built binary on dbURL (sqlite:… or
// postgres://…) and seeds it.
func startDashboard(t *testing.T, dbURL string) *dashServer {
	t.Helper()
	d := &dashServer{dir: t.TempDir(), env: []string{"DATABASE_URL=" + dbURL, "ADMIN_API_KEY=" + dashAdminKey}}
	if out, code := run(t, d.dir, d.env, "migrate"); code != 0 {
		t.Fatal(out)
	}
	if out, code := run(t, d.dir, d.env, "sites", "add", dashSite, "--name", "Example"); code != 0 {
		t.Fatal(out)
	}
	d.addUser(t, dashOwner, "owner", "")
	d.addUser(t, dashViewer, "viewer", dashSite)
	d.proc = start(t, d.dir, d.env...)
	d.seed(t)
	return d
}

// addUser runs `marketing users add` with the password on standard input.
func (d *dashServer) addUser(t *testing.T, email, role, site string) {
	t.Helper()
	args := []string{"users", "add", email, "--role", role}
	if site != "" {
		args = append(args, "--site", site)
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = d.dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, d.env...)
	cmd.Stdin = strings.NewReader(dashPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users add %s: %v\n%s", email, err, out)
	}
}

// seed sends page views of seven visitors over the last two hours, the
// last of whom leaves a lead, then waits until the sessionizer has made
// their seven visits.
func (d *dashServer) seed(t *testing.T) {
	t.Helper()
	now := time.Now().UTC()
	type view struct {
		visitor, path, referrer, utm string
		ago                          time.Duration
	}
	views := []view{
		{"visitor-0001", "/", "https://www.google.com/", "", 90 * time.Minute},
		{"visitor-0001", "/pricing", "", "", 88 * time.Minute},
		{"visitor-0002", "/pricing", "", "", 80 * time.Minute},
		{"visitor-0003", "/blog", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=spring", 70 * time.Minute},
		{"visitor-0003", "/pricing", "", "", 69 * time.Minute},
		{"visitor-0004", "/", "", "", 60 * time.Minute},
		{"visitor-0005", "/pricing", "https://news.ycombinator.com/", "", 50 * time.Minute},
		{"visitor-0006", "/about", "", "", 40 * time.Minute},
		{"visitor-0007", "/pricing", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=spring", 10 * time.Minute},
	}
	for _, v := range views {
		ev := map[string]any{"anonId": v.visitor, "eventType": "page_view", "propertyId": dashSite, "url": "https://example.com" + v.path + v.utm,
			"timestamp": now.Add(-v.ago).Format(time.RFC3339)}
		if v.referrer != "" {
			ev["referrer"] = v.referrer
		}
		b, _ := json.Marshal(ev)
		if code, body, err := post(d.URL, string(b)); err != nil || code != 202 {
			t.Fatalf("event %s: %d %v %v", b, code, body, err)
		}
	}
	postLead(t, d.URL, "https://example.com", `{"email":"lead.person@example.com","anonId":"visitor-0007","path":"/pricing"}`)
	d.waitVisits(t, 7)
}

// waitVisits waits until the sessionizer has made n visits.
func (d *dashServer) waitVisits(t *testing.T, n float64) {
	t.Helper()
	eventually(t, "the sessionizer's visits", func() bool {
		var out struct {
			Results []struct{ Metrics []float64 } `json:"results"`
		}
		d.api(t, `{"site_id":"`+dashSite+`","metrics":["visits"],"date_range":"30d"}`, "", &out)
		return len(out.Results) == 1 && out.Results[0].Metrics[0] == n
	})
}

// api posts a stats query with the admin key; into nil returns the raw
// body (CSV with accept "text/csv").
func (d *dashServer) api(t *testing.T, body, accept string, into any) string {
	t.Helper()
	status, raw := adminCall(t, "POST", d.URL+"/v1/stats/query", dashAdminKey, body, "Accept", accept)
	if status != 200 {
		t.Fatalf("stats query %s: %d %s", body, status, raw)
	}
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatal(err)
		}
	}
	return string(raw)
}

// share creates a shared link (with a password when not "") and returns
// its dashboard path.
func (d *dashServer) share(t *testing.T, password string) string {
	t.Helper()
	status, raw := adminCall(t, "POST", d.URL+"/v1/admin/sites/"+dashSite+"/shares", dashAdminKey, `{"password":"`+password+`"}`)
	var out struct{ Token string }
	if err := json.Unmarshal(raw, &out); err != nil || status != 201 {
		t.Fatalf("share: %d %v", status, err)
	}
	return "/share/" + out.Token
}

// apiFigures is the stats API's answer to the overview's top-figure query
// of a URL state, formatted as the page formats it.
func (d *dashServer) apiFigures(t *testing.T, state string) map[string]string {
	t.Helper()
	q, _ := url.ParseQuery(state)
	body, _ := json.Marshal(dashboard.ParseState(q).TopBody(dashSite))
	var out struct {
		Results []struct {
			Metrics    []any `json:"metrics"`
			Comparison *struct {
				Change []any `json:"change"`
			} `json:"comparison"`
		} `json:"results"`
		Query struct {
			Metrics []string `json:"metrics"`
		} `json:"query"`
	}
	d.api(t, string(body), "", &out)
	figs := map[string]string{}
	for i, m := range out.Query.Metrics {
		figs[m] = dashboard.FormatMetric(m, out.Results[0].Metrics[i])
		if c := out.Results[0].Comparison; c != nil {
			figs[m] += "|" + dashboard.FormatChange(m, c.Change[i])
		}
	}
	return figs
}

// newBrowser starts a Chromium for the dashboard; under CI=true a missing
// Chromium fails the test (chromium, in browser_test.go).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 1000), chromedp.UserAgent(ua))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a timeout
		t.Fatal(err)
	}
	return ctx
}

// login signs in through the form, from wherever the browser is sent.
func (d *dashServer) login(email string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(d.URL+"/"),
		chromedp.WaitVisible("#email"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", dashPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible(".figures"),
	)
}

// do runs browser steps, failing the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ''`))
		t.Fatalf("%v at %s:\n%s", err, loc, body)
	}
}

// eval evaluates JavaScript in the page (promises awaited).
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// figures reads the top figures shown: metric → value ("|change" when
// one is shown).
func figures(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	return eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('.figure[data-metric]')].map(f => {
		const c = f.querySelector('.change');
		return [f.dataset.metric, f.querySelector('.value').textContent + (c ? '|' + c.textContent : '')];
	}))`)
}

func sameFigures(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for m, w := range want {
		if got[m] != w {
			t.Errorf("%s: %s shows %q, the stats API says %q", what, m, got[m], w)
		}
	}
}

// axeViolation is one serious or critical axe-core finding.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axeCheck runs axe-core (vendored for the tests) in the page and fails
// on serious or critical violations.
func axeCheck(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](string(src)+";0")); err != nil {
		t.Fatal(err)
	}
	res := eval[struct {
		Passes     int
		Violations []axeViolation
	}](t, ctx, `axe.run(document).then(r => ({Passes: r.passes.length,
		Violations: r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')}))`)
	if res.Passes < 10 {
		t.Fatalf("axe on %s: only %d rules passed: did it run?", name, res.Passes)
	}
	t.Logf("axe on %s: %d rules pass, %d serious or critical violations", name, res.Passes, len(res.Violations))
	for _, v := range res.Violations {
		t.Errorf("axe on %s: %s (%s): %s, at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// screenshotDir is where the test run leaves its screenshots:
// $E2E_SCREENSHOTS/dashboard, by default .e2e/dashboard at the repository root.
func screenshotDir() string {
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", ".e2e")
	}
	return filepath.Join(dir, "dashboard")
}

// colorScheme emulates prefers-color-scheme.
func colorScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		t.Fatal(err)
	}
}

// screenshot saves the whole page, light or dark.
func screenshot(t *testing.T, ctx context.Context, name, scheme string) {
	t.Helper()
	colorScheme(t, ctx, scheme)
	do(t, ctx, chromedp.Sleep(200*time.Millisecond))
	savePage(t, ctx, name+"-"+scheme)
}

// savePage saves the whole page as screenshotDir()/name.png.
func savePage(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := screenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestBrowserDashboard is the dashboard's acceptance run in Chromium, on
// SQLite and on PostgreSQL (axe-core and screenshots on SQLite only).
func TestBrowserDashboard(t *testing.T) {
	chromium(t)
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dbURL := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
			if name == "postgres" {
				dbURL = newDatabase(t)
			}
			d := startDashboard(t, dbURL)
			browseDashboard(t, d, newBrowser(t), name == "sqlite")
		})
	}
}

func browseDashboard(t *testing.T, d *dashServer, ctx context.Context, extras bool) {
	if extras {
		do(t, ctx, chromedp.Navigate(d.URL+"/login"), chromedp.WaitVisible("#email"))
		axeCheck(t, ctx, "the login page")
	}
	// Signed out, / goes to the login form; signing in comes back to the
	// first site's overview.
	do(t, ctx, d.login(dashOwner))
	if loc := location(t, ctx); loc != d.URL+"/sites/"+dashSite {
		t.Fatalf("after login: %s", loc)
	}
	sameFigures(t, "the overview", figures(t, ctx), d.apiFigures(t, ""))
	if f := figures(t, ctx); f["leads"] != "1" || f["visitors"] != "7" {
		t.Errorf("seeded figures %v", f)
	}
	if extras {
		axeCheck(t, ctx, "the overview")
		screenshot(t, ctx, "overview", "light")
		screenshot(t, ctx, "overview", "dark")
		axeCheck(t, ctx, "the overview (dark)")
		colorScheme(t, ctx, "light")
	}

	// A click on a page row filters by it.
	before := figures(t, ctx)
	do(t, ctx, chromedp.Click(`#panel-pages a[title="Filter by /pricing"]`), chromedp.WaitVisible(`.chip[data-filter="page:is"]`))
	if loc := location(t, ctx); !strings.Contains(loc, "f=page%3Ais%3A%2Fpricing") {
		t.Fatalf("the filter is not in the URL: %s", loc)
	}
	after := figures(t, ctx)
	sameFigures(t, "filtered by /pricing", after, d.apiFigures(t, "f=page:is:/pricing"))
	if after["visitors"] == before["visitors"] || after["visitors"] != "5" {
		t.Errorf("visitors %s before the filter, %s after", before["visitors"], after["visitors"])
	}

	// The comparison toggle shows the changes.
	do(t, ctx, chromedp.Click("#compare-toggle"), chromedp.WaitVisible(".figure .change"))
	cmp := figures(t, ctx)
	sameFigures(t, "compared", cmp, d.apiFigures(t, "f=page:is:/pricing&compare=previous_period"))
	if !strings.Contains(cmp["visitors"], "|+") {
		t.Errorf("no change shown: %v", cmp)
	}

	// The keyboard: "7" picks the last 7 days, keeping filter and comparison.
	do(t, ctx, chromedp.KeyEvent("7"), chromedp.WaitVisible(`.presets a[aria-current][data-key="7"]`))
	if loc := location(t, ctx); !strings.Contains(loc, "period=7d") || !strings.Contains(loc, "compare=previous_period") || !strings.Contains(loc, "f=page") {
		t.Errorf("after the shortcut: %s", loc)
	}

	// A panel's CSV downloads with the session, and is the API's CSV.
	csv := eval[struct{ Disposition, Body string }](t, ctx, `(async () => {
		const r = await fetch(document.querySelector('#panel-pages a.csv').href);
		return {Disposition: r.headers.get('content-disposition') || '', Body: await r.text()};
	})()`)
	want := d.api(t, `{"site_id":"`+dashSite+`","metrics":["visitors","pageviews"],"dimensions":["event:page"],"date_range":"7d","filters":[["is","event:page",["/pricing"]]]}`, "text/csv", nil)
	if !strings.Contains(csv.Disposition, "attachment") || csv.Body != want {
		t.Errorf("CSV download (%s):\n%s\nthe API's:\n%s", csv.Disposition, csv.Body, want)
	}

	// Realtime: first paint from the server, then refreshed by the script.
	do(t, ctx, chromedp.Navigate(d.URL+"/sites/"+dashSite+"/realtime"), chromedp.WaitVisible(`[data-rt="current"]`))
	pages, err := chromedp.Run(ctx, chromedp.Text(`[data-rt="pages"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pages, "/pricing") {
		t.Errorf("realtime top pages: %q", pages)
	}
	// A new page view shows at the next refresh (the script refreshes every
	// 10 s and when the page becomes visible: the test triggers the latter).
	live, _ := json.Marshal(map[string]any{"anonId": "visitor-0008", "eventType": "page_view", "propertyId": dashSite, "url": "https://example.com/live"})
	if code, _, err := post(d.URL, string(live)); err != nil || code != 202 {
		t.Fatalf("live event: %d %v", code, err)
	}
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.dispatchEvent(new Event('visibilitychange'))`),
		chromedp.WaitVisible(`//tbody[@data-rt="pages"]//td[contains(., "/live")]`))
	d.waitVisits(t, 8)
	if extras {
		axeCheck(t, ctx, "realtime")
		screenshot(t, ctx, "realtime", "light")
		screenshot(t, ctx, "realtime", "dark")
		colorScheme(t, ctx, "light")
	}

	// Logout ends the session: the overview asks for a login again.
	do(t, ctx, chromedp.Click("#logout"), chromedp.WaitVisible("#email"),
		chromedp.Navigate(d.URL+"/sites/"+dashSite), chromedp.WaitVisible("#email"))
	if loc := location(t, ctx); !strings.HasPrefix(loc, d.URL+"/login?next=") {
		t.Errorf("after logout: %s", loc)
	}

	// A viewer sees the analytics, no email and no admin navigation.
	do(t, ctx, d.login(dashViewer))
	html, err := chromedp.Run(ctx, chromedp.OuterHTML("html"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "@") || strings.Contains(html, "/leads") || strings.Contains(html, "/settings") {
		t.Error("the viewer's overview shows an email or an admin link")
	}
	do(t, ctx, chromedp.Click("#logout"), chromedp.WaitVisible("#email"))

	// A shared link opens read-only; one with a password only after it.
	open, locked := d.share(t, ""), d.share(t, "share-password-1")
	do(t, ctx, chromedp.Navigate(d.URL+open), chromedp.WaitVisible(".figures"))
	shared := figures(t, ctx)
	if shared["visitors"] != d.apiFigures(t, "")["visitors"] {
		t.Errorf("shared view: %v", shared)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('nav[aria-label=Main], #logout, [data-metric=leads]').length`); n != 0 {
		t.Errorf("the shared view has navigation, a logout or leads (%d)", n)
	}
	do(t, ctx, chromedp.Navigate(d.URL+locked), chromedp.WaitVisible("#share-password"))
	if extras {
		axeCheck(t, ctx, "the shared link's password form")
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('.figure').length`); n != 0 {
		t.Fatal("the locked link shows figures before its password")
	}
	do(t, ctx, chromedp.SendKeys("#share-password", "not-the-password"), chromedp.Submit("#share-password"), chromedp.WaitVisible(`[role=alert]`))
	if n := eval[int](t, ctx, `document.querySelectorAll('.figure').length`); n != 0 {
		t.Fatal("a wrong password shows figures")
	}
	do(t, ctx, chromedp.SendKeys("#share-password", "share-password-1"), chromedp.Submit("#share-password"), chromedp.WaitVisible(".figures"))
	if got := figures(t, ctx)["visitors"]; got != shared["visitors"] {
		t.Errorf("unlocked view: visitors %s", got)
	}
}

// TestBrowserDashboardNoScript: with JavaScript off the overview still
// shows every figure, every breakdown and the graph as a table.
func TestBrowserDashboardNoScript(t *testing.T) {
	chromium(t)
	d := startDashboard(t, "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	ctx := newBrowser(t)
	do(t, ctx, d.login(dashOwner))
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(d.URL+"/sites/"+dashSite), chromedp.WaitVisible(".figures"))
	text, err := chromedp.Run(ctx, chromedp.Text("main"))
	if err != nil {
		t.Fatal(err)
	}
	// Evaluation through the protocol still works with page scripts off.
	if !eval[bool](t, ctx, `!!document.querySelector('.graph-table[open] table') && !document.documentElement.classList.contains('js') &&
		[...document.querySelectorAll('.panel')].every(p => p.offsetParent !== null)`) {
		t.Error("without JavaScript a panel or the graph's table is hidden")
	}
	got := figures(t, ctx)
	sameFigures(t, "without JavaScript", got, d.apiFigures(t, ""))
	if len(got) != 9 {
		t.Errorf("%d figures without JavaScript, want 9", len(got))
	}
	for _, s := range []string{"Channels", "Top pages", "Entry pages", "Countries", "Browsers", "By landing page", "Web vitals", "/pricing"} {
		if !strings.Contains(text, s) {
			t.Errorf("without JavaScript the page lacks %q", s)
		}
	}
}
