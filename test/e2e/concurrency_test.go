//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentPushes pushes 32 distinct images at once that share 3 layers
// and have 1 layer of their own: all pushes succeed, every image pulls back
// digest-correct, and each blob is stored exactly once in the data dir.
func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	const pushers = 32
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		shared := []layer{randomLayer(t, 512<<10), randomLayer(t, 256<<10), randomLayer(t, 128<<10)}
		images := make([]testImage, pushers)
		for i := range images {
			images[i] = newImage(t, "linux/amd64", append(append([]layer(nil), shared...), randomLayer(t, 32<<10))...)
		}
		repo := func(i int) string { return fmt.Sprintf("library/many-%02d", i) }

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		errs := make([]error, pushers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range pushers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = srv.admin().pushImage(ctx, repo(i), "v1", images[i])
			}()
		}
		began := time.Now()
		close(start)
		wg.Wait()
		t.Logf("%d concurrent pushes took %.1fs", pushers, time.Since(began).Seconds())
		for i, err := range errs {
			if err != nil {
				t.Errorf("push %d: %v", i, err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}

		for i := range pushers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = srv.admin().verifyImage(ctx, repo(i), "v1", images[i])
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("pull back %d: %v", i, err)
			}
		}

		// Every blob is stored once, however many repositories reference it.
		counts, root := blobFiles(t, srv.DataDir)
		files := 0
		for _, n := range counts {
			files += n
		}
		t.Logf("%d blob files for %d distinct digests under %s (pushed %d distinct blobs)", files, len(counts), root, 3+2*pushers)
		check := func(what string, b blob) {
			if n := counts[digestHex(b.Digest)]; n != 1 {
				t.Errorf("%s %s is stored in %d files under %s, want exactly 1", what, b.Digest, n, root)
			}
		}
		for i, l := range shared {
			check(fmt.Sprintf("shared layer %d", i), l.blob)
		}
		for i, img := range images {
			check(fmt.Sprintf("unique layer of image %d", i), img.Layers[len(img.Layers)-1].blob)
			check(fmt.Sprintf("config of image %d", i), img.Config)
		}
		var dups []string
		for h, n := range counts {
			if n > 1 {
				dups = append(dups, fmt.Sprintf("%s×%d", h[:12], n))
			}
		}
		sort.Strings(dups)
		if len(dups) > 0 {
			t.Errorf("digests stored more than once under %s: %s", root, strings.Join(dups, ", "))
		}
		if t.Failed() {
			t.Logf("files under %s:\n%s", root, listFiles(root, 200))
		}
	})
}

var hexName = regexp.MustCompile(`^[0-9a-f]{64}`)

// blobFiles counts, per sha256 hex, the regular files anywhere under the
// data dir that store that digest: files named <hex> or <hex>.<ext>, or files
// directly inside a <hex> folder (as in .../<hex>/data).
func blobFiles(t *testing.T, dataDir string) (map[string]int, string) {
	t.Helper()
	counts := map[string]int{}
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		name := d.Name()
		if m := hexName.FindString(name); m != "" && (len(name) == 64 || name[64] == '.') {
			counts[m]++
			return nil
		}
		if parent := filepath.Base(filepath.Dir(path)); len(parent) == 64 && hexName.MatchString(parent) {
			counts[parent]++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dataDir, err)
	}
	return counts, dataDir
}

// listFiles lists up to max files under root, relative to it.
func listFiles(root string, max int) string {
	var out []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if len(out) >= max {
			return filepath.SkipAll
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, rel)
		return nil
	})
	return strings.Join(out, "\n")
}
