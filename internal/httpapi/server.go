// Package httpapi is the HTTP transport: routes, handlers, middleware, and
// the one mapping from domain errors to statuses. It holds no SQL and no
// business rules beyond decoding and answering.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/admin"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/dashboard"
	"github.com/altcontext/marketing/internal/ingest"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/monitor"
	"github.com/altcontext/marketing/internal/password"
)

// Deps are everything the server needs, passed explicitly.
type Deps struct {
	Config   *config.Config
	Store    marketing.Store
	Pipeline *ingest.Pipeline
	Logger   *slog.Logger
	AdminKey string
	// Metrics receives request and lead counts (nil: none).
	Metrics *monitor.Metrics
	// Jobs computes today's figures live for the summary.
	Jobs *jobs.Runner
	// Summaries caches metric summaries (nil: no cache).
	Summaries *SummaryCache
	// UnsubscribeSecret signs unsubscribe tokens. It is kept in the
	// database so links in old emails keep working.
	UnsubscribeSecret []byte
	Version           string
	Now               func() time.Time
	// Sites is the cached view of the registered sites (nil: the
	// pipeline's).
	Sites *ingest.SiteIndex
	// Passwords hashes and checks login passwords (nil: two at a time).
	Passwords *password.Hasher
	// OnLeadChange is called after a change that queued outbox messages
	// (the delivery worker's Wake); nil: nothing.
	OnLeadChange func()
}

type server struct {
	Deps
	log *slog.Logger
	mux *http.ServeMux
	// crossOrigin refuses cross-site state changes made with a cookie.
	crossOrigin *http.CrossOriginProtection
	limits      map[string]*limiter
	// refusals keeps a flood of 403s and 429s to a few log lines.
	refusals refusalLog
	// admin performs the admin actions the dashboard offers too.
	admin *admin.Actions
	// dash is the dashboard, mounted outside /v1/.
	dash *dashboard.Dashboard
}

// Rate-limit classes.
const (
	classEvents       = "events"
	classLeads        = "leads"
	classLeadEmail    = "lead_email" // keyed by the address's hash and the IP
	classUnsubscribe  = "unsubscribe"
	classDelete       = "delete"
	classMetrics      = "metrics"
	classDefault      = "default"
	classAPIKey       = "api_key" // keyed by the key's prefix
	classLoginIP      = "login_ip"
	classLoginAccount = "login_account" // keyed by the hash of the address tried
	classStats        = "stats"         // a dashboard page sends a query per panel
)

// NewServer builds the whole HTTP API.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sites == nil && d.Pipeline != nil {
		d.Sites = d.Pipeline.Sites
	}
	if d.Passwords == nil {
		d.Passwords = password.New(2)
	}
	s := &server{Deps: d, log: d.Logger, mux: http.NewServeMux(), crossOrigin: http.NewCrossOriginProtection()}
	c := d.Config
	m := time.Minute
	s.limits = map[string]*limiter{
		classEvents:       newLimiter(c.RateLimitEventsPerMinute, m, d.Now),
		classLeads:        newLimiter(c.RateLimitLeadsPerMinute, m, d.Now),
		classLeadEmail:    newLimiter(5, time.Hour, d.Now),
		classUnsubscribe:  newLimiter(12, m, d.Now),
		classDelete:       newLimiter(10, m, d.Now),
		classMetrics:      newLimiter(60, m, d.Now),
		classDefault:      newLimiter(c.RateLimitMax, m, d.Now),
		classAPIKey:       newLimiter(c.RateLimitMax, m, d.Now),
		classLoginIP:      newLimiter(loginsPerMinute, m, d.Now),
		classLoginAccount: newLimiter(loginsPerMinute, m, d.Now),
		classStats:        newLimiter(600, m, d.Now),
	}
	s.admin = admin.New(admin.Options{Store: d.Store, EmailHash: func(e string) string { return s.Pipeline.EmailHash(e) },
		Rules: marketing.SessionRules{Inactivity: c.SessionInactivity}, Now: d.Now, Log: d.Logger, OnLeadChange: s.leadChanged,
		OnSiteChange: func(ctx context.Context) {
			if err := s.Sites.Refresh(ctx); err != nil {
				s.log.Warn("refresh sites", "err", err)
			}
		},
		HashPassword: s.Passwords.Hash})
	s.routes()
	return s
}

type ctxKey int

