package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// makeTarget starts `make args…` at the repository root in its own process
// group, as a terminal runs it, so that Ctrl-C can be sent to all of it.
func makeTarget(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	if testing.Short() {
		t.Skip("builds the binaries with make")
	}
	cmd := exec.Command("make", args...)
	cmd.Dir = "../.."
	cmd.Env = append(topLevelEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	return cmd, out
}

// topLevelEnv is this process's environment without what a parent make
// (make test) passes down: the make under test runs as a user's would.
func topLevelEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MAKELEVEL" && k != "MFLAGS" && k != "MAKEOVERRIDES" {
			env = append(env, kv)
		}
	}
	return env
}

func waitFor(t *testing.T, url string, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // make builds first
	for time.Now().Before(deadline) {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered\n%s", url, out)
}

// ctrlC sends SIGINT to make's whole process group, as `kill -INT -PGID`
// or a supervisor without a terminal does, and checks everything ends
// quietly: the server drained, nothing left listening, no "make: ***"
// line, no crash of the recipe's shell. (make, signalled itself, then
// re-raises the SIGINT on itself, as GNU make always does; in a terminal
// only the foreground job gets it, and make exits 0: pty_linux_test.go.)
func ctrlC(t *testing.T, cmd *exec.Cmd, out *syncBuffer, ports ...int) {
	t.Helper()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("make did not stop on Ctrl-C\n%s", out)
	}
	quiet(t, out, ports...)
}

// quiet checks that a stopped make said nothing alarming, that the server
// drained, and that nothing is left listening on ports.
func quiet(t *testing.T, out *syncBuffer, ports ...int) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // the last of the output
	s := out.String()
	for _, bad := range []string{"***", "Segmentation fault", "Error", "Terminated"} {
		if strings.Contains(s, bad) {
			t.Errorf("Ctrl-C output has %q:\n%s", bad, s)
		}
	}
	if !strings.Contains(s, `"msg":"stopped"`) {
		t.Errorf("the server did not drain and stop:\n%s", s)
	}
	for _, p := range ports {
		if c, err := http.Get("http://127.0.0.1:" + strconv.Itoa(p) + "/"); err == nil {
			c.Body.Close()
			t.Errorf("port %d still answers after Ctrl-C", p)
		}
	}
}

// TestMakeDemo: the demo accepts events from the site opened as
// http://localhost:PORT as well as http://127.0.0.1:PORT, and Ctrl-C
// stops both processes quietly.
func TestMakeDemo(t *testing.T) {
	api, site := freePort(t), freePort(t)
	cmd, out := makeTarget(t, nil, "demo", "DEMO_API_PORT="+strconv.Itoa(api), "DEMO_SITE_PORT="+strconv.Itoa(site),
		"DEMO_DB="+filepath.Join(t.TempDir(), "demo.db"))
	apiURL := "http://127.0.0.1:" + strconv.Itoa(api)
	waitFor(t, apiURL+"/v1/healthz", out)
	waitFor(t, "http://127.0.0.1:"+strconv.Itoa(site)+"/", out)
	for _, origin := range []string{"http://127.0.0.1:" + strconv.Itoa(site), "http://localhost:" + strconv.Itoa(site)} {
		req, _ := http.NewRequest("POST", apiURL+"/v1/events", strings.NewReader(`{"anonId":"visitor-demo-0001","eventType":"page_view","path":"/"}`))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("User-Agent", ua)
		req.Header.Set("Origin", origin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 202 {
			t.Errorf("an event from the demo site opened as %s: %d, want 202", origin, res.StatusCode)
		}
	}
	ctrlC(t, cmd, out, api, site)
}

// TestMakeRun: Ctrl-C on make run stops the server gracefully and quietly.
func TestMakeRun(t *testing.T) {
	port := freePort(t)
	cmd, out := makeTarget(t, []string{"PORT=" + strconv.Itoa(port), "HOST=127.0.0.1", "METRICS_ADDR=off",
		"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "run.db")}, "run")
	waitFor(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/v1/healthz", out)
	ctrlC(t, cmd, out, port)
}

// TestMakeClean: clean removes build output only; deleting ./data (every
// lead) is its own target, which says what it deletes.
func TestMakeClean(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	dry := func(target string) string {
		cmd := exec.Command("make", "-n", target)
		cmd.Dir = "../.."
		cmd.Env = topLevelEnv()
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, b)
		}
		return string(b)
	}
	if s := dry("clean"); strings.Contains(s, "data") {
		t.Errorf("make clean touches data:\n%s", s)
	}
	if s := dry("clean-data"); !strings.Contains(s, "rm -rf data") || !strings.Contains(s, "every event, lead and consent record") {
		t.Errorf("make clean-data does not say what it deletes:\n%s", s)
	}
}
