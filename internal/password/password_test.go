package password

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHashVerify(t *testing.T) {
	h := New(2)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoding %s", enc)
	}
	if again, _ := h.Hash(ctx, "correct horse battery staple"); again == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse battery staple": true, "correct horse battery stapl": false, "": false} {
		if ok, err := h.Verify(ctx, enc, pw); err != nil || ok != want {
			t.Errorf("verify %q: %v, %v", pw, ok, err)
		}
	}
	if ok, err := h.Verify(ctx, "", "dummy password for unknown accounts"); ok || err != nil {
		t.Fatalf("an unknown account verified: %v %v", ok, err)
	}
	if _, err := h.Verify(ctx, "$2a$10$bcrypt", "x"); err == nil {
		t.Fatal("a foreign hash was accepted")
	}
}

// TestAtMostTwoAtOnce: the hasher never runs more hashes than its slots.
func TestAtMostTwoAtOnce(t *testing.T) {
	h := New(2)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = h.acquire(context.Background())
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			running.Add(-1)
			h.release()
		}()
	}
	wg.Wait()
	if peak.Load() != 2 {
		t.Fatalf("peak concurrency %d, want 2", peak.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	_ = h.acquire(ctx)
	_ = h.acquire(ctx)
	cancel()
	if _, err := h.Hash(ctx, "waiting for a slot"); err == nil {
		t.Fatal("a hash ran past its slots")
	}
}

func TestValid(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "twelve chars": true, strings.Repeat("x", 257): false, "with\x00nul-char": false} {
		if (Valid(pw) == nil) != ok {
			t.Errorf("Valid(%q) = %v", pw, Valid(pw))
		}
	}
}
