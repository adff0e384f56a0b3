package e2e

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/altcontext/marketing/internal/pgtest"
)

func runWithPostgres(m *testing.M) int { return pgtest.Run(m) }

func newDatabase(t *testing.T) string { return pgtest.NewDatabase(t) }

// query runs q on a sqlite: or postgres:// URL and returns the first column.
func query(t *testing.T, dbURL, q string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func readPepper(t *testing.T, path string) string {
	r := query(t, "sqlite:"+path, `SELECT value FROM settings WHERE key = 'ip_hash_pepper'`)
	if len(r) != 1 {
		return ""
	}
	return r[0]
}

func countEvents(t *testing.T, dbURL string) int {
	return len(query(t, dbURL, `SELECT id FROM events`))
}

func storedEventIDs(t *testing.T, dbURL string) map[string]bool {
	ids := map[string]bool{}
	for _, id := range query(t, dbURL, `SELECT id FROM events`) {
		ids[id] = true
	}
	return ids
}

func TestMigratePostgres(t *testing.T) {
	dir := t.TempDir()
	dbURL := newDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL}
	// serve on an unmigrated PostgreSQL refuses, naming the fix.
	out, code := run(t, dir, append(env, "HOST=127.0.0.1", "PORT="+strconv.Itoa(freePort(t))), "serve")
	if code == 0 || !strings.Contains(out, "marketing migrate") {
		t.Fatalf("serve on an unmigrated database: exit %d\n%s", code, out)
	}
	// Two at once: both succeed, each migration is applied once.
	var wg sync.WaitGroup
	outs, codes := make([]string, 2), make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], codes[i] = run(t, dir, env, "migrate") }()
	}
	wg.Wait()
	if codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("concurrent migrate: %d %d\n%s\n%s", codes[0], codes[1], outs[0], outs[1])
	}
	applied := strings.Count(outs[0]+outs[1], "applied ")
	rows := query(t, dbURL, `SELECT name FROM schema_migrations`)
	if applied != len(rows) || len(rows) < 1 {
		t.Fatalf("applied %d times for %d migrations\n%s\n%s", applied, len(rows), outs[0], outs[1])
	}
	out, code = run(t, dir, env, "migrate")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate is not a no-op: %d %s", code, out)
	}
	out, code = run(t, dir, env, "migrate", "status")
	if code != 0 || strings.Contains(out, "pending") {
		t.Fatalf("migrate status: %d %s", code, out)
	}
	// The release machine: only DATABASE_URL and the secrets.
	out, code = run(t, dir, []string{"APP_ENV=production", "DATABASE_URL=" + dbURL, "IP_HASH_PEPPER=0123456789abcdef0123456789abcdef"}, "migrate")
	if code != 0 {
		t.Fatalf("production migrate: %d %s", code, out)
	}
}

