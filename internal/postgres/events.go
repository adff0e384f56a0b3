package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/altcontext/marketing"
)

// WriteEvents stores a batch in one transaction. Batches of one process
// run one at a time, or overlap on the event writer's pipeline (see
// SendEvents); this sends one and waits for it.
//
// When the writer's cache knows every visitor of the batch (or may take the
// unknown ones for new), the batch is planned from the cache and sent in
// one message, as a pipelined batch (pipeline.go). Its guard fails the
// transaction unless the epoch is where this writer's last batch left it,
// or moved only by foreign writes that named their visitors (migration
// 0007) and none of those is in the batch, and unless none of the events is
// stored already; a visitor wrongly taken for new fails on its unique
// anonId. Then the batch is planned again the careful way.
//
// The careful way (writeEvents) takes two round trips: the epoch lock, the
// duplicate probe and reads for the visitors the cache cannot vouch for;
// then every write and the commit. If the epoch moved, the cache forgets
// the visitors the foreign writes named, or everything if one of them
// named nothing, and the batch reads those of its visitors in a third.
func (db *DB) WriteEvents(ctx context.Context, events []marketing.PendingEvent, rules marketing.SessionRules) ([]marketing.EventResult, error) {
	return db.SendEvents(ctx, events, rules).Await(ctx)
}

