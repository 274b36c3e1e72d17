package events_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// collector is a subscriber that keeps what it is handed.
type collector struct {
	mu  sync.Mutex
	evs []meta.Event
	// fail, while positive, makes that many deliveries fail.
	fail int
}

func (c *collector) handle(_ context.Context, evs []meta.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return errors.New("try again")
	}
	c.evs = append(c.evs, evs...)
	return nil
}

func (c *collector) resources() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.evs))
	for i, e := range c.evs {
		out[i] = e.Resource
	}
	return out
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newBus(store events.Store) *events.Bus {
	return events.New(store, events.Options{Logger: slog.New(slog.DiscardHandler), Poll: 50 * time.Millisecond, Lease: 2 * time.Second, Batch: 16})
}

func emit(t *testing.T, db *meta.DB, evs ...meta.Event) {
	t.Helper()
	if err := db.Tx(context.Background(), func(tx *meta.Tx) error { tx.Emit(evs...); return nil }); err != nil {
		t.Fatal(err)
	}
}

func ev(typ, stream, resource string) meta.Event {
	return meta.Event{Type: typ, Stream: stream, Resource: resource}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func TestEverySubscriberReceivesEveryEventInOrder(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		bus := newBus(db)
		var audit, scans, pushesOnly collector
		scans.fail = 2 // a subscriber that fails for a while still gets everything, in order
		bus.Subscribe("audit", audit.handle)
		bus.Subscribe("scan", scans.handle)
		bus.Subscribe("pushes", pushesOnly.handle, events.ArtifactPushed)
		if err := bus.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer bus.Close()
		want := names("e", 40)
		var pushes []string
		for i, r := range want {
			typ := events.ArtifactPulled
			if i%3 == 0 {
				typ = events.ArtifactPushed
				pushes = append(pushes, r)
			}
			emit(t, db, ev(typ, "repository:p/r"+strconv.Itoa(i%4), r))
		}
		for name, c := range map[string]*collector{"audit": &audit, "scan": &scans} {
			waitFor(t, name+" to receive every event", func() bool { return len(c.resources()) >= len(want) })
			if got := c.resources(); !slices.Equal(got, want) {
				t.Errorf("%s received %v, want %v", name, got, want)
			}
		}
		waitFor(t, "the pushes", func() bool { return len(pushesOnly.resources()) >= len(pushes) })
		if got := pushesOnly.resources(); !slices.Equal(got, pushes) {
			t.Errorf("the push subscriber received %v, want %v", got, pushes)
		}
	})
}

func TestDeliveryResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		var c collector
		first := newBus(db)
		first.Subscribe("audit", c.handle)
		if err := first.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		emit(t, db, ev("a", "s", "before"))
		waitFor(t, "the first event", func() bool { return len(c.resources()) == 1 })
		first.Close()
		// Written while no process delivers.
		emit(t, db, ev("a", "s", "while-down-1"), ev("a", "t", "while-down-2"))
		second := newBus(db)
		second.Subscribe("audit", c.handle)
		if err := second.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		waitFor(t, "the events written while down", func() bool { return len(c.resources()) == 3 })
		time.Sleep(200 * time.Millisecond)
		if got, want := c.resources(), []string{"before", "while-down-1", "while-down-2"}; !slices.Equal(got, want) {
			t.Errorf("received %v, want %v", got, want)
		}
	})
}

