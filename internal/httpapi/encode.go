package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/altcontext/marketing"
)

// problem is the error envelope of every non-2xx answer.
type problem struct {
	OK     bool              `json:"ok"`
	Error  string            `json:"error"`
	Issues []marketing.Issue `json:"issues,omitempty"`
}

// Header values shared by every response, assigned without Header.Set's
// copy (net/http never changes a value in place; Add appends to a copy).
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	varyOrigin      = []string{"Origin"}
	nosniff         = []string{"nosniff"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"ok":false,"error":"internal_error"}`)
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = []string{strconv.Itoa(len(b) + 1)}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeProblem(w http.ResponseWriter, status int, code string, issues []marketing.Issue) {
	// Retry-After where waiting helps: a rate limit, an outage. A 503 for
	// missing configuration (admin_auth_not_configured) is not retried away.
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable && code == "unavailable" {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	writeJSON(w, status, problem{Error: code, Issues: issues})
}

// writeError maps a domain error to its status, in this one place. Internal
// detail is logged, never sent.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	switch marketing.ErrorCode(err) {
	case marketing.EINVALID:
		var v *marketing.ValidationError
		if errors.As(err, &v) {
			writeProblem(w, http.StatusBadRequest, "invalid_request", v.Issues)
			return
		}
		writeProblem(w, http.StatusBadRequest, "invalid_request", []marketing.Issue{{Path: "", Message: marketing.ErrorMessage(err)}})
	case marketing.EUNAUTHORIZED:
		writeProblem(w, http.StatusUnauthorized, "unauthorized", nil)
	case marketing.EFORBIDDEN:
		writeProblem(w, http.StatusForbidden, "forbidden", nil)
	case marketing.ENOTFOUND:
		writeProblem(w, http.StatusNotFound, "not_found", nil)
	case marketing.ECONFLICT:
		writeProblem(w, http.StatusConflict, "conflict", []marketing.Issue{{Path: "", Message: marketing.ErrorMessage(err)}})
	case marketing.EUNAVAILABLE:
		s.log.Warn("unavailable", "request_id", requestID(r), "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", nil)
	default:
		s.log.Error("internal error", "request_id", requestID(r), "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal_error", nil)
	}
}

// Body size limits (SPEC §3.1).
const (
	limitEvents  = 32 << 10
	limitLeads   = 16 << 10
	limitDefault = 8 << 10
)

// bodyKind is how a body was sent.
type bodyKind int

const (
	bodyJSON bodyKind = iota
	bodyForm
)

// readBody enforces the size limit and the media types a route accepts:
// JSON, text/plain holding JSON (sendBeacon), and form posts when allowed.
// On failure it has written the answer and returns ok=false.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, formOK bool) (body []byte, kind bodyKind, ok bool) {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			writeProblem(w, http.StatusUnsupportedMediaType, "unsupported_media_type", nil)
			return nil, 0, false
		case mt == "application/json" || mt == "text/plain":
		case mt == "application/x-www-form-urlencoded" && formOK:
			kind = bodyForm
		default:
			writeProblem(w, http.StatusUnsupportedMediaType, "unsupported_media_type", nil)
			return nil, 0, false
		}
	}
	if r.ContentLength > limit {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body_too_large", nil)
		return nil, 0, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "body_too_large", nil)
		} else {
			writeProblem(w, http.StatusBadRequest, "invalid_request", []marketing.Issue{{Path: "", Message: "could not read the body"}})
		}
		return nil, 0, false
	}
	return b, kind, true
}
