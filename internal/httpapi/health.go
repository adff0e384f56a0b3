package httpapi

import (
	"context"
	"net/http"
	"time"
)

// handleHealthz touches nothing: it is Fly's liveness check.
func (s *server) handleHealthz() http.Handler {
	type answer struct {
		OK        bool   `json:"ok"`
		Service   string `json:"service"`
		Version   string `json:"version"`
		Timestamp string `json:"timestamp"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, answer{OK: true, Service: "marketing", Version: s.Version, Timestamp: s.Now().UTC().Format(time.RFC3339)})
	})
}

// handleReadyz pings the database and the ingest pipeline.
func (s *server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 1500*time.Millisecond)
		defer cancel()
		err := s.Store.Ping(ctx)
		if err == nil {
			err = s.Pipeline.Ready()
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}
