package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/httpapi"
	"github.com/altcontext/marketing/internal/ingest"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/postgres"
)

const fullPayload = `{
  "anonId": "visitor-full-0001",
  "eventType": "page_view",
  "path": "/pricing",
  "referrer": "https://news.example.org/story",
  "utm": {"source": "newsletter"},
  "props": {"cta": "hero", "ttfbMs": "abc"},
  "traffic": {"propertyId": "marketing-site", "deviceType": "desktop", "countryCode": "ca",
    "engagedTimeMs": 5800, "scrollDepthPercent": 65, "isEntrance": true, "host": "ignored", "screenWidth": 1440,
    "webVitals": {"lcpMs": 1800, "clsScore": 0.03, "ttfbMs": 120}}
}`

func TestEventsReferenceBehaviour(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		r := e.do("POST", "/v1/events", fullPayload, "X-Forwarded-For: 203.0.113.10").expect(t, 202, "")
		if r.Body["ok"] != true || r.Body["eventId"] == nil || r.Body["visitorId"] == nil || r.Body["sessionId"] == nil {
			t.Fatalf("202 body %s", r.Raw)
		}
		e.sessionize()
		row := e.rows(`SELECT event_type, path, property_id, traffic_source, device_type, country_code,
			(SELECT count(*) FROM sessions s WHERE s.id = events.id), is_conversion,
			engaged_ms, scroll_pct, lcp_ms, ttfb_ms, visitor_id, (SELECT id FROM sessions s WHERE s.visitor_id = events.visitor_id), props
			FROM events WHERE id = ?`, r.Body["eventId"])
		if len(row) != 1 {
			t.Fatalf("event row not found")
		}
		v := row[0]
		want := []any{"page_view", "/pricing", "marketing-site", "campaign", "desktop", "CA"}
		for i, w := range want {
			if v[i] != w {
				t.Errorf("column %d = %v, want %v", i, v[i], w)
			}
		}
		if !truthy(v[6]) || truthy(v[7]) {
			t.Errorf("entrance %v conversion %v, want true false", v[6], v[7])
		}
		if toString(v[8]) != "5800" || toString(v[9]) != "65" || toString(v[10]) != "1800" || toString(v[11]) != "120" {
			t.Errorf("measurements %v %v %v %v", v[8], v[9], v[10], v[11])
		}
		if v[12] != r.Body["visitorId"] || v[13] != r.Body["sessionId"] {
			t.Errorf("ids differ from the answer")
		}
		if !strings.Contains(toString(v[14]), `"cta"`) {
			t.Errorf("props %v", v[14])
		}

		// Invalid: 400 with issues, counted as a rejection.
		bad := e.do("POST", "/v1/events", `{"anonId":"short","path":"/"}`).expect(t, 400, "invalid_request")
		issues := fmt.Sprint(bad.Body["issues"])
		if !strings.Contains(issues, "anonId") || !strings.Contains(issues, "eventType") {
			t.Fatalf("issues %s", issues)
		}
		if err := e.pipe.Counters.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT CAST(coalesce(sum(count), 0) AS bigint) FROM ingest_rejections WHERE endpoint = '/v1/events' AND reason = 'invalid'`); n != 1 {
			t.Fatalf("rejections counted %d, want 1", n)
		}

		// Identical posts without a timestamp: one row, the same eventId.
		same := `{"anonId":"visitor-dup-0001","eventType":"cta_click","path":"/","props":{"x":1}}`
		a := e.do("POST", "/v1/events", same).expect(t, 202, "")
		b := e.do("POST", "/v1/events", same).expect(t, 202, "")
		if a.Body["eventId"] != b.Body["eventId"] {
			t.Fatalf("duplicate got a new id: %v vs %v", a.Body["eventId"], b.Body["eventId"])
		}
		if n := e.count(`SELECT count(*) FROM events WHERE event_type = 'cta_click'`); n != 1 {
			t.Fatalf("%d rows for a duplicate, want 1", n)
		}
		// The same eventId twice, even with other content: one row.
		id := "7d444840-9dc0-11d1-b245-5ffdce74fad2"
		e.do("POST", "/v1/events", `{"eventId":"`+id+`","anonId":"visitor-dup-0002","eventType":"x","path":"/a"}`).expect(t, 202, "")
		e.do("POST", "/v1/events", `{"eventId":"`+id+`","anonId":"visitor-dup-0002","eventType":"x","path":"/b"}`).expect(t, 202, "")
		if n := e.count(`SELECT count(*) FROM events WHERE event_type = 'x'`); n != 1 {
			t.Fatalf("eventId retried: %d rows, want 1", n)
		}

		// Honeypot: 202, nothing stored.
		before := e.count(`SELECT count(*) FROM events`)
		if r := e.do("POST", "/v1/events", `{"anonId":"visitor-bot-0001","eventType":"page_view","path":"/","honeypot":"x"}`).expect(t, 202, ""); r.Body["eventId"] != nil {
			t.Fatalf("honeypot answer leaks ids: %s", r.Raw)
		}
		if n := e.count(`SELECT count(*) FROM events`); n != before {
			t.Fatal("honeypot stored an event")
		}
	})
}

func TestEventsRateLimit(t *testing.T) {
	frozen := time.Now()
	e := newEnvClock(t, "sqlite", func() time.Time { return frozen })
	ev := `{"anonId":"visitor-rate-0001","eventType":"page_view","path":"/"}`
	for i := range 180 {
		if r := e.do("POST", "/v1/events", ev); r.Status != 202 {
			t.Fatalf("event %d: %d", i+1, r.Status)
		}
	}
	e.do("POST", "/v1/events", ev).expect(t, 429, "rate_limited")
	e2 := newEnv(t, "sqlite", "RATE_LIMIT_EVENTS_PER_MINUTE=0")
	for range 300 {
		e2.do("POST", "/v1/events", ev).expect(t, 202, "")
	}
}

func TestEventsSpecFixes(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open()
		source := func(body string, headers ...string) string {
			t.Helper()
			r := e.do("POST", "/v1/events", body, headers...).expect(t, 202, "")
			return e.rows(`SELECT traffic_source FROM events WHERE id = ?`, r.Body["eventId"])[0][0].(string)
		}
		if s := source(`{"anonId":"visitor-src-0001","eventType":"page_view","path":"/","referrer":"https://www.dropbox.com/s/x"}`); s != "referral" {
			t.Errorf("dropbox.com referrer: %s, want referral", s)
		}
		if s := source(`{"anonId":"visitor-src-0002","eventType":"page_view","path":"/","referrer":"https://t.co/abc"}`); s != "social" {
			t.Errorf("t.co referrer: %s, want social", s)
		}
		if s := source(`{"anonId":"visitor-src-0003","eventType":"page_view","path":"/","referrer":"https://www.google.co.uk/"}`); s != "organic_search" {
			t.Errorf("google.co.uk referrer: %s", s)
		}
		if s := source(`{"anonId":"visitor-src-0004","eventType":"page_view","path":"/b","referrer":"https://www.example.com/a"}`, "Origin: "+site); s != "internal" {
			t.Errorf("same-site referrer: %s, want internal", s)
		}

		// Property from the Origin: the site's host, no www.
		r := e.do("POST", "/v1/events", `{"anonId":"visitor-prop-0001","eventType":"page_view","path":"/"}`, "Origin: "+site).expect(t, 202, "")
		if p := e.rows(`SELECT property_id FROM events WHERE id = ?`, r.Body["eventId"])[0][0]; p != "example.com" {
			t.Errorf("property %v, want example.com", p)
		}
		r = e.do("POST", "/v1/events", `{"anonId":"visitor-prop-0002","eventType":"page_view","path":"/"}`).expect(t, 202, "")
		if p := e.rows(`SELECT property_id FROM events WHERE id = ?`, r.Body["eventId"])[0][0]; p != "default" {
			t.Errorf("property without origin %v, want default", p)
		}

		// Second page view is no entrance; a page without UTM continues the campaign session.
		now := time.Now().UTC()
		ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
		first := e.do("POST", "/v1/events", `{"anonId":"visitor-sess-0001","eventType":"page_view","path":"/landing","utm":{"source":"newsletter","medium":"email","campaign":"fall"},"timestamp":"`+ts(-10*time.Minute)+`"}`).expect(t, 202, "")
		second := e.do("POST", "/v1/events", `{"anonId":"visitor-sess-0001","eventType":"page_view","path":"/pricing","timestamp":"`+ts(-9*time.Minute)+`"}`).expect(t, 202, "")
		if first.Body["sessionId"] != second.Body["sessionId"] {
			t.Fatal("a page without UTM split the campaign session")
		}
		// An entrance is the event that names its session.
		entrance := func(id any) bool {
			e.sessionize()
			return e.count(`SELECT count(*) FROM sessions WHERE id = '`+toString(id)+`'`) == 1
		}
		if entrance(second.Body["eventId"]) {
			t.Error("the second page view is an entrance")
		}
		if !entrance(first.Body["eventId"]) {
			t.Error("the first page view is not an entrance")
		}
		// Client isEntrance/isExit hints are ignored.
		third := e.do("POST", "/v1/events", `{"anonId":"visitor-sess-0001","eventType":"page_view","path":"/x","traffic":{"isEntrance":true},"timestamp":"`+ts(-8*time.Minute)+`"}`).expect(t, 202, "")
		if entrance(third.Body["eventId"]) {
			t.Error("a client isEntrance hint was trusted")
		}

		// A timestamp three days old is replaced by server time.
		old := e.do("POST", "/v1/events", `{"anonId":"visitor-time-0001","eventType":"page_view","path":"/","timestamp":"`+ts(-72*time.Hour)+`"}`).expect(t, 202, "")
		var at time.Time
		switch v := e.rows(`SELECT occurred_at FROM events WHERE id = ?`, old.Body["eventId"])[0][0].(type) {
		case time.Time:
			at = v
		case int64:
			at = time.UnixMilli(v)
		}
		if d := time.Since(at); d > time.Minute || d < -time.Minute {
			t.Errorf("stored time %v, want about now", at)
		}

		// Sec-GPC: the visitor is not the one the anonId names.
		gpc := e.do("POST", "/v1/events", `{"anonId":"visitor-gpc-0001","eventType":"page_view","path":"/"}`, "Sec-GPC: 1").expect(t, 202, "")
		plain := e.do("POST", "/v1/events", `{"anonId":"visitor-gpc-0001","eventType":"page_view","path":"/"}`).expect(t, 202, "")
		if gpc.Body["visitorId"] == plain.Body["visitorId"] || gpc.Body["visitorId"] != e.do("POST", "/v1/events", `{"eventType":"page_view","path":"/gpc"}`).Body["visitorId"] {
			t.Error("a Sec-GPC request was keyed by its anonId, not cookieless")
		}
		// Without anonId: a cookieless visitor, stable across requests of a day.
		a := e.do("POST", "/v1/events", `{"eventType":"page_view","path":"/a"}`, "X-Test: 1").expect(t, 202, "")
		b := e.do("POST", "/v1/events", `{"eventType":"page_view","path":"/b"}`).expect(t, 202, "")
		if a.Body["visitorId"] != b.Body["visitorId"] || a.Body["sessionId"] != b.Body["sessionId"] {
			t.Error("cookieless visitor not stable within a day")
		}

		// Headless Chrome stores nothing.
		before := e.count(`SELECT count(*) FROM events`)
		e.do("POST", "/v1/events", `{"anonId":"visitor-bot-0002","eventType":"page_view","path":"/"}`,
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36").expect(t, 202, "")
		e.do("POST", "/v1/events", `{"anonId":"visitor-bot-0003","eventType":"page_view","path":"/"}`, "User-Agent: Googlebot/2.1 (+http://www.google.com/bot.html)").expect(t, 202, "")
		if n := e.count(`SELECT count(*) FROM events`); n != before {
			t.Error("a bot's event was stored")
		}
		_ = e.pipe.Counters.Flush(context.Background())
		if n := e.count(`SELECT CAST(coalesce(sum(count), 0) AS bigint) FROM ingest_rejections WHERE reason = 'bot'`); n != 2 {
			t.Errorf("bot drops counted %d, want 2", n)
		}
	})
}

func TestEventsShapes(t *testing.T) {
	e := newEnv(t, "sqlite")
	// sendBeacon: text/plain JSON.
	e.do("POST", "/v1/events", `{"anonId":"visitor-shape-01","eventType":"page_view","path":"/"}`, "Content-Type: text/plain;charset=UTF-8").expect(t, 202, "")
	// url instead of path: path and utm taken from it.
	r := e.do("POST", "/v1/events", `{"anonId":"visitor-shape-02","eventType":"page_view","url":"https://example.com/p?utm_source=google&utm_medium=cpc"}`).expect(t, 202, "")
	row := e.rows(`SELECT path, traffic_source FROM events WHERE id = ?`, r.Body["eventId"])[0]
	if row[0] != "/p" || row[1] != "paid_search" {
		t.Errorf("from url: %v", row)
	}
	// Array and {"events": [...]}.
	arr := e.do("POST", "/v1/events", `[{"anonId":"visitor-shape-03","eventType":"a","path":"/"},{"anonId":"visitor-shape-03","eventType":"b","path":"/"}]`).expect(t, 202, "")
	if evs, _ := arr.Body["events"].([]any); len(evs) != 2 {
		t.Fatalf("array answer %s", arr.Raw)
	}
	obj := e.do("POST", "/v1/events", `{"events":[{"anonId":"visitor-shape-04","eventType":"a","path":"/"}]}`).expect(t, 202, "")
	if evs, _ := obj.Body["events"].([]any); len(evs) != 1 {
		t.Fatalf("wrapped answer %s", obj.Raw)
	}
	// Too many, or one bad event: nothing stored, issues name the index.
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"eventType":"a","path":"/"},`, 51), ",") + "]"
	e.do("POST", "/v1/events", many).expect(t, 400, "invalid_request")
	before := e.count(`SELECT count(*) FROM events`)
	bad := e.do("POST", "/v1/events", `[{"anonId":"visitor-shape-05","eventType":"a","path":"/"},{"eventType":"","path":"/"}]`).expect(t, 400, "invalid_request")
	if !strings.Contains(bad.Raw, `"1.eventType"`) {
		t.Errorf("issue path: %s", bad.Raw)
	}
	if e.count(`SELECT count(*) FROM events`) != before {
		t.Error("a rejected batch was half-written")
	}
	for _, body := range []string{``, `nul`, `"x"`, `{"eventType":5,"path":"/"}`, `{"eventType":"a","path":"/","props":{"a":{"b":1}}}`, `{"eventType":"a","path":"/","traffic":{"scrollDepthPercent":130}}`} {
		e.do("POST", "/v1/events", body).expect(t, 400, "invalid_request")
	}
}

