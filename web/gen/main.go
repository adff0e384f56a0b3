// Command gen minifies web/tracker.src.js into web/tracker.js with esbuild
// (go generate ./web). esbuild runs at build time only; the server embeds
// the result.
package main

import (
	"fmt"
	"os"

	"github.com/altcontext/marketing/web/jsmin"
)

func main() {
	src, err := os.ReadFile("tracker.src.js")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := jsmin.Minify(src)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile("tracker.js", out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
