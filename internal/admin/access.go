package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// Can reports whether the acting principal holds scope on site; site ""
// asks for every site at once.
type Can func(scope, site string) bool

// SiteInput is a site's editable fields: nil keeps the stored value.
type SiteInput struct {
	ID       string    `json:"id"`
	Name     *string   `json:"name"`
	Domains  *[]string `json:"domains"`
	Origins  *[]string `json:"origins"`
	TimeZone *string   `json:"timeZone"`
}

func (in SiteInput) apply(site *marketing.Site) {
	if in.Name != nil {
		site.Name = *in.Name
	}
	if in.Domains != nil {
		site.Domains = *in.Domains
	}
	if in.Origins != nil {
		site.Origins = *in.Origins
	}
	if in.TimeZone != nil {
		site.TimeZone = *in.TimeZone
	}
}

func (a *Actions) sitesChanged(ctx context.Context) {
	if a.o.OnSiteChange != nil {
		a.o.OnSiteChange(ctx)
	}
}

// CreateSite registers a site. A new site concerns every site: only an
// unrestricted sites:admin may add one.
func (a *Actions) CreateSite(ctx context.Context, actor string, can Can, in SiteInput) (*marketing.Site, error) {
	if !can(marketing.ScopeSitesAdmin, "") {
		return nil, marketing.Errorf(marketing.EFORBIDDEN, "not allowed")
	}
	now := a.o.Now().UTC().Truncate(time.Millisecond)
	site := &marketing.Site{ID: in.ID, Created: now, Updated: now}
	in.apply(site)
	if err := site.Normalize(); err != nil {
		return nil, err
	}
	if err := a.o.Store.CreateSite(ctx, site); err != nil {
		return nil, err
	}
	a.Audit(ctx, actor, marketing.AuditSiteCreate, "site:"+site.ID, site.ID, "")
	a.sitesChanged(ctx)
	return site, nil
}

// Site loads a site the principal administers; another site is not found,
// as far as it can tell.
func (a *Actions) Site(ctx context.Context, can Can, id string) (*marketing.Site, error) {
	if !can(marketing.ScopeSitesAdmin, id) {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such site")
	}
	return a.o.Store.Site(ctx, id)
}

// UpdateSite changes a site's name, domains, origins or time zone.
func (a *Actions) UpdateSite(ctx context.Context, actor string, can Can, id string, in SiteInput) (*marketing.Site, error) {
	site, err := a.Site(ctx, can, id)
	if err != nil {
		return nil, err
	}
	in.apply(site)
	if err := site.Normalize(); err != nil {
		return nil, err
	}
	site.Updated = a.o.Now().UTC().Truncate(time.Millisecond)
	if err := a.o.Store.UpdateSite(ctx, site); err != nil {
		return nil, err
	}
	a.Audit(ctx, actor, marketing.AuditSiteUpdate, "site:"+site.ID, site.ID, "")
	a.sitesChanged(ctx)
	return site, nil
}

// DeleteSite unregisters a site; its data stays under its id.
func (a *Actions) DeleteSite(ctx context.Context, actor string, can Can, id string) error {
	site, err := a.Site(ctx, can, id)
	if err != nil {
		return err
	}
	if err := a.o.Store.DeleteSite(ctx, site.ID); err != nil {
		return err
	}
	a.Audit(ctx, actor, marketing.AuditSiteDelete, "site:"+site.ID, site.ID, "")
	a.sitesChanged(ctx)
	return nil
}

// KeyInput is a new API key's fields.
type KeyInput struct {
	Scopes    []string `json:"scopes"`
	Sites     []string `json:"sites"`
	Label     string   `json:"label"`
	ExpiresAt string   `json:"expiresAt"`
}

// CreateKey makes an API key and returns it with its secret, which is
// shown this once and never stored. A principal grants only scopes it
// holds itself, on every site the key names.
func (a *Actions) CreateKey(ctx context.Context, actor string, can Can, in KeyInput) (*marketing.APIKey, string, error) {
	if !can(marketing.ScopeSitesAdmin, "") {
		return nil, "", marketing.Errorf(marketing.EFORBIDDEN, "not allowed")
	}
	now := a.o.Now().UTC().Truncate(time.Millisecond)
	k, secret := marketing.NewAPIKey(now)
	k.Scopes, k.Sites, k.Label, k.CreatedBy = in.Scopes, in.Sites, in.Label, actor
	if in.ExpiresAt != "" {
		t, err := marketing.ParseExpiry(in.ExpiresAt, now)
		if err != nil {
			return nil, "", err
		}
		k.Expires = t
	}
	if err := k.Validate(); err != nil {
		return nil, "", err
	}
	for _, scope := range k.Scopes {
		if len(k.Sites) == 0 && !can(scope, "") {
			return nil, "", marketing.Errorf(marketing.EFORBIDDEN, "cannot grant %s", scope)
		}
		for _, site := range k.Sites {
			if !can(scope, site) {
				return nil, "", marketing.Errorf(marketing.EFORBIDDEN, "cannot grant %s", scope)
			}
		}
	}
	for _, site := range k.Sites {
		if _, err := a.o.Store.Site(ctx, site); err != nil {
			if marketing.ErrorCode(err) == marketing.ENOTFOUND {
				err = &marketing.ValidationError{Issues: []marketing.Issue{{Path: "sites", Message: "no registered site " + site}}}
			}
			return nil, "", err
		}
	}
	if err := a.o.Store.CreateKey(ctx, k); err != nil {
		return nil, "", err
	}
	d := "scopes=" + strings.Join(k.Scopes, ",")
	if len(k.Sites) > 0 {
		d += " sites=" + strings.Join(k.Sites, ",")
	}
	a.Audit(ctx, actor, marketing.AuditKeyCreate, "key:"+k.Prefix, "", d)
	return k, secret, nil
}

