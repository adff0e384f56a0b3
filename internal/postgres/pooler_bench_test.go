package postgres_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/storetest"
)

// BenchmarkExecModes measures what a pooler-safe statement mode costs: the
// same store calls in pgx's modes (named via the URL's
// default_query_exec_mode), direct and through PgBouncer in transaction
// mode, where named prepared statements do not work (docs/deploy.md).
func BenchmarkExecModes(b *testing.B) {
	c, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		b.Skip(err)
	}
	defer c.Stop()
	pool, err := pgtest.StartPooler(c.URL("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Stop()
	ctx := context.Background()
	direct := c.URL("postgres")
	{
		db, err := postgres.Open(ctx, direct, "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := db.EnsureSetting(ctx, "k", "v"); err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	for _, route := range []string{"direct", "pgbouncer"} {
		for _, mode := range []string{"cache_statement", "cache_describe", "exec"} {
			if route == "pgbouncer" && mode == "cache_statement" {
				continue
			}
			u := direct
			if route == "pgbouncer" {
				u = pool.URL("postgres")
			}
			db, err := postgres.Open(ctx, u+"&default_query_exec_mode="+mode, direct)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(route+"/"+mode+"/Setting", func(b *testing.B) {
				for b.Loop() {
					if _, err := db.Setting(ctx, "k"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(route+"/"+mode+"/CaptureLead", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					l := storetest.Lead(fmt.Sprintf("%s-%s-%d@example.com", route, mode, i), fmt.Sprintf("visitor-%05d", mrand.IntN(10000)), marketing.ConsentExpress, "News", time.Now())
					if _, err := db.CaptureLead(ctx, l); err != nil {
						b.Fatal(err)
					}
				}
			})
			db.Close()
		}
	}
}
