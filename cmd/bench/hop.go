package main

import (
	"net"
	"sync"
	"time"
)

// hopDelay is the one-way delay of the "hop" scenario: a round trip of
// 0.5 ms, about what an app machine sees from a database machine in the
// same region.
const hopDelay = 250 * time.Microsecond

// hop is a TCP proxy that holds every chunk it forwards for a fixed delay
// in each direction, keeping order: a stand-in for a network hop on a
// machine where netem is not available. It costs the machine some CPU of
// its own, as a real network stack would.
type hop struct {
	l     net.Listener
	to    string
	delay time.Duration
	mu    sync.Mutex
	conns []net.Conn
}

func startHop(to string, delay time.Duration) (*hop, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hop{l: l, to: to, delay: delay}
	go h.accept()
	return h, nil
}

// Addr is the proxy's host:port.
func (h *hop) Addr() string { return h.l.Addr().String() }

// Close stops accepting and cuts every connection.
func (h *hop) Close() {
	h.l.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}

func (h *hop) accept() {
	for {
		c, err := h.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", h.to)
		if err != nil {
			c.Close()
			continue
		}
		h.mu.Lock()
		h.conns = append(h.conns, c, s)
		h.mu.Unlock()
		go h.pump(s, c)
		go h.pump(c, s)
	}
}

// pump copies src to dst, each chunk delivered h.delay after it was read.
func (h *hop) pump(dst, src net.Conn) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer dst.Close()
		for c := range ch {
			if w := time.Until(c.at); w > 0 {
				time.Sleep(w)
			}
			if _, err := dst.Write(c.b); err != nil {
				return
			}
		}
	}()
	defer close(ch)
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			ch <- chunk{buf[:n], time.Now().Add(h.delay)}
		}
		if err != nil {
			return
		}
	}
}
