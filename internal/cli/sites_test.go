package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the binary in-process against env and returns stdout.
func run(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := RunInput(context.Background(), append([]string{"marketing"}, args...), func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func TestSitesAndKeysCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "m.db"), "APP_ENV": "test", "METRICS_ADDR": ""}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, err := run(t, env, "", args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		return out
	}
	out := must("sites", "add", "www.Example.com", "--name", "Example", "--timezone", "America/Toronto", "--origin", "https://www.example.com")
	if !strings.Contains(out, "example.com") || !strings.Contains(out, "America/Toronto") {
		t.Fatalf("sites add printed %q", out)
	}
	must("sites", "add", "--id", "tokyo", "example.jp", "--timezone", "Asia/Tokyo")
	if _, _, err := run(t, env, "", "sites", "add", "example.jp"); err == nil {
		t.Fatal("a taken domain was registered twice")
	}
	if _, _, err := run(t, env, "", "sites", "add", "example.net", "--timezone", "Nowhere/Else"); err == nil {
		t.Fatal("a bad zone was accepted")
	}
	must("sites", "update", "tokyo", "--name", "Tokyo shop")
	out = must("sites", "list")
	if !strings.Contains(out, "Tokyo shop") || !strings.Contains(out, "https://www.example.com") || strings.Count(out, "\n") != 3 {
		t.Fatalf("sites list:\n%s", out)
	}

	secret, stderr, err := run(t, env, "", "keys", "create", "--scope", "stats:read,leads:read", "--site", "tokyo", "--label", "reporting", "--expires", "2999-01-01")
	if err != nil {
		t.Fatal(err, stderr)
	}
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, "mk_") || len(secret) != 3+12+1+64 || strings.Contains(stderr, secret) {
		t.Fatalf("keys create: stdout %q, stderr %q", secret, stderr)
	}
	if _, _, err := run(t, env, "", "keys", "create", "--scope", "everything"); err == nil {
		t.Fatal("an unknown scope was accepted")
	}
	if _, _, err := run(t, env, "", "keys", "create", "--scope", "stats:read", "--site", "missing"); err == nil {
		t.Fatal("an unknown site was accepted")
	}
	out = must("keys", "list")
	if !strings.Contains(out, secret[:15]) || strings.Contains(out, secret[16:]) || !strings.Contains(out, "active") {
		t.Fatalf("keys list:\n%s", out)
	}
	must("keys", "revoke", secret[:15])
	if out = must("keys", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("keys list after revoke:\n%s", out)
	}
	must("sites", "remove", "tokyo")
	if out = must("sites", "list"); strings.Contains(out, "tokyo") {
		t.Fatalf("removed site still listed:\n%s", out)
	}
}

func TestUsersCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "m.db"), "APP_ENV": "test", "METRICS_ADDR": ""}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, stderr, err := run(t, env, stdin, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		return out
	}
	out := must("a long enough password\n", "users", "add", "Owner@Example.com", "--role", "owner")
	if !strings.Contains(out, "owner@example.com") || !strings.Contains(out, "every site") {
		t.Fatalf("users add printed %q", out)
	}
	if _, _, err := run(t, env, "short\n", "users", "add", "v@example.com", "--role", "viewer"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if _, _, err := run(t, env, "a long enough password\n", "users", "add", "v@example.com", "--role", "viewer", "--site", "missing"); err == nil {
		t.Fatal("a role on an unregistered site was accepted")
	}
	if _, _, err := run(t, env, "a long enough password\n", "users", "add", "owner@example.com", "--role", "viewer"); err == nil {
		t.Fatal("an email was registered twice")
	}
	must("", "sites", "add", "example.org")
	must("another long password\n", "users", "add", "v@example.com", "--role", "viewer", "--site", "example.org")
	must("", "users", "set-role", "v@example.com", "--role", "admin", "--site", "example.org")
	out = must("", "users", "list")
	if !strings.Contains(out, "owner@*") || !strings.Contains(out, "admin@example.org") || strings.Contains(out, "argon2") {
		t.Fatalf("users list:\n%s", out)
	}
	must("a third long password\n", "users", "reset-password", "v@example.com")
	must("", "users", "disable-totp", "v@example.com")
	must("", "users", "remove", "v@example.com")
	if out = must("", "users", "list"); strings.Contains(out, "v@example.com") {
		t.Fatalf("removed user listed:\n%s", out)
	}
}
