package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestEnvelopeAndLimits(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.do("GET", "/v1/nope", "").expect(t, 404, "not_found")
	// Outside /v1/ the dashboard answers: an HTML page, not the envelope.
	if r := e.do("GET", "/nope", ""); r.Status != 404 || !strings.HasPrefix(r.Raw, "<!doctype html>") {
		t.Fatalf("GET /nope: %d %.80s", r.Status, r.Raw)
	}
	e.do("POST", "/nope", "").expect(t, 404, "not_found")
	r := e.do("DELETE", "/v1/healthz", "").expect(t, 405, "method_not_allowed")
	if !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Fatalf("405 without Allow: %v", r.Header)
	}
	big := `{"eventType":"x","path":"/","props":{"a":"` + strings.Repeat("a", 2<<20) + `"}}`
	e.do("POST", "/v1/events", big).expect(t, 413, "body_too_large")
	e.do("POST", "/v1/events", `{"eventType":"x"}`, "Content-Type: application/xml").expect(t, 415, "unsupported_media_type")
	if id := e.do("GET", "/v1/healthz", "", "X-Request-Id: abc-123").Header.Get("X-Request-Id"); id != "abc-123" {
		t.Fatalf("request id not echoed: %q", id)
	}
	if id := e.do("GET", "/v1/healthz", "").Header.Get("X-Request-Id"); len(id) < 8 {
		t.Fatalf("request id not generated: %q", id)
	}
}

func TestHealth(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		r := e.do("GET", "/v1/healthz", "").expect(t, 200, "")
		if r.Body["ok"] != true || r.Body["service"] != "marketing" || r.Body["version"] != "test" || r.Body["timestamp"] == nil {
			t.Fatalf("healthz body %s", r.Raw)
		}
		if r := e.do("GET", "/v1/readyz", "").expect(t, 200, ""); r.Body["ok"] != true {
			t.Fatalf("readyz body %s", r.Raw)
		}
	})
}

func TestCORS(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do("OPTIONS", "/v1/events", "", "Origin: "+site, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type")
	if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != site ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Fatalf("preflight from an allowed origin: %d %v", r.Status, r.Header)
	}
	e.do("OPTIONS", "/v1/events", "", "Origin: https://evil.example", "Access-Control-Request-Method: POST").expect(t, 403, "origin_not_allowed")
	ev := `{"anonId":"visitor-0001","eventType":"page_view","path":"/"}`
	e.do("POST", "/v1/events", ev, "Origin: https://evil.example").expect(t, 403, "origin_not_allowed")
	e.do("POST", "/v1/events", ev, "Origin: null").expect(t, 403, "origin_not_allowed")
	if n := e.count(`SELECT count(*) FROM events`); n != 0 {
		t.Fatalf("a foreign origin stored %d events", n)
	}
	r = e.do("POST", "/v1/events", ev, "Origin: "+site).expect(t, 202, "")
	if r.Header.Get("Access-Control-Allow-Origin") != site {
		t.Fatal("allowed origin not echoed")
	}
	e.do("POST", "/v1/events", ev).expect(t, 202, "") // no Origin: curl, servers
	// GET from a foreign origin is answered, but not readable by its page.
	if r := e.do("GET", "/v1/healthz", "", "Origin: https://evil.example").expect(t, 200, ""); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin echoed")
	}
}

func TestRateLimitTrustedProxy(t *testing.T) {
	// The test server's peer is 127.0.0.1, not Fly's proxy: the header is
	// the client's own word and changes nothing.
	e := newEnv(t, "sqlite", "TRUSTED_PROXY=fly", "RATE_LIMIT_MAX=3")
	for i := range 3 {
		e.do("GET", "/v1/healthz", "", "Fly-Client-IP: 198.51.100."+strconv.Itoa(i+1)).expect(t, 200, "")
	}
	r := e.do("GET", "/v1/healthz", "", "Fly-Client-IP: 198.51.100.9").expect(t, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}

	// Without a trusted proxy, headers change nothing: the peer is the key.
	n := newEnv(t, "sqlite", "RATE_LIMIT_MAX=2")
	n.do("GET", "/v1/healthz", "", "Fly-Client-IP: 1.1.1.1").expect(t, 200, "")
	n.do("GET", "/v1/healthz", "", "Fly-Client-IP: 2.2.2.2", "X-Forwarded-For: 3.3.3.3").expect(t, 200, "")
	n.do("GET", "/v1/healthz", "", "Fly-Client-IP: 4.4.4.4").expect(t, 429, "rate_limited")
}

// TestFlyClientIPFromAnyPeer: with TRUSTED_PROXY=fly, a client reaching the
// port directly and naming a new address each time is still one client: its
// admin-key guesses run into the limit.
func TestFlyClientIPFromAnyPeer(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("TRUSTED_PROXY=fly")
		limited := 0
		for i := range 300 {
			ip := "198.51." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1)
			r := e.do("GET", "/v1/admin/leads", "", "Fly-Client-IP: "+ip, "x-admin-key: guess-"+strconv.Itoa(i))
			switch r.Status {
			case 401:
			case 429:
				limited++
			default:
				t.Fatalf("guess %d: %d", i, r.Status)
			}
		}
		if limited == 0 {
			t.Fatal("300 guesses under rotating Fly-Client-IP values were never rate limited")
		}
	})
}

