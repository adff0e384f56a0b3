// Package storetest is the conformance suite every marketing.Store must
// pass. The PostgreSQL and SQLite packages run it against real databases.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
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
	t.Run("EventsTwoProcesses", func(t *testing.T) {
		a, reopen := open(t)
		if _, err := a.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		testEventsTwoProcesses(t, a, reopen())
	})
	t.Run("Leads", func(t *testing.T) { testLeads(t, migrated(t)) })
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
func Event(anon, typ, path string, at time.Time) marketing.PendingEvent {
	key := sha256.Sum256([]byte(anon + typ + path + at.String()))
	return marketing.PendingEvent{
		ID: marketing.NewID(at), AnonID: anon, EventType: typ, Path: path,
		OccurredAt: at, ReceivedAt: time.Now(), DedupeKey: key[:16], DedupeSince: time.Now().Add(-time.Hour),
		PropertyID: "example.com", TrafficSource: "direct", DeviceType: "desktop", IPHash: "iphash", UAHash: "uahash",
	}
}

var rules = marketing.SessionRules{Inactivity: 30 * time.Minute}

func write(t *testing.T, s marketing.Store, evs ...marketing.PendingEvent) []marketing.EventResult {
	t.Helper()
	res, err := s.WriteEvents(context.Background(), evs, rules)
	if err != nil {
		t.Fatalf("WriteEvents: %v", err)
	}
	if len(res) != len(evs) {
		t.Fatalf("WriteEvents returned %d results for %d events", len(res), len(evs))
	}
	return res
}

func testEventsSessions(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	r1 := write(t, s, Event("visitor-a", "page_view", "/", t0))[0]
	if r1.VisitorID == "" || r1.SessionID == "" || r1.EventID == "" {
		t.Fatalf("result lacks ids: %+v", r1)
	}
	// 10 minutes later, no UTM: same session.
	r2 := write(t, s, Event("visitor-a", "page_view", "/pricing", t0.Add(10*time.Minute)))[0]
	if r2.SessionID != r1.SessionID || r2.VisitorID != r1.VisitorID {
		t.Fatalf("second page view: session %s, want %s", r2.SessionID, r1.SessionID)
	}
	// A campaign arrives: new session; a page without UTM continues it.
	campaign := Event("visitor-a", "page_view", "/landing", t0.Add(15*time.Minute))
	campaign.UTM = marketing.UTM{Source: "newsletter", Medium: "email"}
	r3 := write(t, s, campaign)[0]
	if r3.SessionID == r2.SessionID {
		t.Fatal("a new campaign did not start a new session")
	}
	r4 := write(t, s, Event("visitor-a", "page_view", "/about", t0.Add(16*time.Minute)))[0]
	if r4.SessionID != r3.SessionID {
		t.Fatal("a page without UTM did not continue the campaign session")
	}
	// 31 minutes of silence: new session.
	r5 := write(t, s, Event("visitor-a", "page_view", "/", t0.Add(47*time.Minute)))[0]
	if r5.SessionID == r4.SessionID {
		t.Fatal("31 minutes of inactivity did not start a new session")
	}
	sessions, err := s.VisitorSessions(ctx, r1.VisitorID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 3 {
		t.Fatalf("want 3 sessions, got %d", len(sessions))
	}
	first := sessions[0]
	if first.PageViews != 2 || first.LandingPath != "/" || first.ExitPath != "/pricing" || !first.LastEventAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("first session = %+v", first)
	}
	if sessions[1].UTM.Source != "newsletter" || sessions[1].ExitPath != "/about" {
		t.Errorf("campaign session = %+v", sessions[1])
	}
	// A batch mixing two visitors, out of order, keeps input order in results.
	b := []marketing.PendingEvent{
		Event("visitor-b", "click", "/x", t0.Add(2*time.Minute)),
		Event("visitor-c", "page_view", "/", t0),
		Event("visitor-b", "page_view", "/", t0),
	}
	res := write(t, s, b...)
	if res[0].SessionID != res[2].SessionID || res[0].VisitorID != res[2].VisitorID {
		t.Fatalf("one visitor's batch split: %+v", res)
	}
	if res[1].VisitorID == res[0].VisitorID {
		t.Fatal("two visitors share an id")
	}
	for i, r := range res {
		if r.EventID != b[i].ID {
			t.Errorf("result %d has event %s, want %s", i, r.EventID, b[i].ID)
		}
	}
}

