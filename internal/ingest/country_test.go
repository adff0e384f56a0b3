package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/ingest"
	"github.com/altcontext/marketing/internal/sqlite"
)

// countryCSV is a few rows in DB-IP's "IP to Country Lite" CSV layout.
const countryCSV = `1.0.0.0,1.0.0.255,AU
1.0.1.0,1.0.3.255,CN
24.48.0.0,24.48.127.255,CA
2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,CA
2001:db8:1::,2001:db8:1:ffff:ffff:ffff:ffff:ffff,ZZ
`

func TestCountriesLookup(t *testing.T) {
	c, err := ingest.ReadCountries(strings.NewReader(countryCSV))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"1.0.0.0": "AU", "1.0.0.255": "AU", "1.0.1.0": "CN", "1.0.2.7": "CN", "1.0.3.255": "CN", "1.0.4.0": "",
		"24.48.10.1": "CA", "0.255.255.255": "", "255.255.255.255": "",
		"::ffff:24.48.10.1": "CA", "2001:db8::1": "CA", "2001:db8:0:ffff::1": "CA", "2001:db8:1::1": "", "2001:db9::": "", "::1": "",
		"not an address": "", "": "",
	} {
		if got := c.Lookup(ip); got != want {
			t.Errorf("Lookup(%q) = %q, want %q", ip, got, want)
		}
	}
	for name, bad := range map[string]string{
		"short row": "1.0.0.0,1.0.0.255\n", "bad address": "1.0.0.x,1.0.0.255,AU\n", "reversed": "1.0.0.9,1.0.0.1,AU\n",
		"mixed families": "1.0.0.0,2001:db8::,AU\n", "long code": "1.0.0.0,1.0.0.9,AUS\n", "overlap": "1.0.0.0,1.0.0.9,AU\n1.0.0.5,1.0.0.20,NZ\n",
	} {
		if _, err := ingest.ReadCountries(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestPipelineCountry: with a database the stored country is the address's,
// whatever the client claims; without one it is the client's claim.
func TestPipelineCountry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "countries.csv")
	if err := os.WriteFile(path, []byte(countryCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ingest.LoadCountries(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		countries *ingest.Countries
		want      string
	}{{c, "CA"}, {nil, "FR"}} {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		p := ingest.New(ingest.Options{Store: db, Pepper: []byte("pepper-pepper-pepper-pepper-pepper"), DefaultProperty: "default",
			Rules: marketing.SessionRules{Inactivity: 30 * 60e9}, Writer: ingest.WriterOptions{QueueSize: 16, MaxBatch: 16, Workers: 1},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Countries: tc.countries})
		in := marketing.EventInput{AnonID: "visitor-country-1", EventType: "page_view", Path: "/"}
		in.Traffic.CountryCode = "FR"
		if _, err := p.Events(context.Background(), ingest.Request{IP: "24.48.10.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
			[]marketing.EventInput{in}); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := db.SQL().QueryRow(`SELECT coalesce(country_code, '') FROM events`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("country %q, want %q", got, tc.want)
		}
		_ = p.Close(context.Background())
		_ = db.Close()
	}
}
