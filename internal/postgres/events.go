package postgres

import (
	"context"
	"errors"
	"fmt"

	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/altcontext/marketing"
)

// arrayType is each column kind's array type in the insert.
var arrayType = map[marketing.ColumnKind]string{
	marketing.KindText: "text[]", marketing.KindBytes: "bytea[]", marketing.KindTime: "timestamptz[]",
	marketing.KindInt: "int8[]", marketing.KindFloat: "float8[]", marketing.KindBool: "bool[]", marketing.KindJSON: "text[]",
}

// eventInsert appends a batch in one statement built from
// marketing.EventColumns: every column is an array unnested in a select
// list (a ProjectSet streams; unnest in FROM would materialise a
// tuplestore per statement). A stored dedupe key makes the row a
// duplicate (ON CONFLICT), and so does a stored previous-bucket key
// received inside the window (NOT EXISTS, one index probe). It returns the
// keys it stored.
func eventInsert() string {
	n := len(marketing.EventColumns)
	names, sel, outer := make([]string, n), make([]string, n), make([]string, n)
	for i, c := range marketing.EventColumns {
		names[i] = c.Name
		sel[i] = fmt.Sprintf("unnest($%d::%s) AS %s", i+1, arrayType[c.Kind], c.Name)
		outer[i] = "e." + c.Name
		if c.Kind == marketing.KindJSON {
			outer[i] += "::jsonb"
		}
	}
	return `INSERT INTO events (` + strings.Join(names, ", ") + `)
		SELECT ` + strings.Join(outer, ", ") + `
		FROM (SELECT ` + strings.Join(sel, ", ") + fmt.Sprintf(`, unnest($%d::bytea[]) AS prev_key, unnest($%d::timestamptz[]) AS since) e
		WHERE e.prev_key IS NULL OR NOT EXISTS (SELECT 1 FROM events p WHERE p.dedupe_key = e.prev_key AND p.received_at > e.since)
		ON CONFLICT (dedupe_key) DO NOTHING
		RETURNING dedupe_key`, n+1, n+2)
}

// columnArrays turns the events at idx into one array per column.
func columnArrays(events []marketing.PendingEvent, idx []int) []any {
	args := make([]any, 0, len(marketing.EventColumns)+2)
	for _, c := range marketing.EventColumns {
		switch c.Kind {
		case marketing.KindText:
			a := make([]*string, len(idx))
			for i, j := range idx {
				if s := c.Value(&events[j]).(string); s != "" || c.NotNull {
					a[i] = &s
				}
			}
			args = append(args, a)
		case marketing.KindBytes:
			a := make([][]byte, len(idx))
			for i, j := range idx {
				a[i] = c.Value(&events[j]).([]byte)
			}
			args = append(args, a)
		case marketing.KindJSON:
			a := make([]*string, len(idx))
			for i, j := range idx {
				if b := c.Value(&events[j]).([]byte); b != nil {
					s := string(b)
					a[i] = &s
				}
			}
			args = append(args, a)
		case marketing.KindTime:
			a := make([]time.Time, len(idx))
			for i, j := range idx {
				a[i] = c.Value(&events[j]).(time.Time)
			}
			args = append(args, a)
		case marketing.KindInt:
			a := make([]*int64, len(idx))
			for i, j := range idx {
				a[i] = c.Value(&events[j]).(*int64)
			}
			args = append(args, a)
		case marketing.KindFloat:
			a := make([]*float64, len(idx))
			for i, j := range idx {
				a[i] = c.Value(&events[j]).(*float64)
			}
			args = append(args, a)
		case marketing.KindBool:
			a := make([]bool, len(idx))
			for i, j := range idx {
				a[i] = c.Value(&events[j]).(bool)
			}
			args = append(args, a)
		}
	}
	prev, since := make([][]byte, len(idx)), make([]time.Time, len(idx))
	for i, j := range idx {
		prev[i], since[i] = events[j].PrevKey, events[j].DedupeSince
	}
	return append(args, prev, since)
}

