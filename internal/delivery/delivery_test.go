package delivery_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/delivery"
	"github.com/altcontext/marketing/internal/deliverytest"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fast is a retry schedule for tests: the real one's shape, in milliseconds.
var fast = []time.Duration{0, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond,
	20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}

func openSQLite(t *testing.T) marketing.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func addEndpoint(t *testing.T, s marketing.Store, id, url, secret string, email bool) {
	t.Helper()
	e := &marketing.WebhookEndpoint{ID: id, URL: url, Secret: secret, IncludeEmail: email, CreatedAt: time.Now()}
	if err := s.AddEndpoint(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

func capture(t *testing.T, s marketing.Store, email string) marketing.LeadResult {
	t.Helper()
	r, err := s.CaptureLead(context.Background(), storetest.Lead(email, "visitor-"+email, "express", "I agree", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run starts a worker until the test ends.
func run(t *testing.T, o delivery.Options) *delivery.Worker {
	t.Helper()
	if o.Poll == 0 {
		o.Poll = 10 * time.Millisecond
	}
	if o.Schedule == nil {
		o.Schedule = fast
	}
	w := delivery.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stats(t *testing.T, s marketing.Store) marketing.OutboxStats {
	t.Helper()
	st, err := s.OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openPostgres(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestSignStandardWebhooksVector checks the signature against the example
// of the Standard Webhooks specification.
func TestSignStandardWebhooksVector(t *testing.T) {
	sig, err := delivery.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", sig)
	if err := deliverytest.Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestRetriesThenDelivered: the receiver answers 500 three times, then
// 200: the message is accepted once, with four attempts in the log.
func TestRetriesThenDelivered(t *testing.T) {
	s := openSQLite(t)
	secret := delivery.NewSecret()
	recv := deliverytest.NewReceiver(t, secret, 3)
	addEndpoint(t, s, "ep_retry", recv.URL, secret, true)
	r := capture(t, s, "retry@example.com")
	run(t, delivery.Options{Store: s, AllowPrivate: true})
	waitFor(t, "delivery", 10*time.Second, func() bool { return stats(t, s).Delivered == 1 })
	requests, bad, accepted, dups := recv.Counts()
	if requests != 4 || bad != 0 || accepted != 1 || dups != 0 {
		t.Fatalf("receiver: %d requests, %d badly signed, %d accepted, %d duplicates", requests, bad, accepted, dups)
	}
	d := recv.Deliveries()[0]
	if d.Type != marketing.EventLeadCreated || d.Data["leadId"] != r.LeadID || d.Data["email"] != "retry@example.com" {
		t.Fatalf("delivered %+v", d)
	}
	m, attempts, err := s.Message(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != marketing.MessageDelivered || len(attempts) != 4 {
		t.Fatalf("message %+v, %d attempts", m, len(attempts))
	}
	for i, a := range attempts {
		want := 500
		if i == 3 {
			want = 200
		}
		if a.Attempt != i+1 || a.StatusCode != want || a.At.IsZero() {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
}

// TestDeadLetterAndReplay: a receiver that always fails dead-letters the
// message after the schedule; replay sends it again.
func TestDeadLetterAndReplay(t *testing.T) {
	s := openSQLite(t)
	secret := delivery.NewSecret()
	recv := deliverytest.NewReceiver(t, secret, 4)
	addEndpoint(t, s, "ep_dead", recv.URL, secret, false)
	capture(t, s, "dead@example.com")
	run(t, delivery.Options{Store: s, AllowPrivate: true, Schedule: fast[:3]})
	waitFor(t, "dead letter", 10*time.Second, func() bool { return stats(t, s).Dead == 1 })
	if requests, _, accepted, _ := recv.Counts(); requests != 3 || accepted != 0 {
		t.Fatalf("before replay: %d requests, %d accepted", requests, accepted)
	}
	if n, err := s.Replay(context.Background(), "", time.Now()); err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	waitFor(t, "replayed delivery", 10*time.Second, func() bool { return stats(t, s).Delivered == 1 })
	if _, _, accepted, dups := recv.Counts(); accepted != 1 || dups != 0 {
		t.Fatalf("after replay: %d accepted, %d duplicates", accepted, dups)
	}
}

// TestReceiverDownThenUp: 1,000 leads arrive while the receiver is down;
// once it is back, each is delivered, once.
func TestReceiverDownThenUp(t *testing.T) {
	s := openPostgres(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connections are refused
	secret := delivery.NewSecret()
	if err := s.AddEndpoint(context.Background(), &marketing.WebhookEndpoint{ID: "ep_down", URL: "http://" + addr + "/hook", Secret: secret, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	long := make([]time.Duration, 200)
	for i := range long {
		long[i] = 300 * time.Millisecond
	}
	run(t, delivery.Options{Store: s, AllowPrivate: true, Schedule: long, Batch: 100, Parallel: 16})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 1000; i += 4 {
				if _, err := s.CaptureLead(context.Background(), storetest.Lead(fmt.Sprintf("down%04d@example.com", i), "visitor-down", "", "", time.Now())); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := stats(t, s); st.Pending != 1000 || st.Delivered != 0 {
		t.Fatalf("while down: %+v", st)
	}
	recv := deliverytest.NewReceiverAt(t, addr, secret)
	waitFor(t, "1,000 deliveries", 60*time.Second, func() bool { return stats(t, s).Delivered == 1000 })
	_, bad, accepted, dups := recv.Counts()
	if accepted != 1000 || dups != 0 || bad != 0 {
		t.Fatalf("receiver accepted %d, %d duplicates, %d badly signed", accepted, dups, bad)
	}
	if st := stats(t, s); st.Pending != 0 || st.Dead != 0 {
		t.Fatalf("after: %+v", st)
	}
}

// TestPrivateTargetsRefused: loopback, private, link-local and a name
// resolving to loopback are refused when registered and when sent to.
func TestPrivateTargetsRefused(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1/hook", "http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
		"http://[::1]:8080/hook", "http://localhost:9999/hook", "http://[::ffff:127.0.0.1]/x", "http://100.64.0.1/x", "http://0.0.0.0/x"} {
		if err := delivery.CheckURL(ctx, u, false); marketing.ErrorCode(err) != marketing.EINVALID {
			t.Errorf("%s: %v, want refused", u, err)
		}
		if err := delivery.CheckURL(ctx, u, true); err != nil {
			t.Errorf("%s with WEBHOOK_ALLOW_PRIVATE: %v", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com/x", "http://user:pw@example.com/", "not a url", "http:///x"} {
		if err := delivery.CheckURL(ctx, u, true); marketing.ErrorCode(err) != marketing.EINVALID {
			t.Errorf("%s: %v, want invalid", u, err)
		}
	}
	// At send time: a receiver on loopback is never reached.
	s := openSQLite(t)
	secret := delivery.NewSecret()
	recv := deliverytest.NewReceiver(t, secret, 0)
	for i, u := range []string{recv.URL, strings.Replace(recv.URL, "127.0.0.1", "localhost", 1)} {
		if err := s.AddEndpoint(ctx, &marketing.WebhookEndpoint{ID: fmt.Sprintf("ep_ssrf%d", i), URL: u, Secret: secret, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	capture(t, s, "ssrf@example.com")
	run(t, delivery.Options{Store: s, Schedule: fast[:2]})
	waitFor(t, "dead letters", 10*time.Second, func() bool { return stats(t, s).Dead == 2 })
	if requests, _, _, _ := recv.Counts(); requests != 0 {
		t.Fatalf("the loopback receiver got %d requests", requests)
	}
	dead, _ := s.Messages(ctx, marketing.MessageFilter{Status: marketing.MessageDead})
	for _, m := range dead {
		if !strings.Contains(m.LastError, "refused") {
			t.Errorf("dead letter %s: %q", m.ID, m.LastError)
		}
	}
}

// TestMail: a double opt-in capture and a new lead's notification go out
// by SMTP, with text and HTML parts and, to the subscriber, RFC 8058
// unsubscribe headers; with the server down, mail waits and goes once it
// is back.
func TestMail(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	srv := deliverytest.NewSMTPServer(t)
	srv.Stop()
	smtpCfg, err := delivery.ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Lead("sub@example.com", "visitor-mail", "express", "Send me news", time.Now())
	c.DoubleOptIn, c.Notify, c.ConfirmationID = true, true, marketing.NewID(time.Now())
	r, err := s.CaptureLead(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("link-secret")
	run(t, delivery.Options{Store: s, Mailer: smtpCfg, Schedule: []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		Mail: delivery.MailSettings{SiteName: "Example Site", From: "Example <news@example.com>", NotifyTo: "team@example.com",
			PublicURL: "https://m.example.com", Secret: secret}})
	waitFor(t, "failed attempts", 10*time.Second, func() bool {
		ms, _ := s.Messages(ctx, marketing.MessageFilter{})
		for _, m := range ms {
			if m.Channel == "email" && m.Attempts == 0 {
				return false
			}
		}
		return true
	})
	if st := stats(t, s); st.Delivered != 0 || st.Pending != 2 {
		t.Fatalf("with the mail server down: %+v", st)
	}
	srv.Restart(t)
	waitFor(t, "mail", 10*time.Second, func() bool { return len(srv.Messages()) == 2 })
	byTo := map[string]*mail.Message{}
	for _, m := range srv.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		byTo[m.To[0]] = msg
	}
	conf, note := byTo["sub@example.com"], byTo["team@example.com"]
	if conf == nil || note == nil {
		t.Fatalf("recipients %v", byTo)
	}
	wantUnsub := "<https://m.example.com/v1/leads/unsubscribe?token=" + url.QueryEscape(marketing.UnsubscribeToken(secret, r.LeadID)) + ">"
	if conf.Header.Get("List-Unsubscribe") != wantUnsub || conf.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("unsubscribe headers %q %q", conf.Header.Get("List-Unsubscribe"), conf.Header.Get("List-Unsubscribe-Post"))
	}
	if note.Header.Get("List-Unsubscribe") != "" {
		t.Error("the team's notification carries List-Unsubscribe")
	}
	text, html := parts(t, conf)
	link := "https://m.example.com/v1/leads/confirm?token=" + url.QueryEscape(marketing.ConfirmToken(secret, c.ConfirmationID))
	if !strings.Contains(text, link) || !strings.Contains(html, "Confirm my subscription") || !strings.Contains(text, "Example Site") {
		t.Errorf("confirmation text %q\nhtml %q", text, html)
	}
	if text, _ := parts(t, note); !strings.Contains(text, "sub@example.com") || !strings.Contains(text, "Example Site") {
		t.Errorf("notification %q", text)
	}
	waitFor(t, "mail delivered", 10*time.Second, func() bool { return stats(t, s).Delivered == 2 })
	ms, _ := s.Messages(ctx, marketing.MessageFilter{})
	for _, m := range ms {
		if _, attempts, _ := s.Message(ctx, m.ID); len(attempts) < 2 || attempts[0].Error == "" {
			t.Errorf("mail %s: %+v, want a failed attempt first", m.ID, attempts)
		}
	}
}

func parts(t *testing.T, m *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := p.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			text = b.String()
		} else {
			html = b.String()
		}
	}
	return text, html
}

// TestTwoWorkersPostgres: two processes' workers on one PostgreSQL deliver
// each message once (claims never overlap while a lease lives).
func TestTwoWorkersPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	open := func() *postgres.DB {
		db, err := postgres.Open(context.Background(), url, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if _, err := a.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	secret := delivery.NewSecret()
	recv := deliverytest.NewReceiver(t, secret, 0)
	if err := a.AddEndpoint(context.Background(), &marketing.WebhookEndpoint{ID: "ep_two", URL: recv.URL, Secret: secret, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	by := map[string]int{}
	observe := func(name string) func(string, string, time.Duration) {
		return func(_, outcome string, _ time.Duration) {
			mu.Lock()
			by[name+" "+outcome]++
			mu.Unlock()
		}
	}
	run(t, delivery.Options{Store: a, Owner: "process-a", AllowPrivate: true, Batch: 5, Observe: observe("a")})
	run(t, delivery.Options{Store: b, Owner: "process-b", AllowPrivate: true, Batch: 5, Observe: observe("b")})
	for i := range 300 {
		capture(t, a, fmt.Sprintf("two%03d@example.com", i))
	}
	waitFor(t, "300 deliveries", 60*time.Second, func() bool { return stats(t, a).Delivered == 300 })
	requests, _, accepted, dups := recv.Counts()
	if requests != 300 || accepted != 300 || dups != 0 {
		t.Fatalf("%d requests, %d accepted, %d duplicates", requests, accepted, dups)
	}
	mu.Lock()
	defer mu.Unlock()
	if by["a delivered"] == 0 || by["b delivered"] == 0 || by["a delivered"]+by["b delivered"] != 300 {
		t.Errorf("deliveries by process %v", by)
	}
}

// TestSMTPTLS: STARTTLS and implicit TLS against real servers; with
// STARTTLS required, a server that does not offer it gets nothing.
func TestSMTPTLS(t *testing.T) {
	ca := httptest.NewTLSServer(nil) // a certificate for 127.0.0.1 and a pool that trusts it
	defer ca.Close()
	clientTLS := &tls.Config{RootCAs: ca.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "127.0.0.1"}
	msg := delivery.Compose(delivery.Mail{From: "news@example.com", To: "a@example.com", Subject: "Hello", Text: "hi", HTML: "<p>hi</p>", Date: time.Now()})
	for _, tc := range []struct {
		scheme   string
		implicit bool
	}{{"smtp", false}, {"smtps", true}} {
		srv := deliverytest.NewSMTPServerTLS(t, ca.TLS, tc.implicit)
		m, err := delivery.ParseSMTPURL(tc.scheme + "://user:secret@" + srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		m.TLSConfig = clientTLS
		if err := m.Send(context.Background(), "news@example.com", []string{"a@example.com"}, msg); err != nil {
			t.Fatalf("%s: %v", tc.scheme, err)
		}
		if got := srv.Messages(); len(got) != 1 || !got[0].TLS || got[0].User != "user" || got[0].To[0] != "a@example.com" {
			t.Fatalf("%s: received %+v", tc.scheme, got)
		}
	}
	plain := deliverytest.NewSMTPServer(t)
	m, _ := delivery.ParseSMTPURL("smtp://" + plain.Addr)
	m.TLSConfig = clientTLS
	if err := m.Send(context.Background(), "news@example.com", []string{"a@example.com"}, msg); err == nil || len(plain.Messages()) != 0 {
		t.Fatalf("STARTTLS required, server without it: %v, %d messages", err, len(plain.Messages()))
	}
}