// TestEachEventHandledOncePerSubscriberAcrossReplicas runs two buses, as two replicas would, on
// one database: each event reaches each subscriber once, whichever replica holds it.
func TestEachEventHandledOncePerSubscriberAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, dialect := range metatest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			var a, b *meta.DB
			if dialect == "postgres" {
				url := metatest.NewDatabase(t)
				a, b = openStore(t, url, ""), openStore(t, url, "")
			} else {
				// Two handles on one SQLite file stand in for two processes sharing it.
				path := filepath.Join(t.TempDir(), "berth.db")
				a, b = openStore(t, "", path), openStore(t, "", path)
			}
			var mu sync.Mutex
			seen := map[string]map[string]int{}
			handler := func(sub string) events.Handler {
				return func(_ context.Context, evs []meta.Event) error {
					mu.Lock()
					defer mu.Unlock()
					for _, e := range evs {
						if seen[sub] == nil {
							seen[sub] = map[string]int{}
						}
						seen[sub][e.Resource]++
					}
					return nil
				}
			}
			for _, db := range []*meta.DB{a, b} {
				// A lease far longer than any batch takes, even on a loaded machine under the
				// race detector: a lease that runs out while its holder handles a batch hands the
				// batch to the other replica too (delivery is at least once), which is not what
				// this test is about.
				bus := events.New(db, events.Options{Logger: slog.New(slog.DiscardHandler), Poll: 50 * time.Millisecond, Lease: 30 * time.Second, Batch: 16})
				bus.Subscribe("audit", handler("audit"))
				bus.Subscribe("scan", handler("scan"))
				if err := bus.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				defer bus.Close()
			}
			want := names("e", 60)
			for i, r := range want {
				emit(t, []*meta.DB{a, b}[i%2], ev("a", "repository:p/r"+strconv.Itoa(i%5), r))
			}
			count := func(sub string) int {
				mu.Lock()
				defer mu.Unlock()
				return len(seen[sub])
			}
			for _, sub := range []string{"audit", "scan"} {
				waitFor(t, sub+" to handle every event", func() bool { return count(sub) == len(want) })
			}
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			for sub, m := range seen {
				for r, n := range m {
					if n != 1 {
						t.Errorf("%s handled %s %d times", sub, r, n)
					}
				}
			}
		})
	}
}

func openStore(t *testing.T, url, path string) *meta.DB {
	t.Helper()
	db, err := meta.Open(context.Background(), url, path, meta.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestEventsSurviveAKilledProcess has a child process commit events and then die by SIGKILL
// before any delivery: a bus started afterwards delivers them.
func TestEventsSurviveAKilledProcess(t *testing.T) {
	t.Parallel()
	for _, dialect := range metatest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			var url, path string
			if dialect == "postgres" {
				url = metatest.NewDatabase(t)
			} else {
				path = filepath.Join(t.TempDir(), "berth.db")
			}
			// The subscriber exists before the child writes, as it does on a server that has run.
			db := openStore(t, url, path)
			if err := db.AddSubscriber(context.Background(), "audit"); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildCommitsThenWaits$")
			cmd.Env = append(os.Environ(), "BERTH_EVENTS_CHILD_URL="+url, "BERTH_EVENTS_CHILD_PATH="+path)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || line != "committed\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child said %q, %v", line, err)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			var c collector
			bus := newBus(db)
			bus.Subscribe("audit", c.handle)
			if err := bus.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer bus.Close()
			waitFor(t, "the dead process's events", func() bool { return len(c.resources()) == 2 })
			if got, want := c.resources(), []string{"library/app:1", "library/app:2"}; !slices.Equal(got, want) {
				t.Errorf("received %v, want %v", got, want)
			}
		})
	}
}

// TestChildCommitsThenWaits is the child of TestEventsSurviveAKilledProcess.
func TestChildCommitsThenWaits(t *testing.T) {
	path, ok := os.LookupEnv("BERTH_EVENTS_CHILD_PATH")
	if !ok {
		t.Skip("runs as the child of TestEventsSurviveAKilledProcess")
	}
	db, err := meta.Open(context.Background(), os.Getenv("BERTH_EVENTS_CHILD_URL"), path, meta.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Tx(context.Background(), func(tx *meta.Tx) error {
		tx.Emit(ev(events.ArtifactPushed, "repository:library/app", "library/app:1"),
			ev(events.TagCreated, "repository:library/app", "library/app:2"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("committed")
	time.Sleep(time.Minute)
}
