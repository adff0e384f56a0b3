// Package password hashes and verifies login passwords with argon2id at
// OWASP's parameters (m = 19 MiB, t = 2, p = 1), at most a few hashes at
// once so that a burst of logins cannot exhaust a small VM's memory.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// OWASP's argon2id parameters (Password Storage Cheat Sheet).
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// MinLength and MaxLength bound a password: long enough to resist
// guessing, short enough that hashing stays cheap to refuse.
const (
	MinLength = 12
	MaxLength = 256
)

// Hasher hashes passwords, at most its capacity at a time; a caller
// waits for a slot (or its context).
type Hasher struct {
	slots chan struct{}
	dummy string
}

// New returns a Hasher running at most concurrent hashes at once.
func New(concurrent int) *Hasher {
	h := &Hasher{slots: make(chan struct{}, concurrent)}
	h.dummy = h.encode(make([]byte, saltLen), []byte("dummy password for unknown accounts"))
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

func (h *Hasher) encode(salt, pw []byte) string {
	key := argon2.IDKey(pw, salt, passes, memoryKiB, lanes, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Hash returns the PHC string of password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	return h.encode(salt, []byte(password)), nil
}

// Verify reports whether password matches encoded. An empty encoded (an
// unknown account) is checked against a dummy hash, so that the answer
// takes as long whether the account exists or not, and is always false.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	known := encoded != ""
	if !known {
		encoded = h.dummy
	}
	var version, m, t int
	var p uint8
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("password: not an argon2id hash")
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("password: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 1 || m > 256*1024 || t < 1 || t > 16 || p < 1 {
		return false, fmt.Errorf("password: bad argon2 parameters")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, fmt.Errorf("password: bad argon2 encoding")
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1 && known, nil
}

// Valid checks a new password's length.
func Valid(password string) error {
	n := len([]rune(password))
	if n < MinLength || len(password) > MaxLength || strings.ContainsRune(password, 0) {
		return fmt.Errorf("a password must be %d to %d characters", MinLength, MaxLength)
	}
	return nil
}
