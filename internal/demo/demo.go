// Package demo serves the example static site (examples/site) the way
// GitHub Pages would, on its own origin, with the backend's address filled
// into the pages. make demo and the browser test use it.
package demo

import (
	"bytes"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Placeholder in the example pages that stands for the backend's origin.
const Placeholder = "__MARKETING_API__"

// Handler serves dir, replacing Placeholder with api in HTML files.
func Handler(dir, api string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean(r.URL.Path)
		if p == "/" || !strings.Contains(path.Base(p), ".") {
			p = "/index.html" // SPA-style routes (/pricing) get the home page
		}
		if !strings.HasSuffix(p, ".html") {
			files.ServeHTTP(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(bytes.ReplaceAll(b, []byte(Placeholder), []byte(api)))
	})
}
