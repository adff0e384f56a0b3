// Package storetest is the conformance suite every marketing.Store must
// pass. The PostgreSQL and SQLite packages run it against real databases.
package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/altcontext/marketing"
)

// Opener returns a new, empty, unmigrated store for one test, and a
// function that opens another handle on the same database, as a second
// process would.
type Opener func(t *testing.T) (marketing.Store, func() marketing.Store)

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	fresh := func(t *testing.T) marketing.Store {
		s, _ := open(t)
		return s
	}
	migrated := func(t *testing.T) marketing.Store {
		t.Helper()
		s := fresh(t)
		if _, err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		return s
	}
	t.Run("Migrate", func(t *testing.T) { testMigrate(t, fresh(t)) })
	t.Run("MigrateConcurrently", func(t *testing.T) { testMigrateConcurrently(t, fresh(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, migrated(t)) })
	t.Run("Salts", func(t *testing.T) { testSalts(t, migrated(t)) })
	t.Run("Rejections", func(t *testing.T) { testRejections(t, migrated(t)) })
	t.Run("EventsSessions", func(t *testing.T) { testEventsSessions(t, migrated(t)) })
	t.Run("EventsDedupe", func(t *testing.T) { testEventsDedupe(t, migrated(t)) })
	t.Run("EventsConcurrentVisitor", func(t *testing.T) { testEventsConcurrent(t, migrated(t)) })
	t.Run("LateEvents", func(t *testing.T) { testLateEvents(t, migrated(t)) })
	t.Run("SessionizeIdempotent", func(t *testing.T) { testSessionizeIdempotent(t, migrated(t)) })
	t.Run("EventsTwoProcesses", func(t *testing.T) {
		a, reopen := open(t)
		if _, err := a.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		testEventsTwoProcesses(t, a, reopen())
	})
	t.Run("Leads", func(t *testing.T) { testLeads(t, migrated(t)) })
	t.Run("LeadsNeverUndone", func(t *testing.T) { testLeadsNeverUndone(t, migrated(t)) })
	t.Run("Erasure", func(t *testing.T) { testErasure(t, migrated(t)) })
	t.Run("Sites", func(t *testing.T) { testSites(t, migrated(t)) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, migrated(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, migrated(t)) })
	t.Run("LeadsByProperty", func(t *testing.T) { testLeadsByProperty(t, migrated(t)) })
	t.Run("LeadFilters", func(t *testing.T) { testLeadFilters(t, migrated(t)) })
	t.Run("Users", func(t *testing.T) { testUsers(t, migrated(t)) })
	t.Run("SharedLinks", func(t *testing.T) { testSharedLinks(t, migrated(t)) })
	t.Run("TOTP", func(t *testing.T) { testTOTP(t, migrated(t)) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, migrated(t)) })
	t.Run("Claims", func(t *testing.T) { testClaims(t, migrated(t)) })
	t.Run("ClaimsTwoProcesses", func(t *testing.T) {
		a, reopen := open(t)
		if _, err := a.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		testClaimsTwoProcesses(t, a, reopen())
	})
	t.Run("DoubleOptIn", func(t *testing.T) { testDoubleOptIn(t, migrated(t)) })
}

func testMigrate(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	states, err := s.Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(marketing.SchemaBehind(states)) != len(states) || len(states) == 0 {
		t.Fatalf("fresh database: want all %d migrations pending, got %+v", len(states), states)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(states) {
		t.Fatalf("first migrate applied %v, want %d migrations", applied, len(states))
	}
	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", again)
	}
	states, err = s.Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if behind := marketing.SchemaBehind(states); len(behind) != 0 {
		t.Fatalf("after migrate, still behind: %+v", behind)
	}
}

