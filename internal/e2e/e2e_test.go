// Package e2e runs the built binary as a user would: real processes, real
// ports, real databases, signals.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "marketing-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "marketing")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/marketing")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := runWithPostgres(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a running `marketing` process.
type proc struct {
	cmd    *exec.Cmd
	URL    string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs a subcommand to completion in dir with env (KEY=VALUE).
func run(t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// start runs `marketing serve` on a free port and waits for healthz.
func start(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=" + strconv.Itoa(port), "HOST=127.0.0.1", "METRICS_ADDR=off"}, env...)
	p := &proc{cmd: cmd, URL: "http://127.0.0.1:" + strconv.Itoa(port), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	p.waitHealthy(t, "serve")
	return p
}

// waitHealthy polls /v1/healthz until it answers 200, failing the test if
// the process exits first or 20 s pass.
func (p *proc) waitHealthy(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			t.Fatalf("%s exited early: %v\n%s\n%s", what, err, p.stdout, p.stderr)
		default:
		}
		if r, err := http.Get(p.URL + "/v1/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("%s did not become healthy\n%s\n%s", what, p.stdout, p.stderr)
}

// wait waits for the process to exit and returns its code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("process did not exit within %v", within)
	}
	return -1
}

const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// post sends one event and returns the status and the decoded answer.
func post(url, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("User-Agent", ua)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, nil
}

func TestServeSQLiteDefault(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir)
	r, err := http.Get(p.URL + "/v1/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.NewDecoder(r.Body).Decode(&h)
	r.Body.Close()
	if h["ok"] != true || h["service"] != "marketing" {
		t.Fatalf("healthz %v", h)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "marketing.db")); err != nil {
		t.Fatalf("no database under ./data: %v", err)
	}
	if n := strings.Count(p.stderr.String(), "admin key"); n != 1 {
		t.Fatalf("admin key printed %d times:\n%s", n, p.stderr)
	}
	if strings.Contains(p.stdout.String(), "admin key") {
		t.Fatal("the admin key reached the JSON log")
	}
	if code, _, _ := post(p.URL, `{"anonId":"visitor-e2e-0001","eventType":"page_view","path":"/"}`); code != 202 {
		t.Fatalf("event: %d", code)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 25*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	pepper1 := setting(t, dir)
	// A restart reuses the stored pepper: the same visitor stays the same.
	p2 := start(t, dir)
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	p2.wait(t, 25*time.Second)
	if pepper2 := setting(t, dir); pepper1 == "" || pepper1 != pepper2 {
		t.Fatalf("pepper changed across restarts: %q → %q", pepper1, pepper2)
	}
}

// setting reads the stored pepper through the binary's own store, by way of
// `config check`, which must not print it: so read the file with sqlite.
func setting(t *testing.T, dir string) string {
	t.Helper()
	return readPepper(t, filepath.Join(dir, "data", "marketing.db"))
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	out, code := run(t, dir, []string{"APP_ENV=production", "DATABASE_URL=postgres://x@127.0.0.1:1/x"}, "serve")
	if code == 0 || !strings.Contains(out, "IP_HASH_PEPPER") {
		t.Fatalf("production without a pepper: exit %d\n%s", code, out)
	}
	out, code = run(t, dir, []string{"SCHEDULER_ENABLED=maybe"}, "config", "check")
	if code == 0 || !strings.Contains(out, "SCHEDULER_ENABLED") {
		t.Fatalf("SCHEDULER_ENABLED=maybe: exit %d\n%s", code, out)
	}
	out, code = run(t, dir, []string{"IP_HASH_PEPPER=0123456789abcdef0123456789abcdef", "ADMIN_API_KEY=abcdefghijklmnopqrstuvwxyz"}, "config", "check")
	if code != 0 || strings.Contains(out, "0123456789abcdef0123456789abcdef") || strings.Contains(out, "abcdefghijklmnopqrstuvwxyz") {
		t.Fatalf("config check leaks or fails: exit %d\n%s", code, out)
	}
	if out, code := run(t, dir, nil, "version"); code != 0 || !strings.HasPrefix(out, "marketing ") {
		t.Fatalf("version: %d %s", code, out)
	}
}

// TestSIGTERMDrains: a request still uploading its body when SIGTERM
// arrives completes with 202, and the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir)
	const n = 8
	pipes := make([]*io.PipeWriter, n)
	results := make(chan int, n)
	for i := range n {
		pr, pw := io.Pipe()
		pipes[i] = pw
		go func() {
			req, _ := http.NewRequest("POST", p.URL+"/v1/events", pr)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", ua)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- 0
				return
			}
			res.Body.Close()
			results <- res.StatusCode
		}()
		fmt.Fprintf(pw, `{"anonId":"visitor-drain-%04d",`, i)
	}
	time.Sleep(300 * time.Millisecond) // the requests are in flight
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, pw := range pipes {
		fmt.Fprint(pw, `"eventType":"page_view","path":"/"}`)
		pw.Close()
	}
	for range n {
		if code := <-results; code != 202 {
			t.Fatalf("in-flight request answered %d, want 202", code)
		}
	}
	if code := p.wait(t, 25*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.stderr)
	}
	if n2 := countEvents(t, "sqlite:"+filepath.Join(dir, "data", "marketing.db")); n2 != n {
		t.Fatalf("%d events stored, want %d", n2, n)
	}
}

