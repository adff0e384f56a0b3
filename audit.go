package marketing

import (
	"context"
	"time"
)

// AuditEntry is one admin action: who (Actor: "root", "key:<prefix>",
// "user:<id>") did what (Action) to whom (Target), when, on which site.
// Targets name people by pseudonym only ("email:<keyed hash>",
// "lead:<id>"), so an entry outlives the erasure of its subject without
// keeping the address.
type AuditEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	SiteID string    `json:"siteId,omitempty"`
	Detail string    `json:"detail,omitempty"` // short, never personal data
}

// Audit actions.
const (
	AuditLeadErase       = "lead.erase"
	AuditLeadUnsubscribe = "lead.unsubscribe"
	AuditLeadsExport     = "leads.export"
	AuditPrivacyExport   = "privacy.export"
	AuditKeyCreate       = "key.create"
	AuditKeyRevoke       = "key.revoke"
	AuditSiteCreate      = "site.create"
	AuditSiteUpdate      = "site.update"
	AuditSiteDelete      = "site.delete"
	AuditUserCreate      = "user.create"
	AuditUserRole        = "user.role"
	AuditUserRemove      = "user.remove"
	AuditUserPassword    = "user.password"
	AuditUserTOTP        = "user.totp"
	AuditShareCreate     = "share.create"
	AuditShareRevoke     = "share.revoke"
)

// AuditLog records admin actions. Entries are kept like the consent
// ledger: never purged by retention.
type AuditLog interface {
	// Audit appends an entry (its ID and At are set when empty).
	Audit(ctx context.Context, e AuditEntry) error
	// AuditEntries lists entries newest first: only those of the given
	// sites when sites is non-nil, all of them when it is nil.
	AuditEntries(ctx context.Context, sites []string, limit int) ([]AuditEntry, error)
}

// CompleteAudit fills an entry's ID and time when the caller left them out.
func CompleteAudit(e AuditEntry) AuditEntry {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC()
	if e.ID == "" {
		e.ID = NewID(e.At)
	}
	return e
}
