package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/altcontext/marketing"
)

// CreateUser stores a user and its roles.
func (db *DB) CreateUser(ctx context.Context, u *marketing.User) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
			u.ID, u.Email, u.PasswordHash, u.Created, u.Updated); err != nil {
			return err
		}
		for _, r := range u.Roles {
			if _, err := tx.Exec(ctx, `INSERT INTO user_roles (user_id, site_id, role) VALUES ($1, $2, $3)`, u.ID, r.SiteID, r.Role); err != nil {
				return err
			}
		}
		return nil
	})
	if isUnique(err) {
		return marketing.Errorf(marketing.ECONFLICT, "a user with this email exists")
	}
	if err != nil {
		return unavailable(fmt.Errorf("postgres: create user: %w", err))
	}
	return nil
}

// User returns a user by id.
func (db *DB) User(ctx context.Context, id string) (*marketing.User, error) {
	return db.oneUser(ctx, `u.id = $1`, id)
}

// UserByEmail returns a user by normalised email.
func (db *DB) UserByEmail(ctx context.Context, email string) (*marketing.User, error) {
	return db.oneUser(ctx, `u.email = $1`, email)
}

func (db *DB) oneUser(ctx context.Context, where string, arg any) (*marketing.User, error) {
	users, err := db.users(ctx, where, arg)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such user")
	}
	return &users[0], nil
}

// Users lists every user, by email.
func (db *DB) Users(ctx context.Context) ([]marketing.User, error) {
	return db.users(ctx, `$1::int = 1`, 1)
}

func (db *DB) users(ctx context.Context, where string, arg any) ([]marketing.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT u.id, u.email, u.password_hash, u.totp_secret, u.totp_enabled_at IS NOT NULL, u.created_at, u.updated_at,
			coalesce((SELECT array_agg(r.site_id ORDER BY r.site_id) FROM user_roles r WHERE r.user_id = u.id), '{}'),
			coalesce((SELECT array_agg(r.role ORDER BY r.site_id) FROM user_roles r WHERE r.user_id = u.id), '{}')
		FROM users u WHERE `+where+` ORDER BY u.email`, arg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read users: %w", err))
	}
	out := []marketing.User{}
	var u marketing.User
	var sites, roles []string
	if _, err := pgx.ForEachRow(rows, []any{&u.ID, &u.Email, &u.PasswordHash, &u.TOTPSecret, &u.TOTPEnabled, &u.Created, &u.Updated, &sites, &roles}, func() error {
		u.Created, u.Updated, u.Roles = u.Created.UTC(), u.Updated.UTC(), []marketing.SiteRole{}
		for i := range sites {
			u.Roles = append(u.Roles, marketing.SiteRole{SiteID: sites[i], Role: roles[i]})
		}
		out = append(out, u)
		return nil
	}); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read users: %w", err))
	}
	return out, nil
}

// DeleteUser removes a user with its roles and sessions.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: delete user: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such user")
	}
	return nil
}

// SetPassword replaces a password hash and ends the user's sessions.
func (db *DB) SetPassword(ctx context.Context, id, hash string, now time.Time) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, hash, now, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return marketing.Errorf(marketing.ENOTFOUND, "no such user")
		}
		_, err = tx.Exec(ctx, `DELETE FROM login_sessions WHERE user_id = $1`, id)
		return err
	})
	if err != nil && marketing.ErrorCode(err) == marketing.EINTERNAL {
		return unavailable(fmt.Errorf("postgres: set password: %w", err))
	}
	return err
}

// SetRole gives or takes away a user's role on a site.
func (db *DB) SetRole(ctx context.Context, userID, siteID, role string, now time.Time) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET updated_at = $1 WHERE id = $2`, now, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return marketing.Errorf(marketing.ENOTFOUND, "no such user")
		}
		if role == "" {
			_, err = tx.Exec(ctx, `DELETE FROM user_roles WHERE user_id = $1 AND site_id = $2`, userID, siteID)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO user_roles (user_id, site_id, role) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, site_id) DO UPDATE SET role = excluded.role`, userID, siteID, role)
		}
		return err
	})
	if err != nil && marketing.ErrorCode(err) == marketing.EINTERNAL {
		return unavailable(fmt.Errorf("postgres: set role: %w", err))
	}
	return err
}

const loginSessionColumns = `id, token_hash, user_id, user_agent, created_at, last_seen_at, expires_at`

func scanLoginSession(r pgx.Row) (*marketing.LoginSession, error) {
	s := &marketing.LoginSession{}
	if err := r.Scan(&s.ID, &s.TokenHash, &s.UserID, &s.UserAgent, &s.Created, &s.LastSeen, &s.Expires); err != nil {
		return nil, err
	}
	s.Created, s.LastSeen, s.Expires = s.Created.UTC(), s.LastSeen.UTC(), s.Expires.UTC()
	return s, nil
}

// CreateLoginSession stores a new login session.
func (db *DB) CreateLoginSession(ctx context.Context, s *marketing.LoginSession) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO login_sessions (`+loginSessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.ID, s.TokenHash, s.UserID, s.UserAgent, s.Created, s.LastSeen, s.Expires); err != nil {
		return unavailable(fmt.Errorf("postgres: create login session: %w", err))
	}
	return nil
}

