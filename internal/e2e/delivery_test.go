package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/altcontext/marketing/internal/deliverytest"
)

// TestTwoServesOnePostgres: two serve processes on one PostgreSQL, each
// running a delivery worker, deliver each message once (claims never
// overlap while a lease lives), whichever process took the capture.
func TestTwoServesOnePostgres(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DATABASE_URL=" + newDatabase(t), "RATE_LIMIT_LEADS_PER_MINUTE=0", "WEBHOOK_ALLOW_PRIVATE=true",
		"CORS_ALLOWED_ORIGINS=https://www.example.com"}
	if out, code := run(t, dir, env, "migrate"); code != 0 {
		t.Fatal(out)
	}
	recv := deliverytest.NewReceiver(t, "", 0)
	cmd := exec.Command(binary, "webhooks", "add", recv.URL+"/hook")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("webhooks add: %v", err)
	}
	recv.Secret = strings.TrimSpace(string(out))
	a, b := start(t, dir, env...), start(t, dir, env...)
	const n = 300
	for i := range n {
		p := a
		if i%2 == 1 {
			p = b
		}
		capture(t, p.URL, fmt.Sprintf("two%03d@example.com", i))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, accepted, _ := recv.Counts(); accepted == n {
			break
		}
		if time.Now().After(deadline) {
			_, _, accepted, _ := recv.Counts()
			t.Fatalf("%d of %d delivered", accepted, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a second delivery of anything would arrive now
	requests, bad, accepted, dups := recv.Counts()
	if requests != n || bad != 0 || accepted != n || dups != 0 {
		t.Fatalf("%d requests, %d badly signed, %d accepted, %d duplicates: want each message once", requests, bad, accepted, dups)
	}
}

func capture(t *testing.T, url, email string) {
	t.Helper()
	postLead(t, url, "https://www.example.com", `{"email":"`+email+`"}`)
}

// postLead posts a lead capture as a site's form would (its Origin, a
// browser's user agent) and fails the test unless it answers 200.
func postLead(t *testing.T, url, origin, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/leads/capture", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set("User-Agent", ua)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("lead capture %s: %d", body, res.StatusCode)
	}
}

// adminCall sends a JSON body ("" for none) to an API route with an admin
// key, plus header name/value pairs (an empty value is not sent), and
// returns the status and the raw answer.
func adminCall(t *testing.T, method, url, key, body string, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("x-admin-key", key)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, raw
}

// TestKill9MidDelivery: serve is killed with SIGKILL while webhooks are in
// flight; after a restart every message is delivered at least once, and the
// idempotent receiver accepts each webhook-id once. Claims of the killed
// process are taken over when their lease (1 min) runs out.
func TestKill9MidDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a lease to run out")
	}
	dir := t.TempDir()
	env := []string{"DATABASE_URL=sqlite:" + filepath.Join(dir, "data", "marketing.db"), "RATE_LIMIT_LEADS_PER_MINUTE=0",
		"WEBHOOK_ALLOW_PRIVATE=true", "CORS_ALLOWED_ORIGINS=https://www.example.com"}
	if out, code := run(t, dir, env, "migrate"); code != 0 {
		t.Fatal(out)
	}
	recv := deliverytest.NewReceiver(t, "", 0)
	recv.SetDelay(40 * time.Millisecond)
	// `webhooks add` prints the secret alone on standard output.
	cmd := exec.Command(binary, "webhooks", "add", recv.URL+"/hook", "--include-email")
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("webhooks add: %v", err)
	}
	secret := strings.TrimSpace(string(out))
	if !strings.HasPrefix(secret, "whsec_") || strings.Contains(secret, "\n") {
		t.Fatalf("webhooks add printed %q", out)
	}
	recv.Secret = secret
	if out, code := run(t, dir, env, "webhooks", "list"); code != 0 || !strings.Contains(out, recv.URL) || strings.Contains(out, secret) {
		t.Fatalf("webhooks list (%d): %s", code, out)
	}

	p := start(t, dir, env...)
	const n = 200
	for i := range n {
		capture(t, p.URL, fmt.Sprintf("kill%03d@example.com", i))
	}
	// Kill once some, not all, are delivered: the rest are claimed or queued.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, accepted, _ := recv.Counts(); accepted >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing delivered\n%s", p.stdout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t, 10*time.Second)
	_, _, before, _ := recv.Counts()
	if before >= n {
		t.Fatalf("all %d delivered before the kill: the test proves nothing", n)
	}
	p2 := start(t, dir, env...)
	deadline = time.Now().Add(100 * time.Second)
	for {
		if _, _, accepted, _ := recv.Counts(); accepted == n {
			break
		}
		if time.Now().After(deadline) {
			_, _, accepted, _ := recv.Counts()
			t.Fatalf("%d of %d delivered after the restart\n%s", accepted, n, p2.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	requests, bad, accepted, dups := recv.Counts()
	t.Logf("%d delivered before the kill; after: %d requests, %d accepted, %d repeats of accepted ids (at least once)", before, requests, accepted, dups)
	if bad != 0 || accepted != n {
		t.Fatalf("%d badly signed, %d accepted", bad, accepted)
	}
	for _, d := range recv.Deliveries() {
		if d.Type != "lead.created" || !strings.HasPrefix(fmt.Sprint(d.Data["email"]), "kill") {
			t.Fatalf("delivery %+v", d)
		}
	}
	// A message the killed process sent but had not yet recorded is sent
	// again once its lease runs out (the receiver accepts it once): wait
	// for the outbox to say every message is delivered.
	deadline = time.Now().Add(100 * time.Second)
	for {
		out, code := run(t, dir, env, "webhooks", "messages", "--status", "pending")
		if code == 0 && strings.Count(out, "\n") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending messages left (%d):\n%s", code, out)
		}
		time.Sleep(time.Second)
	}
	if _, bad, accepted, _ := recv.Counts(); bad != 0 || accepted != n {
		t.Fatalf("after the outbox emptied: %d badly signed, %d accepted", bad, accepted)
	}
}
