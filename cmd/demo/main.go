// Command demo serves examples/site on one port for a backend on another,
// cross-origin like GitHub Pages and Fly (make demo).
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/altcontext/marketing/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "where the site listens")
	api := flag.String("api", "http://127.0.0.1:3000", "the backend's origin")
	dir := flag.String("dir", "examples/site", "the site's files")
	flag.Parse()
	fmt.Printf("example site on http://%s, sending to %s\n", *addr, *api)
	srv := &http.Server{Addr: *addr, Handler: demo.Handler(*dir, *api), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
