package marketing

import (
	"context"
	"slices"
	"time"
)

// Roles a user holds on a site.
const (
	RoleOwner  = "owner"  // everything, including sites, keys, users and the audit log
	RoleAdmin  = "admin"  // analytics and leads, personal data included
	RoleViewer = "viewer" // analytics only: never a lead's email or personal fields
)

// Roles lists the roles, strongest first.
var Roles = []string{RoleOwner, RoleAdmin, RoleViewer}

// AllSites is the site id of a role held on every site, registered now or
// later, and on the all-properties figures.
const AllSites = "*"

// RoleScopes are the API scopes a role amounts to.
func RoleScopes(role string) []string {
	switch role {
	case RoleOwner:
		return []string{ScopeStatsRead, ScopeLeadsRead, ScopeLeadsWrite, ScopeSitesAdmin, ScopeEventsWrite}
	case RoleAdmin:
		return []string{ScopeStatsRead, ScopeLeadsRead, ScopeLeadsWrite}
	case RoleViewer:
		return []string{ScopeStatsRead}
	}
	return nil
}

// ValidRole reports whether role is one of Roles.
func ValidRole(role string) bool { return slices.Contains(Roles, role) }

// User is a person who logs in. Email is normalised; PasswordHash is an
// argon2id PHC string and never leaves the process.
type User struct {
	ID           string     `json:"id"`
	Email        string     `json:"email"`
	PasswordHash string     `json:"-"`
	Roles        []SiteRole `json:"roles"`
	// TOTPSecret is the second factor's shared secret (base32), pending
	// until TOTPEnabled.
	TOTPSecret  string    `json:"-"`
	TOTPEnabled bool      `json:"totpEnabled"`
	Created     time.Time `json:"createdAt"`
	Updated     time.Time `json:"updatedAt"`
}

// SiteRole is a user's role on one site (AllSites: every site).
type SiteRole struct {
	SiteID string `json:"siteId"`
	Role   string `json:"role"`
}

// LoginSession is a logged-in browser. Only the SHA-256 of its token (the
// cookie's value) is stored.
type LoginSession struct {
	ID        string    `json:"id"`
	TokenHash string    `json:"-"`
	UserID    string    `json:"-"`
	Created   time.Time `json:"createdAt"`
	LastSeen  time.Time `json:"lastSeenAt"`
	Expires   time.Time `json:"expiresAt"`
	UserAgent string    `json:"userAgent,omitempty"` // browser family and OS only
}

// UserStore holds users, their roles and their login sessions.
type UserStore interface {
	// CreateUser stores a user and its roles (ECONFLICT: email taken).
	CreateUser(ctx context.Context, u *User) error
	// User returns a user by id (ENOTFOUND).
	User(ctx context.Context, id string) (*User, error)
	// UserByEmail returns a user by normalised email (ENOTFOUND).
	UserByEmail(ctx context.Context, email string) (*User, error)
	// Users lists every user, by email.
	Users(ctx context.Context) ([]User, error)
	// DeleteUser removes a user, its roles and its sessions (ENOTFOUND).
	DeleteUser(ctx context.Context, id string) error
	// SetPassword replaces a user's password hash and ends its sessions.
	SetPassword(ctx context.Context, id, hash string, now time.Time) error
	// SetRole gives a user a role on a site, replacing the one it had
	// there; role "" takes it away.
	SetRole(ctx context.Context, userID, siteID, role string, now time.Time) error

	// SetTOTPSecret stores a pending second-factor secret, replacing any
	// (a second factor in use is replaced only after DisableTOTP).
	SetTOTPSecret(ctx context.Context, userID, secret string, now time.Time) error
	// EnableTOTP turns the pending secret on and replaces the recovery
	// codes (SHA-256 hashes).
	EnableTOTP(ctx context.Context, userID string, recoveryHashes []string, now time.Time) error
	// DisableTOTP removes the second factor and its recovery codes.
	DisableTOTP(ctx context.Context, userID string, now time.Time) error
	// UseTOTPStep records a code's time step: false when that step or a
	// later one was used already (no code counts twice).
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// UseRecoveryCode spends a recovery code: false when unknown or spent.
	UseRecoveryCode(ctx context.Context, userID, codeHash string, now time.Time) (bool, error)

	// CreateLoginSession stores a new login session.
	CreateLoginSession(ctx context.Context, s *LoginSession) error
	// LoginSession returns a session by token hash, expired or not
	// (ENOTFOUND).
	LoginSession(ctx context.Context, tokenHash string) (*LoginSession, error)
	// TouchLoginSession slides a session's expiry.
	TouchLoginSession(ctx context.Context, tokenHash string, lastSeen, expires time.Time) error
	// DeleteLoginSession ends one session (no error when it is gone).
	DeleteLoginSession(ctx context.Context, tokenHash string) error
	// DeleteLoginSessions ends every session of a user and returns how many.
	DeleteLoginSessions(ctx context.Context, userID string) (int64, error)
	// LoginSessions lists a user's unexpired sessions, newest first.
	LoginSessions(ctx context.Context, userID string, now time.Time) ([]LoginSession, error)
}
