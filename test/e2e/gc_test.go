//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runGCAPI starts a collection through Harbor's API and waits for it to end; it returns the
// history entry.
func runGCAPI(ctx context.Context, s *server, params string) (map[string]any, error) {
	c := s.admin()
	r, err := c.send(ctx, http.MethodPost, "/api/v2.0/system/gc/schedule", []byte(`{"schedule":{"type":"Manual"},"parameters":`+params+`}`),
		"Content-Type", "application/json")
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusCreated {
		return nil, fmt.Errorf("start gc: %s", r)
	}
	loc := r.Header.Get("Location")
	for {
		r, err := c.send(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return nil, err
		}
		var h map[string]any
		if err := json.Unmarshal(r.Body, &h); err != nil {
			return nil, fmt.Errorf("gc status: %s", r)
		}
		switch h["job_status"] {
		case "Success":
			return h, nil
		case "Error", "Stopped":
			lg, _ := c.send(ctx, http.MethodGet, loc+"/log", nil)
			return h, fmt.Errorf("gc %v ended %v: %s", h["id"], h["job_status"], lg.Body)
		}
		select {
		case <-ctx.Done():
			return h, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestGCRace pushes images that share layers with images being deleted while collections run
// over and over with no grace period — through the API and, at the same time, as `berth gc`
// processes on the same database. Pushes may fail (a layer collected between its upload and
// the manifest), but every push that succeeded and was not deleted pulls back digest-correct,
// and afterwards `berth fsck` finds nothing wrong.
func TestGCRace(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db, Env: map[string]string{"BERTH_GC_GRACE_PERIOD": "0s"}})
		shared := make([]layer, 12)
		for i := range shared {
			shared[i] = randomLayer(t, 2<<10)
		}
		const pushers = 6
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		// Run until thousands of operations have interleaved (at least 20 s, at most 60 s:
		// a slow, shared machine gets more time rather than a weaker test).
		began := time.Now()
		var ops atomic.Int64
		stopped := func() bool {
			d := time.Since(began)
			return d > 60*time.Second || d > 20*time.Second && ops.Load() >= 3000
		}

		type pushed struct {
			repo, tag string
			img       testImage
		}
		var (
			mu              sync.Mutex
			alive           []pushed
			ok, failed      atomic.Int64
			deleted, gcRuns atomic.Int64
			firstUnexpected error
		)
		unexpected := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if firstUnexpected == nil {
				firstUnexpected = err
			}
		}
		var wg sync.WaitGroup
		for w := range pushers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				repo := fmt.Sprintf("library/race-%d", w%3)
				rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				var mine []pushed
				for i := 0; !stopped(); i++ {
					a, b := rng.IntN(len(shared)), rng.IntN(len(shared))
					img := newImage(t, "linux/amd64", shared[a], shared[b], randomLayer(t, 512))
					tag := fmt.Sprintf("w%d-%d", w, i)
					ops.Add(int64(len(img.Blobs()) + 1))
					if err := srv.admin().pushImage(ctx, repo, tag, img); err != nil {
						// The only acceptable refusals: a blob collected before the manifest
						// named it, or re-uploaded while it was being collected.
						if !strings.Contains(err.Error(), "BLOB_UNKNOWN") && !strings.Contains(err.Error(), "garbage-collected") {
							unexpected(fmt.Errorf("push %s:%s: %w", repo, tag, err))
						}
						failed.Add(1)
						continue
					}
					ok.Add(1)
					mine = append(mine, pushed{repo, tag, img})
					// Delete one of this pusher's earlier images about half the time: its
					// layers are shared with images still being pushed.
					if len(mine) > 1 && rng.IntN(2) == 0 {
						k := rng.IntN(len(mine) - 1)
						victim := mine[k]
						mine = append(mine[:k], mine[k+1:]...)
						ops.Add(1)
						r, err := srv.admin().send(ctx, http.MethodDelete, "/v2/"+victim.repo+"/manifests/"+victim.img.Digest, nil)
						if err != nil || r.Status != http.StatusAccepted {
							unexpected(fmt.Errorf("delete %s@%s: %v %s", victim.repo, victim.img.Digest, err, r))
						}
						deleted.Add(1)
					}
				}
				mu.Lock()
				alive = append(alive, mine...)
				mu.Unlock()
			}()
		}
		// Collections through the server's job queue…
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped() {
				if _, err := runGCAPI(ctx, srv, `{"delete_untagged":true,"workers":4}`); err != nil {
					unexpected(err)
					return
				}
				gcRuns.Add(1)
			}
		}()
		// …and in other processes at the same time.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped() {
				out, err := berth(t, srv.env, "", "gc", "--workers", "3", "--data-dir", srv.DataDir)
				if err != nil {
					unexpected(fmt.Errorf("berth gc: %v\n%s", err, clip(out, 2000)))
					return
				}
				gcRuns.Add(1)
			}
		}()
		wg.Wait()
		t.Logf("%s: %d operations in %s: %d images pushed, %d pushes refused, %d deleted, %d collections",
			db, ops.Load(), time.Since(began).Round(time.Second), ok.Load(), failed.Load(), deleted.Load(), gcRuns.Load())
		if firstUnexpected != nil {
			t.Fatal(firstUnexpected)
		}
		if ops.Load() < 1000 {
			t.Errorf("only %d operations interleaved; the race needs thousands", ops.Load())
		}
		if ok.Load() == 0 || gcRuns.Load() < 4 {
			t.Fatalf("nothing raced: %d pushes, %d collections", ok.Load(), gcRuns.Load())
		}

		verify := func(when string) {
			var errs atomic.Int64
			var vg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for _, p := range alive {
				vg.Add(1)
				sem <- struct{}{}
				go func() {
					defer vg.Done()
					defer func() { <-sem }()
					if err := srv.admin().verifyImage(ctx, p.repo, p.tag, p.img); err != nil {
						if errs.Add(1) <= 5 {
							t.Errorf("%s: %v", when, err)
						}
					}
				}()
			}
			vg.Wait()
			if n := errs.Load(); n > 0 {
				t.Fatalf("%s: %d of %d images do not pull back", when, n, len(alive))
			}
		}
		verify("after the race")
		// One more collection with nothing else running, then the checker.
		if _, err := runGCAPI(ctx, srv, `{"delete_untagged":true}`); err != nil {
			t.Fatal(err)
		}
		verify("after a final collection")
		out, err := berth(t, srv.env, "", "fsck", "--min-age", "0", "--data-dir", srv.DataDir)
		if err != nil || !strings.Contains(out, "no problems found") {
			t.Fatalf("berth fsck after the race: %v\n%s", err, clip(out, 4000))
		}
		t.Logf("%d images pull back; fsck: no problems", len(alive))
	})
}

