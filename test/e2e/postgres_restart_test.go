//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// answerDeadline is how long any request may take while PostgreSQL is down or coming back:
// an answer after that is a hang.
const answerDeadline = 20 * time.Second

// phases of TestPostgresRestartUnderLoad.
const (
	phaseUp int32 = iota
	phaseDown
	phaseBack
)

var phaseNames = []string{"before the stop", "while PostgreSQL was down", "after PostgreSQL was back"}

// watchedAnswers is an http.RoundTripper that checks every answer the server gives: no
// hang, no 500, no refused credentials, and any other 5xx is a 503 with the protocol's
// error body ({"errors":[{"code":…,"message":…}]}) — and that while PostgreSQL is up, nothing
// is a 503 either.
type watchedAnswers struct {
	base  http.RoundTripper
	phase *atomic.Int32

	mu         sync.Mutex
	violations []string
	count      [3]map[int]int // per phase: status → answers
}

func newWatchedAnswers(phase *atomic.Int32) *watchedAnswers {
	w := &watchedAnswers{base: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}, phase: phase}
	for i := range w.count {
		w.count[i] = map[int]int{}
	}
	return w
}

func (w *watchedAnswers) violation(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) < 50 {
		w.violations = append(w.violations, fmt.Sprintf(format, args...))
	}
}

func (w *watchedAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	phase := w.phase.Load()
	began := time.Now()
	what := req.Method + " " + req.URL.Path
	resp, err := w.base.RoundTrip(req)
	took := time.Since(began)
	// A request during which PostgreSQL went down (or came back) belongs to the later phase.
	phase = max(phase, w.phase.Load())
	if err != nil {
		if req.Context().Err() == nil {
			w.violation("%s (%s): no answer after %v: %v", what, phaseNames[phase], took.Round(time.Millisecond), err)
		}
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		w.violation("%s (%s): the answer's body broke off: %v", what, phaseNames[phase], err)
		return resp, nil
	}
	if took > answerDeadline {
		w.violation("%s (%s): answered %d after %v", what, phaseNames[phase], resp.StatusCode, took.Round(time.Millisecond))
	}
	w.mu.Lock()
	w.count[phase][resp.StatusCode]++
	w.mu.Unlock()
	st := resp.StatusCode
	switch {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		w.violation("%s (%s): %d for the administrator's credentials: %.300s", what, phaseNames[phase], st, body)
	case st == http.StatusServiceUnavailable && phase == phaseUp:
		w.violation("%s (%s): 503 while PostgreSQL was up: %.300s", what, phaseNames[phase], body)
	case st == http.StatusServiceUnavailable && req.URL.Path != "/readyz" && req.Method != http.MethodHead:
		var doc struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if json.Unmarshal(body, &doc) != nil || len(doc.Errors) == 0 || doc.Errors[0].Code == "" || doc.Errors[0].Message == "" {
			w.violation("%s (%s): 503 without an error body: %.300s", what, phaseNames[phase], body)
		}
	case st >= 500 && st != http.StatusServiceUnavailable:
		w.violation("%s (%s): %d: %.300s", what, phaseNames[phase], st, body)
	}
	return resp, nil
}

func (w *watchedAnswers) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for i, m := range w.count {
		parts = append(parts, fmt.Sprintf("%s: %v", phaseNames[i], m))
	}
	return strings.Join(parts, "; ")
}

