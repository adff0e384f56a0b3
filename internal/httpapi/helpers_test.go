package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/httpapi"
	"github.com/altcontext/marketing/internal/ingest"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	adminKey  = "test-admin-key-0123456789abcdef"
	site      = "https://www.example.com"
)

// env is one real server over one real store.
type env struct {
	t         *testing.T
	URL       string
	store     marketing.Store
	pipe      *ingest.Pipeline
	cfg       *config.Config
	db        *sql.DB // SQLite handle, or nil
	pg        *postgres.DB
	jobs      *jobs.Runner
	summaries *httpapi.SummaryCache
}

// backends runs fn once per store.
func backends(t *testing.T, fn func(t *testing.T, open func(vars ...string) *env)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			fn(t, func(vars ...string) *env { return newEnv(t, name, vars...) })
		})
	}
}

// newEnv starts a server; vars are KEY=VALUE environment overrides.
func newEnv(t *testing.T, backend string, vars ...string) *env {
	t.Helper()
	return newEnvClock(t, backend, nil, vars...)
}

// newEnvClock is newEnv with the server's clock injected (nil: real time).
func newEnvClock(t *testing.T, backend string, now func() time.Time, vars ...string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t}
	vals := map[string]string{"CORS_ALLOWED_ORIGINS": site, "ADMIN_API_KEY": adminKey, "APP_ENV": "test"}
	switch backend {
	case "sqlite":
		vals["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	default:
		vals["DATABASE_URL"] = pgtest.NewDatabase(t)
		vals["DIRECT_DATABASE_URL"] = pgtest.Direct(vals["DATABASE_URL"]) // past the pooler, with PGTEST_POOLER
	}
	for _, v := range vars {
		k, val, _ := strings.Cut(v, "=")
		vals[k] = val
	}
	cfg, err := config.Load(func(k string) string { return vals[k] })
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	if backend == "sqlite" {
		db, err := sqlite.Open(ctx, config.SQLitePath(cfg.DatabaseURL))
		if err != nil {
			t.Fatal(err)
		}
		e.store, e.db = db, db.SQL()
	} else {
		db, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DirectDatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		e.store, e.pg = db, db
	}
	if _, err := e.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	var countries *ingest.Countries
	if len(cfg.CountryDatabase) > 0 {
		if countries, err = ingest.LoadCountries(cfg.CountryDatabase...); err != nil {
			t.Fatal(err)
		}
	}
	e.pipe = ingest.New(ingest.Options{Countries: countries,
		Store: e.store, Pepper: []byte("pepper-pepper-pepper-pepper-pepper"), DefaultProperty: cfg.RollupDefaultPropertyID,
		HonorGPC: cfg.HonorGPC, Rules: marketing.SessionRules{Inactivity: cfg.SessionInactivity},
		Writer: ingest.WriterOptions{QueueSize: 1024, MaxBatch: 200, Workers: 2}, Logger: log, Now: now,
	})
	e.summaries = httpapi.NewSummaryCache(cfg.MetricsSummaryCacheTTL)
	view := ""
	if cfg.MetricsUseMaterializedView && backend == "postgres" {
		view = cfg.MetricsMaterializedViewName
	}
	e.jobs = jobs.New(jobs.Options{Store: e.store, Rules: marketing.SessionRules{Inactivity: cfg.SessionInactivity}, Log: log, Location: cfg.ReportTimezone, AllProperties: cfg.RollupDefaultPropertyID,
		BatchDays: cfg.RollupBatchDays, View: view, EventDays: cfg.RetentionEventDays, RollupDays: cfg.RetentionRollupDays,
		RejectionDays: cfg.RetentionRejectionDays, Now: now, OnRollup: e.summaries.Clear})
	h := httpapi.NewServer(httpapi.Deps{Config: cfg, Store: e.store, Pipeline: e.pipe, Logger: log, AdminKey: adminKey, Version: "test", Now: now,
		Jobs: e.jobs, Summaries: e.summaries, UnsubscribeSecret: []byte("unsubscribe-secret-for-tests")})
	srv := httptest.NewServer(h)
	e.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		_ = e.pipe.Close(ctx)
		e.store.Close()
	})
	return e
}

// leadID is the lead a capture's answer stored (the answer names only its
// submission).
func (e *env) leadID(r resp) string {
	e.t.Helper()
	rows := e.rows(`SELECT lead_id FROM form_submissions WHERE id = ?`, r.Body["leadId"])
	if len(rows) != 1 {
		e.t.Fatalf("no submission %v", r.Body["leadId"])
	}
	return toString(rows[0][0])
}

// sessionize materialises the sessions of everything stored so far.
func (e *env) sessionize() {
	e.t.Helper()
	if _, err := e.jobs.Sessionize(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// fromPeer is a client whose connections leave from a loopback address
// other than 127.0.0.1 (Linux routes all of 127/8 to lo).
func fromPeer(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: noRedirects.CheckRedirect,
	}
}

// noRedirects shows tests the 303s themselves.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends a request; headers are "Name: value" strings.
func (e *env) do(method, path, body string, headers ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("User-Agent", browserUA)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := noRedirects
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		switch {
		case strings.EqualFold(strings.TrimSpace(k), "Host"):
			req.Host = strings.TrimSpace(v)
			continue
		case k == "From-Peer":
			// Not a header: the request leaves from this loopback address,
			// so the server sees another client.
			client = fromPeer(strings.TrimSpace(v))
			continue
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
		}
	}
	return r
}

func (r resp) expect(t *testing.T, status int, code string) resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	if code != "" {
		if r.Body["ok"] != false || r.Body["error"] != code {
			t.Fatalf("body %s, want the envelope with error %q", r.Raw, code)
		}
	}
	return r
}

// rows runs a query written with ? placeholders on either store.
func (e *env) rows(q string, args ...any) [][]any {
	e.t.Helper()
	ctx := context.Background()
	var out [][]any
	if e.db != nil {
		rs, err := e.db.QueryContext(ctx, q, args...)
		if err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b)
				}
			}
			out = append(out, vals)
		}
		return out
	}
	n := 0
	var b strings.Builder
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	rs, err := e.pg.Pool().Query(ctx, b.String(), args...)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			e.t.Fatal(err)
		}
		for i, v := range vals {
			switch x := v.(type) {
			case []byte:
				vals[i] = string(x)
			case int32:
				vals[i] = int64(x)
			case int16:
				vals[i] = int64(x)
			}
		}
		out = append(out, vals)
	}
	if err := rs.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) count(q string, args ...any) int64 {
	e.t.Helper()
	r := e.rows(q, args...)
	switch v := r[0][0].(type) {
	case int64:
		return v
	}
	e.t.Fatalf("count: unexpected %T", r[0][0])
	return 0
}

// truthy reads a boolean column from either store.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	}
	return false
}

// dump returns every text value in every table, for privacy scans.
func (e *env) dump() string {
	e.t.Helper()
	var tables []string
	if e.db != nil {
		for _, r := range e.rows(`SELECT name FROM sqlite_master WHERE type = 'table'`) {
			tables = append(tables, r[0].(string))
		}
	} else {
		for _, r := range e.rows(`SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'`) {
			tables = append(tables, r[0].(string))
		}
	}
	var b bytes.Buffer
	for _, tb := range tables {
		q := `SELECT * FROM ` + tb
		if e.db == nil {
			q = `SELECT t::text FROM ` + tb + ` t`
		}
		for _, r := range e.rows(q) {
			for _, v := range r {
				b.WriteString(toString(v))
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case time.Time:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}
