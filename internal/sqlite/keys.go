package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

const keyColumns = `id, prefix, secret_hash, label, scopes, sites, created_by, created_at, expires_at, revoked_at, last_used_at`

func scanKey(row scanner) (*marketing.APIKey, error) {
	k := &marketing.APIKey{}
	var scopes, sites string
	var created int64
	var expires, revoked, used sql.NullInt64
	if err := row.Scan(&k.ID, &k.Prefix, &k.Hash, &k.Label, &scopes, &sites, &k.CreatedBy, &created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	k.Scopes, k.Sites = splitList(scopes), splitList(sites)
	k.Created, k.Expires, k.Revoked, k.LastUsed = fromMS(created), fromNullMS(expires), fromNullMS(revoked), fromNullMS(used)
	return k, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// CreateKey stores a new key.
func (db *DB) CreateKey(ctx context.Context, k *marketing.APIKey) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
		k.ID, k.Prefix, k.Hash, k.Label, strings.Join(k.Scopes, ","), strings.Join(k.Sites, ","), k.CreatedBy, ms(k.Created), nullMS(k.Expires))
	if isUnique(err) {
		return marketing.Errorf(marketing.ECONFLICT, "key prefix taken")
	}
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: create key: %w", err))
	}
	return nil
}

// KeyByPrefix returns a key by its public prefix.
func (db *DB) KeyByPrefix(ctx context.Context, prefix string) (*marketing.APIKey, error) {
	k, err := scanKey(db.read.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such key")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: find key: %w", err))
	}
	return k, nil
}

// Keys lists every key, newest first.
func (db *DB) Keys(ctx context.Context) ([]marketing.APIKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: list keys: %w", err))
	}
	defer rows.Close()
	out := []marketing.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: list keys: %w", err))
		}
		out = append(out, *k)
	}
	return out, unavailable(rows.Err())
}

// RevokeKey revokes a key by id or prefix, keeping the first revocation time.
func (db *DB) RevokeKey(ctx context.Context, idOrPrefix string, now time.Time) (*marketing.APIKey, error) {
	res, err := db.write.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?2 OR prefix = ?2`, ms(now), idOrPrefix)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: revoke key: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such key")
	}
	k, err := scanKey(db.write.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?1 OR prefix = ?1`, idOrPrefix))
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: revoke key: %w", err))
	}
	return k, nil
}

// TouchKey records a key's use.
func (db *DB) TouchKey(ctx context.Context, id string, now time.Time) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, ms(now), id); err != nil {
		return unavailable(fmt.Errorf("sqlite: touch key: %w", err))
	}
	return nil
}
