// Package web holds what browsers load from the backend: the tracker,
// embedded so the binary serves it with no files beside it.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

//go:generate go run ./gen

// TrackerJS is the minified tracker (generated from tracker.src.js).
//
//go:embed tracker.js
var TrackerJS []byte

// Asset is a file served with a strong ETag and a precompressed copy.
type Asset struct {
	Body []byte
	Gzip []byte
	ETag string
}

// NewAsset prepares b for serving.
func NewAsset(b []byte) Asset {
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	sum := sha256.Sum256(b)
	return Asset{Body: b, Gzip: z.Bytes(), ETag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Version is the asset's content version: its ETag without the quotes.
func (a Asset) Version() string { return strings.Trim(a.ETag, `"`) }

// Serve answers r with the asset after the caller has set its
// Content-Type and Cache-Control: the ETag, 304 when the browser holds
// this version, the gzip copy when the browser takes it, no body for HEAD.
func (a Asset) Serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("ETag", a.ETag)
	h.Add("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.Body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.Gzip
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
