package cli_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/altcontext/marketing/internal/cli"
)

// sqliteEnv is an environment on a fresh SQLite file that nothing has
// created yet: a command that gets as far as the store creates it.
func sqliteEnv(t *testing.T, kv ...string) (func(string) string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	m := map[string]string{"DATABASE_URL": "sqlite:" + path, "METRICS_ADDR": "off", "HOST": "127.0.0.1"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }, path
}

// TestUsageErrors: every malformed command line exits 2 with a message that
// names what is allowed, before any configuration or database is read.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // substrings of stderr
	}{
		{[]string{}, []string{"no command given"}},
		{[]string{"nonsense"}, []string{`unknown command "nonsense"`, "commands: serve"}},
		{[]string{"rollups"}, []string{"usage: marketing rollups run", "status", "discrepancy", "refresh-view", "no subcommand"}},
		{[]string{"rollups", "bogus"}, []string{"usage: marketing rollups run", `got "bogus"`}},
		{[]string{"rollups", "status", "extra"}, []string{"usage: marketing rollups"}},
		{[]string{"serve", "--port", "9999"}, []string{"usage: marketing serve", "takes no arguments", `"--port 9999"`, "PORT"}},
		{[]string{"version", "--json"}, []string{"usage: marketing version", "takes no arguments", `"--json"`}},
		{[]string{"migrate", "up"}, []string{"usage: marketing migrate | marketing migrate status"}},
		{[]string{"config"}, []string{"usage: marketing config check"}},
		{[]string{"config", "check", "--verbose"}, []string{"usage: marketing config check"}},
		{[]string{"retention"}, []string{"usage: marketing retention purge [--dry-run]"}},
		{[]string{"retention", "purge", "--now"}, []string{"usage: marketing retention purge [--dry-run]"}},
		{[]string{"secrets"}, []string{"usage: marketing secrets generate"}},
		{[]string{"rollups", "run", "--property-id", "site"}, []string{"-property-id", "usage: marketing rollups run [--from D] [--to D]"}},
		{[]string{"rollups", "run", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"rollups", "discrepancy", "--from", "2026-13-01"}, []string{`"2026-13-01" is not a day`}},
		{[]string{"rollups", "discrepancy", "--from", "2999-01-01"}, []string{"after the default --to", "--to"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			getenv, path := sqliteEnv(t)
			var stdout, stderr strings.Builder
			code := cli.Main(t.Context(), append([]string{"marketing"}, tc.args...), getenv, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), "marketing: marketing:") {
				t.Errorf("doubled prefix:\n%s", stderr.String())
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("a usage error opened the database")
			}
		})
	}
}

// TestNoDoubledPrefix: an error of package marketing (which begins with
// "marketing: ") is printed once prefixed.
func TestNoDoubledPrefix(t *testing.T) {
	// refresh-view on SQLite is a marketing.Error (invalid: PostgreSQL only).
	getenv, _ := sqliteEnv(t)
	var stdout, stderr strings.Builder
	code := cli.Main(t.Context(), []string{"marketing", "rollups", "refresh-view"}, getenv, &stdout, &stderr)
	if code == 0 {
		t.Fatalf("refresh-view on SQLite succeeded:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "\nmarketing: invalid: ") || strings.Contains(stderr.String(), "marketing: marketing:") {
		t.Fatalf("stderr: %q", stderr.String())
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      []string
		code     int
		want     []string // stdout+stderr
		wantNot  []string
		warnings bool
	}{
		{"bad host", []string{"DATABASE_URL", "postgres://[bad"}, 1, []string{"DATABASE_URL is not a valid PostgreSQL URL"}, []string{"configuration OK"}, false},
		{"bad sslmode", []string{"DATABASE_URL", "postgres://u:hunter2@h/db?sslmode=bogus"}, 1, []string{"DATABASE_URL", "sslmode is invalid"}, []string{"configuration OK", "hunter2"}, false},
		{"password parameter", []string{"DATABASE_URL", "postgres://u@h/db?password=hunter2&sslmode=disable"}, 0, []string{"DATABASE_URL=postgres://u@h/db?password=xxxxx&sslmode=disable", "configuration OK"}, []string{"hunter2"}, false},
		{"userinfo password", []string{"DIRECT_DATABASE_URL", "postgres://u:hunter2@h/db"}, 0, []string{"DIRECT_DATABASE_URL=postgres://u:xxxxx@h/db"}, []string{"hunter2"}, false},
		{"metrics off by default", nil, 0, []string{"METRICS_ADDR=off"}, nil, false},
		{"production without origins or admin key", []string{"APP_ENV", "production", "DATABASE_URL", "postgres://u@h/db", "IP_HASH_PEPPER", strings.Repeat("p", 32), "METRICS_ADDR", ""},
			0, []string{"WARNING: CORS_ALLOWED_ORIGINS is empty", "WARNING: ADMIN_API_KEY is unset", "METRICS_ADDR=:9091"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv, _ := sqliteEnv(t, tc.env...)
			var stdout, stderr strings.Builder
			code := cli.Main(t.Context(), []string{"marketing", "config", "check"}, getenv, &stdout, &stderr)
			all := stdout.String() + stderr.String()
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, all)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(all, w) {
					t.Errorf("output has %q:\n%s", w, all)
				}
			}
			if tc.warnings && !strings.Contains(stderr.String(), "WARNING") {
				t.Errorf("warnings not on stderr:\n%s", stderr.String())
			}
		})
	}
}

// TestServePortInUse: with the port taken, serve reports it before it opens
// (creates, migrates) the database or starts anything, and logs no error.
func TestServePortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	getenv, path := sqliteEnv(t, "PORT", strconv.Itoa(port))
	var stdout, stderr strings.Builder
	code := cli.Main(t.Context(), []string{"marketing", "serve"}, getenv, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "address already in use") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), `"level":"ERROR"`) || strings.Contains(stdout.String(), "migrated") {
		t.Fatalf("serve did work before finding the port taken:\n%s", stdout.String())
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("serve created the database before finding the port taken")
	}
}

// TestServeWarnsInProduction: production without CORS origins or an admin
// key says so at start, on stderr and as WARN log lines.
func TestServeWarnsInProduction(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// An unmigrated SQLite file in production: serve refuses it, after
	// the warnings.
	getenv, _ := sqliteEnv(t, "APP_ENV", "production", "IP_HASH_PEPPER", strings.Repeat("p", 32), "PORT", strconv.Itoa(port))
	var stdout, stderr strings.Builder
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	code := cli.Main(ctx, []string{"marketing", "serve"}, getenv, &stdout, &stderr)
	if code == 0 {
		t.Fatal("serve on an unmigrated production database exited 0")
	}
	for _, w := range []string{"CORS_ALLOWED_ORIGINS is empty", "ADMIN_API_KEY is unset"} {
		if !strings.Contains(stderr.String(), "WARNING: "+w) {
			t.Errorf("stderr lacks the warning %q:\n%s", w, stderr.String())
		}
		if !strings.Contains(stdout.String(), `"level":"WARN","msg":"`+w) {
			t.Errorf("log lacks the WARN line %q:\n%s", w, stdout.String())
		}
	}
}
