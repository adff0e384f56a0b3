// Command bench is the project's load benchmark (make bench). It starts a
// durable throwaway PostgreSQL and the built server, drives POST /v1/events
// with wrk at 64 and 256 connections (and at 64 with 50 lead captures/s
// from the same visitors), measures GET /v1/healthz as the
// machine's HTTP ceiling, then does the same on SQLite. First it drives a
// no-op handler (read, decode, 202) with the same script: what this machine
// allows any event endpoint while wrk shares its cores; then the same
// handler answering only once the body is appended to a file and
// fdatasync'ed (group commit): what it allows an endpoint that acknowledges
// only what is stored. It reports events/s, p50/p99 latency, the server's
// peak RSS (VmHWM), the ingest/ceiling ratios, and compares 202 answers with
// rows stored. Asked for (-only pooled, "pooled mixed"), it drives events
// through PgBouncer in transaction mode, as on Fly Managed Postgres.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"database/sql"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/metrics"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/sqlite"
)

//go:embed events.lua
var eventsLua string

type result struct {
	Store, Target string
	Conns         int
	RPS           float64
	P50, P99      string
	Accepted      int64 // 202s wrk saw
	Other         int64
	Acked         int64 // events the server acknowledged (202), from its shutdown log
	Rows          int64
	PeakRSSMB     float64
}

