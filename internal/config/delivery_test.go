package config_test

import (
	"strings"
	"testing"

	"github.com/altcontext/marketing/internal/config"
)

func load(vars map[string]string) (*config.Config, error) {
	return config.Load(func(k string) string { return vars[k] })
}

// TestDeliveryVariables: the lead delivery variables are validated, masked
// and, without SMTP_URL, warned about.
func TestDeliveryVariables(t *testing.T) {
	for _, bad := range []map[string]string{
		{"SMTP_URL": "http://mail.example.com"},
		{"SMTP_URL": "smtps://mail.example.com?tls=none"},
		{"SMTP_URL": "smtp://mail.example.com?tls=maybe"},
		{"NOTIFY_EMAIL": "not an address"},
		{"MAIL_FROM": "nope"},
		{"DOUBLE_OPT_IN": "perhaps"},
		{"WEBHOOK_ALLOW_PRIVATE": "2"},
		{"SITE_NAME": "two\nlines"},
	} {
		if _, err := load(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	c, err := load(map[string]string{"SMTP_URL": "smtp://user:hunter2@mail.example.com:587", "NOTIFY_EMAIL": "team@example.com",
		"MAIL_FROM": "Example <news@example.com>", "DOUBLE_OPT_IN": "true", "SITE_NAME": "Example Co."})
	if err != nil {
		t.Fatal(err)
	}
	masked := strings.Join(c.Masked(), "\n")
	if strings.Contains(masked, "hunter2") || !strings.Contains(masked, "SMTP_URL=smtp://user:xxxxx@mail.example.com:587") ||
		!strings.Contains(masked, "DOUBLE_OPT_IN=true") || !strings.Contains(masked, "NOTIFY_EMAIL=team@example.com") {
		t.Fatalf("masked:\n%s", masked)
	}
	if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, "SMTP_URL is unset") {
		t.Fatalf("warnings with SMTP_URL set: %s", w)
	}
	c, err = load(map[string]string{"DOUBLE_OPT_IN": "true", "NOTIFY_EMAIL": "team@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "DOUBLE_OPT_IN is on but SMTP_URL is unset") || !strings.Contains(w, "NOTIFY_EMAIL is set but SMTP_URL is unset") {
		t.Fatalf("warnings: %s", w)
	}
	if c.MailFrom != c.PrivacyContactEmail || c.WebhookAllowPrivate {
		t.Fatalf("defaults: %q %v", c.MailFrom, c.WebhookAllowPrivate)
	}
}
