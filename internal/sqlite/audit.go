package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/altcontext/marketing"
)

// Audit appends an entry to the audit log.
func (db *DB) Audit(ctx context.Context, e marketing.AuditEntry) error {
	e = marketing.CompleteAudit(e)
	if _, err := db.write.ExecContext(ctx, `INSERT INTO audit_log (id, at, actor, action, target, site_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, ms(e.At), e.Actor, e.Action, e.Target, e.SiteID, e.Detail); err != nil {
		return unavailable(fmt.Errorf("sqlite: audit: %w", err))
	}
	return nil
}

// AuditEntries lists entries newest first, only those of the given sites
// when sites is non-nil.
func (db *DB) AuditEntries(ctx context.Context, sites []string, limit int) ([]marketing.AuditEntry, error) {
	var filter any // NULL: every entry
	if sites != nil {
		b, _ := json.Marshal(append([]string{}, sites...))
		filter = string(b)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id, at, actor, action, target, site_id, detail FROM audit_log
		WHERE ?1 IS NULL OR site_id IN (SELECT value FROM json_each(?1)) ORDER BY at DESC, id DESC LIMIT ?2`, filter, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: audit entries: %w", err))
	}
	defer rows.Close()
	out := []marketing.AuditEntry{}
	for rows.Next() {
		var e marketing.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.SiteID, &e.Detail); err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: audit entries: %w", err))
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, unavailable(rows.Err())
}
