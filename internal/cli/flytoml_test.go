package cli_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing/internal/cli"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/httpapi"
)

// tomlValue finds key = value in a [section] of fly.toml (enough TOML for
// the assertions below, without a dependency).
func tomlValue(t *testing.T, doc, section, key string) string {
	t.Helper()
	cur := ""
	for _, line := range strings.Split(doc, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			cur = strings.Trim(l, "[] ")
			continue
		}
		if cur != section {
			continue
		}
		if m := regexp.MustCompile(`^` + regexp.QuoteMeta(key) + `\s*=\s*(.+?)\s*(#.*)?$`).FindStringSubmatch(l); m != nil {
			return strings.Trim(m[1], `"`)
		}
	}
	t.Fatalf("fly.toml has no %s in [%s]", key, section)
	return ""
}

func TestFlyToml(t *testing.T) {
	b, err := os.ReadFile("../../fly.toml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if r := tomlValue(t, doc, "", "primary_region"); r != "yyz" {
		t.Errorf("primary_region %q, want yyz", r)
	}
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if p := tomlValue(t, doc, "http_service", "internal_port"); p != strconv.Itoa(cfg.Port) {
		t.Errorf("internal_port %s, default PORT %d", p, cfg.Port)
	}
	// The health check path answers 200 with no database at all.
	path := tomlValue(t, doc, "http_service.checks", "path")
	srv := httpapi.NewServer(httpapi.Deps{Config: cfg, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Version: "test"})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 {
		t.Errorf("health check %s answers %d without a database", path, rec.Code)
	}
	// release_command names a real subcommand: run it with a bad URL and
	// see it get past argument parsing to the database.
	rc := tomlValue(t, doc, "deploy", "release_command")
	var out strings.Builder
	err = cli.Run(t.Context(), []string{"marketing", rc}, func(k string) string {
		return map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"}[k]
	}, &out, &out)
	if err == nil || strings.Contains(err.Error(), "unknown command") {
		t.Errorf("release_command %q: %v", rc, err)
	}
	kt, err := time.ParseDuration(tomlValue(t, doc, "", "kill_timeout"))
	if err != nil || kt <= cli.ShutdownTimeout {
		t.Errorf("kill_timeout %v must exceed the server's drain (%v)", kt, cli.ShutdownTimeout)
	}
	if m := tomlValue(t, doc, "vm", "memory"); m != "256mb" {
		t.Errorf("vm memory %q, want 256mb", m)
	}
	if s := tomlValue(t, doc, "", "kill_signal"); s != "SIGTERM" {
		t.Errorf("kill_signal %q", s)
	}
	if p := tomlValue(t, doc, "metrics", "port"); p != "9091" {
		t.Errorf("metrics port %q", p)
	}
	// Production listens for the scraper on [metrics] port, with fly.toml's
	// METRICS_ADDR and without it (the production default).
	for _, addr := range []string{tomlValue(t, doc, "env", "METRICS_ADDR"), ""} {
		prod, err := config.Load(func(k string) string {
			return map[string]string{"APP_ENV": "production", "DATABASE_URL": "postgres://u@h/db",
				"IP_HASH_PEPPER": strings.Repeat("p", 32), "METRICS_ADDR": addr}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := ":" + tomlValue(t, doc, "metrics", "port"); prod.MetricsAddr != want {
			t.Errorf("production METRICS_ADDR %q (fly.toml %q): listens on %q, Fly scrapes %s", addr, addr, prod.MetricsAddr, want)
		}
	}
}
