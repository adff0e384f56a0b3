// Package config reads the process environment into a validated Config.
// Every variable of SPEC §2 is parsed here, once, at start-up; a bad value is
// an error naming the variable and the rule.
package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the effective configuration of one process.
type Config struct {
	Env      string // development, test or production
	Host     string
	Port     int
	LogLevel string

	DatabaseURL       string
	DirectDatabaseURL string

	IPHashPepper string // empty outside production until the store supplies one
	AdminAPIKey  string // empty: generated (dev) or admin routes disabled (production)

	CORSAllowedOrigins  []string
	PublicURL           string // the backend's own origin for links it gives out; empty: the request's host
	PrivacyContactEmail string
	TrustedProxy        string // none, fly or cloudflare

	RateLimitMax             int
	RateLimitEventsPerMinute int
	RateLimitLeadsPerMinute  int

	SessionInactivity      time.Duration
	EnableHeuristicLinking bool
	HeuristicLinkWindow    time.Duration

	ReportTimezone          *time.Location
	RollupBatchDays         int
	RollupDefaultPropertyID string

	MetricsSummaryCacheTTL      time.Duration
	MetricsUseMaterializedView  bool
	MetricsMaterializedViewName string
	RetentionEventDays          int
	RetentionRollupDays         int
	RetentionRejectionDays      int
	SchedulerEnabled            bool
	HonorGPC                    bool
	MetricsAddr                 string
	// CountryDBPath is an IP→country range database (CSV, optionally
	// gzipped) read at start-up; "" for none: then no country is derived.
	CountryDBPath string
}

// Production reports whether the process runs with APP_ENV=production.
func (c *Config) Production() bool { return c.Env == "production" }

// Addr is the main listener's address.
func (c *Config) Addr() string {
	if strings.Contains(c.Host, ":") {
		return "[" + c.Host + "]:" + strconv.Itoa(c.Port)
	}
	return c.Host + ":" + strconv.Itoa(c.Port)
}

// Driver names the store DATABASE_URL selects: "postgres" or "sqlite".
func (c *Config) Driver() string { return DriverOf(c.DatabaseURL) }

// DriverOf names the store a database URL selects, or "" for none.
func DriverOf(u string) string {
	switch {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return "postgres"
	case strings.HasPrefix(u, "sqlite:"), strings.HasPrefix(u, "file:"):
		return "sqlite"
	}
	return ""
}

// SQLitePath returns the file path of a sqlite: or file: URL.
func SQLitePath(u string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "file:")
	p = strings.TrimPrefix(p, "//")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// Load parses the environment. It returns every problem found, joined, so an
