package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// bigImage is an image whose inventory needs files of about size bytes kept: package.json
// files padded to half a megabyte, so that a scan reserves its scratch space step by step.
func bigImage(t *testing.T, name string, size int) []Layer {
	var ents []ent
	for i := 0; i*(512<<10) < size; i++ {
		pad := strings.Repeat("x", 512<<10-64)
		ents = append(ents, text(fmt.Sprintf("app/node_modules/%s%d/package.json", name, i),
			fmt.Sprintf(`{"name":"%s%d","version":"1.0.0","x":"%s"}`, name, i, pad)))
	}
	return []Layer{gzLayer(t, ents...)}
}

// startTogether makes every scan's first layer open only once all n scans have opened it, so
// that they apply their layers at the same time.
func startTogether(n int, layers [][]Layer) {
	var wg sync.WaitGroup
	wg.Add(n)
	for _, ls := range layers {
		open := ls[0].Open
		var once sync.Once
		ls[0].Open = func() (io.ReadCloser, error) {
			once.Do(func() { wg.Done(); wg.Wait() })
			return open()
		}
	}
}

// Scans running at once share one total of scratch space: together they never hold more,
// those that find it taken wait (or start again, when every holder waits), and all end.
func TestScratchBudgetIsShared(t *testing.T) {
	t.Parallel()
	const scans, need, total = 4, 3 << 20, 5 << 20
	b := NewBudget(total, 0)
	images := make([][]Layer, scans)
	for i := range images {
		images[i] = bigImage(t, fmt.Sprintf("s%d-", i), need)
	}
	startTogether(scans, images)
	lim, clean := scratch(t, Limits{Budget: b})
	var wg sync.WaitGroup
	errs := make([]error, scans)
	for i := range scans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv, err := Extract(context.Background(), images[i], lim)
			if err == nil && len(inv.Packages) != need/(512<<10) {
				err = fmt.Errorf("packages: %s", describe(inv))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	clean()
	for i, err := range errs {
		if err != nil {
			t.Errorf("scan %d: %v", i, err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("peak %d bytes of %d, %d waits, %d restarts", b.peakUsed, total, b.waits, b.restarts)
	if b.peakUsed > total {
		t.Errorf("the scans held %d bytes at once, over the %d they share", b.peakUsed, total)
	}
	if b.waits == 0 {
		t.Errorf("no scan waited: %d scans of %d bytes each fit in %d at once", scans, need, total)
	}
	if b.used != 0 || b.holders != 0 || b.blocked != 0 || len(b.queue) != 0 {
		t.Errorf("after the scans: %d bytes used, %d holders, %d blocked, %d queued", b.used, b.holders, b.blocked, len(b.queue))
	}
}

// An image that needs more scratch space than all scans share fails, clearly.
func TestScratchBudgetTooSmallForTheImage(t *testing.T) {
	t.Parallel()
	b := NewBudget(1<<20, 0)
	lim, clean := scratch(t, Limits{Budget: b})
	_, err := Extract(context.Background(), bigImage(t, "p", 2<<20), lim)
	clean()
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "scan scratch budget" ||
		!strings.Contains(err.Error(), "the image needs more than the 1048576 bytes of scratch space all scans share") {
		t.Fatalf("err = %v", err)
	}
	if b.ScratchInUse() != 0 {
		t.Errorf("%d bytes still reserved", b.ScratchInUse())
	}
}

// When every scan holding scratch space waits for more, the one that started last gives way
// and the others go on.
func TestScratchBudgetDeadlockLatestGivesWay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := NewBudget(6<<20, 0)
	first, second := b.lease(), b.lease()
	if err := first.reserve(ctx, 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := second.reserve(ctx, 2<<20); err != nil {
		t.Fatal(err)
	}
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.reserve(ctx, 5<<20) }() // waits: 5 + 2 > 6
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.blocked == 1 })
	if err := second.reserve(ctx, 4<<20); !errors.Is(err, errGiveWay) {
		t.Fatalf("the later scan, waiting with the earlier one: err = %v, want errGiveWay", err)
	}
	select {
	case err := <-firstDone:
		t.Fatalf("the earlier scan was answered (%v) before the later one gave its space back", err)
	case <-time.After(50 * time.Millisecond):
	}
	second.release()
	if err := <-firstDone; err != nil {
		t.Fatalf("the earlier scan, once the later one gave way: %v", err)
	}
	if got := b.ScratchInUse(); got != 5<<20 {
		t.Errorf("in use: %d", got)
	}
	// A waiting reservation ends with its context.
	third := b.lease()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- third.reserve(cctx, 2<<20) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	first.release()
	third.release()
	if got := b.ScratchInUse(); got != 0 {
		t.Errorf("in use after all released: %d", got)
	}
}

// Parses take a slot: no more run at once than the budget has.
func TestParseSlotsBoundConcurrentParses(t *testing.T) {
	t.Parallel()
	const scans = 4
	b := NewBudget(0, 1)
	images := make([][]Layer, scans)
	for i := range images {
		images[i] = []Layer{gzLayer(t, reg("etc/os-release", "debian/os-release"), reg("var/lib/dpkg/status", "debian/status"))}
	}
	startTogether(scans, images)
	lim, clean := scratch(t, Limits{Budget: b})
	var wg sync.WaitGroup
	for i := range scans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if inv, err := Extract(context.Background(), images[i], lim); err != nil || len(inv.Packages) != 4 {
				t.Errorf("scan %d: %v %s", i, err, describe(inv))
			}
		}()
	}
	wg.Wait()
	clean()
	if b.peakParsing != 1 || b.parsing != 0 {
		t.Errorf("parses at once: %d (now %d), want 1", b.peakParsing, b.parsing)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}