func testEventsDedupe(t *testing.T, s marketing.Store) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	e := Event("visitor-d", "page_view", "/", t0)
	r1 := write(t, s, e)[0]
	retry := e
	retry.ID = marketing.NewID(time.Now())
	r2 := write(t, s, retry)[0]
	if !r2.Duplicate || r2.EventID != r1.EventID || r2.SessionID != r1.SessionID {
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
	// Outside the window the same key is a new event.
	h := Event("visitor-d", "click", "/b", t0.Add(time.Second))
	h.ID = marketing.NewID(time.Now())
	h.DedupeSince = time.Now().Add(time.Minute)
	if r := write(t, s, h)[0]; r.Duplicate || r.EventID != h.ID {
		t.Fatalf("outside the window: %+v, want a new event", r)
	}
	sessions, err := s.VisitorSessions(context.Background(), r1.VisitorID)
	if err != nil || len(sessions) != 1 || sessions[0].Events != 3 {
		t.Fatalf("sessions = %+v, %v; want one holding 3 events", sessions, err)
	}
}

// testEventsConcurrent writes one visitor's events from many goroutines at
// once, each its own batch: the store must end with one session.
func testEventsConcurrent(t *testing.T, s marketing.Store) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	seen, _, errs := concurrently(20, func(i int) (marketing.EventResult, error) {
		e := Event("visitor-e", "page_view", "/p", t0.Add(time.Duration(i)*time.Second))
		res, err := s.WriteEvents(context.Background(), []marketing.PendingEvent{e}, rules)
		if err != nil {
			return marketing.EventResult{}, err
		}
		return res[0], nil
	})
	for _, err := range errs {
		if marketing.ErrorCode(err) == marketing.EUNAVAILABLE && errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("concurrent writes for one visitor made %d sessions, want 1", len(seen))
	}
}

// concurrently runs fn(0), …, fn(n-1) at once and returns the distinct
// sessions of their results, the visitor of one of them, and the errors.
func concurrently(n int, fn func(i int) (marketing.EventResult, error)) (map[string]bool, string, []error) {
	var wg sync.WaitGroup
	results := make([]marketing.EventResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = fn(i)
		}()
	}
	wg.Wait()
	sessions := map[string]bool{}
	var visitor string
	var failed []error
	for i, r := range results {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		sessions[r.SessionID] = true
		visitor = r.VisitorID
	}
	return sessions, visitor, failed
}

