package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing/internal/config"
)

// newBareServer is the real server over a configuration alone (no store):
// enough for routes that touch none, with any socket peer.
func newBareServer(t *testing.T, log *slog.Logger, now func() time.Time, vars ...string) *server {
	t.Helper()
	vals := map[string]string{"APP_ENV": "test", "CORS_ALLOWED_ORIGINS": "https://www.example.com"}
	for i := 0; i+1 < len(vars); i += 2 {
		vals[vars[i]] = vars[i+1]
	}
	cfg, err := config.Load(func(k string) string { return vals[k] })
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return NewServer(Deps{Config: cfg, Logger: log, Version: "test", Now: now}).(*server)
}

// serve sends one request from peer through the whole server.
func serve(s *server, method, path, peer string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = peer
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestClientIPTrustsOnlyTheProxy(t *testing.T) {
	fly := newBareServer(t, nil, nil, "TRUSTED_PROXY", "fly")
	cf := newBareServer(t, nil, nil, "TRUSTED_PROXY", "cloudflare")
	none := newBareServer(t, nil, nil, "TRUSTED_PROXY", "none")
	for _, c := range []struct {
		name    string
		s       *server
		peer    string
		headers []string
		want    string
	}{
		{"fly proxy over the private IPv4 network", fly, "172.19.2.10:50000", []string{"Fly-Client-IP", "198.51.100.7"}, "198.51.100.7"},
		{"fly proxy over 6PN", fly, "[fdaa:0:1:a7b::2]:50000", []string{"Fly-Client-IP", "2001:db8::5"}, "2001:db8::5"},
		{"direct client on fly", fly, "203.0.113.9:50000", []string{"Fly-Client-IP", "198.51.100.7"}, "203.0.113.9"},
		{"loopback on fly", fly, "127.0.0.1:50000", []string{"Fly-Client-IP", "198.51.100.7"}, "127.0.0.1"},
		{"a list", fly, "172.19.2.10:50000", []string{"Fly-Client-IP", "6.6.6.6, 198.51.100.7"}, "172.19.2.10"},
		{"a repeated header", fly, "172.19.2.10:50000", []string{"Fly-Client-IP", "6.6.6.6", "Fly-Client-IP", "198.51.100.7"}, "172.19.2.10"},
		{"not an IP", fly, "172.19.2.10:50000", []string{"Fly-Client-IP", "nope"}, "172.19.2.10"},
		{"missing", fly, "172.19.2.10:50000", nil, "172.19.2.10"},
		{"the other proxy's header", fly, "172.19.2.10:50000", []string{"CF-Connecting-IP", "198.51.100.7"}, "172.19.2.10"},
		{"cloudflare edge", cf, "162.158.1.2:443", []string{"CF-Connecting-IP", "198.51.100.7"}, "198.51.100.7"},
		{"cloudflare edge v6", cf, "[2606:4700::1]:443", []string{"CF-Connecting-IP", "198.51.100.7"}, "198.51.100.7"},
		{"direct client on cloudflare", cf, "203.0.113.9:443", []string{"CF-Connecting-IP", "198.51.100.7"}, "203.0.113.9"},
		{"no proxy", none, "172.19.2.10:50000", []string{"Fly-Client-IP", "198.51.100.7"}, "172.19.2.10"},
	} {
		r := httptest.NewRequest("GET", "/v1/healthz", nil)
		r.RemoteAddr = c.peer
		for i := 0; i+1 < len(c.headers); i += 2 {
			r.Header.Add(c.headers[i], c.headers[i+1])
		}
		if got := c.s.clientIP(r); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestRateLimitIPv6Per64: one /64 is one client; the next /64 is another.
func TestRateLimitIPv6Per64(t *testing.T) {
	s := newBareServer(t, nil, nil, "RATE_LIMIT_MAX", "3")
	for i, peer := range []string{"[2001:db8:0:1::1]:1", "[2001:db8:0:1::2]:1", "[2001:db8:0:1:ffff:ffff:ffff:ffff]:1"} {
		if w := serve(s, "GET", "/v1/healthz", peer); w.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, w.Code)
		}
	}
	if w := serve(s, "GET", "/v1/healthz", "[2001:db8:0:1:abcd::9]:1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("fourth address of the /64: %d, want 429", w.Code)
	}
	if w := serve(s, "GET", "/v1/healthz", "[2001:db8:0:2::1]:1"); w.Code != http.StatusOK {
		t.Fatalf("the next /64: %d", w.Code)
	}
	// IPv4 stays per address.
	for _, peer := range []string{"192.0.2.1:1", "192.0.2.1:2", "192.0.2.1:3"} {
		serve(s, "GET", "/v1/healthz", peer)
	}
	if w := serve(s, "GET", "/v1/healthz", "192.0.2.2:1"); w.Code != http.StatusOK {
		t.Fatalf("a neighbouring IPv4 address: %d", w.Code)
	}
}

// TestAdminNotConfiguredNoRetryAfter: a configuration problem is not
// something a client waits out.
func TestAdminNotConfiguredNoRetryAfter(t *testing.T) {
	s := newBareServer(t, nil, nil)
	w := serve(s, "GET", "/v1/admin/leads", "192.0.2.1:1", "x-admin-key", "anything")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "admin_auth_not_configured") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if v := w.Header().Get("Retry-After"); v != "" {
		t.Fatalf("Retry-After: %s on a configuration problem", v)
	}
}

// TestRefusalsLoggedSampled: a flood of refusals writes a few lines and a
// count, not a line each; other requests keep their line.
func TestRefusalsLoggedSampled(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	s := newBareServer(t, slog.New(slog.NewJSONHandler(&buf, nil)), func() time.Time { return now }, "RATE_LIMIT_MAX", "2")
	codes := map[int]int{}
	for range 1000 {
		codes[serve(s, "GET", "/v1/healthz", "192.0.2.1:1").Code]++
	}
	for range 500 {
		codes[serve(s, "OPTIONS", "/v1/healthz", "192.0.2.2:1", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST").Code]++
	}
	if codes[200] != 2 || codes[429] != 998+498 || codes[403] != 2 {
		t.Fatalf("statuses %v", codes)
	}
	type line struct {
		Msg    string `json:"msg"`
		Status int    `json:"status"`
		Count  int    `json:"count"`
	}
	lines := func() []line {
		var out []line
		for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			var x line
			if err := json.Unmarshal(l, &x); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			out = append(out, x)
		}
		buf.Reset()
		return out
	}
	got := lines()
	if len(got) != 2+1+1 {
		t.Fatalf("%d log lines for 1,500 requests, want 4 (2 × 200, the first 429, the first 403)", len(got))
	}
	// A minute on: the next request logs the counts, then its own line.
	now = now.Add(61 * time.Second)
	serve(s, "GET", "/v1/healthz", "192.0.2.3:1")
	counts, requests := map[int]int{}, 0
	for _, l := range lines() {
		switch l.Msg {
		case "requests refused in the last minute":
			counts[l.Status] = l.Count
		case "request":
			requests++
		}
	}
	if requests != 1 {
		t.Fatalf("%d request lines for one request", requests)
	}
	if counts[429] != 998+498-1 || counts[403] != 1 {
		t.Fatalf("summaries %v, want 429: %d, 403: 1", counts, 998+498-1)
	}
	if got := lines(); len(got) != 0 {
		t.Fatalf("lines left over: %v", got)
	}
}
