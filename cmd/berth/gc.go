package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/gc"
)

const gcUsage = `Usage: berth gc [--dry-run] [--delete-untagged=false] [--workers N] [--json] [flags]

Runs a garbage collection now, in this process, the same run as the API's
POST /api/v2.0/system/gc/schedule with {"schedule":{"type":"Manual"}}: it deletes the
manifests and blobs that nothing references and whose grace period (gc_grace_period) is over,
and reports what it freed. Safe while the server runs; the run appears in the GC history.

  --dry-run               report what would be deleted; change nothing
  --delete-untagged       also delete artifacts without tags (default true)
  --workers N             review N items at once, 1 to 10 (default 1)
  --json                  print the result as JSON

It reads the server's configuration: `

func gcCommand(args []string, stdout, stderr io.Writer) int {
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		fmt.Fprint(stdout, gcUsage)
		config.Usage(stdout)
		return 0
	}
	p := gc.Params{DeleteUntagged: true, Workers: 1}
	var asJSON bool
	args, err := splitFlags(args, map[string]*bool{"dry-run": &p.DryRun, "delete-untagged": &p.DeleteUntagged, "json": &asJSON},
		map[string]func(string) error{"workers": func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > gc.MaxWorkers {
				return fmt.Errorf("--workers %q is not a number from 1 to %d", v, gc.MaxWorkers)
			}
			p.Workers = n
			return nil
		}})
	if err != nil {
		fmt.Fprintf(stderr, "berth gc: %v\n", err)
		return 2
	}
	cfg, rest, code := loadConfig("gc", args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "berth gc: unexpected arguments %q\n", rest)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, store, code := openStores(ctx, "gc", cfg, stderr)
	if code >= 0 {
		return code
	}
	defer db.Close()
	db.SetGCGrace(cfg.GCGracePeriod)
	log := newLogger(cfg, stderr)

	// The run is recorded like one the server runs, so the history and its log show it.
	svc := &gc.Service{Store: db, Collector: &gc.Collector{DB: db, Blobs: store, Log: slog.New(log.Handler())}}
	out, err := svc.RunHere(ctx, p, func(line string) {
		if !asJSON {
			io.WriteString(stdout, line)
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "berth gc: %v\n", err)
		if out.ID == 0 {
			return 2
		}
	}
	if asJSON {
		json.NewEncoder(stdout).Encode(struct {
			ID int64 `json:"id"`
			gc.Result
			Status string `json:"status"`
		}{out.ID, out.Result, out.Status})
	}
	if out.Err != nil {
		fmt.Fprintf(stderr, "berth gc: %v\n", out.Err)
		return 1
	}
	return 0
}
