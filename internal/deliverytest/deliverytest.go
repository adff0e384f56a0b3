// Package deliverytest holds real servers for delivery tests: an HTTP
// receiver that verifies Standard Webhooks signatures on its own (not with
// the sender's code) and accepts each webhook-id once, and an SMTP server
// on loopback that keeps what it receives.
package deliverytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Delivery is one webhook the receiver accepted.
type Delivery struct {
	ID   string
	Type string
	Data map[string]any
}

// Receiver is a webhook receiver: it verifies every request's signature
// with the endpoint's secret, answers FailFirst requests with 500, and
// accepts each webhook-id once (an idempotent receiver: a repeat is
// answered 200 and counted as a duplicate).
type Receiver struct {
	*httptest.Server
	Secret string

	mu         sync.Mutex
	delay      time.Duration
	failFirst  int
	requests   int
	bad        int
	accepted   map[string]int
	deliveries []Delivery
	duplicates int
}

// NewReceiver starts a receiver whose endpoint secret is secret.
func NewReceiver(t testing.TB, secret string, failFirst int) *Receiver {
	r := &Receiver{Secret: secret, failFirst: failFirst, accepted: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Server.Close)
	return r
}

// NewReceiverAt starts a receiver on addr (to come back where a stopped one was).
func NewReceiverAt(t testing.TB, addr, secret string) *Receiver {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Secret: secret, accepted: map[string]int{}}
	r.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(r.serve)}}
	r.Server.Start()
	t.Cleanup(r.Server.Close)
	return r
}

// Verify checks a Standard Webhooks signature: the header holds one or
// more space-separated "v1,<base64>" signatures of "{id}.{ts}.{body}",
// HMAC-SHA256 keyed with the base64-decoded secret after "whsec_"; the
// timestamp must be within five minutes.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// SetDelay makes the receiver take d to answer each request.
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	time.Sleep(delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err := Verify(r.Secret, req.Header, body, time.Now()); err != nil {
		r.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.failFirst > 0 {
		r.failFirst--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	id := req.Header.Get("webhook-id")
	r.accepted[id]++
	if r.accepted[id] > 1 {
		r.duplicates++
		return
	}
	var p struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(body, &p)
	r.deliveries = append(r.deliveries, Delivery{ID: id, Type: p.Type, Data: p.Data})
}

// Counts returns the requests received, those with a bad signature, the
// distinct messages accepted and the repeats of accepted ones.
func (r *Receiver) Counts() (requests, bad, accepted, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.bad, len(r.deliveries), r.duplicates
}

// Deliveries returns the accepted messages, in order.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

// Mail is one message the SMTP server received.
type Mail struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // the session was encrypted
	User string // who authenticated (AUTH PLAIN), "" for nobody
}

// SMTPServer is a real SMTP server on loopback, keeping messages: plain,
// offering STARTTLS, or behind implicit TLS.
type SMTPServer struct {
	Addr     string
	srv      *smtp.Server
	ln       net.Listener
	tls      *tls.Config
	implicit bool
	mu       sync.Mutex
	mail     []Mail
}

// NewSMTPServerTLS starts a server with cfg's certificate: implicit TLS,
// or plain with STARTTLS offered.
func NewSMTPServerTLS(t testing.TB, cfg *tls.Config, implicit bool) *SMTPServer {
	s := &SMTPServer{tls: cfg, implicit: implicit}
	s.start(t, "127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

// NewSMTPServer starts a server on a free loopback port.
func NewSMTPServer(t testing.TB) *SMTPServer {
	s := &SMTPServer{}
	s.start(t, "127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

func (s *SMTPServer) start(t testing.TB, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	srv.TLSConfig = s.tls
	if s.implicit {
		ln = tls.NewListener(ln, s.tls)
	}
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv, s.ln = srv, ln
	go func() { _ = srv.Serve(ln) }()
}

// Stop takes the server down (connections are refused).
func (s *SMTPServer) Stop() {
	if s.srv != nil {
		// The listener is closed here too: Close alone misses one that
		// Serve has not registered yet.
		_ = s.ln.Close()
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Restart brings the server back on the same address.
func (s *SMTPServer) Restart(t testing.TB) { s.start(t, s.Addr) }

// URL is the SMTP_URL of the server.
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr + "?tls=none" }

// Messages returns what the server received.
func (s *SMTPServer) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

type session struct {
	s    *SMTPServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (ss *session) Reset()                   { ss.from, ss.to = "", nil }
func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if password == "" {
			return errors.New("no password")
		}
		ss.user = user
		return nil
	}), nil
}
func (ss *session) Logout() error { return nil }
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	_, encrypted := ss.c.TLSConnectionState()
	ss.s.mail = append(ss.s.mail, Mail{From: ss.from, To: ss.to, Data: b, TLS: encrypted, User: ss.user})
	ss.s.mu.Unlock()
	return nil
}