func main() {
	binary := flag.String("binary", "bin/marketing", "the built server")
	duration := flag.Duration("duration", 30*time.Second, "length of each wrk run")
	stores := flag.String("stores", "postgres,sqlite", "stores to measure")
	only := flag.String("only", "", "measure only these, comma-separated: noop, durable, healthz, events, poison, hop, mixed, \"hop mixed\", pooled, \"pooled mixed\", two, writers, provisional, sessionize, leads, leads-delivery, summary, stats (default all but the pooled ones)")
	flag.Parse()
	if *only != "" {
		selected = map[string]bool{}
		for _, t := range strings.Split(*only, ",") {
			selected[strings.TrimSpace(t)] = true
		}
	}
	if err := run(*binary, *duration, strings.Split(*stores, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// pgStats prints PostgreSQL's statement statistics (BENCH_PGSTATS=1).
var pgStats = func(string) {}

// stored reports whether a scenario's 202s must equal the rows it added.
func stored(target string) bool {
	return target == "events" || target == "hop" || target == "poison" || target == "pooled" || target == "two servers" || strings.HasSuffix(target, "mixed")
}

// notes are the lines of the event-log scenarios, printed after the table.
var notes []string

// selected is the -only set; nil measures everything.
var selected map[string]bool

func want(target string) bool { return selected == nil || selected[target] }

func run(binary string, d time.Duration, stores []string) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Geteuid() != 0 {
			return fmt.Errorf("wrk is not installed (Debian: apt-get install wrk)")
		}
		fmt.Println("installing wrk…")
		if out, err := exec.Command("sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk").CombinedOutput(); err != nil {
			return fmt.Errorf("install wrk: %v\n%s", err, out)
		}
	}
	binary, _ = filepath.Abs(binary)
	work, err := os.MkdirTemp("", "marketing-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	script := filepath.Join(work, "events.lua")
	if err := os.WriteFile(script, []byte(eventsLua), 0o644); err != nil {
		return err
	}
	fmt.Printf("machine: %d cores, %s, %s\n\n", runtime.NumCPU(), cpuModel(), time.Now().UTC().Format(time.RFC3339))
	var results []result
	var noop result
	if want("noop") {
		var err error
		if noop, err = benchNoop(script, work, d, false); err != nil {
			return err
		}
		results = append(results, noop)
	}
	var durable result
	if want("durable") {
		var err error
		if durable, err = benchNoop(script, work, d, true); err != nil {
			return err
		}
		results = append(results, durable)
	}
	for _, store := range stores {
		if store == "" {
			continue
		}
		rs, err := benchStore(binary, work, script, store, d)
		if err != nil {
			return fmt.Errorf("%s: %w", store, err)
		}
		results = append(results, rs...)
	}
	fmt.Println()
	fmt.Println("| store | target | conns | req/s | p50 | p99 | 202s seen by wrk | non-202 | 202s sent | rows | 202s sent = rows | peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	ceiling := map[string]float64{}
	for _, r := range results {
		if r.Target == "healthz" {
			ceiling[r.Store] = r.RPS
		}
	}
	for _, r := range results {
		match := "n/a"
		if strings.HasPrefix(r.Target, "leads") || r.Target == "summary-366d" || strings.HasPrefix(r.Target, "stats ") {
			r.Acked, r.Rows = r.Accepted, 0
		}
		if stored(r.Target) {
			match = strconv.FormatBool(r.Acked == r.Rows)
		}
		fmt.Printf("| %s | %s | %d | %.0f | %s | %s | %d | %d | %d | %d | %s | %.1f MB |\n", r.Store, r.Target, r.Conns, r.RPS, r.P50, r.P99, r.Accepted, r.Other, r.Acked, r.Rows, match, r.PeakRSSMB)
	}
	fmt.Println()
	for _, r := range results {
		if r.Target == "events" && ceiling[r.Store] > 0 && noop.RPS > 0 {
			fmt.Printf("%s ingest/ceiling at %d connections: %.2f (healthz), %.2f (no-op JSON handler)\n",
				r.Store, r.Conns, r.RPS/ceiling[r.Store], r.RPS/noop.RPS)
		}
		if r.Target == "events" && durable.RPS > 0 {
			fmt.Printf("%s ingest/durable no-op at %d connections: %.2f\n", r.Store, r.Conns, r.RPS/durable.RPS)
		}
	}
	for _, n := range notes {
		fmt.Println(n)
	}
	events64 := map[string]float64{}
	for _, r := range results {
		if r.Target == "events" && r.Conns == 64 {
			events64[r.Store] = r.RPS
		}
	}
	for _, r := range results {
		if r.Target == "poison" && events64[r.Store] > 0 {
			fmt.Printf("%s legitimate events/s with 18 NUL events/s over the clean run: %.2f\n", r.Store, r.RPS/events64[r.Store])
		}
		if r.Target == "two servers" && events64[r.Store] > 0 {
			fmt.Printf("%s two serve processes combined over one at 64 connections: %.2f\n", r.Store, r.RPS/events64[r.Store])
		}
	}
	for _, r := range results {
		// wrk stops counting with requests still in flight; the server
		// answers them all, so its own count is the exact one.
		if stored(r.Target) && (r.Acked != r.Rows || r.Accepted > r.Rows) {
			return fmt.Errorf("%s at %d connections: %d answers 202 but %d rows", r.Store, r.Conns, r.Acked, r.Rows)
		}
	}
	return nil
}

func benchStore(binary, work, script, store string, d time.Duration) ([]result, error) {
	var dbURL, hopURL, poolURL string
	var count func() (int64, error)
	settle := func() {}
	switch store {
	case "postgres":
		opts := pgtest.Options{Durable: true}
		if os.Getenv("BENCH_PGSTATS") != "" {
			opts.Params = []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"}
		}
		c, err := pgtest.Start(opts)
		if err != nil {
			return nil, err
		}
		defer c.Stop()
		dbURL = c.URL("postgres")
		// hop: the same database behind a network hop of hopDelay each
		// way, as an app machine and its database machine have.
		hop, err := startHop(fmt.Sprintf("127.0.0.1:%d", c.Port), hopDelay)
		if err != nil {
			return nil, err
		}
		defer hop.Close()
		hopURL = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", hop.Addr())
		if selected["pooled"] || selected["pooled mixed"] {
			// pooled: the same database through PgBouncer in transaction
			// mode, as DATABASE_URL is on Fly Managed Postgres.
			pooler, err := pgtest.StartPooler(dbURL)
			if err != nil {
				return nil, err
			}
			defer pooler.Stop()
			poolURL = pooler.URL("postgres")
		}
		if opts.Params != nil {
			// BENCH_PGSTATS=1: after each scenario, the statements that
			// took the most time in it (a diagnostic, not part of the report).
			pgStats = func(scenario string) {
				conn, err := pgx.Connect(context.Background(), dbURL)
				if err != nil {
					return
				}
				defer conn.Close(context.Background())
				_, _ = conn.Exec(context.Background(), `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
				rows, err := conn.Query(context.Background(), `SELECT calls, round(total_exec_time::numeric, 1)::text, round(max_exec_time::numeric, 1)::text,
					left(regexp_replace(query, '\s+', ' ', 'g'), 80) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10`)
				if err == nil {
					fmt.Printf("  pg_stat_statements after %s (calls, total ms, max ms, query):\n", scenario)
					for rows.Next() {
						v, _ := rows.Values()
						fmt.Println("   ", v)
					}
				}
				_, _ = conn.Exec(context.Background(), `SELECT pg_stat_statements_reset()`)
			}
			defer func() { pgStats = func(string) {} }()
			pgStats("startup")
		}
		settle = func() {
			conn, err := pgx.Connect(context.Background(), dbURL)
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			var after int64
			_, _ = conn.Exec(context.Background(), `VACUUM (ANALYZE) events, sessions`)
			_, _ = conn.Exec(context.Background(), `CHECKPOINT`)
			_ = conn.QueryRow(context.Background(), `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&after)
			fmt.Printf("postgres: VACUUM and CHECKPOINT before the next scenario (checkpoints so far: %d)\n", after)
		}
		count = func() (int64, error) {
			conn, err := pgx.Connect(context.Background(), dbURL)
			if err != nil {
				return 0, err
			}
			defer conn.Close(context.Background())
			var n int64
			err = conn.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n)
			return n, err
		}
	case "sqlite":
		path := filepath.Join(work, "bench.db")
		dbURL = "sqlite:" + path
		count = func() (int64, error) {
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				return 0, err
			}
			defer db.Close()
			var n int64
			err = db.QueryRow(`SELECT count(*) FROM events`).Scan(&n)
			return n, err
		}
	default:
		return nil, fmt.Errorf("unknown store")
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "APP_ENV=production", "DATABASE_URL=" + dbURL,
		"IP_HASH_PEPPER=bench-pepper-bench-pepper-bench-pepper", "ADMIN_API_KEY=bench-admin-key-0123456789",
		"RATE_LIMIT_EVENTS_PER_MINUTE=0", "RATE_LIMIT_LEADS_PER_MINUTE=0", "RATE_LIMIT_MAX=100000000", "GOMEMLIMIT=200MiB", "METRICS_ADDR=off",
		"HOST=127.0.0.1",
	}
	mig := exec.Command(binary, "migrate")
	mig.Env = env
	if out, err := mig.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("migrate: %v\n%s", err, out)
	}
	// healthz first: the ceiling is measured on an idle server, before the
	// event runs leave a backlog for the sessionizer of the next process.
	var results []result
	var lag *lagProbe
	for _, sc := range []struct {
		target string
		conns  int
	}{{"healthz", 64}, {"events", 64}, {"poison", 64}, {"events", 256}, {"hop", 64}, {"mixed", 64}, {"hop mixed", 64}, {"pooled", 64}, {"pooled mixed", 64}} {
		hopped, mixed := strings.HasPrefix(sc.target, "hop"), strings.HasSuffix(sc.target, "mixed")
		pooled := strings.HasPrefix(sc.target, "pooled")
		if !want(sc.target) || hopped && hopURL == "" || pooled && !selected[sc.target] {
			continue
		}
		senv := env
		if hopped {
			senv = append(slices.Clone(env), "DATABASE_URL="+hopURL) // the later one counts
			fmt.Printf("%s: through a TCP proxy that delays each direction by %s\n", store, hopDelay)
		}
		if pooled {
			senv = append(slices.Clone(env), "DATABASE_URL="+poolURL, "DIRECT_DATABASE_URL="+dbURL)
			fmt.Printf("%s: through PgBouncer in transaction mode\n", store)
		}
		srv, err := startServer(binary, senv, filepath.Join(work, store+"-serve.log"))
		if err != nil {
			return nil, err
		}
		url := srv.url
		before, err := count()
		if err != nil {
			return nil, err
		}
		args := []string{"-t2", "-c" + strconv.Itoa(sc.conns), "-d" + d.String(), "--latency", "--timeout", "5s"}
		if sc.target == "healthz" {
			args = append(args, url+"/v1/healthz")
		} else {
			if sc.target != "hop" && !mixed {
				lag = startLagProbe(store, dbURL)
			}
			args = append(args, "-s", script, url+"/v1/events")
		}
		fmt.Printf("%s: wrk %s\n", store, strings.Join(args, " "))
		// mixed: lead captures at 50/s during the event load, from the
		// event script's visitors (a sign-up amid page views).
		leads := make(chan result, 1)
		if mixed {
			fmt.Printf("%s: and 50 lead captures/s from the same visitors\n", store)
			go func() {
				leads <- driveLeads(url, "mixed", 50, d, func(i int) string { return fmt.Sprintf("visitor-%05d", i%10000+1) })
			}()
		}
		var poisoned map[int]int
		var poisonDone <-chan struct{}
		stopPoison := make(chan struct{})
		if sc.target == "poison" {
			fmt.Printf("%s: and 18 events/s whose path holds a NUL, each from another address\n", store)
			poisoned, poisonDone = poisonDriver(url, stopPoison)
		}
		out, err := exec.Command("wrk", args...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("wrk: %v\n%s", err, out)
		}
		close(stopPoison)
		if poisonDone != nil {
			<-poisonDone
			notes = append(notes, fmt.Sprintf("%s: the poisoned run's NUL events were answered %v", store, poisoned))
		}
		if lag != nil {
			worst := lag.finish()
			lag = nil
			notes = append(notes, fmt.Sprintf("%s: %s at %d connections: the oldest event not yet in sessions was at most %.1f s old (sampled each second)",
				store, sc.target, sc.conns, worst.Seconds()))
			fmt.Println("  " + notes[len(notes)-1])
		}
		var lr result
		if mixed {
			lr = <-leads
		}
		rss := peakRSS(srv.cmd.Process.Pid)
		srv.stop()
		logText, _ := os.ReadFile(srv.log.Name())
		after, err := count()
		if err != nil {
			return nil, err
		}
		r := parseWrk(string(out))
		r.Store, r.Target, r.Conns, r.PeakRSSMB = store, sc.target, sc.conns, rss
		r.Rows = after - before
		if m := reAcked.FindSubmatch(logText); m != nil {
			r.Acked, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		if sc.target == "healthz" {
			r.Accepted, r.Rows, r.Acked = 0, 0, 0
		}
		fmt.Printf("  %.0f req/s, p50 %s, p99 %s, 202s seen by wrk %d, acknowledged by the server %d, rows %d, peak RSS %.1f MB\n", r.RPS, r.P50, r.P99, r.Accepted, r.Acked, r.Rows, r.PeakRSSMB)
		pgStats(fmt.Sprintf("%s at %d connections", sc.target, sc.conns))
		if mixed {
			// Each capture stores one lead_captured event.
			r.Rows -= lr.Accepted
			lr.Store, lr.Target = store, "leads amid events"
			if hopped {
				lr.Target = "leads amid events, hop"
			}
			if pooled {
				lr.Target = "leads amid events, pooled"
			}
			fmt.Printf("  lead captures: p50 %s, p99 %s, 200s %d, others %d; event rows less captures %d\n", lr.P50, lr.P99, lr.Accepted, lr.Other, r.Rows)
			results = append(results, r, lr)
			continue
		}
		results = append(results, r)
	}
	if store == "postgres" && want("two") {
		before, err := count()
		if err != nil {
			return nil, err
		}
		fmt.Printf("%s: two serve processes, wrk -c32 on each at once\n", store)
		two, err := benchTwoServers(binary, env, work, script, d)
		if err != nil {
			return nil, err
		}
		after, err := count()
		if err != nil {
			return nil, err
		}
		two.Rows = after - before
		results = append(results, two)
	}
	if store == "postgres" && want("writers") {
		line, err := benchStoreWriters(dbURL, 10*time.Second)
		if err != nil {
			return nil, err
		}
		notes = append(notes, line)
	}
	if want("provisional") {
		srv, err := startServer(binary, env, filepath.Join(work, store+"-provisional.log"))
		if err != nil {
			return nil, err
		}
		line, err := benchProvisional(store, srv.url, dbURL)
		srv.stop()
		if err != nil {
			return nil, err
		}
		notes = append(notes, line)
	}
	if want("sessionize") {
		line, err := benchSessionizeFromScratch(store, dbURL)
		if err != nil {
			return nil, err
		}
		notes = append(notes, line)
	}
	if want("leads") {
		// The event runs leave gigabytes of WAL and a million new rows
		// behind; on PostgreSQL a vacuum and a checkpoint now keep the
		// autovacuum and the checkpoint they trigger out of the lead
		// captures' measurement, and on both stores the sessionizer catches
		// up first (its backlog is the previous scenario's, not theirs).
		if err := catchUpSessions(store, dbURL); err != nil {
			return nil, err
		}
		settle()
		leads, err := benchLeads(binary, env, work, store)
		if err != nil {
			return nil, err
		}
		results = append(results, leads)
		pgStats("leads")
	}
	if want("leads-delivery") {
		settle()
		leads, err := benchLeadsDelivery(binary, env, work, store)
		if err != nil {
			return nil, err
		}
		results = append(results, leads)
	}
	if want("summary") {
		sum, err := benchSummary(binary, env, work, store, dbURL)
		if err != nil {
			return nil, err
		}
		results = append(results, sum)
	}
	if want("stats") {
		rs, err := benchStats(binary, env, work, store, dbURL)
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	}
	return results, nil
}

// benchNoop measures what this machine gives the events script when the
// server does nothing but read each body, decode its JSON and answer 202:
// the ceiling for any event endpoint here, with wrk on the same cores.
// With durable set it also appends each body to a file in work and answers
// only after a batch of them is written and fdatasync'ed, group commit with
// nothing else: the ceiling for an endpoint that acknowledges only what is
// stored.
func benchNoop(script, work string, d time.Duration, durable bool) (result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	name, store := "no-op JSON handler", func([]byte) error { return nil }
	if durable {
		name = "durable no-op (append + fdatasync)"
		f, err := os.Create(filepath.Join(work, "durable-noop.log"))
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		g := newGroupCommit(f)
		defer g.close()
		store = g.append
	}
	var failed atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var v map[string]any
		_ = json.Unmarshal(body, &v)
		if err := store(body); err != nil {
			failed.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		// Shutdown waits for the handlers wrk left in flight, so none
		// appends after the group commit has closed.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	args := []string{"-t2", "-c64", "-d" + d.String(), "--latency", "--timeout", "5s", "-s", script, "http://" + ln.Addr().String() + "/v1/events"}
	fmt.Printf("%s: wrk %s\n", name, strings.Join(args, " "))
	out, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if n := failed.Load(); n > 0 {
		return result{}, fmt.Errorf("%s: %d writes failed", name, n)
	}
	r := parseWrk(string(out))
	r.Store, r.Target, r.Conns = "none", name, 64
	r.Accepted = 0
	fmt.Printf("  %.0f req/s, p50 %s, p99 %s\n", r.RPS, r.P50, r.P99)
	return r, nil
}

// groupCommit appends bodies to a file, one write and one fdatasync for
// all the bodies that arrived while the previous batch was syncing, and
// returns to each caller once its batch is durable.
type groupCommit struct {
	f    *os.File
	reqs chan commitReq
	done chan struct{}
}

type commitReq struct {
	body []byte
	err  chan error
}

func newGroupCommit(f *os.File) *groupCommit {
	g := &groupCommit{f: f, reqs: make(chan commitReq, 1024), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommit) append(body []byte) error {
	req := commitReq{body: body, err: make(chan error, 1)}
	g.reqs <- req
	return <-req.err
}

func (g *groupCommit) close() {
	close(g.reqs)
	<-g.done
}

func (g *groupCommit) loop() {
	defer close(g.done)
	var buf []byte
	var batch []commitReq
	for req := range g.reqs {
		batch = append(batch[:0], req)
	more:
		for {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		buf = buf[:0]
		for _, r := range batch {
			buf = append(append(buf, r.body...), '\n')
		}
		_, err := g.f.Write(buf)
		if err == nil {
			err = syscall.Fdatasync(int(g.f.Fd()))
		}
		for _, r := range batch {
			r.err <- err
		}
	}
}

// benchSummary seeds 13 months of daily rollups (2,000 distinct visitors a
// day, a TTFB histogram, two properties) and times uncached summaries of a
// 366-day window with comparison.
func benchSummary(binary string, env []string, work, store, dbURL string) (result, error) {
	ctx := context.Background()
	var st marketing.Store
	var err error
	if store == "postgres" {
		st, err = postgres.Open(ctx, dbURL, "")
	} else {
		st, err = sqlite.Open(ctx, strings.TrimPrefix(dbURL, "sqlite:"))
	}
	if err != nil {
		return result{}, err
	}
	end := time.Now().UTC().AddDate(0, 0, -1)
	start := end.AddDate(0, -13, 0)
	n := 0
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		var vs, rs metrics.Sketch
		var h metrics.Histogram
		for i := range 2000 {
			id := fmt.Sprintf("visitor-%d", (n*700+i)%50_000)
			vs.Add(id)
			if i%3 == 0 {
				rs.Add(id)
			}
			h.Add(int64(50 + i%400))
		}
		rows := []marketing.DayRollup{}
		for _, p := range []string{"default", "example.com"} {
			rows = append(rows, marketing.DayRollup{PropertyID: p, Day: day, UniqueVisitors: vs.Count(), ReturningVisitors: rs.Count(),
				PageViews: 6000, Entrances: 2500, Exits: 2400, Conversions: 40, FormStarts: 90, FormSubmits: 45, NewLeads: 38,
				TrafficSources:  map[string]int64{"direct": 3000, "organic_search": 2000, "social": 1000},
				TopLandingPaths: []marketing.LandingPath{{Path: "/", Entrances: 1500, Conversions: 20}},
				VisitorSketch:   vs.Encode(), ReturningSketch: rs.Encode(), TTFBHistogram: h.Encode(), P95TTFBMs: h.Quantile(0.95),
				EventsAccepted: 9000, Dropped: map[string]int64{"bot": 300}, GeneratedAt: time.Now()})
		}
		if err := st.SaveRollups(ctx, day, rows); err != nil {
			st.Close()
			return result{}, err
		}
		n++
	}
	st.Close()
	// Each request comes from another loopback address, so the 60/min
	// limit per client allows enough samples for a p99.
	srv, err := startServer(binary, append(env, "METRICS_SUMMARY_CACHE_TTL_MS=0", "SCHEDULER_ENABLED=false"),
		filepath.Join(work, store+"-summary.log"))
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	url := srv.url
	q := fmt.Sprintf("%s/v1/metrics/summary?from=%s&to=%s&compareTo=true", url, end.AddDate(0, 0, -365).Format(time.DateOnly), end.Format(time.DateOnly))
	const samples = 300
	fmt.Printf("%s: %d days of rollups seeded; %d uncached 366-day summaries with comparison, one at a time\n", store, n, samples)
	var ds []time.Duration
	r := result{Store: store, Target: "summary-366d", Conns: 1}
	for i := range samples {
		req, _ := http.NewRequest("GET", q, nil)
		req.Header.Set("x-admin-key", "bench-admin-key-0123456789")
		status, _, took, err := timed(i, req)
		if err != nil {
			return r, err
		}
		ds = append(ds, took)
		if status == 200 {
			r.Accepted++
		} else {
			r.Other++
		}
	}
	r.oneAtATime(ds)
	r.PeakRSSMB = peakRSS(srv.cmd.Process.Pid)
	fmt.Printf("  p50 %s, p99 %s, 200s %d, others %d\n", r.P50, r.P99, r.Accepted, r.Other)
	return r, nil
}

// latencies sorts ds and sets the result's p50 and p99 from them.
func (r *result) latencies(ds []time.Duration) {
	slices.Sort(ds)
	r.P50 = ds[len(ds)/2].Round(10 * time.Microsecond).String()
	r.P99 = ds[len(ds)*99/100].Round(10 * time.Microsecond).String()
}

// oneAtATime sets p50, p99 and the rate of requests sent one at a time.
func (r *result) oneAtATime(ds []time.Duration) {
	r.latencies(ds)
	r.RPS = float64(len(ds)) / sumDurations(ds).Seconds()
}

func sumDurations(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// benchLeads paces lead captures at 50/s for 20 s (each a distinct address
// and visitor, with express consent) and reports their latency.
func benchLeads(binary string, env []string, work, store string) (result, error) {
	srv, err := startServer(binary, env, filepath.Join(work, store+"-leads.log"))
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	const rate, seconds = 50, 20
	fmt.Printf("%s: %d lead captures/s for %d s\n", store, rate, seconds)
	r := driveLeads(srv.url, "bench", rate, seconds*time.Second, func(i int) string { return fmt.Sprintf("visitor-%06d", i) })
	r.Store, r.Target = store, "leads"
	r.PeakRSSMB = peakRSS(srv.cmd.Process.Pid)
	fmt.Printf("  p50 %s, p99 %s, 200s %d, others %d\n", r.P50, r.P99, r.Accepted, r.Other)
	return r, nil
}

// driveLeads posts rate lead captures a second for d, each a distinct
// address (prefix + n) with express consent from visitor anon(n), and
// returns their latency: RPS, P50, P99, Accepted (200s) and Other.
func driveLeads(url, prefix string, rate int, d time.Duration, anon func(int) string) result {
	type sample struct {
		d    time.Duration
		code int
	}
	n := rate * int(d/time.Second)
	out := make(chan sample, n)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		<-tick.C
		go func() {
			body := fmt.Sprintf(`{"email":"%s%d@example.com","anonId":%q,"formName":"newsletter","path":"/signup","consentStatus":"express","consent":{"text":"Yes, email me."},"payload":{"company":"Example"}}`, prefix, i, anon(i))
			req, _ := http.NewRequest("POST", url+"/v1/leads/capture", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
			start := time.Now()
			res, err := client.Do(req)
			s := sample{d: time.Since(start)}
			if err == nil {
				s.code = res.StatusCode
				res.Body.Close()
			}
			out <- s
		}()
	}
	var ds []time.Duration
	r := result{Conns: rate}
	for range n {
		s := <-out
		ds = append(ds, s.d)
		if s.code == 200 {
			r.Accepted++
		} else {
			r.Other++
		}
	}
	r.latencies(ds)
	r.RPS = float64(len(ds)) / d.Seconds()
	return r
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reP50      = regexp.MustCompile(`\s50%\s+(\S+)`)
	reP99      = regexp.MustCompile(`\s99%\s+(\S+)`)
	reAccepted = regexp.MustCompile(`ACCEPTED (\d+) OTHER (\d+)`)
	reTotal    = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reAcked    = regexp.MustCompile(`"msg":"stopped","events_acknowledged":(\d+)`)
)

func parseWrk(out string) result {
	var r result
	if m := reRPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reP50.FindStringSubmatch(out); m != nil {
		r.P50 = m[1]
	}
	if m := reP99.FindStringSubmatch(out); m != nil {
		r.P99 = m[1]
	}
	if m := reAccepted.FindStringSubmatch(out); m != nil {
		r.Accepted, _ = strconv.ParseInt(m[1], 10, 64)
		r.Other, _ = strconv.ParseInt(m[2], 10, 64)
	} else {
		if m := reTotal.FindStringSubmatch(out); m != nil {
			r.Accepted, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := reNon2xx.FindStringSubmatch(out); m != nil {
			r.Other, _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	return r
}

func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// server is a running `marketing serve` under test.
type server struct {
	cmd     *exec.Cmd
	url     string
	log     *os.File
	stopped bool
}

// startServer runs serve on a free port with env, logging to logPath, and
// waits until it is healthy.
func startServer(binary string, env []string, logPath string) (*server, error) {
	port := freePort()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(env, "PORT="+strconv.Itoa(port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), log: logf}
	if err := waitHealthy(s.url); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// stop sends SIGTERM and waits: the server drains and logs its totals.
// Stopping twice is a no-op.
func (s *server) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.log.Close()
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHealthy(url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(url + "/v1/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server did not become healthy")
}
