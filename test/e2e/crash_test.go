//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crash kills the server with SIGKILL: no shutdown, no flush, as a power cut would.
func (s *server) crash(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	cmd := s.cmd
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// TestCrashLeavesNoCorruptContent pushes images from several clients and kills the server
// with SIGKILL in the middle, several times. After each restart every push that was
// acknowledged pulls back digest-correct, and every blob file in storage holds exactly the
// content its name promises: a crash leaves content either whole or absent.
func TestCrashLeavesNoCorruptContent(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		type pushed struct {
			repo, tag string
			img       testImage
		}
		var (
			mu   sync.Mutex
			acks []pushed
		)
		for round := range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					admin := srv.admin()
					for i := 0; ctx.Err() == nil && i < 200; i++ {
						img := newImage(t, "linux/amd64", randomLayer(t, 32<<10+rand.IntN(512<<10)), randomLayer(t, 4<<10))
						p := pushed{fmt.Sprintf("library/crash-%d", w), fmt.Sprintf("r%d-%d", round, i), img}
						if err := admin.pushImage(ctx, p.repo, p.tag, img); err != nil {
							return // the server went away mid-push: not acknowledged
						}
						mu.Lock()
						acks = append(acks, p)
						mu.Unlock()
					}
				}()
			}
			// Crash at a random moment once this round has had some pushes acknowledged, so
			// that uploads, commits and manifest writes are all likely to be in flight.
			before := ackCount(&mu, &acks)
			deadline := time.Now().Add(20 * time.Second)
			for ackCount(&mu, &acks) < before+4 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			srv.crash(t)
			cancel()
			wg.Wait()
			srv.start(t)

			n := ackCount(&mu, &acks)
			if n <= before {
				t.Fatalf("round %d: no push was acknowledged before the crash; the test proves nothing", round)
			}
			for _, p := range acks {
				mustVerifyImage(t, srv.admin(), p.repo, p.tag, p.img)
			}
			checkStoredBlobs(t, srv.DataDir)
			t.Logf("round %d: %d acknowledged images verified after SIGKILL", round, n)
		}
	})
}

// longRuns reports whether the long runs were asked for: BERTH_E2E_LONG=1 (make e2e-long).
// Without it (CI, make e2e) the crash tests run a few rounds.
func longRuns() bool {
	v := strings.ToLower(os.Getenv("BERTH_E2E_LONG"))
	return v != "" && v != "0" && v != "false"
}

