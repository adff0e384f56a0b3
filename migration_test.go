package marketing_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestMigrationsMirror fails when the two dialects' migration folders drift:
// the same numbers and names on both sides.
func TestMigrationsMirror(t *testing.T) {
	names := func(dir string) []string {
		entries, err := os.ReadDir(filepath.Join("internal", dir, "migrations"))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	pg, lite := names("postgres"), names("sqlite")
	if len(pg) == 0 || !reflect.DeepEqual(pg, lite) {
		t.Fatalf("migrations differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
}
