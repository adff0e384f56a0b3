package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/delivery"
)

// handleConfirmPage is GET /v1/leads/confirm: a page whose button POSTs,
// so a mail scanner that prefetches the link confirms nothing.
func (s *server) handleConfirmPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if _, ok := marketing.VerifyConfirmToken(s.UnsubscribeSecret, token); !ok {
			writePage(w, http.StatusBadRequest, page{Title: "This link is not valid", Message: "Nothing was changed. Please use the link from your most recent email, or sign up again."})
			return
		}
		writePage(w, http.StatusOK, page{Title: "Confirm your subscription", Message: "Press the button to confirm that you want to receive our emails.", ConfirmToken: token})
	})
}

// handleConfirm is POST /v1/leads/confirm: records express consent by
// double opt-in. An invalid, expired or purged link changes nothing.
func (s *server) handleConfirm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, kind, ok := readBody(w, r, limitDefault, true)
		if !ok {
			return
		}
		var token string
		if kind == bodyForm {
			v, _ := url.ParseQuery(string(body))
			token = v.Get("token")
		} else {
			var j struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(body, &j)
			token = j.Token
		}
		id, valid := marketing.VerifyConfirmToken(s.UnsubscribeSecret, token)
		if !valid {
			writePage(w, http.StatusBadRequest, page{Title: "This link is not valid", Message: "Nothing was changed."})
			return
		}
		err := s.Store.ConfirmOptIn(r.Context(), marketing.ConfirmRequest{ID: id, IPHash: s.Pipeline.Hash(s.clientIP(r)), Now: s.Now().UTC()})
		if marketing.ErrorCode(err) == marketing.ENOTFOUND {
			writePage(w, http.StatusGone, page{Title: "This link has expired", Message: "Nothing was changed. Confirmation links work for 7 days: please sign up again."})
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.leadChanged()
		writePage(w, http.StatusOK, page{Title: "Thank you", Message: "Your subscription is confirmed."})
	})
}

// handleResendConfirmation is POST /v1/admin/leads/confirmations/resend
// (admin) {"email"}: the latest open request's email, again.
func (s *server) handleResendConfirmation() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		email, ok := s.emailFromBody(w, r)
		if !ok {
			return
		}
		if err := s.Store.ResendConfirmation(r.Context(), email, s.Now().UTC()); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.leadChanged()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}

// handleWebhooksList is GET /v1/admin/webhooks (secrets are never shown
// again after creation).
func (s *server) handleWebhooksList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		eps, err := s.Store.Endpoints(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if eps == nil {
			eps = []marketing.WebhookEndpoint{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "endpoints": eps})
	})
}

// handleWebhooksAdd is POST /v1/admin/webhooks {"url", "site",
// "includeEmail"}: 201 with the endpoint and its signing secret.
func (s *server) handleWebhooksAdd() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _, ok := readBody(w, r, limitDefault, false)
		if !ok {
			return
		}
		var in struct {
			URL          string `json:"url"`
			Site         string `json:"site"`
			IncludeEmail bool   `json:"includeEmail"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			s.writeError(w, r, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "", Message: "body must be a JSON object with url, site, includeEmail"}}})
			return
		}
		e, err := delivery.NewEndpoint(r.Context(), in.URL, in.Site, in.IncludeEmail, s.Config.WebhookAllowPrivate, s.Now())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.Store.AddEndpoint(r.Context(), e); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "endpoint": e, "secret": e.Secret})
	})
}

// handleWebhooksRemove is DELETE /v1/admin/webhooks/{id}.
func (s *server) handleWebhooksRemove() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Store.RemoveEndpoint(r.Context(), r.PathValue("id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}

// handleDeliveries is GET /v1/admin/deliveries?status=&limit=: the outbox,
// newest first, without addresses.
func (s *server) handleDeliveries() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := marketing.MessageFilter{Status: q.Get("status"), Limit: 50}
		is := marketing.NewIssues()
		switch f.Status {
		case "", marketing.MessagePending, marketing.MessageDelivered, marketing.MessageDead:
		default:
			is.Add("status", "must be pending, delivered or dead")
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 500 {
				is.Add("limit", "must be 1..500")
			}
			f.Limit = n
		}
		if err := is.Err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		ms, err := s.Store.Messages(r.Context(), f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if ms == nil {
			ms = []marketing.Message{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "messages": ms})
	})
}

// handleDelivery is GET /v1/admin/deliveries/{id}: a message and its log.
func (s *server) handleDelivery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, attempts, err := s.Store.Message(r.Context(), r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "message": m, "attempts": attempts})
	})
}

// handleReplay is POST /v1/admin/deliveries/{id}/replay, and
// POST /v1/admin/deliveries/replay for every dead letter.
func (s *server) handleReplay() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := s.Store.Replay(r.Context(), r.PathValue("id"), s.Now().UTC())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.leadChanged()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "replayed": n})
	})
}
