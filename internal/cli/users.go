package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/config"
	"github.com/altcontext/marketing/internal/password"
)

// readPassword reads a password: prompted twice without echo when stdin
// is a terminal, else the first line of stdin (a pipe, fly ssh console).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := password.Valid(pw); err != nil {
		return "", err
	}
	return pw, nil
}

// findUser finds a user by email or id.
func findUser(ctx context.Context, store marketing.Store, ref string) (*marketing.User, error) {
	if email, ok := marketing.NormalizeEmail(ref); ok {
		return store.UserByEmail(ctx, email)
	}
	return store.User(ctx, ref)
}

// usersCmd runs `marketing users add|list|remove|reset-password|set-role`.
func usersCmd(ctx context.Context, cfg *config.Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	usage := &ExitError{Code: 2, Err: errors.New("usage: marketing users add EMAIL --role ROLE [--site ID] | list | remove EMAIL | reset-password EMAIL | disable-totp EMAIL | set-role EMAIL --role ROLE|none [--site ID]")}
	if len(args) == 0 {
		return usage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var role, site string
	if sub == "add" || sub == "set-role" {
		fs.StringVar(&role, "role", "", "owner, admin or viewer (set-role: none takes the role away)")
		fs.StringVar(&site, "site", marketing.AllSites, "the site the role is on (default: every site)")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	hasher := password.New(2)
	return withStore(ctx, cfg, stderr, func(store marketing.Store) error {
		now := time.Now().UTC().Truncate(time.Millisecond)
		checkSite := func() error {
			if site == marketing.AllSites {
				return nil
			}
			_, err := store.Site(ctx, site)
			if marketing.ErrorCode(err) == marketing.ENOTFOUND {
				return fmt.Errorf("no registered site %q (see marketing sites list)", site)
			}
			return err
		}
		switch {
		case sub == "add" && len(pos) == 1:
			email, ok := marketing.NormalizeEmail(pos[0])
			if !ok {
				return fmt.Errorf("%q is not an email address", pos[0])
			}
			if !marketing.ValidRole(role) {
				return errors.New("--role must be owner, admin or viewer")
			}
			if err := checkSite(); err != nil {
				return err
			}
			pw, err := readPassword(stdin, stderr)
			if err != nil {
				return err
			}
			hash, err := hasher.Hash(ctx, pw)
			if err != nil {
				return err
			}
			u := &marketing.User{ID: marketing.NewID(now), Email: email, PasswordHash: hash, Created: now, Updated: now,
				Roles: []marketing.SiteRole{{SiteID: site, Role: role}}}
			if err := store.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditUserCreate, "user:"+u.ID, siteOf(site), "role="+role); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created user %s (%s), %s of %s\n", u.ID, email, role, siteName(site))
			return nil
		case sub == "list" && len(pos) == 0:
			users, err := store.Users(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tROLES\tCREATED")
			for _, u := range users {
				var roles []string
				for _, r := range u.Roles {
					roles = append(roles, r.Role+"@"+r.SiteID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Email, strings.Join(roles, ","), u.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		case sub == "remove" && len(pos) == 1:
			u, err := findUser(ctx, store, pos[0])
			if err != nil {
				return err
			}
			if err := store.DeleteUser(ctx, u.ID); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditUserRemove, "user:"+u.ID, "", ""); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed user %s\n", u.ID)
			return nil
		case sub == "reset-password" && len(pos) == 1:
			u, err := findUser(ctx, store, pos[0])
			if err != nil {
				return err
			}
			pw, err := readPassword(stdin, stderr)
			if err != nil {
				return err
			}
			hash, err := hasher.Hash(ctx, pw)
			if err != nil {
				return err
			}
			if err := store.SetPassword(ctx, u.ID, hash, now); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditUserPassword, "user:"+u.ID, "", ""); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "password of user %s replaced; its sessions are signed out\n", u.ID)
			return nil
		case sub == "disable-totp" && len(pos) == 1:
			u, err := findUser(ctx, store, pos[0])
			if err != nil {
				return err
			}
			if err := store.DisableTOTP(ctx, u.ID, now); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditUserTOTP, "user:"+u.ID, "", "disabled"); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "second factor of user %s removed\n", u.ID)
			return nil
		case sub == "set-role" && len(pos) == 1:
			if role == "none" {
				role = ""
			} else if !marketing.ValidRole(role) {
				return errors.New("--role must be owner, admin, viewer or none")
			}
			if err := checkSite(); err != nil {
				return err
			}
			u, err := findUser(ctx, store, pos[0])
			if err != nil {
				return err
			}
			if err := store.SetRole(ctx, u.ID, site, role, now); err != nil {
				return err
			}
			if err := audit(ctx, store, marketing.AuditUserRole, "user:"+u.ID, siteOf(site), "role="+role); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "user %s: role on %s is now %q\n", u.ID, siteName(site), role)
			return nil
		}
		return usage
	})
}

// siteOf is the audit log's site of a role: none for every site.
func siteOf(site string) string {
	if site == marketing.AllSites {
		return ""
	}
	return site
}

func siteName(site string) string {
	if site == marketing.AllSites {
		return "every site"
	}
	return "site " + site
}