// AppendEvents appends a batch with one INSERT (autocommitted: the answer
// comes once it is durable). Only when some events were not stored does a
// second statement read the stored events they duplicate.
func (db *DB) AppendEvents(ctx context.Context, events []marketing.PendingEvent) ([]marketing.EventResult, error) {
	dupOf := marketing.DedupeEvents(events)
	idx := make([]int, 0, len(events))
	for i, d := range dupOf {
		if d < 0 {
			idx = append(idx, i)
		}
	}
	rows, err := db.pool.Query(ctx, eventInsert(), columnArrays(events, idx)...)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: append events: %w", err))
	}
	stored := make(map[string]bool, len(idx))
	var key []byte
	_, err = pgx.ForEachRow(rows, []any{&key}, func() error {
		stored[string(key)] = true
		return nil
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: append events: %w", err))
	}
	res := make([]marketing.EventResult, len(events))
	var missing [][]byte
	for _, i := range idx {
		ev := &events[i]
		if stored[string(ev.DedupeKey)] {
			res[i] = marketing.EventResult{EventID: ev.ID, VisitorID: ev.VisitorID}
			continue
		}
		missing = append(missing, ev.DedupeKey)
		if ev.PrevKey != nil {
			missing = append(missing, ev.PrevKey)
		}
	}
	if len(missing) > 0 {
		found, err := db.storedKeys(ctx, missing)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			ev := &events[i]
			if stored[string(ev.DedupeKey)] {
				continue
			}
			res[i] = marketing.ResolveDuplicate(ev, found)
		}
	}
	for i, d := range dupOf {
		if d >= 0 {
			res[i] = res[d]
			res[i].Duplicate = true
		}
	}
	return res, nil
}