// planSettings makes the statements of a write transaction find their rows
// by key, and says whether the transaction is an event writer's ($1 'on';
// see migration 0006). Prepared statements keep the generic plan made on
// their first runs, when the tables may have been nearly empty and a hash
// join over a sequential scan looked cheap; kept, that plan reads the whole
// table on every batch.
//
// JIT goes off too: with sequential scans disabled, the one statement that
// must scan (reading the foreign writes' counter) is costed in the billions
// and would be compiled, at several milliseconds a batch.
const planSettings = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true), set_config('marketing.ingest_writer', $1, true)`

// ingestLockClass is the advisory lock class of the ingest lock (key 1; see
// migration 0006), leadLockClass that of the per-visitor locks of writes
// that are not the event writer's, and emailLockClass that of a capture's
// address (pg_advisory_xact_lock's two-key form).
const (
	ingestLockClass = 0x6d6b7465 // "mkte"
	leadLockClass   = 0x6d6b7476 // "mktv"
	emailLockClass  = 0x6d6b7461 // "mkta"
)

func cachedVisitors(c *marketing.VisitorCache, events []marketing.PendingEvent) map[string]*marketing.Visitor {
	known := make(map[string]*marketing.Visitor, len(events))
	for i := range events {
		if v := c.Get(events[i].AnonID); v != nil {
			known[events[i].AnonID] = v
		}
	}
	return known
}

// skip reads n results of a batch that the caller does not need, without
// closing it.
func skip(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// execAll reads n results of a batch of statements that return no rows
// the caller needs, and stops at the first error.
func execAll(br pgx.BatchResults, n int) error {
	if err := skip(br, n); err != nil {
		br.Close()
		return err
	}
	return br.Close()
}

// The event writes, by kind (queueWrites).
const (
	visitorInsert = `INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, last_ip_hash, last_ua_hash)
			SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::timestamptz[]), unnest($4::timestamptz[]),
				unnest($5::text[]), unnest($6::text[])`
	visitorUpdate = `UPDATE visitors AS v SET first_seen_at = u.first_seen_at, last_seen_at = u.last_seen_at,
			last_ip_hash = u.last_ip_hash, last_ua_hash = u.last_ua_hash
		FROM (SELECT unnest($1::text[]) AS id, unnest($2::timestamptz[]) AS first_seen_at, unnest($3::timestamptz[]) AS last_seen_at,
			unnest($4::text[]) AS last_ip_hash, unnest($5::text[]) AS last_ua_hash) AS u
		WHERE v.id = u.id`
	sessionInsert = `INSERT INTO sessions (id, visitor_id, property_id, started_at, last_event_at, landing_path, referrer_host,
			traffic_source, utm_source, utm_medium, utm_campaign, utm_term, utm_content, exit_path, page_views, event_count)
		SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::timestamptz[]), unnest($5::timestamptz[]),
			unnest($6::text[]), unnest($7::text[]), unnest($8::text[]), unnest($9::text[]), unnest($10::text[]), unnest($11::text[]),
			unnest($12::text[]), unnest($13::text[]), unnest($14::text[]), unnest($15::int[]), unnest($16::int[])`
	sessionUpdate = `UPDATE sessions AS s SET last_event_at = u.last_event_at, exit_path = u.exit_path,
			page_views = u.page_views, event_count = u.event_count
		FROM (SELECT unnest($1::text[]) AS id, unnest($2::timestamptz[]) AS last_event_at, unnest($3::text[]) AS exit_path,
			unnest($4::int[]) AS page_views, unnest($5::int[]) AS event_count) AS u
		WHERE s.id = u.id`
	eventInsert = `INSERT INTO events (id, visitor_id, session_id, dedupe_key, event_type, path, occurred_at, received_at,
			property_id, referrer_host, traffic_source, device_type, browser, os, country_code, is_entrance, is_conversion,
			engaged_ms, scroll_pct, fcp_ms, lcp_ms, inp_ms, ttfb_ms, cls, props)
		SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::bytea[]), unnest($5::text[]),
			unnest($6::text[]), unnest($7::timestamptz[]), unnest($8::timestamptz[]), unnest($9::text[]), unnest($10::text[]),
			unnest($11::text[]), unnest($12::text[]), unnest($13::text[]), unnest($14::text[]), unnest($15::text[]),
			unnest($16::bool[]), unnest($17::bool[]), unnest($18::int8[]), unnest($19::int8[]), unnest($20::int8[]),
			unnest($21::int8[]), unnest($22::int8[]), unnest($23::int8[]), unnest($24::float8[]), unnest($25::text[])::jsonb`
)

// queueWrites queues a plan's writes.
func queueWrites(w *pgx.Batch, plan marketing.SessionPlan) {
	if len(plan.NewVisitors) > 0 {
		queueVisitorWrite(w, plan.NewVisitors, true)
	}
	if len(plan.ChangedVisitors) > 0 {
		queueVisitorWrite(w, plan.ChangedVisitors, false)
	}
	if len(plan.Inserted) > 0 {
		queueSessionInsert(w, plan.Inserted)
	}
	if len(plan.Updated) > 0 {
		queueSessionUpdate(w, plan.Updated)
	}
	if len(plan.Events) > 0 {
		queueEventInsert(w, plan.Events)
	}
}

// dedupeProbe finds, for each key, the most recent stored event in its
// window: one index probe per key, whatever the planner's statistics say (a
// young table has none, and = ANY then gets a sequential scan).
const dedupeProbe = `SELECT e.dedupe_key, e.id, e.visitor_id, e.session_id, e.received_at
	FROM (SELECT unnest($1::bytea[]) AS key) AS k
	CROSS JOIN LATERAL (SELECT dedupe_key, id, visitor_id, session_id, received_at FROM events
		WHERE dedupe_key = k.key AND received_at > now() - interval '25 hours'
		ORDER BY received_at DESC LIMIT 1) e`

func dedupeKeys(events []marketing.PendingEvent) [][]byte {
	keys := make([][]byte, len(events))
	for i := range events {
		keys[i] = events[i].DedupeKey
	}
	return keys
}

// writeEvents is the event writer's careful way: it opens and commits its
// own transaction on conn inside its round trips (BEGIN leads the first,
// COMMIT ends the last), reads only the visitors the cache cannot vouch for,
// and returns the plan and the epoch it leaves.
func writeEvents(ctx context.Context, conn *pgxpool.Conn, events []marketing.PendingEvent, rules marketing.SessionRules, cache *marketing.VisitorCache) (marketing.SessionPlan, marketing.Epoch, error) {
	anons := marketing.AnonIDs(events)
	var misses []string
	missed := make(map[string]bool, len(anons))
	for _, a := range anons {
		if cache.Get(a) == nil {
			misses = append(misses, a)
			missed[a] = true
		}
	}
	cached, known := cache.Epoch()
	// The ingest lock, exclusive, waits for every other writer of visitors
	// and sessions (they hold it in share mode) and keeps them out until
	// this batch commits; the counters are read after it.
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue(planSettings, "on")
	b.Queue(`SELECT pg_advisory_xact_lock($1, 1)`, int32(ingestLockClass))
	b.Queue(`SELECT seq FROM ingest_epoch WHERE id = 1`)
	b.Queue(`SELECT last_value, CASE WHEN $1 THEN ingest_touched_since($2, last_value) END FROM ingest_foreign_writes`,
		known, cached.Foreign)
	b.Queue(dedupeProbe, dedupeKeys(events))
	if len(misses) > 0 {
		queueVisitorRead(&b, misses)
	}
	br := conn.SendBatch(ctx, &b)
	var epoch marketing.Epoch
	var touched []string
	if err := skip(br, 3); err != nil { // BEGIN, planSettings, ingest lock
		br.Close()
		return marketing.SessionPlan{}, epoch, fmt.Errorf("postgres: begin: %w", err)
	}
	if err := br.QueryRow().Scan(&epoch.Seq); err != nil {
		br.Close()
		return marketing.SessionPlan{}, epoch, fmt.Errorf("postgres: lock ingest epoch: %w", err)
	}
	if err := br.QueryRow().Scan(&epoch.Foreign, &touched); err != nil {
		br.Close()
		return marketing.SessionPlan{}, epoch, fmt.Errorf("postgres: read foreign writes: %w", err)
	}
	dups, err := readDuplicates(br)
	if err != nil {
		br.Close()
		return marketing.SessionPlan{}, epoch, err
	}
	visitors := make(map[string]*marketing.Visitor, len(anons))
	if len(misses) > 0 {
		if err := readVisitors(br, visitors); err != nil {
			br.Close()
			return marketing.SessionPlan{}, epoch, err
		}
		cache.Looked(misses, visitors)
	}
	if err := br.Close(); err != nil {
		return marketing.SessionPlan{}, epoch, fmt.Errorf("postgres: read batch: %w", err)
	}
	if known && epoch != cached && epoch.Seq == cached.Seq && epoch.Foreign > cached.Foreign && touched != nil {
		// Only foreign writers that named their visitors wrote since.
		cache.Moved(epoch, touched)
	}
	// The visitors the cache vouched for, unless someone else wrote since
	// our last commit (then they are read too).
	var rest []string
	valid := cache.Valid(epoch)
	for _, a := range anons {
		if missed[a] {
			continue
		}
		if v := cache.Get(a); valid && v != nil {
			visitors[a] = v
		} else {
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 {
		var rb pgx.Batch
		queueVisitorRead(&rb, rest)
		br := conn.SendBatch(ctx, &rb)
		err := readVisitors(br, visitors)
		if cerr := br.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("postgres: read visitors: %w", cerr)
		}
		if err != nil {
			return marketing.SessionPlan{}, epoch, err
		}
	}

	plan := marketing.PlanSessions(events, visitors, dups, rules)
	var w pgx.Batch
	queueWrites(&w, plan)
	writes := w.Len()
	w.Queue(`UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1 RETURNING seq`)
	w.Queue("COMMIT")
	wr := conn.SendBatch(ctx, &w)
	if err := skip(wr, writes); err != nil {
		wr.Close()
		return plan, epoch, fmt.Errorf("postgres: write events: %w", err)
	}
	if err := wr.QueryRow().Scan(&epoch.Seq); err != nil {
		wr.Close()
		return plan, epoch, fmt.Errorf("postgres: bump ingest epoch: %w", err)
	}
	if err := wr.Close(); err != nil {
		return plan, epoch, fmt.Errorf("postgres: write events: %w", err)
	}
	return plan, epoch, nil
}

// planForeignWrite plans, inside a transaction, the event writes of a
// writer that is not the event writer (a lead capture): it reads every
// visitor and the duplicates in one round trip. With lock set it first
// takes the ingest lock in share mode (such writers run side by side and
// only wait for an event batch in flight) and each visitor's advisory lock
// (one visitor's captures are serialised), held until the commit. Without
// it nothing is locked, and the caller checks with capture_guard, when it
// takes those locks before its writes, that the first visitor is as read
// (the returned foreignRead). The caller queues the plan's writes with
// queueForeignWrites and commits.
func planForeignWrite(ctx context.Context, tx batcher, events []marketing.PendingEvent, rules marketing.SessionRules, lock bool) (marketing.SessionPlan, foreignRead, error) {
	anons := marketing.AnonIDs(events)
	var read foreignRead
	var b pgx.Batch
	b.Queue(planSettings, "off")
	if lock {
		b.Queue(`SELECT pg_advisory_xact_lock_shared($1, 1)`, int32(ingestLockClass))
		b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext(a)) FROM (SELECT DISTINCT unnest($2::text[]) AS a ORDER BY a) x`,
			int32(leadLockClass), anons)
	}
	b.Queue(dedupeProbe, dedupeKeys(events))
	queueVisitorRead(&b, anons)
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	if err := skip(br, b.Len()-2); err != nil {
		return marketing.SessionPlan{}, read, fmt.Errorf("postgres: lock ingest epoch: %w", err)
	}
	dups, err := readDuplicates(br)
	if err != nil {
		return marketing.SessionPlan{}, read, err
	}
	known := make(map[string]*marketing.Visitor, len(anons))
	if err := readVisitors(br, known); err != nil {
		return marketing.SessionPlan{}, read, err
	}
	if err := br.Close(); err != nil {
		return marketing.SessionPlan{}, read, fmt.Errorf("postgres: read batch: %w", err)
	}
	if v := known[anons[0]]; v != nil { // before PlanSessions changes it
		id, seen := v.ID, v.LastSeen
		read.visitorID, read.lastSeen = &id, &seen
		if v.Latest != nil {
			sid, n := v.Latest.ID, int32(v.Latest.Events)
			read.sessionID, read.events = &sid, &n
		}
	}
	return marketing.PlanSessions(events, known, dups, rules), read, nil
}

