package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/altcontext/marketing"
)

// eventInsert appends one event, built from marketing.EventColumns: a
// stored dedupe key makes it a duplicate (ON CONFLICT), and so does a stored
// previous-bucket key received inside the window (NOT EXISTS). Executed
// once per event of a batch, prepared, in one transaction.
func eventInsert() string {
	n := len(marketing.EventColumns)
	names, params := make([]string, n), make([]string, n)
	for i, c := range marketing.EventColumns {
		names[i] = c.Name
		params[i] = fmt.Sprintf("?%d", i+1)
	}
	return `INSERT INTO events (` + strings.Join(names, ", ") + `)
		SELECT ` + strings.Join(params, ", ") + fmt.Sprintf(`
		WHERE ?%d IS NULL OR NOT EXISTS (SELECT 1 FROM events p WHERE p.dedupe_key = ?%d AND p.received_at > ?%d)
		ON CONFLICT (dedupe_key) DO NOTHING`, n+1, n+1, n+2)
}

// eventArgs are one event's insert parameters.
func eventArgs(ev *marketing.PendingEvent) []any {
	args := make([]any, 0, len(marketing.EventColumns)+2)
	for _, c := range marketing.EventColumns {
		v := c.Value(ev)
		switch c.Kind {
		case marketing.KindText:
			if s := v.(string); s == "" && !c.NotNull {
				v = nil
			}
		case marketing.KindJSON:
			if b := v.([]byte); b != nil {
				v = string(b)
			} else {
				v = nil
			}
		case marketing.KindTime:
			v = ms(v.(time.Time))
		case marketing.KindInt:
			if p := v.(*int64); p != nil {
				v = *p
			} else {
				v = nil
			}
		case marketing.KindFloat:
			if p := v.(*float64); p != nil {
				v = *p
			} else {
				v = nil
			}
		case marketing.KindBool:
			if v.(bool) {
				v = 1
			} else {
				v = 0
			}
		}
		args = append(args, v)
	}
	var prev any
	if ev.PrevKey != nil {
		prev = ev.PrevKey
	}
	return append(args, prev, ms(ev.DedupeSince))
}

// AppendEvents appends a batch in one transaction on the write connection.
func (db *DB) AppendEvents(ctx context.Context, events []marketing.PendingEvent) ([]marketing.EventResult, error) {
	dupOf := marketing.DedupeEvents(events)
	res := make([]marketing.EventResult, len(events))
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		missing, err := appendEvents(ctx, tx, events, dupOf, res)
		if err != nil || len(missing) == 0 {
			return true, err
		}
		found, err := storedKeys(ctx, tx, events, missing)
		if err != nil {
			return false, err
		}
		for _, i := range missing {
			res[i] = marketing.ResolveDuplicate(&events[i], found)
		}
		return true, nil
	})
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: append events: %w", err))
	}
	for i, d := range dupOf {
		if d >= 0 {
			res[i] = res[d]
			res[i].Duplicate = true
		}
	}
	db.maybeCheckpoint(ctx)
	return res, nil
}

// appendEvents inserts the events that are not duplicates inside the
// batch, filling res for those stored and returning the indexes of those
// the log refused as duplicates.
func appendEvents(ctx context.Context, tx *sql.Tx, events []marketing.PendingEvent, dupOf []int, res []marketing.EventResult) ([]int, error) {
	st, err := tx.PrepareContext(ctx, eventInsert())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var missing []int
	for i := range events {
		if dupOf[i] >= 0 {
			continue
		}
		r, err := st.ExecContext(ctx, eventArgs(&events[i])...)
		if err != nil {
			return nil, err
		}
		if n, _ := r.RowsAffected(); n == 1 {
			res[i] = marketing.EventResult{EventID: events[i].ID, VisitorID: events[i].VisitorID}
		} else {
			missing = append(missing, i)
		}
	}
	return missing, nil
}

func storedKeys(ctx context.Context, tx *sql.Tx, events []marketing.PendingEvent, idx []int) (map[string]marketing.StoredKey, error) {
	found := map[string]marketing.StoredKey{}
	st, err := tx.PrepareContext(ctx, `SELECT id, visitor_id, received_at FROM events WHERE dedupe_key = ?`)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	for _, i := range idx {
		for _, key := range [][]byte{events[i].DedupeKey, events[i].PrevKey} {
			if key == nil {
				continue
			}
			var k marketing.StoredKey
			var at int64
			err := st.QueryRowContext(ctx, key).Scan(&k.EventID, &k.VisitorID, &at)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, err
			}
			k.ReceivedAt = fromMS(at)
			found[string(key)] = k
		}
	}
	return found, nil
}

