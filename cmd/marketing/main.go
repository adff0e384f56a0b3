// Command marketing is the privacy-first marketing backend: see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	// The image has no zoneinfo files; REPORT_TIMEZONE loads from the
	// binary's own copy (about 450 KB).
	_ "time/tzdata"

	"github.com/altcontext/marketing/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
