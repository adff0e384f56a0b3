package marketing

import (
	"regexp"
	"slices"
	"strings"
)

// Channels of the default channel grouping (visit:channel), GA4's names.
// docs/metrics.md lists the rules and how they differ from traffic_source.
const (
	ChannelDirect        = "Direct"
	ChannelCrossNetwork  = "Cross-network"
	ChannelPaidShopping  = "Paid Shopping"
	ChannelPaidSearch    = "Paid Search"
	ChannelPaidSocial    = "Paid Social"
	ChannelPaidVideo     = "Paid Video"
	ChannelDisplay       = "Display"
	ChannelPaidOther     = "Paid Other"
	ChannelOrganicShop   = "Organic Shopping"
	ChannelOrganicSocial = "Organic Social"
	ChannelOrganicVideo  = "Organic Video"
	ChannelOrganicSearch = "Organic Search"
	ChannelReferral      = "Referral"
	ChannelEmail         = "Email"
	ChannelAffiliates    = "Affiliates"
	ChannelAudio         = "Audio"
	ChannelSMS           = "SMS"
	ChannelMobilePush    = "Mobile Push Notifications"
	ChannelUnassigned    = "Unassigned"
)

// The source lists of the channel grouping, in one place. A source (a
// utm_source, or else the referrer's host) belongs to a list when it is one
// of the names, or when any label of its host but the last is one
// ("l.facebook.com", "news.ycombinator.com", "google.co.uk"), or when its
// host is one of the listed hosts or under one.
var (
	channelSearch   = []string{"google", "bing", "duckduckgo", "yahoo", "baidu", "yandex", "ecosia", "startpage", "brave", "qwant", "kagi", "naver", "seznam", "perplexity", "ask", "sogou", "daum"}
	channelSocial   = []string{"facebook", "fb", "instagram", "ig", "linkedin", "lnkd", "twitter", "x", "reddit", "tiktok", "pinterest", "threads", "bsky", "bluesky", "mastodon", "ycombinator", "hackernews", "hn", "whatsapp", "telegram", "quora", "tumblr", "vk", "weibo", "discord", "snapchat"}
	channelSocialH  = []string{"t.co", "t.me", "pin.it", "lnkd.in"}
	channelVideo    = []string{"youtube", "vimeo", "twitch", "dailymotion", "wistia"}
	channelVideoH   = []string{"youtu.be"}
	channelShopping = []string{"amazon", "ebay", "etsy", "shopify", "walmart", "aliexpress"}
	// Webmail hosts: a referral from one is an email click (medium email).
	channelWebmail = []string{"mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com", "mail.yahoo.com", "mail.proton.me", "mail.aol.com", "mail.zoho.com", "fastmail.com", "app.fastmail.com"}

	paidMediumRe   = regexp.MustCompile(`^(.*cp.*|ppc|retargeting|paid.*)$`)
	shopCampaignRe = regexp.MustCompile(`^(.*(([^a-df-z]|^)shop|shopping).*)$`)
	displayMedia   = []string{"display", "banner", "expandable", "interstitial", "cpm"}
	socialMedia    = []string{"social", "social-network", "social-media", "sm", "social network", "social media"}
	referralMedia  = []string{"referral", "app", "link"}
	emailNames     = []string{"email", "e-mail", "e_mail", "e mail"}
)

func inChannelList(source string, names, hosts []string) bool {
	if source == "" {
		return false
	}
	if slices.Contains(names, source) {
		return true
	}
	for _, h := range hosts {
		if source == h || strings.HasSuffix(source, "."+h) {
			return true
		}
	}
	labels := strings.Split(source, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels[:len(labels)-1] {
		if slices.Contains(names, l) {
			return true
		}
	}
	return false
}

// Channel is the default channel grouping of a visit's entrance: GA4's
// rules in GA4's order, on the campaign's source and medium, or else on the
// referrer's host with medium "referral" ("email" from a webmail host), or
// else Direct. trafficSource "internal" (a referrer on the site itself)
// is Direct.
func Channel(referrerHost string, utm UTM, trafficSource string) string {
	source := strings.ToLower(strings.TrimSpace(utm.Source))
	medium := strings.ToLower(strings.TrimSpace(utm.Medium))
	campaign := strings.ToLower(strings.TrimSpace(utm.Campaign))
	if source == "" && medium == "" && campaign == "" {
		if referrerHost == "" || trafficSource == "internal" {
			return ChannelDirect
		}
		source, medium = strings.ToLower(referrerHost), "referral"
		if inChannelList(source, nil, channelWebmail) {
			source, medium = "email", "email" // not Organic Search for mail.google.com
		}
	}
	search := inChannelList(source, channelSearch, nil)
	social := inChannelList(source, channelSocial, channelSocialH)
	video := inChannelList(source, channelVideo, channelVideoH)
	shopping := inChannelList(source, channelShopping, nil) || shopCampaignRe.MatchString(campaign)
	paid := paidMediumRe.MatchString(medium)
	switch {
	case strings.Contains(campaign, "cross-network"):
		return ChannelCrossNetwork
	case shopping && paid:
		return ChannelPaidShopping
	case search && paid:
		return ChannelPaidSearch
	case social && paid:
		return ChannelPaidSocial
	case video && paid:
		return ChannelPaidVideo
	case slices.Contains(displayMedia, medium):
		return ChannelDisplay
	case paid:
		return ChannelPaidOther
	case shopping:
		return ChannelOrganicShop
	case social || slices.Contains(socialMedia, medium):
		return ChannelOrganicSocial
	case video || strings.Contains(medium, "video"):
		return ChannelOrganicVideo
	case search || medium == "organic":
		return ChannelOrganicSearch
	case slices.Contains(referralMedia, medium):
		return ChannelReferral
	case slices.Contains(emailNames, source) || slices.Contains(emailNames, medium):
		return ChannelEmail
	case medium == "affiliate":
		return ChannelAffiliates
	case medium == "audio":
		return ChannelAudio
	case source == "sms" || medium == "sms":
		return ChannelSMS
	case strings.HasSuffix(medium, "push") || strings.Contains(medium, "mobile") || strings.Contains(medium, "notification"):
		return ChannelMobilePush
	}
	return ChannelUnassigned
}