// maybeCheckpoint finishes a WAL checkpoint between batches once the
// background loop found the log long (see checkpoint).
func (db *DB) maybeCheckpoint(ctx context.Context) {
	if db.checkpointDue.CompareAndSwap(true, false) {
		_, _ = db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(RESTART)`)
	}
}

const sessionEventColumns = `e.id, e.visitor_id, e.property_id, e.event_type, e.path, e.occurred_at, coalesce(e.referrer_host, ''),
	e.traffic_source, coalesce(e.utm_source, ''), coalesce(e.utm_medium, ''), coalesce(e.utm_campaign, ''),
	coalesce(e.utm_term, ''), coalesce(e.utm_content, ''), e.device_type, coalesce(e.browser, ''), coalesce(e.os, ''),
	coalesce(e.country_code, ''), e.is_conversion, coalesce(e.engaged_ms, 0), coalesce(e.ip_ua_hash, '')`

type scanner interface{ Scan(dest ...any) error }

func scanSessionEvent(r scanner) (marketing.SessionEvent, error) {
	var e marketing.SessionEvent
	var at int64
	err := r.Scan(&e.ID, &e.VisitorID, &e.PropertyID, &e.EventType, &e.Path, &at, &e.ReferrerHost,
		&e.TrafficSource, &e.UTM.Source, &e.UTM.Medium, &e.UTM.Campaign, &e.UTM.Term, &e.UTM.Content,
		&e.DeviceType, &e.Browser, &e.OS, &e.CountryCode, &e.IsConversion, &e.EngagedMs, &e.IPUAHash)
	e.OccurredAt = fromMS(at)
	return e, err
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func queryEvents(ctx context.Context, q queryer, query string, args ...any) ([]marketing.SessionEvent, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []marketing.SessionEvent
	for rows.Next() {
		e, err := scanSessionEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

const visitorEventsQuery = `SELECT ` + sessionEventColumns + ` FROM events e WHERE e.visitor_id = ? AND e.occurred_at >= ?
	ORDER BY e.occurred_at, e.id`

// VisitorEvents returns a visitor's events since a time, in time order.
func (db *DB) VisitorEvents(ctx context.Context, visitorID string, since time.Time) ([]marketing.SessionEvent, error) {
	out, err := queryEvents(ctx, db.read, visitorEventsQuery, visitorID, ms(since))
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: visitor events: %w", err))
	}
	return out, nil
}

// Sessionize materialises the sessions of events appended since the
// cursor. The cursor is the log's rowid: SQLite has one writer at a time,
// so rowids are given in commit order and none is ever skipped. Visitors
// are derived again sessionizeGroups at a time, read on the read connection
// and replaced in a short write transaction (the event writer gets the lock
// between them), then the cursor moves. Runs in
// this process never overlap; two processes on one file would only do the
// same work twice (derivation is deterministic).
func (db *DB) Sessionize(ctx context.Context, rules marketing.SessionRules, limit int) (marketing.SessionizeResult, error) {
	var res marketing.SessionizeResult
	if !db.sessionizing.TryLock() {
		res.Busy = true
		return res, nil
	}
	defer db.sessionizing.Unlock()
	err := func() error {
		var pos, last int64
		if err := db.write.QueryRowContext(ctx, `SELECT position, (SELECT coalesce(max(seq), 0) FROM events) FROM sessionizer WHERE id = 1`).Scan(&pos, &last); err != nil {
			return err
		}
		end := last
		if end-pos > int64(limit) {
			end, res.More = pos+int64(limit), true
		}
		if end <= pos {
			return nil
		}
		rows, err := db.read.QueryContext(ctx, `SELECT visitor_id, property_id, min(occurred_at), count(*) FROM events
			WHERE seq > ? AND seq <= ? GROUP BY 1, 2`, pos, end)
		if err != nil {
			return err
		}
		var groups []sessionGroup
		for rows.Next() {
			var g sessionGroup
			var n int64
			if err := rows.Scan(&g.v, &g.p, &g.min, &n); err != nil {
				rows.Close()
				return err
			}
			groups = append(groups, g)
			res.Events += n
		}
		if err := rows.Close(); err != nil {
			return err
		}
		res.Visitors = len(groups)
		for i := 0; i < len(groups); i += sessionizeGroups {
			sub := groups[i:min(i+sessionizeGroups, len(groups))]
			d, err := deriveGroups(ctx, db.read, sub, rules)
			if err != nil {
				return err
			}
			if _, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) { return true, d.replace(ctx, tx) }); err != nil {
				return err
			}
			res.Sessions += len(d.sessions)
		}
		_, err = db.write.ExecContext(ctx, `UPDATE sessionizer SET position = ?, updated_at = ? WHERE id = 1`, end, ms(time.Now()))
		return err
	}()
	if err != nil {
		return res, unavailable(fmt.Errorf("sqlite: sessionize: %w", err))
	}
	return res, nil
}

// sessionizeGroups is how many visitors a sessionizer run derives again at
// a time (read without the write lock, then replaced in one short write
// transaction).
const sessionizeGroups = 100

// sessionGroup is a visitor on a property with new events, the earliest at min.
type sessionGroup struct {
	v, p string
	min  int64
}

// rederive derives again the sessions of each group from the start of the
// first session an event at or after its earliest new event could touch
// (one that ended less than the inactivity gap before it), replacing the
// stored ones from there on, inside tx.
func rederive(ctx context.Context, tx *sql.Tx, groups []sessionGroup, rules marketing.SessionRules) (int, error) {
	d, err := deriveGroups(ctx, tx, groups, rules)
	if err != nil {
		return 0, err
	}
	return len(d.sessions), d.replace(ctx, tx)
}

// derived is what deriveGroups read and computed: per group, where its
// sessions are replaced from, and the sessions.
type derived struct {
	from     map[groupKey]int64
	sessions []marketing.Session
}

type groupKey struct{ v, p string }

// deriveGroups reads the groups' sessions and events with one statement
// each (their visitors in a list), filters them per group in Go, and
// derives the sessions. It only reads: the sessionizer runs it on the read
// connection and takes the write lock only for replace. An event appended
// meanwhile is after the run's cursor, so the next run derives its visitor
// again.
func deriveGroups(ctx context.Context, q queryer, groups []sessionGroup, rules marketing.SessionRules) (derived, error) {
	gap := rules.Inactivity.Milliseconds()
	d := derived{from: make(map[groupKey]int64, len(groups))}
	newest := make(map[groupKey]int64, len(groups)) // the group's earliest new event
	ids := make([]any, 0, len(groups))
	seen := make(map[string]bool, len(groups))
	earliest := int64(math.MaxInt64)
	for _, g := range groups {
		d.from[groupKey{g.v, g.p}], newest[groupKey{g.v, g.p}] = g.min, g.min
		earliest = min(earliest, g.min)
		if !seen[g.v] {
			seen[g.v] = true
			ids = append(ids, g.v)
		}
	}
	in := "?" + strings.Repeat(",?", len(ids)-1)
	rows, err := q.QueryContext(ctx, `SELECT visitor_id, property_id, started_at, ended_at FROM sessions
		WHERE visitor_id IN (`+in+`) AND ended_at >= ?`, append(ids, earliest-gap)...)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		var k groupKey
		var started, ended int64
		if err := rows.Scan(&k.v, &k.p, &started, &ended); err != nil {
			rows.Close()
			return d, err
		}
		if m, ok := newest[k]; ok && ended >= m-gap && started < d.from[k] {
			d.from[k] = started
		}
	}
	if err := rows.Close(); err != nil {
		return d, err
	}
	earliest = math.MaxInt64
	for _, f := range d.from {
		earliest = min(earliest, f)
	}
	all, err := queryEvents(ctx, q, `SELECT `+sessionEventColumns+` FROM events e
		WHERE e.visitor_id IN (`+in+`) AND e.occurred_at >= ?`, append(ids, earliest)...)
	if err != nil {
		return d, err
	}
	events := all[:0]
	for _, e := range all {
		if f, ok := d.from[groupKey{e.VisitorID, e.PropertyID}]; ok && ms(e.OccurredAt) >= f {
			events = append(events, e)
		}
	}
	d.sessions = marketing.DeriveSessions(events, rules)
	return d, nil
}

// replace swaps each group's stored sessions from its start on for the
// derived ones.
func (d derived) replace(ctx context.Context, tx *sql.Tx) error {
	del, err := tx.PrepareContext(ctx, `DELETE FROM sessions WHERE visitor_id = ? AND property_id = ? AND started_at >= ?`)
	if err != nil {
		return err
	}
	defer del.Close()
	for k, f := range d.from {
		if _, err := del.ExecContext(ctx, k.v, k.p, f); err != nil {
			return err
		}
	}
	return insertSessions(ctx, tx, d.sessions)
}

func insertSessions(ctx context.Context, tx *sql.Tx, ss []marketing.Session) error {
	if len(ss) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO sessions (id, visitor_id, property_id, started_at, ended_at, landing_path, exit_path,
		referrer_host, traffic_source, utm_source, utm_medium, utm_campaign, utm_term, utm_content, device_type, browser, os, country_code,
		page_views, event_count, engaged_ms, converted, bounce, ip_ua_hash, channel)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range ss {
		s := &ss[i]
		if _, err := st.ExecContext(ctx, s.ID, s.VisitorID, s.PropertyID, ms(s.StartedAt), ms(s.EndedAt), s.LandingPath,
			nullable(s.ExitPath), nullable(s.ReferrerHost), s.TrafficSource, nullable(s.UTM.Source), nullable(s.UTM.Medium),
			nullable(s.UTM.Campaign), nullable(s.UTM.Term), nullable(s.UTM.Content), nullable(s.DeviceType), nullable(s.Browser),
			nullable(s.OS), nullable(s.CountryCode), s.PageViews, s.Events, s.EngagedMs, s.Converted, s.Bounce, nullable(s.IPUAHash), nullable(s.Channel)); err != nil {
			return err
		}
	}
	return nil
}

// ResetSessions drops the materialised sessions and rewinds the cursor.
func (db *DB) ResetSessions(ctx context.Context) error {
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions`); err != nil {
			return false, err
		}
		_, err := tx.ExecContext(ctx, `UPDATE sessionizer SET position = 0, updated_at = ? WHERE id = 1`, ms(time.Now()))
		return true, err
	})
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: reset sessions: %w", err))
	}
	return nil
}

