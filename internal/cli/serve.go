package cli

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/delivery"
	"github.com/altcontext/marketing/internal/httpapi"
	"github.com/altcontext/marketing/internal/ingest"
	"github.com/altcontext/marketing/internal/monitor"
)

// ShutdownTimeout bounds the drain on SIGTERM: in-flight requests, then the
// write queue. fly.toml's kill_timeout must exceed it.
const ShutdownTimeout = 20 * time.Second

// sessionizeEvery is how often serve materialises the sessions of new
// events: reports see a page view within about this long.
const sessionizeEvery = 5 * time.Second

// gcPercent is the server's GOGC unless the environment sets one.
const gcPercent = 200

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unsubscribeSecret is the key that signs unsubscribe links. In production
// it is derived from IP_HASH_PEPPER (HMAC-SHA256 of the label
// "unsubscribe"), so it lives in the environment, not in the database next
// to what it protects, and needs no secret of its own. Outside production
// the key generated once and kept in the settings table is used, so local
// links keep working.
func unsubscribeSecret(ctx context.Context, cfg *config.Config, store marketing.Store, pepper string) (string, error) {
	if cfg.Production() {
		return deriveKey(pepper, "unsubscribe"), nil
	}
	s, err := store.EnsureSetting(ctx, "unsubscribe_secret", randomHex(32))
	if err != nil {
		return "", fmt.Errorf("load the unsubscribe secret: %w", err)
	}
	return s, nil
}

// deriveKey is HMAC-SHA256(secret, label) in hex.
func deriveKey(secret, label string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	return hex.EncodeToString(m.Sum(nil))
}