// foreignRead is what planForeignWrite read of a visitor (nil: absent).
type foreignRead struct {
	visitorID, sessionID *string
	lastSeen             *time.Time
	events               *int32
}

// batcher sends a batch: a transaction, or a connection inside one.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// queueForeignWrites queues a plan from planForeignWrite, names the visitors
// it touched for the event writers (migration 0007), and gives the
// transaction's later statements back the planner they expect. It returns
// the number of statements queued.
func queueForeignWrites(b *pgx.Batch, plan marketing.SessionPlan, anons []string) int {
	n := b.Len()
	queueWrites(b, plan)
	// Only if the writes above took a value of the foreign counter (a
	// duplicate event writes nothing).
	b.Queue(`INSERT INTO ingest_touched (pos, anon_ids)
		SELECT current_setting('marketing.foreign_write')::bigint, $1 WHERE coalesce(current_setting('marketing.foreign_write', true), '') <> ''
		ON CONFLICT (pos) DO UPDATE SET anon_ids = ingest_touched.anon_ids || excluded.anon_ids`, anons)
	b.Queue(`SELECT set_config('enable_seqscan', 'on', true), set_config('enable_hashjoin', 'on', true),
		set_config('enable_mergejoin', 'on', true), set_config('jit', 'on', true)`)
	return b.Len() - n
}

