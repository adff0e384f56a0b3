package dashboard

import (
	"net/http"
	"net/url"

	"github.com/altcontext/marketing"
)

// sharedSite resolves /share/{token}: nil when it has answered (404 for an
// unknown, revoked or expired link; the password form for a locked one).
func (d *Dashboard) sharedSite(w http.ResponseWriter, r *http.Request, status int, wrong bool) (*Principal, *marketing.Site) {
	token := r.PathValue("token")
	l, unlocked, err := d.SharedLink(r, token)
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		d.NotFound(w, r)
		return nil, nil
	}
	if err != nil {
		d.ServerError(w, r, nil, err)
		return nil, nil
	}
	p := &Principal{Actor: "share:" + l.ID, Share: l}
	if l.HasPassword && !unlocked {
		if status == 0 {
			status = http.StatusUnauthorized
		}
		d.Render(w, r, "share_password", &Page{Title: "Password required", P: p, Status: status, Zone: d.zone(),
			Data: struct {
				Action string
				Wrong  bool
			}{"/share/" + url.PathEscape(token), wrong}})
		return nil, nil
	}
	site, err := d.Store.Site(r.Context(), l.SiteID)
	if marketing.ErrorCode(err) == marketing.ENOTFOUND {
		site, err = &marketing.Site{ID: l.SiteID}, nil // a free-form property
	}
	if err != nil {
		d.ServerError(w, r, p, err)
		return nil, nil
	}
	return p, site
}

// handleShared is GET /share/{token}: the overview, read-only, with no
// navigation and no leads; a link without password may be framed.
func (d *Dashboard) handleShared() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, site := d.sharedSite(w, r, 0, false)
		if site == nil {
			return
		}
		base := "/share/" + url.PathEscape(r.PathValue("token"))
		if redirectFilterEditor(w, r, base) {
			return
		}
		d.overview(w, r, p, site, base, !p.Share.HasPassword)
	})
}

// handleShareUnlock is POST /share/{token}: the password form.
func (d *Dashboard) handleShareUnlock() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		if err := r.ParseForm(); err != nil {
			d.errorPage(w, r, nil, http.StatusBadRequest, "The form could not be read.")
			return
		}
		cookiePath := "/share/" + url.PathEscape(token)
		switch status := d.UnlockShare(w, r, token, r.PostForm.Get("password"), cookiePath); status {
		case 0:
			http.Redirect(w, r, cookiePath, http.StatusSeeOther)
		case http.StatusUnauthorized:
			d.sharedSite(w, r, http.StatusUnauthorized, true)
		case http.StatusNotFound:
			d.NotFound(w, r)
		case http.StatusTooManyRequests:
			d.errorPage(w, r, nil, status, "Too many attempts: wait a minute and try again.")
		case http.StatusForbidden:
			d.errorPage(w, r, nil, status, "This form was refused: reload the page and try again.")
		default:
			d.ServerError(w, r, nil, nil)
		}
	})
}

// handleSharedExport is GET /share/{token}/export/{panel}.csv.
func (d *Dashboard) handleSharedExport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, site := d.sharedSite(w, r, 0, false)
		if site == nil {
			return
		}
		d.export(w, r, p, site)
	})
}
