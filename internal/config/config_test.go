package config

import (
	"strings"
	"testing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// TestDatabaseURLParsedAsTheStoreDoes: a URL pgx rejects is a configuration
// error naming DATABASE_URL, not a surprise when serve starts.
func TestDatabaseURLParsedAsTheStoreDoes(t *testing.T) {
	for _, tc := range []struct {
		name, url, direct string
		want              string // "" = valid
	}{
		{"valid", "postgres://u:pw@db.internal:5432/app?sslmode=disable", "", ""},
		{"valid ipv6", "postgres://u:pw@[fdaa::3]:5432/app", "", ""},
		{"bad host", "postgres://[bad", "", "DATABASE_URL is not a valid PostgreSQL URL"},
		{"bad host with password", "postgres://u:hunter2hunter2@[bad", "", "DATABASE_URL is not a valid PostgreSQL URL"},
		{"bad sslmode", "postgres://u:pw@h/db?sslmode=bogus", "", "sslmode is invalid"},
		{"bad pool param", "postgres://h/db?pool_max_conns=x", "", "pool_max_conns"},
		{"bad port with password", "postgres://u:hunter2hunter2@h:port/db", "", "DATABASE_URL is not a valid PostgreSQL URL"},
		{"bad direct", "postgres://h/db", "postgres://h/db?sslmode=bogus", "DIRECT_DATABASE_URL is not a valid PostgreSQL URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env("DATABASE_URL", tc.url, "DIRECT_DATABASE_URL", tc.direct))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid URL refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "cannot parse `") {
				t.Fatalf("the error shows the URL: %v", err)
			}
		})
	}
}

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:hunter2@h:5432/db?sslmode=require", "postgres://u:xxxxx@h:5432/db?sslmode=require"},
		{"postgres://u@h/db?password=hunter2&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres://u@h/db?sslpassword=hunter2", "postgres://u@h/db?sslpassword=xxxxx"},
		{"postgres://u:hunter2@[bad", "(not shown: the URL does not parse)"},
		{"postgres://u@h/db?password=hunter2;x=%zz", "(not shown: the URL does not parse)"},
		{"sqlite:./data/marketing.db", "sqlite:./data/marketing.db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
	} {
		got := MaskURL(tc.in)
		if got != tc.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "hunter2") {
			t.Errorf("MaskURL(%q) shows the password: %q", tc.in, got)
		}
	}
	c, err := Load(env("DATABASE_URL", "postgres://u@h/db?password=hunter2", "DIRECT_DATABASE_URL", "postgres://u:hunter2@h/db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range c.Masked() {
		if strings.Contains(line, "hunter2") {
			t.Errorf("Masked shows a password: %s", line)
		}
	}
}

func TestMetricsAddr(t *testing.T) {
	prod := []string{"APP_ENV", "production", "DATABASE_URL", "postgres://h/db", "IP_HASH_PEPPER", strings.Repeat("p", 32)}
	for _, tc := range []struct {
		name string
		env  []string
		want string
		bad  bool
	}{
		{"development default: off", nil, "", false},
		{"development bare port: loopback", []string{"METRICS_ADDR", "9091"}, "127.0.0.1:9091", false},
		{"development host:port as given", []string{"METRICS_ADDR", "0.0.0.0:9100"}, "0.0.0.0:9100", false},
		{"development off", []string{"METRICS_ADDR", "off"}, "", false},
		{"production default", prod, ":9091", false},
		{"production bare port: every interface", append([]string{"METRICS_ADDR", "9100"}, prod...), ":9100", false},
		{"production off", append([]string{"METRICS_ADDR", "off"}, prod...), "", false},
		{"not an address", []string{"METRICS_ADDR", "localhost"}, "", true},
		{"port out of range", []string{"METRICS_ADDR", "70000"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env...))
			if tc.bad {
				if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
					t.Fatalf("want a METRICS_ADDR error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MetricsAddr != tc.want {
				t.Fatalf("MetricsAddr %q, want %q", c.MetricsAddr, tc.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	prod := []string{"APP_ENV", "production", "DATABASE_URL", "postgres://h/db", "IP_HASH_PEPPER", strings.Repeat("p", 32)}
	c, err := Load(env(prod...))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "CORS_ALLOWED_ORIGINS") || !strings.Contains(w, "ADMIN_API_KEY") || !strings.Contains(w, "PUBLIC_URL") {
		t.Fatalf("production without origins, admin key or public URL warns:\n%s", w)
	}
	c, err = Load(env(append(prod, "CORS_ALLOWED_ORIGINS", "https://www.example.com", "ADMIN_API_KEY", strings.Repeat("k", 24),
		"PUBLIC_URL", "https://marketing.example.com", "SMTP_URL", "smtp://mail.example.com:587")...))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("warnings with everything set: %v", w)
	}
	// In development only what needs mail is said (the production ones are not).
	c, err = Load(env())
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, "production") || !strings.Contains(w, "SMTP_URL") {
		t.Fatalf("warnings in development: %v", w)
	}
}
