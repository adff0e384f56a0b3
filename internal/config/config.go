// Package config reads the process environment into a validated Config.
// Every variable of SPEC §2 is parsed here, once, at start-up; a bad value is
// an error naming the variable and the rule.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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
	// CountryAttribution is the country database's credit line, shown on
	// the dashboard under Countries when CountryDatabase is set.
	CountryAttribution string
	// CountryDatabase lists the CSV files of the IP→country database
	// (GEOIP_COUNTRY_CSV); empty: no country is resolved.
	CountryDatabase []string
	MetricsAddr     string

	// Lead delivery (docs in the README: "Lead delivery").
	SMTPURL             string // smtp://user:pass@host:587 (STARTTLS), smtps://…:465, or smtp://host:25?tls=none
	MailFrom            string
	SiteName            string
	NotifyEmail         string // the team's address for new-lead notifications; empty: none
	DoubleOptIn         bool   // every capture asking for express consent needs confirmation
	WebhookAllowPrivate bool   // webhooks may reach loopback, private and link-local addresses
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
	if DriverOf(c.DatabaseURL) == "postgres" {
		// Parsed exactly as the store will parse it (internal/postgres
		// opens a pgxpool), so config check and serve agree.
		if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
			p.fail("DATABASE_URL", "is not a valid PostgreSQL URL: "+pgProblem(err))
		}
	}
	c.DirectDatabaseURL = strings.TrimSpace(getenv("DIRECT_DATABASE_URL"))
	if c.DirectDatabaseURL != "" && DriverOf(c.DirectDatabaseURL) != "postgres" {
		p.fail("DIRECT_DATABASE_URL", "must be a postgres:// or postgresql:// URL")
	} else if c.DirectDatabaseURL != "" {
		// migrate connects with pgx.Connect on this one.
		if _, err := pgx.ParseConfig(c.DirectDatabaseURL); err != nil {
			p.fail("DIRECT_DATABASE_URL", "is not a valid PostgreSQL URL: "+pgProblem(err))
		}
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

	c.RateLimitMax = p.intRange("RATE_LIMIT_MAX", 120, 1, 100_000_000)
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
	if v := p.str("GEOIP_COUNTRY_CSV", ""); v != "" {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if st, err := os.Stat(f); err != nil || st.IsDir() {
				p.fail("GEOIP_COUNTRY_CSV", "must list readable CSV files, comma-separated ("+f+" is not one)")
				continue
			}
			c.CountryDatabase = append(c.CountryDatabase, f)
		}
		// ip-location-db's geo-whois-asn-country files, the ones README
		// suggests, are under CC BY 4.0 and ask for this credit.
		c.CountryAttribution = p.str("GEOIP_COUNTRY_ATTRIBUTION", "Country data © Number Resource Organization (NRO), CC BY 4.0, via ip-location-db")
	}
	c.MetricsAddr = p.metricsAddr("METRICS_ADDR", c.Production())

	c.SMTPURL = strings.TrimSpace(getenv("SMTP_URL"))
	if c.SMTPURL != "" && !validSMTPURL(c.SMTPURL) {
		p.fail("SMTP_URL", "must be smtp://[user:password@]host[:port] (STARTTLS), smtps://… (implicit TLS) or smtp://host:port?tls=none")
	}
	c.MailFrom = p.str("MAIL_FROM", c.PrivacyContactEmail)
	if a, err := mail.ParseAddress(c.MailFrom); err != nil || a.Address == "" {
		p.fail("MAIL_FROM", "must be an address such as news@example.com or \"Example <news@example.com>\"")
	}
	c.SiteName = p.str("SITE_NAME", "our website")
	if len(c.SiteName) > 100 || strings.ContainsAny(c.SiteName, "\r\n") {
		p.fail("SITE_NAME", "must be one line of at most 100 characters")
	}
	c.NotifyEmail = strings.TrimSpace(getenv("NOTIFY_EMAIL"))
	if a, err := mail.ParseAddress(c.NotifyEmail); c.NotifyEmail != "" && (err != nil || a.Address != c.NotifyEmail) {
		p.fail("NOTIFY_EMAIL", "must be an email address")
	}
	c.DoubleOptIn = p.boolean("DOUBLE_OPT_IN", false)
	c.WebhookAllowPrivate = p.boolean("WEBHOOK_ALLOW_PRIVATE", false)
	return c, errors.Join(p.errs...)
}

func validSMTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return false
	}
	switch u.Query().Get("tls") {
	case "", "starttls":
		return true
	case "none":
		return u.Scheme == "smtp"
	}
	return false
}

// pgProblem is what pgx found wrong with a URL, without the URL itself:
// pgx masks a password it can find, but not in a URL it cannot parse.
func pgProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	msg := err.Error()
	// pgx says "cannot parse `URL`: problem"; the URL is in the variable
	// the message names already.
	if rest, ok := strings.CutPrefix(msg, "cannot parse `"); ok {
		if i := strings.LastIndex(rest, "`: "); i >= 0 {
			msg = rest[i+3:]
		}
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.ConnString != "" {
		msg = strings.ReplaceAll(msg, pe.ConnString, "(the URL)")
	}
	return msg
}

