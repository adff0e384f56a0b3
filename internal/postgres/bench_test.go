package postgres_test

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/storetest"
)

// BenchmarkAppendEvents64 writes 64-event batches of a realistic mix (10k
// visitors, an hour of timestamps, random dedupe keys) on a durable cluster.
// With PGSTATS=1 it prints the top statements by total time.
func BenchmarkAppendEvents64(b *testing.B) {
	opts := pgtest.Options{Durable: true}
	if os.Getenv("PGSTATS") != "" {
		opts.Params = []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track_planning=on"}
	}
	c, err := pgtest.Start(opts)
	if err != nil {
		b.Skip(err)
	}
	defer c.Stop()
	ctx := context.Background()
	db, err := postgres.Open(ctx, c.URL("postgres"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if opts.Params != nil {
		_, _ = db.Pool().Exec(ctx, "CREATE EXTENSION pg_stat_statements")
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs := make([]marketing.PendingEvent, batchSize())
		for j := range evs {
			evs[j] = storetest.Event(fmt.Sprintf("visitor-%05d", mrand.IntN(10000)), "page_view", "/p", now.Add(-time.Duration(mrand.IntN(3600))*time.Second))
			evs[j].DedupeKey = make([]byte, 16)
			_, _ = rand.Read(evs[j].DedupeKey)
		}
		if _, err := db.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if opts.Params != nil {
		rows, err := db.Pool().Query(ctx, `SELECT calls, round(total_exec_time::numeric, 1)::text, round(total_plan_time::numeric, 1)::text, left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 8`)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			v, _ := rows.Values()
			fmt.Println(v...)
		}
	}
}

func batchSize() int {
	if n, err := strconv.Atoi(os.Getenv("BATCH")); err == nil {
		return n
	}
	return 64
}

// BenchmarkCaptureLead measures one capture's transaction on a durable
// cluster without delivery, and with what delivery adds to it: two
// webhook endpoints, double opt-in (a confirmation request and its email)
// and the team's notification, all written in the same transaction.
func BenchmarkCaptureLead(b *testing.B) {
	c, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		b.Skip(err)
	}
	defer c.Stop()
	ctx := context.Background()
	db, err := postgres.Open(ctx, c.URL("postgres"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, delivery := range []bool{false, true} {
		name := "plain"
		if delivery {
			name = "delivery"
			for _, id := range []string{"ep_a", "ep_b"} {
				if err := db.AddEndpoint(ctx, &marketing.WebhookEndpoint{ID: id, URL: "https://hooks.example.net/" + id, Secret: "whsec_c2VjcmV0", IncludeEmail: id == "ep_a", CreatedAt: time.Now()}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				n++
				lc := storetest.Lead(fmt.Sprintf("bench%07d@example.com", n), fmt.Sprintf("visitor-%07d", n), "express", "Yes, email me.", time.Now())
				if delivery {
					lc.DoubleOptIn, lc.Notify, lc.ConfirmationID = true, true, marketing.NewID(time.Now())
				}
				if _, err := db.CaptureLead(ctx, lc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
