package marketing_test

import (
	"strings"
	"testing"

	"github.com/altcontext/marketing"
)

func FuzzDecodeEvents(f *testing.F) {
	for _, s := range []string{
		`{"anonId":"visitor-0001","eventType":"page_view","path":"/"}`,
		`[{"eventType":"a","path":"/"}]`,
		`{"events":[{"eventType":"a","url":"https://x.test/?utm_source=g"}]}`,
		`{"eventType":"a","path":"/","timestamp":1700000000000,"traffic":{"webVitals":{"clsScore":"0.1"}},"props":{"a":1,"b":"x","c":true}}`,
		`{"eventType":"a","path":"/","timestamp":"nope","utm":[],"traffic":7}`,
		`[]`, `{}`, `null`, `"`, `{"events":null}`, `[[[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _, err := marketing.DecodeEvents(b)
		if err != nil {
			if marketing.ErrorCode(err) != marketing.EINVALID {
				t.Fatalf("error code %q for %q", marketing.ErrorCode(err), b)
			}
			return
		}
		if len(evs) == 0 || len(evs) > marketing.MaxEventsPerRequest {
			t.Fatalf("%d events accepted", len(evs))
		}
		for _, e := range evs {
			if e.EventType == "" || e.Path == "" || len(e.Props) > marketing.MaxPropsKeys {
				t.Fatalf("accepted an invalid event: %+v", e)
			}
		}
	})
}

func TestDecodeEventsIssues(t *testing.T) {
	_, _, err := marketing.DecodeEvents([]byte(`{"anonId":"short","path":"/","traffic":{"deviceType":"phone","scrollDepthPercent":130},"props":{"k":{"x":1}}}`))
	v, ok := err.(*marketing.ValidationError)
	if !ok {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	var paths []string
	for _, is := range v.Issues {
		paths = append(paths, is.Path)
	}
	got := strings.Join(paths, ",")
	for _, p := range []string{"anonId", "eventType", "traffic.deviceType", "traffic.scrollDepthPercent", "props.k"} {
		if !strings.Contains(got, p) {
			t.Errorf("no issue at %s (got %s)", p, got)
		}
	}
}