const requestIDKey ctxKey = 0

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// ServeHTTP is the outermost layer: request id, one log line, panic
// recovery, CORS and origin checks, then the mux. Unknown routes and wrong
// methods get the error envelope too.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h, pattern := s.mux.Handler(r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				// The handler broke the response on purpose: the client
				// must see a broken transfer, so net/http drops the
				// connection.
				s.log.Warn("request aborted", "request_id", id, "method", r.Method, "route", pattern)
				panic(v)
			}
			s.log.Error("panic", "request_id", id, "panic", v)
			if !rec.wrote {
				writeProblem(rec, http.StatusInternalServerError, "internal_error", nil)
			}
		}
		route := pattern
		if route == "" {
			route = "unmatched"
		}
		took := time.Since(start)
		s.Metrics.Request(route, rec.status, took)
		if s.refusals.log(s.log, s.Now(), rec.status) {
			s.log.Info("request", "request_id", id, "method", r.Method, "route", route, "status", rec.status,
				"duration_ms", float64(took.Microseconds())/1000)
		}
	}()
	if !s.cors(rec, r) {
		return
	}
	if pattern == "" {
		s.unmatched(rec, r, h)
		return
	}
	s.mux.ServeHTTP(rec, r) // through the mux, which sets the path values
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c == '.' || c == ':' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// unmatched answers what the mux would (404, or 405 with Allow) in the
// error envelope, rate limited like any other route.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if !s.allow(w, r, classDefault) {
		return
	}
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", nil)
		return
	}
	if dashboardPath(r.URL.Path) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.dash.NotFound(w, r)
		return
	}
	writeProblem(w, http.StatusNotFound, "not_found", nil)
}

type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(status int)      { p.status = status }

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// cors applies SPEC §3.1: no Origin → allowed; an allowed origin (or the
// backend's own) is echoed; preflights get 204; any other origin on a write
// is refused with 403 and nothing is stored. It returns false when it has
// answered.
func (s *server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if origin == "null" && r.Method == http.MethodPost && (r.URL.Path == "/v1/leads/confirm" || r.URL.Path == "/v1/leads/unsubscribe") {
		// The buttons of our own confirmation and unsubscribe pages: under
		// their Referrer-Policy no-referrer, browsers send "Origin: null"
		// even to the same origin. The signed token in the body is what
		// authorises these posts, not the origin.
		return true
	}
	if h := w.Header(); h["Vary"] == nil {
		h["Vary"] = varyOrigin
	} else {
		h.Add("Vary", "Origin")
	}
	allowed := s.originAllowed(origin, r)
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	write := r.Method != http.MethodGet && r.Method != http.MethodHead && !preflight
	if !allowed && (preflight || write) {
		// Refusals spend the caller's budget like the requests they stand
		// for, and are counted under one property: a flood from many
		// made-up origins is neither free nor a row per host.
		class, counted := classDefault, false
		switch r.URL.Path {
		case ingest.EndpointEvents:
			class, counted = classEvents, true
		case ingest.EndpointLeads:
			class, counted = classLeads, true
		}
		if !s.allow(w, r, class) {
			if counted {
				s.Pipeline.Reject(foreignProperty, r.URL.Path, marketing.ReasonRateLimited)
			}
			return false
		}
		if counted {
			s.Pipeline.Reject(foreignProperty, r.URL.Path, marketing.ReasonOrigin)
		}
		writeProblem(w, http.StatusForbidden, "origin_not_allowed", nil)
		return false
	}
	if preflight {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "content-type, x-api-key")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	return true
}

// foreignProperty is the property every refusal of an unregistered origin
// is counted under: the origin is the caller's word, not one of ours.
const foreignProperty = "(foreign)"

// originAllowed: an origin of a registered site, one listed in
// CORS_ALLOWED_ORIGINS, or the backend's own (scheme and host), compared
// as browsers send them (no default port, no trailing slash).
func (s *server) originAllowed(origin string, r *http.Request) bool {
	_, ok := s.listedOrigin(origin)
	return ok || origin != "" && s.ownOriginIs(origin, r)
}

func (s *server) ownOriginIs(origin string, r *http.Request) bool {
	o, ok := config.NormalizeOrigin(origin)
	return ok && o == s.ownOrigin(r)
}

