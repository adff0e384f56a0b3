// Package ingest turns validated event inputs into stored events: it drops
// bots and honeypots, derives visitors (client ids or cookieless daily
// hashes), properties, traffic sources and devices, deduplicates, and hands
// the events to the batching Writer.
package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/altcontext/marketing"
)

// Endpoint names used in the rejection counters.
const (
	EndpointEvents = "/v1/events"
	EndpointLeads  = "/v1/leads/capture"
)

// Options configure a Pipeline.
type Options struct {
	Store           marketing.Store
	Pepper          []byte // IP_HASH_PEPPER
	DefaultProperty string
	HonorGPC        bool
	Countries       *Countries // nil: no IP→country database
	Rules           marketing.SessionRules
	Writer          WriterOptions
	Logger          *slog.Logger
	Now             func() time.Time
	OnDrop          func(endpoint, reason string) // metrics hook, optional
	OnStored        func(n int)                   // metrics hook, optional
	// Sites maps origins to registered sites (nil: one over Store).
	Sites *SiteIndex
}

// Pipeline is the event ingest path shared by every request.
type Pipeline struct {
	opt      Options
	writer   *Writer
	Counters *Counters
	// Sites is the cached origin → site lookup, shared with the HTTP layer.
	Sites  *SiteIndex
	agents *Agents
	salts  salts
	stored atomic.Int64
	stop   context.CancelFunc
	done   chan struct{}
}