// TestScheduledGCSurvivesRestart sets a GC schedule, stops the server before it fires and
// starts it after: the run that fell due while the server was down happens.
func TestScheduledGCSurvivesRestart(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		c := srv.admin()
		at := time.Now().UTC().Add(6 * time.Second)
		cron := fmt.Sprintf("%d %d %d * * *", at.Second(), at.Minute(), at.Hour())
		r := c.do(t, http.MethodPost, "/api/v2.0/system/gc/schedule", []byte(`{"schedule":{"type":"Custom","cron":"`+cron+`"}}`), "Content-Type", "application/json")
		if r.Status != http.StatusCreated {
			t.Fatalf("set schedule: %s", r)
		}
		srv.stop(t)
		time.Sleep(time.Until(at) + time.Second)
		srv.start(t)
		deadline := time.Now().Add(90 * time.Second)
		for {
			r := c.do(t, http.MethodGet, "/api/v2.0/system/gc", nil)
			var hist []map[string]any
			json.Unmarshal(r.Body, &hist)
			if len(hist) > 0 && hist[0]["job_kind"] == "SCHEDULE" && hist[0]["job_status"] == "Success" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no scheduled run after the restart: %s", r)
			}
			time.Sleep(250 * time.Millisecond)
		}
		// The schedule itself carries on: its next run is tomorrow at the same time.
		r = c.do(t, http.MethodGet, "/api/v2.0/system/gc/schedule", nil)
		var s struct {
			Schedule struct {
				Cron string `json:"cron"`
				Next string `json:"next_scheduled_time"`
			} `json:"schedule"`
		}
		json.Unmarshal(r.Body, &s)
		next, err := time.Parse(time.RFC3339, s.Schedule.Next)
		if s.Schedule.Cron != cron || err != nil || next.Before(time.Now()) {
			t.Fatalf("schedule after its run: %s", r)
		}
	})
}

