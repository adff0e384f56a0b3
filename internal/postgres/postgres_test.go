package postgres_test

import (
	"context"
	"testing"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/pgtest"
	"github.com/altcontext/marketing/internal/postgres"
	"github.com/altcontext/marketing/internal/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T) (marketing.Store, func() marketing.Store) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	handle := func() marketing.Store {
		db, err := postgres.Open(context.Background(), url, pgtest.Direct(url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return handle(), handle
}

func TestStore(t *testing.T) {
	t.Log("running the store conformance suite against PostgreSQL")
	storetest.Run(t, open)
}