// operator fixes them in one round.
func Load(getenv func(string) string) (*Config, error) {
	p := parser{getenv: getenv}
	c := &Config{}
	c.Env = p.enum("APP_ENV", firstSet(getenv, "APP_ENV", "NODE_ENV"), "development", "development", "test", "production")
	c.Host = p.str("HOST", "0.0.0.0")
	c.Port = p.intRange("PORT", 3000, 1, 65535)
	c.LogLevel = p.enum("LOG_LEVEL", getenv("LOG_LEVEL"), "info", "debug", "info", "warn", "error")

	c.DatabaseURL = strings.TrimSpace(getenv("DATABASE_URL"))
	if c.DatabaseURL == "" {
		if c.Env == "production" {
			p.fail("DATABASE_URL", "is required in production")
		} else {
			c.DatabaseURL = "sqlite:./data/marketing.db"
		}
	}
	if c.DatabaseURL != "" && DriverOf(c.DatabaseURL) == "" {
		p.fail("DATABASE_URL", "must start with postgres://, postgresql://, sqlite: or file:")
	}
	if c.DatabaseURL != "" && DriverOf(c.DatabaseURL) == "sqlite" && SQLitePath(c.DatabaseURL) == "" {
		p.fail("DATABASE_URL", "sqlite: needs a file path, as in sqlite:./data/marketing.db")
	}
	c.DirectDatabaseURL = strings.TrimSpace(getenv("DIRECT_DATABASE_URL"))
	if c.DirectDatabaseURL != "" && DriverOf(c.DirectDatabaseURL) != "postgres" {
		p.fail("DIRECT_DATABASE_URL", "must be a postgres:// or postgresql:// URL")
	}

	c.IPHashPepper = getenv("IP_HASH_PEPPER")
	if c.IPHashPepper == "" && c.Env == "production" {
		p.fail("IP_HASH_PEPPER", "is required in production (at least 32 characters)")
	} else if c.IPHashPepper != "" && len(c.IPHashPepper) < 32 {
		p.fail("IP_HASH_PEPPER", "must be at least 32 characters")
	}
	c.AdminAPIKey = getenv("ADMIN_API_KEY")
	if c.AdminAPIKey != "" && len(c.AdminAPIKey) < 24 {
		p.fail("ADMIN_API_KEY", "must be at least 24 characters")
	}

	c.CORSAllowedOrigins = p.origins("CORS_ALLOWED_ORIGINS")
	if v := strings.TrimSpace(getenv("PUBLIC_URL")); v != "" {
		if o, ok := NormalizeOrigin(v); ok {
			c.PublicURL = o
		} else {
			p.fail("PUBLIC_URL", "must be the backend's public origin such as https://marketing.example.com, without a path (got "+strconv.Quote(v)+")")
		}
	}
	c.PrivacyContactEmail = p.str("PRIVACY_CONTACT_EMAIL", "privacy@altcontext.local")
	if a, err := mail.ParseAddress(c.PrivacyContactEmail); err != nil || a.Address != c.PrivacyContactEmail {
		p.fail("PRIVACY_CONTACT_EMAIL", "must be an email address")
	}
	defProxy := "none"
	if getenv("FLY_APP_NAME") != "" {
		defProxy = "fly"
	}
	c.TrustedProxy = p.enum("TRUSTED_PROXY", getenv("TRUSTED_PROXY"), defProxy, "none", "fly", "cloudflare")

	c.RateLimitMax = p.intRange("RATE_LIMIT_MAX", 120, 1, 1_000_000)
	c.RateLimitEventsPerMinute = p.intRange("RATE_LIMIT_EVENTS_PER_MINUTE", 180, 0, 10_000_000)
	c.RateLimitLeadsPerMinute = p.intRange("RATE_LIMIT_LEADS_PER_MINUTE", 24, 0, 10_000_000)

	c.SessionInactivity = time.Duration(p.intRange("SESSION_INACTIVITY_MINUTES", 30, 1, 1440)) * time.Minute
	c.EnableHeuristicLinking = p.boolean("ENABLE_HEURISTIC_LINKING", true)
	c.HeuristicLinkWindow = time.Duration(p.intRange("HEURISTIC_LINK_WINDOW_MINUTES", 15, 1, 1440)) * time.Minute

	tz := p.str("REPORT_TIMEZONE", "UTC")
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		p.fail("REPORT_TIMEZONE", "must be an IANA time zone such as UTC or America/Toronto")
		loc = time.UTC
	}
	c.ReportTimezone = loc
	c.RollupBatchDays = p.intRange("ROLLUP_BATCH_DAYS", 7, 1, 365)
	c.RollupDefaultPropertyID = p.str("ROLLUP_DEFAULT_PROPERTY_ID", "default")
	if n := len(c.RollupDefaultPropertyID); n < 1 || n > 128 {
		p.fail("ROLLUP_DEFAULT_PROPERTY_ID", "must be 1..128 characters")
	}
	c.MetricsSummaryCacheTTL = time.Duration(p.intRange("METRICS_SUMMARY_CACHE_TTL_MS", 15000, 0, 86_400_000)) * time.Millisecond
	c.MetricsUseMaterializedView = p.boolean("METRICS_USE_MATERIALIZED_VIEW", false)
	c.MetricsMaterializedViewName = p.str("METRICS_MATERIALIZED_VIEW_NAME", "metrics_daily_summary_mv")
	if !identifier(c.MetricsMaterializedViewName) {
		p.fail("METRICS_MATERIALIZED_VIEW_NAME", "must be 1..63 characters of letters, digits and _, not starting with a digit")
	}
	c.RetentionEventDays = p.intRange("RETENTION_EVENT_DAYS", 90, 1, 36500)
	c.RetentionRollupDays = p.intRange("RETENTION_ROLLUP_DAYS", 730, 1, 36500)
	c.RetentionRejectionDays = p.intRange("RETENTION_REJECTION_DAYS", 90, 1, 36500)
	c.SchedulerEnabled = p.boolean("SCHEDULER_ENABLED", true)
	c.HonorGPC = p.boolean("HONOR_GPC", true)
	c.MetricsAddr = p.strAllowEmpty("METRICS_ADDR", ":9091")
	c.CountryDBPath = p.str("COUNTRY_DB_PATH", "")
	return c, errors.Join(p.errs...)
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func identifier(s string) bool {
	if len(s) < 1 || len(s) > 63 || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, rule string) {
	p.errs = append(p.errs, fmt.Errorf("%s %s", name, rule))
}

func (p *parser) str(name, def string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	return v
}

// strAllowEmpty distinguishes unset (default) from set to the empty string.
func (p *parser) strAllowEmpty(name, def string) string {
	if v, ok := lookup(p.getenv, name); ok {
		return strings.TrimSpace(v)
	}
	return def
}

// lookup cannot tell "set to empty" from "unset" through a getenv function,
// so a single space or the literal "off" also mean empty for such variables.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	if v == "" {
		return "", false
	}
	if t := strings.TrimSpace(v); t == "" || strings.EqualFold(t, "off") {
		return "", true
	}
	return v, true
}

func (p *parser) enum(name, raw, def string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(raw))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "must be one of "+strings.Join(allowed, ", ")+" (got "+strconv.Quote(raw)+")")
	return def
}

