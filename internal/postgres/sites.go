package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/altcontext/marketing"
)

// isUnique reports a unique or primary-key violation.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// CreateSite stores a new site with its domains and origins.
func (db *DB) CreateSite(ctx context.Context, s *marketing.Site) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sites (id, name, time_zone, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
			s.ID, s.Name, s.TimeZone, s.Created, s.Updated); err != nil {
			return err
		}
		return insertSiteParts(ctx, tx, s)
	})
	return siteError("create site", err)
}

func insertSiteParts(ctx context.Context, tx pgx.Tx, s *marketing.Site) error {
	for i, d := range s.Domains {
		if _, err := tx.Exec(ctx, `INSERT INTO site_domains (domain, site_id, position) VALUES ($1, $2, $3)`, d, s.ID, i); err != nil {
			return err
		}
	}
	for i, o := range s.Origins {
		if _, err := tx.Exec(ctx, `INSERT INTO site_origins (site_id, origin, position) VALUES ($1, $2, $3)`, s.ID, o, i); err != nil {
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
	return unavailable(fmt.Errorf("postgres: %s: %w", what, err))
}

// UpdateSite replaces a site's fields, domains and origins.
func (db *DB) UpdateSite(ctx context.Context, s *marketing.Site) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sites SET name = $1, time_zone = $2, updated_at = $3 WHERE id = $4`, s.Name, s.TimeZone, s.Updated, s.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return marketing.Errorf(marketing.ENOTFOUND, "no such site")
		}
		for _, q := range []string{`DELETE FROM site_domains WHERE site_id = $1`, `DELETE FROM site_origins WHERE site_id = $1`} {
			if _, err := tx.Exec(ctx, q, s.ID); err != nil {
				return err
			}
		}
		return insertSiteParts(ctx, tx, s)
	})
	return siteError("update site", err)
}

// DeleteSite removes a site's registration; its data stays.
func (db *DB) DeleteSite(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sites WHERE id = $1`, id)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: delete site: %w", err))
	}
	if tag.RowsAffected() == 0 {
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
	rows, err := db.pool.Query(ctx, `SELECT s.id, s.name, s.time_zone, s.created_at, s.updated_at,
			coalesce((SELECT array_agg(domain ORDER BY position) FROM site_domains d WHERE d.site_id = s.id), '{}'),
			coalesce((SELECT array_agg(origin ORDER BY position) FROM site_origins o WHERE o.site_id = s.id), '{}')
		FROM sites s WHERE $1 = '' OR s.id = $1 ORDER BY s.id`, id)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list sites: %w", err))
	}
	out := []marketing.Site{}
	var s marketing.Site
	if _, err := pgx.ForEachRow(rows, []any{&s.ID, &s.Name, &s.TimeZone, &s.Created, &s.Updated, &s.Domains, &s.Origins}, func() error {
		s.Created, s.Updated = s.Created.UTC(), s.Updated.UTC()
		out = append(out, s)
		s = marketing.Site{}
		return nil
	}); err != nil {
		return nil, unavailable(fmt.Errorf("postgres: list sites: %w", err))
	}
	return out, nil
}
