package marketing

import (
	"encoding/json"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Consent statuses.
const (
	ConsentPending   = "pending"
	ConsentExpress   = "express"
	ConsentImplied   = "implied"
	ConsentWithdrawn = "withdrawn"
)

// Consent sources recorded in the ledger.
const (
	SourceFormSubmit  = "form_submit"
	SourceUnsubscribe = "unsubscribe"
	SourceAdmin       = "admin"
	SourceExpiry      = "expiry"
)

// ImpliedConsentCutoff is the CASL rule in one place: implied consent lasts
// six months after the inquiry that gave it, so consent given before the
// cutoff has lapsed at now.
func ImpliedConsentCutoff(now time.Time) time.Time { return now.AddDate(0, -6, 0) }

// Consent is the wording shown next to a consent checkbox.
type Consent struct {
	Purpose string `json:"purpose,omitempty"`
	Text    string `json:"text,omitempty"`
	Version string `json:"version,omitempty"`
}

// LeadInput is a validated lead capture.
type LeadInput struct {
	Email         string // normalised
	Name          string
	AnonID        string
	FormName      string
	Path          string
	Referrer      string
	SourceChannel string
	ConsentStatus string // "" when the capture says nothing
	Consent       Consent
	Payload       json.RawMessage // object or nil
	UTM           UTM
	Locale        string
	Redirect      string
	Honeypot      string
	// DoubleOptIn: the form asks for confirmation by email before express
	// consent is recorded (data-marketing-double-opt-in).
	DoubleOptIn bool
}

// NormalizeEmail trims and lower-cases an address and writes its domain in
// IDNA ASCII form. Plus-tags and dots are kept: they may be distinct boxes.
func NormalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 320 || !Storable(s) {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || strings.ContainsAny(s, " <>\"") {
		return "", false
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || domain == "" || !strings.Contains(domain, ".") {
		return "", false
	}
	ascii, err := idna.Lookup.ToASCII(strings.ToLower(domain))
	if err != nil {
		return "", false
	}
	return strings.ToLower(local) + "@" + ascii, true
}

// DecodeLead parses a capture body. form is true for form posts, whose
// fields are flat (utm_source, consent_text…; dotted names work too).
func DecodeLead(body []byte, form bool) (LeadInput, error) {
	is := NewIssues()
	var raw map[string]json.RawMessage
	if form {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			is.Add("", "body is not a valid form post")
			return LeadInput{}, is.Err()
		}
		raw = formToJSON(vals)
	} else if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		is.Add("", "body must be a JSON object")
		return LeadInput{}, is.Err()
	}
	var in LeadInput
	in.Honeypot = str(is, "honeypot", raw["honeypot"], 0, 1<<20, false)
	email := str(is, "email", raw["email"], 1, 320, true)
	if email != "" {
		if n, ok := NormalizeEmail(email); ok {
			in.Email = n
		} else {
			is.Add("email", "must be a valid email address")
		}
	}
	in.Name = str(is, "name", raw["name"], 1, 200, false)
	in.AnonID = str(is, "anonId", raw["anonId"], 8, 128, false)
	in.FormName = str(is, "formName", raw["formName"], 1, 255, false)
	if in.FormName == "" {
		in.FormName = "lead_capture"
	}
	in.Path = str(is, "path", raw["path"], 1, 2048, false)
	var fromPath UTM
	in.Path, fromPath = StripQuery(in.Path)
	in.Referrer = str(is, "referrer", raw["referrer"], 1, 2048, false)
	in.SourceChannel = str(is, "sourceChannel", raw["sourceChannel"], 1, 255, false)
	in.Locale = str(is, "locale", raw["locale"], 2, 35, false)
	in.Redirect = str(is, "redirect", raw["redirect"], 1, 2048, false)
	if s := strings.ToLower(str(is, "consentStatus", raw["consentStatus"], 1, 16, false)); s != "" {
		switch s {
		case ConsentPending, ConsentExpress, ConsentImplied:
			in.ConsentStatus = s
		default:
			is.Add("consentStatus", "must be pending, express or implied")
		}
	}
	var c struct{ Purpose, Text, Version json.RawMessage }
	if object(is.At("consent"), raw["consent"], &c) {
		ci := is.At("consent")
		in.Consent = Consent{
			Purpose: str(ci, "purpose", c.Purpose, 1, 255, false),
			Text:    str(ci, "text", c.Text, 1, 4000, false),
			Version: str(ci, "version", c.Version, 1, 64, false),
		}
	}
	if in.ConsentStatus == ConsentExpress && in.Consent.Text == "" {
		is.Add("consent.text", "is required with express consent: the exact wording shown next to the checkbox")
	}
	if p := raw["payload"]; !isNull(p) {
		var m map[string]any
		if p[0] != '{' || json.Unmarshal(p, &m) != nil {
			is.Add("payload", "must be an object")
		} else if !StorableJSON(m) {
			is.Add("payload", "must not contain NUL characters")
		} else if b, _ := json.Marshal(m); len(b) > 4096 {
			is.Add("payload", "must be at most 4 KiB when serialised")
		} else {
			in.Payload = b
		}
	}
	if v := raw["doubleOptIn"]; !isNull(v) {
		var b bool
		var str string
		switch {
		case json.Unmarshal(v, &b) == nil:
			in.DoubleOptIn = b
		case json.Unmarshal(v, &str) == nil && (str == "true" || str == "1" || str == "on"):
			in.DoubleOptIn = true
		case json.Unmarshal(v, &str) == nil && (str == "false" || str == "0" || str == ""):
		default:
			is.Add("doubleOptIn", "must be true or false")
		}
	}
	in.UTM = utm(is.At("utm"), raw["utm"])
	if in.UTM.IsZero() {
		in.UTM = fromPath
	}
	return in, is.Err()
}

