package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/altcontext/marketing"
)

// isUnique reports a unique or primary-key violation.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CreateSite stores a new site with its domains and origins.
func (db *DB) CreateSite(ctx context.Context, s *marketing.Site) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sites (id, name, time_zone, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			s.ID, s.Name, s.TimeZone, ms(s.Created), ms(s.Updated)); err != nil {
			return false, err
		}
		return true, insertSiteParts(ctx, tx, s)
	})
	return siteError("create site", err)
}

func insertSiteParts(ctx context.Context, tx *sql.Tx, s *marketing.Site) error {
	for i, d := range s.Domains {
		if _, err := tx.ExecContext(ctx, `INSERT INTO site_domains (domain, site_id, position) VALUES (?, ?, ?)`, d, s.ID, i); err != nil {
			return err
		}
	}
	for i, o := range s.Origins {
		if _, err := tx.ExecContext(ctx, `INSERT INTO site_origins (site_id, origin, position) VALUES (?, ?, ?)`, s.ID, o, i); err != nil {
			return err
		}
	}
	return nil
}

func siteError(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case isUnique(err):
		return marketing.Errorf(marketing.ECONFLICT, "the site id or one of its domains is already registered")
	case marketing.ErrorCode(err) != marketing.EINTERNAL:
		return err
	}
	return unavailable(fmt.Errorf("sqlite: %s: %w", what, err))
}

// UpdateSite replaces a site's fields, domains and origins.
func (db *DB) UpdateSite(ctx context.Context, s *marketing.Site) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE sites SET name = ?, time_zone = ?, updated_at = ? WHERE id = ?`, s.Name, s.TimeZone, ms(s.Updated), s.ID)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return false, marketing.Errorf(marketing.ENOTFOUND, "no such site")
		}
		for _, q := range []string{`DELETE FROM site_domains WHERE site_id = ?`, `DELETE FROM site_origins WHERE site_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, s.ID); err != nil {
				return false, err
			}
		}
		return true, insertSiteParts(ctx, tx, s)
	})
	return siteError("update site", err)
}

// DeleteSite removes a site's registration; its data stays.
func (db *DB) DeleteSite(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM sites WHERE id = ?`, id)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: delete site: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return marketing.Errorf(marketing.ENOTFOUND, "no such site")
	}
	return nil
}

// Site returns one site.
func (db *DB) Site(ctx context.Context, id string) (*marketing.Site, error) {
	all, err := db.sites(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, marketing.Errorf(marketing.ENOTFOUND, "no such site")
	}
	return &all[0], nil
}

// Sites lists every site, by id.
func (db *DB) Sites(ctx context.Context) ([]marketing.Site, error) { return db.sites(ctx, "") }

func (db *DB) sites(ctx context.Context, id string) ([]marketing.Site, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, name, time_zone, created_at, updated_at FROM sites WHERE ?1 = '' OR id = ?1 ORDER BY id`, id)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: list sites: %w", err))
	}
	defer rows.Close()
	out := []marketing.Site{}
	index := map[string]int{}
	for rows.Next() {
		var s marketing.Site
		var c, u int64
		if err := rows.Scan(&s.ID, &s.Name, &s.TimeZone, &c, &u); err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: list sites: %w", err))
		}
		s.Created, s.Updated, s.Domains, s.Origins = fromMS(c), fromMS(u), []string{}, []string{}
		index[s.ID] = len(out)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: list sites: %w", err))
	}
	parts := []struct {
		q   string
		add func(*marketing.Site, string)
	}{
		{`SELECT site_id, domain FROM site_domains WHERE ?1 = '' OR site_id = ?1 ORDER BY site_id, position`, func(s *marketing.Site, v string) { s.Domains = append(s.Domains, v) }},
		{`SELECT site_id, origin FROM site_origins WHERE ?1 = '' OR site_id = ?1 ORDER BY site_id, position`, func(s *marketing.Site, v string) { s.Origins = append(s.Origins, v) }},
	}
	for _, p := range parts {
		if err := db.eachPair(ctx, p.q, id, func(site, v string) {
			if i, ok := index[site]; ok {
				p.add(&out[i], v)
			}
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (db *DB) eachPair(ctx context.Context, q, arg string, fn func(a, b string)) error {
	rows, err := db.read.QueryContext(ctx, q, arg)
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: list sites: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return unavailable(fmt.Errorf("sqlite: list sites: %w", err))
		}
		fn(a, b)
	}
	return unavailable(rows.Err())
}
