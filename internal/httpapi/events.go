package httpapi

import (
	"net/http"
	"strings"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/ingest"
)

// handleEvents is POST /v1/events (SPEC §3.3). It answers 202 only once the
// events are committed.
func (s *server) handleEvents() http.Handler {
	type single struct {
		OK bool `json:"ok"`
		marketing.EventResult
	}
	type many struct {
		OK     bool                    `json:"ok"`
		Events []marketing.EventResult `json:"events"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if !s.allow(w, r, classEvents) {
			s.Pipeline.Reject(s.Pipeline.PropertyOf("", origin), ingest.EndpointEvents, marketing.ReasonRateLimited)
			return
		}
		body, _, ok := readBody(w, r, limitEvents, false)
		if !ok {
			return
		}
		inputs, batch, err := marketing.DecodeEvents(body)
		if err != nil {
			s.Pipeline.Reject(s.Pipeline.PropertyOf("", origin), ingest.EndpointEvents, marketing.ReasonInvalid)
			s.writeError(w, r, err)
			return
		}
		// A server-side sender may present a key: then it must hold
		// events:write on every property it writes to. Browsers send no
		// Authorization header, so the beacon path never gets here.
		if r.Header.Get("Authorization") != "" {
			p := s.authenticate(w, r)
			if p == nil {
				return
			}
			for i := range inputs {
				if !p.can(marketing.ScopeEventsWrite, s.Pipeline.PropertyOf(inputs[i].Traffic.PropertyID, origin)) {
					writeProblem(w, http.StatusForbidden, "forbidden", nil)
					return
				}
			}
		}
		out, err := s.Pipeline.Events(r.Context(), ingest.Request{
			IP: s.clientIP(r), UserAgent: r.UserAgent(), Origin: origin,
			GPC: strings.TrimSpace(r.Header.Get("Sec-GPC")) == "1",
		}, inputs)
		switch {
		case err != nil:
			s.writeError(w, r, err)
		case batch:
			res := out.Results
			if res == nil {
				res = []marketing.EventResult{}
			}
			writeJSON(w, http.StatusAccepted, many{OK: true, Events: res})
		case out.Dropped != "":
			writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
		default:
			writeJSON(w, http.StatusAccepted, single{OK: true, EventResult: out.Results[0]})
		}
	})
}