// hammer posts events with unique eventIds from several goroutines until
// stop, returning the ids that got a 202 and the statuses seen.
func hammer(url string, workers int, stop <-chan struct{}) (acked []string, statuses map[int]int) {
	var mu sync.Mutex
	statuses = map[int]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%08x-0000-4000-8000-%012x", w, i)
				code, m, err := post(url, `{"eventId":"`+id+`","anonId":"visitor-load-`+strconv.Itoa(w%7)+`-xx","eventType":"page_view","path":"/p`+strconv.Itoa(i%5)+`"}`)
				mu.Lock()
				statuses[code]++
				if code == 202 {
					eid, _ := m["eventId"].(string)
					acked = append(acked, eid)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return acked, statuses
}

func TestKill9LosesNothingAcknowledged(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			dbURL := "sqlite:" + filepath.Join(dir, "data", "marketing.db")
			env := []string{"RATE_LIMIT_EVENTS_PER_MINUTE=0"}
			if backend == "postgres" {
				dbURL = newDatabase(t)
				if out, code := run(t, dir, []string{"DATABASE_URL=" + dbURL}, "migrate"); code != 0 {
					t.Fatal(out)
				}
			}
			p := start(t, dir, append(env, "DATABASE_URL="+dbURL)...)
			stop := make(chan struct{})
			var acked []string
			var statuses map[int]int
			done := make(chan struct{})
			go func() { acked, statuses = hammer(p.URL, 16, stop); close(done) }()
			time.Sleep(700 * time.Millisecond)
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			p.wait(t, 10*time.Second)
			close(stop)
			<-done
			if len(acked) < 50 {
				t.Fatalf("only %d events acknowledged before the kill (%v): the test proves nothing", len(acked), statuses)
			}
			stored := storedEventIDs(t, dbURL)
			missing := 0
			for _, id := range acked {
				if !stored[id] {
					missing++
				}
			}
			t.Logf("%s: %d acknowledged, %d stored, statuses %v", backend, len(acked), len(stored), statuses)
			if missing > 0 {
				t.Fatalf("%d acknowledged events are not in the database", missing)
			}
		})
	}
}

