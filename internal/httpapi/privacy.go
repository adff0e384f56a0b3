package httpapi

import "net/http"

// handlePrivacy is GET /v1/privacy: who to contact, what is collected, how
// long it is kept (SPEC §3.8). Public, so a site can link or embed it.
func (s *server) handlePrivacy() http.Handler {
	type retention struct {
		RawEventsDays      int `json:"rawEventsDays"`
		RollupsDays        int `json:"rollupsDays"`
		RejectionCounts    int `json:"rejectionCountersDays"`
		CookielessSaltHrs  int `json:"cookielessSaltHours"`
		ImpliedConsentMths int `json:"impliedConsentMonths"`
	}
	type answer struct {
		OK         bool      `json:"ok"`
		Contact    string    `json:"privacyContact"`
		Collected  []string  `json:"collected"`
		NeverKept  []string  `json:"neverStored"`
		Retention  retention `json:"retention"`
		Rights     []string  `json:"rights"`
		HonoursGPC bool      `json:"honoursGlobalPrivacyControl"`
	}
	c := s.Config
	a := answer{
		OK: true, Contact: c.PrivacyContactEmail, HonoursGPC: c.HonorGPC,
		Collected: []string{
			"page views and interactions: path, referrer host, campaign (UTM) parameters, device type, browser and OS family, web vitals",
			"a pseudonymous visitor id: a random id kept in the browser only with consent, otherwise a hash that changes every day",
			"keyed hashes (HMAC-SHA256) of the IP address and user agent",
			"for sign-ups: the email address, an optional name, the form's fields, and the consent given with the exact wording shown",
		},
		NeverKept: []string{"raw IP addresses", "raw user agents", "cookies"},
		Retention: retention{RawEventsDays: c.RetentionEventDays, RollupsDays: c.RetentionRollupDays,
			RejectionCounts: c.RetentionRejectionDays, CookielessSaltHrs: 48, ImpliedConsentMths: 6},
		Rights: []string{
			"unsubscribe at any time with the link in every email (effective at once)",
			"access: ask the privacy contact for a copy of everything held about your address",
			"erasure: ask the privacy contact; the address is deleted and only a keyed hash is kept so it is never re-added without your consent",
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		writeJSON(w, http.StatusOK, a)
	})
}
