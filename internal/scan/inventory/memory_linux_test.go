package inventory

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hostileStanza is the paragraph of issue 14: repeated, it makes a dpkg status database of
// any size that compresses about 340 times.
const hostileStanza = "Package: a\nStatus: install ok installed\nVersion: 1\n\n"

// writeHostileLayer writes a gzip-compressed layer holding var/lib/dpkg/status of size bytes
// of hostileStanza repeated, streaming: the test never holds the database in memory either.
func writeHostileLayer(w io.Writer, size int64) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		return err
	}
	chunk := []byte(strings.Repeat(hostileStanza, (64<<10)/len(hostileStanza)))
	for left := size; left > 0; {
		c := chunk[:min(int64(len(chunk)), left)]
		if _, err := tw.Write(c); err != nil {
			return err
		}
		left -= int64(len(c))
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// Environment of the child process TestHostileStatusLayerMemory runs Extract in.
const (
	envChildLayer   = "BERTH_TEST_HOSTILE_LAYER"
	envChildScratch = "BERTH_TEST_HOSTILE_SCRATCH"
	envChildMaxDB   = "BERTH_TEST_HOSTILE_MAX_DATABASE_BYTES"
)

// TestHostileStatusLayerMemory reproduces issue 14, item 1: a gzip layer of about 390 KB
// whose dpkg status database is 128 MiB of one paragraph repeated stayed under the
// compression-ratio and file-size limits and was parsed into memory whole (4 GB). The scan
// must now fail with a limit error that names the file, and the process scanning must stay
// under 150 MB at its peak.
//
// Extract runs in a child process (this test binary run again), so that nothing else the
// test binary does is counted, and nothing Extract allocates is missed: its peak is the
// kernel's account of the child's address space, the high-water mark of its resident set
// (VmHWM in /proc/self/status). The rusage of the child (Maxrss) cannot be used: Go starts
// children with vfork, and Linux carries the parent's high-water mark into the child's
// Maxrss at exec.
func TestHostileStatusLayerMemory(t *testing.T) {
	if layer := os.Getenv(envChildLayer); layer != "" {
		hostileChild(layer)
		return
	}
	if testing.Short() {
		t.Skip("writes a 128 MiB database through a layer")
	}
	t.Parallel()
	dir := t.TempDir()
	layer := filepath.Join(dir, "layer.tar.gz")
	f, err := os.Create(layer)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if err := writeHostileLayer(bw, 128<<20); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(layer)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("layer: %d bytes compressed, 128 MiB database", st.Size())

	const maxRSS = 150 << 20
	tests := []struct {
		name       string
		maxDBBytes int64 // Limits.MaxDatabaseBytes in the child; 0 is the default
		want       string
	}{
		{
			name: "default limits",
			want: "limit=MaxDatabaseBytes: inventory limit exceeded: /var/lib/dpkg/status is larger than 67108864 bytes (134217728) (MaxDatabaseBytes)",
		},
		{
			name:       "no database size limit: the paragraphs are counted",
			maxDBBytes: -1,
			want:       "limit=MaxFilePackages: inventory limit exceeded: /var/lib/dpkg/status holds more than 50000 packages (MaxFilePackages)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scratch := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileStatusLayerMemory$", "-test.count=1")
			cmd.Env = append(os.Environ(), envChildLayer+"="+layer, envChildScratch+"="+scratch,
				envChildMaxDB+"="+strconv.FormatInt(tt.maxDBBytes, 10))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if result := fieldOf(out, "RESULT "); result != tt.want {
				t.Errorf("scan result:\n got %s\nwant %s\n%s", result, tt.want, out)
			}
			peak, err := strconv.ParseInt(fieldOf(out, "PEAK "), 10, 64)
			if err != nil {
				t.Fatalf("no peak in the child's output: %v\n%s", err, out)
			}
			t.Logf("peak resident memory of the scanning process: %.1f MiB", float64(peak)/(1<<20))
			if peak > maxRSS {
				t.Errorf("the scan took %d bytes of memory at its peak, over %d", peak, maxRSS)
			}
			assertEmpty(t, scratch)
		})
	}
}

// fieldOf returns the rest of the last line of out that starts with prefix.
func fieldOf(out []byte, prefix string) string {
	var v string
	for _, line := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(line, prefix); ok {
			v = r
		}
	}
	return v
}

// hostileChild scans the layer and prints the outcome and the process's peak resident memory
// for the parent test.
func hostileChild(layer string) {
	maxDB, _ := strconv.ParseInt(os.Getenv(envChildMaxDB), 10, 64)
	lim := Limits{ScratchDir: os.Getenv(envChildScratch), MaxDatabaseBytes: maxDB}
	l := Layer{Digest: "sha256:hostile", MediaType: mtGzip, Open: func() (io.ReadCloser, error) { return os.Open(layer) }}
	inv, err := Extract(context.Background(), []Layer{l}, lim)
	var le *LimitError
	switch {
	case errors.As(err, &le):
		fmt.Printf("RESULT limit=%s: %v\n", le.Limit, le)
	case err != nil:
		fmt.Printf("RESULT error: %v\n", err)
	default:
		fmt.Printf("RESULT %d packages\n", len(inv.Packages))
	}
	fmt.Printf("PEAK %d\n", peakRSS())
}

// peakRSS is the high-water mark of the process's resident set, in bytes; -1 if unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(fieldOf(b, "VmHWM:"), "kB")), 10, 64)
	if err != nil {
		return -1
	}
	return kib << 10
}