// storedKeys reads the stored events under keys.
func (db *DB) storedKeys(ctx context.Context, keys [][]byte) (map[string]marketing.StoredKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT dedupe_key, id, visitor_id, received_at FROM events WHERE dedupe_key = ANY($1::bytea[])`, keys)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read duplicates: %w", err))
	}
	found := map[string]marketing.StoredKey{}
	var k marketing.StoredKey
	var key []byte
	_, err = pgx.ForEachRow(rows, []any{&key, &k.EventID, &k.VisitorID, &k.ReceivedAt}, func() error {
		found[string(key)] = k
		return nil
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: read duplicates: %w", err))
	}
	return found, nil
}

// sessionEventColumns is what derivation reads of an event, in
// scanSessionEvent's order.
const sessionEventColumns = `e.id, e.visitor_id, e.property_id, e.event_type, e.path, e.occurred_at, coalesce(e.referrer_host, ''),
	e.traffic_source, coalesce(e.utm_source, ''), coalesce(e.utm_medium, ''), coalesce(e.utm_campaign, ''),
	coalesce(e.utm_term, ''), coalesce(e.utm_content, ''), e.device_type, coalesce(e.browser, ''), coalesce(e.os, ''),
	coalesce(e.country_code, ''), e.is_conversion, coalesce(e.engaged_ms, 0), coalesce(e.ip_ua_hash, '')`

func scanSessionEvent(r pgx.CollectableRow) (marketing.SessionEvent, error) {
	var e marketing.SessionEvent
	err := r.Scan(&e.ID, &e.VisitorID, &e.PropertyID, &e.EventType, &e.Path, &e.OccurredAt, &e.ReferrerHost,
		&e.TrafficSource, &e.UTM.Source, &e.UTM.Medium, &e.UTM.Campaign, &e.UTM.Term, &e.UTM.Content,
		&e.DeviceType, &e.Browser, &e.OS, &e.CountryCode, &e.IsConversion, &e.EngagedMs, &e.IPUAHash)
	return e, err
}

// VisitorEvents returns a visitor's events since a time, in time order.
func (db *DB) VisitorEvents(ctx context.Context, visitorID string, since time.Time) ([]marketing.SessionEvent, error) {
	return visitorEvents(ctx, db.pool, visitorID, since)
}

func visitorEvents(ctx context.Context, q querier, visitorID string, since time.Time) ([]marketing.SessionEvent, error) {
	rows, err := q.Query(ctx, `SELECT `+sessionEventColumns+` FROM events e WHERE e.visitor_id = $1 AND e.occurred_at >= $2
		ORDER BY e.occurred_at, e.id`, visitorID, since)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: visitor events: %w", err))
	}
	out, err := pgx.CollectRows(rows, scanSessionEvent)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: visitor events: %w", err))
	}
	return out, nil
}

// Sessionize materialises the sessions of events committed since the
// cursor. The cursor is a transaction id: rows written by transactions
// older than the oldest one still running (the snapshot's xmin) are all
// visible, so none is ever skipped, however long a batch took to commit.
// The run holds the cursor's row lock in one transaction while its
// visitors are derived again in transactions of their own
// (sessionizeGroups visitors each, so memory stays bounded), then moves
// the cursor. A run that dies in between leaves the cursor where it was;
// the next one derives the same sessions again.
func (db *DB) Sessionize(ctx context.Context, rules marketing.SessionRules, limit int) (marketing.SessionizeResult, error) {
	var res marketing.SessionizeResult
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var horizon string
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&horizon); err != nil {
			return err
		}
		var pos string
		err := tx.QueryRow(ctx, `SELECT position::text FROM sessionizer WHERE id = 1 FOR UPDATE SKIP LOCKED`).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) {
			res.Busy = true
			return nil
		}
		if err != nil {
			return err
		}
		end := horizon
		var next string
		err = tx.QueryRow(ctx, `SELECT tx::text FROM events WHERE tx >= $1::text::xid8 AND tx < $2::text::xid8 ORDER BY tx OFFSET $3 LIMIT 1`,
			pos, horizon, limit).Scan(&next)
		switch {
		case err == nil && next != pos:
			end, res.More = next, true
		case err == nil:
			// One transaction holds more than limit events: take it whole.
			if err := tx.QueryRow(ctx, `SELECT ($1::text::xid8::text::numeric + 1)::text`, pos).Scan(&end); err != nil {
				return err
			}
			res.More = end != horizon
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		rows, err := tx.Query(ctx, `SELECT visitor_id, property_id, min(occurred_at), count(*) FROM events
			WHERE tx >= $1::text::xid8 AND tx < $2::text::xid8 GROUP BY 1, 2`, pos, end)
		if err != nil {
			return err
		}
		var vs, ps []string
		var mins []time.Time
		var v, p string
		var m time.Time
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&v, &p, &m, &n}, func() error {
			vs, ps, mins = append(vs, v), append(ps, p), append(mins, m)
			res.Events += n
			return nil
		}); err != nil {
			return err
		}
		res.Visitors = len(vs)
		for i := 0; i < len(vs); i += sessionizeGroups {
			j := min(i+sessionizeGroups, len(vs))
			err := pgx.BeginFunc(ctx, db.pool, func(t pgx.Tx) error {
				written, err := rederive(ctx, t, vs[i:j], ps[i:j], mins[i:j], rules)
				res.Sessions += written
				return err
			})
			if err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE sessionizer SET position = $1::text::xid8, updated_at = now() WHERE id = 1`, end)
		return err
	})
	if err != nil {
		return res, unavailable(fmt.Errorf("postgres: sessionize: %w", err))
	}
	return res, nil
}

// sessionizeGroups is how many visitors one transaction of a sessionizer
// run derives again: their events are in memory meanwhile.
const sessionizeGroups = 100

// rederive derives again the sessions of each (visitor, property) from the
// start of the first session that an event at or after its earliest new
// event could touch (one that ended less than the inactivity gap before
// it), replacing the stored ones from there on.
func rederive(ctx context.Context, tx pgx.Tx, vs, ps []string, mins []time.Time, rules marketing.SessionRules) (int, error) {
	gap := rules.Inactivity.Milliseconds()
	rows, err := tx.Query(ctx, `SELECT g.v, g.p, least(g.m, (SELECT min(s.started_at) FROM sessions s
			WHERE s.visitor_id = g.v AND s.property_id = g.p AND s.ended_at >= g.m - $4::int8 * interval '1 millisecond'))
		FROM (SELECT unnest($1::text[]) AS v, unnest($2::text[]) AS p, unnest($3::timestamptz[]) AS m) g`, vs, ps, mins, gap)
	if err != nil {
		return 0, err
	}
	froms := make([]time.Time, 0, len(vs))
	vs, ps = vs[:0], ps[:0]
	var v, p string
	var f time.Time
	if _, err := pgx.ForEachRow(rows, []any{&v, &p, &f}, func() error {
		vs, ps, froms = append(vs, v), append(ps, p), append(froms, f)
		return nil
	}); err != nil {
		return 0, err
	}
	const groups = `(SELECT unnest($1::text[]) AS v, unnest($2::text[]) AS p, unnest($3::timestamptz[]) AS f) g`
	rows, err = tx.Query(ctx, `SELECT `+sessionEventColumns+` FROM `+groups+`
		JOIN events e ON e.visitor_id = g.v AND e.property_id = g.p AND e.occurred_at >= g.f`, vs, ps, froms)
	if err != nil {
		return 0, err
	}
	events, err := pgx.CollectRows(rows, scanSessionEvent)
	if err != nil {
		return 0, err
	}
	sessions := marketing.DeriveSessions(events, rules)
	var b pgx.Batch
	b.Queue(`DELETE FROM sessions s USING `+groups+` WHERE s.visitor_id = g.v AND s.property_id = g.p AND s.started_at >= g.f`, vs, ps, froms)
	if len(sessions) > 0 {
		queueSessionInsert(&b, sessions)
	}
	return len(sessions), tx.SendBatch(ctx, &b).Close()
}

