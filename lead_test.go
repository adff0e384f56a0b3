package marketing_test

import (
	"testing"

	"github.com/altcontext/marketing"
)

func TestNextConsent(t *testing.T) {
	const (
		p, e, i, w = marketing.ConsentPending, marketing.ConsentExpress, marketing.ConsentImplied, marketing.ConsentWithdrawn
	)
	cases := []struct {
		current, requested string
		wording            bool
		want               string
	}{
		{"", "", false, p}, {"", i, false, i}, {"", e, true, e},
		{p, i, false, i}, {p, e, true, e}, {p, "", false, p},
		{i, p, false, i}, {i, "", false, i}, {i, e, true, e},
		{e, i, false, e}, {e, p, false, e}, {e, e, true, e},
		{w, p, false, w}, {w, i, false, w}, {w, "", false, w}, {w, e, false, w}, {w, e, true, w},
	}
	for _, c := range cases {
		if got := marketing.NextConsent(c.current, c.requested); got != c.want {
			t.Errorf("NextConsent(%q, %q, wording=%v) = %q, want %q", c.current, c.requested, c.wording, got, c.want)
		}
	}
}

func TestRecordConsent(t *testing.T) {
	cases := []struct {
		prev, requested, next, wording, last string
		want                                 bool
	}{
		{"", "pending", "pending", "", "", true},               // a new lead
		{"pending", "express", "express", "h1", "", true},      // a change
		{"express", "express", "express", "h1", "h1", false},   // same wording again
		{"express", "express", "express", "h2", "h1", true},    // new wording: new evidence
		{"implied", "implied", "implied", "", "", true},        // a new inquiry renews implied consent
		{"withdrawn", "implied", "withdrawn", "", "", false},   // ignored request
		{"withdrawn", "withdrawn", "withdrawn", "", "", false}, // a second unsubscribe
	}
	for _, c := range cases {
		if got := marketing.RecordConsent(c.prev, c.requested, c.next, c.wording, c.last); got != c.want {
			t.Errorf("RecordConsent(%+v) = %v, want %v", c, got, c.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		" Person@Example.COM ": "person@example.com",
		"a.b+tag@Exämple.com":  "a.b+tag@xn--exmple-cua.com",
		"not-an-email":         "",
		"a@b":                  "",
		"Name <a@b.com>":       "",
	} {
		got, ok := marketing.NormalizeEmail(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
