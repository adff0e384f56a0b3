package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/altcontext/marketing"
)

func addEndpoint(t *testing.T, s marketing.Store, id, property string, email bool, at time.Time) {
	t.Helper()
	if err := s.AddEndpoint(context.Background(), &marketing.WebhookEndpoint{ID: id, URL: "https://hooks.example.net/" + id,
		PropertyID: property, Secret: "whsec_c2VjcmV0", IncludeEmail: email, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
}

// messages lists every message, oldest first.
func messages(t *testing.T, s marketing.Store) []marketing.Message {
	t.Helper()
	ms, err := s.Messages(context.Background(), marketing.MessageFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms
}

// full reads a message with its address and attempts.
func full(t *testing.T, s marketing.Store, id string) (*marketing.Message, []marketing.Attempt) {
	t.Helper()
	m, as, err := s.Message(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m, as
}

// testOutbox: every lead change writes its messages in its transaction,
// one per matching endpoint, the address only where an endpoint opted in,
// and erasure leaves none.
func testOutbox(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	addEndpoint(t, s, "ep_all", "", true, now)
	addEndpoint(t, s, "ep_site", "example.com", false, now)
	addEndpoint(t, s, "ep_other", "other.example", false, now)
	r, err := s.CaptureLead(ctx, Lead("out@example.com", "visitor-out", "express", "I agree", now))
	if err != nil {
		t.Fatal(err)
	}
	ms := messages(t, s)
	if len(ms) != 2 {
		t.Fatalf("lead.created: %d messages, want 2 (two matching endpoints): %+v", len(ms), ms)
	}
	byEndpoint := map[string]*marketing.Message{}
	for _, m := range ms {
		m2, _ := full(t, s, m.ID)
		byEndpoint[m.EndpointID] = m2
		if m.Type != marketing.EventLeadCreated || m.Status != marketing.MessagePending || m.LeadID != r.LeadID || m.Channel != "webhook" {
			t.Errorf("message %+v", m)
		}
	}
	if byEndpoint["ep_all"].Email != "out@example.com" || byEndpoint["ep_site"].Email != "" {
		t.Fatalf("address where not opted in, or missing where opted in: %q %q", byEndpoint["ep_all"].Email, byEndpoint["ep_site"].Email)
	}
	if byEndpoint["ep_all"].ID == byEndpoint["ep_site"].ID {
		t.Fatal("two endpoints share a message id")
	}
	// A capture that changes nothing queues nothing.
	if _, err := s.CaptureLead(ctx, Lead("out@example.com", "visitor-out", "express", "I agree", now.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, s)); n != 2 {
		t.Fatalf("an unchanged capture queued messages: %d", n)
	}
	if err := s.SetConsent(ctx, marketing.ConsentChange{LeadID: r.LeadID, Status: "withdrawn", Source: "unsubscribe", Now: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	ms = messages(t, s)
	if len(ms) != 4 || ms[2].Type != marketing.EventLeadUnsubscribed {
		t.Fatalf("after unsubscribe: %+v", ms)
	}
	if err := s.DeleteLead(ctx, "out@example.com", "hash:out@example.com", rules, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ms = messages(t, s)
	if len(ms) != 6 || ms[5].Type != marketing.EventLeadErased {
		t.Fatalf("after erasure: %d messages %+v", len(ms), ms)
	}
	for _, m := range ms {
		if m2, _ := full(t, s, m.ID); m2.Email != "" {
			t.Errorf("message %s of an erased lead keeps the address", m.ID)
		}
	}
	// Notification email with a new lead; none for the second capture.
	c := Lead("notify@example.com", "visitor-notify", "", "", now)
	c.Notify = true
	if _, err := s.CaptureLead(ctx, c); err != nil {
		t.Fatal(err)
	}
	var mails []marketing.Message
	for _, m := range messages(t, s) {
		if m.Channel == marketing.DeliveryEmail {
			mails = append(mails, m)
		}
	}
	if len(mails) != 1 || mails[0].Type != marketing.MailNotification {
		t.Fatalf("notification mails %+v", mails)
	}
	if m, _ := full(t, s, mails[0].ID); m.Email != "notify@example.com" {
		t.Fatalf("notification without the address: %+v", m)
	}
	// The expiry of implied consent is a change too.
	if _, err := s.CaptureLead(ctx, Lead("implied@example.com", "visitor-implied", "implied", "", now)); err != nil {
		t.Fatal(err)
	}
	before := len(messages(t, s))
	if n, err := s.ExpireImpliedConsent(ctx, now.Add(time.Second), now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	ms = messages(t, s)
	expired := 0
	for _, m := range ms {
		if m.Type == marketing.EventConsentChanged && strings.Contains(string(m.Payload), `"source":"expiry"`) {
			expired++
		}
	}
	if len(ms) != before+2 || expired != 2 {
		t.Fatalf("after expiry: %d new messages, %d of them consent.changed by expiry", len(ms)-before, expired)
	}
}

// testClaims: a claim leases a message to one owner; another owner gets it
// only once the lease has run out; an attempt from an owner that lost its
// lease is logged but changes nothing; replay revives the dead.
func testClaims(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	addEndpoint(t, s, "ep_claims", "", false, now)
	for i := range 3 {
		if _, err := s.CaptureLead(ctx, Lead("claim"+string(rune('a'+i))+"@example.com", "visitor-claims", "", "", now)); err != nil {
			t.Fatal(err)
		}
	}
	web := []string{marketing.DeliveryWebhook}
	if got, _ := s.ClaimMessages(ctx, "a", []string{marketing.DeliveryEmail}, now, time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %d webhook messages as email", len(got))
	}
	a, err := s.ClaimMessages(ctx, "a", web, now, time.Minute, 10)
	if err != nil || len(a) != 3 {
		t.Fatalf("first claim: %d, %v", len(a), err)
	}
	if a[0].Endpoint == nil || a[0].Endpoint.URL != "https://hooks.example.net/ep_claims" || a[0].Endpoint.Secret == "" {
		t.Fatalf("claimed message without its endpoint: %+v", a[0])
	}
	if b, _ := s.ClaimMessages(ctx, "b", web, now.Add(30*time.Second), time.Minute, 10); len(b) != 0 {
		t.Fatalf("claimed %d messages under a live lease", len(b))
	}
	// a delivers the first; the other two stay leased to a until it runs out.
	if err := s.RecordAttempt(ctx, "a", marketing.Attempt{MessageID: a[0].ID, Attempt: 1, At: now, StatusCode: 200, Latency: 12 * time.Millisecond},
		marketing.Outcome{Status: marketing.MessageDelivered}); err != nil {
		t.Fatal(err)
	}
	b, err := s.ClaimMessages(ctx, "b", web, now.Add(61*time.Second), time.Minute, 10)
	if err != nil || len(b) != 2 {
		t.Fatalf("claim after the lease ran out: %d, %v", len(b), err)
	}
	// a's late answer is logged but b holds the message now.
	late := now.Add(62 * time.Second)
	if err := s.RecordAttempt(ctx, "a", marketing.Attempt{MessageID: b[0].ID, Attempt: 1, At: late, StatusCode: 500}, marketing.Outcome{Status: marketing.MessageDead}); err != nil {
		t.Fatal(err)
	}
	m, attempts := full(t, s, b[0].ID)
	if m.Status != marketing.MessagePending || len(attempts) != 1 || attempts[0].StatusCode != 500 {
		t.Fatalf("a lost lease changed the message: %+v, %+v", m, attempts)
	}
	if err := s.RecordAttempt(ctx, "b", marketing.Attempt{MessageID: b[0].ID, Attempt: 2, At: late, Error: "connection refused"},
		marketing.Outcome{Status: marketing.MessagePending, Next: late.Add(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	m, attempts = full(t, s, b[0].ID)
	if m.Status != marketing.MessagePending || m.Attempts != 2 || !m.NextAttemptAt.Equal(late.Add(5*time.Second)) || len(attempts) != 2 || attempts[1].Error != "connection refused" {
		t.Fatalf("retry: %+v, %+v", m, attempts)
	}
	if got, _ := s.ClaimMessages(ctx, "c", web, late.Add(time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed a message before its next attempt (or one still leased): %+v", got)
	}
	if err := s.RecordAttempt(ctx, "b", marketing.Attempt{MessageID: b[1].ID, Attempt: 1, At: late, StatusCode: 410}, marketing.Outcome{Status: marketing.MessageDead}); err != nil {
		t.Fatal(err)
	}
	st, err := s.OutboxStats(ctx)
	if err != nil || st.Pending != 1 || st.Dead != 1 || st.Delivered != 1 || st.OldestDue.IsZero() {
		t.Fatalf("stats %+v, %v", st, err)
	}
	if dead, _ := s.Messages(ctx, marketing.MessageFilter{Status: marketing.MessageDead}); len(dead) != 1 || dead[0].ID != b[1].ID {
		t.Fatalf("dead letters %+v", dead)
	}
	n, err := s.Replay(ctx, "", late)
	if err != nil || n != 1 {
		t.Fatalf("replay dead: %d, %v", n, err)
	}
	if m, _ := full(t, s, b[1].ID); m.Status != marketing.MessagePending || m.Attempts != 0 {
		t.Fatalf("replayed message %+v", m)
	}
	if _, err := s.Replay(ctx, "msg_missing", late); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("replay of a missing message: %v", err)
	}
	if n, err := s.Replay(ctx, a[0].ID, late); err != nil || n != 1 {
		t.Fatalf("replay of a delivered message: %d, %v", n, err)
	}
	if err := s.RemoveEndpoint(ctx, "ep_claims"); err != nil {
		t.Fatal(err)
	}
	if ms := messages(t, s); len(ms) != 0 {
		t.Fatalf("%d messages outlive their endpoint", len(ms))
	}
	if err := s.RemoveEndpoint(ctx, "ep_claims"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("second removal: %v", err)
	}
}

// testClaimsTwoProcesses: two handles claiming at once never get the same
// message while its lease lives.
func testClaimsTwoProcesses(t *testing.T, a, b marketing.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	addEndpoint(t, a, "ep_two", "", false, now)
	for i := range 60 {
		if _, err := a.CaptureLead(ctx, Lead("two"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.com", "visitor-two", "", "", now)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]string{}
	errs := concurrently(8, func(i int) error {
		s, owner := a, "a"
		if i%2 == 1 {
			s, owner = b, "b"
		}
		owner += string(rune('0' + i))
		for range 20 {
			got, err := s.ClaimMessages(ctx, owner, []string{marketing.DeliveryWebhook}, now, time.Minute, 4)
			if err != nil {
				return err
			}
			mu.Lock()
			for _, m := range got {
				if prev, ok := seen[m.ID]; ok {
					mu.Unlock()
					t.Errorf("message %s claimed by %s and %s", m.ID, prev, owner)
					return nil
				}
				seen[m.ID] = owner
			}
			mu.Unlock()
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(seen) != 60 {
		t.Fatalf("%d of 60 messages claimed", len(seen))
	}
}

// testDoubleOptIn: pending until confirmed; confirmation records express
// with source double_opt_in and the wording; an erased address comes back
// only through it; an expired request confirms nothing.
func testDoubleOptIn(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	c := Lead("doi@example.com", "visitor-doi", "express", "Send me the newsletter", now)
	c.DoubleOptIn, c.ConfirmationID = true, marketing.NewID(now)
	r, err := s.CaptureLead(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := s.LeadDetail(ctx, r.LeadID)
	if d.ConsentStatus != marketing.ConsentPending || len(d.Consent) != 1 || d.Consent[0].Wording == nil {
		t.Fatalf("before confirmation: %s, %+v", d.ConsentStatus, d.Consent)
	}
	var confirmMail *marketing.Message
	for _, m := range messages(t, s) {
		if m.Type == marketing.MailConfirmation {
			confirmMail, _ = full(t, s, m.ID)
		}
	}
	if confirmMail == nil || confirmMail.Email != "doi@example.com" {
		t.Fatalf("no confirmation email queued: %+v", confirmMail)
	}
	if err := s.ResendConfirmation(ctx, "doi@example.com", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ResendConfirmation(ctx, "nobody@example.com", now); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("resend without a request: %v", err)
	}
	if err := s.ConfirmOptIn(ctx, marketing.ConfirmRequest{ID: c.ConfirmationID, IPHash: "ip", Now: now.Add(8 * 24 * time.Hour)}); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("confirmation after expiry: %v", err)
	}
	if err := s.ConfirmOptIn(ctx, marketing.ConfirmRequest{ID: c.ConfirmationID, IPHash: "ip", Now: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmOptIn(ctx, marketing.ConfirmRequest{ID: c.ConfirmationID, IPHash: "ip", Now: now.Add(2 * time.Hour)}); err != nil {
		t.Fatalf("confirming twice: %v", err)
	}
	d, _ = s.LeadDetail(ctx, r.LeadID)
	if d.ConsentStatus != marketing.ConsentExpress || len(d.Consent) != 2 {
		t.Fatalf("after confirmation: %s, %+v", d.ConsentStatus, d.Consent)
	}
	last := d.Consent[1]
	if last.Source != marketing.SourceDoubleOptIn || last.Status != marketing.ConsentExpress || last.Wording == nil ||
		last.Wording.Text != "Send me the newsletter" || !last.At.Equal(now.Add(time.Hour)) {
		t.Fatalf("ledger row of the confirmation %+v", last)
	}
	// An erased address: a double opt-in capture stores no lead; the
	// confirmation brings it back, and lifts the suppression.
	if err := s.DeleteLead(ctx, "doi@example.com", "hash:doi@example.com", rules, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	back := Lead("doi@example.com", "visitor-doi", "express", "Send me the newsletter, v2", now.Add(4*time.Hour))
	back.DoubleOptIn, back.ConfirmationID = true, marketing.NewID(now)
	if res, err := s.CaptureLead(ctx, back); err != nil || res.LeadID != "" {
		t.Fatalf("double opt-in capture of an erased address: %+v, %v", res, err)
	}
	if _, err := s.LeadIDByEmail(ctx, "doi@example.com"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("lead re-created before confirmation: %v", err)
	}
	if err := s.ConfirmOptIn(ctx, marketing.ConfirmRequest{ID: back.ConfirmationID, Now: now.Add(5 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	id, err := s.LeadIDByEmail(ctx, "doi@example.com")
	if err != nil {
		t.Fatalf("confirmed erased address has no lead: %v", err)
	}
	d, _ = s.LeadDetail(ctx, id)
	if d.ConsentStatus != marketing.ConsentExpress || len(d.Consent) != 1 || d.Consent[0].Wording == nil || d.Consent[0].Wording.Text != "Send me the newsletter, v2" {
		t.Fatalf("re-created lead %s, %+v", d.ConsentStatus, d.Consent)
	}
	if _, suppressed, _ := s.Subject(ctx, "hash:doi@example.com"); suppressed {
		t.Fatal("confirmed address still suppressed")
	}
	// A withdrawn address returns to express only by confirmation.
	if err := s.SetConsent(ctx, marketing.ConsentChange{LeadID: id, Status: "withdrawn", Source: "unsubscribe", Now: now.Add(6 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	again := Lead("doi@example.com", "visitor-doi", "express", "Send me the newsletter, v2", now.Add(7*time.Hour))
	again.DoubleOptIn, again.ConfirmationID = true, marketing.NewID(now)
	if _, err := s.CaptureLead(ctx, again); err != nil {
		t.Fatal(err)
	}
	if d, _ = s.LeadDetail(ctx, id); d.ConsentStatus != marketing.ConsentWithdrawn {
		t.Fatalf("capture undid a withdrawal: %s", d.ConsentStatus)
	}
	if err := s.ConfirmOptIn(ctx, marketing.ConfirmRequest{ID: again.ConfirmationID, Now: now.Add(8 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if d, _ = s.LeadDetail(ctx, id); d.ConsentStatus != marketing.ConsentExpress {
		t.Fatalf("confirmation did not bring back a withdrawn address: %s", d.ConsentStatus)
	}
	// Purge removes expired and confirmed requests.
	if n, err := s.PurgeDelivery(ctx, now.Add(30*24*time.Hour), now); err != nil || n < 2 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if err := s.ConfirmOptIn(ctx, marketing.ConfirmRequest{ID: again.ConfirmationID, Now: now.Add(9 * time.Hour)}); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("confirmation after purge: %v", err)
	}
}
