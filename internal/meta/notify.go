package meta

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL notifies contentChannel at the commit of every change to repositories, tags or
// manifests, removalChannel at the commit of every removal of a repository, manifest, blob or
// blob link (migrations 0013, 0017), and projectsChannel at the commit of every change to a
// project, its metadata or a CVE allowlist (migration 0017).
const (
	contentChannel  = "berth_content"
	removalChannel  = "berth_removal"
	projectsChannel = "berth_projects"
)

// contentListener keeps one PostgreSQL connection listening on the channels and tells the
// store's watchers of each notification, so this replica learns of the other replicas' (and
// other processes') commits. While it is not listening, nobody can say what changed:
// ChangesHeard reports that, and readers go to the database.
type contentListener struct {
	url       string
	changed   func(Changes)
	listening atomic.Bool
	start     sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
}

func newContentListener(url string, changed func(Changes)) *contentListener {
	return &contentListener{url: url, changed: changed, done: make(chan struct{})}
}

// bump forgets everything: what was read before may be out of date in any way.
func (l *contentListener) bump() { l.changed(everything) }

// ensure starts the listener on first use: processes that never serve pulls (berth gc, fsck)
// do not hold the extra connection.
func (l *contentListener) ensure() {
	l.start.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		go l.run(ctx)
	})
}

func (l *contentListener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		l.listen(ctx)
		wasListening := l.listening.Swap(false)
		// Whatever was remembered may have missed a notification while the connection was
		// down: everything may have changed.
		l.bump()
		if ctx.Err() != nil {
			return
		}
		if wasListening {
			backoff = 100 * time.Millisecond // a connection that worked: try again soon
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen holds one connection until it fails or ctx ends. Why it failed does not matter: the
// caller connects again, and readers go to the database meanwhile.
func (l *contentListener) listen(ctx context.Context) {
	conn, err := pgx.Connect(ctx, l.url)
	if err != nil {
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+contentChannel+"; LISTEN "+removalChannel+"; LISTEN "+projectsChannel); err != nil {
		return
	}
	// Commits made before LISTEN took effect sent notifications to nobody: forget what was
	// read before this point, then trust the notifications.
	l.bump()
	l.listening.Store(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		switch n.Channel {
		case removalChannel:
			l.changed(Changes{Removal: true})
		case projectsChannel:
			l.changed(Changes{Projects: true})
		default:
			l.changed(Changes{Content: true})
		}
	}
}

func (l *contentListener) close() {
	started := true
	l.start.Do(func() { started = false; close(l.done) })
	if started {
		l.cancel()
	}
	<-l.done
}
