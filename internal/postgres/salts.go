package postgres

import (
	"context"
	"fmt"
	"time"
)

// DailySalt returns the salt of day (UTC), storing candidate if there is none.
func (db *DB) DailySalt(ctx context.Context, day time.Time, candidate []byte) ([]byte, error) {
	d := day.UTC().Format(time.DateOnly)
	// Two statements, so the SELECT's snapshot sees a salt a concurrent
	// process committed while the INSERT waited on it.
	if _, err := db.pool.Exec(ctx, `INSERT INTO visitor_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING`, d, candidate); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: daily salt: %w", err))
	}
	var salt []byte
	if err := db.pool.QueryRow(ctx, `SELECT salt FROM visitor_salts WHERE day = $1`, d).Scan(&salt); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: daily salt: %w", err))
	}
	return salt, nil
}

// DeleteSaltsBefore removes salts created before t.
func (db *DB) DeleteSaltsBefore(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM visitor_salts WHERE created_at < $1`, t)
	if err != nil {
		return 0, unavailable(fmt.Errorf("postgres: delete salts: %w", err))
	}
	return tag.RowsAffected(), nil
}
