package httpapi

import (
	"net/http"
	"slices"

	"github.com/altcontext/marketing/web"
)

// handleTracker serves the embedded tracker with a strong ETag, an hour of
// caching (a new release reaches pages within the hour) and gzip when the
// browser takes it.
func (s *server) handleTracker() http.Handler {
	a := web.NewAsset(web.TrackerJS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		// Origin always (cors added it when the request had one): a cached
		// copy fetched without Origin must not answer a request with one.
		if !slices.Contains(h.Values("Vary"), "Origin") {
			h.Add("Vary", "Origin")
		}
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		a.Serve(w, r)
	})
}