func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	if os.Getenv("GOGC") == "" {
		// The live heap is small and every request allocates: collecting
		// at three times the live heap instead of twice measured 15-50%
		// more events a second (docs/benchmarks.md). GOMEMLIMIT still caps
		// the heap; GOGC in the environment wins.
		debug.SetGCPercent(gcPercent)
	}
	logOut := newLogWriter(stdout, 100*time.Millisecond)
	defer logOut.Close()
	log := newLogger(cfg, logOut)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
		fmt.Fprintln(stderr, "WARNING:", w)
	}
	// The listeners first: a port in use is reported before anything
	// opens, migrates or schedules.
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s (HOST, PORT): %w", cfg.Addr(), err)
	}
	defer ln.Close()
	var mln net.Listener
	if cfg.MetricsAddr != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listen on METRICS_ADDR %s (set METRICS_ADDR=off to run without it): %w", cfg.MetricsAddr, err)
		}
		defer mln.Close()
	}
	store, err := openCurrent(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	pepper := cfg.IPHashPepper
	if pepper == "" {
		// Outside production: generated once, kept in the database, reused.
		if pepper, err = store.EnsureSetting(ctx, "ip_hash_pepper", randomHex(32)); err != nil {
			return fmt.Errorf("load the IP hash pepper: %w", err)
		}
	}
	unsubSecret, err := unsubscribeSecret(ctx, cfg, store, pepper)
	if err != nil {
		return err
	}
	adminKey := cfg.AdminAPIKey
	if adminKey == "" && !cfg.Production() {
		adminKey = randomHex(24)
		fmt.Fprintf(stderr, "ADMIN_API_KEY is not set; this run's admin key (send it as x-admin-key): %s\n", adminKey)
	}
	if users, err := store.Users(ctx); err == nil && len(users) == 0 {
		// On the terminal, never in the logs: nobody can log in yet.
		fmt.Fprintln(stderr, "No user can log in yet; create the first owner with: marketing users add you@example.com --role owner")
	}

	// Two writers on PostgreSQL: appends take no lock, so a batch can
	// commit while the next one is sent. One on SQLite, which has one
	// writer anyway.
	workers, batch := 2, 500
	if cfg.Driver() == "sqlite" {
		workers, batch = 1, 1000
	}
	var mon *monitor.Metrics
	var pipe *ingest.Pipeline
	if cfg.MetricsAddr != "" {
		mon = monitor.New(func() float64 { return float64(pipe.QueueDepth()) })
	}
	var countries *ingest.Countries
	if len(cfg.CountryDatabase) > 0 {
		if countries, err = ingest.LoadCountries(cfg.CountryDatabase...); err != nil {
			return err
		}
		log.Info("country database loaded", "ranges", countries.Ranges())
	}
	pipe = ingest.New(ingest.Options{
		Countries: countries,
		Store:     store, Pepper: []byte(pepper), DefaultProperty: cfg.RollupDefaultPropertyID, HonorGPC: cfg.HonorGPC,
		Rules: marketing.SessionRules{Inactivity: cfg.SessionInactivity},
		Writer: ingest.WriterOptions{QueueSize: 8192, MaxBatch: batch, Workers: workers, Observe: func(b ingest.BatchStats) {
			mon.Batch(b.Events, b.Duration, b.Err != nil)
		}},
		Logger: log, OnDrop: mon.Dropped, OnStored: mon.Accepted,
	})
	var mailer delivery.Mailer
	if cfg.SMTPURL != "" {
		sm, err := delivery.ParseSMTPURL(cfg.SMTPURL)
		if err != nil {
			return fmt.Errorf("SMTP_URL: %w", err)
		}
		mailer = sm
	}
	// Every process runs a delivery worker: claims under a lease keep two
	// from sending one message at once.
	sender := delivery.New(delivery.Options{
		Store: store, Log: log, AllowPrivate: cfg.WebhookAllowPrivate, Mailer: mailer,
		Mail: delivery.MailSettings{SiteName: cfg.SiteName, From: cfg.MailFrom, NotifyTo: cfg.NotifyEmail,
			PublicURL: cfg.LinkOrigin(), Secret: []byte(unsubSecret)},
		Observe: mon.Delivery,
		OnStats: func(st marketing.OutboxStats) { mon.Outbox(st.Pending, st.Dead, st.OldestDue, time.Now()) },
	})
	summaries := httpapi.NewSummaryCache(cfg.MetricsSummaryCacheTTL)
	runner := newRunner(cfg, store, log, summaries.Clear, mon, pipe.Counters.Flush)
	handler := httpapi.NewServer(httpapi.Deps{
		Config: cfg, Store: store, Pipeline: pipe, Logger: log, AdminKey: adminKey, Version: Version,
		Jobs: runner, Summaries: summaries, UnsubscribeSecret: []byte(unsubSecret), Metrics: mon,
		OnLeadChange: sender.Wake,
	})
	if mon != nil {
		// Prometheus on its own listener only: the public port has no /metrics.
		msrv := &http.Server{Addr: cfg.MetricsAddr, Handler: mon.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
	}
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	jobsDone := make(chan struct{})
	if cfg.SchedulerEnabled {
		go func() { defer close(jobsDone); runner.Scheduler(jobsCtx, time.Minute) }()
	} else {
		close(jobsDone)
	}
	// The sessionizer runs in every process whatever the scheduler says:
	// runs never overlap (the cursor's lock) and reports read its sessions.
	go pipe.Sites.Run(jobsCtx) // sites changed by the CLI or another process
	sessionsDone := make(chan struct{})
	go func() { defer close(sessionsDone); runner.SessionizeLoop(jobsCtx, sessionizeEvery) }()
	deliveryDone := make(chan struct{})
	go func() { defer close(deliveryDone); sender.Run(jobsCtx) }()
	defer func() { stopJobs(); <-jobsDone; <-sessionsDone; <-deliveryDone }()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("listening", "addr", ln.Addr().String(), "database", cfg.Driver(), "env", cfg.Env, "version", Version)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		_ = pipe.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests and the write queue")
	drain, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(drain)
	if perr := pipe.Close(drain); perr != nil {
		log.Warn("flush counters on shutdown", "err", perr)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped", "events_acknowledged", pipe.Stored())
	return nil
}
