package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/sqlite"
	"github.com/altcontext/marketing/internal/storetest"
)

// The scenarios of the event log (issue "Events are facts"): the
// sessionizer's lag under load and its time from scratch, two serve
// processes on one PostgreSQL, writers at the store layer, poisoned
// batches, and how often a 202's provisional sessionId is the derived one.

// clientFrom is an HTTP client whose connections leave from 127.x.y.z, so
// the server sees client i as its own address (rate limits per client).
func clientFrom(i int) *http.Client {
	ip := net.IPv4(127, byte(1+i/62500%250), byte(i/250%250), byte(1+i%250))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// timed sends req from client i and reads the whole answer; the time
// covers both, as a browser waits for both. A body cut short is returned
// as far as it came (the callers check what it holds).
func timed(i int, req *http.Request) (status int, body []byte, took time.Duration, err error) {
	t0 := time.Now()
	res, err := clientFrom(i).Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, body, time.Since(t0), nil
}

// lagProbe samples, once a second until stopped, the age of the oldest
// event that is not yet in sessions, and returns the largest seen.
type lagProbe struct {
	stop chan struct{}
	done chan time.Duration
}

func startLagProbe(store, dbURL string) *lagProbe {
	p := &lagProbe{stop: make(chan struct{}), done: make(chan time.Duration, 1)}
	go func() {
		var worst time.Duration
		defer func() { p.done <- worst }()
		var sample func() (time.Duration, error)
		switch store {
		case "postgres":
			conn, err := pgx.Connect(context.Background(), dbURL)
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			sample = func() (time.Duration, error) {
				var ms *float64
				err := conn.QueryRow(context.Background(), `SELECT extract(epoch FROM now() - min(received_at)) * 1000 FROM events
					WHERE tx >= (SELECT position FROM sessionizer WHERE id = 1)`).Scan(&ms)
				if err != nil || ms == nil {
					return 0, err
				}
				return time.Duration(*ms) * time.Millisecond, nil
			}
		default:
			db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:"))
			if err != nil {
				return
			}
			defer db.Close()
			sample = func() (time.Duration, error) {
				var ms sql.NullInt64
				err := db.QueryRow(`SELECT min(received_at) FROM events WHERE seq > (SELECT position FROM sessionizer WHERE id = 1)`).Scan(&ms)
				if err != nil || !ms.Valid {
					return 0, err
				}
				return time.Since(time.UnixMilli(ms.Int64)), nil
			}
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				if d, err := sample(); err == nil && d > worst {
					worst = d
				}
			}
		}
	}()
	return p
}

func (p *lagProbe) finish() time.Duration {
	close(p.stop)
	return <-p.done
}

// openStore opens a store on a bench database in this process.
func openStore(store, dbURL string) (marketing.Store, error) {
	if store == "postgres" {
		return postgres.Open(context.Background(), dbURL, "")
	}
	return sqlite.Open(context.Background(), strings.TrimPrefix(dbURL, "sqlite:"))
}

