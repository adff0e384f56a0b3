package httpapi

// routes lists the whole API surface.
func (s *server) routes() {
	s.mux.Handle("GET /v1/healthz", s.limited(classDefault, s.handleHealthz()))
	s.mux.Handle("GET /v1/readyz", s.limited(classDefault, s.handleReadyz()))
	s.mux.Handle("POST /v1/events", s.handleEvents())
}
