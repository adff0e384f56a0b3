package dashboard_test

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/altcontext/marketing/internal/dashboard"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		metric string
		v      any
		want   string
	}{
		{"visitors", int64(950), "950"},
		{"visitors", 12345.0, "12.3k"},
		{"visitors", 9999.0, "9999"},
		{"pageviews", 4_560_000.0, "4.6M"},
		{"visitors", nil, "—"},
		{"visit_duration", 245.0, "4m 05s"},
		{"visit_duration", 45.0, "45s"},
		{"visit_duration", 3725.0, "1h 02m"},
		{"bounce_rate", 42.0, "42%"},
		{"conversion_rate", 3.25, "3.25%"},
		{"views_per_visit", 1.5, "1.50"},
		{"lcp", 850.0, "850 ms"},
		{"lcp", 2400.0, "2.40 s"},
		{"cls", 0.1, "0.100"},
		{"lcp_good", 66.7, "66.7%"},
	} {
		if got := dashboard.FormatMetric(c.metric, c.v); got != c.want {
			t.Errorf("FormatMetric(%s, %v) = %q, want %q", c.metric, c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		metric string
		v      any
		want   string
	}{
		{"visitors", 12.4, "+12%"}, {"visitors", -50.0, "−50%"}, {"bounce_rate", -3.0, "−3 pts"}, {"visitors", nil, ""}, {"visitors", 0.0, "+0%"},
	} {
		if got := dashboard.FormatChange(c.metric, c.v); got != c.want {
			t.Errorf("FormatChange(%s, %v) = %q, want %q", c.metric, c.v, got, c.want)
		}
	}
}

// TestState: the URL holds the whole view and comes back the same; what
// is unknown is dropped.
func TestState(t *testing.T) {
	q, _ := url.ParseQuery("period=custom&from=2026-03-01&to=2026-03-10&compare=year_over_year&f=page:is:/a&f=page:is:/b:c&f=source:is_not:x.com&f=bogus:is:x&f=page:matches:.*&metric=bounce_rate&interval=week&junk=1")
	st := dashboard.ParseState(q)
	want := []dashboard.Filter{{Key: "page", Op: "is", Values: []string{"/a", "/b:c"}}, {Key: "source", Op: "is_not", Values: []string{"x.com"}}}
	if !reflect.DeepEqual(st.Filters, want) || st.Period != "custom" || st.Compare != "year_over_year" || st.Metric != "bounce_rate" || st.Interval != "week" {
		t.Fatalf("state %+v", st)
	}
	again := dashboard.ParseState(st.Values())
	if !reflect.DeepEqual(again, st) {
		t.Fatalf("round trip %+v, want %+v", again, st)
	}
	body := st.TopBody("s")
	if !reflect.DeepEqual(body["date_range"], []string{"2026-03-01", "2026-03-10"}) ||
		!reflect.DeepEqual(body["filters"], []any{[]any{"is", "event:page", []string{"/a", "/b:c"}}, []any{"is_not", "visit:source", []string{"x.com"}}}) {
		t.Fatalf("body %v", body)
	}
	if d := dashboard.ParseState(url.Values{"period": {"custom"}, "from": {"2026-03-10"}, "to": {"2026-03-01"}}); d.Period != "30d" {
		t.Fatalf("a reversed custom range kept: %+v", d)
	}
	if st.WithoutFilter(0) != "?compare=year_over_year&f=source%3Ais_not%3Ax.com&from=2026-03-01&interval=week&metric=bounce_rate&period=custom&to=2026-03-10" {
		t.Fatalf("without filter: %s", st.WithoutFilter(0))
	}
}

func TestSafeNext(t *testing.T) {
	for p, ok := range map[string]bool{"/": true, "/sites/a?period=7d": true, "//evil.example": false, "https://evil.example": false,
		"/\\evil": false, "": false, "/v1/me": false, "javascript:alert(1)": false} {
		if dashboard.SafeNext(p) != ok {
			t.Errorf("SafeNext(%q) = %v", p, !ok)
		}
	}
}

// TestJavaScriptBudget: all the dashboard's JavaScript together stays
// within 40 KB gzipped (the budget).
func TestJavaScriptBudget(t *testing.T) {
	var total, raw int
	err := filepath.WalkDir("assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		_, _ = w.Write(b)
		_ = w.Close()
		t.Logf("%s: %d bytes, %d gzipped", p, len(b), z.Len())
		total += z.Len()
		raw += len(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all JavaScript: %d bytes, %d gzipped", raw, total)
	if total > 40<<10 {
		t.Fatalf("%d bytes of JavaScript gzipped; the budget is 40 KB", total)
	}
}