// catchUpSessions runs the sessionizer until nothing waits.
func catchUpSessions(store, dbURL string) error {
	st, err := openStore(store, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	res, err := jobs.New(jobs.Options{Store: st, Rules: marketing.SessionRules{Inactivity: 30 * time.Minute}}).Sessionize(context.Background())
	if err == nil {
		fmt.Printf("%s: the sessionizer caught up on %d events in %.1f s before the next scenario\n", store, res.Events, time.Since(start).Seconds())
	}
	return err
}

// benchSessionizeFromScratch fills the log to at least a million events,
// drops every session, and times the sessionizer deriving them all again.
func benchSessionizeFromScratch(store, dbURL string) (string, error) {
	ctx := context.Background()
	st, err := openStore(store, dbURL)
	if err != nil {
		return "", err
	}
	defer st.Close()
	n, err := countEvents(store, dbURL)
	if err != nil {
		return "", err
	}
	const want = 1_000_000
	if n < want {
		fmt.Printf("%s: %d events stored; appending %d more for the sessionizer\n", store, n, want-n)
		now := time.Now()
		batch := make([]marketing.PendingEvent, 0, 1000)
		for i := n; i < want; i++ {
			e := storetest.Event(fmt.Sprintf("visitor-%05d", mrand.IntN(10000)+1), "page_view", fmt.Sprintf("/page-%d", mrand.IntN(50)+1),
				now.Add(-time.Duration(mrand.IntN(3600_000))*time.Millisecond))
			e.DedupeKey = make([]byte, 16)
			_, _ = rand.Read(e.DedupeKey)
			batch = append(batch, e)
			if len(batch) == cap(batch) || i == want-1 {
				if _, err := st.AppendEvents(ctx, batch); err != nil {
					return "", err
				}
				batch = batch[:0]
			}
		}
		n = want
	}
	if err := st.ResetSessions(ctx); err != nil {
		return "", err
	}
	r := jobs.New(jobs.Options{Store: st, Rules: marketing.SessionRules{Inactivity: 30 * time.Minute}})
	start := time.Now()
	res, err := r.Sessionize(ctx)
	if err != nil {
		return "", err
	}
	took := time.Since(start)
	line := fmt.Sprintf("%s: sessionized %d events of %d visitors from scratch into %d sessions in %.1f s (%.0f events/s)",
		store, res.Events, res.Visitors, res.Sessions, took.Seconds(), float64(res.Events)/took.Seconds())
	fmt.Println(line)
	return line, nil
}

func countEvents(store, dbURL string) (int, error) {
	if store == "postgres" {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			return 0, err
		}
		defer conn.Close(context.Background())
		var n int
		err = conn.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n)
		return n, err
	}
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(*) FROM events`).Scan(&n)
	return n, err
}

// benchStoreWriters appends batches of 20 events at the store layer from
// one writer, then from four at once, for d each.
func benchStoreWriters(dbURL string, d time.Duration) (string, error) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, dbURL, "")
	if err != nil {
		return "", err
	}
	defer st.Close()
	rate := func(writers int) (float64, error) {
		var total atomic.Int64
		var firstErr atomic.Value
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				now := time.Now()
				for time.Now().Before(deadline) {
					evs := make([]marketing.PendingEvent, 20)
					for j := range evs {
						evs[j] = storetest.Event(fmt.Sprintf("visitor-%d-%05d", w, mrand.IntN(10000)), "page_view", "/p", now.Add(-time.Duration(mrand.IntN(3600))*time.Second))
						evs[j].DedupeKey = make([]byte, 16)
						_, _ = rand.Read(evs[j].DedupeKey)
					}
					if _, err := st.AppendEvents(ctx, evs); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					total.Add(20)
				}
			}()
		}
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			return 0, err
		}
		return float64(total.Load()) / d.Seconds(), nil
	}
	one, err := rate(1)
	if err != nil {
		return "", err
	}
	four, err := rate(4)
	if err != nil {
		return "", err
	}
	line := fmt.Sprintf("postgres store layer, batches of 20: 1 writer %.0f events/s, 4 writers %.0f events/s (%.2f×)", one, four, four/one)
	fmt.Println(line)
	return line, nil
}

// benchTwoServers runs two serve processes on one database and drives
// each with wrk at half the connections, at once.
func benchTwoServers(binary string, env []string, work, script string, d time.Duration) (result, error) {
	var srvs []*server
	for i := range 2 {
		s, err := startServer(binary, env, filepath.Join(work, fmt.Sprintf("two-%d.log", i)))
		if err != nil {
			return result{}, err
		}
		defer s.stop() // a no-op once stopped below
		srvs = append(srvs, s)
	}
	type out struct {
		r   result
		err error
	}
	outs := make(chan out, 2)
	for i, s := range srvs {
		go func() {
			args := []string{"-t1", "-c32", "-d" + d.String(), "--latency", "--timeout", "5s", "-s", script, s.url + "/v1/events", "--", strconv.Itoa(i + 1)}
			o, err := exec.Command("wrk", args...).CombinedOutput()
			if err != nil {
				outs <- out{err: fmt.Errorf("wrk: %v\n%s", err, o)}
				return
			}
			outs <- out{r: parseWrk(string(o))}
		}()
	}
	total := result{Store: "postgres", Target: "two servers", Conns: 64}
	var p99s []string
	for range 2 {
		o := <-outs
		if o.err != nil {
			return total, o.err
		}
		total.RPS += o.r.RPS
		total.Accepted += o.r.Accepted
		total.Other += o.r.Other
		p99s = append(p99s, o.r.P99)
	}
	total.P50, total.P99 = "-", strings.Join(p99s, "/")
	for _, s := range srvs {
		total.PeakRSSMB = math.Max(total.PeakRSSMB, peakRSS(s.cmd.Process.Pid))
	}
	// Each server logs what it acknowledged when it stops: the exact count
	// (wrk stops counting with requests in flight).
	for _, s := range srvs {
		s.stop()
		logText, _ := os.ReadFile(s.log.Name())
		if m := reAcked.FindSubmatch(logText); m != nil {
			n, _ := strconv.ParseInt(string(m[1]), 10, 64)
			total.Acked += n
		}
	}
	fmt.Printf("  two servers: %.0f events/s combined, p99 %s, %d acknowledged\n", total.RPS, total.P99, total.Acked)
	return total, nil
}

// poisonDriver posts 18 events a second whose path holds a NUL (each from
// another address) until stopped, and counts their answers.
func poisonDriver(url string, stop <-chan struct{}) (statuses map[int]int, done <-chan struct{}) {
	statuses = map[int]int{}
	var mu sync.Mutex
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		t := time.NewTicker(time.Second / 18)
		defer t.Stop()
		var wg sync.WaitGroup
		for i := 0; ; i++ {
			select {
			case <-stop:
				wg.Wait()
				return
			case <-t.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"anonId":"poison-%05d","eventType":"page_view","path":"/a\u0000b"}`, i)
				req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(body))
				req.Header.Set("Content-Type", "text/plain")
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
				code := 0
				if res, err := clientFrom(i).Do(req); err == nil {
					code = res.StatusCode
					res.Body.Close()
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}()
		}
	}()
	return statuses, ch
}

