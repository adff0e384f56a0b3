package marketing

import (
	"context"
	"time"
)

// SharedLink is a read-only view of one site's figures for someone without
// an account: the secret token is the URL; only its SHA-256 is stored. It
// may ask for a password, expire, be revoked, and be locked to a filter
// (stored as given, a stats filter the stats API applies).
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
