package marketing

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseLeadFilter reads the leads list's filters from a request's values
// (get is url.Values.Get of a query or a form): consentStatus, source,
// campaign, since and until (a day YYYY-MM-DD in loc, until's day
// included, or an RFC 3339 time, until excluded) and email (a search: an
// address or its start). The admin API and the dashboard validate with it,
// so they accept and refuse the same filters. Paging is the caller's.
func ParseLeadFilter(get func(string) string, loc *time.Location) (LeadFilter, error) {
	if loc == nil {
		loc = time.UTC
	}
	is := NewIssues()
	f := LeadFilter{ConsentStatus: strings.TrimSpace(get("consentStatus")), Source: strings.TrimSpace(get("source")),
		Campaign: strings.TrimSpace(get("campaign"))}
	switch f.ConsentStatus {
	case "", ConsentPending, ConsentExpress, ConsentImplied, ConsentWithdrawn:
	default:
		is.Add("consentStatus", "must be pending, express, implied or withdrawn")
	}
	for name, v := range map[string]string{"source": f.Source, "campaign": f.Campaign} {
		if !Storable(v) || len(v) > 255 {
			is.Add(name, "must be at most 255 characters without NUL")
		}
	}
	day := func(name string, next bool) time.Time {
		v := strings.TrimSpace(get(name))
		if v == "" {
			return time.Time{}
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC()
		}
		t, err := time.ParseInLocation(time.DateOnly, v, loc)
		if err != nil {
			is.Add(name, "must be a date (YYYY-MM-DD) or an RFC 3339 time")
			return time.Time{}
		}
		if next {
			t = t.AddDate(0, 0, 1)
		}
		return t.UTC()
	}
	f.Since, f.Until = day("since", false), day("until", true)
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		is.Add("until", "must be after since")
	}
	if v := strings.TrimSpace(get("email")); v != "" {
		var ok bool
		if f.Email, ok = EmailSearch(v); !ok {
			is.Add("email", "must be an email address or the start of one")
		}
	}
	return f, is.Err()
}

// EmailSearch normalises what a person typed to find a lead: a whole
// address is normalised as captures are (so "Ada@Example.COM" finds
// ada@example.com); the start of one is trimmed and lower-cased.
func EmailSearch(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 320 || !Storable(s) {
		return "", false
	}
	if e, ok := NormalizeEmail(s); ok {
		return e, true
	}
	if strings.ContainsAny(s, " <>\"\r\n\t") {
		return "", false
	}
	return strings.ToLower(s), true
}

// Cursor is the paging cursor that lists the leads after l: its first
// capture and id, opaque to clients.
func (l *Lead) Cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(l.FirstCapturedAt.UnixMilli(), 10) + "|" + l.ID))
}

// SetCursor makes f list the leads after a cursor Lead.Cursor gave out;
// false when c is not one.
func (f *LeadFilter) SetCursor(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	ms, id, ok := strings.Cut(string(b), "|")
	n, err2 := strconv.ParseInt(ms, 10, 64)
	if err != nil || !ok || err2 != nil || !IsUUID(id) {
		return false
	}
	f.AfterTime, f.AfterID = time.UnixMilli(n).UTC(), id
	return true
}
