package marketing_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/altcontext/marketing"
)

func TestParseLeadFilter(t *testing.T) {
	toronto, err := time.LoadLocation("America/Toronto")
	if err != nil {
		t.Skip("no zone database")
	}
	q := url.Values{"consentStatus": {"express"}, "source": {" newsletter "}, "campaign": {"spring"},
		"since": {"2026-03-01"}, "until": {"2026-03-31"}, "email": {" Ada@Example.COM "}}
	f, err := marketing.ParseLeadFilter(q.Get, toronto)
	if err != nil {
		t.Fatal(err)
	}
	if f.ConsentStatus != "express" || f.Source != "newsletter" || f.Campaign != "spring" || f.Email != "ada@example.com" {
		t.Errorf("filter %+v", f)
	}
	// Days in the zone given; until's day included.
	if want := time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC); !f.Since.Equal(want) {
		t.Errorf("since %v, want %v", f.Since, want)
	}
	if want := time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC); !f.Until.Equal(want) {
		t.Errorf("until %v, want %v", f.Until, want)
	}
	if f, err := marketing.ParseLeadFilter(url.Values{"email": {"AdA"}}.Get, nil); err != nil || f.Email != "ada" {
		t.Errorf("a prefix: %q, %v", f.Email, err)
	}
	for _, bad := range []url.Values{
		{"consentStatus": {"maybe"}},
		{"since": {"yesterday"}},
		{"since": {"2026-03-02"}, "until": {"2026-03-01"}},
		{"email": {"a b"}},
		{"campaign": {"x\x00"}},
	} {
		if _, err := marketing.ParseLeadFilter(bad.Get, nil); marketing.ErrorCode(err) != marketing.EINVALID {
			t.Errorf("%v: %v, want invalid", bad, err)
		}
	}
}
