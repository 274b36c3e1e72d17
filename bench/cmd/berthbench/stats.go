package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errorLog collects every error of a scenario: all are counted, the first few are printed
// (with the request and the registry's answer) so that a failure is visible, not just a number.
type errorLog struct {
	mu    sync.Mutex
	count int64
	shown int
	max   int
}

func (e *errorLog) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	if e.shown < e.max {
		e.shown++
		fmt.Fprintf(os.Stderr, "berthbench: error: "+format+"\n", args...)
	} else if e.shown == e.max {
		e.shown++
		fmt.Fprintf(os.Stderr, "berthbench: further errors are counted, not printed\n")
	}
}

func (e *errorLog) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count
}

// latencies is one worker's record; workers never share one, so recording takes no lock.
type latencies []time.Duration

func merge(parts []latencies) latencies {
	var out latencies
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.Sort(out)
	return out
}

// pct is the nearest-rank percentile of sorted durations, in milliseconds.
func (l latencies) pct(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(l)))) - 1
	i = max(0, min(i, len(l)-1))
	return float64(l[i]) / float64(time.Millisecond)
}

// rssSampler reads VmRSS of a process every interval and keeps the peak. The registry's own
// memory is what the targets are about, so the client's memory does not count.
type rssSampler struct {
	mu   sync.Mutex
	peak int64 // KiB
	stop context.CancelFunc
	done chan struct{}
}

func startRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	if pid <= 0 {
		close(s.done)
		s.stop = func() {}
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kb, err := readRSS(pid); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, kb)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak in MB (10^6 bytes, as the targets are written).
func (s *rssSampler) finish() float64 {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.peak) * 1024 / 1e6
}

func readRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