const sessionColumns = `s.id, s.visitor_id, s.property_id, s.started_at, s.ended_at, s.landing_path, coalesce(s.exit_path, ''),
	coalesce(s.referrer_host, ''), s.traffic_source, coalesce(s.utm_source, ''), coalesce(s.utm_medium, ''), coalesce(s.utm_campaign, ''),
	coalesce(s.utm_term, ''), coalesce(s.utm_content, ''), coalesce(s.device_type, ''), coalesce(s.browser, ''), coalesce(s.os, ''),
	coalesce(s.country_code, ''), s.page_views, s.event_count, s.engaged_ms, s.converted, s.bounce, coalesce(s.ip_ua_hash, ''),
	coalesce(s.channel, '')`

func scanSession(r scanner, s *marketing.Session) error {
	var started, ended int64
	err := r.Scan(&s.ID, &s.VisitorID, &s.PropertyID, &started, &ended, &s.LandingPath, &s.ExitPath,
		&s.ReferrerHost, &s.TrafficSource, &s.UTM.Source, &s.UTM.Medium, &s.UTM.Campaign, &s.UTM.Term, &s.UTM.Content,
		&s.DeviceType, &s.Browser, &s.OS, &s.CountryCode, &s.PageViews, &s.Events, &s.EngagedMs, &s.Converted, &s.Bounce, &s.IPUAHash, &s.Channel)
	s.StartedAt, s.EndedAt = fromMS(started), fromMS(ended)
	return err
}

