package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event is a domain event as the outbox keeps it (migration 0014; internal/events defines the
// types and delivers them).
type Event struct {
	ID  int64
	Pos int64 // delivery order; 0 until sequenced
	// Type names what happened ("artifact.pushed", ...).
	Type string
	// Stream is what the event is ordered within: events of one stream are delivered in the
	// order their transactions committed.
	Stream     string
	ProjectID  int64
	Repository string
	// Resource names the thing changed as people read it ("library/app:1.0", a user name).
	Resource string
	Actor    string
	Payload  []byte // JSON
	// CreatedAt is set by Emit when zero.
	CreatedAt time.Time
}

// Emit records events in the transaction: they are written just before it commits, and exist
// exactly when the change they describe does. Nothing is written when the transaction fails.
func (tx *Tx) Emit(evs ...Event) {
	t := time.Now()
	for _, e := range evs {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = t
		}
		tx.events = append(tx.events, e)
	}
}

// EmitEvents records events in a transaction of their own, for what happened without a change
// to record (a refused push over quota).
func (db *DB) EmitEvents(ctx context.Context, evs ...Event) error {
	return db.Tx(ctx, func(tx *Tx) error {
		tx.keepsAnswers = true
		tx.Emit(evs...)
		return nil
	})
}

// writeEvents inserts what the transaction emitted, in stream order: on PostgreSQL each row
// takes its stream's lock (migration 0014), and taking them in one order keeps two
// transactions from waiting on each other.
func (tx *Tx) writeEvents(ctx context.Context) error {
	if len(tx.events) == 0 {
		return nil
	}
	evs := tx.events
	tx.events = nil
	slices.SortStableFunc(evs, func(a, b Event) int { return strings.Compare(a.Stream, b.Stream) })
	for len(evs) > 0 {
		n := min(len(evs), maxEventsPerStatement)
		if err := tx.insertEvents(ctx, evs[:n]); err != nil {
			return err
		}
		evs = evs[n:]
	}
	tx.wroteEvents = true
	return nil
}

// maxEventsPerStatement keeps an insert well under the databases' limits on bound values.
const maxEventsPerStatement = 500

func (tx *Tx) insertEvents(ctx context.Context, evs []Event) error {
	const cols = 8
	var b strings.Builder
	b.WriteString("INSERT INTO events (type, stream, project_id, repository, resource, actor, payload, created_at) VALUES ")
	args := make([]any, 0, cols*len(evs))
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + placeholders(len(args)+1, cols) + ")")
		payload := e.Payload
		if len(payload) == 0 {
			payload = []byte("{}")
		}
		args = append(args, e.Type, e.Stream, e.ProjectID, e.Repository, e.Resource, e.Actor, string(payload), e.CreatedAt.UnixMicro())
	}
	if _, err := tx.exec(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	return nil
}

// SequenceEvents gives the next positions to up to limit events written but not yet
// sequenced, in id order, and returns how many it sequenced. One sequencer runs at a time, on
// any replica: the event_sequence row is locked for the transaction.
func (db *DB) SequenceEvents(ctx context.Context, limit int) (int, error) {
	// Most calls find nothing to do: a read says so without a write transaction.
	var waiting bool
	if err := db.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events WHERE pos IS NULL)").Scan(&waiting); err != nil {
		return 0, fmt.Errorf("sequence events: %w", err)
	}
	if !waiting {
		return 0, nil
	}
	var n int
	err := db.Tx(ctx, func(tx *Tx) error {
		n = 0
		tx.keepsAnswers = true
		var last int64
		if err := tx.queryRowW(ctx, "SELECT pos FROM event_sequence WHERE id = 1"+tx.d.lockUpdate()).Scan(&last); err != nil {
			return fmt.Errorf("sequence events: %w", err)
		}
		res, err := tx.exec(ctx, `UPDATE events SET pos = $1 + o.rn
			FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM events WHERE pos IS NULL ORDER BY id LIMIT $2) AS o
			WHERE events.id = o.id`, last, limit)
		if err != nil {
			return fmt.Errorf("sequence events: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil || k == 0 {
			return err
		}
		if _, err := tx.exec(ctx, "UPDATE event_sequence SET pos = $1 WHERE id = 1", last+k); err != nil {
			return fmt.Errorf("sequence events: %w", err)
		}
		n = int(k)
		return nil
	})
	return n, err
}

