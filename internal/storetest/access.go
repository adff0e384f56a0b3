package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/altcontext/marketing"
)

func testSites(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	list, err := s.Sites(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("fresh store: sites %v, %v", list, err)
	}
	a := &marketing.Site{Domains: []string{"www.Example.com", "example.org"}, Name: "Example", TimeZone: "America/Toronto", Created: now, Updated: now}
	if err := a.Normalize(); err != nil {
		t.Fatal(err)
	}
	if a.ID != "example.com" || !reflect.DeepEqual(a.Domains, []string{"example.com", "example.org"}) || len(a.Origins) != 4 {
		t.Fatalf("normalised %+v", a)
	}
	if err := s.CreateSite(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &marketing.Site{ID: "tokyo", Domains: []string{"example.jp"}, Origins: []string{"https://shop.example.jp"}, TimeZone: "Asia/Tokyo", Created: now, Updated: now}
	if err := b.Normalize(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSite(ctx, b); err != nil {
		t.Fatal(err)
	}
	// A domain belongs to one site; an id to one site.
	dup := &marketing.Site{ID: "other", Domains: []string{"example.org"}, Created: now, Updated: now}
	if err := s.CreateSite(ctx, dup); marketing.ErrorCode(err) != marketing.ECONFLICT {
		t.Fatalf("duplicate domain: want ECONFLICT, got %v", err)
	}
	dup = &marketing.Site{ID: "tokyo", Domains: []string{"example.net"}, Created: now, Updated: now}
	if err := s.CreateSite(ctx, dup); marketing.ErrorCode(err) != marketing.ECONFLICT {
		t.Fatalf("duplicate id: want ECONFLICT, got %v", err)
	}
	got, err := s.Site(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("site read back\n got %+v\nwant %+v", got, a)
	}
	b.Name, b.Domains, b.Updated = "Tokyo shop", []string{"example.jp", "example.co.jp"}, now.Add(time.Minute)
	if err := s.UpdateSite(ctx, b); err != nil {
		t.Fatal(err)
	}
	list, err = s.Sites(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "example.com" || !reflect.DeepEqual(list[1], *b) {
		t.Fatalf("sites %+v, %v", list, err)
	}
	if err := s.UpdateSite(ctx, &marketing.Site{ID: "missing", Name: "x"}); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("update missing: %v", err)
	}
	b.Domains = []string{"example.com"}
	if err := s.UpdateSite(ctx, b); marketing.ErrorCode(err) != marketing.ECONFLICT {
		t.Fatalf("update onto another site's domain: %v", err)
	}
	if err := s.DeleteSite(ctx, "tokyo"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Site(ctx, "tokyo"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("deleted site: %v", err)
	}
	if err := s.DeleteSite(ctx, "tokyo"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("delete twice: %v", err)
	}
	// The deleted site's domains are free again.
	again := &marketing.Site{ID: "tokyo2", Domains: []string{"example.jp"}, Created: now, Updated: now}
	if err := s.CreateSite(ctx, again); err != nil {
		t.Fatal(err)
	}
}

func testKeys(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	k, secret := marketing.NewAPIKey(now)
	k.Scopes, k.Sites, k.Label, k.Expires, k.CreatedBy = []string{"stats:read", "leads:read"}, []string{"example.com"}, "reporting", now.Add(time.Hour), "root"
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if p, ok := marketing.SplitAPIKey(secret); !ok || p != k.Prefix {
		t.Fatalf("secret %q does not split to %q", secret, k.Prefix)
	}
	got, err := s.KeyByPrefix(ctx, k.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, k) || got.Hash != marketing.HashSecret(secret) {
		t.Fatalf("key read back\n got %+v\nwant %+v", got, k)
	}
	if !got.Active(now) || got.Active(now.Add(2*time.Hour)) {
		t.Fatal("expiry not honoured")
	}
	if _, err := s.KeyByPrefix(ctx, "mk_000000000000"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("unknown prefix: %v", err)
	}
	dup := *k
	dup.ID = marketing.NewID(now)
	if err := s.CreateKey(ctx, &dup); marketing.ErrorCode(err) != marketing.ECONFLICT {
		t.Fatalf("duplicate prefix: %v", err)
	}
	if err := s.TouchKey(ctx, k.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r, err := s.RevokeKey(ctx, k.Prefix, now.Add(2*time.Minute))
	if err != nil || !r.Revoked.Equal(now.Add(2*time.Minute)) || !r.LastUsed.Equal(now.Add(time.Minute)) || r.Active(now) {
		t.Fatalf("revoked %+v, %v", r, err)
	}
	r, err = s.RevokeKey(ctx, k.ID, now.Add(time.Hour))
	if err != nil || !r.Revoked.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("revoked twice %+v, %v", r, err)
	}
	if _, err := s.RevokeKey(ctx, "nope", now); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("revoke unknown: %v", err)
	}
	k2, _ := marketing.NewAPIKey(now.Add(time.Second))
	k2.Scopes = []string{"sites:admin"}
	if err := s.CreateKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	list, err := s.Keys(ctx)
	if err != nil || len(list) != 2 || list[0].ID != k2.ID || list[1].Sites[0] != "example.com" || list[0].Sites != nil {
		t.Fatalf("keys %+v, %v", list, err)
	}
}

func testAudit(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	entries := []marketing.AuditEntry{
		{At: now, Actor: "root", Action: marketing.AuditSiteCreate, Target: "site:a", SiteID: "a"},
		{At: now.Add(time.Second), Actor: "key:mk_1", Action: marketing.AuditLeadErase, Target: "email:h"},
		{At: now.Add(2 * time.Second), Actor: "root", Action: marketing.AuditSiteUpdate, Target: "site:b", SiteID: "b", Detail: "name"},
	}
	for _, e := range entries {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AuditEntries(ctx, nil, 10)
	if err != nil || len(all) != 3 || all[0].SiteID != "b" || all[0].Detail != "name" || !all[0].At.Equal(now.Add(2*time.Second)) || all[2].ID == "" {
		t.Fatalf("all entries %+v, %v", all, err)
	}
	onlyA, err := s.AuditEntries(ctx, []string{"a"}, 10)
	if err != nil || len(onlyA) != 1 || onlyA[0].SiteID != "a" {
		t.Fatalf("site a's entries %+v, %v", onlyA, err)
	}
	if one, err := s.AuditEntries(ctx, nil, 1); err != nil || len(one) != 1 {
		t.Fatalf("limit: %+v, %v", one, err)
	}
}

func testLeadsByProperty(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i, p := range []string{"site-a", "site-b"} {
		c := Lead(p+"@example.com", "visitor-"+p, "express", "I agree", now.Add(time.Duration(i)*time.Second))
		c.Event.PropertyID = p
		if _, err := s.CaptureLead(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	list := func(props []string) []string {
		var out []string
		if err := s.Leads(ctx, marketing.LeadFilter{Properties: props}, func(l *marketing.Lead) error {
			out = append(out, l.PropertyID+"="+l.Email)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := list(nil); len(got) != 2 {
		t.Fatalf("every lead: %v", got)
	}
	if got := list([]string{"site-a"}); !reflect.DeepEqual(got, []string{"site-a=site-a@example.com"}) {
		t.Fatalf("site-a's leads: %v", got)
	}
	if got := list([]string{}); len(got) != 0 {
		t.Fatalf("no property: %v", got)
	}
}

func testUsers(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := &marketing.User{ID: marketing.NewID(now), Email: "owner@example.com", PasswordHash: "$argon2id$x", Created: now, Updated: now,
		Roles: []marketing.SiteRole{{SiteID: marketing.AllSites, Role: marketing.RoleOwner}}}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	dup := *u
	dup.ID = marketing.NewID(now)
	if err := s.CreateUser(ctx, &dup); marketing.ErrorCode(err) != marketing.ECONFLICT {
		t.Fatalf("duplicate email: %v", err)
	}
	got, err := s.UserByEmail(ctx, "owner@example.com")
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("user read back\n got %+v, %v\nwant %+v", got, err, u)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("unknown email: %v", err)
	}
	v := &marketing.User{ID: marketing.NewID(now), Email: "viewer@example.com", PasswordHash: "h", Created: now, Updated: now, Roles: []marketing.SiteRole{}}
	if err := s.CreateUser(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, v.ID, "a.example", marketing.RoleViewer, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, v.ID, "b.example", marketing.RoleAdmin, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, v.ID, "b.example", marketing.RoleViewer, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, v.ID, "a.example", "", now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, "missing", "a.example", marketing.RoleViewer, now); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("role of a missing user: %v", err)
	}
	got, err = s.User(ctx, v.ID)
	if err != nil || !reflect.DeepEqual(got.Roles, []marketing.SiteRole{{SiteID: "b.example", Role: marketing.RoleViewer}}) {
		t.Fatalf("roles %+v, %v", got, err)
	}
	list, err := s.Users(ctx)
	if err != nil || len(list) != 2 || list[0].Email != "owner@example.com" || len(list[0].Roles) != 1 {
		t.Fatalf("users %+v, %v", list, err)
	}

	// Login sessions: lookup by token hash, sliding, listing, ending.
	mk := func(token string, at time.Time) *marketing.LoginSession {
		ls := &marketing.LoginSession{ID: marketing.NewID(at), TokenHash: marketing.HashSecret(token), UserID: u.ID,
			Created: at, LastSeen: at, Expires: at.Add(14 * 24 * time.Hour), UserAgent: "Firefox on Linux"}
		if err := s.CreateLoginSession(ctx, ls); err != nil {
			t.Fatal(err)
		}
		return ls
	}
	a, b := mk("token-a", now), mk("token-b", now.Add(time.Second))
	old := mk("token-old", now.Add(-30*24*time.Hour))
	got1, err := s.LoginSession(ctx, a.TokenHash)
	if err != nil || !reflect.DeepEqual(got1, a) {
		t.Fatalf("session read back %+v, %v", got1, err)
	}
	if err := s.TouchLoginSession(ctx, a.TokenHash, now.Add(time.Hour), now.Add(15*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got1, _ = s.LoginSession(ctx, a.TokenHash); !got1.Expires.Equal(now.Add(15 * 24 * time.Hour)) {
		t.Fatalf("slid %+v", got1)
	}
	live, err := s.LoginSessions(ctx, u.ID, now)
	if err != nil || len(live) != 2 || live[0].ID != b.ID {
		t.Fatalf("live sessions %+v, %v (expired %s)", live, err, old.ID)
	}
	// Retention removes expired sessions only.
	ret := marketing.Retention{Rollups: "0001-01-01", LoginSessions: now, BatchSize: 10}
	if dry, err := s.Purge(ctx, ret, true); err != nil || dry["login_sessions"] != 1 {
		t.Fatalf("dry purge %v, %v", dry, err)
	}
	if done, err := s.Purge(ctx, ret, false); err != nil || done["login_sessions"] != 1 {
		t.Fatalf("purge %v, %v", done, err)
	}
	if _, err := s.LoginSession(ctx, old.TokenHash); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("expired session kept: %v", err)
	}
	if err := s.DeleteLoginSession(ctx, b.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoginSession(ctx, b.TokenHash); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("ended session: %v", err)
	}
	if n, err := s.DeleteLoginSessions(ctx, u.ID); err != nil || n != 1 {
		t.Fatalf("sign out everywhere: %d, %v", n, err)
	}
	mk("token-c", now)
	if err := s.SetPassword(ctx, u.ID, "$argon2id$new", now); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.LoginSessions(ctx, u.ID, now); len(live) != 0 {
		t.Fatalf("a new password left sessions %+v", live)
	}
	if got, _ := s.User(ctx, u.ID); got.PasswordHash != "$argon2id$new" {
		t.Fatalf("password not replaced: %+v", got)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("delete twice: %v", err)
	}
}

func testSharedLinks(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &marketing.SharedLink{ID: marketing.NewID(now), TokenHash: marketing.HashSecret("token-a"), SiteID: "a.example", Label: "client",
		PasswordHash: "$argon2id$x", HasPassword: true, Filter: `{"page":"/pricing"}`, CreatedBy: "root", Created: now, Expires: now.Add(time.Hour)}
	if err := s.CreateSharedLink(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &marketing.SharedLink{ID: marketing.NewID(now.Add(time.Second)), TokenHash: marketing.HashSecret("token-b"), SiteID: "a.example",
		CreatedBy: "user:x", Created: now.Add(time.Second)}
	if err := s.CreateSharedLink(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.SharedLinkByToken(ctx, a.TokenHash)
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("link read back\n got %+v, %v\nwant %+v", got, err, a)
	}
	if _, err := s.SharedLinkByToken(ctx, marketing.HashSecret("nope")); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("unknown token: %v", err)
	}
	if err := s.RevokeSharedLink(ctx, b.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSharedLink(ctx, b.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err = s.SharedLink(ctx, b.ID)
	if err != nil || !got.Revoked.Equal(now.Add(time.Minute)) || got.Active(now) || got.HasPassword {
		t.Fatalf("revoked link %+v, %v", got, err)
	}
	if err := s.RevokeSharedLink(ctx, "missing", now); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("revoke unknown: %v", err)
	}
	list, err := s.SharedLinks(ctx, "a.example")
	if err != nil || len(list) != 2 || list[0].ID != b.ID {
		t.Fatalf("links %+v, %v", list, err)
	}
	if list, _ := s.SharedLinks(ctx, "b.example"); len(list) != 0 {
		t.Fatalf("another site's links %+v", list)
	}
}

func testTOTP(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := &marketing.User{ID: marketing.NewID(now), Email: "two@example.com", PasswordHash: "h", Created: now, Updated: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, u.ID, nil, now); marketing.ErrorCode(err) != marketing.ENOTFOUND {
		t.Fatalf("enable without a secret: %v", err)
	}
	if err := s.SetTOTPSecret(ctx, u.ID, "JBSWY3DPEHPK3PXP", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, u.ID); got.TOTPSecret != "JBSWY3DPEHPK3PXP" || got.TOTPEnabled {
		t.Fatalf("pending %+v", got)
	}
	if err := s.EnableTOTP(ctx, u.ID, []string{"h1", "h2"}, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByEmail(ctx, u.Email); !got.TOTPEnabled {
		t.Fatalf("enabled %+v", got)
	}
	for i, c := range []struct {
		step int64
		want bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		if ok, err := s.UseTOTPStep(ctx, u.ID, c.step); err != nil || ok != c.want {
			t.Fatalf("step %d (%d): %v, %v", c.step, i, ok, err)
		}
	}
	if ok, err := s.UseRecoveryCode(ctx, u.ID, "h1", now); !ok || err != nil {
		t.Fatalf("recovery code: %v %v", ok, err)
	}
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "h1", now); ok {
		t.Fatal("a recovery code was used twice")
	}
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "nope", now); ok {
		t.Fatal("an unknown recovery code was accepted")
	}
	if err := s.DisableTOTP(ctx, u.ID, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, u.ID); got.TOTPSecret != "" || got.TOTPEnabled {
		t.Fatalf("disabled %+v", got)
	}
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "h2", now); ok {
		t.Fatal("a recovery code outlived its factor")
	}
}

// testLeadFilters: the dashboard's filters and search: campaign (first or
// last touch), a date range, and an address or its start, on top of the
// existing consent status and source.
func testLeadFilters(t *testing.T, s marketing.Store) {
	ctx := context.Background()
	now := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	add := func(email, status, campaign, source string, at time.Time) {
		t.Helper()
		c := Lead(email, "visitor-"+email, status, "I agree", at)
		c.Input.SourceChannel = source
		c.Event.UTM.Campaign = campaign
		if _, err := s.CaptureLead(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	add("ada@example.com", "express", "spring", "newsletter", now.Add(-72*time.Hour))
	add("adam@example.org", "pending", "", "webinar", now.Add(-48*time.Hour))
	add("bob%_@example.com", "express", "autumn", "newsletter", now.Add(-24*time.Hour))
	add("carol@example.net", "express", "spring", "", now)
	list := func(f marketing.LeadFilter) []string {
		t.Helper()
		out := []string{}
		if err := s.Leads(ctx, f, func(l *marketing.Lead) error { out = append(out, l.Email); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    marketing.LeadFilter
		want []string
	}{
		{"campaign", marketing.LeadFilter{Campaign: "spring"}, []string{"carol@example.net", "ada@example.com"}},
		{"campaign and status", marketing.LeadFilter{Campaign: "spring", ConsentStatus: "express", Source: "newsletter"}, []string{"ada@example.com"}},
		{"until excluded", marketing.LeadFilter{Until: now.Add(-24 * time.Hour)}, []string{"adam@example.org", "ada@example.com"}},
		{"range", marketing.LeadFilter{Since: now.Add(-48 * time.Hour), Until: now}, []string{"bob%_@example.com", "adam@example.org"}},
		{"exact address", marketing.LeadFilter{Email: "ada@example.com"}, []string{"ada@example.com"}},
		{"prefix", marketing.LeadFilter{Email: "ada"}, []string{"adam@example.org", "ada@example.com"}},
		{"prefix with a LIKE wildcard is literal", marketing.LeadFilter{Email: "bob%"}, []string{"bob%_@example.com"}},
		{"a wildcard matches nothing else", marketing.LeadFilter{Email: "%"}, []string{}},
		{"underscore is literal", marketing.LeadFilter{Email: "a_a"}, []string{}},
		{"no match", marketing.LeadFilter{Email: "zed"}, []string{}},
	} {
		if got := list(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Paging through a search with the cursor.
	first := []marketing.Lead{}
	if err := s.Leads(ctx, marketing.LeadFilter{Email: "ada", Limit: 1}, func(l *marketing.Lead) error { first = append(first, *l); return nil }); err != nil {
		t.Fatal(err)
	}
	f := marketing.LeadFilter{Email: "ada"}
	if len(first) != 1 || !f.SetCursor(first[0].Cursor()) {
		t.Fatalf("first page %v", first)
	}
	if got := list(f); !reflect.DeepEqual(got, []string{"ada@example.com"}) {
		t.Errorf("second page of the search: %v", got)
	}
}
