package marketing

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// idClock is the last millisecond NewID stamped and the counter it used.
var idClock struct {
	sync.Mutex
	ms      uint64
	counter uint16
}

// NewID returns a random UUID version 7: time-ordered, so new rows land at the
// end of primary-key indexes instead of splitting pages all over them.
//
// Invariant: two ids made in one process for the same millisecond sort in the
// order they were made (RFC 9562 §6.2, method 1: rand_a is a counter within a
// millisecond), so "ORDER BY started_at DESC, id DESC" lists same-millisecond
// rows newest first. An id for another millisecond (a backdated import, a test
// clock) takes fresh random bits and keeps its own timestamp.
func NewID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	// rand_a (12 bits): a random start below 2048 leaves room for 2048 ids in
	// the millisecond; past that the order within it is random again.
	counter := binary.BigEndian.Uint16(b[6:8]) & 0x07ff
	idClock.Lock()
	if ms == idClock.ms && idClock.counter < 0x0fff {
		counter = idClock.counter + 1
	}
	idClock.ms, idClock.counter = ms, counter
	idClock.Unlock()
	binary.BigEndian.PutUint16(b[6:8], 0x7000|counter)
	b[8] = 0x80 | (b[8] & 0x3f)
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// IsUUID reports whether s is a canonical hyphenated UUID (any version).
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