// ResetSessions drops the materialised sessions and rewinds the cursor.
func (db *DB) ResetSessions(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT position FROM sessionizer WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `TRUNCATE sessions`)
		if err == nil {
			_, err = tx.Exec(ctx, `UPDATE sessionizer SET position = '0', updated_at = now() WHERE id = 1`)
		}
		return err
	})
	if err != nil {
		return unavailable(fmt.Errorf("postgres: reset sessions: %w", err))
	}
	return nil
}

const sessionInsert = `INSERT INTO sessions (id, visitor_id, property_id, started_at, ended_at, landing_path, exit_path, referrer_host,
		traffic_source, utm_source, utm_medium, utm_campaign, utm_term, utm_content, device_type, browser, os, country_code,
		page_views, event_count, engaged_ms, converted, bounce, ip_ua_hash, channel)
	SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::timestamptz[]), unnest($5::timestamptz[]),
		unnest($6::text[]), unnest($7::text[]), unnest($8::text[]), unnest($9::text[]), unnest($10::text[]), unnest($11::text[]),
		unnest($12::text[]), unnest($13::text[]), unnest($14::text[]), unnest($15::text[]), unnest($16::text[]), unnest($17::text[]),
		unnest($18::text[]), unnest($19::int4[]), unnest($20::int4[]), unnest($21::int8[]), unnest($22::bool[]), unnest($23::bool[]),
		unnest($24::text[]), unnest($25::text[])`

func queueSessionInsert(b *pgx.Batch, ss []marketing.Session) {
	n := len(ss)
	text := func(f func(*marketing.Session) string) []*string {
		a := make([]*string, n)
		for i := range ss {
			a[i] = nullable(f(&ss[i]))
		}
		return a
	}
	started, ended := make([]time.Time, n), make([]time.Time, n)
	pv, ec := make([]int32, n), make([]int32, n)
	engaged := make([]int64, n)
	conv, bounce := make([]bool, n), make([]bool, n)
	for i := range ss {
		s := &ss[i]
		started[i], ended[i], pv[i], ec[i], engaged[i], conv[i], bounce[i] = s.StartedAt, s.EndedAt, int32(s.PageViews), int32(s.Events), s.EngagedMs, s.Converted, s.Bounce
	}
	b.Queue(sessionInsert,
		text(func(s *marketing.Session) string { return s.ID }), text(func(s *marketing.Session) string { return s.VisitorID }),
		text(func(s *marketing.Session) string { return s.PropertyID }), started, ended,
		text(func(s *marketing.Session) string { return s.LandingPath }), text(func(s *marketing.Session) string { return s.ExitPath }),
		text(func(s *marketing.Session) string { return s.ReferrerHost }), text(func(s *marketing.Session) string { return s.TrafficSource }),
		text(func(s *marketing.Session) string { return s.UTM.Source }), text(func(s *marketing.Session) string { return s.UTM.Medium }),
		text(func(s *marketing.Session) string { return s.UTM.Campaign }), text(func(s *marketing.Session) string { return s.UTM.Term }),
		text(func(s *marketing.Session) string { return s.UTM.Content }), text(func(s *marketing.Session) string { return s.DeviceType }),
		text(func(s *marketing.Session) string { return s.Browser }), text(func(s *marketing.Session) string { return s.OS }),
		text(func(s *marketing.Session) string { return s.CountryCode }), pv, ec, engaged, conv, bounce,
		text(func(s *marketing.Session) string { return s.IPUAHash }), text(func(s *marketing.Session) string { return s.Channel }))
}

