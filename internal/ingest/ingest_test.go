package ingest

import (
	"testing"

	"github.com/altcontext/marketing"
)

func TestTrafficSource(t *testing.T) {
	cases := []struct {
		name string
		utm  marketing.UTM
		ref  string
		site string
		want string
	}{
		{"direct", marketing.UTM{}, "", "example.com", "direct"},
		{"internal", marketing.UTM{}, "example.com", "example.com", "internal"},
		{"dropbox is not x.com", marketing.UTM{}, "dropbox.com", "", "referral"},
		{"microsoft is not t.co", marketing.UTM{}, "microsoft.com", "", "referral"},
		{"x.com", marketing.UTM{}, "x.com", "", "social"},
		{"subdomain of linkedin", marketing.UTM{}, "ca.linkedin.com", "", "social"},
		{"google ccTLD", marketing.UTM{}, "google.co.uk", "", "organic_search"},
		{"google lookalike", marketing.UTM{}, "google.evil.com", "", "referral"},
		{"googleusercontent is not google", marketing.UTM{}, "googleusercontent.com", "", "referral"},
		{"webmail", marketing.UTM{}, "mail.google.com", "", "email"},
		{"cpc", marketing.UTM{Source: "google", Medium: "cpc"}, "", "", "paid_search"},
		{"email medium", marketing.UTM{Source: "nl", Medium: "email"}, "", "", "email"},
		{"source only", marketing.UTM{Source: "newsletter"}, "google.com", "", "campaign"},
		{"source is a search engine", marketing.UTM{Source: "bing"}, "", "", "organic_search"},
		{"source is a social domain", marketing.UTM{Source: "facebook.com"}, "", "", "social"},
		{"medium unknown", marketing.UTM{Medium: "partner"}, "", "", "campaign"},
	}
	for _, c := range cases {
		if got := TrafficSource(c.utm, c.ref, c.site); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{"WWW.Example.COM:8443": "example.com", "example.com.": "example.com", "": ""} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	if HostOf("not a url") != "" || HostOf("https://www.A.test/x?y") != "a.test" {
		t.Error("HostOf")
	}
}

func TestAgents(t *testing.T) {
	a := NewAgents(2)
	cases := map[string]Agent{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1": {Device: "mobile"},
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36":                         {Device: "desktop"},
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36":                           {Bot: true, Device: "bot"},
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)":                                                                 {Bot: true, Device: "bot"},
		"": {Device: "unknown"},
	}
	for ua, want := range cases {
		for range 2 { // the second answer comes from the cache
			got := a.Parse(ua)
			if got.Bot != want.Bot || got.Device != want.Device {
				t.Errorf("%q: %+v, want bot=%v device=%s", ua, got, want.Bot, want.Device)
			}
		}
	}
	if len(a.cache) > 2 {
		t.Errorf("cache holds %d entries, bound is 2", len(a.cache))
	}
}