// formToJSON maps form fields onto the JSON shape: utm_x and utm.x go to
// utm, consent_x and consent.x to consent.
func formToJSON(vals url.Values) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	nested := map[string]map[string]string{"utm": {}, "consent": {}}
	for k, vs := range vals {
		if len(vs) == 0 {
			continue
		}
		v := vs[len(vs)-1]
		for prefix := range nested {
			for _, sep := range []string{"_", "."} {
				if rest, ok := strings.CutPrefix(k, prefix+sep); ok && rest != "" {
					nested[prefix][rest] = v
				}
			}
		}
		b, _ := json.Marshal(v)
		out[k] = b
	}
	for prefix, m := range nested {
		if len(m) > 0 {
			b, _ := json.Marshal(m)
			out[prefix] = b
		}
	}
	return out
}

// NextConsent applies the consent rules to a requested change. current is
// "" for a new lead; requested is "" when the capture says nothing. It
// returns the status to store.
//
//   - A new lead without a request starts pending; pending never replaces
//     an existing status.
//   - withdrawn stays withdrawn: an unsubscribe is not undone by a later
//     form, whatever it asks (only a confirmed double opt-in or an admin
//     action, recorded elsewhere, brings an address back).
func NextConsent(current, requested string) string {
	switch {
	case current == "" && requested == "":
		return ConsentPending
	case requested == "" || (requested == ConsentPending && current != ""):
		// A form that asks nothing (or says "pending") is not a withdrawal.
		return current
	case current == ConsentWithdrawn:
		return current
	case current == ConsentExpress && requested != ConsentExpress:
		// Express consent is not weakened by a later implied or pending form.
		return current
	}
	return requested
}

// RecordConsent decides whether a ledger row is due: on a change, on a
// renewed implied consent (a new inquiry restarts its six months), or on the
// same status confirmed with wording not recorded before.
func RecordConsent(prev, requested, next, wordingHash, lastWordingHash string) bool {
	switch {
	case next != prev:
		return true
	case requested != next:
		return false
	case next == ConsentImplied:
		return true
	}
	return wordingHash != "" && wordingHash != lastWordingHash
}