// EventsAfter returns up to limit sequenced events after pos, in order.
func (db *DB) EventsAfter(ctx context.Context, pos int64, limit int) ([]Event, error) {
	rows, err := db.query(ctx, `SELECT id, pos, type, stream, project_id, repository, resource, actor, payload, created_at
		FROM events WHERE pos > $1 ORDER BY pos LIMIT $2`, pos, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var payload string
		var at int64
		if err := rows.Scan(&e.ID, &e.Pos, &e.Type, &e.Stream, &e.ProjectID, &e.Repository, &e.Resource, &e.Actor, &payload, &at); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.Payload, e.CreatedAt = []byte(payload), fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastEventPos is the position of the newest sequenced event (0 when there is none).
func (db *DB) LastEventPos(ctx context.Context) (int64, error) {
	var pos int64
	err := db.queryRow(ctx, "SELECT pos FROM event_sequence WHERE id = 1").Scan(&pos)
	return pos, err
}

// UnsequencedEvents counts the events written but not yet sequenced.
func (db *DB) UnsequencedEvents(ctx context.Context) (int64, error) {
	var n int64
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM events WHERE pos IS NULL").Scan(&n)
	return n, err
}

// ErrLeaseLost means another process holds the subscriber now.
var ErrLeaseLost = errors.New("meta: subscriber lease held by another process")

// AddSubscriber registers a subscriber that does not exist yet at the end of the stream: it
// hears of what happens from now on, not of the past. An existing one is left as it is.
func (db *DB) AddSubscriber(ctx context.Context, name string) error {
	_, err := db.keepingAnswers().exec(ctx, `INSERT INTO event_subscribers (name, pos, updated_at)
		SELECT $1, pos, $2 FROM event_sequence WHERE id = 1
		ON CONFLICT (name) DO NOTHING`, name, now())
	if err != nil {
		return fmt.Errorf("add subscriber %s: %w", name, err)
	}
	return nil
}

// ClaimSubscriber takes or renews owner's lease on a subscriber until the given time, if no
// other owner holds an unexpired one, and returns how far the subscriber has handled the
// stream. ErrLeaseLost when another owner holds it.
func (db *DB) ClaimSubscriber(ctx context.Context, name, owner string, until time.Time) (int64, error) {
	var pos int64
	err := db.Tx(ctx, func(tx *Tx) error {
		tx.keepsAnswers = true
		t := now()
		res, err := tx.exec(ctx, `UPDATE event_subscribers SET owner = $2, lease_until = $3, updated_at = $4
			WHERE name = $1 AND (owner = $2 OR lease_until < $4)`, name, owner, until.UnixMicro(), t)
		if err != nil {
			return fmt.Errorf("claim subscriber %s: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrLeaseLost
		}
		return tx.queryRowW(ctx, "SELECT pos FROM event_subscribers WHERE name = $1", name).Scan(&pos)
	})
	return pos, err
}

// AdvanceSubscriber records that owner's subscriber has handled the stream up to pos, and
// renews the lease. ErrLeaseLost when the lease has passed to another owner meanwhile.
func (db *DB) AdvanceSubscriber(ctx context.Context, name, owner string, pos int64, until time.Time) error {
	res, err := db.keepingAnswers().exec(ctx, `UPDATE event_subscribers SET pos = $3, lease_until = $4, updated_at = $5
		WHERE name = $1 AND owner = $2 AND pos <= $3`, name, owner, pos, until.UnixMicro(), now())
	if err != nil {
		return fmt.Errorf("advance subscriber %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// ReleaseSubscriber ends owner's lease so that another process may take the subscriber at
// once.
func (db *DB) ReleaseSubscriber(ctx context.Context, name, owner string) error {
	_, err := db.keepingAnswers().exec(ctx, "UPDATE event_subscribers SET lease_until = 0 WHERE name = $1 AND owner = $2", name, owner)
	return err
}

// SubscriberPos returns how far a subscriber has handled the stream.
func (db *DB) SubscriberPos(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := db.queryRow(ctx, "SELECT pos FROM event_subscribers WHERE name = $1", name).Scan(&pos)
	return pos, notFound(err)
}

// PruneEvents deletes events older than before that every subscriber active since idleSince
// has handled, and returns how many it deleted. A subscriber that no process has run since
// idleSince (one a newer version no longer has) holds nothing back.
func (db *DB) PruneEvents(ctx context.Context, before, idleSince time.Time) (int64, error) {
	res, err := db.keepingAnswers().exec(ctx, `DELETE FROM events WHERE created_at < $1 AND pos IS NOT NULL
		AND pos <= COALESCE((SELECT MIN(pos) FROM event_subscribers WHERE updated_at >= $2), (SELECT pos FROM event_sequence WHERE id = 1))`,
		before.UnixMicro(), idleSince.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return res.RowsAffected()
}

// WatchEvents calls fn after every commit of this process that wrote events. fn must not
// block. Other processes' events are not announced: watchers also poll.
func (db *DB) WatchEvents(fn func()) { addWatcher(&db.eventWatchers, fn) }

func (db *DB) eventsCommitted() {
	if ws := db.eventWatchers.Load(); ws != nil {
		for _, fn := range *ws {
			fn()
		}
	}
}