func (p *parser) intRange(name string, def, lo, hi int) int {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		p.fail(name, fmt.Sprintf("must be a whole number from %d to %d (got %q)", lo, hi, raw))
		return def
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	b, ok := ParseBool(raw)
	if !ok {
		p.fail(name, "must be one of 1, true, yes, on, 0, false, no, off (got "+strconv.Quote(raw)+")")
		return def
	}
	return b
}

// ParseBool accepts 1/true/yes/on and 0/false/no/off in any case.
func ParseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off":
		return false, true
	}
	return false, false
}

func (p *parser) origins(name string) []string {
	var out []string
	for _, part := range strings.Split(p.getenv(name), ",") {
		o := strings.TrimSpace(part)
		if o == "" {
			continue
		}
		n, ok := NormalizeOrigin(o)
		if !ok {
			p.fail(name, "must be a comma-separated list of origins such as https://www.example.com (got "+strconv.Quote(o)+")")
			continue
		}
		out = append(out, n)
	}
	return out
}

// NormalizeOrigin returns an origin as a browser sends it: scheme://host in
// lower case, without the scheme's default port (:443, :80) or a trailing
// slash. ok is false for anything that is not an http(s) origin.
func NormalizeOrigin(s string) (origin string, ok bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Host), ":")
	if port := u.Port(); u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80" {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return u.Scheme + "://" + host, true
}

// Masked renders the configuration as name=value lines, secrets masked, in
// the order of SPEC §2.
func (c *Config) Masked() []string {
	mask := func(s string) string {
		if s == "" {
			return "(unset)"
		}
		return "****** (" + strconv.Itoa(len(s)) + " characters)"
	}
	dbmask := func(s string) string {
		if s == "" {
			return "(unset)"
		}
		u, err := url.Parse(s)
		if err != nil || u.User == nil {
			return s
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	pepper := mask(c.IPHashPepper)
	if c.IPHashPepper == "" && !c.Production() {
		pepper = "(generated once and kept in the settings table)"
	}
	admin := mask(c.AdminAPIKey)
	if c.AdminAPIKey == "" {
		if c.Production() {
			admin = "(unset: admin routes answer 503 admin_auth_not_configured)"
		} else {
			admin = "(generated and printed at start-up)"
		}
	}
	b := strconv.FormatBool
	i := strconv.Itoa
	return []string{
		"APP_ENV=" + c.Env,
		"HOST=" + c.Host,
		"PORT=" + i(c.Port),
		"LOG_LEVEL=" + c.LogLevel,
		"DATABASE_URL=" + dbmask(c.DatabaseURL),
		"DIRECT_DATABASE_URL=" + dbmask(c.DirectDatabaseURL),
		"IP_HASH_PEPPER=" + pepper,
		"ADMIN_API_KEY=" + admin,
		"CORS_ALLOWED_ORIGINS=" + strings.Join(c.CORSAllowedOrigins, ","),
		"PUBLIC_URL=" + c.PublicURL,
		"PRIVACY_CONTACT_EMAIL=" + c.PrivacyContactEmail,
		"TRUSTED_PROXY=" + c.TrustedProxy,
		"RATE_LIMIT_MAX=" + i(c.RateLimitMax),
		"RATE_LIMIT_EVENTS_PER_MINUTE=" + i(c.RateLimitEventsPerMinute),
		"RATE_LIMIT_LEADS_PER_MINUTE=" + i(c.RateLimitLeadsPerMinute),
		"SESSION_INACTIVITY_MINUTES=" + i(int(c.SessionInactivity/time.Minute)),
		"ENABLE_HEURISTIC_LINKING=" + b(c.EnableHeuristicLinking),
		"HEURISTIC_LINK_WINDOW_MINUTES=" + i(int(c.HeuristicLinkWindow/time.Minute)),
		"REPORT_TIMEZONE=" + c.ReportTimezone.String(),
		"ROLLUP_BATCH_DAYS=" + i(c.RollupBatchDays),
		"ROLLUP_DEFAULT_PROPERTY_ID=" + c.RollupDefaultPropertyID,
		"METRICS_SUMMARY_CACHE_TTL_MS=" + i(int(c.MetricsSummaryCacheTTL/time.Millisecond)),
		"METRICS_USE_MATERIALIZED_VIEW=" + b(c.MetricsUseMaterializedView),
		"METRICS_MATERIALIZED_VIEW_NAME=" + c.MetricsMaterializedViewName,
		"RETENTION_EVENT_DAYS=" + i(c.RetentionEventDays),
		"RETENTION_ROLLUP_DAYS=" + i(c.RetentionRollupDays),
		"RETENTION_REJECTION_DAYS=" + i(c.RetentionRejectionDays),
		"SCHEDULER_ENABLED=" + b(c.SchedulerEnabled),
		"HONOR_GPC=" + b(c.HonorGPC),
		"METRICS_ADDR=" + c.MetricsAddr,
		"COUNTRY_DB_PATH=" + c.CountryDBPath,
	}
}
