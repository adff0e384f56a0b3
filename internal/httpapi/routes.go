package httpapi

import "github.com/altcontext/marketing"

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
	s.mux.Handle("POST /v1/leads/delete", s.limited(classDelete, s.require(marketing.ScopeLeadsWrite, s.handleLeadsDelete())))

	s.mux.Handle("GET /v1/metrics/summary", s.limited(classMetrics, s.require(marketing.ScopeStatsRead, s.handleMetricsSummary())))
	s.mux.Handle("POST /v1/stats/query", s.limited(classStats, s.require(marketing.ScopeStatsRead, s.handleStatsQuery())))
	s.mux.Handle("GET /v1/stats/realtime", s.limited(classStats, s.require(marketing.ScopeStatsRead, s.handleStatsRealtime())))

	s.mux.Handle("GET /v1/admin/leads", s.limited(classDefault, s.require(marketing.ScopeLeadsRead, s.handleAdminLeads())))
	s.mux.Handle("GET /v1/admin/leads/{id}", s.limited(classDefault, s.require(marketing.ScopeLeadsRead, s.handleAdminLead())))
	s.mux.Handle("GET /v1/admin/privacy/export", s.limited(classDefault, s.require(marketing.ScopeLeadsRead, s.handlePrivacyExport())))

	s.mux.Handle("GET /v1/admin/sites", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleSitesList())))
	s.mux.Handle("POST /v1/admin/sites", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleSiteCreate())))
	s.mux.Handle("GET /v1/admin/sites/{id}", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleSiteGet())))
	s.mux.Handle("PATCH /v1/admin/sites/{id}", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleSiteUpdate())))
	s.mux.Handle("DELETE /v1/admin/sites/{id}", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleSiteDelete())))

	s.mux.Handle("GET /v1/admin/sites/{id}/shares", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleSharesList())))
	s.mux.Handle("POST /v1/admin/sites/{id}/shares", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleShareCreate())))
	s.mux.Handle("POST /v1/admin/shares/{id}/revoke", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleShareRevoke())))
	s.mux.Handle("GET /v1/shared/{token}/summary", s.limited(classMetrics, s.handleSharedSummary()))
	s.mux.Handle("POST /v1/shared/{token}/unlock", s.handleShareUnlock()) // limits itself, like logins

	s.mux.Handle("GET /v1/admin/keys", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleKeysList())))
	s.mux.Handle("POST /v1/admin/keys", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleKeyCreate())))
	s.mux.Handle("POST /v1/admin/keys/{id}/revoke", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleKeyRevoke())))

	s.mountDashboard() // every other path outside /v1/: internal/dashboard's routes.go

	s.mux.Handle("GET /login", s.limited(classDefault, s.handleLoginPage()))
	s.mux.Handle("POST /login", s.handleLogin()) // limits itself: per client IP and per account
	s.mux.Handle("POST /logout", s.limited(classDefault, s.sessionOnly(s.handleLogout())))
	s.mux.Handle("GET /v1/me", s.limited(classDefault, s.signedIn(s.handleMe())))
	s.mux.Handle("GET /v1/me/sessions", s.limited(classDefault, s.sessionOnly(s.handleMySessions())))
	s.mux.Handle("POST /v1/me/sessions/revoke-all", s.limited(classDefault, s.sessionOnly(s.handleRevokeAll())))
	s.mux.Handle("POST /v1/me/totp", s.limited(classDefault, s.sessionOnly(s.handleTOTPBegin())))
	s.mux.Handle("POST /v1/me/totp/confirm", s.limited(classDefault, s.sessionOnly(s.handleTOTPConfirm())))
	s.mux.Handle("POST /v1/me/totp/disable", s.limited(classDefault, s.sessionOnly(s.handleTOTPDisable())))

	s.mux.Handle("GET /v1/admin/users", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleUsersList())))
	s.mux.Handle("POST /v1/admin/users/{id}/role", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleUserRole())))

	s.mux.Handle("GET /v1/admin/audit", s.limited(classDefault, s.require(marketing.ScopeSitesAdmin, s.handleAuditList())))

	s.mux.Handle("POST /v1/admin/leads/confirmations/resend", s.limited(classDefault, s.require(marketing.ScopeLeadsWrite, s.handleResendConfirmation())))

	s.mux.Handle("GET /v1/admin/webhooks", s.limited(classDefault, s.require(marketing.ScopeLeadsWrite, s.handleWebhooksList())))
	s.mux.Handle("POST /v1/admin/webhooks", s.limited(classDefault, s.require(marketing.ScopeLeadsWrite, s.handleWebhooksAdd())))
	s.mux.Handle("DELETE /v1/admin/webhooks/{id}", s.limited(classDefault, s.require(marketing.ScopeLeadsWrite, s.handleWebhooksRemove())))
	s.mux.Handle("GET /v1/admin/deliveries", s.limited(classDefault, s.require(marketing.ScopeLeadsRead, s.handleDeliveries())))
	s.mux.Handle("GET /v1/admin/deliveries/{id}", s.limited(classDefault, s.require(marketing.ScopeLeadsRead, s.handleDelivery())))
	s.mux.Handle("POST /v1/admin/deliveries/{id}/replay", s.limited(classDefault, s.require(marketing.ScopeLeadsWrite, s.handleReplay())))
	s.mux.Handle("POST /v1/admin/deliveries/replay", s.limited(classDefault, s.require(marketing.ScopeLeadsWrite, s.handleReplay())))
}
