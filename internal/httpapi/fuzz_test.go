package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/httpapi"
	"github.com/altcontext/marketing/internal/ingest"
	"github.com/altcontext/marketing/internal/sqlite"
)

// FuzzEvents sends arbitrary bytes to POST /v1/events on a real server and
// store: never a panic, never a 5xx.
func FuzzEvents(f *testing.F) {
	for _, s := range []string{
		fullPayload,
		`[{"eventType":"a","path":"/"},{"eventType":"b","path":"/"}]`,
		`{"events":[{"eventType":"a","url":"https://x.test/p?utm_medium=cpc"}]}`,
		`{"eventType":"a","path":"/","eventId":"7d444840-9dc0-11d1-b245-5ffdce74fad2"}`,
		`{"eventType":"a","path":"/","props":{"ttfbMs":"abc"},"traffic":{"webVitals":{"ttfbMs":"12"}}}`,
		"\x00\xff{", `{"eventType":"\u0000","path":"\ud800"}`,
	} {
		f.Add([]byte(s), "application/json")
		f.Add([]byte(s), "text/plain")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	cfg, _ := config.Load(func(k string) string {
		return map[string]string{"RATE_LIMIT_EVENTS_PER_MINUTE": "0", "RATE_LIMIT_MAX": "1000000"}[k]
	})
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	pipe := ingest.New(ingest.Options{Store: db, Pepper: []byte("fuzz-pepper-fuzz-pepper-fuzz-pepper"), DefaultProperty: "default",
		Rules: marketing.SessionRules{Inactivity: 30 * 60e9}, Writer: ingest.WriterOptions{QueueSize: 16, MaxBatch: 100, Workers: 1}, Logger: log})
	defer pipe.Close(ctx)
	h := httpapi.NewServer(httpapi.Deps{Config: cfg, Store: db, Pipeline: pipe, Logger: log})
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		req := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("User-Agent", browserUA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q (%s): %s", rec.Code, body, contentType, rec.Body.String())
		}
	})
}
