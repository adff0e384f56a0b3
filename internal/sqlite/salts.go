package sqlite

import (
	"context"
	"fmt"
	"time"
)

// DailySalt returns the salt of day (UTC), storing candidate if there is none.
func (db *DB) DailySalt(ctx context.Context, day time.Time, candidate []byte) ([]byte, error) {
	d := day.UTC().Format(time.DateOnly)
	if _, err := db.write.ExecContext(ctx, `INSERT INTO visitor_salts (day, salt, created_at) VALUES (?, ?, ?) ON CONFLICT (day) DO NOTHING`, d, candidate, ms(time.Now())); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: daily salt: %w", err))
	}
	var salt []byte
	if err := db.read.QueryRowContext(ctx, `SELECT salt FROM visitor_salts WHERE day = ?`, d).Scan(&salt); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: daily salt: %w", err))
	}
	return salt, nil
}

// DeleteSaltsBefore removes salts created before t.
func (db *DB) DeleteSaltsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM visitor_salts WHERE created_at < ?`, ms(t))
	if err != nil {
		return 0, unavailable(fmt.Errorf("sqlite: delete salts: %w", err))
	}
	return res.RowsAffected()
}