func TestJobCommands(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DATABASE_URL=sqlite:" + filepath.Join(dir, "m.db")}
	if out, code := run(t, dir, env, "migrate"); code != 0 {
		t.Fatal(out)
	}
	p := start(t, dir, env...)
	for i := range 3 {
		if code, _, _ := post(p.URL, fmt.Sprintf(`{"anonId":"visitor-cli-%04d","eventType":"page_view","path":"/"}`, i)); code != 202 {
			t.Fatal(code)
		}
	}
	today := time.Now().UTC().Format(time.DateOnly)
	out, code := run(t, dir, env, "rollups", "run", "--from", today, "--to", today)
	if code != 0 || !strings.Contains(out, "rolled up 1 day") {
		t.Fatalf("rollups run: %d %s", code, out)
	}
	if out, code := run(t, dir, env, "rollups", "discrepancy", "--from", today, "--to", today); code != 0 || !strings.Contains(out, "no rollup discrepancies") {
		t.Fatalf("discrepancy after a run: %d %s", code, out)
	}
	if code, _, _ := post(p.URL, `{"anonId":"visitor-cli-late","eventType":"page_view","path":"/late"}`); code != 202 {
		t.Fatal(code)
	}
	if out, code := run(t, dir, env, "rollups", "discrepancy", "--from", today, "--to", today); code != 2 || !strings.Contains(out, "total_page_views raw=4 rollup=3") {
		t.Fatalf("discrepancy with a late event: exit %d, want 2\n%s", code, out)
	}
	// On its defaults (what docs/deploy.md runs) it compares complete days
	// only: today's rollup is behind the raw rows by design.
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	if out, code := run(t, dir, env, "rollups", "discrepancy"); code != 0 || !strings.Contains(out, ".."+yesterday) || !strings.Contains(out, "no rollup discrepancies") {
		t.Fatalf("discrepancy on its defaults, with today's rollup partial: exit %d, want 0 over a window ending %s\n%s", code, yesterday, out)
	}
	if out, code := run(t, dir, env, "rollups", "run", "--property-id", "x"); code != 2 || !strings.Contains(out, "property-id") {
		t.Fatalf("rollups run --property-id is not refused: exit %d\n%s", code, out)
	}
	if out, code := run(t, dir, env, "rollups", "status"); code != 0 || !strings.Contains(out, "rolledUpThrough: "+today) {
		t.Fatalf("status: %d %s", code, out)
	}
	if out, code := run(t, dir, env, "retention", "purge", "--dry-run"); code != 0 || !strings.Contains(out, "dry run") || !strings.Contains(out, "events") {
		t.Fatalf("purge dry run: %d %s", code, out)
	}
	if out, code := run(t, dir, env, "rollups", "run", "--from", "2026-13-01"); code != 2 {
		t.Fatalf("bad day: %d %s", code, out)
	}
	if out, code := run(t, dir, env, "rollups", "refresh-view"); code == 0 || !strings.Contains(out, "PostgreSQL") {
		t.Fatalf("refresh-view on SQLite: %d %s", code, out)
	}
}

// TestPrometheusMetrics: the series answer on METRICS_ADDR only; a bare
// port there means 127.0.0.1:PORT outside production.
func TestPrometheusMetrics(t *testing.T) {
	dir := t.TempDir()
	mport := freePort(t)
	p := start(t, dir, "METRICS_ADDR="+strconv.Itoa(mport))
	if code, _, _ := post(p.URL, `{"anonId":"visitor-prom-01","eventType":"page_view","path":"/"}`); code != 202 {
		t.Fatal(code)
	}
	if code, _, _ := post(p.URL, `{"anonId":"visitor-prom-02","eventType":"page_view","path":"/","honeypot":"x"}`); code != 202 {
		t.Fatal(code)
	}
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, series := range []string{"marketing_http_requests_total", "marketing_http_request_duration_seconds", "marketing_events_accepted_total 1",
		`marketing_events_dropped_total{endpoint="/v1/events",reason="honeypot"} 1`, "marketing_ingest_batch_events", "marketing_ingest_commit_seconds",
		"marketing_ingest_queue_depth", "marketing_leads_captured_total", "go_goroutines"} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if r, err := http.Get(p.URL + "/metrics"); err != nil || r.StatusCode != 404 {
		t.Fatalf("the public port answers /metrics: %v %v", r.StatusCode, err)
	}
}

// TestTwoLocalInstances: outside production the metrics listener is off
// unless asked for, so two local servers (and :9091 taken) never collide.
func TestTwoLocalInstances(t *testing.T) {
	if l, err := net.Listen("tcp", ":9091"); err == nil {
		defer l.Close() // else something holds it already: the same test
	}
	a := start(t, t.TempDir(), "METRICS_ADDR=")
	b := start(t, t.TempDir(), "METRICS_ADDR=")
	for _, p := range []*proc{a, b} {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 25*time.Second); code != 0 {
			t.Fatalf("exit %d\n%s", code, p.stderr)
		}
	}
	if out, code := run(t, t.TempDir(), nil, "config", "check"); code != 0 || !strings.Contains(out, "METRICS_ADDR=off") {
		t.Fatalf("config check does not say the metrics listener is off: %d\n%s", code, out)
	}
}