// LoginSession returns a session by token hash.
func (db *DB) LoginSession(ctx context.Context, tokenHash string) (*marketing.LoginSession, error) {
	s, err := scanLoginSession(db.pool.QueryRow(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE token_hash = $1`, tokenHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read login session: %w", err))
	}
	return s, nil
}

// TouchLoginSession slides a session's expiry.
func (db *DB) TouchLoginSession(ctx context.Context, tokenHash string, lastSeen, expires time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE login_sessions SET last_seen_at = $1, expires_at = $2 WHERE token_hash = $3`,
		lastSeen, expires, tokenHash); err != nil {
		return unavailable(fmt.Errorf("postgres: touch login session: %w", err))
	}
	return nil
}

// DeleteLoginSession ends one session.
func (db *DB) DeleteLoginSession(ctx context.Context, tokenHash string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM login_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return unavailable(fmt.Errorf("postgres: delete login session: %w", err))
	}
	return nil
}

// DeleteLoginSessions ends every session of a user.
func (db *DB) DeleteLoginSessions(ctx context.Context, userID string) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM login_sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, unavailable(fmt.Errorf("postgres: delete login sessions: %w", err))
	}
	return tag.RowsAffected(), nil
}

// LoginSessions lists a user's unexpired sessions, newest first.
func (db *DB) LoginSessions(ctx context.Context, userID string, now time.Time) ([]marketing.LoginSession, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE user_id = $1 AND expires_at > $2
		ORDER BY created_at DESC, id DESC`, userID, now)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list login sessions: %w", err))
	}
	defer rows.Close()
	out := []marketing.LoginSession{}
	for rows.Next() {
		s, err := scanLoginSession(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("postgres: list login sessions: %w", err))
		}
		out = append(out, *s)
	}
	return out, unavailable(rows.Err())
}

// SetTOTPSecret stores a pending second-factor secret.
func (db *DB) SetTOTPSecret(ctx context.Context, userID, secret string, now time.Time) error {
	return db.userExec(ctx, "set totp secret", `UPDATE users SET totp_secret = $1, totp_enabled_at = NULL, updated_at = $2 WHERE id = $3`, secret, now, userID)
}

func (db *DB) userExec(ctx context.Context, what, q string, args ...any) error {
	tag, err := db.pool.Exec(ctx, q, args...)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: %s: %w", what, err))
	}
	if tag.RowsAffected() == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such user")
	}
	return nil
}

// EnableTOTP turns the pending secret on with fresh recovery codes.
func (db *DB) EnableTOTP(ctx context.Context, userID string, recoveryHashes []string, now time.Time) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET totp_enabled_at = $1, updated_at = $1 WHERE id = $2 AND totp_secret <> ''`, now, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return marketing.Errorf(marketing.ENOTFOUND, "no pending second factor")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.Exec(ctx, `INSERT INTO user_recovery_codes (user_id, code_hash) VALUES ($1, $2)`, userID, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && marketing.ErrorCode(err) == marketing.EINTERNAL {
		return unavailable(fmt.Errorf("postgres: enable totp: %w", err))
	}
	return err
}

// DisableTOTP removes the second factor and its recovery codes.
func (db *DB) DisableTOTP(ctx context.Context, userID string, now time.Time) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET totp_secret = '', totp_enabled_at = NULL, totp_last_step = 0, updated_at = $1 WHERE id = $2`, now, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return marketing.Errorf(marketing.ENOTFOUND, "no such user")
		}
		_, err = tx.Exec(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	if err != nil && marketing.ErrorCode(err) == marketing.EINTERNAL {
		return unavailable(fmt.Errorf("postgres: disable totp: %w", err))
	}
	return err
}

// UseTOTPStep records a code's time step unless it or a later one was used.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID)
	if err != nil {
		return false, unavailable(fmt.Errorf("postgres: use totp step: %w", err))
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode spends a recovery code.
func (db *DB) UseRecoveryCode(ctx context.Context, userID, codeHash string, now time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE user_recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`, now, userID, codeHash)
	if err != nil {
		return false, unavailable(fmt.Errorf("postgres: use recovery code: %w", err))
	}
	return tag.RowsAffected() == 1, nil
}