// RevokeKey revokes a key by id or prefix (unrestricted sites:admin).
func (a *Actions) RevokeKey(ctx context.Context, actor string, can Can, idOrPrefix string) (*marketing.APIKey, error) {
	if !can(marketing.ScopeSitesAdmin, "") {
		return nil, marketing.Errorf(marketing.EFORBIDDEN, "not allowed")
	}
	k, err := a.o.Store.RevokeKey(ctx, idOrPrefix, a.o.Now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return nil, err
	}
	a.Audit(ctx, actor, marketing.AuditKeyRevoke, "key:"+k.Prefix, "", "")
	return k, nil
}

// ShareInput is a new shared link's fields.
type ShareInput struct {
	Label     string          `json:"label"`
	Password  string          `json:"password"`
	ExpiresAt string          `json:"expiresAt"`
	Filter    json.RawMessage `json:"filter"`
}

// CreateShare makes a shared link of a site the principal administers and
// returns it with its secret token, shown this once.
func (a *Actions) CreateShare(ctx context.Context, actor string, can Can, siteID string, in ShareInput) (*marketing.SharedLink, string, error) {
	site, err := a.Site(ctx, can, siteID)
	if err != nil {
		return nil, "", err
	}
	now := a.o.Now().UTC().Truncate(time.Millisecond)
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	l := &marketing.SharedLink{ID: marketing.NewID(now), TokenHash: marketing.HashSecret(token), SiteID: site.ID,
		Label: in.Label, CreatedBy: actor, Created: now}
	is := marketing.NewIssues()
	if len([]rune(l.Label)) > 200 || !marketing.Storable(l.Label) {
		is.Add("label", "must be at most 200 characters without NUL")
	}
	if len(in.Filter) > 0 && string(in.Filter) != "null" {
		if len(in.Filter) > 2048 {
			is.Add("filter", "must be a JSON object of at most 2 KiB")
		} else if f, err := marketing.ShareFilter(string(in.Filter)); err != nil {
			is.Add("filter", err.Error())
		} else if len(f) > 0 {
			l.Filter = marketing.ShareFilterJSON(f) // as read: what the view applies
		}
	}
	if in.ExpiresAt != "" {
		t, err := marketing.ParseExpiry(in.ExpiresAt, now)
		if err != nil {
			is.Add("expiresAt", "must be a future day (YYYY-MM-DD) or RFC 3339 time")
		}
		l.Expires = t
	}
	if in.Password != "" && (len([]rune(in.Password)) < 8 || len(in.Password) > 256) {
		is.Add("password", "must be 8 to 256 characters")
	}
	if err := is.Err(); err != nil {
		return nil, "", err
	}
	if in.Password != "" {
		h, err := a.o.HashPassword(ctx, in.Password)
		if err != nil {
			return nil, "", err
		}
		l.PasswordHash, l.HasPassword = h, true
	}
	if err := a.o.Store.CreateSharedLink(ctx, l); err != nil {
		return nil, "", err
	}
	a.Audit(ctx, actor, marketing.AuditShareCreate, "share:"+l.ID, site.ID, "")
	return l, token, nil
}

// RevokeShare revokes a shared link of a site the principal administers.
func (a *Actions) RevokeShare(ctx context.Context, actor string, can Can, id string) (*marketing.SharedLink, error) {
	l, err := a.o.Store.SharedLink(ctx, id)
	if err == nil && !can(marketing.ScopeSitesAdmin, l.SiteID) {
		err = marketing.Errorf(marketing.ENOTFOUND, "no such shared link")
	}
	if err == nil {
		err = a.o.Store.RevokeSharedLink(ctx, l.ID, a.o.Now().UTC().Truncate(time.Millisecond))
	}
	if err != nil {
		return nil, err
	}
	a.Audit(ctx, actor, marketing.AuditShareRevoke, "share:"+l.ID, l.SiteID, "")
	return l, nil
}

// SetRole gives a user a role on a site (AllSites: every site), or with
// role "" takes it away. The principal must hold every scope of the role
// there, and sites:admin.
func (a *Actions) SetRole(ctx context.Context, actor string, can Can, userID, siteID, role string) (*marketing.User, error) {
	if siteID == "" {
		siteID = marketing.AllSites
	}
	if role != "" && !marketing.ValidRole(role) {
		return nil, &marketing.ValidationError{Issues: []marketing.Issue{{Path: "role", Message: "must be owner, admin, viewer or empty"}}}
	}
	site := siteID
	if site == marketing.AllSites {
		site = ""
	}
	for _, scope := range append(marketing.RoleScopes(role), marketing.ScopeSitesAdmin) {
		if !can(scope, site) {
			return nil, marketing.Errorf(marketing.EFORBIDDEN, "cannot grant %s", scope)
		}
	}
	if site != "" {
		if _, err := a.o.Store.Site(ctx, site); err != nil {
			if marketing.ErrorCode(err) == marketing.ENOTFOUND {
				err = &marketing.ValidationError{Issues: []marketing.Issue{{Path: "siteId", Message: "no registered site " + site}}}
			}
			return nil, err
		}
	}
	if err := a.o.Store.SetRole(ctx, userID, siteID, role, a.o.Now().UTC().Truncate(time.Millisecond)); err != nil {
		return nil, err
	}
	a.Audit(ctx, actor, marketing.AuditUserRole, "user:"+userID, site, "role="+role)
	return a.o.Store.User(ctx, userID)
}
