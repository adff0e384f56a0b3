package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/delivery"
)

// webhooks runs `marketing webhooks add|list|remove|replay|messages`.
func webhooks(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &ExitError{Code: 2, Err: errors.New("usage: marketing webhooks add|list|remove|replay|messages")}
	}
	store, err := openCurrent(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	fs := flag.NewFlagSet("webhooks "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "add":
		site := fs.String("site", "", "deliver only this site's (property id's) leads (default: every site)")
		email := fs.Bool("include-email", false, "put the lead's email address in the payload")
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return &ExitError{Code: 2, Err: errors.New("usage: marketing webhooks add URL [--site ID] [--include-email]")}
		}
		e, err := delivery.NewEndpoint(ctx, pos[0], *site, *email, cfg.WebhookAllowPrivate, time.Now())
		if err != nil {
			return err
		}
		if err := store.AddEndpoint(ctx, e); err != nil {
			return err
		}
		// The secret alone on stdout, so that it can be piped into a
		// secret store; the rest goes to stderr.
		fmt.Fprintf(stderr, "added endpoint %s\n", e.ID)
		fmt.Fprintln(stdout, e.Secret)
		return nil
	case "list":
		if len(args) != 1 {
			return &ExitError{Code: 2, Err: errors.New("usage: marketing webhooks list")}
		}
		eps, err := store.Endpoints(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tSITE\tEMAIL\tCREATED")
		for _, e := range eps {
			site := e.PropertyID
			if site == "" {
				site = "(all)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", e.ID, e.URL, site, e.IncludeEmail, e.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "remove":
		if len(args) != 2 {
			return &ExitError{Code: 2, Err: errors.New("usage: marketing webhooks remove ID")}
		}
		if err := store.RemoveEndpoint(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "removed", args[1])
		return nil
	case "replay":
		dead := fs.Bool("dead", false, "replay every dead-lettered message")
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return err
		}
		if (len(pos) == 1) == *dead || len(pos) > 1 {
			return &ExitError{Code: 2, Err: errors.New("usage: marketing webhooks replay MESSAGE_ID | --dead")}
		}
		id := ""
		if len(pos) == 1 {
			id = pos[0]
		}
		n, err := store.Replay(ctx, id, time.Now().UTC())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d message(s) queued again\n", n)
		return nil
	case "messages":
		status := fs.String("status", "", "pending, delivered or dead (default: any)")
		limit := fs.Int("limit", 50, "how many, newest first")
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) == 1 {
			m, attempts, err := store.Message(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s %s %s attempts=%d\n", m.ID, m.Channel, m.Type, m.Status, m.Attempts)
			for _, a := range attempts {
				fmt.Fprintf(stdout, "  #%d %s status=%d latency=%dms %s\n", a.Attempt, a.At.UTC().Format(time.RFC3339), a.StatusCode, a.LatencyMS, a.Error)
			}
			return nil
		}
		ms, err := store.Messages(ctx, marketing.MessageFilter{Status: *status, Limit: *limit})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCHANNEL\tTYPE\tSTATUS\tATTEMPTS\tCREATED\tLAST ERROR")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Channel, m.Type, m.Status, m.Attempts, m.CreatedAt.UTC().Format(time.RFC3339), m.LastError)
		}
		return tw.Flush()
	}
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown webhooks command %q", args[0])}
}

// parseInterspersed parses flags placed before or after the positional
// arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &ExitError{Code: 2, Err: err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
		if strings.HasPrefix(fs.Arg(0), "-") {
			return nil, &ExitError{Code: 2, Err: fmt.Errorf("unexpected %q", fs.Arg(0))}
		}
	}
}
