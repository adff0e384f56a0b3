package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/altcontext/marketing"
)

// CreateUser stores a user and its roles.
func (db *DB) CreateUser(ctx context.Context, u *marketing.User) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.PasswordHash, ms(u.Created), ms(u.Updated)); err != nil {
			return false, err
		}
		for _, r := range u.Roles {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, site_id, role) VALUES (?, ?, ?)`, u.ID, r.SiteID, r.Role); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if isUnique(err) {
		return marketing.Errorf(marketing.ECONFLICT, "a user with this email exists")
	}
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: create user: %w", err))
	}
	return nil
}

// User returns a user by id.
func (db *DB) User(ctx context.Context, id string) (*marketing.User, error) {
	return db.oneUser(ctx, `id = ?`, id)
}

// UserByEmail returns a user by normalised email.
func (db *DB) UserByEmail(ctx context.Context, email string) (*marketing.User, error) {
	return db.oneUser(ctx, `email = ?`, email)
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
func (db *DB) Users(ctx context.Context) ([]marketing.User, error) { return db.users(ctx, `1 = ?`, 1) }

func (db *DB) users(ctx context.Context, where string, arg any) ([]marketing.User, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, email, password_hash, totp_secret, totp_enabled_at IS NOT NULL, created_at, updated_at
		FROM users WHERE `+where+` ORDER BY email`, arg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read users: %w", err))
	}
	defer rows.Close()
	out := []marketing.User{}
	index := map[string]int{}
	for rows.Next() {
		var u marketing.User
		var c, up int64
		if err := rows.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.TOTPSecret, &u.TOTPEnabled, &c, &up); err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: read users: %w", err))
		}
		u.Created, u.Updated, u.Roles = fromMS(c), fromMS(up), []marketing.SiteRole{}
		index[u.ID] = len(out)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read users: %w", err))
	}
	if len(out) == 0 {
		return out, nil
	}
	roles, err := db.read.QueryContext(ctx, `SELECT r.user_id, r.site_id, r.role FROM user_roles r JOIN users ON users.id = r.user_id
		WHERE `+where+` ORDER BY r.user_id, r.site_id`, arg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read roles: %w", err))
	}
	defer roles.Close()
	for roles.Next() {
		var uid string
		var r marketing.SiteRole
		if err := roles.Scan(&uid, &r.SiteID, &r.Role); err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: read roles: %w", err))
		}
		if i, ok := index[uid]; ok {
			out[i].Roles = append(out[i].Roles, r)
		}
	}
	return out, unavailable(roles.Err())
}

// DeleteUser removes a user with its roles and sessions.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: delete user: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such user")
	}
	return nil
}

// SetPassword replaces a password hash and ends the user's sessions.
func (db *DB) SetPassword(ctx context.Context, id, hash string, now time.Time) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, ms(now), id)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return false, marketing.Errorf(marketing.ENOTFOUND, "no such user")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM login_sessions WHERE user_id = ?`, id)
		return true, err
	})
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		return err
	}
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: set password: %w", err))
	}
	return nil
}

// SetRole gives or takes away a user's role on a site.
func (db *DB) SetRole(ctx context.Context, userID, siteID, role string, now time.Time) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE users SET updated_at = ? WHERE id = ?`, ms(now), userID)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return false, marketing.Errorf(marketing.ENOTFOUND, "no such user")
		}
		if role == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = ? AND site_id = ?`, userID, siteID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, site_id, role) VALUES (?, ?, ?)
				ON CONFLICT (user_id, site_id) DO UPDATE SET role = excluded.role`, userID, siteID, role)
		}
		return true, err
	})
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		return err
	}
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: set role: %w", err))
	}
	return nil
}

const loginSessionColumns = `id, token_hash, user_id, user_agent, created_at, last_seen_at, expires_at`

func scanLoginSession(r scanner) (*marketing.LoginSession, error) {
	s := &marketing.LoginSession{}
	var c, l, e int64
	if err := r.Scan(&s.ID, &s.TokenHash, &s.UserID, &s.UserAgent, &c, &l, &e); err != nil {
		return nil, err
	}
	s.Created, s.LastSeen, s.Expires = fromMS(c), fromMS(l), fromMS(e)
	return s, nil
}

