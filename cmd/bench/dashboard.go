package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/altcontext/marketing"
	"github.com/altcontext/marketing/internal/password"
)

// benchDashboard times the dashboard's overview page, all panels (about 20
// stats-engine queries and the realtime read, rendered to HTML), for a
// signed-in owner, one request at a time, on the stats scenario's data and
// server. It registers the bench sites and an owner through the store.
func benchDashboard(url, store, dbURL string) ([]result, error) {
	ctx := context.Background()
	st, err := openStore(store, dbURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("bench-%d", i)
		err := st.CreateSite(ctx, &marketing.Site{ID: id, Name: id, Domains: []string{id + ".example"}, Origins: []string{}, Created: now, Updated: now})
		if err != nil && marketing.ErrorCode(err) != marketing.ECONFLICT {
			return nil, err
		}
	}
	const email, pw = "bench-owner@example.com", "bench-owner-password"
	hash, err := password.New(1).Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	u := &marketing.User{ID: marketing.NewID(now), Email: email, PasswordHash: hash, Created: now, Updated: now,
		Roles: []marketing.SiteRole{{SiteID: marketing.AllSites, Role: marketing.RoleOwner}}}
	if err := st.CreateUser(ctx, u); err != nil && marketing.ErrorCode(err) != marketing.ECONFLICT {
		return nil, err
	}
	req, _ := http.NewRequest("POST", url+"/login", strings.NewReader(`{"email":"`+email+`","password":"`+pw+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "marketing_session") { // __Host- prefixed in production
			cookie = c
		}
	}
	if cookie == nil {
		return nil, fmt.Errorf("dashboard: login answered %d without a session", res.StatusCode)
	}
	// Half the loads plain (the rollups answer the panels), half with a
	// filter and a comparison (every panel reads raw rows, twice): timed
	// apart, as the two cost very differently.
	const samples = 40
	times := map[bool][]time.Duration{}
	bad, size := 0, 0
	for i := range samples {
		path := fmt.Sprintf("/sites/bench-%d", i%5+1)
		filtered := i%2 == 1
		if filtered {
			path += "?compare=previous_period&f=device:is:desktop"
		}
		req, _ := http.NewRequest("GET", url+path, nil)
		req.AddCookie(cookie)
		status, raw, took, err := timed(i, req)
		if err != nil {
			return nil, err
		}
		times[filtered] = append(times[filtered], took)
		if status != 200 || !strings.Contains(string(raw), `data-metric="visitors"`) {
			if bad == 0 {
				fmt.Printf("  dashboard-overview: %d %.200s\n", status, raw)
			}
			bad++
		}
		size = max(size, len(raw))
	}
	var out []result
	for _, filtered := range []bool{false, true} {
		ts := times[filtered]
		kind := "dashboard-overview"
		if filtered {
			kind += "+filter+comparison"
		}
		r := result{Store: store, Target: "stats " + kind, Conns: 1, Accepted: int64(len(ts)), Other: 0}
		r.oneAtATime(ts)
		fmt.Printf("  %s (all panels): p50 %s, p99 %s, largest page %d bytes of HTML, %d failed loads in all\n", kind, r.P50, r.P99, size, bad)
		out = append(out, r)
	}
	return out, nil
}
