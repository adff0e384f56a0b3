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
)

// cliActor names the operator at a shell on the machine in the audit log.
const cliActor = "cli"

// listFlag is a repeatable flag; commas separate values too.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// parseArgs parses flags placed before, between or after the positional
// arguments, and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
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
	}
}

// withStore opens a current store for a command.
func withStore(ctx context.Context, cfg *config.Config, stderr io.Writer, fn func(marketing.Store) error) error {
	store, err := openCurrent(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store)
}

func audit(ctx context.Context, store marketing.Store, action, target, site, detail string) error {
	return store.Audit(ctx, marketing.AuditEntry{At: time.Now().UTC(), Actor: cliActor, Action: action, Target: target, SiteID: site, Detail: detail})
}

// sitesCmd runs `marketing sites add|list|update|remove`.
func sitesCmd(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &ExitError{Code: 2, Err: errors.New("usage: marketing sites add|list|update|remove")}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("sites "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var name, zone, id string
	var origins, domains listFlag
	if sub == "add" || sub == "update" {
		fs.StringVar(&name, "name", "", "display name (default: the id)")
		fs.StringVar(&zone, "timezone", "", "IANA zone of the site's reporting days (default: REPORT_TIMEZONE)")
		fs.Var(&origins, "origin", "an allowed browser origin, repeatable (default: https:// and https://www. of each domain)")
		fs.Var(&domains, "domain", "another domain of the site, repeatable")
	}
	if sub == "add" {
		fs.StringVar(&id, "id", "", "the site id, the property its events carry (default: the domain)")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return withStore(ctx, cfg, stderr, func(store marketing.Store) error {
		now := time.Now().UTC().Truncate(time.Millisecond)
		switch {
		case sub == "add" && len(pos) == 1:
			site := &marketing.Site{ID: id, Name: name, TimeZone: zone, Domains: append([]string{pos[0]}, domains...), Origins: origins, Created: now, Updated: now}
			if err := site.Normalize(); err != nil {
				return err
			}
			if err := store.CreateSite(ctx, site); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditSiteCreate, "site:"+site.ID, site.ID, ""); err != nil {
				return err
			}
			printSites(stdout, []marketing.Site{*site})
			return nil
		case sub == "list" && len(pos) == 0:
			all, err := store.Sites(ctx)
			if err != nil {
				return err
			}
			printSites(stdout, all)
			return nil
		case sub == "update" && len(pos) == 1:
			site, err := store.Site(ctx, pos[0])
			if err != nil {
				return err
			}
			if set["name"] {
				site.Name = name
			}
			if set["timezone"] {
				site.TimeZone = zone
			}
			if set["domain"] {
				site.Domains = domains
			}
			if set["origin"] {
				site.Origins = origins
			}
			site.Updated = now
			if err := site.Normalize(); err != nil {
				return err
			}
			if err := store.UpdateSite(ctx, site); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditSiteUpdate, "site:"+site.ID, site.ID, ""); err != nil {
				return err
			}
			printSites(stdout, []marketing.Site{*site})
			return nil
		case sub == "remove" && len(pos) == 1:
			if err := store.DeleteSite(ctx, pos[0]); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditSiteDelete, "site:"+pos[0], pos[0], ""); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed site %s (its data stays under the id)\n", pos[0])
			return nil
		}
		return &ExitError{Code: 2, Err: errors.New("usage: marketing sites add DOMAIN [--name N] [--timezone TZ] [--origin URL]... | list | update ID [flags] | remove ID")}
	})
}

func printSites(w io.Writer, sites []marketing.Site) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTIME ZONE\tDOMAINS\tORIGINS")
	for _, s := range sites {
		zone := s.TimeZone
		if zone == "" {
			zone = "(REPORT_TIMEZONE)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, zone, strings.Join(s.Domains, ","), strings.Join(s.Origins, ","))
	}
	_ = tw.Flush()
}

// keysCmd runs `marketing keys create|list|revoke`.
func keysCmd(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &ExitError{Code: 2, Err: errors.New("usage: marketing keys create|list|revoke")}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scopes, sites listFlag
	var expires, label string
	if sub == "create" {
		fs.Var(&scopes, "scope", "scopes, comma-separated or repeated: "+strings.Join(marketing.Scopes, ", "))
		fs.Var(&sites, "site", "restrict the key to this site id, repeatable (default: every site)")
		fs.StringVar(&expires, "expires", "", "expiry: YYYY-MM-DD (00:00 UTC) or an RFC 3339 time")
		fs.StringVar(&label, "label", "", "what the key is for")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return withStore(ctx, cfg, stderr, func(store marketing.Store) error {
		now := time.Now().UTC().Truncate(time.Millisecond)
		switch {
		case sub == "create" && len(pos) == 0:
			k, secret := marketing.NewAPIKey(now)
			k.Scopes, k.Sites, k.Label, k.CreatedBy = scopes, sites, label, cliActor
			if expires != "" {
				if k.Expires, err = marketing.ParseExpiry(expires, now); err != nil {
					return err
				}
			}
			if err := k.Validate(); err != nil {
				return err
			}
			for _, s := range sites {
				if _, err := store.Site(ctx, s); err != nil {
					return fmt.Errorf("site %s: %w", s, err)
				}
			}
			if err := store.CreateKey(ctx, k); err != nil {
				return err
			}
			d := "scopes=" + strings.Join(k.Scopes, ",")
			if len(k.Sites) > 0 {
				d += " sites=" + strings.Join(k.Sites, ",")
			}
			if err := audit(ctx, store, marketing.AuditKeyCreate, "key:"+k.Prefix, "", d); err != nil {
				return err
			}
			// The secret alone on stdout, so that it can be piped into a
			// secret store; everything else on stderr.
			fmt.Fprintf(stderr, "created key %s (%s); the secret is shown once:\n", k.Prefix, d)
			fmt.Fprintln(stdout, secret)
			return nil
		case sub == "list" && len(pos) == 0:
			keys, err := store.Keys(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PREFIX\tID\tSCOPES\tSITES\tLABEL\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
			ts := func(t time.Time) string {
				if t.IsZero() {
					return "-"
				}
				return t.Format(time.RFC3339)
			}
			for _, k := range keys {
				status := "active"
				switch {
				case !k.Revoked.IsZero():
					status = "revoked " + ts(k.Revoked)
				case !k.Active(now):
					status = "expired"
				}
				site := strings.Join(k.Sites, ",")
				if site == "" {
					site = "(all)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Prefix, k.ID, strings.Join(k.Scopes, ","), site, k.Label,
					ts(k.Created), ts(k.Expires), ts(k.LastUsed), status)
			}
			return tw.Flush()
		case sub == "revoke" && len(pos) == 1:
			k, err := store.RevokeKey(ctx, pos[0], now)
			if err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditKeyRevoke, "key:"+k.Prefix, "", ""); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked key %s\n", k.Prefix)
			return nil
		}
		return &ExitError{Code: 2, Err: errors.New("usage: marketing keys create --scope SCOPE[,SCOPE] [--site ID] [--expires DATE] [--label L] | list | revoke ID-OR-PREFIX")}
	})
}