// TestCrashDuringPushDeleteAndGC kills the server with SIGKILL at a random moment while
// clients push images that share layers, delete some of them, and garbage collections run
// with no grace period — through the API in the server and as `berth gc` processes, killed
// with it — round after round. After each kill: `berth fsck` finds nothing but the debris of
// interrupted pushes (which --repair removes), and after the restart every acknowledged push
// that was not acknowledged deleted pulls back whole, and every stored blob file holds the
// content its name promises. 3 rounds by default; BERTH_E2E_LONG=1 runs 25 longer ones.
func TestCrashDuringPushDeleteAndGC(t *testing.T) {
	t.Parallel()
	rounds, maxRun := 3, 6*time.Second
	if longRuns() {
		rounds, maxRun = 25, 30*time.Second
	}
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db, Env: map[string]string{"BERTH_GC_GRACE_PERIOD": "0s"}})
		shared := make([]layer, 10)
		for i := range shared {
			shared[i] = randomLayer(t, 2<<10)
		}
		type pushed struct {
			repo, tag string
			img       testImage
		}
		var (
			mu                 sync.Mutex
			alive              []pushed // acknowledged, and not deleted nor being deleted
			deleted, uncertain int
			gcAPI, gcCLI       atomic.Int64
			firstUnexpected    error
			acked              atomic.Int64
		)
		unexpected := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if firstUnexpected == nil {
				firstUnexpected = err
			}
		}
		// noAnswer: the server went away mid-request (the kill), not a refusal.
		noAnswer := func(err error) bool {
			var ue *url.Error
			return errors.As(err, &ue)
		}
		for round := range rounds {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			roundAcks := acked.Load()
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(round), uint64(w)+uint64(time.Now().UnixNano())))
					for i := 0; ctx.Err() == nil; i++ {
						img := newImage(t, "linux/amd64", shared[rng.IntN(len(shared))], shared[rng.IntN(len(shared))],
							randomLayer(t, 1<<10+rng.IntN(256<<10)))
						p := pushed{fmt.Sprintf("library/crashgc-%d", w%2), fmt.Sprintf("r%d-w%d-%d", round, w, i), img}
						err := srv.admin().pushImage(ctx, p.repo, p.tag, p.img)
						switch {
						case err == nil:
							mu.Lock()
							alive = append(alive, p)
							mu.Unlock()
							acked.Add(1)
						case ctx.Err() != nil || noAnswer(err):
							return
						case strings.Contains(err.Error(), "BLOB_UNKNOWN") || strings.Contains(err.Error(), "garbage-collected"):
							// A shared layer collected between its upload and the manifest: refused,
							// not acknowledged.
						default:
							unexpected(fmt.Errorf("push %s:%s: %w", p.repo, p.tag, err))
							return
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					if len(alive) < 8 {
						mu.Unlock()
						time.Sleep(20 * time.Millisecond)
						continue
					}
					k := rand.IntN(len(alive))
					victim := alive[k]
					alive = append(alive[:k], alive[k+1:]...)
					mu.Unlock()
					r, err := srv.admin().send(ctx, http.MethodDelete, "/v2/"+victim.repo+"/manifests/"+victim.img.Digest, nil)
					mu.Lock()
					switch {
					case err != nil:
						uncertain++ // deleted or not: the kill decides
					case r.Status == http.StatusAccepted:
						deleted++
					default:
						alive = append(alive, victim)
						mu.Unlock()
						unexpected(fmt.Errorf("delete %s@%s: %s", victim.repo, victim.img.Digest, r))
						return
					}
					mu.Unlock()
					if err != nil {
						return
					}
					time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
				}
			}()
			// Collections in the server's job queue…
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if _, err := runGCAPI(ctx, srv, `{"delete_untagged":true,"workers":2}`); err != nil {
						if ctx.Err() == nil && !noAnswer(err) {
							unexpected(fmt.Errorf("gc through the API: %w", err))
						}
						return
					}
					gcAPI.Add(1)
				}
			}()
			// …and in a process of their own, killed with the server.
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					cmd := exec.CommandContext(ctx, berthBin, "gc", "--workers", "2", "--data-dir", srv.DataDir)
					cmd.Env = srv.env
					out, err := cmd.CombinedOutput()
					if err != nil {
						if ctx.Err() == nil {
							unexpected(fmt.Errorf("berth gc: %v\n%s", err, clip(string(out), 2000)))
						}
						return
					}
					gcCLI.Add(1)
				}
			}()

			// Kill at a random moment once this round has pushes acknowledged.
			deadline := time.Now().Add(2 * time.Minute)
			for acked.Load() < roundAcks+3 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Duration(rand.Int64N(int64(maxRun))))
			srv.crash(t)
			cancel() // SIGKILL to berth gc as well
			wg.Wait()
			if firstUnexpected != nil {
				t.Fatalf("round %d: %v", round, firstUnexpected)
			}
			if acked.Load() == roundAcks {
				t.Fatalf("round %d: no push was acknowledged before the kill; the test proves nothing", round)
			}
			fsckAfterInterruptions(t, srv)
			srv.start(t)
			verifyCtx, stop := context.WithTimeout(context.Background(), 5*time.Minute)
			var errs atomic.Int64
			var vg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for _, p := range alive {
				vg.Add(1)
				sem <- struct{}{}
				go func() {
					defer vg.Done()
					defer func() { <-sem }()
					if err := srv.admin().verifyImage(verifyCtx, p.repo, p.tag, p.img); err != nil && errs.Add(1) <= 5 {
						t.Errorf("round %d: an acknowledged push does not pull back whole: %v", round, err)
					}
				}()
			}
			vg.Wait()
			stop()
			if n := errs.Load(); n > 0 {
				t.Fatalf("round %d: %d of %d acknowledged images do not pull back", round, n, len(alive))
			}
			checkStoredBlobs(t, srv.DataDir)
			t.Logf("round %d: %d images acknowledged and not deleted pull back whole (%d pushed this round; %d deleted, %d deletes cut by the kill so far; %d collections through the API, %d by berth gc)",
				round, len(alive), acked.Load()-roundAcks, deleted, uncertain, gcAPI.Load(), gcCLI.Load())
		}
	})
}

