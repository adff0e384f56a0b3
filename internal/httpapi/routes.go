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
	s.mux.Handle("GET /v1/leads/confirm", s.limited(classUnsubscribe, s.handleConfirmPage()))
	s.mux.Handle("POST /v1/leads/confirm", s.limited(classUnsubscribe, s.handleConfirm()))
	s.mux.Handle("POST /v1/leads/delete", s.limited(classDelete, s.adminOnly(s.handleLeadsDelete())))

	s.mux.Handle("GET /v1/metrics/summary", s.limited(classMetrics, s.adminOnly(s.handleMetricsSummary())))

	s.mux.Handle("GET /v1/admin/leads", s.limited(classDefault, s.adminOnly(s.handleAdminLeads())))
	s.mux.Handle("GET /v1/admin/leads/{id}", s.limited(classDefault, s.adminOnly(s.handleAdminLead())))
	s.mux.Handle("POST /v1/admin/leads/confirmations/resend", s.limited(classDefault, s.adminOnly(s.handleResendConfirmation())))

	s.mux.Handle("GET /v1/admin/webhooks", s.limited(classDefault, s.adminOnly(s.handleWebhooksList())))
	s.mux.Handle("POST /v1/admin/webhooks", s.limited(classDefault, s.adminOnly(s.handleWebhooksAdd())))
	s.mux.Handle("DELETE /v1/admin/webhooks/{id}", s.limited(classDefault, s.adminOnly(s.handleWebhooksRemove())))
	s.mux.Handle("GET /v1/admin/deliveries", s.limited(classDefault, s.adminOnly(s.handleDeliveries())))
	s.mux.Handle("GET /v1/admin/deliveries/{id}", s.limited(classDefault, s.adminOnly(s.handleDelivery())))
	s.mux.Handle("POST /v1/admin/deliveries/{id}/replay", s.limited(classDefault, s.adminOnly(s.handleReplay())))
	s.mux.Handle("POST /v1/admin/deliveries/replay", s.limited(classDefault, s.adminOnly(s.handleReplay())))
	s.mux.Handle("GET /v1/admin/privacy/export", s.limited(classDefault, s.adminOnly(s.handlePrivacyExport())))
}