// CreateLoginSession stores a new login session.
func (db *DB) CreateLoginSession(ctx context.Context, s *marketing.LoginSession) error {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO login_sessions (`+loginSessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.UserID, s.UserAgent, ms(s.Created), ms(s.LastSeen), ms(s.Expires)); err != nil {
		return unavailable(fmt.Errorf("sqlite: create login session: %w", err))
	}
	return nil
}

// LoginSession returns a session by token hash.
func (db *DB) LoginSession(ctx context.Context, tokenHash string) (*marketing.LoginSession, error) {
	s, err := scanLoginSession(db.read.QueryRowContext(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE token_hash = ?`, tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: read login session: %w", err))
	}
	return s, nil
}

// TouchLoginSession slides a session's expiry.
func (db *DB) TouchLoginSession(ctx context.Context, tokenHash string, lastSeen, expires time.Time) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE login_sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?`,
		ms(lastSeen), ms(expires), tokenHash); err != nil {
		return unavailable(fmt.Errorf("sqlite: touch login session: %w", err))
	}
	return nil
}

// DeleteLoginSession ends one session.
func (db *DB) DeleteLoginSession(ctx context.Context, tokenHash string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM login_sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return unavailable(fmt.Errorf("sqlite: delete login session: %w", err))
	}
	return nil
}

// DeleteLoginSessions ends every session of a user.
func (db *DB) DeleteLoginSessions(ctx context.Context, userID string) (int64, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM login_sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, unavailable(fmt.Errorf("sqlite: delete login sessions: %w", err))
	}
	return res.RowsAffected()
}

// LoginSessions lists a user's unexpired sessions, newest first.
func (db *DB) LoginSessions(ctx context.Context, userID string, now time.Time) ([]marketing.LoginSession, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE user_id = ? AND expires_at > ?
		ORDER BY created_at DESC, id DESC`, userID, ms(now))
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: list login sessions: %w", err))
	}
	defer rows.Close()
	out := []marketing.LoginSession{}
	for rows.Next() {
		s, err := scanLoginSession(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: list login sessions: %w", err))
		}
		out = append(out, *s)
	}
	return out, unavailable(rows.Err())
}

// SetTOTPSecret stores a pending second-factor secret.
func (db *DB) SetTOTPSecret(ctx context.Context, userID, secret string, now time.Time) error {
	return db.userExec(ctx, "set totp secret", `UPDATE users SET totp_secret = ?, totp_enabled_at = NULL, updated_at = ? WHERE id = ?`, secret, ms(now), userID)
}

func (db *DB) userExec(ctx context.Context, what, q string, args ...any) error {
	res, err := db.write.ExecContext(ctx, q, args...)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: %s: %w", what, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such user")
	}
	return nil
}

// EnableTOTP turns the pending secret on with fresh recovery codes.
func (db *DB) EnableTOTP(ctx context.Context, userID string, recoveryHashes []string, now time.Time) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_enabled_at = ?, updated_at = ? WHERE id = ? AND totp_secret <> ''`, ms(now), ms(now), userID)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return false, marketing.Errorf(marketing.ENOTFOUND, "no pending second factor")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_recovery_codes WHERE user_id = ?`, userID); err != nil {
			return false, err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_recovery_codes (user_id, code_hash) VALUES (?, ?)`, userID, h); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil && marketing.ErrorCode(err) == marketing.EINTERNAL {
		return unavailable(fmt.Errorf("sqlite: enable totp: %w", err))
	}
	return err
}

// DisableTOTP removes the second factor and its recovery codes.
func (db *DB) DisableTOTP(ctx context.Context, userID string, now time.Time) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = '', totp_enabled_at = NULL, totp_last_step = 0, updated_at = ? WHERE id = ?`, ms(now), userID)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return false, marketing.Errorf(marketing.ENOTFOUND, "no such user")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM user_recovery_codes WHERE user_id = ?`, userID)
		return true, err
	})
	if err != nil && marketing.ErrorCode(err) == marketing.EINTERNAL {
		return unavailable(fmt.Errorf("sqlite: disable totp: %w", err))
	}
	return err
}

// UseTOTPStep records a code's time step unless it or a later one was used.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res, err := db.write.ExecContext(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, userID, step)
	if err != nil {
		return false, unavailable(fmt.Errorf("sqlite: use totp step: %w", err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UseRecoveryCode spends a recovery code.
func (db *DB) UseRecoveryCode(ctx context.Context, userID, codeHash string, now time.Time) (bool, error) {
	res, err := db.write.ExecContext(ctx, `UPDATE user_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`, ms(now), userID, codeHash)
	if err != nil {
		return false, unavailable(fmt.Errorf("sqlite: use recovery code: %w", err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