// testEventsTwoProcesses alternates one visitor's events between two
// handles on one database, each with its own visitor cache, and a lead
// capture in between: every decision must be the one a single writer would
// make, so neither handle may trust what it remembers after the other wrote.
func testEventsTwoProcesses(t *testing.T, a, b marketing.Store) {
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	s1 := write(t, a, Event("visitor-g", "page_view", "/", at(0)))[0].SessionID
	if got := write(t, b, Event("visitor-g", "page_view", "/b", at(20)))[0].SessionID; got != s1 {
		t.Fatal("the second handle started a new session 20 minutes in")
	}
	// 45 minutes after the first event but 25 after the last: same session.
	if got := write(t, a, Event("visitor-g", "page_view", "/c", at(45)))[0].SessionID; got != s1 {
		t.Fatal("the first handle split the session: it did not see the other's event")
	}
	campaign := Event("visitor-g", "page_view", "/landing", at(50))
	campaign.UTM = marketing.UTM{Source: "newsletter", Medium: "email"}
	s2 := write(t, b, campaign)[0].SessionID
	if s2 == s1 {
		t.Fatal("a new campaign did not start a session")
	}
	if got := write(t, a, Event("visitor-g", "page_view", "/d", at(52)))[0].SessionID; got != s2 {
		t.Fatal("the first handle continued an older session than the latest")
	}
	// A lead capture on the same handle writes outside its event batches.
	lead := Lead("two@example.com", "visitor-g", marketing.ConsentExpress, "Send me news", at(60))
	lead.Event.UTM = marketing.UTM{Source: "ads", Medium: "cpc", Campaign: "spring"}
	lr, err := a.CaptureLead(context.Background(), lead)
	if err != nil {
		t.Fatal(err)
	}
	if lr.SessionID == s2 {
		t.Fatal("the lead's campaign did not start a session")
	}
	if got := write(t, a, Event("visitor-g", "page_view", "/e", at(61)))[0].SessionID; got != lr.SessionID {
		t.Fatal("after a lead capture the handle continued the session it remembered")
	}
	sessions, err := b.VisitorSessions(context.Background(), lr.VisitorID)
	if err != nil {
		t.Fatal(err)
	}
	var counts []int
	for _, s := range sessions {
		counts = append(counts, s.Events)
	}
	if len(sessions) != 3 || counts[0] != 3 || counts[1] != 2 || counts[2] != 2 || sessions[0].ExitPath != "/c" {
		t.Fatalf("sessions hold %v events (exit %q), want [3 2 2] and /c", counts, sessions[0].ExitPath)
	}

	// Both handles at once, one visitor: one session.
	seen, _, errs := concurrently(20, func(i int) (marketing.EventResult, error) {
		s := a
		if i%2 == 1 {
			s = b
		}
		res, err := s.WriteEvents(context.Background(), []marketing.PendingEvent{Event("visitor-h", "page_view", "/p", t0.Add(time.Duration(i)*time.Second))}, rules)
		if err != nil {
			return marketing.EventResult{}, err
		}
		return res[0], nil
	})
	for _, err := range errs {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("two handles writing one visitor made %d sessions, want 1", len(seen))
	}

	// Lead captures on one handle and event batches on the other, one
	// visitor, all at once: still one session, counting every event.
	seen, vid, errs := concurrently(20, func(i int) (marketing.EventResult, error) {
		at := t0.Add(time.Duration(i) * time.Second)
		if i%2 == 0 {
			r, err := a.CaptureLead(context.Background(), Lead(fmt.Sprintf("same-%d@example.com", i), "visitor-i", marketing.ConsentExpress, "News", at))
			return marketing.EventResult{VisitorID: r.VisitorID, SessionID: r.SessionID}, err
		}
		res, err := b.WriteEvents(context.Background(), []marketing.PendingEvent{Event("visitor-i", "page_view", "/p", at)}, rules)
		if err != nil {
			return marketing.EventResult{}, err
		}
		return res[0], nil
	})
	for _, err := range errs {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("lead captures and event batches for one visitor made %d sessions, want 1", len(seen))
	}
	var sid string
	for id := range seen {
		sid = id
	}
	sessions, err = a.VisitorSessions(context.Background(), vid)
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].ID != sid || sessions[0].Events != 20 {
		t.Fatalf("sessions = %+v; want one, %s, counting 20 events (concurrent writers must not lose updates)", sessions, sid)
	}
}

// Lead builds a capture for tests.
func Lead(email, anon, status, wording string, at time.Time) *marketing.LeadCapture {
	ev := Event(anon, "lead_captured", "/signup", at)
	ev.IsConversion = true
	c := &marketing.LeadCapture{
		Input:     marketing.LeadInput{Email: email, FormName: "signup", Path: "/signup", ConsentStatus: status, Consent: marketing.Consent{Text: wording}},
		EmailHash: "hash:" + email, Event: ev, IPHash: "iphash", Rules: rules, Now: at,
	}
	if wording != "" {
		c.WordingHash = fmt.Sprintf("%x", sha256.Sum256([]byte(wording)))
	}
	return c
}