// DefaultMetricsAddr is the Prometheus listener in production (fly.toml's
// [metrics] scrapes it). Outside production the listener is off unless
// METRICS_ADDR asks for it, so two local instances never collide.
const DefaultMetricsAddr = ":9091"

// metricsAddr reads METRICS_ADDR: unset means DefaultMetricsAddr in
// production and off elsewhere; "off" is off; a bare port means
// 127.0.0.1:PORT outside production and :PORT (every interface, for the
// scraper) in production; anything else must be host:port.
func (p *parser) metricsAddr(name string, production bool) string {
	v, set := lookup(p.getenv, name)
	v = strings.TrimSpace(v)
	switch {
	case !set && production:
		return DefaultMetricsAddr
	case v == "":
		return ""
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 65535 {
			p.fail(name, "must be a port from 1 to 65535, host:port, or off (got "+strconv.Quote(v)+")")
			return ""
		}
		if production {
			return ":" + v
		}
		return net.JoinHostPort("127.0.0.1", v)
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		p.fail(name, "must be a port, host:port (as in 127.0.0.1:9091), or off (got "+strconv.Quote(v)+")")
		return ""
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, "must be a port, host:port (as in 127.0.0.1:9091), or off (got "+strconv.Quote(v)+")")
		return ""
	}
	return v
}

// Warnings are settings that start but leave part of the service unusable
// in production: serve logs each at WARN and config check prints them.
func (c *Config) Warnings() []string {
	w := c.mailWarnings()
	if !c.Production() {
		return w
	}
	if len(c.CORSAllowedOrigins) == 0 {
		w = append(w, "CORS_ALLOWED_ORIGINS is empty in production: every browser origin is refused (403 origin_not_allowed), so the site's tracker and lead forms store nothing")
	}
	if c.AdminAPIKey == "" {
		w = append(w, "ADMIN_API_KEY is unset in production: every admin route (leads, erasure, export, metrics summary) answers 503 admin_auth_not_configured")
	}
	if c.PublicURL == "" {
		w = append(w, "PUBLIC_URL is unset in production: unsubscribe links are built from each request's Host header (https assumed); set it to the backend's public origin")
	}
	return w

}

// mailWarnings are what works only partly without mail, or with private
// webhook targets, in every environment.
func (c *Config) mailWarnings() []string {
	var w []string
	if c.SMTPURL == "" {
		if c.DoubleOptIn {
			w = append(w, "DOUBLE_OPT_IN is on but SMTP_URL is unset: confirmation emails are queued and not sent until SMTP_URL is set")
		}
		if c.NotifyEmail != "" {
			w = append(w, "NOTIFY_EMAIL is set but SMTP_URL is unset: notifications are queued and not sent until SMTP_URL is set")
		}
		if !c.DoubleOptIn && c.NotifyEmail == "" {
			w = append(w, "SMTP_URL is unset: double opt-in (per form) and notification email cannot be sent; their messages wait in the outbox")
		}
	}
	if c.PublicURL == "" && (c.SMTPURL != "" || c.DoubleOptIn) {
		w = append(w, "PUBLIC_URL is unset: links in emails point to http://localhost:"+strconv.Itoa(c.Port))
	}
	if c.WebhookAllowPrivate {
		w = append(w, "WEBHOOK_ALLOW_PRIVATE is on: webhooks may reach loopback, private and link-local addresses")
	}
	return w
}

// LinkOrigin is the origin of links in emails: PUBLIC_URL, else this
// process on localhost.
func (c *Config) LinkOrigin() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	return "http://localhost:" + strconv.Itoa(c.Port)
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

// lookup cannot tell "set to empty" from "unset" through a getenv function,
// so a single space or the literal "off" mean "set, and off" for such
// variables.
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
		return MaskURL(s)
	}
	smtpmask := func(s string) string {
		if s == "" {
			return "(unset: email is queued, not sent)"
		}
		return dbmask(s)
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
	metrics := c.MetricsAddr
	if metrics == "" && c.Production() {
		metrics = "off"
	} else if metrics == "" {
		metrics = "off (METRICS_ADDR=9091 listens on 127.0.0.1:9091)"
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
		"GEOIP_COUNTRY_CSV=" + strings.Join(c.CountryDatabase, ","),
		"SMTP_URL=" + smtpmask(c.SMTPURL),
		"MAIL_FROM=" + c.MailFrom,
		"SITE_NAME=" + c.SiteName,
		"NOTIFY_EMAIL=" + c.NotifyEmail,
		"DOUBLE_OPT_IN=" + b(c.DoubleOptIn),
		"WEBHOOK_ALLOW_PRIVATE=" + b(c.WebhookAllowPrivate),
		"METRICS_ADDR=" + metrics,
	}
}

// MaskURL renders a database URL for display: a password in the userinfo
// and any secret-looking query parameter (password=, sslpassword=, …)
// become xxxxx, and a URL that does not parse is not shown at all (its
// secret could sit anywhere in it).
func MaskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(not shown: the URL does not parse)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "(not shown: the URL does not parse)"
		}
		for k := range q {
			if secretParam(k) {
				for i := range q[k] {
					q[k][i] = "xxxxx"
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	if strings.Contains(u.Opaque, "@") {
		return "(not shown: the URL has credentials in an unexpected place)"
	}
	return u.String()
}

func secretParam(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"pass", "pwd", "secret", "token", "key", "auth"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
