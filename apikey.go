package marketing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// Scopes an API key can hold.
const (
	ScopeStatsRead   = "stats:read"   // aggregated analytics, never personal data
	ScopeLeadsRead   = "leads:read"   // leads, their emails and exports
	ScopeLeadsWrite  = "leads:write"  // erasure and admin unsubscribes
	ScopeSitesAdmin  = "sites:admin"  // sites, keys and the audit log
	ScopeEventsWrite = "events:write" // server-side event senders
)

// Scopes lists every scope, in the order documentation shows them.
var Scopes = []string{ScopeStatsRead, ScopeLeadsRead, ScopeLeadsWrite, ScopeSitesAdmin, ScopeEventsWrite}

// KeyPrefix starts every API key, so a leaked one is recognisable (secret
// scanners, logs) and never mistaken for ADMIN_API_KEY.
const KeyPrefix = "mk_"

// APIKey is a scoped credential for programs. Only the SHA-256 of its
// secret is stored; Prefix, its public half, finds it and names it in lists
// and the audit log.
type APIKey struct {
	ID        string    `json:"id"`
	Prefix    string    `json:"prefix"` // "mk_" and 12 hex digits
	Hash      string    `json:"-"`      // hex SHA-256 of the whole key
	Label     string    `json:"label,omitempty"`
	Scopes    []string  `json:"scopes"`
	Sites     []string  `json:"sites,omitempty"` // empty: every site
	Created   time.Time `json:"createdAt"`
	Expires   time.Time `json:"expiresAt,omitzero"`
	Revoked   time.Time `json:"revokedAt,omitzero"`
	LastUsed  time.Time `json:"lastUsedAt,omitzero"`
	CreatedBy string    `json:"createdBy,omitempty"` // an audit actor
}

// KeyStore holds API keys.
type KeyStore interface {
	// CreateKey stores a new key (ECONFLICT on a prefix collision).
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByPrefix returns a key by its public prefix, revoked or not
	// (ENOTFOUND).
	KeyByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	// Keys lists every key, newest first.
	Keys(ctx context.Context) ([]APIKey, error)
	// RevokeKey revokes a key named by id or prefix and returns it
	// (ENOTFOUND); revoking twice keeps the first time.
	RevokeKey(ctx context.Context, idOrPrefix string, now time.Time) (*APIKey, error)
	// TouchKey records a key's use.
	TouchKey(ctx context.Context, id string, now time.Time) error
}

// NewAPIKey makes a key with a fresh secret: it returns the key to store
// and the secret to show once, "mk_<12 hex>_<64 hex>".
func NewAPIKey(now time.Time) (*APIKey, string) {
	var pub [6]byte
	var secret [32]byte
	_, _ = rand.Read(pub[:])
	_, _ = rand.Read(secret[:])
	prefix := KeyPrefix + hex.EncodeToString(pub[:])
	full := prefix + "_" + hex.EncodeToString(secret[:])
	return &APIKey{ID: NewID(now), Prefix: prefix, Hash: HashSecret(full), Created: now.UTC()}, full
}

// HashSecret is how every secret (API keys, session tokens) is stored: a
// hex SHA-256. The secrets are 256-bit random values, so a fast hash is
// enough; no password ever goes through it.
func HashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// SplitAPIKey returns the prefix of a presented key ("", false when it is
// not shaped like one).
func SplitAPIKey(s string) (string, bool) {
	if !strings.HasPrefix(s, KeyPrefix) || len(s) != len(KeyPrefix)+12+1+64 || s[len(KeyPrefix)+12] != '_' {
		return "", false
	}
	return s[:len(KeyPrefix)+12], true
}

// Validate checks a key's scopes, sites and label.
func (k *APIKey) Validate() error {
	is := NewIssues()
	if len(k.Scopes) == 0 {
		is.Add("scopes", "at least one scope is required")
	}
	for _, s := range k.Scopes {
		if !slices.Contains(Scopes, s) {
			is.Add("scopes", "unknown scope "+s+" (known: "+strings.Join(Scopes, ", ")+")")
		}
	}
	for _, s := range k.Sites {
		if !siteIDPattern.MatchString(s) {
			is.Add("sites", "must be site ids")
		}
	}
	if len([]rune(k.Label)) > 200 || !Storable(k.Label) || strings.ContainsAny(k.Label, "\r\n") {
		is.Add("label", "must be one line of at most 200 characters")
	}
	return is.Err()
}

// Active reports whether the key may be used at now.
func (k *APIKey) Active(now time.Time) bool {
	return k.Revoked.IsZero() && (k.Expires.IsZero() || now.Before(k.Expires))
}

// ParseExpiry reads a key's expiry: a day (YYYY-MM-DD, the key stops
// working at 00:00 UTC that day) or an RFC 3339 time, after now.
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t, err = time.Parse(time.DateOnly, s)
	}
	if err != nil {
		return time.Time{}, &ValidationError{Issues: []Issue{{Path: "expiresAt", Message: "must be a day (YYYY-MM-DD) or an RFC 3339 time"}}}
	}
	if !t.After(now) {
		return time.Time{}, &ValidationError{Issues: []Issue{{Path: "expiresAt", Message: "must be in the future"}}}
	}
	return t.UTC().Truncate(time.Millisecond), nil
}
