package meta_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// sequenceAll sequences every written event.
func sequenceAll(t *testing.T, db *meta.DB) {
	t.Helper()
	for {
		n, err := db.SequenceEvents(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func allEvents(t *testing.T, db *meta.DB) []meta.Event {
	t.Helper()
	sequenceAll(t, db)
	evs, err := db.EventsAfter(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestEventsExistExactlyWhenTheirTransactionCommits(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		err := db.Tx(ctx, func(tx *meta.Tx) error {
			tx.Emit(meta.Event{Type: "test.kept", Stream: "s", ProjectID: pid, Resource: "a", Actor: "alice", Payload: []byte(`{"n":1}`)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = db.Tx(ctx, func(tx *meta.Tx) error {
			tx.Emit(meta.Event{Type: "test.dropped", Stream: "s"})
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v, want boom", err)
		}
		if err := db.EmitEvents(ctx, meta.Event{Type: "test.alone", Stream: "t"}); err != nil {
			t.Fatal(err)
		}
		evs := allEvents(t, db)
		if len(evs) != 2 {
			t.Fatalf("events = %+v, want test.kept and test.alone", evs)
		}
		e := evs[0]
		if e.Type != "test.kept" || e.Pos != 1 || e.ProjectID != pid || e.Resource != "a" || e.Actor != "alice" ||
			string(e.Payload) != `{"n":1}` || time.Since(e.CreatedAt) > time.Minute {
			t.Errorf("first event = %+v", e)
		}
		if evs[1].Type != "test.alone" || evs[1].Pos != 2 || string(evs[1].Payload) != "{}" {
			t.Errorf("second event = %+v", evs[1])
		}
	})
}

// TestEventsOfAStreamFollowCommitOrder has transactions serialised by a witness row (each
// increments a counter of its stream, the lock held to its commit, after other writes that
// give it its place among concurrent transactions early) emit the counter value: sequenced
// events of every stream carry 1, 2, 3, … in order, whichever order the transactions began in.
func TestEventsOfAStreamFollowCommitOrder(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		const streams, writers, perWriter = 3, 6, 15
		err := db.Tx(ctx, func(tx *meta.Tx) error {
			if _, err := tx.ExecForTest(ctx, "CREATE TABLE witness (stream TEXT PRIMARY KEY, n BIGINT NOT NULL)"); err != nil {
				return err
			}
			if _, err := tx.ExecForTest(ctx, "CREATE TABLE scratch (v BIGINT)"); err != nil {
				return err
			}
			for s := range streams {
				if _, err := tx.ExecForTest(ctx, "INSERT INTO witness VALUES ($1, 0)", "s"+strconv.Itoa(s)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					stream := "s" + strconv.Itoa((w+i)%streams)
					err := db.Tx(ctx, func(tx *meta.Tx) error {
						if _, err := tx.ExecForTest(ctx, "INSERT INTO scratch VALUES ($1)", i); err != nil {
							return err
						}
						time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
						if _, err := tx.ExecForTest(ctx, "UPDATE witness SET n = n + 1 WHERE stream = $1", stream); err != nil {
							return err
						}
						var n int64
						if err := tx.QueryRowForTestTx(ctx, "SELECT n FROM witness WHERE stream = $1", stream).Scan(&n); err != nil {
							return err
						}
						time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
						tx.Emit(meta.Event{Type: "test.step", Stream: stream, Payload: []byte(strconv.FormatInt(n, 10))})
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		// Sequence while the writers run, as the bus does.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				select {
				case <-errs:
					return
				default:
				}
				if _, err := db.SequenceEvents(ctx, 7); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
				if finished(&wg) {
					return
				}
			}
		}()
		wg.Wait()
		<-done
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		evs := allEvents(t, db)
		if len(evs) != writers*perWriter {
			t.Fatalf("%d events, want %d", len(evs), writers*perWriter)
		}
		next := map[string]int64{}
		for i, e := range evs {
			if e.Pos != int64(i+1) {
				t.Fatalf("event %d has pos %d", i, e.Pos)
			}
			n, _ := strconv.ParseInt(string(e.Payload), 10, 64)
			if n != next[e.Stream]+1 {
				t.Fatalf("stream %s: event %d carries %d after %d", e.Stream, e.Pos, n, next[e.Stream])
			}
			next[e.Stream] = n
		}
	})
}

// finished reports whether wg's goroutines are done, without waiting.
func finished(wg *sync.WaitGroup) bool {
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
		return true
	case <-time.After(time.Millisecond):
		return false
	}
}

func TestSubscriberLeases(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		if err := db.EmitEvents(ctx, meta.Event{Type: "test.before", Stream: "s"}); err != nil {
			t.Fatal(err)
		}
		sequenceAll(t, db)
		// A new subscriber starts at the end of the stream.
		if err := db.AddSubscriber(ctx, "sub"); err != nil {
			t.Fatal(err)
		}
		if err := db.AddSubscriber(ctx, "sub"); err != nil {
			t.Fatalf("adding an existing subscriber: %v", err)
		}
		pos, err := db.ClaimSubscriber(ctx, "sub", "a", time.Now().Add(time.Hour))
		if err != nil || pos != 1 {
			t.Fatalf("claim by a = %d, %v; want 1", pos, err)
		}
		if _, err := db.ClaimSubscriber(ctx, "sub", "b", time.Now().Add(time.Hour)); !errors.Is(err, meta.ErrLeaseLost) {
			t.Fatalf("claim by b while a holds it = %v, want ErrLeaseLost", err)
		}
		if err := db.AdvanceSubscriber(ctx, "sub", "b", 5, time.Now().Add(time.Hour)); !errors.Is(err, meta.ErrLeaseLost) {
			t.Fatalf("advance by b = %v, want ErrLeaseLost", err)
		}
		if err := db.AdvanceSubscriber(ctx, "sub", "a", 5, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.ReleaseSubscriber(ctx, "sub", "a"); err != nil {
			t.Fatal(err)
		}
		pos, err = db.ClaimSubscriber(ctx, "sub", "b", time.Now().Add(time.Hour))
		if err != nil || pos != 5 {
			t.Fatalf("claim by b after release = %d, %v; want 5", pos, err)
		}
		// An expired lease passes to whoever claims next.
		if err := db.AdvanceSubscriber(ctx, "sub", "b", 5, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClaimSubscriber(ctx, "sub", "a", time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("claim of an expired lease: %v", err)
		}
		if _, err := db.ClaimSubscriber(ctx, "missing", "a", time.Now().Add(time.Hour)); !errors.Is(err, meta.ErrLeaseLost) {
			t.Fatalf("claim of an unknown subscriber = %v", err)
		}
	})
}

func TestPruneKeepsWhatASubscriberHasNotHandled(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		if err := db.AddSubscriber(ctx, "slow"); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			if err := db.EmitEvents(ctx, meta.Event{Type: "test.e", Stream: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		sequenceAll(t, db)
		if _, err := db.ClaimSubscriber(ctx, "slow", "a", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.AdvanceSubscriber(ctx, "slow", "a", 2, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(time.Hour)
		n, err := db.PruneEvents(ctx, future, time.Now().Add(-time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("prune = %d, %v; want the 2 handled events", n, err)
		}
		evs, err := db.EventsAfter(ctx, 0, 10)
		if err != nil || len(evs) != 2 || evs[0].Pos != 3 {
			t.Fatalf("left %+v, %v", evs, err)
		}
		last := evs[1]
		// A subscriber idle for longer than idleSince holds nothing back.
		n, err = db.PruneEvents(ctx, future, future)
		if err != nil || n != 2 {
			t.Fatalf("prune past an idle subscriber = %d, %v; want 2", n, err)
		}
		// With every event gone, the next still gets a new id: what subscribers wrote names
		// events by id.
		if err := db.EmitEvents(ctx, meta.Event{Type: "test.e", Stream: "after"}); err != nil {
			t.Fatal(err)
		}
		sequenceAll(t, db)
		evs, err = db.EventsAfter(ctx, 0, 10)
		if err != nil || len(evs) != 1 || evs[0].ID <= last.ID || evs[0].Pos != 5 {
			t.Fatalf("after pruning everything: %+v, %v; want id above %d at pos 5", evs, err, last.ID)
		}
	})
}