func TestTrackerServed(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do("GET", "/v1/tracker.js", "", "Accept-Encoding: identity")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(r.Raw, "sendBeacon") {
		t.Fatalf("tracker: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	etag := r.Header.Get("ETag")
	if etag == "" || !strings.Contains(r.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("caching headers: %v", r.Header)
	}
	e.do("GET", "/v1/tracker.js", "", "If-None-Match: "+etag).expect(t, 304, "")
}

func TestPrivacyPage(t *testing.T) {
	e := newEnv(t, "sqlite", "PRIVACY_CONTACT_EMAIL=privacy@example.com", "RETENTION_EVENT_DAYS=30")
	r := e.do("GET", "/v1/privacy", "").expect(t, 200, "")
	ret := r.Body["retention"].(map[string]any)
	if r.Body["privacyContact"] != "privacy@example.com" || ret["rawEventsDays"] != float64(30) || ret["rollupsDays"] != float64(730) ||
		ret["rollupVisitorSketchesDays"] != float64(33) {
		t.Fatalf("privacy %s", r.Raw)
	}
	if !strings.Contains(toString(r.Body["signUpAnswer"]), "random id of this submission") || !strings.Contains(r.Raw, "consent ledger") {
		t.Fatalf("the privacy answer does not say what a sign-up answers and what erasure keeps: %s", r.Raw)
	}
}

// TestForeignOriginsLimitedAndPooled: writes from unregistered origins are
// rate limited, and counted under one property however many hosts there are.
func TestForeignOriginsLimitedAndPooled(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("RATE_LIMIT_EVENTS_PER_MINUTE=10")
		ev := `{"anonId":"visitor-0001","eventType":"page_view","path":"/"}`
		seen := map[int]int{}
		for i := range 30 {
			r := e.do("POST", "/v1/events", ev, "Origin: https://evil"+strconv.Itoa(i)+".example")
			seen[r.Status]++
		}
		if seen[403] != 10 || seen[429] != 20 {
			t.Fatalf("statuses %v, want 10 × 403 then 429s", seen)
		}
		if err := e.pipe.Counters.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows := e.rows(`SELECT property_id, reason, CAST(sum(count) AS bigint) FROM ingest_rejections GROUP BY property_id, reason ORDER BY reason`)
		if len(rows) != 2 || rows[0][0] != "(foreign)" || rows[0][1] != "origin" || rows[0][2] != int64(10) ||
			rows[1][0] != "(foreign)" || rows[1][1] != "rate_limited" || rows[1][2] != int64(20) {
			t.Fatalf("rejections %v, want (foreign) origin 10 and rate_limited 20", rows)
		}
	})
}

// TestOriginsAsBrowsersSendThem: a listed origin with its default port or a
// trailing slash matches what browsers send; the backend's own host under
// another scheme is not its own origin.
func TestOriginsAsBrowsersSendThem(t *testing.T) {
	e := newEnv(t, "sqlite", "CORS_ALLOWED_ORIGINS=https://WWW.example.com:443/, http://shop.example.com:80")
	ev := `{"anonId":"visitor-0001","eventType":"page_view","path":"/"}`
	for _, o := range []string{"https://www.example.com", "https://www.example.com:443", "http://shop.example.com", "http://shop.example.com:80/"} {
		if r := e.do("POST", "/v1/events", ev, "Origin: "+o).expect(t, 202, ""); r.Header.Get("Access-Control-Allow-Origin") != o {
			t.Fatalf("origin %s: allow-origin %q", o, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	for _, o := range []string{"http://www.example.com", "https://www.example.com:8443", "https://shop.example.com"} {
		e.do("POST", "/v1/events", ev, "Origin: "+o).expect(t, 403, "origin_not_allowed")
	}
	own := strings.Replace(e.URL, "http://", "https://", 1)
	e.do("POST", "/v1/events", ev, "Origin: "+own).expect(t, 403, "origin_not_allowed")
	e.do("POST", "/v1/events", ev, "Origin: "+e.URL).expect(t, 202, "")
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, path := range []string{"/v1/leads/thanks", "/v1/leads/unsubscribe?token=forged.token"} {
		r := e.do("GET", path, "")
		h := r.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: %d, headers %v", path, r.Status, h)
		}
	}
	if r := e.do("GET", "/v1/healthz", ""); r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("JSON without nosniff: %v", r.Header)
	}
	if r := e.do("GET", "/v1/nope", ""); r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("error envelope without nosniff: %v", r.Header)
	}
	// The tracker is public and cached, and names the origin it answered:
	// caches must key it by Origin.
	r := e.do("GET", "/v1/tracker.js", "", "Origin: "+site)
	vary := strings.Join(r.Header.Values("Vary"), ",")
	if r.Header.Get("Access-Control-Allow-Origin") != site || !strings.Contains(vary, "Origin") || !strings.Contains(vary, "Accept-Encoding") {
		t.Errorf("tracker: allow-origin %q, Vary %q", r.Header.Get("Access-Control-Allow-Origin"), vary)
	}
	// Fetched without an Origin too: a cached copy must not answer a
	// request that has one.
	r = e.do("GET", "/v1/tracker.js", "")
	if vary := strings.Join(r.Header.Values("Vary"), ","); !strings.Contains(vary, "Origin") {
		t.Errorf("tracker without Origin: Vary %q", vary)
	}
}
