package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
)

const shareColumns = `id, token_hash, site_id, label, password_hash, filter, created_by, created_at, expires_at, revoked_at`

func scanShare(r pgx.Row) (*marketing.SharedLink, error) {
	l := &marketing.SharedLink{}
	var expires, revoked *time.Time
	if err := r.Scan(&l.ID, &l.TokenHash, &l.SiteID, &l.Label, &l.PasswordHash, &l.Filter, &l.CreatedBy, &l.Created, &expires, &revoked); err != nil {
		return nil, err
	}
	l.Created, l.Expires, l.Revoked, l.HasPassword = l.Created.UTC(), utcOrZero(expires), utcOrZero(revoked), l.PasswordHash != ""
	return l, nil
}

// CreateSharedLink stores a new link.
func (db *DB) CreateSharedLink(ctx context.Context, l *marketing.SharedLink) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO shared_links (`+shareColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`,
		l.ID, l.TokenHash, l.SiteID, l.Label, l.PasswordHash, l.Filter, l.CreatedBy, l.Created, nullTime(l.Expires)); err != nil {
		return unavailable(fmt.Errorf("postgres: create shared link: %w", err))
	}
	return nil
}

func (db *DB) oneShare(ctx context.Context, where, arg string) (*marketing.SharedLink, error) {
	l, err := scanShare(db.pool.QueryRow(ctx, `SELECT `+shareColumns+` FROM shared_links WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such shared link")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read shared link: %w", err))
	}
	return l, nil
}

// SharedLinkByToken returns a link by its token's hash.
func (db *DB) SharedLinkByToken(ctx context.Context, tokenHash string) (*marketing.SharedLink, error) {
	return db.oneShare(ctx, `token_hash = $1`, tokenHash)
}

// SharedLink returns a link by id.
func (db *DB) SharedLink(ctx context.Context, id string) (*marketing.SharedLink, error) {
	return db.oneShare(ctx, `id = $1`, id)
}

// SharedLinks lists a site's links, newest first.
func (db *DB) SharedLinks(ctx context.Context, siteID string) ([]marketing.SharedLink, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+shareColumns+` FROM shared_links WHERE site_id = $1 ORDER BY created_at DESC, id DESC`, siteID)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list shared links: %w", err))
	}
	defer rows.Close()
	out := []marketing.SharedLink{}
	for rows.Next() {
		l, err := scanShare(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("postgres: list shared links: %w", err))
		}
		out = append(out, *l)
	}
	return out, unavailable(rows.Err())
}

// RevokeSharedLink revokes a link, keeping the first revocation time.
func (db *DB) RevokeSharedLink(ctx context.Context, id string, now time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE shared_links SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, now, id)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: revoke shared link: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such shared link")
	}
	return nil
}
