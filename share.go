package marketing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// SharedLink is a read-only view of one site's figures for someone without
// an account: the secret token is the URL; only its SHA-256 is stored. It
// may ask for a password, expire, be revoked, and be locked to a filter
// (ShareFilter): the view then shows only what matches it.
type SharedLink struct {
	ID           string    `json:"id"`
	TokenHash    string    `json:"-"`
	SiteID       string    `json:"siteId"`
	Label        string    `json:"label,omitempty"`
	PasswordHash string    `json:"-"`
	HasPassword  bool      `json:"hasPassword"`
	Filter       string    `json:"filter,omitempty"` // JSON, "" for none
	CreatedBy    string    `json:"createdBy"`
	Created      time.Time `json:"createdAt"`
	Expires      time.Time `json:"expiresAt,omitzero"`
	Revoked      time.Time `json:"revokedAt,omitzero"`
}

// ShareFilterKeys are the keys a shared link's filter may name: the
// dashboard's filter keys, each the stats dimension it filters on.
var ShareFilterKeys = map[string]string{
	"page": "event:page", "entry": "visit:entry_page", "exit": "visit:exit_page",
	"source": "visit:source", "channel": "visit:channel",
	"utm_source": "visit:utm_source", "utm_medium": "visit:utm_medium", "utm_campaign": "visit:utm_campaign",
	"utm_term": "visit:utm_term", "utm_content": "visit:utm_content",
	"device": "visit:device", "browser": "visit:browser", "os": "visit:os", "country": "visit:country",
}

// ShareFilter is a shared link's filter read from its JSON: an object of
// ShareFilterKeys, each a string or a list of strings (any of them
// matches; all keys must match), e.g. {"utm_campaign": "spring", "page":
// ["/a", "/b"]}. The answer maps each key to its values. Anything else
// (null, numbers, invalid UTF-8, NUL) is an error: a link whose filter
// cannot be applied must show nothing, never everything.
func ShareFilter(raw string) (map[string][]string, error) {
	if !Storable(raw) {
		return nil, errors.New("must be UTF-8 text without NUL")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &obj); err != nil || obj == nil {
		return nil, errors.New("must be a JSON object")
	}
	out := map[string][]string{}
	for k, v := range obj {
		if ShareFilterKeys[k] == "" {
			return nil, errors.New("unknown key " + quoteKey(k) + "; allowed: page, entry, exit, source, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content, device, browser, os, country")
		}
		items := []json.RawMessage{v}
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) {
			if json.Unmarshal(v, &items) != nil || len(items) == 0 || len(items) > 20 {
				return nil, errors.New(k + ": must be a string or a list of 1 to 20 strings")
			}
		}
		var vals []string
		for _, it := range items {
			var s string
			if !bytes.HasPrefix(bytes.TrimSpace(it), []byte(`"`)) || json.Unmarshal(it, &s) != nil {
				return nil, errors.New(k + ": must be a string or a list of 1 to 20 strings")
			}
			if len(s) > 1024 || !Storable(s) {
				return nil, errors.New(k + ": values must be at most 1024 bytes without NUL")
			}
			vals = append(vals, s)
		}
		out[k] = slices.Compact(slices.Sorted(slices.Values(vals)))
	}
	return out, nil
}

// ShareFilterJSON is a parsed filter as stored and shown: keys in order, a
// key of one value with that value, of several with their list.
func ShareFilterJSON(f map[string][]string) string {
	out := make(map[string]any, len(f))
	for k, v := range f {
		if len(v) == 1 {
			out[k] = v[0]
		} else {
			out[k] = v
		}
	}
	b, _ := json.Marshal(out) // map keys are written sorted
	return string(b)
}

func quoteKey(k string) string {
	if len(k) > 40 {
		k = k[:40] + "…"
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// MarshalJSON writes the link with its filter as the JSON object it was
// given, not as a string of it.
func (l SharedLink) MarshalJSON() ([]byte, error) {
	type plain SharedLink
	var f json.RawMessage
	if json.Valid([]byte(l.Filter)) {
		f = json.RawMessage(l.Filter)
	}
	return json.Marshal(struct {
		plain
		Filter json.RawMessage `json:"filter,omitempty"`
	}{plain(l), f})
}

// Active reports whether the link may be used at now.
func (l *SharedLink) Active(now time.Time) bool {
	return l.Revoked.IsZero() && (l.Expires.IsZero() || now.Before(l.Expires))
}

// SharedLinkStore holds shared links.
type SharedLinkStore interface {
	// CreateSharedLink stores a new link.
	CreateSharedLink(ctx context.Context, l *SharedLink) error
	// SharedLinkByToken returns a link by its token's hash, revoked or
	// expired too (ENOTFOUND).
	SharedLinkByToken(ctx context.Context, tokenHash string) (*SharedLink, error)
	// SharedLink returns a link by id (ENOTFOUND).
	SharedLink(ctx context.Context, id string) (*SharedLink, error)
	// SharedLinks lists a site's links, newest first.
	SharedLinks(ctx context.Context, siteID string) ([]SharedLink, error)
	// RevokeSharedLink revokes a link (ENOTFOUND); the first time stays.
	RevokeSharedLink(ctx context.Context, id string, now time.Time) error
}
