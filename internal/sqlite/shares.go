package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/altcontext/marketing"
)

const shareColumns = `id, token_hash, site_id, label, password_hash, filter, created_by, created_at, expires_at, revoked_at`

func scanShare(r scanner) (*marketing.SharedLink, error) {
	l := &marketing.SharedLink{}
	var created int64
	var expires, revoked sql.NullInt64
	if err := r.Scan(&l.ID, &l.TokenHash, &l.SiteID, &l.Label, &l.PasswordHash, &l.Filter, &l.CreatedBy, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	l.Created, l.Expires, l.Revoked, l.HasPassword = fromMS(created), fromNullMS(expires), fromNullMS(revoked), l.PasswordHash != ""
	return l, nil
}

// CreateSharedLink stores a new link.
func (db *DB) CreateSharedLink(ctx context.Context, l *marketing.SharedLink) error {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO shared_links (`+shareColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		l.ID, l.TokenHash, l.SiteID, l.Label, l.PasswordHash, l.Filter, l.CreatedBy, ms(l.Created), nullMS(l.Expires)); err != nil {
		return unavailable(fmt.Errorf("sqlite: create shared link: %w", err))
	}
	return nil
}

func (db *DB) oneShare(ctx context.Context, where, arg string) (*marketing.SharedLink, error) {
	l, err := scanShare(db.read.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM shared_links WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such shared link")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read shared link: %w", err))
	}
	return l, nil
}

// SharedLinkByToken returns a link by its token's hash.
func (db *DB) SharedLinkByToken(ctx context.Context, tokenHash string) (*marketing.SharedLink, error) {
	return db.oneShare(ctx, `token_hash = ?`, tokenHash)
}

// SharedLink returns a link by id.
func (db *DB) SharedLink(ctx context.Context, id string) (*marketing.SharedLink, error) {
	return db.oneShare(ctx, `id = ?`, id)
}

// SharedLinks lists a site's links, newest first.
func (db *DB) SharedLinks(ctx context.Context, siteID string) ([]marketing.SharedLink, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+shareColumns+` FROM shared_links WHERE site_id = ? ORDER BY created_at DESC, id DESC`, siteID)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: list shared links: %w", err))
	}
	defer rows.Close()
	out := []marketing.SharedLink{}
	for rows.Next() {
		l, err := scanShare(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: list shared links: %w", err))
		}
		out = append(out, *l)
	}
	return out, unavailable(rows.Err())
}

// RevokeSharedLink revokes a link, keeping the first revocation time.
func (db *DB) RevokeSharedLink(ctx context.Context, id string, now time.Time) error {
	res, err := db.write.ExecContext(ctx, `UPDATE shared_links SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, ms(now), id)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: revoke shared link: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such shared link")
	}
	return nil
}
