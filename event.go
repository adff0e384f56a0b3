package marketing

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxEventsPerRequest is how many events one POST /v1/events may carry.
const MaxEventsPerRequest = 50

// Traffic sources, in the order the summary reports them.
var TrafficSources = []string{"direct", "organic_search", "paid_search", "social", "email", "referral", "campaign", "internal", "unknown"}

// Device types a client may send as a hint.
var DeviceTypes = []string{"desktop", "mobile", "tablet", "bot", "unknown"}

// UTM holds the five campaign parameters. Empty means absent.
type UTM struct {
	Source   string `json:"source,omitempty"`
	Medium   string `json:"medium,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	Term     string `json:"term,omitempty"`
	Content  string `json:"content,omitempty"`
}

// IsZero reports whether no parameter is set.
func (u UTM) IsZero() bool { return u == UTM{} }

// HasCampaign reports whether source, medium or campaign is set: the three
// that define a campaign for session splitting.
func (u UTM) HasCampaign() bool { return u.Source != "" || u.Medium != "" || u.Campaign != "" }

// SameCampaign compares the campaign-defining parameters.
func (u UTM) SameCampaign(o UTM) bool {
	return u.Source == o.Source && u.Medium == o.Medium && u.Campaign == o.Campaign
}

// WebVitals are the Core Web Vitals a tracker measured. Nil means absent.
type WebVitals struct {
	FCPMs    *int64
	LCPMs    *int64
	INPMs    *int64
	TTFBMs   *int64
	CLSScore *float64
}

// Traffic holds the optional hints and measurements of an event.
type Traffic struct {
	PropertyID         string
	DeviceType         string
	CountryCode        string
	IsConversion       *bool
	EngagedTimeMs      *int64
	ScrollDepthPercent *int64
	WebVitals          WebVitals
}

// EventInput is one event as a client sent it, validated.
type EventInput struct {
	EventID   string
	AnonID    string
	EventType string
	Path      string
	URL       string
	Timestamp *time.Time
	Referrer  string
	UTM       UTM
	Traffic   Traffic
	Props     map[string]any
	Honeypot  string
}

// rawEvent is the wire shape. Flexible fields stay raw so that a wrong type
// becomes an issue on its own path instead of failing the whole decode.
type rawEvent struct {
	EventID    json.RawMessage `json:"eventId"`
	AnonID     json.RawMessage `json:"anonId"`
	EventType  json.RawMessage `json:"eventType"`
	Path       json.RawMessage `json:"path"`
	URL        json.RawMessage `json:"url"`
	Timestamp  json.RawMessage `json:"timestamp"`
	Referrer   json.RawMessage `json:"referrer"`
	RawUTM     json.RawMessage `json:"utm"`
	Traffic    json.RawMessage `json:"traffic"`
	Props      json.RawMessage `json:"props"`
	Honeypot   json.RawMessage `json:"honeypot"`
	PropertyID json.RawMessage `json:"propertyId"`
	Events     json.RawMessage `json:"events"`
}

type rawTraffic struct {
	PropertyID         json.RawMessage `json:"propertyId"`
	DeviceType         json.RawMessage `json:"deviceType"`
	CountryCode        json.RawMessage `json:"countryCode"`
	IsEntrance         json.RawMessage `json:"isEntrance"`
	IsExit             json.RawMessage `json:"isExit"`
	IsConversion       json.RawMessage `json:"isConversion"`
	EngagedTimeMs      json.RawMessage `json:"engagedTimeMs"`
	ScrollDepthPercent json.RawMessage `json:"scrollDepthPercent"`
	WebVitals          json.RawMessage `json:"webVitals"`
}

type rawVitals struct {
	FCPMs    json.RawMessage `json:"fcpMs"`
	LCPMs    json.RawMessage `json:"lcpMs"`
	INPMs    json.RawMessage `json:"inpMs"`
	TTFBMs   json.RawMessage `json:"ttfbMs"`
	CLSScore json.RawMessage `json:"clsScore"`
}

// DecodeEvents parses a POST /v1/events body: one event, an array of up to
// MaxEventsPerRequest, or {"events": [...]}. batch reports whether the body
// was one of the two list forms (the answer then lists results).
func DecodeEvents(body []byte) (events []EventInput, batch bool, err error) {
	is := NewIssues()
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		is.Add("", "body must be a JSON event, an array of events or {\"events\": [...]}")
		return nil, false, is.Err()
	}
	var raws []json.RawMessage
	prefix := ""
	switch body[0] {
	case '[':
		batch = true
		if err := json.Unmarshal(body, &raws); err != nil {
			is.Add("", "body is not valid JSON")
			return nil, true, is.Err()
		}
	case '{':
		// One pass: a single event (the common case) is read as one.
		var head rawEvent
		if err := json.Unmarshal(body, &head); err != nil {
			is.Add("", "body is not valid JSON")
			return nil, false, is.Err()
		}
		if head.Events == nil {
			return []EventInput{eventFrom(&head, is)}, false, is.Err()
		}
		batch = true
		prefix = "events"
		if err := json.Unmarshal(head.Events, &raws); err != nil || raws == nil {
			is.Add("events", "must be an array of events")
			return nil, true, is.Err()
		}
	default:
		is.Add("", "body must be a JSON object or array")
		return nil, false, is.Err()
	}
	switch {
	case len(raws) == 0:
		is.Add(prefix, "must hold at least one event")
		return nil, batch, is.Err()
	case len(raws) > MaxEventsPerRequest:
		is.Add(prefix, "must hold at most "+strconv.Itoa(MaxEventsPerRequest)+" events")
		return nil, batch, is.Err()
	}
	events = make([]EventInput, len(raws))
	for i, raw := range raws {
		at := is
		if batch {
			at = is.At(prefix).AtIndex(i)
		}
		events[i] = parseEvent(raw, at)
	}
	return events, batch, is.Err()
}

func parseEvent(raw json.RawMessage, is Issues) EventInput {
	var r rawEvent
	if err := json.Unmarshal(raw, &r); err != nil {
		is.Add("", "must be a JSON object")
		return EventInput{}
	}
	return eventFrom(&r, is)
}

// eventFrom validates one decoded event.
func eventFrom(r *rawEvent, is Issues) EventInput {
	var ev EventInput
	ev.EventID = str(is, "eventId", r.EventID, 0, 36, false)
	if ev.EventID != "" && !IsUUID(ev.EventID) {
		is.Add("eventId", "must be a UUID")
	}
	ev.EventID = strings.ToLower(ev.EventID)
	ev.AnonID = str(is, "anonId", r.AnonID, 8, 128, false)
	ev.EventType = str(is, "eventType", r.EventType, 1, 64, true)
	ev.URL = str(is, "url", r.URL, 1, 2048, false)
	var fromURL *url.URL
	if ev.URL != "" {
		u, err := url.Parse(ev.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			is.Add("url", "must be an absolute http(s) URL")
		} else {
			fromURL = u
		}
	}
	ev.Path = str(is, "path", r.Path, 1, 2048, fromURL == nil)
	if ev.Path == "" && fromURL != nil {
		ev.Path = fromURL.EscapedPath()
		if ev.Path == "" {
			ev.Path = "/"
		}
	}
	ev.Timestamp = timestamp(is, "timestamp", r.Timestamp)
	ev.Referrer = str(is, "referrer", r.Referrer, 0, 2048, false)
	ev.UTM = utm(is.At("utm"), r.RawUTM)
	if ev.UTM.IsZero() && fromURL != nil {
		ev.UTM = utmFromQuery(fromURL.Query())
	}
	var fromPath UTM
	ev.Path, fromPath = StripQuery(ev.Path)
	if ev.UTM.IsZero() {
		ev.UTM = fromPath
	}
	ev.Traffic = traffic(is.At("traffic"), r.Traffic)
	if p := str(is, "propertyId", r.PropertyID, 1, 128, false); p != "" {
		ev.Traffic.PropertyID = p
	}
	ev.Props = props(is.At("props"), r.Props)
	ev.Honeypot = str(is, "honeypot", r.Honeypot, 0, 1<<20, false)
	return ev
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// str reads an optional (or required) trimmed string of min..max runes.
// An empty string counts as absent, which is kinder than the reference's
// rejection and keeps every payload it accepted acceptable.
// plainString reads a JSON string with no escapes without the decoder's
// reflection (most strings an event carries are such). raw comes from a
// document the decoder already checked, so it is well-formed JSON.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' || bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

func str(is Issues, path string, raw json.RawMessage, min, max int, required bool) string {
	if isNull(raw) {
		if required {
			is.Add(path, "is required")
		}
		return ""
	}
	s, ok := plainString(raw)
	if !ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			is.Add(path, "must be a string")
			return ""
		}
	}
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case !Storable(s):
		is.Add(path, "must not contain NUL characters")
		return ""
	case n == 0 && required:
		is.Add(path, "is required")
	case n == 0:
	case n < min:
		is.Add(path, "must be at least "+strconv.Itoa(min)+" characters")
	case n > max:
		is.Add(path, "must be at most "+strconv.Itoa(max)+" characters")
	}
	return s
}

// utmFromQuery reads the five utm_ parameters of a query string.
func utmFromQuery(q url.Values) UTM {
	return UTM{
		Source: clip(q.Get("utm_source"), 255), Medium: clip(q.Get("utm_medium"), 255),
		Campaign: clip(q.Get("utm_campaign"), 255), Term: clip(q.Get("utm_term"), 255),
		Content: clip(q.Get("utm_content"), 255),
	}
}

// StripQuery cuts the query string and fragment off a page path (they
// can carry tokens and addresses: only the path is ever stored) and
// returns the UTM parameters the query held.
func StripQuery(path string) (string, UTM) {
	path, _, _ = strings.Cut(path, "#")
	p, rawQuery, ok := strings.Cut(path, "?")
	if !ok {
		return path, UTM{}
	}
	if p == "" {
		p = "/"
	}
	q, _ := url.ParseQuery(rawQuery)
	return p, utmFromQuery(q)
}

// Storable reports whether every store can hold s as text: valid UTF-8
// without NUL (PostgreSQL refuses NUL in text and jsonb). Input is checked
// with it at validation, so no batch ever fails on one bad row.
func Storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// StorableJSON reports whether every string in a decoded JSON value (keys
// included) is Storable.
func StorableJSON(v any) bool {
	switch x := v.(type) {
	case string:
		return Storable(x)
	case map[string]any:
		for k, e := range x {
			if !Storable(k) || !StorableJSON(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !StorableJSON(e) {
				return false
			}
		}
	}
	return true
}

// clip trims and shortens a string taken from a URL, dropping it whole if
// it cannot be stored.
func clip(s string, max int) string {
	if !Storable(s) {
		return ""
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max])
}

func timestamp(is Issues, path string, raw json.RawMessage) *time.Time {
	if isNull(raw) {
		return nil
	}
	var t time.Time
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		s = strings.TrimSpace(s)
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			if ms, err2 := strconv.ParseInt(s, 10, 64); err2 == nil {
				t = time.UnixMilli(ms)
			} else {
				is.Add(path, "must be an RFC 3339 date-time or milliseconds since the epoch")
				return nil
			}
		}
	default:
		f, ok := number(raw)
		if !ok || math.IsNaN(f) || math.Abs(f) > 1e15 {
			is.Add(path, "must be an RFC 3339 date-time or milliseconds since the epoch")
			return nil
		}
		t = time.UnixMilli(int64(f))
	}
	t = t.UTC()
	return &t
}

func number(raw json.RawMessage) (float64, bool) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true
		}
	}
	return 0, false
}

// intIn reads a number (or numeric string) in lo..hi, rounded to an integer.
func intIn(is Issues, path string, raw json.RawMessage, lo, hi int64) *int64 {
	if isNull(raw) {
		return nil
	}
	f, ok := number(raw)
	if !ok {
		is.Add(path, "must be a number")
		return nil
	}
	n := int64(math.Round(f))
	if f < float64(lo) || f > float64(hi) {
		is.Add(path, "must be between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10))
		return nil
	}
	return &n
}

func boolean(is Issues, path string, raw json.RawMessage) *bool {
	if isNull(raw) {
		return nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		is.Add(path, "must be true or false")
		return nil
	}
	return &b
}

func object(is Issues, raw json.RawMessage, into any) bool {
	if isNull(raw) {
		return false
	}
	if raw[0] != '{' || json.Unmarshal(raw, into) != nil {
		is.Add("", "must be an object")
		return false
	}
	return true
}

func utm(is Issues, raw json.RawMessage) UTM {
	var r struct {
		Source, Medium, Campaign, Term, Content json.RawMessage
	}
	if !object(is, raw, &r) {
		return UTM{}
	}
	return UTM{
		Source:   str(is, "source", r.Source, 1, 255, false),
		Medium:   str(is, "medium", r.Medium, 1, 255, false),
		Campaign: str(is, "campaign", r.Campaign, 1, 255, false),
		Term:     str(is, "term", r.Term, 1, 255, false),
		Content:  str(is, "content", r.Content, 1, 255, false),
	}
}

func traffic(is Issues, raw json.RawMessage) Traffic {
	var r rawTraffic
	var t Traffic
	if !object(is, raw, &r) {
		return t
	}
	t.PropertyID = str(is, "propertyId", r.PropertyID, 1, 128, false)
	if d := strings.ToLower(str(is, "deviceType", r.DeviceType, 1, 16, false)); d != "" {
		if !oneOf(d, DeviceTypes) {
			is.Add("deviceType", "must be one of "+strings.Join(DeviceTypes, ", "))
		} else {
			t.DeviceType = d
		}
	}
	if c := str(is, "countryCode", r.CountryCode, 2, 2, false); c != "" {
		t.CountryCode = strings.ToUpper(c)
	}
	// Entrances and exits are derived from sessions; the hints are checked
	// for type (the reference rejected non-booleans) and then ignored.
	boolean(is, "isEntrance", r.IsEntrance)
	boolean(is, "isExit", r.IsExit)
	t.IsConversion = boolean(is, "isConversion", r.IsConversion)
	t.EngagedTimeMs = intIn(is, "engagedTimeMs", r.EngagedTimeMs, 0, 86_400_000)
	t.ScrollDepthPercent = intIn(is, "scrollDepthPercent", r.ScrollDepthPercent, 0, 100)
	var v rawVitals
	wv := is.At("webVitals")
	if object(wv, r.WebVitals, &v) {
		t.WebVitals.FCPMs = intIn(wv, "fcpMs", v.FCPMs, 0, 120_000)
		t.WebVitals.LCPMs = intIn(wv, "lcpMs", v.LCPMs, 0, 120_000)
		t.WebVitals.INPMs = intIn(wv, "inpMs", v.INPMs, 0, 120_000)
		t.WebVitals.TTFBMs = intIn(wv, "ttfbMs", v.TTFBMs, 0, 120_000)
		if !isNull(v.CLSScore) {
			if f, ok := number(v.CLSScore); !ok || f < 0 || f > 10 {
				wv.Add("clsScore", "must be a number between 0 and 10")
			} else {
				t.WebVitals.CLSScore = &f
			}
		}
	}
	return t
}

// MaxPropsKeys bounds the free-form props object.
const MaxPropsKeys = 30

func props(is Issues, raw json.RawMessage) map[string]any {
	var m map[string]json.RawMessage
	if !object(is, raw, &m) {
		return nil
	}
	if len(m) > MaxPropsKeys {
		is.Add("", "must have at most "+strconv.Itoa(MaxPropsKeys)+" keys")
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k == "" || utf8.RuneCountInString(k) > 64 || !Storable(k) {
			is.Add("", "keys must be 1..64 characters without NUL")
			continue
		}
		if isNull(v) {
			continue
		}
		switch v[0] {
		case '"':
			var s string
			_ = json.Unmarshal(v, &s)
			if utf8.RuneCountInString(s) > 256 {
				is.Add(k, "strings must be at most 256 characters")
				continue
			}
			if !Storable(s) {
				is.Add(k, "must not contain NUL characters")
				continue
			}
			out[k] = s
		case 't', 'f':
			var b bool
			_ = json.Unmarshal(v, &b)
			out[k] = b
		case '{', '[':
			is.Add(k, "must be a string, number or boolean")
		default:
			var f float64
			if json.Unmarshal(v, &f) != nil {
				is.Add(k, "must be a string, number or boolean")
				continue
			}
			out[k] = f
		}
	}
	return out
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}
