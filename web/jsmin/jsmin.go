// Package jsmin minifies the tracker with esbuild at build time (go generate
// and the freshness test); the server never imports it.
package jsmin

import (
	"errors"

	"github.com/evanw/esbuild/pkg/api"
)

// Minify compresses the tracker source. It is used by go generate and by
// the test that checks the committed tracker.js is current; the server does
// not call it.
func Minify(src []byte) ([]byte, error) {
	r := api.Transform(string(src), api.TransformOptions{
		Loader:            api.LoaderJS,
		Target:            api.ES2017,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsNone,
	})
	if len(r.Errors) > 0 {
		return nil, errors.New(r.Errors[0].Text)
	}
	return r.Code, nil
}
