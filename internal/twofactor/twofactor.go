// Package twofactor is the optional second factor of logins: TOTP codes
// (RFC 6238, with github.com/pquerna/otp) accepted one step either side
// of now and never twice, and single-use recovery codes.
package twofactor

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/altcontext/marketing"
)

// Issuer names the service in authenticator apps.
const Issuer = "marketing"

const period = 30 // seconds: the apps' default

// New makes a secret for account and the otpauth:// URL an authenticator
// app reads (typed in, or as a QR code the dashboard draws).
func New(account string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: account, Period: period})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// Check returns the time step a code is valid for at now (one step either
// side, for clocks that drift), or false. The caller records the step so
// that no code counts twice.
func Check(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / period
	for d := int64(-1); d <= 1; d++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+d)*period, 0), totp.ValidateOpts{Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, true
		}
	}
	return 0, false
}

// Code is the current code of secret: for tests and the CLI's checks.
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// RecoveryCodes makes n single-use codes (64 random bits each, shown as
// xxxx-xxxx-xxxx-xxxx) and their hashes to store.
func RecoveryCodes(n int) (codes, hashes []string) {
	for range n {
		var b [8]byte
		_, _ = rand.Read(b[:])
		h := hex.EncodeToString(b[:])
		c := h[0:4] + "-" + h[4:8] + "-" + h[8:12] + "-" + h[12:16]
		codes = append(codes, c)
		hashes = append(hashes, HashRecovery(c))
	}
	return codes, hashes
}

// HashRecovery is the stored form of a recovery code as a person types it
// (case, spaces and dashes do not matter).
func HashRecovery(code string) string {
	c := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	return marketing.HashSecret("recovery\x00" + c)
}

// IsRecoveryCode tells a recovery code from a TOTP code by its shape.
func IsRecoveryCode(code string) bool { return len(strings.TrimSpace(code)) > 6 }