// benchProvisional posts events one visitor at a time from 32 clients,
// records each 202's sessionId, sessionizes, and counts how many equal the
// derived session of their event: once with the bench script's timestamps
// (spread over the past hour, so most events arrive out of order) and once
// as a browser sends them (no timestamp: in order).
func benchProvisional(store, url, dbURL string) (string, error) {
	var lines []string
	for _, spread := range []bool{true, false} {
		const n, visitors = 6000, 600
		prefix := fmt.Sprintf("prov-%v-", spread)
		answers := make([][2]string, n) // event id, session id
		var wg sync.WaitGroup
		work := make(chan int)
		client := &http.Client{Timeout: 10 * time.Second}
		var failed atomic.Int64
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					ts := ""
					if spread {
						ts = fmt.Sprintf(`,"timestamp":"%s"`, time.Now().Add(-time.Duration(mrand.IntN(3600))*time.Second).UTC().Format(time.RFC3339Nano))
					}
					body := fmt.Sprintf(`{"anonId":"%s%05d","eventType":"page_view","path":"/p%d"%s}`, prefix, i%visitors, i%7, ts)
					req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(body))
					req.Header.Set("Content-Type", "text/plain")
					req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
					res, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					var a struct{ EventID, SessionID string }
					_ = json.NewDecoder(res.Body).Decode(&a)
					res.Body.Close()
					answers[i] = [2]string{a.EventID, a.SessionID}
				}
			}()
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		st, err := openStore(store, dbURL)
		if err != nil {
			return "", err
		}
		r := jobs.New(jobs.Options{Store: st, Rules: marketing.SessionRules{Inactivity: 30 * time.Minute}})
		if _, err := r.Sessionize(context.Background()); err != nil {
			st.Close()
			return "", err
		}
		derived, err := derivedSessions(store, dbURL)
		st.Close()
		if err != nil {
			return "", err
		}
		same, total := 0, 0
		for _, a := range answers {
			if a[0] == "" {
				continue
			}
			total++
			if derived[a[0]] == a[1] {
				same++
			}
		}
		pattern := "no timestamps (in order, as a browser sends)"
		if spread {
			pattern = "timestamps spread over the past hour (the wrk script's pattern)"
		}
		lines = append(lines, fmt.Sprintf("%s: provisional sessionId = derived for %d of %d events (%.1f%%), %s", store, same, total, 100*float64(same)/float64(max(total, 1)), pattern))
		fmt.Println(lines[len(lines)-1])
	}
	return strings.Join(lines, "\n"), nil
}

// derivedSessions maps each recent /pN event (this scenario's; its
// visitors are hashes, so they are found by path and time) to the
// materialised session that holds it.
func derivedSessions(store, dbURL string) (map[string]string, error) {
	out := map[string]string{}
	q := `SELECT e.id, s.id FROM events e JOIN sessions s ON s.visitor_id = e.visitor_id AND s.property_id = e.property_id
		AND e.occurred_at BETWEEN s.started_at AND s.ended_at WHERE e.path LIKE '/p_' AND e.received_at > ?`
	since := time.Now().Add(-10 * time.Minute)
	if store == "postgres" {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			return nil, err
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(context.Background(), strings.Replace(q, "?", "$1", 1), since)
		if err != nil {
			return nil, err
		}
		var e, s string
		_, err = pgx.ForEachRow(rows, []any{&e, &s}, func() error { out[e] = s; return nil })
		return out, err
	}
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(q, since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e, s string
		if err := rows.Scan(&e, &s); err != nil {
			return nil, err
		}
		out[e] = s
	}
	return out, rows.Err()
}
