package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
)

const keyColumns = `id, prefix, secret_hash, label, scopes, sites, created_by, created_at, expires_at, revoked_at, last_used_at`

func scanKey(row pgx.Row) (*marketing.APIKey, error) {
	k := &marketing.APIKey{}
	var scopes, sites string
	var expires, revoked, used *time.Time
	if err := row.Scan(&k.ID, &k.Prefix, &k.Hash, &k.Label, &scopes, &sites, &k.CreatedBy, &k.Created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	k.Scopes, k.Sites = splitList(scopes), splitList(sites)
	k.Created, k.Expires, k.Revoked, k.LastUsed = k.Created.UTC(), utcOrZero(expires), utcOrZero(revoked), utcOrZero(used)
	return k, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// CreateKey stores a new key.
func (db *DB) CreateKey(ctx context.Context, k *marketing.APIKey) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL)`,
		k.ID, k.Prefix, k.Hash, k.Label, strings.Join(k.Scopes, ","), strings.Join(k.Sites, ","), k.CreatedBy, k.Created, nullTime(k.Expires))
	if isUnique(err) {
		return marketing.Errorf(marketing.ECONFLICT, "key prefix taken")
	}
	if err != nil {
		return unavailable(fmt.Errorf("postgres: create key: %w", err))
	}
	return nil
}

// KeyByPrefix returns a key by its public prefix.
func (db *DB) KeyByPrefix(ctx context.Context, prefix string) (*marketing.APIKey, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such key")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: find key: %w", err))
	}
	return k, nil
}

// Keys lists every key, newest first.
func (db *DB) Keys(ctx context.Context) ([]marketing.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list keys: %w", err))
	}
	defer rows.Close()
	out := []marketing.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("postgres: list keys: %w", err))
		}
		out = append(out, *k)
	}
	return out, unavailable(rows.Err())
}

// RevokeKey revokes a key by id or prefix, keeping the first revocation time.
func (db *DB) RevokeKey(ctx context.Context, idOrPrefix string, now time.Time) (*marketing.APIKey, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1)
		WHERE id = $2 OR prefix = $2 RETURNING `+keyColumns, now, idOrPrefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such key")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: revoke key: %w", err))
	}
	return k, nil
}

// TouchKey records a key's use.
func (db *DB) TouchKey(ctx context.Context, id string, now time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, now, id); err != nil {
		return unavailable(fmt.Errorf("postgres: touch key: %w", err))
	}
	return nil
}
