package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/cli"
	"github.com/altcontext/marketing/internal/jobs"
	"github.com/altcontext/marketing/internal/sqlite"
)

// TestSessionsRebuild: sessions derived before the channel existed get one
// when `marketing sessions rebuild` derives them again.
func TestSessionsRebuild(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	env := func(k string) string {
		return map[string]string{"DATABASE_URL": "sqlite:" + path, "APP_ENV": "test"}[k]
	}
	run := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		if err := cli.Run(ctx, append([]string{"marketing"}, args...), env, &out, &out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	run("migrate")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Now().UTC().Add(-time.Hour)
	if _, err := db.AppendEvents(ctx, []marketing.PendingEvent{{ID: "e1", VisitorID: "v1", DedupeKey: []byte("k1"), EventType: "page_view", Path: "/",
		OccurredAt: at, ReceivedAt: at, ReferrerHost: "google.com", PropertyID: "p", TrafficSource: "organic_search", DeviceType: "desktop"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.New(jobs.Options{Store: db}).Sessionize(ctx); err != nil {
		t.Fatal(err)
	}
	// As a session derived before migration 0002 would be.
	if _, err := db.SQL().ExecContext(ctx, `UPDATE sessions SET channel = NULL`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE channel IS NULL`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("sessions without channel: %d %v", n, err)
	}
	out := run("sessions", "rebuild")
	if !strings.Contains(out, "derived 1 sessions of 1 visitors from 1 events") {
		t.Fatalf("output %q", out)
	}
	var channel string
	if err := db.SQL().QueryRowContext(ctx, `SELECT channel FROM sessions`).Scan(&channel); err != nil || channel != marketing.ChannelOrganicSearch {
		t.Fatalf("channel %q %v", channel, err)
	}
}