// TestPostgresRestartUnderLoad stops Berth's PostgreSQL (a private instance; fast shutdown)
// while clients push and pull, and starts it again. While it is down every answer comes within
// answerDeadline and is a success (what Berth holds in memory) or a 503 with the protocol's
// error body — never a hang, a 500 or a refusal of good credentials. Once it is back Berth
// serves again by itself, without a restart; nothing that was acknowledged is lost, and fsck
// finds nothing wrong.
func TestPostgresRestartUnderLoad(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	srv := startServer(t, serverOptions{DB: "postgres", DatabaseURL: pg.URL()})
	var phase atomic.Int32
	watch := newWatchedAnswers(&phase)
	client := &http.Client{Transport: watch, Timeout: 2 * answerDeadline}
	admin := srv.admin()
	admin.client = client
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	type pushed struct {
		repo, tag string
		img       testImage
	}
	var (
		mu    sync.Mutex
		acked []pushed
	)
	ackedNow := func() []pushed {
		mu.Lock()
		defer mu.Unlock()
		return append([]pushed(nil), acked...)
	}
	seed := pushed{"library/pg-seed", "v1", newImage(t, "linux/amd64", randomLayer(t, 64<<10))}
	if err := admin.pushImage(ctx, seed.repo, seed.tag, seed.img); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, seed)

	// Load: pushers and pullers until told to stop. Failures are expected while PostgreSQL
	// is down; what the answers were is watch's to judge.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var pushes, pulls atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				p := pushed{fmt.Sprintf("library/pg-load-%d", w), fmt.Sprintf("t%d", i), newImage(t, "linux/amd64", randomLayer(t, 8<<10+rand.IntN(64<<10)))}
				if err := admin.pushImage(loadCtx, p.repo, p.tag, p.img); err != nil {
					select {
					case <-loadCtx.Done():
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				pushes.Add(1)
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				all := ackedNow()
				p := all[rand.IntN(len(all))]
				if err := admin.verifyImage(loadCtx, p.repo, p.tag, p.img); err == nil {
					pulls.Add(1)
				} else {
					if phase.Load() == phaseUp && loadCtx.Err() == nil {
						watch.violation("pull of acknowledged %s:%s while PostgreSQL was up: %v", p.repo, p.tag, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				stopLoad()
				wg.Wait()
				t.Fatalf("%s: not within %v (answers: %s)", what, limit, watch.summary())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("pushes acknowledged before the stop", 2*time.Minute, func() bool { return pushes.Load() >= 10 })

	phase.Store(phaseDown)
	began := time.Now()
	pg.stop(t)
	t.Logf("PostgreSQL stopped (fast) after %d pushes and %d pulls, in %v", pushes.Load(), pulls.Load(), time.Since(began).Round(time.Millisecond))

	// While it is down: every kind of request, several times, besides the load.
	probe := func() {
		seedBlob := seed.img.Blobs()[0].Digest
		// needsDB: what cannot be answered from memory, so must be a 503 while PostgreSQL is
		// down (one of each protocol: registry, API, token service).
		for _, rq := range []struct {
			method, path, body, contentType string
			needsDB                         bool
		}{
			{"GET", "/v2/", "", "", false},
			{"GET", "/v2/" + seed.repo + "/manifests/" + seed.tag, "", "", false},
			{"HEAD", "/v2/" + seed.repo + "/manifests/" + seed.img.Digest, "", "", false},
			{"GET", "/v2/" + seed.repo + "/blobs/" + seedBlob, "", "", false},
			{"GET", "/v2/" + seed.repo + "/tags/list", "", "", false},
			{"POST", "/v2/library/pg-probe/blobs/uploads/", "", "", true},
			{"PUT", "/v2/" + seed.repo + "/manifests/probe", string(seed.img.Manifest), mtOCIManifest, true},
			{"DELETE", "/v2/" + seed.repo + "/manifests/sha256:" + strings.Repeat("0", 64), "", "", false},
			{"GET", "/v2/_catalog", "", "", false},
			{"GET", "/api/v2.0/projects", "", "", true},
			{"GET", "/api/v2.0/projects/library/repositories", "", "", false},
			{"GET", "/api/v2.0/systeminfo", "", "", false},
			{"GET", "/api/v2.0/users/current", "", "", false},
			{"POST", "/api/v2.0/projects", `{"project_name":"pg-probe-` + randomHex(4) + `"}`, "application/json", true},
			{"GET", "/service/token?service=harbor-registry&scope=" + url.QueryEscape("repository:library/pg-probe:pull,push"), "", "", true},
		} {
			var body []byte
			if rq.body != "" {
				body = []byte(rq.body)
			}
			headers := []string{}
			if rq.contentType != "" {
				headers = append(headers, "Content-Type", rq.contentType)
			}
			down := phase.Load() == phaseDown
			r, err := admin.send(ctx, rq.method, rq.path, body, headers...)
			if err == nil && rq.needsDB && down && phase.Load() == phaseDown && r.Status != http.StatusServiceUnavailable {
				watch.violation("%s %s while PostgreSQL was down: %d, want 503", rq.method, rq.path, r.Status)
			}
		}
		want := http.StatusOK
		if phase.Load() == phaseDown {
			want = http.StatusServiceUnavailable
		}
		if r, err := admin.send(ctx, http.MethodGet, "/readyz", nil); err == nil && r.Status != want {
			watch.violation("GET /readyz (%s): %s, want %d", phaseNames[phase.Load()], r, want)
		}
	}
	for range 3 {
		probe()
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second)

	pg.start(t)
	phase.Store(phaseBack)
	back := time.Now()
	// Berth comes back by itself: ready, and pushes acknowledged again.
	atBack := pushes.Load()
	waitFor("ready again after PostgreSQL came back", 2*time.Minute, func() bool {
		r, err := admin.send(ctx, http.MethodGet, "/readyz", nil)
		return err == nil && r.Status == http.StatusOK
	})
	waitFor("pushes acknowledged again after PostgreSQL came back", 2*time.Minute, func() bool { return pushes.Load() >= atBack+10 })
	t.Logf("serving again %v after PostgreSQL started", time.Since(back).Round(time.Millisecond))
	probe()
	stopLoad()
	wg.Wait()
	// The job queue is back too: a collection runs to its end.
	if _, err := runGCAPI(ctx, srv, `{}`); err != nil {
		t.Errorf("a collection after PostgreSQL came back: %v", err)
	}
	if srv.starts != 1 || srv.cmd == nil {
		t.Fatalf("the server was restarted (%d starts)", srv.starts)
	}
	select {
	case <-srv.exited:
		t.Fatalf("the server exited: %v\n%s", srv.exitErr, tailFile(srv.LogPath, 40))
	default:
	}

	t.Logf("%d pushes, %d pulls; answers: %s", pushes.Load(), pulls.Load(), watch.summary())
	for _, v := range watch.violations {
		t.Error(v)
	}
	if t.Failed() {
		t.Logf("errors the server logged:\n%s", grepLines(srv.logText(), "level=ERROR", 40))
	}
	if watch.count[phaseDown][http.StatusServiceUnavailable] == 0 {
		t.Error("no 503 while PostgreSQL was down: the outage was not seen")
	}

	// Nothing acknowledged is lost.
	all := ackedNow()
	verifier := srv.admin()
	for _, p := range all {
		if err := verifier.verifyImage(ctx, p.repo, p.tag, p.img); err != nil {
			t.Errorf("acknowledged push lost: %v", err)
		}
	}
	srv.stop(t)
	fsckAfterInterruptions(t, srv)
	t.Logf("%d acknowledged images pull back", len(all))
}

// grepLines returns the first max lines of text that contain match.
func grepLines(text, match string, max int) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, match) {
			out = append(out, l)
			if len(out) == max {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
