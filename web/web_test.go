package web_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/altcontext/marketing/web"
	"github.com/altcontext/marketing/web/jsmin"
)

func TestTrackerSize(t *testing.T) {
	a := web.NewAsset(web.TrackerJS)
	t.Logf("tracker.js: %d bytes, %d gzipped", len(a.Body), len(a.Gzip))
	if len(a.Gzip) > 2048 {
		t.Fatalf("tracker.js is %d bytes gzipped; the budget is 2048", len(a.Gzip))
	}
}

// TestTrackerIsCurrent fails when tracker.js was not regenerated after
// tracker.src.js changed (run go generate ./web).
func TestTrackerIsCurrent(t *testing.T) {
	src, err := os.ReadFile("tracker.src.js")
	if err != nil {
		t.Fatal(err)
	}
	want, err := jsmin.Minify(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, web.TrackerJS) {
		t.Fatal("web/tracker.js is stale: run go generate ./web")
	}
}
