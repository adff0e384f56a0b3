package ingest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/altcontext/marketing/internal/ingest"
)

func TestCountries(t *testing.T) {
	dir := t.TempDir()
	v4 := filepath.Join(dir, "v4.csv")
	v6 := filepath.Join(dir, "v6.csv")
	// Out of order on purpose: the loader sorts.
	if err := os.WriteFile(v4, []byte("203.0.113.0,203.0.113.255,CA\n1.0.0.0,1.0.0.255,au\n198.51.100.0,198.51.100.127,JP\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v6, []byte("2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,DE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ingest.LoadCountries(v4, v6)
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"1.0.0.0": "AU", "1.0.0.255": "AU", "1.0.1.0": "", "203.0.113.77": "CA", "198.51.100.127": "JP", "198.51.100.128": "",
		"0.0.0.1": "", "255.255.255.255": "", "::ffff:203.0.113.9": "CA", "2001:db8::1": "DE", "2001:db9::": "", "::1": "", "nonsense": "",
	} {
		if got := c.Lookup(ip); got != want {
			t.Errorf("Lookup(%s) = %q, want %q", ip, got, want)
		}
	}
	if c.Ranges() != 4 {
		t.Errorf("%d ranges", c.Ranges())
	}
	var none *ingest.Countries
	if none.Lookup("1.0.0.1") != "" {
		t.Error("no database must never guess")
	}
	bad := filepath.Join(dir, "bad.csv")
	_ = os.WriteFile(bad, []byte("1.0.0.0,1.0.0.255,AU\n1.0.0.0,zzz,AU\n"), 0o644)
	if _, err := ingest.LoadCountries(bad); err == nil {
		t.Error("a broken line was accepted")
	}
}
