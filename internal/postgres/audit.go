package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
)

// Audit appends an entry to the audit log.
func (db *DB) Audit(ctx context.Context, e marketing.AuditEntry) error {
	e = marketing.CompleteAudit(e)
	if _, err := db.pool.Exec(ctx, `INSERT INTO audit_log (id, at, actor, action, target, site_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.ID, e.At, e.Actor, e.Action, e.Target, e.SiteID, e.Detail); err != nil {
		return unavailable(fmt.Errorf("postgres: audit: %w", err))
	}
	return nil
}

// AuditEntries lists entries newest first, only those of the given sites
// when sites is non-nil.
func (db *DB) AuditEntries(ctx context.Context, sites []string, limit int) ([]marketing.AuditEntry, error) {
	var filter []string // nil is NULL: every entry
	if sites != nil {
		filter = append([]string{}, sites...)
	}
	rows, err := db.pool.Query(ctx, `SELECT id, at, actor, action, target, site_id, detail FROM audit_log
		WHERE $1::text[] IS NULL OR site_id = ANY ($1) ORDER BY at DESC, id DESC LIMIT $2`, filter, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: audit entries: %w", err))
	}
	out := []marketing.AuditEntry{}
	var e marketing.AuditEntry
	if _, err := pgx.ForEachRow(rows, []any{&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.SiteID, &e.Detail}, func() error {
		e.At = e.At.UTC()
		out = append(out, e)
		return nil
	}); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: audit entries: %w", err))
	}
	return out, nil
}
