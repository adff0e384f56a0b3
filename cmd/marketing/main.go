// Command marketing is the privacy-first marketing backend: see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/altcontext/marketing/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
