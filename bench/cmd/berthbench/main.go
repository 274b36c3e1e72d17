// Command berthbench is a load generator for OCI registries: it runs the same scenarios with
// the same client against Berth, CNCF Distribution or any registry on loopback, and prints
// one machine-readable BENCH line per scenario plus a human table.
//
//	berthbench -url http://127.0.0.1:5000 -user admin -password secret -name berth-sqlite
//	berthbench -url http://127.0.0.1:5001 -name distribution -scenarios small-push,small-pull
//	berthbench -report /tmp/berthbench.log     # ratio table from BENCH lines
//	berthbench -url http://127.0.0.1:5000 -user admin -scenarios scan -pid 1234   # Berth's scanner (scan.go)
//
// Plain net/http rather than a registry client library, so that every latency is one HTTP
// exchange and nothing is retried or cached behind the measurement's back.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// scenarioOrder is the canonical order; the pull scenarios reuse what the pushes left behind
// (and push it themselves, untimed, when run alone).
var scenarioOrder = []string{"large-push", "large-pull", "small-push", "small-pull", "manifest-get", "mixed", "tags-catalog"}

// Config holds everything a run needs. Counts and sizes are the full sizes times
// -scale; durations are separate so a smoke run can be both small and short.
type Config struct {
	URL, User, Password, Name string
	Project, Prefix           string
	Seed                      uint64
	Scale                     float64
	Duration                  time.Duration
	MaxTime                   time.Duration
	ReqTimeout                time.Duration
	PID                       int
	HeadBlob                  bool

	LargeSize  int64
	LargePulls int

	SmallImages, SmallLayers, SmallLayerSize, SmallClients, SmallRepos int

	MgetClients, MgetTargets int

	Tags, Repos, TagClients, PageSize, ListRepeats int

	MixedClients, MixedPushPct int

	// The scanning scenarios (scan.go).
	VulnDBRepo                           string
	OSVRecords, ScanPackages, ScanImages int
	ScanAllImages, ScanClients           int
	ScanLayerSize, ScanAllLayerSize      int64

	// The portal scenario (portal.go).
	PortalArtifacts, PortalRepos, PortalClients, PortalRequests int
	// PortalAfterSeed is a shell command run between seeding and measuring.
	PortalAfterSeed string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("berthbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	var scenarios, report, registries, baseline string
	var largeMiB, scanLayerMiB, scanAllLayerKiB float64
	var seed int64
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:5000", "registry base URL (loopback only)")
	fs.StringVar(&cfg.User, "user", "", "username (empty: anonymous)")
	fs.StringVar(&cfg.Password, "password", os.Getenv("BERTHBENCH_PASSWORD"), "password (default $BERTHBENCH_PASSWORD)")
	fs.StringVar(&cfg.Name, "name", "registry", "label for this registry in the output, e.g. berth-sqlite")
	fs.StringVar(&scenarios, "scenarios", "all", "comma-separated scenarios: "+strings.Join(scenarioOrder, ",")+" or all; "+
		"the scanning ones, "+strings.Join(scanScenarios, ",")+" (or scan for both), and portal are Berth-only and not in all")
	fs.StringVar(&cfg.Project, "project", "library", "project (first path segment) of every repository")
	fs.StringVar(&cfg.Prefix, "prefix", "bench", "repository name prefix")
	fs.Int64Var(&seed, "seed", 0, "content seed (0: random per run, so pushes never hit existing blobs)")
	fs.Float64Var(&cfg.Scale, "scale", 1, "multiplies every count and the large blob size (0.001 for a smoke run)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the fixed-time scenarios (manifest-get, mixed)")
	fs.DurationVar(&cfg.MaxTime, "max-time", 10*time.Minute, "hard limit per scenario; requests still running then are cancelled and counted as errors")
	fs.DurationVar(&cfg.ReqTimeout, "req-timeout", time.Minute, "timeout of one request (large transfers use -max-time)")
	fs.IntVar(&cfg.PID, "pid", 0, "registry process id: sample its VmRSS every 200 ms and report the peak per scenario")
	fs.BoolVar(&cfg.HeadBlob, "head-blob", true, "HEAD each blob before uploading it, as docker push does")
	fs.Float64Var(&largeMiB, "large-mib", 1024, "large-push/large-pull blob size in MiB (times -scale)")
	fs.IntVar(&cfg.LargePulls, "large-pulls", 3, "sequential downloads of the large blob in large-pull")
	fs.IntVar(&cfg.SmallImages, "small-images", 1000, "images in small-push/small-pull (times -scale)")
	fs.IntVar(&cfg.SmallLayers, "small-layers", 3, "layers per small image")
	fs.IntVar(&cfg.SmallLayerSize, "small-layer-size", 16<<10, "bytes per small layer")
	fs.IntVar(&cfg.SmallClients, "small-clients", 16, "concurrent clients in small-push/small-pull")
	fs.IntVar(&cfg.SmallRepos, "small-repos", 16, "repositories the small images are spread over")
	fs.IntVar(&cfg.MgetClients, "mget-clients", 64, "concurrent clients in manifest-get")
	fs.IntVar(&cfg.MgetTargets, "mget-targets", 64, "distinct tags manifest-get cycles through")
	fs.IntVar(&cfg.Tags, "tags", 50000, "tags in tags-catalog (times -scale)")
	fs.IntVar(&cfg.Repos, "repos", 20000, "repositories in tags-catalog (times -scale)")
	fs.IntVar(&cfg.TagClients, "tag-clients", 16, "concurrent clients creating tags and repositories")
	fs.IntVar(&cfg.PageSize, "page-size", 1000, "n= of each tags/list and _catalog page (Distribution's catalog allows at most 1000)")
	fs.IntVar(&cfg.ListRepeats, "list-repeats", 3, "full listings in tags-catalog; the median is reported")
	fs.IntVar(&cfg.MixedClients, "mixed-clients", 32, "concurrent clients in mixed")
	fs.IntVar(&cfg.MixedPushPct, "mixed-push-pct", 25, "percentage of pushes in mixed (the rest are pulls)")
	fs.StringVar(&cfg.VulnDBRepo, "scan-vulndb-repo", "library/vulndb", "scan-*: repository the OSV bundle is pushed to; must be the server's BERTH_VULNDB_REPOSITORY")
	fs.IntVar(&cfg.OSVRecords, "scan-osv-records", 20000, "scan-*: OSV records in the bundle (times -scale; at least 2 per package)")
	fs.IntVar(&cfg.ScanPackages, "scan-packages", 100, "scan-*: Debian packages per image; each has exactly one vulnerability")
	fs.IntVar(&cfg.ScanImages, "scan-images", 5, "scan-one: distinct images scanned one after another")
	fs.Float64Var(&scanLayerMiB, "scan-layer-mib", 24, "scan-one: uncompressed MiB of each image's layer (not scaled)")
	fs.IntVar(&cfg.ScanAllImages, "scan-all-images", 1000, "scan-all: distinct images pushed before the scan-all (times -scale)")
	fs.Float64Var(&scanAllLayerKiB, "scan-all-layer-kib", 256, "scan-all: uncompressed KiB of each image's layer (not scaled)")
	fs.IntVar(&cfg.ScanClients, "scan-clients", 16, "scan-all: concurrent clients pushing the images")
	fs.IntVar(&cfg.PortalArtifacts, "portal-artifacts", 100000, "portal: artifacts pushed before the pages are loaded (times -scale)")
	fs.IntVar(&cfg.PortalRepos, "portal-repos", 1000, "portal: repositories the artifacts are spread over (times -scale)")
	fs.IntVar(&cfg.PortalClients, "portal-clients", 2, "portal: concurrent browsers loading pages (the seeding pushes from -small-clients)")
	fs.IntVar(&cfg.PortalRequests, "portal-requests", 200, "portal: loads of each kind of page")
	fs.StringVar(&cfg.PortalAfterSeed, "portal-after-seed", "", "portal: shell command run after seeding, before the pages are loaded (e.g. psql … -c 'VACUUM ANALYZE', the steady state autovacuum reaches)")
	fs.StringVar(&report, "report", "", "read BENCH/IDLE lines from this log and print the comparison table instead of running")
	fs.StringVar(&registries, "registries", "berth-sqlite,distribution,berth-postgres", "with -report: column order")
	fs.StringVar(&baseline, "baseline", "distribution", "with -report: the registry ratios are taken against")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if report != "" {
		if err := writeReport(stdout, report, strings.Split(registries, ","), baseline); err != nil {
			fmt.Fprintln(stderr, "berthbench:", err)
			return 1
		}
		return 0
	}
	if cfg.Scale <= 0 || cfg.Duration <= 0 || cfg.PageSize <= 0 || cfg.ListRepeats <= 0 || cfg.LargePulls <= 0 ||
		cfg.SmallClients <= 0 || cfg.MgetClients <= 0 || cfg.TagClients <= 0 || cfg.MixedClients <= 0 || cfg.SmallRepos <= 0 ||
		cfg.MixedPushPct < 0 || cfg.MixedPushPct > 100 ||
		cfg.OSVRecords <= 0 || cfg.ScanPackages <= 0 || cfg.ScanImages <= 0 || cfg.ScanAllImages <= 0 || cfg.ScanClients <= 0 ||
		scanLayerMiB <= 0 || scanAllLayerKiB <= 0 ||
		cfg.PortalArtifacts <= 0 || cfg.PortalRepos <= 0 || cfg.PortalClients <= 0 || cfg.PortalRequests < cfg.PortalClients {
		fmt.Fprintln(stderr, "berthbench: sizes, counts, clients and durations must be positive")
		return 2
	}
	// Scaled counts never reach zero, so the smallest smoke run still exercises every path.
	scaled := func(n int, floor int) int { return max(floor, int(math.Round(float64(n)*cfg.Scale))) }
	cfg.SmallImages = scaled(cfg.SmallImages, 2)
	cfg.Tags = scaled(cfg.Tags, 3)
	cfg.Repos = scaled(cfg.Repos, 3)
	cfg.LargeSize = max(1<<20, int64(largeMiB*cfg.Scale*(1<<20)))
	cfg.ScanAllImages = scaled(cfg.ScanAllImages, 2)
	cfg.OSVRecords = scaled(cfg.OSVRecords, 2*cfg.ScanPackages)
	cfg.ScanLayerSize = int64(scanLayerMiB * (1 << 20))
	cfg.ScanAllLayerSize = int64(scanAllLayerKiB * (1 << 10))
	cfg.PortalArtifacts = scaled(cfg.PortalArtifacts, 2)
	cfg.PortalRepos = min(scaled(cfg.PortalRepos, 1), cfg.PortalArtifacts)
	cfg.Seed = uint64(seed)
	if seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}

	list := scenarioOrder
	if scenarios != "all" {
		list = nil
		for _, s := range strings.Split(scenarios, ",") {
			if s == "scan" {
				list = append(list, scanScenarios...)
				continue
			}
			if _, ok := scenarioFuncs[s]; !ok {
				fmt.Fprintf(stderr, "berthbench: unknown scenario %q (have %s, all; and %s, scan)\n", s,
					strings.Join(scenarioOrder, ", "), strings.Join(scanScenarios, ", "))
				return 2
			}
			list = append(list, s)
		}
	}
	conns := max(cfg.SmallClients, cfg.MgetClients, cfg.TagClients, cfg.MixedClients, cfg.ScanClients)
	client, err := newClient(cfg.URL, cfg.User, cfg.Password, conns)
	if err != nil {
		fmt.Fprintln(stderr, "berthbench:", err)
		return 2
	}

	var results []*Result
	failed := false
	scan := &scanState{}
	for _, name := range list {
		b := &bench{cfg: &cfg, c: client, errs: &errorLog{max: 10}, scan: scan}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxTime)
		rss := startRSS(cfg.PID, 200*time.Millisecond)
		res := scenarioFuncs[name](ctx, b)
		peak := rss.finish()
		cancel()
		res.Scenario, res.Registry = name, cfg.Name
		res.Errors = b.errs.total()
		if cfg.PID > 0 {
			res.set("peak_rss_mb", peak)
		}
		fmt.Fprintln(stdout, res.line())
		results = append(results, res)
		if res.Errors > 0 {
			failed = true
		}
	}
	printTable(stdout, results)
	if failed {
		fmt.Fprintln(stderr, "berthbench: some scenarios had errors (see above)")
		return 1
	}
	return 0
}

