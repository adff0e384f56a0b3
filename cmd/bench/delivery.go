package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// benchLeadsDelivery is benchLeads with delivery on: a webhook endpoint
// (a receiver answering 200), double opt-in and a notification address, so
// that every capture writes a webhook and two emails to the outbox while
// serve's worker sends them to an SMTP server on loopback. It reports the
// captures' latency and how long the outbox took to drain.
func benchLeadsDelivery(binary string, env []string, work, store string) (result, error) {
	var hooks, mails atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hooks.Add(1)
	}))
	defer recv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	sink := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{n: &mails}, nil }))
	sink.Domain = "localhost"
	go func() { _ = sink.Serve(ln) }()
	defer sink.Close()

	denv := append(slices.Clone(env), "WEBHOOK_ALLOW_PRIVATE=true", "SMTP_URL=smtp://"+ln.Addr().String()+"?tls=none",
		"NOTIFY_EMAIL=team@example.com", "DOUBLE_OPT_IN=true", "MAIL_FROM=news@example.com", "PUBLIC_URL=https://m.example.com")
	add := exec.Command(binary, "webhooks", "add", recv.URL+"/hook", "--include-email")
	add.Env = denv
	if out, err := add.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("webhooks add: %v\n%s", err, out)
	}
	srv, err := startServer(binary, denv, filepath.Join(work, store+"-leads-delivery.log"))
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	const rate, seconds = 50, 20
	fmt.Printf("%s: %d lead captures/s for %d s, each queuing a webhook and two emails\n", store, rate, seconds)
	r := driveLeads(srv.url, "delivery", rate, seconds*time.Second, func(i int) string { return fmt.Sprintf("visitor-d%06d", i) })
	r.Store, r.Target = store, "leads, delivery on"
	r.PeakRSSMB = peakRSS(srv.cmd.Process.Pid)
	start := time.Now()
	want := r.Accepted
	for time.Since(start) < 60*time.Second && (hooks.Load() < want || mails.Load() < 2*want) {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("  p50 %s, p99 %s, 200s %d, others %d; delivered %d webhooks and %d emails, the last %s after the last capture\n",
		r.P50, r.P99, r.Accepted, r.Other, hooks.Load(), mails.Load(), time.Since(start).Round(10*time.Millisecond))
	return r, nil
}

type sinkSession struct{ n *atomic.Int64 }

func (s *sinkSession) Reset()                                    {}
func (s *sinkSession) Logout() error                             { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}
