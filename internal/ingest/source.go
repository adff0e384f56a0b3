package ingest

import (
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/altcontext/marketing"
)

// NormalizeHost lower-cases a host, drops a port and a leading "www.".
func NormalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(h, ".")
	return strings.TrimPrefix(h, "www.")
}

// HostOf returns the normalised host of an absolute URL, or "".
func HostOf(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return NormalizeHost(u.Host)
}

// Domains a referrer or utm_source is matched against, by whole labels:
// "x.com" matches x.com and any subdomain of it, never dropbox.com. A
// trailing ".*" matches the name under any short public suffix
// (google.com, google.co.uk, google.ca).
var (
	emailDomains  = []string{"mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com", "mail.yahoo.com", "mail.proton.me", "mail.aol.com", "mail.zoho.com", "fastmail.com", "app.fastmail.com"}
	searchDomains = []string{"google.*", "bing.com", "duckduckgo.com", "search.yahoo.com", "yahoo.*", "baidu.com", "yandex.*", "ecosia.org", "startpage.com", "search.brave.com", "qwant.com", "kagi.com", "naver.com", "seznam.cz", "perplexity.ai"}
	socialDomains = []string{"facebook.com", "fb.com", "m.facebook.com", "l.facebook.com", "instagram.com", "linkedin.com", "lnkd.in", "twitter.com", "x.com", "t.co", "reddit.com", "youtube.com", "youtu.be", "tiktok.com", "pinterest.com", "pin.it", "threads.net", "bsky.app", "mastodon.social", "news.ycombinator.com", "whatsapp.com", "t.me", "telegram.org", "quora.com", "tumblr.com", "vk.com", "weibo.com", "discord.com"}
	// Source names as campaigns spell them in utm_source.
	searchNames = []string{"google", "bing", "duckduckgo", "yahoo", "baidu", "yandex", "ecosia", "startpage", "brave", "qwant", "kagi", "naver"}
	socialNames = []string{"facebook", "fb", "instagram", "ig", "linkedin", "twitter", "x", "reddit", "youtube", "tiktok", "pinterest", "threads", "bluesky", "mastodon", "hackernews", "hn", "whatsapp", "telegram", "quora", "tumblr", "discord"}
	paidMedium  = regexp.MustCompile(`cpc|ppc|paid|display|retarget|cpm|banner`)
)

// MatchDomain reports whether host is domain or a subdomain of it, label by
// label.
func MatchDomain(host, domain string) bool {
	if base, ok := strings.CutSuffix(domain, ".*"); ok {
		labels := strings.Split(host, ".")
		for i, l := range labels {
			if l != base {
				continue
			}
			rest := labels[i+1:]
			if len(rest) == 0 || len(rest) > 2 {
				return false
			}
			for _, r := range rest {
				if len(r) > 3 || r == "" {
					return false
				}
			}
			return true
		}
		return false
	}
	return host == domain || strings.HasSuffix(host, "."+domain)
}

func matchAny(host string, domains []string) bool {
	for _, d := range domains {
		if MatchDomain(host, d) {
			return true
		}
	}
	return false
}

func nameOrDomain(source string, names, domains []string) bool {
	for _, n := range names {
		if source == n {
			return true
		}
	}
	return matchAny(NormalizeHost(source), domains)
}

// TrafficSource classifies an event: campaign parameters first, then the
// referrer's host. siteHost is the page's own host (normalised): a referrer
// on it is internal navigation.
func TrafficSource(utm marketing.UTM, referrerHost, siteHost string) string {
	medium := strings.ToLower(utm.Medium)
	source := strings.ToLower(utm.Source)
	if medium != "" {
		switch {
		case paidMedium.MatchString(medium):
			return "paid_search"
		case strings.Contains(medium, "email") || strings.Contains(medium, "newsletter"):
			return "email"
		case strings.Contains(medium, "social"):
			return "social"
		case strings.Contains(medium, "organic"):
			return "organic_search"
		}
	}
	if source != "" {
		switch {
		case nameOrDomain(source, searchNames, searchDomains):
			return "organic_search"
		case nameOrDomain(source, socialNames, socialDomains):
			return "social"
		}
		return "campaign"
	}
	if medium != "" {
		return "campaign"
	}
	switch {
	case referrerHost == "":
		return "direct"
	case siteHost != "" && referrerHost == siteHost:
		return "internal"
	case matchAny(referrerHost, emailDomains):
		return "email"
	case matchAny(referrerHost, searchDomains):
		return "organic_search"
	case matchAny(referrerHost, socialDomains):
		return "social"
	}
	return "referral"
}
