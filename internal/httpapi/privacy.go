package httpapi

import "net/http"

// handlePrivacy is GET /v1/privacy: who to contact, what is collected, how
// long it is kept (SPEC §3.8). Public, so a site can link or embed it.
func (s *server) handlePrivacy() http.Handler {
	type retention struct {
		RawEventsDays int `json:"rawEventsDays"`
		RollupsDays   int `json:"rollupsDays"`
		// Rollups hold sketches of visitor ids only while the raw events
		// last; past them, counts only. At most: a day's sketches go at the
		// first daily purge after its raw events (docs/metrics.md).
		VisitorSketchDays  int `json:"rollupVisitorSketchesDays"`
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
		// SignUpAnswer says what the public answer to a sign-up contains:
		// nothing about anyone's history.
		SignUpAnswer string `json:"signUpAnswer"`
		// ErasureKeeps says what stays after an erasure, and why.
		ErasureKeeps []string `json:"erasureKeeps"`
	}
	c := s.Config
	a := answer{
		OK: true, Contact: c.PrivacyContactEmail, HonoursGPC: c.HonorGPC,
		Collected: []string{
			"page views and interactions: path, referrer host, campaign (UTM) parameters, device type, browser and OS family, web vitals",
			"a pseudonymous visitor id: a random id kept in the browser only with consent, otherwise a hash that changes every day",
			"a keyed hash (HMAC-SHA256) of the IP address and user agent together",
			"daily counts per page, source, campaign, device, browser, OS and country, kept as rollups; past the raw events' retention they hold no visitor-level data",
			"for sign-ups: the email address, an optional name, the form's fields, and the consent given with the exact wording shown",
		},
		NeverKept: []string{"raw IP addresses", "raw user agents", "cookies", "page query strings (only the path is kept)"},
		SignUpAnswer: "a random id of this submission, the caller's own visitor and session ids, and 0 links: " +
			"the same for a new, a known or an erased address, so it tells nothing about whether an address is known or since when",
		ErasureKeeps: []string{
			"the consent ledger, under a keyed hash of the address: status, time, the hash of the wording shown and how it was given (proof of consent and its withdrawal)",
			"a suppression entry (the same keyed hash), so the address is never re-added without a confirmed opt-in",
			"nothing else: the lead, its links to visitors, its submissions, its sign-up events, names, form fields, IP hashes and free-text reasons are deleted",
		},
		Retention: retention{RawEventsDays: c.RetentionEventDays, RollupsDays: c.RetentionRollupDays, VisitorSketchDays: c.RetentionEventDays + 3,
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