// TestPostgresOutage: readyz turns 503 within 2 s of PostgreSQL stopping;
// events get 503, never 202, while it is down; both recover without a
// restart of the service.
func TestPostgresOutage(t *testing.T) {
	pgtest.Skip(t)
	c, err := pgtest.Start(pgtest.Options{Durable: true}) // an immediate shutdown must not lose commits
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	dbURL := c.URL("postgres")
	dir := t.TempDir()
	if out, code := run(t, dir, []string{"DATABASE_URL=" + dbURL}, "migrate"); code != 0 {
		t.Fatal(out)
	}
	const key = "outage-admin-key-0123456789abcdef"
	p := start(t, dir, "DATABASE_URL="+dbURL, "RATE_LIMIT_EVENTS_PER_MINUTE=0", "RATE_LIMIT_MAX=100000", "ADMIN_API_KEY="+key)
	ready := func() int {
		client := http.Client{Timeout: 5 * time.Second}
		r, err := client.Get(p.URL + "/v1/readyz")
		if err != nil {
			return 0
		}
		r.Body.Close()
		return r.StatusCode
	}
	if s := ready(); s != 200 {
		t.Fatalf("readyz %d before the outage", s)
	}
	stop := make(chan struct{})
	var acked []string
	var statuses map[int]int
	loaded := make(chan struct{})
	go func() { acked, statuses = hammer(p.URL, 8, stop); close(loaded) }()
	time.Sleep(300 * time.Millisecond)

	c.Halt()
	halted := time.Now()
	for ready() != 503 {
		if time.Since(halted) > 2*time.Second {
			t.Fatalf("readyz still not 503 %v after PostgreSQL stopped", time.Since(halted))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("readyz 503 after %v", time.Since(halted).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	if code, _, err := post(p.URL, `{"anonId":"visitor-outage-01","eventType":"page_view","path":"/down"}`); err != nil || code != 503 {
		t.Fatalf("event during the outage: %d %v, want 503", code, err)
	}
	// Every route that needs the database answers the outage the same way.
	for _, rq := range []struct{ method, path, body, accept string }{
		{"GET", "/v1/admin/leads", "", ""},
		{"GET", "/v1/admin/leads", "", "text/csv"},
		{"GET", "/v1/admin/leads/01234567-89ab-7def-8123-456789abcdef", "", ""},
		{"GET", "/v1/admin/privacy/export?email=someone@example.com", "", ""},
		{"GET", "/v1/metrics/summary?from=2026-01-01&to=2026-01-31", "", ""},
		{"POST", "/v1/stats/query", `{"site_id":"example.com","metrics":["visitors","lcp"],"date_range":"7d","dimensions":["event:page"],"filters":[["is","visit:device",["mobile"]]]}`, ""},
		{"POST", "/v1/stats/query", `{"site_id":"example.com","metrics":["visits","leads"],"date_range":"30d","dimensions":["time:day"]}`, "text/csv"},
		{"GET", "/v1/stats/realtime?site_id=example.com", "", ""},
		{"POST", "/v1/leads/capture", `{"email":"someone@example.com"}`, ""},
		{"POST", "/v1/leads/unsubscribe", `{"email":"someone@example.com"}`, ""},
		{"POST", "/v1/leads/delete", `{"email":"someone@example.com"}`, ""},
	} {
		req, _ := http.NewRequest(rq.method, p.URL+rq.path, strings.NewReader(rq.body))
		req.Header.Set("x-admin-key", key)
		req.Header.Set("User-Agent", ua)
		if rq.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if rq.accept != "" {
			req.Header.Set("Accept", rq.accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 503 || !strings.Contains(string(body), `"unavailable"`) {
			t.Errorf("%s %s (%s) during the outage: %d %s, want 503 unavailable", rq.method, rq.path, rq.accept, res.StatusCode, body)
		}
	}

	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for ready() != 200 {
		if time.Since(back) > 15*time.Second {
			t.Fatal("readyz did not recover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-loaded
	t.Logf("statuses under load through the outage: %v", statuses)
	if statuses[503] == 0 || statuses[202] == 0 {
		t.Fatalf("want both 202s and 503s, got %v", statuses)
	}
	for code := range statuses {
		if code != 202 && code != 503 {
			t.Fatalf("unexpected status %d under the outage: %v\n%s", code, statuses, p.stdout)
		}
	}
	stored := storedEventIDs(t, dbURL)
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("event %s was acknowledged but is not stored", id)
		}
	}
	// More stored than acknowledged is allowed: a commit whose answer was
	// lost with the connection is reported 503, and the retry deduplicates.
}

// TestSmokeScript runs scripts/smoke.sh against a production-mode server on
// PostgreSQL, as an operator would after a deploy.
func TestSmokeScript(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and curl is not installed")
		}
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	dbURL := newDatabase(t)
	secrets := []string{"APP_ENV=production", "DATABASE_URL=" + dbURL, "IP_HASH_PEPPER=smoke-pepper-smoke-pepper-smoke-pepper", "ADMIN_API_KEY=smoke-admin-key-0123456789abcdef"}
	if out, code := run(t, dir, secrets, "migrate"); code != 0 {
		t.Fatal(out)
	}
	p := start(t, dir, append(secrets, "CORS_ALLOWED_ORIGINS=https://www.example.com")...)
	// Twice in a row: the second run meets the rate limit the first one
	// exhausted and must still pass.
	for i := range 2 {
		if i == 1 {
			// Empty this address's event bucket, as a run a moment ago
			// may have left it.
			for n := 0; ; n++ {
				code, _, err := post(p.URL, `{"anonId":"visitor-drain-bucket","propertyId":"smoke-test","eventType":"smoke_burst","path":"/"}`)
				if err != nil || code == 429 {
					break
				}
				if n > 1000 {
					t.Fatal("no 429 after 1000 events")
				}
			}
		}
		cmd := exec.Command("bash", "../../scripts/smoke.sh", p.URL, "smoke-admin-key-0123456789abcdef", "https://www.example.com")
		out, err := cmd.CombinedOutput()
		t.Logf("smoke.sh, run %d:\n%s", i+1, out)
		if err != nil || strings.Contains(string(out), "FAIL") || strings.Contains(string(out), "SKIP") {
			t.Fatalf("smoke checks failed on run %d: %v", i+1, err)
		}
	}
	// It leaves no lead behind, and its events are under their own property.
	if n := query(t, dbURL, `SELECT count(*)::text FROM leads`); n[0] != "0" {
		t.Fatalf("%s leads left behind by the smoke script", n[0])
	}
	if props := query(t, dbURL, `SELECT DISTINCT property_id FROM events WHERE event_type <> 'lead_captured'`); len(props) != 1 || props[0] != "smoke-test" {
		t.Fatalf("smoke events under properties %v, want only smoke-test", props)
	}
	// In production the unsubscribe key is derived from the pepper, not
	// stored next to the data.
	if r := query(t, dbURL, `SELECT key FROM settings WHERE key = 'unsubscribe_secret'`); len(r) != 0 {
		t.Fatal("production stored an unsubscribe secret in the database")
	}
	// A wrong key fails the admin check, by name, with the status and
	// body, and is not blamed on the honeypot check.
	bad := exec.Command("bash", "../../scripts/smoke.sh", p.URL, "wrong-key-wrong-key-wrong-key", "https://www.example.com")
	out, err := bad.CombinedOutput()
	t.Logf("smoke.sh with a wrong key:\n%s", out)
	if err == nil {
		t.Fatal("smoke.sh passed with a wrong admin key")
	}
	for _, want := range []string{"FAIL  admin key: GET /v1/metrics/summary answered 401", `"error":"unauthorized"`, "not the server's ADMIN_API_KEY"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(string(out), "FAIL  honeypot") {
		t.Error("a wrong admin key is blamed on the honeypot check")
	}
}