func ackCount[T any](mu *sync.Mutex, s *[]T) int {
	mu.Lock()
	defer mu.Unlock()
	return len(*s)
}

// checkStoredBlobs hashes every committed blob file and compares it with its name.
func checkStoredBlobs(t *testing.T, dataDir string) {
	t.Helper()
	root := filepath.Join(dataDir, "storage", "blobs")
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 3 || parts[0] != "sha256" && parts[0] != "sha512" {
			t.Errorf("unexpected file in blob storage: %s", rel)
			return nil
		}
		if parts[0] != "sha256" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != parts[2] {
			t.Errorf("blob file %s holds content with digest %s", rel, got)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no blob files found in storage")
	}
}

// debris are the fsck categories an interrupted push may leave behind — a blob stored a moment
// before its row could be recorded, upload data whose session row was never written — which no
// manifest references and `berth fsck --repair` removes. Anything else is damage.
var debris = map[string]bool{"unknown_object": true, "orphan_upload": true}

// fsckAfterInterruptions checks the stopped server's storage with `berth fsck --min-age 0`:
// it must find nothing but debris; after --repair, nothing at all.
func fsckAfterInterruptions(t *testing.T, s *server) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("fsck --min-age 0 needs the server stopped")
	}
	report := func(args ...string) (map[string]struct{ Found, Repaired int64 }, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, berthBin, append([]string{"fsck", "--json", "--min-age", "0", "--data-dir", s.DataDir}, args...)...)
		cmd.Env = s.env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var rep struct {
			Categories map[string]struct{ Found, Repaired int64 } `json:"categories"`
		}
		if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
			t.Fatalf("berth fsck %v: %v (%v)\n%s\n%s", args, err, jerr, clip(stdout.String(), 2000), clip(stderr.String(), 2000))
		}
		return rep.Categories, stdout.String()
	}
	found, out := report()
	var damage, left []string
	for cat, c := range found {
		if c.Found == 0 {
			continue
		}
		left = append(left, fmt.Sprintf("%s: %d", cat, c.Found))
		if !debris[cat] {
			damage = append(damage, fmt.Sprintf("%s: %d", cat, c.Found))
		}
	}
	if len(damage) > 0 {
		t.Fatalf("berth fsck found damage, not only the debris of interrupted pushes: %v\n%s", damage, clip(out, 4000))
	}
	if len(left) == 0 {
		t.Log("berth fsck: no problems")
		return
	}
	t.Logf("berth fsck: only the debris of interrupted pushes (%v); repairing", left)
	if found, out = report("--repair"); len(found) > 0 {
		for cat, c := range found {
			if c.Found != c.Repaired {
				t.Fatalf("berth fsck --repair left %s: %d found, %d repaired\n%s", cat, c.Found, c.Repaired, clip(out, 4000))
			}
		}
	}
	found, out = report()
	for cat, c := range found {
		if c.Found > 0 {
			t.Fatalf("berth fsck after --repair still finds %s: %d\n%s", cat, c.Found, clip(out, 4000))
		}
	}
	t.Log("berth fsck after --repair: no problems")
}
