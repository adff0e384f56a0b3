package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUnsubscribeKeyFromTheEnvironment: in production the key that signs
// unsubscribe links is derived from IP_HASH_PEPPER, not kept in the
// database: a link survives a restart with the same pepper and no longer
// verifies under another one.
func TestUnsubscribeKeyFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	dbURL := newDatabase(t)
	const key = "unsub-admin-key-0123456789abcdef"
	secrets := func(pepper string) []string {
		return []string{"APP_ENV=production", "DATABASE_URL=" + dbURL, "IP_HASH_PEPPER=" + pepper, "ADMIN_API_KEY=" + key,
			"CORS_ALLOWED_ORIGINS=https://www.example.com"}
	}
	pepper := "unsub-pepper-unsub-pepper-unsub-pepper"
	if out, code := run(t, dir, secrets(pepper), "migrate"); code != 0 {
		t.Fatal(out)
	}
	do := func(p *proc, method, path, body string, admin bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", ua)
		if admin {
			req.Header.Set("x-admin-key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	stop := func(p *proc) {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 25*time.Second); code != 0 {
			t.Fatalf("exit %d\n%s", code, p.stderr)
		}
	}

	p := start(t, dir, secrets(pepper)...)
	if code, m := do(p, "POST", "/v1/leads/capture", `{"email":"unsub-e2e@example.com","consentStatus":"pending"}`, false); code != 200 {
		t.Fatalf("capture: %d %v", code, m)
	}
	code, m := do(p, "GET", "/v1/admin/privacy/export?email=unsub-e2e%40example.com", "", true)
	link, _ := m["unsubscribeUrl"].(string)
	u, err := url.Parse(link)
	if code != 200 || err != nil || u.Query().Get("token") == "" {
		t.Fatalf("export: %d %v", code, m)
	}
	token := u.Query().Get("token")
	stop(p)
	if r := query(t, dbURL, `SELECT key FROM settings WHERE key = 'unsubscribe_secret'`); len(r) != 0 {
		t.Fatal("production stored an unsubscribe secret in the database")
	}

	// Another pepper: the old link no longer verifies (the key is not in
	// the database).
	other := start(t, dir, secrets("other-pepper-other-pepper-other-pepper")...)
	if code, m := do(other, "POST", "/v1/leads/unsubscribe", `{"token":"`+token+`"}`, false); code != 400 {
		t.Fatalf("a link verified under another pepper: %d %v", code, m)
	}
	stop(other)

	// The same pepper after a restart: it does.
	again := start(t, dir, secrets(pepper)...)
	if code, m := do(again, "POST", "/v1/leads/unsubscribe", `{"token":"`+token+`"}`, false); code != 200 || m["found"] != true {
		t.Fatalf("unsubscribe after a restart: %d %v", code, m)
	}
	stop(again)
}