// New starts a pipeline (its writer and counter flusher).
func New(o Options) *Pipeline {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sites == nil {
		o.Sites = NewSiteIndex(o.Store, o.Logger, o.Now)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline{
		Sites:    o.Sites,
		opt:      o,
		writer:   NewWriter(o.Store, o.Rules, o.Logger, o.Writer),
		Counters: NewCounters(o.Store, o.Logger, o.OnDrop),
		agents:   NewAgents(10_000),
		salts:    salts{store: o.Store},
		stop:     cancel,
		done:     make(chan struct{}),
	}
	go func() { p.Counters.Run(ctx, 10*time.Second); close(p.done) }()
	return p
}

// Close drains the write queue and flushes the counters.
func (p *Pipeline) Close(ctx context.Context) error {
	p.writer.Close()
	p.stop()
	<-p.done
	return p.Counters.Flush(ctx)
}

// Ready reports whether the pipeline can take events.
func (p *Pipeline) Ready() error {
	if p.writer.Full() {
		return marketing.Errorf(marketing.EUNAVAILABLE, "write queue full")
	}
	return nil
}

// QueueDepth is how many requests wait for a batch.
func (p *Pipeline) QueueDepth() int { return p.writer.Depth() }

// Hash is the keyed hash used for IP and user-agent fingerprints.
func (p *Pipeline) Hash(s string) string {
	m := hmac.New(sha256.New, p.opt.Pepper)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// Request is what the pipeline needs of the HTTP request. Raw IP and user
// agent are used here and forgotten: only keyed hashes leave this package.
type Request struct {
	IP        string
	UserAgent string
	Origin    string // the Origin header, if any
	GPC       bool   // Sec-GPC: 1
}

// PropertyOf derives an event's property. The registered site whose domain
// is the Origin's host wins over anything the page says (a page cannot write
// into another site's figures); otherwise the explicit id, else the
// Origin's host, else the default: properties as they were before sites
// existed, so ids already stored keep working.
func (p *Pipeline) PropertyOf(explicit, origin string) string {
	h := HostOf(origin)
	if id, ok := p.Sites.ByHost(h); ok {
		return id
	}
	if explicit != "" {
		return explicit
	}
	if h != "" {
		if len(h) > 128 {
			h = h[:128]
		}
		return h
	}
	return p.opt.DefaultProperty
}

// Reject counts a request that was refused or dropped.
func (p *Pipeline) Reject(property, endpoint, reason string) {
	p.Counters.Add(p.opt.Now(), property, endpoint, reason)
}

// Outcome says what happened to a request's events.
type Outcome struct {
	Results []marketing.EventResult
	Dropped string // "", or a reason: the events were not stored on purpose
}

// Events ingests the events of one request.
func (p *Pipeline) Events(ctx context.Context, req Request, inputs []marketing.EventInput) (Outcome, error) {
	// Milliseconds: what every store keeps, so an event read back is the
	// event written (a capture finds its own session by its time).
	now := p.opt.Now().UTC().Truncate(time.Millisecond)
	firstProperty := p.PropertyOf(inputs[0].Traffic.PropertyID, req.Origin)
	agent := p.agents.Parse(req.UserAgent)
	if agent.Bot {
		p.Counters.Add(now, firstProperty, EndpointEvents, marketing.ReasonBot)
		return Outcome{Dropped: marketing.ReasonBot}, nil
	}
	for i := range inputs {
		if strings.TrimSpace(inputs[i].Honeypot) != "" {
			p.Counters.Add(now, firstProperty, EndpointEvents, marketing.ReasonHoneypot)
			return Outcome{Dropped: marketing.ReasonHoneypot}, nil
		}
	}
	ipUA := p.ipUAHash(req)
	events := make([]marketing.PendingEvent, len(inputs))
	for i := range inputs {
		ev, err := p.build(ctx, now, req, ipUA, agent, &inputs[i])
		if err != nil {
			return Outcome{}, err
		}
		events[i] = ev
	}
	res, err := p.writer.Write(events)
	if err != nil {
		return Outcome{}, err
	}
	n := 0
	for _, r := range res {
		if !r.Duplicate {
			n++
		}
	}
	p.stored.Add(int64(n))
	if p.opt.OnStored != nil {
		p.opt.OnStored(n)
	}
	return Outcome{Results: res}, nil
}

// Stored is the number of new events acknowledged since start.
func (p *Pipeline) Stored() int64 { return p.stored.Load() }

// build derives a pending event from one input: visitor key, property,
// traffic source, device, trusted time, measurements and dedupe key.
// ipUA is the request's IP and user-agent hash, computed once a request.
func (p *Pipeline) build(ctx context.Context, now time.Time, req Request, ipUA string, agent Agent, in *marketing.EventInput) (marketing.PendingEvent, error) {
	property := p.PropertyOf(in.Traffic.PropertyID, req.Origin)
	anon := in.AnonID
	if anon == "" || (req.GPC && p.opt.HonorGPC) {
		salt, err := p.salts.today(ctx, now)
		if err != nil {
			return marketing.PendingEvent{}, err
		}
		m := hmac.New(sha256.New, salt)
		m.Write([]byte(req.IP + "\x00" + req.UserAgent + "\x00" + property))
		anon = "cookieless:" + hex.EncodeToString(m.Sum(nil)[:16])
	}
	occurred, trusted := now, false
	if in.Timestamp != nil && !in.Timestamp.Before(now.Add(-24*time.Hour)) && !in.Timestamp.After(now.Add(5*time.Minute)) {
		occurred, trusted = in.Timestamp.Truncate(time.Millisecond), true
	}
	siteHost := HostOf(req.Origin)
	if u := HostOf(in.URL); u != "" {
		siteHost = u
	}
	refHost := HostOf(in.Referrer)
	// The country comes from the database when one is configured (the IP
	// is forgotten right after), else from the client's hint, never a guess.
	country := in.Traffic.CountryCode
	if cc := p.opt.Countries.Lookup(req.IP); cc != "" {
		country = cc
	}
	device := agent.Device
	if in.Traffic.DeviceType != "" {
		device = in.Traffic.DeviceType
	}
	var props []byte
	if len(in.Props) > 0 {
		props, _ = json.Marshal(in.Props) // maps of strings, floats and bools always marshal
	}
	ev := marketing.PendingEvent{
		ID: marketing.NewID(now), AnonID: anon, VisitorID: p.VisitorID(anon), IPUAHash: ipUA,
		EventType: in.EventType, Path: in.Path, OccurredAt: occurred, ReceivedAt: now,
		ReferrerHost: refHost, UTM: in.UTM, PropertyID: property,
		TrafficSource: TrafficSource(in.UTM, refHost, siteHost),
		DeviceType:    device, Browser: agent.Browser, OS: agent.OS, CountryCode: country,
		// The tracker's form_submit is never a conversion: lead capture
		// records its own. Custom events may flag themselves.
		IsConversion: in.Traffic.IsConversion != nil && *in.Traffic.IsConversion && in.EventType != "form_submit" && in.EventType != "page_view",
		Props:        props,
		EngagedMs:    in.Traffic.EngagedTimeMs, ScrollPct: in.Traffic.ScrollDepthPercent,
		FCPMs: in.Traffic.WebVitals.FCPMs, LCPMs: in.Traffic.WebVitals.LCPMs, INPMs: in.Traffic.WebVitals.INPMs,
		TTFBMs: in.Traffic.WebVitals.TTFBMs, CLS: in.Traffic.WebVitals.CLSScore,
	}
	ev.DedupeKey, ev.PrevKey, ev.DedupeSince = dedupe(anon, in, occurred, trusted, props, now)
	return ev, nil
}

// EventLeadCaptured is the server-side conversion a capture records.
const EventLeadCaptured = "lead_captured"

// EmailHash is the keyed pseudonym of a normalised address.
func (p *Pipeline) EmailHash(email string) string { return p.Hash("email\x00" + email) }

// Lead records one lead capture in one transaction (no batching: each
// capture is its own unit of consent evidence).
func (p *Pipeline) Lead(ctx context.Context, req Request, in marketing.LeadInput, opts marketing.CaptureOptions) (marketing.LeadResult, error) {
	// Milliseconds: what every store keeps, so an event read back is the
	// event written (a capture finds its own session by its time).
	now := p.opt.Now().UTC().Truncate(time.Millisecond)
	path := in.Path
	if path == "" {
		path = "/"
	}
	props := map[string]any{"formName": in.FormName}
	if in.SourceChannel != "" {
		props["sourceChannel"] = in.SourceChannel
	}
	ev, err := p.build(ctx, now, req, p.ipUAHash(req), p.agents.Parse(req.UserAgent), &marketing.EventInput{
		AnonID: in.AnonID, EventType: EventLeadCaptured, Path: path, Referrer: in.Referrer, UTM: in.UTM, Props: props,
	})
	if err != nil {
		return marketing.LeadResult{}, err
	}
	// A capture's event is never a duplicate of another capture's: its key
	// names this submission, which no other capture shares.
	submission := marketing.NewID(now)
	ev.DedupeKey, ev.PrevKey = marketing.CaptureDedupeKey(submission), nil
	ev.IsConversion = true
	c := &marketing.LeadCapture{
		Input: in, EmailHash: p.EmailHash(in.Email), SubmissionID: submission, Event: ev, IPHash: p.Hash(req.IP),
		HeuristicWindow: opts.HeuristicWindow, Rules: p.opt.Rules, Now: now,
		DoubleOptIn: opts.DoubleOptIn, Notify: opts.Notify,
	}
	if opts.DoubleOptIn {
		c.ConfirmationID = marketing.NewID(now)
	}
	if in.Consent.Text != "" {
		sum := sha256.Sum256([]byte(in.Consent.Text))
		c.WordingHash = hex.EncodeToString(sum[:])
	}
	return p.opt.Store.CaptureLead(ctx, c)
}

// dedupe derives the duplicate keys of an event. With an eventId, only that
// id (per visitor) counts; with a trusted client timestamp, an exact retry
// of the same content. Without either, identical content from the same
// visitor within 30 seconds counts (a sliding window, not a fixed bucket):
// the key names the content's 30-second bucket, and prev the bucket
// before, whose stored event counts only if received after since.
func dedupe(anon string, in *marketing.EventInput, occurred time.Time, trusted bool, props []byte, now time.Time) (key, prev []byte, since time.Time) {
	sum := func(bucket int64) []byte {
		h := sha256.New()
		write := func(parts ...string) {
			for _, s := range parts {
				h.Write([]byte(s))
				h.Write([]byte{0})
			}
		}
		if in.EventID != "" {
			write("id", anon, in.EventID)
			return h.Sum(nil)[:16]
		}
		t := in.Traffic
		traffic, _ := json.Marshal([]any{t.PropertyID, t.DeviceType, t.CountryCode, t.IsConversion, t.EngagedTimeMs, t.ScrollDepthPercent,
			t.WebVitals.FCPMs, t.WebVitals.LCPMs, t.WebVitals.INPMs, t.WebVitals.TTFBMs, t.WebVitals.CLSScore})
		write("content", anon, in.EventType, in.Path, in.Referrer, in.UTM.Source, in.UTM.Medium, in.UTM.Campaign, in.UTM.Term, in.UTM.Content, string(traffic), string(props))
		if trusted {
			write(occurred.UTC().Format(time.RFC3339Nano))
		} else {
			write("bucket", strconv.FormatInt(bucket, 10))
		}
		return h.Sum(nil)[:16]
	}
	if in.EventID != "" || trusted {
		return sum(0), nil, time.Time{}
	}
	b := now.Unix() / dedupeWindowSeconds
	return sum(b), sum(b - 1), now.Add(-dedupeWindowSeconds * time.Second)
}

// dedupeWindowSeconds is how long identical content without an id or a
// trusted timestamp counts as a duplicate.
const dedupeWindowSeconds = 30

// VisitorID is the stored visitor id of an anonId: a keyed hash, so every
// process derives the same id without a lookup.
func (p *Pipeline) VisitorID(anon string) string {
	m := hmac.New(sha256.New, p.opt.Pepper)
	m.Write([]byte("visitor\x00" + anon))
	return formatUUID(m.Sum(nil))
}

// formatUUID writes the first 16 bytes of b as a version 8 (custom) UUID.
func formatUUID(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = 0x80 | (u[6] & 0x0f)
	u[8] = 0x80 | (u[8] & 0x3f)
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ipUAHash is the keyed hash of a request's address and agent together:
// the only trace of either that is stored with an event.
func (p *Pipeline) ipUAHash(req Request) string {
	return p.Hash("ipua\x00" + req.IP + "\x00" + req.UserAgent)
}

// salts caches today's cookieless salt; the store is the truth, so every
// process agrees on it.
type salts struct {
	store marketing.Store
	mu    sync.Mutex
	day   time.Time
	salt  []byte
}

func (s *salts) today(ctx context.Context, now time.Time) ([]byte, error) {
	day := now.UTC().Truncate(24 * time.Hour)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.salt != nil && s.day.Equal(day) {
		return s.salt, nil
	}
	candidate := make([]byte, 32)
	_, _ = rand.Read(candidate)
	salt, err := s.store.DailySalt(ctx, day, candidate)
	if err != nil {
		return nil, err
	}
	s.day, s.salt = day, salt
	return salt, nil
}