func readDuplicates(br pgx.BatchResults) ([]marketing.Duplicate, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("postgres: find duplicates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.Duplicate, error) {
		var d marketing.Duplicate
		var key []byte
		err := r.Scan(&key, &d.Result.EventID, &d.Result.VisitorID, &d.Result.SessionID, &d.ReceivedAt)
		d.Key = string(key)
		return d, err
	})
}

// queueVisitorRead queues the read of stored visitors by anonId, each with
// its latest session.
func queueVisitorRead(b *pgx.Batch, anons []string) {
	b.Queue(`SELECT v.anon_id, v.id, v.first_seen_at, v.last_seen_at, coalesce(v.last_ip_hash, ''), coalesce(v.last_ua_hash, ''),
			s.id IS NOT NULL, `+sessionColumns("s")+`
		FROM (SELECT unnest($1::text[]) AS anon) AS a JOIN visitors v ON v.anon_id = a.anon
		LEFT JOIN LATERAL (SELECT * FROM sessions WHERE visitor_id = v.id ORDER BY started_at DESC LIMIT 1) s ON true`, anons)
}

func readVisitors(br pgx.BatchResults, into map[string]*marketing.Visitor) error {
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("postgres: read visitors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v := &marketing.Visitor{}
		var has bool
		var sc nullSession
		if err := rows.Scan(append([]any{&v.AnonID, &v.ID, &v.FirstSeen, &v.LastSeen, &v.IPHash, &v.UAHash, &has}, sc.dest()...)...); err != nil {
			return fmt.Errorf("postgres: read visitors: %w", err)
		}
		if has {
			v.Latest = sc.session()
		}
		into[v.AnonID] = v
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read visitors: %w", err)
	}
	return nil
}