// bench is one scenario's run: shared client, configuration and error log, and what the
// scanning scenarios share.
type bench struct {
	cfg  *Config
	c    *Client
	errs *errorLog
	scan *scanState
}

func (b *bench) newWorker() *worker {
	return &worker{c: b.c, errs: b.errs, timeout: b.cfg.ReqTimeout, headBlob: b.cfg.HeadBlob}
}

// forEach runs fn(w, i) for every i in [0, n) on conc workers and returns the workers for
// their records. It is bounded in count by n and in time by ctx.
func (b *bench) forEach(ctx context.Context, n, conc int, fn func(w *worker, i int)) []*worker {
	var next atomic.Int64
	workers := make([]*worker, min(conc, n))
	var wg sync.WaitGroup
	for k := range workers {
		w := b.newWorker()
		workers[k] = w
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		})
	}
	wg.Wait()
	return workers
}

// untilDeadline runs fn(w, id, k) on conc workers, each looping until the deadline or maxOps
// iterations, and returns the workers and the elapsed time (until the last one stopped).
func (b *bench) untilDeadline(ctx context.Context, conc int, d time.Duration, maxOps int, fn func(w *worker, id, k int)) ([]*worker, time.Duration) {
	workers := make([]*worker, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for id := range workers {
		w := b.newWorker()
		workers[id] = w
		wg.Go(func() {
			for k := 0; k < maxOps && ctx.Err() == nil && time.Now().Before(deadline); k++ {
				fn(w, id, k)
			}
		})
	}
	wg.Wait()
	return workers, time.Since(start)
}

func requestStats(workers []*worker) (latencies, int64) {
	parts := make([]latencies, len(workers))
	var reqs int64
	for i, w := range workers {
		parts[i] = w.lat
		reqs += w.reqs
	}
	return merge(parts), reqs
}

func opStats(workers []*worker) latencies {
	parts := make([]latencies, len(workers))
	for i, w := range workers {
		parts[i] = w.ops
	}
	return merge(parts)
}

// Result is one scenario's outcome. Primary names the headline metric and Better says
// whether more of it is better, so the report can turn any pair into "Berth is N× better".
type Result struct {
	Scenario, Registry string
	Primary, Better    string
	Errors             int64
	fields             []field
}

type field struct{ k, v string }

func (r *Result) set(k string, v any) {
	var s string
	switch x := v.(type) {
	case float64:
		s = strconv.FormatFloat(x, 'f', 2, 64)
	case time.Duration:
		s = strconv.FormatFloat(x.Seconds(), 'f', 3, 64)
	default:
		s = fmt.Sprint(x)
	}
	for i := range r.fields {
		if r.fields[i].k == k {
			r.fields[i].v = s
			return
		}
	}
	r.fields = append(r.fields, field{k, s})
}

func (r *Result) get(k string) string {
	for _, f := range r.fields {
		if f.k == k {
			return f.v
		}
	}
	return ""
}

func (r *Result) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "BENCH scenario=%s registry=%s", r.Scenario, r.Registry)
	for _, f := range r.fields {
		fmt.Fprintf(&b, " %s=%s", f.k, f.v)
	}
	fmt.Fprintf(&b, " errors=%d primary=%s better=%s", r.Errors, r.Primary, r.Better)
	return b.String()
}

func printTable(w io.Writer, results []*Result) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tregistry\theadline\tvalue\tp50 ms\tp99 ms\terrors\tpeak RSS MB\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", r.Scenario, r.Registry, r.Primary, r.get(r.Primary),
			dash(r.get("p50_ms")), dash(r.get("p99_ms")), r.Errors, dash(r.get("peak_rss_mb")))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
