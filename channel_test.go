package marketing_test

import (
	"testing"

	"github.com/altcontext/marketing"
)

// TestChannel has a case per rule of the grouping, in its order, and the
// documented differences from traffic_source.
func TestChannel(t *testing.T) {
	cases := []struct {
		rule, referrer, source, medium, campaign, traffic string
		want                                              string
	}{
		{rule: "no campaign, no referrer", traffic: "direct", want: marketing.ChannelDirect},
		{rule: "referrer on the site itself", referrer: "example.com", traffic: "internal", want: marketing.ChannelDirect},
		{rule: "cross-network campaign", source: "google", medium: "cpc", campaign: "pmax cross-network", want: marketing.ChannelCrossNetwork},
		{rule: "paid shopping by source", source: "amazon", medium: "cpc", want: marketing.ChannelPaidShopping},
		{rule: "paid shopping by campaign", source: "newsletter", medium: "paid", campaign: "summer-shopping", want: marketing.ChannelPaidShopping},
		{rule: "paid search", source: "google", medium: "cpc", want: marketing.ChannelPaidSearch},
		{rule: "paid search, ppc", source: "bing.com", medium: "ppc", want: marketing.ChannelPaidSearch},
		{rule: "paid social", source: "facebook", medium: "paid_social", want: marketing.ChannelPaidSocial},
		{rule: "paid video", source: "youtube", medium: "cpv", want: marketing.ChannelPaidVideo},
		{rule: "display", source: "partner", medium: "banner", want: marketing.ChannelDisplay},
		{rule: "paid other", source: "partner", medium: "retargeting", want: marketing.ChannelPaidOther},
		{rule: "organic shopping", referrer: "etsy.com", want: marketing.ChannelOrganicShop},
		{rule: "organic social by referrer", referrer: "l.facebook.com", want: marketing.ChannelOrganicSocial},
		{rule: "organic social: Hacker News", referrer: "news.ycombinator.com", want: marketing.ChannelOrganicSocial},
		{rule: "organic social by medium", source: "partner", medium: "social", want: marketing.ChannelOrganicSocial},
		{rule: "organic video by referrer", referrer: "youtu.be", want: marketing.ChannelOrganicVideo},
		{rule: "organic video by medium", source: "partner", medium: "video", want: marketing.ChannelOrganicVideo},
		{rule: "organic search by referrer", referrer: "google.co.uk", want: marketing.ChannelOrganicSearch},
		{rule: "organic search by medium", source: "partner", medium: "organic", want: marketing.ChannelOrganicSearch},
		{rule: "referral", referrer: "blog.example.org", want: marketing.ChannelReferral},
		{rule: "referral by medium", source: "partner", medium: "link", want: marketing.ChannelReferral},
		{rule: "email by medium", source: "newsletter", medium: "email", want: marketing.ChannelEmail},
		{rule: "email by source", source: "e-mail", want: marketing.ChannelEmail},
		{rule: "email from webmail", referrer: "mail.google.com", want: marketing.ChannelEmail},
		{rule: "affiliates", source: "partner", medium: "affiliate", want: marketing.ChannelAffiliates},
		{rule: "audio", source: "spotify", medium: "audio", want: marketing.ChannelAudio},
		{rule: "sms", source: "sms", want: marketing.ChannelSMS},
		{rule: "mobile push", source: "app", medium: "web-push", want: marketing.ChannelMobilePush},
		{rule: "unassigned", source: "partner", medium: "newsletter", want: marketing.ChannelUnassigned},
		{rule: "case-insensitive", source: "Google", medium: "CPC", want: marketing.ChannelPaidSearch},
		{rule: "labels, not substrings", referrer: "notgoogle.com", want: marketing.ChannelReferral},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			got := marketing.Channel(c.referrer, marketing.UTM{Source: c.source, Medium: c.medium, Campaign: c.campaign}, c.traffic)
			if got != c.want {
				t.Fatalf("Channel(%q, %q/%q/%q, %q) = %q, want %q", c.referrer, c.source, c.medium, c.campaign, c.traffic, got, c.want)
			}
		})
	}
}

// TestDeriveSessionsChannel: a visit's channel is its entrance's.
func TestDeriveSessionsChannel(t *testing.T) {
	ss := marketing.DeriveSessions([]marketing.SessionEvent{
		{ID: "1", VisitorID: "v", PropertyID: "p", EventType: "page_view", ReferrerHost: "google.com", TrafficSource: "organic_search"},
		{ID: "2", VisitorID: "v", PropertyID: "p", EventType: "page_view", ReferrerHost: "example.com", TrafficSource: "internal"},
	}, marketing.SessionRules{Inactivity: 30 * 60e9})
	if len(ss) != 1 || ss[0].Channel != marketing.ChannelOrganicSearch {
		t.Fatalf("sessions %+v", ss)
	}
}
