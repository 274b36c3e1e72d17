//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