func testMigrateConcurrently(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	applied := make([][]string, 4)
	errs := make([]error, 4)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = s.Migrate(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Fatalf("concurrent migrate %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	states, _ := s.Migrations(ctx)
	if total != len(states) {
		t.Fatalf("concurrent migrations applied %d in all, want each of %d once", total, len(states))
	}
}

func testSettings(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	if _, err := s.Setting(ctx, "missing"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("missing setting: want ENOTFOUND, got %v", err)
	}
	v, err := s.EnsureSetting(ctx, "k", "first")
	if err != nil || v != "first" {
		t.Fatalf("EnsureSetting = %q, %v", v, err)
	}
	v, err = s.EnsureSetting(ctx, "k", "second")
	if err != nil || v != "first" {
		t.Fatalf("EnsureSetting again = %q, %v; want the stored first", v, err)
	}
	if v, err := s.Setting(ctx, "k"); err != nil || v != "first" {
		t.Fatalf("Setting = %q, %v", v, err)
	}
}

func testSalts(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a, err := s.DailySalt(ctx, day, []byte("aaaa"))
	if err != nil || string(a) != "aaaa" {
		t.Fatalf("DailySalt = %q, %v", a, err)
	}
	b, err := s.DailySalt(ctx, day, []byte("bbbb"))
	if err != nil || string(b) != "aaaa" {
		t.Fatalf("DailySalt for the same day = %q, %v; want the first", b, err)
	}
	n, err := s.DeleteSaltsBefore(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteSaltsBefore = %d, %v; want 1", n, err)
	}
}

func testRejections(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	h := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	add := []marketing.RejectionCount{
		{Hour: h, PropertyID: "p", Endpoint: "/v1/events", Reason: marketing.ReasonBot, Count: 2},
		{Hour: h, PropertyID: "p", Endpoint: "/v1/events", Reason: marketing.ReasonInvalid, Count: 1},
	}
	for range 2 {
		if err := s.AddRejections(ctx, add); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddRejections(ctx, []marketing.RejectionCount{{Hour: h.Add(time.Hour), PropertyID: "p", Endpoint: "/v1/events", Reason: marketing.ReasonBot, Count: 5}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rejections(ctx, h, h.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{marketing.ReasonBot: 9, marketing.ReasonInvalid: 2}
	if len(got) != 2 {
		t.Fatalf("Rejections = %+v, want two rows", got)
	}
	for _, c := range got {
		if c.Count != want[c.Reason] {
			t.Errorf("%s: count %d, want %d", c.Reason, c.Count, want[c.Reason])
		}
	}
	if got, _ := s.Rejections(ctx, h.Add(time.Hour), h.Add(2*time.Hour)); len(got) != 1 || got[0].Count != 5 {
		t.Errorf("one hour window = %+v, want the 5 bot drops only", got)
	}
}

// Event builds a pending event for tests: anon visitor, type, path, time.
// Its visitor id stands in for the keyed hash ingest derives.
func Event(anon, typ, path string, at time.Time) marketing.PendingEvent {
	key := sha256.Sum256([]byte(anon + typ + path + at.String()))
	return marketing.PendingEvent{
		ID: marketing.NewID(at), AnonID: anon, VisitorID: "v:" + anon, EventType: typ, Path: path,
		OccurredAt: at, ReceivedAt: time.Now(), DedupeKey: key[:16],
		PropertyID: "example.com", TrafficSource: "direct", DeviceType: "desktop", IPUAHash: "ipua:" + anon,
	}
}

var rules = marketing.SessionRules{Inactivity: 30 * time.Minute}

func write(t *testing.T, s marketing.Store, evs ...marketing.PendingEvent) []marketing.EventResult {
	t.Helper()
	res, err := s.AppendEvents(context.Background(), evs)
	if err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	if len(res) != len(evs) {
		t.Fatalf("AppendEvents returned %d results for %d events", len(res), len(evs))
	}
	return res
}

// sessionize runs the sessionizer until nothing waits.
func sessionize(t *testing.T, s marketing.Store) {
	t.Helper()
	for range 1000 {
		res, err := s.Sessionize(context.Background(), rules, 7)
		if err != nil {
			t.Fatalf("Sessionize: %v", err)
		}
		if !res.More && !res.Busy {
			return
		}
	}
	t.Fatal("the sessionizer never caught up")
}

func sessionsOf(t *testing.T, s marketing.Store, visitor string) []marketing.Session {
	t.Helper()
	ss, err := s.VisitorSessions(context.Background(), visitor)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

func testEventsSessions(t *testing.T, s marketing.Store) {
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	r1 := write(t, s, Event("visitor-a", "page_view", "/", t0))[0]
	if r1.VisitorID != "v:visitor-a" || r1.EventID == "" || r1.Duplicate {
		t.Fatalf("result %+v", r1)
	}
	write(t, s, Event("visitor-a", "page_view", "/pricing", t0.Add(10*time.Minute)))
	sessionize(t, s)
	// A campaign arrives: new session; a page without UTM continues it.
	campaign := Event("visitor-a", "page_view", "/landing", t0.Add(15*time.Minute))
	campaign.UTM = marketing.UTM{Source: "newsletter", Medium: "email"}
	write(t, s, campaign)
	write(t, s, Event("visitor-a", "engagement", "/landing", t0.Add(15*time.Minute+time.Second)))
	write(t, s, Event("visitor-a", "page_view", "/about", t0.Add(16*time.Minute)))
	// 31 minutes of silence: new session.
	write(t, s, Event("visitor-a", "page_view", "/", t0.Add(47*time.Minute)))
	sessionize(t, s)
	ss := sessionsOf(t, s, "v:visitor-a")
	if len(ss) != 3 {
		t.Fatalf("want 3 sessions, got %+v", ss)
	}
	first := ss[0]
	if first.ID != r1.EventID || first.PageViews != 2 || first.Events != 2 || first.LandingPath != "/" || first.ExitPath != "/pricing" ||
		!first.EndedAt.Equal(t0.Add(10*time.Minute)) || first.Bounce || first.IPUAHash != "ipua:visitor-a" {
		t.Errorf("first session = %+v", first)
	}
	if ss[1].UTM.Source != "newsletter" || ss[1].ExitPath != "/about" || ss[1].LandingPath != "/landing" || ss[1].Events != 3 || ss[1].PageViews != 2 {
		t.Errorf("campaign session = %+v", ss[1])
	}
	if !ss[2].Bounce || ss[2].Duration() != 0 {
		t.Errorf("a lone page view is a bounce of no duration: %+v", ss[2])
	}
	// A batch mixing visitors keeps input order in results.
	b := []marketing.PendingEvent{
		Event("visitor-b", "click", "/x", t0.Add(2*time.Minute)),
		Event("visitor-c", "page_view", "/", t0),
		Event("visitor-b", "page_view", "/", t0),
	}
	res := write(t, s, b...)
	for i, r := range res {
		if r.EventID != b[i].ID || r.VisitorID != b[i].VisitorID || r.Duplicate {
			t.Errorf("result %d = %+v, want event %s", i, r, b[i].ID)
		}
	}
	sessionize(t, s)
	if ss := sessionsOf(t, s, "v:visitor-b"); len(ss) != 1 || ss[0].LandingPath != "/" || ss[0].Events != 2 || ss[0].Bounce {
		t.Fatalf("visitor-b: %+v (a click is an interaction: no bounce)", ss)
	}
	evs, err := s.VisitorEvents(context.Background(), "v:visitor-b", t0.Add(-time.Hour))
	if err != nil || len(evs) != 2 || evs[0].Path != "/" || evs[1].EventType != "click" {
		t.Fatalf("visitor events in time order: %+v, %v", evs, err)
	}
}

func testEventsDedupe(t *testing.T, s marketing.Store) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	e := Event("visitor-d", "page_view", "/", t0)
	r1 := write(t, s, e)[0]
	retry := e
	retry.ID = marketing.NewID(time.Now())
	r2 := write(t, s, retry)[0]
	if !r2.Duplicate || r2.EventID != r1.EventID || r2.VisitorID != r1.VisitorID {
		t.Fatalf("retry = %+v, want the original %+v marked duplicate", r2, r1)
	}
	// Twice in one batch: stored once.
	f := Event("visitor-d", "click", "/b", t0.Add(time.Second))
	g := f
	g.ID = marketing.NewID(time.Now())
	res := write(t, s, f, g)
	if res[0].Duplicate || !res[1].Duplicate || res[1].EventID != res[0].EventID {
		t.Fatalf("in-batch duplicate: %+v", res)
	}
	// The sliding window: a key of the next bucket whose previous-bucket
	// key is stored counts as a duplicate while the stored one is inside
	// the window, and not after.
	h := Event("visitor-d", "click", "/w", t0)
	h.ReceivedAt = time.Now().Add(-10 * time.Second)
	write(t, s, h)
	inside := Event("visitor-d", "click", "/w2", t0)
	inside.PrevKey, inside.DedupeSince = h.DedupeKey, time.Now().Add(-30*time.Second)
	if r := write(t, s, inside)[0]; !r.Duplicate || r.EventID != h.ID {
		t.Fatalf("inside the window: %+v, want a duplicate of %s", r, h.ID)
	}
	outside := Event("visitor-d", "click", "/w3", t0)
	outside.PrevKey, outside.DedupeSince = h.DedupeKey, time.Now().Add(-5*time.Second)
	if r := write(t, s, outside)[0]; r.Duplicate || r.EventID != outside.ID {
		t.Fatalf("outside the window: %+v, want a new event", r)
	}
	sessionize(t, s)
	if ss := sessionsOf(t, s, r1.VisitorID); len(ss) != 1 || ss[0].Events != 4 {
		t.Fatalf("sessions = %+v; want one holding 4 events", ss)
	}
}

// testEventsConcurrent appends one visitor's events from many goroutines
// at once, each its own batch: every event is stored, one session.
func testEventsConcurrent(t *testing.T, s marketing.Store) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	errs := concurrently(20, func(i int) error {
		_, err := s.AppendEvents(context.Background(), []marketing.PendingEvent{Event("visitor-e", "page_view", "/p", t0.Add(time.Duration(i)*time.Second))})
		return err
	})
	for _, err := range errs {
		t.Fatal(err)
	}
	sessionize(t, s)
	if ss := sessionsOf(t, s, "v:visitor-e"); len(ss) != 1 || ss[0].Events != 20 {
		t.Fatalf("concurrent appends for one visitor: %+v, want one session of 20 events", ss)
	}
}

// concurrently runs fn(0), …, fn(n-1) at once and returns their errors.
func concurrently(n int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	return failed
}

// testLateEvents sends /b at 10:30, /a at 10:20 and /c at 09:00 as three
// appends: two sessions, landing on /c and on /a, whether the sessionizer
// runs between the appends or once after them.
func testLateEvents(t *testing.T, s marketing.Store) {
	day := time.Now().UTC().Add(-20 * time.Hour).Truncate(time.Hour)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	for _, between := range []bool{true, false} {
		anon := fmt.Sprintf("late-%v", between)
		for _, e := range []marketing.PendingEvent{
			Event(anon, "page_view", "/b", at(1, 30)),
			Event(anon, "page_view", "/a", at(1, 20)),
			Event(anon, "page_view", "/c", at(0, 0)),
		} {
			write(t, s, e)
			if between {
				sessionize(t, s)
			}
		}
		sessionize(t, s)
		ss := sessionsOf(t, s, "v:"+anon)
		if len(ss) != 2 || ss[0].LandingPath != "/c" || ss[0].ExitPath != "/c" || ss[1].LandingPath != "/a" || ss[1].ExitPath != "/b" ||
			ss[1].PageViews != 2 || !ss[1].StartedAt.Equal(at(1, 20)) {
			t.Fatalf("sessionizer between appends %v: %+v; want /c alone, then /a → /b", between, ss)
		}
	}
}

// testSessionizeIdempotent derives everything again from the log and gets
// the same sessions, and gets what DeriveSessions gives over the raw events.
func testSessionizeIdempotent(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	t0 := time.Now().Add(-5 * time.Hour).Truncate(time.Millisecond)
	var evs []marketing.PendingEvent
	for i := range 60 {
		e := Event(fmt.Sprintf("idem-%d", i%4), "page_view", fmt.Sprintf("/p%d", i%7), t0.Add(time.Duration((i*37)%240)*time.Minute))
		if i%9 == 0 {
			e.UTM = marketing.UTM{Source: "ads", Campaign: fmt.Sprint(i % 2)}
		}
		evs = append(evs, e)
	}
	for i := 0; i < len(evs); i += 5 {
		write(t, s, evs[i:i+5]...)
	}
	sessionize(t, s)
	before := map[string][]marketing.Session{}
	for v := range 4 {
		id := fmt.Sprintf("v:idem-%d", v)
		before[id] = sessionsOf(t, s, id)
		raw, err := s.VisitorEvents(ctx, id, t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if want := marketing.DeriveSessions(raw, rules); !sameSessions(before[id], want) {
			t.Fatalf("%s: materialised %+v, derived %+v", id, before[id], want)
		}
	}
	if err := s.ResetSessions(ctx); err != nil {
		t.Fatal(err)
	}
	if ss := sessionsOf(t, s, "v:idem-0"); len(ss) != 0 {
		t.Fatalf("after a reset: %d sessions", len(ss))
	}
	sessionize(t, s)
	for id, want := range before {
		if got := sessionsOf(t, s, id); !sameSessions(got, want) {
			t.Fatalf("%s rebuilt: %+v, want %+v", id, got, want)
		}
	}
}

func sameSessions(a, b []marketing.Session) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || !x.StartedAt.Equal(y.StartedAt) || !x.EndedAt.Equal(y.EndedAt) || x.LandingPath != y.LandingPath ||
			x.ExitPath != y.ExitPath || x.PageViews != y.PageViews || x.Events != y.Events || x.UTM != y.UTM || x.Bounce != y.Bounce {
			return false
		}
	}
	return true
}

// testEventsTwoProcesses alternates one visitor's events between two
// handles on one database, out of order, with lead captures on one of
// them and the sessionizer run from both at once: the sessions are the
// ones the log defines, as one process would derive them.
func testEventsTwoProcesses(t *testing.T, a, b marketing.Store) {
	ctx := context.Background()
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	write(t, a, Event("visitor-g", "page_view", "/b", at(20)))
	write(t, b, Event("visitor-g", "page_view", "/", at(0)))
	write(t, a, Event("visitor-g", "page_view", "/c", at(45)))
	campaign := Event("visitor-g", "page_view", "/landing", at(50))
	campaign.UTM = marketing.UTM{Source: "newsletter", Medium: "email"}
	write(t, b, campaign)
	lead := Lead("two@example.com", "visitor-g", marketing.ConsentExpress, "Send me news", at(60))
	if _, err := a.CaptureLead(ctx, lead); err != nil {
		t.Fatal(err)
	}
	write(t, b, Event("visitor-g", "page_view", "/d", at(52)))
	// Both handles append and sessionize at once.
	errs := concurrently(20, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		if i%5 == 4 {
			_, err := s.Sessionize(ctx, rules, 3)
			return err
		}
		_, err := s.AppendEvents(ctx, []marketing.PendingEvent{Event("visitor-h", "page_view", "/p", t0.Add(time.Duration(20-i)*time.Second))})
		return err
	})
	for _, err := range errs {
		t.Fatal(err)
	}
	sessionize(t, a)
	sessionize(t, b)
	ss := sessionsOf(t, b, "v:visitor-g")
	var counts []int
	for _, s := range ss {
		counts = append(counts, s.Events)
	}
	if len(ss) != 2 || counts[0] != 3 || counts[1] != 3 || ss[0].ExitPath != "/c" || ss[0].LandingPath != "/" || ss[1].LandingPath != "/landing" {
		t.Fatalf("sessions %+v hold %v events, want [3 3]: / → /c, then /landing with /d and the capture", ss, counts)
	}
	if hs := sessionsOf(t, a, "v:visitor-h"); len(hs) != 1 || hs[0].Events != 16 {
		t.Fatalf("visitor-h: %+v, want one session of the 16 appended events", hs)
	}
}

// Lead builds a capture for tests.
func Lead(email, anon, status, wording string, at time.Time) *marketing.LeadCapture {
	ev := Event(anon, "lead_captured", "/signup", at)
	ev.IsConversion = true
	sub := marketing.NewID(at)
	ev.DedupeKey = marketing.CaptureDedupeKey(sub)
	c := &marketing.LeadCapture{
		Input:     marketing.LeadInput{Email: email, Name: "Name of " + email, FormName: "signup", Path: "/signup", ConsentStatus: status, Consent: marketing.Consent{Text: wording}},
		EmailHash: "hash:" + email, SubmissionID: sub, Event: ev, IPHash: "iphash", Rules: rules, Now: at,
	}
	if wording != "" {
		c.WordingHash = fmt.Sprintf("%x", sha256.Sum256([]byte(wording)))
	}
	return c
}

func testLeads(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	// Nanoseconds on purpose: the stores keep less, and attribution must
	// still find the capture's session.
	now := time.Now().Add(-time.Hour)
	write(t, s, Event("visitor-lead-a", "page_view", "/pricing", now.Add(-5*time.Minute)))
	r1, err := s.CaptureLead(ctx, Lead("a@example.com", "visitor-lead-a", "express", "I agree", now))
	if err != nil {
		t.Fatal(err)
	}
	if r1.VisitorID != "v:visitor-lead-a" || r1.SubmissionID == "" || r1.SubmissionID == r1.LeadID || r1.SessionID == "" {
		t.Fatalf("capture result %+v", r1)
	}
	sessionize(t, s)
	d, err := s.LeadDetail(ctx, r1.LeadID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Email != "a@example.com" || d.ConsentStatus != "express" || len(d.Identities) != 1 || len(d.Submissions) != 1 ||
		len(d.Consent) != 1 || d.Consent[0].Wording == nil || d.Consent[0].Wording.Text != "I agree" || len(d.Visits) != 1 {
		t.Fatalf("detail %+v", d)
	}
	// Attribution comes from the session the capture joined: its entrance.
	if d.FirstTouch.LandingPath != "/pricing" || d.FirstTouch.TrafficSource != "direct" || d.Visits[0].ID != r1.SessionID {
		t.Errorf("first touch %+v, visits %+v, capture session %s", d.FirstTouch, d.Visits, r1.SessionID)
	}
	// Same status and wording: no row. New wording: a row.
	if _, err := s.CaptureLead(ctx, Lead("a@example.com", "visitor-lead-a", "express", "I agree", now.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CaptureLead(ctx, Lead("a@example.com", "visitor-lead-a", "express", "I agree, v2", now.Add(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	d, _ = s.LeadDetail(ctx, r1.LeadID)
	if len(d.Consent) != 2 || len(d.Submissions) != 3 {
		t.Fatalf("after re-captures: %d consent rows, %d submissions", len(d.Consent), len(d.Submissions))
	}
	// Withdraw, then a pending capture is ignored.
	if err := s.SetConsent(ctx, marketing.ConsentChange{Email: "a@example.com", Status: "withdrawn", Source: "unsubscribe", Now: now.Add(3 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CaptureLead(ctx, Lead("a@example.com", "visitor-lead-a", "pending", "", now.Add(4*time.Minute))); err != nil {
		t.Fatal(err)
	}
	d, _ = s.LeadDetail(ctx, r1.LeadID)
	if d.ConsentStatus != "withdrawn" || len(d.Consent) != 3 {
		t.Fatalf("withdrawn → pending: %s, %d rows", d.ConsentStatus, len(d.Consent))
	}
	if err := s.SetConsent(ctx, marketing.ConsentChange{LeadID: "missing", Status: "withdrawn", Source: "unsubscribe", Now: now}); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("unknown lead: %v", err)
	}
	// Listing and erasure.
	if _, err := s.CaptureLead(ctx, Lead("b@example.com", "visitor-lead-b", "", "", now)); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := s.Leads(ctx, marketing.LeadFilter{ConsentStatus: "pending"}, func(l *marketing.Lead) error { listed = append(listed, l.Email); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != "b@example.com" {
		t.Fatalf("pending leads %v", listed)
	}
	if err := s.DeleteLead(ctx, "a@example.com", "hash:a@example.com", rules, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LeadIDByEmail(ctx, "a@example.com"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("erased lead still found: %v", err)
	}
	ledger, suppressed, err := s.Subject(ctx, "hash:a@example.com")
	if err != nil || !suppressed || len(ledger) != 3 {
		t.Fatalf("after erasure: %d ledger rows, suppressed %v, %v", len(ledger), suppressed, err)
	}
	if err := s.DeleteLead(ctx, "a@example.com", "hash:a@example.com", rules, now); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("second erasure: %v", err)
	}
	// Two captures from one visitor, form and path within a second: two
	// submissions and two conversions (a capture's event is never a
	// duplicate of another's).
	c1, err := s.CaptureLead(ctx, Lead("one@example.com", "visitor-lead-c", "express", "I agree", now))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.CaptureLead(ctx, Lead("two@example.com", "visitor-lead-c", "express", "I agree", now.Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if c2.VisitorID != c1.VisitorID || c2.SessionID != c1.SessionID || c2.LeadID == c1.LeadID {
		t.Fatalf("two captures: %+v then %+v", c1, c2)
	}
	evs, err := s.VisitorEvents(ctx, c1.VisitorID, now.Add(-time.Hour))
	if err != nil || len(evs) != 2 || !evs[0].IsConversion || !evs[1].IsConversion {
		t.Fatalf("two captures stored %d conversion events (%v), want 2", len(evs), err)
	}
}

// testLeadsNeverUndone: a capture from anyone does not bring back a
// withdrawn or erased address, nor overwrite stored profile fields.
func testLeadsNeverUndone(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	r, err := s.CaptureLead(ctx, Lead("keep@example.com", "visitor-keep", "express", "I agree", now))
	if err != nil {
		t.Fatal(err)
	}
	again := Lead("keep@example.com", "visitor-stranger", "express", "I agree", now.Add(time.Minute))
	again.Input.Name, again.Input.Locale = "Someone Else", "fr-CA"
	if _, err := s.CaptureLead(ctx, again); err != nil {
		t.Fatal(err)
	}
	d, _ := s.LeadDetail(ctx, r.LeadID)
	if d.Name != "Name of keep@example.com" || d.Locale != "fr-CA" {
		t.Fatalf("a later capture overwrote the name or did not fill the empty locale: %q %q", d.Name, d.Locale)
	}
	if err := s.SetConsent(ctx, marketing.ConsentChange{Email: "keep@example.com", Status: "withdrawn", Source: "unsubscribe", Now: now.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CaptureLead(ctx, Lead("keep@example.com", "visitor-stranger", "express", "New words", now.Add(3*time.Minute))); err != nil {
		t.Fatal(err)
	}
	d, _ = s.LeadDetail(ctx, r.LeadID)
	if d.ConsentStatus != marketing.ConsentWithdrawn || len(d.Submissions) != 3 {
		t.Fatalf("an express capture undid a withdrawal: %s, %d submissions (the capture is kept as one)", d.ConsentStatus, len(d.Submissions))
	}
	if err := s.DeleteLead(ctx, "keep@example.com", "hash:keep@example.com", rules, now.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	back, err := s.CaptureLead(ctx, Lead("keep@example.com", "visitor-stranger", "express", "I agree", now.Add(5*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if back.LeadID != "" || back.SubmissionID == "" || back.VisitorID != "v:visitor-stranger" {
		t.Fatalf("capture of an erased address: %+v", back)
	}
	if _, err := s.LeadIDByEmail(ctx, "keep@example.com"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("an express capture re-created an erased lead: %v", err)
	}
	if _, suppressed, _ := s.Subject(ctx, "hash:keep@example.com"); !suppressed {
		t.Fatal("the capture lifted the suppression")
	}
}

// testErasure: after erasure, nothing reached from the email hash leads to
// a visitor: the ledger keeps status, time, wording hash and source only,
// and no submission or event stands at a ledger row's time.
func testErasure(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	write(t, s, Event("visitor-erase", "page_view", "/", now.Add(-time.Minute)))
	c := Lead("gone@example.com", "visitor-erase", "express", "I agree", now)
	c.Input.Payload = []byte(`{"note":"private"}`)
	if _, err := s.CaptureLead(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConsent(ctx, marketing.ConsentChange{Email: "gone@example.com", Status: "withdrawn", Source: "unsubscribe", Reason: "too many emails", IPHash: "iphash", Now: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	sessionize(t, s) // materialised sessions hold the capture's event
	if err := s.DeleteLead(ctx, "gone@example.com", "hash:gone@example.com", rules, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ledger, _, err := s.Subject(ctx, "hash:gone@example.com")
	if err != nil || len(ledger) != 2 {
		t.Fatalf("ledger after erasure: %+v, %v", ledger, err)
	}
	for _, row := range ledger {
		if row.Reason != "" || row.IPHash != "" || row.FormName != "" || row.PagePath != "" || row.Status == "" || row.At.IsZero() {
			t.Errorf("ledger row keeps more than the proof: %+v", row)
		}
		evs, err := s.VisitorEvents(ctx, "v:visitor-erase", now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.OccurredAt.Equal(row.At) {
				t.Errorf("an event at the ledger row's time %v survives: %+v", row.At, e)
			}
		}
		for _, ss := range sessionsOf(t, s, "v:visitor-erase") {
			if ss.EndedAt.Equal(row.At) || ss.StartedAt.Equal(row.At) || ss.Converted {
				t.Errorf("a session still holds the capture at the ledger row's time %v: %+v", row.At, ss)
			}
		}
	}
}