// sessionColumns lists a session's columns in scanSession's order.
const sessionColumns = `s.id, s.visitor_id, s.property_id, s.started_at, s.ended_at, s.landing_path, coalesce(s.exit_path, ''),
	coalesce(s.referrer_host, ''), s.traffic_source, coalesce(s.utm_source, ''), coalesce(s.utm_medium, ''), coalesce(s.utm_campaign, ''),
	coalesce(s.utm_term, ''), coalesce(s.utm_content, ''), coalesce(s.device_type, ''), coalesce(s.browser, ''), coalesce(s.os, ''),
	coalesce(s.country_code, ''), s.page_views, s.event_count, s.engaged_ms, s.converted, s.bounce, coalesce(s.ip_ua_hash, ''),
	coalesce(s.channel, '')`

func scanSession(r pgx.CollectableRow) (marketing.Session, error) {
	var s marketing.Session
	err := r.Scan(&s.ID, &s.VisitorID, &s.PropertyID, &s.StartedAt, &s.EndedAt, &s.LandingPath, &s.ExitPath,
		&s.ReferrerHost, &s.TrafficSource, &s.UTM.Source, &s.UTM.Medium, &s.UTM.Campaign, &s.UTM.Term, &s.UTM.Content,
		&s.DeviceType, &s.Browser, &s.OS, &s.CountryCode, &s.PageViews, &s.Events, &s.EngagedMs, &s.Converted, &s.Bounce, &s.IPUAHash, &s.Channel)
	return s, err
}

// VisitorSessions lists a visitor's materialised sessions, oldest first.
func (db *DB) VisitorSessions(ctx context.Context, visitorID string) ([]marketing.Session, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE visitor_id = $1 ORDER BY started_at, id`, visitorID)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: visitor sessions: %w", err))
	}
	out, err := pgx.CollectRows(rows, scanSession)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: visitor sessions: %w", err))
	}
	return out, nil
}

// unavailable marks failures that are not the statement's fault (the
// server is down, restarting, out of connections, or the network broke) as
// EUNAVAILABLE, so the caller answers 503 and the client retries. Errors the
// server raised about the statement itself stay internal: they are bugs.
// Every store method passes its errors through here, so every route
// classifies an outage the same way.
func unavailable(err error) error {
	if err == nil || marketing.ErrorCode(err) != marketing.EINTERNAL {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57", "58", "40":
		default:
			return err
		}
	}
	return fmt.Errorf("%w: %w", marketing.Errorf(marketing.EUNAVAILABLE, "database unavailable"), err)
}

// AddRejections adds to the hourly rejection counters.
func (db *DB) AddRejections(ctx context.Context, counts []marketing.RejectionCount) error {
	if len(counts) == 0 {
		return nil
	}
	n := len(counts)
	hours, props, eps, reasons, cs := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, c := range counts {
		hours[i], props[i], eps[i], reasons[i], cs[i] = c.Hour, c.PropertyID, c.Endpoint, c.Reason, c.Count
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO ingest_rejections AS r (hour, property_id, endpoint, reason, count)
		SELECT unnest($1::timestamptz[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), unnest($5::int8[])
		ON CONFLICT (hour, property_id, endpoint, reason) DO UPDATE SET count = r.count + excluded.count`,
		hours, props, eps, reasons, cs)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: add rejections: %w", err))
	}
	return nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Rejections sums the counters of hours in [from, to).
func (db *DB) Rejections(ctx context.Context, from, to time.Time) ([]marketing.RejectionCount, error) {
	rows, err := db.pool.Query(ctx, `SELECT property_id, endpoint, reason, sum(count)::int8 FROM ingest_rejections
		WHERE hour >= $1 AND hour < $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, from, to)
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: rejections: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.RejectionCount, error) {
		var c marketing.RejectionCount
		err := r.Scan(&c.PropertyID, &c.Endpoint, &c.Reason, &c.Count)
		return c, err
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("postgres: rejections: %w", err))
	}
	return out, nil
}