// VisitorSessions lists a visitor's materialised sessions, oldest first.
func (db *DB) VisitorSessions(ctx context.Context, visitorID string) ([]marketing.Session, error) {
	out, err := db.sessions(ctx, `s.visitor_id = ?`, visitorID)
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: visitor sessions: %w", err))
	}
	return out, nil
}

func (db *DB) sessions(ctx context.Context, where string, args ...any) ([]marketing.Session, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE `+where+` ORDER BY s.started_at, s.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []marketing.Session{}
	for rows.Next() {
		var s marketing.Session
		if err := scanSession(rows, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// unavailable classifies a failure of the database itself (busy past the
// timeout, out of memory, read-only, an I/O error, disk full, a file that
// cannot be opened, a closed handle) as EUNAVAILABLE, so the caller answers
// 503 and the client retries; an error SQLite raised about the statement
// itself (a constraint, a type) stays internal: it is a bug. Every store
// method passes its errors through here, so every route answers an outage
// the same way.
func unavailable(err error) error {
	if err == nil || marketing.ErrorCode(err) != marketing.EINTERNAL || errors.Is(err, context.Canceled) {
		return err
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff { // the primary result code
		case 5, 6, 7, 8, 10, 11, 13, 14, 26: // BUSY LOCKED NOMEM READONLY IOERR CORRUPT FULL CANTOPEN NOTADB
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
	_, err := db.inTx(ctx, func(tx *sql.Tx) (bool, error) {
		for _, c := range counts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ingest_rejections AS r (hour, property_id, endpoint, reason, count) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (hour, property_id, endpoint, reason) DO UPDATE SET count = r.count + excluded.count`,
				ms(c.Hour), c.PropertyID, c.Endpoint, c.Reason, c.Count); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return unavailable(fmt.Errorf("sqlite: add rejections: %w", err))
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Rejections sums the counters of hours in [from, to).
func (db *DB) Rejections(ctx context.Context, from, to time.Time) ([]marketing.RejectionCount, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT property_id, endpoint, reason, sum(count) FROM ingest_rejections
		WHERE hour >= ? AND hour < ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, ms(from), ms(to))
	if err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: rejections: %w", err))
	}
	defer rows.Close()
	var out []marketing.RejectionCount
	for rows.Next() {
		var c marketing.RejectionCount
		if err := rows.Scan(&c.PropertyID, &c.Endpoint, &c.Reason, &c.Count); err != nil {
			return nil, unavailable(fmt.Errorf("sqlite: rejections: %w", err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("sqlite: rejections: %w", err))
	}
	return out, nil
}