// ownOrigin is the backend's public origin: PUBLIC_URL when set. Unset, it
// is the request's Host with the scheme the client used: TLS here, or
// X-Forwarded-Proto from the trusted proxy; in production always https
// (production sits behind TLS, and a link that downgrades is worse than one
// that fails).
func (s *server) ownOrigin(r *http.Request) string {
	if s.Config.PublicURL != "" {
		return s.Config.PublicURL
	}
	scheme := "http"
	if r.TLS != nil || s.Config.Production() || s.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	o, _ := config.NormalizeOrigin(scheme + "://" + r.Host)
	return o
}

// clientIP is the caller's address per TRUSTED_PROXY: the one header the
// one proxy we trust sets, read only when the socket peer is that proxy;
// never the left end of X-Forwarded-For. Otherwise, and when the header is
// missing, repeated, a list or not an IP, it is the socket peer: a client
// reaching the port directly cannot pick its own address.
func (s *server) clientIP(r *http.Request) string {
	peer := peerIP(r)
	var name string
	if s.fromTrustedProxy(r) {
		switch s.Config.TrustedProxy {
		case "fly":
			name = "Fly-Client-IP"
		case "cloudflare":
			name = "CF-Connecting-IP"
		}
	}
	if name == "" {
		return peer
	}
	// One value only: with two (a repeated header or a comma list), one was
	// written by the client, and nothing says which.
	vs := r.Header.Values(name)
	if len(vs) != 1 || strings.Contains(vs[0], ",") {
		return peer
	}
	if ip := net.ParseIP(strings.TrimSpace(vs[0])); ip != nil {
		return ip.String()
	}
	return peer
}

// Fly's proxy reaches a Machine over the host's private network, never from
// a public address: public traffic arrives from fly-proxy on the Machine's
// private IPv4 network (172.16.0.0/12), traffic through Flycast or from
// other Machines of the organisation over its 6PN (fdaa::/16). The public
// internet cannot source packets from either range, so a peer in them is
// the proxy (or one of the organisation's own Machines); anything else
// reached the port directly and its Fly-Client-IP is ignored. Outside Fly
// these ranges are ordinary private networks (Docker's bridges are in
// 172.16.0.0/12): TRUSTED_PROXY=fly is for Fly only.
var flyProxyNets = mustCIDRs("172.16.0.0/12", "fdaa::/16")

// Cloudflare's published edge ranges (https://www.cloudflare.com/ips/).
// They change rarely, but they do change: an edge address missing here
// falls back to the peer (rate limits per edge address, not a forged IP).
// With Cloudflare in front of Fly the peer is Fly's proxy, not Cloudflare:
// such a deployment should keep TRUSTED_PROXY=fly (its limits then key on
// Cloudflare's edge addresses) until a chain of proxies is supported.
var cloudflareNets = mustCIDRs(
	"173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18",
	"108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17",
	"162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
	"2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32",
	"2a06:98c0::/29", "2c0f:f248::/32")

func peerIP(r *http.Request) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return peer
}

// fromTrustedProxy reports whether the socket peer is the proxy
// TRUSTED_PROXY names, whose headers are then the truth.
func (s *server) fromTrustedProxy(r *http.Request) bool {
	switch s.Config.TrustedProxy {
	case "fly":
		return inNets(peerIP(r), flyProxyNets)
	case "cloudflare":
		return inNets(peerIP(r), cloudflareNets)
	}
	return false
}

func inNets(addr string, nets []*net.IPNet) bool {
	ip := net.ParseIP(addr)
	if ip == nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func mustCIDRs(cidrs ...string) []*net.IPNet {
	out := make([]*net.IPNet, len(cidrs))
	for i, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err)
		}
		out[i] = n
	}
	return out
}

// allow applies the rate limit of a class to the caller, answering 429 when
// it is exceeded.
func (s *server) allow(w http.ResponseWriter, r *http.Request, class string) bool {
	return s.allowKey(w, class, rateKey(s.clientIP(r)))
}

// allowKey applies a class's limit to any key.
func (s *server) allowKey(w http.ResponseWriter, class, key string) bool {
	ok, wait := s.limits[class].allow(class + "|" + key)
	if ok {
		return true
	}
	secs := int(wait/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, http.StatusTooManyRequests, "rate_limited", nil)
	return false
}

// limited wraps a handler with its class's rate limit.
func (s *server) limited(class string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.allow(w, r, class) {
			h.ServeHTTP(w, r)
		}
	})
}