// TestGCKilledMidRun kills the server with SIGKILL while a collection is deleting hundreds of
// images' content. After the restart every image that was not deleted pulls back, fsck finds
// nothing wrong (no manifest names a missing blob), and the next collection finishes the job.
func TestGCKilledMidRun(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db, Env: map[string]string{"BERTH_GC_GRACE_PERIOD": "0s"}})
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		shared := randomLayer(t, 4<<10)
		type pushed struct {
			tag string
			img testImage
		}
		var keep, drop []pushed
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					p := pushed{fmt.Sprintf("w%d-%d", w, i), newImage(t, "linux/amd64", shared, randomLayer(t, 1<<10))}
					if err := srv.admin().pushImage(ctx, "library/killed", p.tag, p.img); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if i%5 == 0 {
						keep = append(keep, p)
					} else {
						drop = append(drop, p)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for _, p := range drop {
			r, err := srv.admin().send(ctx, http.MethodDelete, "/v2/library/killed/manifests/"+p.img.Digest, nil)
			if err != nil || r.Status != http.StatusAccepted {
				t.Fatalf("delete: %v %s", err, r)
			}
		}
		r, err := srv.admin().send(ctx, http.MethodPost, "/api/v2.0/system/gc/schedule",
			[]byte(`{"schedule":{"type":"Manual"},"parameters":{"workers":1}}`), "Content-Type", "application/json")
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("start gc: %v %s", err, r)
		}
		// Kill it once it has deleted something but not everything.
		deadline := time.Now().Add(time.Minute)
		for {
			lg, _ := srv.admin().send(ctx, http.MethodGet, r.Header.Get("Location")+"/log", nil)
			if n := strings.Count(string(lg.Body), "deleted blob"); n > 0 {
				t.Logf("killing the server after %d blob deletions were logged", n)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the collection logged no deletion within a minute")
			}
			time.Sleep(20 * time.Millisecond)
		}
		srv.crash(t)
		out, err := berth(t, srv.env, "", "fsck", "--min-age", "0", "--data-dir", srv.DataDir)
		if err != nil || !strings.Contains(out, "no problems found") {
			t.Fatalf("fsck right after the kill: %v\n%s", err, clip(out, 4000))
		}
		srv.start(t)
		for _, p := range keep {
			if err := srv.admin().verifyImage(ctx, "library/killed", p.tag, p.img); err != nil {
				t.Fatal(err)
			}
		}
		h, err := runGCAPI(ctx, srv, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the collection after the restart deleted %v manifests and %v blobs", h["manifests_deleted"], h["blobs_deleted"])
		for _, p := range keep {
			if err := srv.admin().verifyImage(ctx, "library/killed", p.tag, p.img); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range drop[:5] {
			if r, _ := srv.admin().send(ctx, http.MethodGet, "/v2/library/killed/blobs/"+p.img.Layers[1].Digest, nil); r.Status != http.StatusNotFound {
				t.Fatalf("a deleted image's own layer is still served: %s", r)
			}
		}
		out, err = berth(t, srv.env, "", "fsck", "--min-age", "0", "--data-dir", srv.DataDir)
		if err != nil || !strings.Contains(out, "no problems found") {
			t.Fatalf("fsck after the next collection: %v\n%s", err, clip(out, 4000))
		}
	})
}

// TestScheduledRetentionSurvivesRestart gives a project a retention policy ("keep the most
// recent 2") scheduled a few seconds ahead, stops the server before it fires and starts it
// after: the run that fell due while the server was down happens and keeps the 2 newest tags.
func TestScheduledRetentionSurvivesRestart(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		c := srv.admin()
		createProject(t, srv, "keep2", false)
		for i := range 4 {
			mustPushImage(t, c, "keep2/app", fmt.Sprintf("v%d", i), randomImage(t, 1<<10))
			time.Sleep(20 * time.Millisecond) // distinct push times
		}
		r := c.do(t, http.MethodGet, "/api/v2.0/projects/keep2", nil)
		var p struct {
			ID int64 `json:"project_id"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil || p.ID == 0 {
			t.Fatalf("project: %s", r)
		}
		at := time.Now().UTC().Add(6 * time.Second)
		cron := fmt.Sprintf("%d %d %d * * *", at.Second(), at.Minute(), at.Hour())
		policy := fmt.Sprintf(`{"algorithm":"or","rules":[{"disabled":false,"action":"retain","template":"latestPushedK","params":{"latestPushedK":2},
			"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],
			"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}],
			"trigger":{"kind":"Schedule","settings":{"cron":"%s"}},"scope":{"level":"project","ref":%d}}`, cron, p.ID)
		r = c.do(t, http.MethodPost, "/api/v2.0/retentions", []byte(policy), "Content-Type", "application/json")
		if r.Status != http.StatusCreated {
			t.Fatalf("create policy: %s", r)
		}
		srv.stop(t)
		time.Sleep(time.Until(at) + time.Second)
		srv.start(t)
		deadline := time.Now().Add(90 * time.Second)
		for {
			tags := tagList(t, c, "keep2/app")
			if strings.Join(tags, ",") == "v2,v3" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tags after the scheduled run: %v, want v2 v3", tags)
			}
			time.Sleep(250 * time.Millisecond)
		}
		r = c.do(t, http.MethodGet, r.Header.Get("Location")+"/executions", nil)
		if !strings.Contains(string(r.Body), `"trigger":"SCHEDULE"`) {
			t.Fatalf("executions: %s", r)
		}
	})
}
