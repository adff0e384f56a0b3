package marketing

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestShareFilter: a shared link's filter is an object of the dashboard's
// filter keys, each a value or a list of values; anything else is refused.
func TestShareFilter(t *testing.T) {
	got, err := ShareFilter(`{"utm_campaign": "spring", "page": ["/b", "/a", "/b"]}`)
	if want := map[string][]string{"utm_campaign": {"spring"}, "page": {"/a", "/b"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ShareFilter = %v, %v; want %v", got, err, want)
	}
	if got := ShareFilterJSON(map[string][]string{"utm_campaign": {"spring"}, "page": {"/a", "/b"}}); got != `{"page":["/a","/b"],"utm_campaign":"spring"}` {
		t.Errorf("ShareFilterJSON = %s", got)
	}
	if got, err := ShareFilter(`{}`); err != nil || len(got) != 0 {
		t.Fatalf("empty object: %v, %v", got, err)
	}
	for _, bad := range []string{``, `null`, `[]`, `"page"`, `{"props": "x"}`, `{"page": 1}`, `{"page": []}`, `{"page": [1]}`, `{"page": {"a": 1}}`,
		`{"page": null}`, `{"page": [null]}`, `{"page": ["/a", null]}`, "{\"page\": \"\xff\"}",
		`{"page": "a\u0000b"}`, `{"page": "` + strings.Repeat("x", 1025) + `"}`, `{"page": [` + strings.Repeat(`"x",`, 20) + `"y"]}`} {
		if f, err := ShareFilter(bad); err == nil {
			t.Errorf("ShareFilter(%.60q) = %v, want an error", bad, f)
		}
	}
}

// TestSharedLinkJSON: a link's filter is written as the object it was
// given; a link without one has no filter field; secrets are never written.
func TestSharedLinkJSON(t *testing.T) {
	b, err := json.Marshal(&SharedLink{ID: "s1", SiteID: "a.example", Filter: `{"device":"desktop"}`, TokenHash: "tok", PasswordHash: "pw"})
	if err != nil || !strings.Contains(string(b), `"filter":{"device":"desktop"}`) || strings.Contains(string(b), "tok") || strings.Contains(string(b), "pw") {
		t.Fatalf("%s %v", b, err)
	}
	if b, _ := json.Marshal(SharedLink{ID: "s2"}); strings.Contains(string(b), "filter") {
		t.Fatalf("a link without a filter: %s", b)
	}
}