// sessionColumns lists a session's columns in scanSession's order.
func sessionColumns(alias string) string {
	cols := []string{"id", "visitor_id", "property_id", "started_at", "last_event_at", "landing_path",
		"coalesce(%s.referrer_host, '')", "traffic_source", "coalesce(%s.utm_source, '')", "coalesce(%s.utm_medium, '')",
		"coalesce(%s.utm_campaign, '')", "coalesce(%s.utm_term, '')", "coalesce(%s.utm_content, '')",
		"coalesce(%s.exit_path, '')", "page_views", "event_count"}
	for i, c := range cols {
		if strings.Contains(c, "%s") {
			cols[i] = strings.ReplaceAll(c, "%s", alias)
		} else {
			cols[i] = alias + "." + c
		}
	}
	return strings.Join(cols, ", ")
}

func scanSession(r pgx.CollectableRow) (marketing.Session, error) {
	var s marketing.Session
	err := r.Scan(&s.ID, &s.VisitorID, &s.PropertyID, &s.StartedAt, &s.LastEventAt, &s.LandingPath,
		&s.ReferrerHost, &s.TrafficSource, &s.UTM.Source, &s.UTM.Medium, &s.UTM.Campaign, &s.UTM.Term,
		&s.UTM.Content, &s.ExitPath, &s.PageViews, &s.Events)
	return s, err
}