// The reference site's tracker payloads (reference §9) are accepted as sent.
func TestEventsReferenceTrackerPayloads(t *testing.T) {
	e := newEnv(t, "sqlite")
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, body := range []string{
		`{"anonId":"5b0f6b8e-3d0c-4c4e-9a57-3f1c2f0f9d11","eventType":"page_view","path":"/","timestamp":"` + now + `","utm":{}}`,
		`{"anonId":"5b0f6b8e-3d0c-4c4e-9a57-3f1c2f0f9d11","eventType":"engagement","path":"/","timestamp":"` + now + `","utm":{},"traffic":{"engagedTimeMs":12000}}`,
		`{"anonId":"5b0f6b8e-3d0c-4c4e-9a57-3f1c2f0f9d11","eventType":"scroll_depth","path":"/","timestamp":"` + now + `","utm":{},"traffic":{"scrollDepthPercent":80}}`,
		`{"anonId":"5b0f6b8e-3d0c-4c4e-9a57-3f1c2f0f9d11","eventType":"cta_click","path":"/","timestamp":"` + now + `","utm":{"source":"x"},"props":{"ctaName":"face_pose_viewer"}}`,
		`{"anonId":"5b0f6b8e-3d0c-4c4e-9a57-3f1c2f0f9d11","eventType":"cwv","path":"/","timestamp":"` + now + `","utm":{},"traffic":{"webVitals":{"lcpMs":1200,"clsScore":0.1,"inpMs":80,"fcpMs":700,"ttfbMs":90}}}`,
		`{"anonId":"5b0f6b8e-3d0c-4c4e-9a57-3f1c2f0f9d11","eventType":"form_submit","path":"/","timestamp":"` + now + `","utm":{},"props":{"formName":"email_capture"}}`,
	} {
		e.do("POST", "/v1/events", body, "Origin: "+site, "x-api-key: akt_whatever").expect(t, 202, "")
	}
	// The tracker's form_submit is never a conversion.
	if n := e.count(`SELECT count(*) FROM events WHERE is_conversion = 1`); n != 0 {
		t.Errorf("%d conversions from tracker events, want 0", n)
	}
}

