package twofactor

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	secret, url, err := New("owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/marketing:owner@example.com?") || !strings.Contains(url, "secret="+secret) {
		t.Fatalf("url %s", url)
	}
	now := time.Unix(1_800_000_015, 0)
	code, _ := Code(secret, now)
	step, ok := Check(secret, code, now)
	if !ok || step != now.Unix()/30 {
		t.Fatalf("current code: %d %v", step, ok)
	}
	if _, ok := Check(secret, code, now.Add(30*time.Second)); !ok {
		t.Fatal("a code one step old was refused")
	}
	if _, ok := Check(secret, code, now.Add(90*time.Second)); ok {
		t.Fatal("a code three steps old was accepted")
	}
	if _, ok := Check(secret, "12345", now); ok {
		t.Fatal("a short code was accepted")
	}
	other, _, _ := New("x@example.com")
	if _, ok := Check(other, code, now); ok {
		t.Fatal("another secret's code was accepted")
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := RecoveryCodes(10)
	if len(codes) != 10 || len(hashes) != 10 || len(codes[0]) != 19 {
		t.Fatalf("codes %v", codes)
	}
	if HashRecovery(strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))) != hashes[3] {
		t.Fatal("a code typed differently does not match")
	}
	if codes[0] == codes[1] || !IsRecoveryCode(codes[0]) || IsRecoveryCode("123456") {
		t.Fatal("codes are not random or not told apart")
	}
}