// unavailable marks failures that are not the statement's fault (the
// server is down, restarting, out of connections, or the network broke) as
// EUNAVAILABLE, so the caller answers 503 and the client retries. Errors the
// server raised about the statement itself stay internal: they are bugs.
func unavailable(err error) error {
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

// queueVisitorWrite queues the insert of new visitors or the update of
// changed ones. Both run under the epoch lock, so no other writer can have
// added or changed these rows since they were read.
func queueVisitorWrite(b *pgx.Batch, vs []*marketing.Visitor, insert bool) {
	n := len(vs)
	ids, anons, firsts, lasts, ips, uas := make([]string, n), make([]string, n), make([]time.Time, n), make([]time.Time, n), make([]*string, n), make([]*string, n)
	for i, v := range vs {
		ids[i], anons[i], firsts[i], lasts[i], ips[i], uas[i] = v.ID, v.AnonID, v.FirstSeen, v.LastSeen, nullable(v.IPHash), nullable(v.UAHash)
	}
	if insert {
		b.Queue(visitorInsert,
			ids, anons, firsts, lasts, ips, uas)
		return
	}
	b.Queue(visitorUpdate, ids, firsts, lasts, ips, uas)
}

// nullSession scans the optional latest session of a LEFT JOIN LATERAL
// (every column nullable).
type nullSession struct {
	id, vid, prop, landing, ref, source, us, um, uc, ut, uco, exit *string
	started, last                                                  *time.Time
	pv, ec                                                         *int
}

func (n *nullSession) dest() []any {
	return []any{&n.id, &n.vid, &n.prop, &n.started, &n.last, &n.landing, &n.ref, &n.source,
		&n.us, &n.um, &n.uc, &n.ut, &n.uco, &n.exit, &n.pv, &n.ec}
}

func (n *nullSession) session() *marketing.Session {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	s := &marketing.Session{ID: str(n.id), VisitorID: str(n.vid), PropertyID: str(n.prop), LandingPath: str(n.landing),
		ReferrerHost: str(n.ref), TrafficSource: str(n.source), ExitPath: str(n.exit),
		UTM: marketing.UTM{Source: str(n.us), Medium: str(n.um), Campaign: str(n.uc), Term: str(n.ut), Content: str(n.uco)}}
	if n.started != nil {
		s.StartedAt, s.LastEventAt = *n.started, *n.last
	}
	if n.pv != nil {
		s.PageViews, s.Events = *n.pv, *n.ec
	}
	return s
}

func queueSessionInsert(b *pgx.Batch, ss []*marketing.Session) {
	n := len(ss)
	ids, vids, props, landing, source := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	started, last := make([]time.Time, n), make([]time.Time, n)
	ref, us, um, uc, ut, uco, exit := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	pv, ec := make([]int32, n), make([]int32, n)
	for i, s := range ss {
		ids[i], vids[i], props[i], landing[i], source[i] = s.ID, s.VisitorID, s.PropertyID, s.LandingPath, s.TrafficSource
		started[i], last[i] = s.StartedAt, s.LastEventAt
		ref[i], exit[i] = nullable(s.ReferrerHost), nullable(s.ExitPath)
		us[i], um[i], uc[i], ut[i], uco[i] = nullable(s.UTM.Source), nullable(s.UTM.Medium), nullable(s.UTM.Campaign), nullable(s.UTM.Term), nullable(s.UTM.Content)
		pv[i], ec[i] = int32(s.PageViews), int32(s.Events)
	}
	b.Queue(sessionInsert,
		ids, vids, props, started, last, landing, ref, source, us, um, uc, ut, uco, exit, pv, ec)
}

func queueSessionUpdate(b *pgx.Batch, ss []*marketing.Session) {
	n := len(ss)
	ids, last, exit := make([]string, n), make([]time.Time, n), make([]*string, n)
	pv, ec := make([]int32, n), make([]int32, n)
	for i, s := range ss {
		ids[i], last[i], exit[i], pv[i], ec[i] = s.ID, s.LastEventAt, nullable(s.ExitPath), int32(s.PageViews), int32(s.Events)
	}
	b.Queue(sessionUpdate, ids, last, exit, pv, ec)
}

func queueEventInsert(b *pgx.Batch, evs []marketing.PlannedEvent) {
	n := len(evs)
	ids, vids, sids, types, paths, props, source, device := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	keys := make([][]byte, n)
	occurred, received := make([]time.Time, n), make([]time.Time, n)
	ref, browser, osys, country, jsonProps := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	entrance, conversion := make([]bool, n), make([]bool, n)
	engaged, scroll, fcp, lcp, inp, ttfb := make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
	cls := make([]*float64, n)
	for i := range evs {
		e := &evs[i]
		ids[i], vids[i], sids[i], types[i], paths[i], props[i] = e.ID, e.VisitorID, e.SessionID, e.EventType, e.Path, e.PropertyID
		source[i], device[i], keys[i], occurred[i], received[i] = e.TrafficSource, e.DeviceType, e.DedupeKey, e.OccurredAt, e.ReceivedAt
		ref[i], browser[i], osys[i], country[i] = nullable(e.ReferrerHost), nullable(e.Browser), nullable(e.OS), nullable(e.CountryCode)
		if e.Props != nil {
			s := string(e.Props)
			jsonProps[i] = &s
		}
		entrance[i], conversion[i] = e.IsEntrance, e.IsConversion
		engaged[i], scroll[i], fcp[i], lcp[i], inp[i], ttfb[i], cls[i] = e.EngagedMs, e.ScrollPct, e.FCPMs, e.LCPMs, e.INPMs, e.TTFBMs, e.CLS
	}
	b.Queue(eventInsert,
		ids, vids, sids, keys, types, paths, occurred, received, props, ref, source, device, browser, osys, country,
		entrance, conversion, engaged, scroll, fcp, lcp, inp, ttfb, cls, jsonProps)
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
		return nil, fmt.Errorf("postgres: rejections: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (marketing.RejectionCount, error) {
		var c marketing.RejectionCount
		err := r.Scan(&c.PropertyID, &c.Endpoint, &c.Reason, &c.Count)
		return c, err
	})
}

// VisitorSessions lists a visitor's sessions, oldest first.
func (db *DB) VisitorSessions(ctx context.Context, visitorID string) ([]marketing.Session, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sessionColumns("s")+` FROM sessions s WHERE visitor_id = $1 ORDER BY started_at, id`, visitorID)
	if err != nil {
		return nil, fmt.Errorf("postgres: visitor sessions: %w", err)
	}
	return pgx.CollectRows(rows, scanSession)
}