// TestNoRawIPOrUserAgentStored scans every table after ingesting from a
// known address and agent.
func TestNoRawIPOrUserAgentStored(t *testing.T) {
	backends(t, func(t *testing.T, open func(...string) *env) {
		e := open("TRUSTED_PROXY=fly")
		const ip, ua = "203.0.113.77", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 UniqueMarker/42"
		e.do("POST", "/v1/events", `{"anonId":"visitor-priv-0001","eventType":"page_view","path":"/"}`, "Fly-Client-IP: "+ip, "User-Agent: "+ua).expect(t, 202, "")
		e.do("POST", "/v1/events", `{"eventType":"page_view","path":"/"}`, "Fly-Client-IP: "+ip, "User-Agent: "+ua).expect(t, 202, "")
		e.do("POST", "/v1/events", `{"eventType":"page_view"}`, "Fly-Client-IP: "+ip, "User-Agent: "+ua).expect(t, 400, "invalid_request")
		_ = e.pipe.Counters.Flush(context.Background())
		all := e.dump()
		if len(all) < 100 {
			t.Fatalf("dump too small to mean anything: %q", all)
		}
		for _, s := range []string{ip, ua, "UniqueMarker", "Firefox/133"} {
			if strings.Contains(all, s) {
				t.Errorf("the database holds %q", s)
			}
		}
	})
}

