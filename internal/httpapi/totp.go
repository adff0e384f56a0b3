package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/twofactor"
)

// recoveryCodes is how many single-use codes a second factor comes with.
const recoveryCodes = 10

// secondFactor checks a TOTP code (never the same step twice) or spends a
// recovery code.
func (s *server) secondFactor(ctx context.Context, u *marketing.User, code string) (bool, error) {
	now := s.Now().UTC()
	if twofactor.IsRecoveryCode(code) {
		return s.Store.UseRecoveryCode(ctx, u.ID, twofactor.HashRecovery(code), now)
	}
	step, ok := twofactor.Check(u.TOTPSecret, code, now)
	if !ok {
		return false, nil
	}
	return s.Store.UseTOTPStep(ctx, u.ID, step)
}

// handleTOTPBegin is POST /v1/me/totp: a new pending secret and its
// otpauth:// URL (409 while a second factor is on).
func (s *server) handleTOTPBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := principalOf(r).user
		if u.TOTPEnabled {
			s.writeError(w, r, marketing.Errorf(marketing.ECONFLICT, "a second factor is on: disable it first"))
			return
		}
		secret, url, err := twofactor.New(u.Email)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.Store.SetTOTPSecret(r.Context(), u.ID, secret, s.Now().UTC().Truncate(time.Millisecond)); err != nil {
			s.storeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "secret": secret, "otpauthUrl": url})
	})
}

func (s *server) codeFromBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		Code string `json:"code"`
	}
	if !s.decodeJSON(w, r, &in) {
		return "", false
	}
	return in.Code, true
}

// handleTOTPConfirm is POST /v1/me/totp/confirm {code}: a code of the
// pending secret turns it on; the answer holds the recovery codes, once.
func (s *server) handleTOTPConfirm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := principalOf(r).user
		code, ok := s.codeFromBody(w, r)
		if !ok {
			return
		}
		if u.TOTPEnabled || u.TOTPSecret == "" {
			s.writeError(w, r, marketing.Errorf(marketing.ECONFLICT, "no pending second factor"))
			return
		}
		step, valid := twofactor.Check(u.TOTPSecret, code, s.Now())
		if !valid {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "code", Message: "is not the current code"}}})
			return
		}
		codes, hashes := twofactor.RecoveryCodes(recoveryCodes)
		now := s.Now().UTC().Truncate(time.Millisecond)
		if err := s.Store.EnableTOTP(r.Context(), u.ID, hashes, now); err != nil {
			s.storeError(w, r, err)
			return
		}
		if _, err := s.Store.UseTOTPStep(r.Context(), u.ID, step); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditUserTOTP, "user:"+u.ID, "", "enabled")
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "recoveryCodes": codes})
	})
}

// handleTOTPDisable is POST /v1/me/totp/disable {code}: a current code or
// a recovery code turns the second factor off.
func (s *server) handleTOTPDisable() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := principalOf(r).user
		code, ok := s.codeFromBody(w, r)
		if !ok {
			return
		}
		if !u.TOTPEnabled {
			s.writeError(w, r, marketing.Errorf(marketing.ECONFLICT, "no second factor"))
			return
		}
		if !s.allowKey(w, classLoginAccount, "totp|"+u.ID) {
			return
		}
		valid, err := s.secondFactor(r.Context(), u, code)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		if !valid {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "code", Message: "is not a current or recovery code"}}})
			return
		}
		if err := s.Store.DisableTOTP(r.Context(), u.ID, s.Now().UTC().Truncate(time.Millisecond)); err != nil {
			s.storeError(w, r, err)
			return
		}
		s.audit(r, marketing.AuditUserTOTP, "user:"+u.ID, "", "disabled")
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
}