func testLeads(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	r1, err := s.CaptureLead(ctx, Lead("a@example.com", "visitor-lead-a", "express", "I agree", now))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.LeadDetail(ctx, r1.LeadID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Email != "a@example.com" || d.ConsentStatus != "express" || len(d.Identities) != 1 || len(d.Submissions) != 1 ||
		len(d.Consent) != 1 || d.Consent[0].Wording == nil || d.Consent[0].Wording.Text != "I agree" || len(d.Visits) != 1 {
		t.Fatalf("detail %+v", d)
	}
	if d.FirstTouch.LandingPath != "/signup" || d.FirstTouch.TrafficSource != "direct" {
		t.Errorf("first touch %+v", d.FirstTouch)
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
	if err := s.DeleteLead(ctx, "a@example.com", "hash:a@example.com", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LeadIDByEmail(ctx, "a@example.com"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("erased lead still found: %v", err)
	}
	ledger, suppressed, err := s.Subject(ctx, "hash:a@example.com")
	if err != nil || !suppressed || len(ledger) != 3 {
		t.Fatalf("after erasure: %d ledger rows, suppressed %v, %v", len(ledger), suppressed, err)
	}
	if err := s.DeleteLead(ctx, "a@example.com", "hash:a@example.com", now); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("second erasure: %v", err)
	}
	// A double submission: the second capture's event is a duplicate, so
	// its session is the stored one, and the lead is attributed to it.
	c1, err := s.CaptureLead(ctx, Lead("c@example.com", "visitor-lead-c", "express", "I agree", now))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.CaptureLead(ctx, Lead("c@example.com", "visitor-lead-c", "express", "I agree", now))
	if err != nil {
		t.Fatal(err)
	}
	if c2.LeadID != c1.LeadID || c2.VisitorID != c1.VisitorID || c2.SessionID != c1.SessionID {
		t.Fatalf("double submission: %+v then %+v", c1, c2)
	}
	d, _ = s.LeadDetail(ctx, c1.LeadID)
	if len(d.Submissions) != 2 || len(d.Consent) != 1 || d.LastTouch.LandingPath != "/signup" || d.LastTouch.TrafficSource != "direct" {
		t.Fatalf("after a double submission: %d submissions, %d consent rows, last touch %+v", len(d.Submissions), len(d.Consent), d.LastTouch)
	}
}

// ForeignWrites checks how the event writer's visitor cache (see
// marketing.VisitorCache) meets writes it did not make, on a migrated
// store: after a lead capture, which names its visitor, only that visitor
// is forgotten; after a write that names nothing (bump adds 100 to a
// session's event count behind the store's back), everything is.
// cached reports whether the writer's cache holds a visitor.
func ForeignWrites(t *testing.T, s marketing.Store, bump func(sessionID string), cached func(anon string) bool) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	res := write(t, s, Event("fw-x", "page_view", "/", at(0)), Event("fw-y", "page_view", "/", at(0)), Event("fw-z", "page_view", "/", at(0)))
	lead := Lead("fw@example.com", "fw-y", marketing.ConsentExpress, "News", at(1))
	lead.Event.UTM = marketing.UTM{Source: "ads", Medium: "cpc", Campaign: "fall"}
	lr, err := s.CaptureLead(context.Background(), lead)
	if err != nil {
		t.Fatal(err)
	}
	if lr.SessionID == res[1].SessionID {
		t.Fatal("the capture's campaign did not start a session")
	}
	write(t, s, Event("fw-x", "page_view", "/2", at(2)))
	if !cached("fw-z") {
		t.Error("a lead capture for another visitor emptied the writer's cache")
	}
	if got := write(t, s, Event("fw-y", "page_view", "/2", at(3)))[0].SessionID; got != lr.SessionID {
		t.Fatal("after a lead capture the writer continued the session it remembered")
	}

	bump(res[0].SessionID)
	if _, err := s.CaptureLead(context.Background(), Lead("fw2@example.com", "fw-y", marketing.ConsentExpress, "News", at(4))); err != nil {
		t.Fatal(err)
	}
	write(t, s, Event("fw-x", "page_view", "/3", at(5)))
	if cached("fw-z") {
		t.Error("after a write that named no visitor the writer kept its cache")
	}
	sessions, err := s.VisitorSessions(context.Background(), res[0].VisitorID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].Events != 103 {
		t.Fatalf("fw-x's sessions %+v; want one counting 3 events and the 100 added behind the writer's back", sessions)
	}
}