// TestTwoServersOneVisitor alternates one visitor's events between two
// servers (two pipelines, two pools) on one PostgreSQL, out of order, and
// sessionizes from both at once: one session, one entrance, the rows one
// process would derive.
func TestTwoServersOneVisitor(t *testing.T) {
	a := newEnv(t, "postgres")
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	db, err := postgres.Open(context.Background(), a.cfg.DatabaseURL, a.cfg.DirectDatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rules := marketing.SessionRules{Inactivity: 30 * time.Minute}
	pipe := ingest.New(ingest.Options{Store: db, Pepper: []byte("pepper-pepper-pepper-pepper-pepper"), DefaultProperty: "default",
		Rules: rules, Writer: ingest.WriterOptions{QueueSize: 64, MaxBatch: 50, Workers: 2}, Logger: log})
	defer pipe.Close(context.Background())
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Deps{Config: a.cfg, Store: db, Pipeline: pipe, Logger: log}))
	defer srv.Close()
	b := &env{t: t, URL: srv.URL}
	bJobs := jobs.New(jobs.Options{Store: db, Rules: rules, Location: time.UTC, AllProperties: "default"})

	now := time.Now().UTC()
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := a
			if i%2 == 1 {
				srv = b
			}
			// Sent newest first in pairs: every other event is late.
			at := now.Add(time.Duration((i^1)-20) * time.Second)
			body := fmt.Sprintf(`{"anonId":"visitor-two-0001","eventType":"page_view","path":"/p%d","timestamp":"%s"}`, i, at.Format(time.RFC3339Nano))
			r := srv.do("POST", "/v1/events", body)
			if r.Status != 202 {
				t.Errorf("event %d: %d %s", i, r.Status, r.Raw)
				return
			}
			ids[i], _ = r.Body["eventId"].(string)
		}()
	}
	wg.Wait()
	errs := make(chan error, 2)
	for _, r := range []*jobs.Runner{a.jobs, bJobs} {
		go func() { _, err := r.Sessionize(context.Background()); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := a.count(`SELECT count(*) FROM sessions`); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	// The entrance is the earliest event: the second one sent (i = 1).
	row := a.rows(`SELECT id, event_count, landing_path, exit_path FROM sessions`)[0]
	if row[0] != ids[1] || toString(row[1]) != "20" || row[2] != "/p1" || row[3] != "/p18" {
		t.Fatalf("session %v, want entrance %s, 20 events, /p1 → /p18", row, ids[1])
	}
	vid := a.rows(`SELECT DISTINCT visitor_id FROM events`)
	if len(vid) != 1 {
		t.Fatalf("%d visitor ids, want 1", len(vid))
	}
	raw, err := db.VisitorEvents(context.Background(), toString(vid[0][0]), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.VisitorSessions(context.Background(), toString(vid[0][0]))
	if err != nil {
		t.Fatal(err)
	}
	want := marketing.DeriveSessions(raw, rules)
	if len(got) != 1 || len(want) != 1 || got[0].ID != want[0].ID || got[0].Events != want[0].Events || !got[0].EndedAt.Equal(want[0].EndedAt) {
		t.Fatalf("materialised %+v, one process derives %+v", got, want)
	}
}
