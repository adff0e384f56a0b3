// Package web holds what browsers load from the backend: the tracker,
// embedded so the binary serves it with no files beside it.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
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
