package marketing

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Site is a registered property: the id its events, sessions, leads and
// rollups carry, the domains whose pages send them, the browser origins
// allowed to write to the API for it, and the zone its reporting days are
// counted in. With no site registered, properties stay free-form strings
// derived from each request's Origin (zero configuration).
type Site struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Domains  []string  `json:"domains"`  // normalised hosts, without "www."
	Origins  []string  `json:"origins"`  // exact origins CORS answers
	TimeZone string    `json:"timeZone"` // IANA zone; "" means REPORT_TIMEZONE
	Created  time.Time `json:"createdAt"`
	Updated  time.Time `json:"updatedAt"`
}

// SiteStore holds the registered sites.
type SiteStore interface {
	// CreateSite stores a new site: ECONFLICT when its id or one of its
	// domains is taken.
	CreateSite(ctx context.Context, s *Site) error
	// UpdateSite replaces a site's name, domains, origins and zone
	// (ENOTFOUND, ECONFLICT on a domain another site has).
	UpdateSite(ctx context.Context, s *Site) error
	// DeleteSite removes a site's registration (ENOTFOUND); its data stays
	// under its id.
	DeleteSite(ctx context.Context, id string) error
	// Site returns one site (ENOTFOUND).
	Site(ctx context.Context, id string) (*Site, error)
	// Sites lists every site, by id.
	Sites(ctx context.Context) ([]Site, error)
}

var siteIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$`)

// NormalizeDomain reduces a host, or a URL, to the form events' properties
// have always used: lower case, no port, no trailing dot, no "www.". It
// returns "" for anything that is not a plausible host name.
func NormalizeDomain(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		s = u.Hostname()
	} else if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.Contains(s[:i], ":") {
		s = s[:i]
	}
	s = strings.TrimPrefix(strings.TrimSuffix(s, "."), "www.")
	if s == "" || len(s) > 253 {
		return ""
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return ""
		}
		for _, c := range label {
			if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
				return ""
			}
		}
	}
	return s
}

// NormalizeSiteOrigin is an origin as browsers send it: scheme and host,
// no default port, no path (false when s is not one).
func NormalizeSiteOrigin(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80" {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return u.Scheme + "://" + host, true
}

// Normalize validates a site and puts it in canonical form: domains
// normalised and deduplicated, the id defaulting to the first domain (the
// property id its events already carried before it was registered), the
// name to the id, and the origins to https:// and https://www. of each
// domain when none are given.
func (s *Site) Normalize() error {
	is := NewIssues()
	var domains []string
	for _, d := range s.Domains {
		n := NormalizeDomain(d)
		if n == "" {
			is.Add("domains", "must be host names such as example.com")
			continue
		}
		if !slices.Contains(domains, n) {
			domains = append(domains, n)
		}
	}
	if len(domains) == 0 && len(s.Domains) == 0 {
		is.Add("domains", "at least one domain is required")
	}
	s.Domains = domains
	if s.ID == "" && len(domains) > 0 {
		s.ID = domains[0]
	}
	if !siteIDPattern.MatchString(s.ID) {
		is.Add("id", "must be 1..128 characters of a-z, 0-9, '.', '_' and '-'")
	}
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" {
		s.Name = s.ID
	}
	if len([]rune(s.Name)) > 200 || !Storable(s.Name) {
		is.Add("name", "must be at most 200 characters without NUL")
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "Local" {
			is.Add("timeZone", "must be an IANA time zone such as America/Toronto")
		}
	}
	var origins []string
	for _, o := range s.Origins {
		n, ok := NormalizeSiteOrigin(o)
		if !ok {
			is.Add("origins", "must be origins such as https://www.example.com")
			continue
		}
		if !slices.Contains(origins, n) {
			origins = append(origins, n)
		}
	}
	if len(s.Origins) == 0 {
		for _, d := range domains {
			origins = append(origins, "https://"+d, "https://www."+d)
		}
	}
	s.Origins = origins
	return is.Err()
}
