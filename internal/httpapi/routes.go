package httpapi

// routes lists the whole API surface.
func (s *server) routes() {
	s.mux.Handle("GET /v1/healthz", s.limited(classDefault, s.handleHealthz()))
	s.mux.Handle("GET /v1/readyz", s.limited(classDefault, s.handleReadyz()))
	s.mux.Handle("GET /v1/privacy", s.limited(classDefault, s.handlePrivacy()))
	s.mux.Handle("POST /v1/events", s.handleEvents())
	s.mux.Handle("GET /v1/tracker.js", s.handleTracker()) // static and cached: not rate limited

	s.mux.Handle("POST /v1/leads/capture", s.handleLeadsCapture()) // limits itself: honeypots are never limited
	s.mux.Handle("GET /v1/leads/thanks", s.limited(classDefault, s.handleLeadsThanks()))
	s.mux.Handle("GET /v1/leads/unsubscribe", s.limited(classUnsubscribe, s.handleUnsubscribePage()))
	s.mux.Handle("POST /v1/leads/unsubscribe", s.handleUnsubscribe()) // limits itself: a valid token per lead, the rest per IP
	s.mux.Handle("POST /v1/leads/delete", s.limited(classDelete, s.adminOnly(s.handleLeadsDelete())))

	s.mux.Handle("GET /v1/metrics/summary", s.limited(classMetrics, s.adminOnly(s.handleMetricsSummary())))
	s.mux.Handle("POST /v1/stats/query", s.limited(classStats, s.adminOnly(s.handleStatsQuery())))
	s.mux.Handle("GET /v1/stats/realtime", s.limited(classStats, s.adminOnly(s.handleStatsRealtime())))

	s.mux.Handle("GET /v1/admin/leads", s.limited(classDefault, s.adminOnly(s.handleAdminLeads())))
	s.mux.Handle("GET /v1/admin/leads/{id}", s.limited(classDefault, s.adminOnly(s.handleAdminLead())))
	s.mux.Handle("GET /v1/admin/privacy/export", s.limited(classDefault, s.adminOnly(s.handlePrivacyExport())))
}
