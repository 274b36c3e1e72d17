package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/vulndb"
	"github.com/berthreg/berth/internal/server"
)

const vulndbUsage = `Usage: berth vulndb update [--json] [flags]
       berth vulndb import [--json] PATH... [flags]
       berth vulndb status [--json] [flags]

update downloads osv.dev's per-ecosystem archives (vulndb_update_url/<ecosystem>/all.zip, for
each of vulndb_update_ecosystems) and imports them when they changed. Archives are kept in
<data_dir>/vulndb between updates and asked for conditionally, so an unchanged archive is not
downloaded again. A failed download, or an archive that is not a readable zip, leaves the
current database in use. The server runs the same update every vulndb_update_interval; with
air_gapped set, update refuses to run.

import reads OSV vulnerability records into the built-in scanner's database: osv.dev's
per-ecosystem all.zip archives (https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip),
directories of OSV JSON files (read recursively), or single .json files. The records become a
new generation of the database that replaces the current one only when every source was read;
a failed import leaves the current one in place. Records that do not parse, withdrawn records
and records repeated across sources are skipped and counted. Safe while the server runs: the
server notices the new generation and re-matches stored inventories.

status prints the current generation: when it was imported, from what, and how many records
of each ecosystem it holds; the latest update and the next scheduled one.

  --json    print the report or status as JSON

Exit status: 0 done, 1 the update or import failed (the previous database stays current), 2
usage, configuration or database error.

It reads the server's configuration: `

func vulndbCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		out, code := stdout, 0
		if len(args) == 0 {
			out, code = stderr, 2
		}
		fmt.Fprint(out, vulndbUsage)
		config.Usage(out)
		return code
	}
	sub, args := args[0], args[1:]
	if sub != "import" && sub != "status" && sub != "update" {
		fmt.Fprintf(stderr, "berth vulndb: unknown command %q (update, import or status)\n", sub)
		return 2
	}
	var asJSON bool
	args, err := splitFlags(args, map[string]*bool{"json": &asJSON}, nil)
	if err != nil {
		fmt.Fprintf(stderr, "berth vulndb %s: %v\n", sub, err)
		return 2
	}
	// Paths come before the configuration flags or after them (flag parsing leaves what
	// follows the flags).
	var paths []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		paths, args = append(paths, args[0]), args[1:]
	}
	cfg, rest, code := loadConfig("vulndb "+sub, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	paths = append(paths, rest...)
	if sub != "import" && len(paths) > 0 {
		fmt.Fprintf(stderr, "berth vulndb %s: unexpected arguments %q\n", sub, paths)
		return 2
	}
	if sub == "update" && cfg.AirGapped {
		fmt.Fprint(stderr, "berth vulndb update: air_gapped is set (BERTH_AIR_GAPPED): nothing is downloaded; run berth vulndb import with archives brought in, or push them into vulndb_repository\n")
		return 2
	}
	if sub == "import" && len(paths) == 0 {
		fmt.Fprint(stderr, "berth vulndb import: no PATH given (an all.zip, a directory of OSV JSON files, or a .json file)\n")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, code := openMeta(ctx, "vulndb "+sub, cfg, stderr)
	if code >= 0 {
		return code
	}
	defer db.Close()
	vdb := vulndb.New(db)
	switch sub {
	case "status":
		return vulndbStatus(ctx, db, vdb, asJSON, stdout, stderr)
	case "update":
		return vulndbUpdate(ctx, vdb, cfg, asJSON, stdout, stderr)
	}
	rep, err := vdb.Import(ctx, paths, vulndb.ImportOptions{})
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		writeImportReport(stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth vulndb import: %v\n", err)
		return 1
	}
	return 0
}

// openMeta opens an existing registry's metadata store. Like openStores, it refuses to create
// a database where there is none; the vulnerability database needs no blob storage.
func openMeta(ctx context.Context, cmd string, cfg config.Config, stderr io.Writer) (*meta.DB, int) {
	if path := cfg.SQLitePath(); path != "" {
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(stderr, "berth %s: no database: %v; point --data-dir (BERTH_DATA_DIR) at the server's data directory, or set BERTH_DATABASE_URL\n", cmd, err)
			return nil, 2
		}
	}
	db, err := meta.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), meta.Options{MaxConns: 4})
	if err != nil {
		fmt.Fprintf(stderr, "berth %s: metadata store: %v\n", cmd, err)
		return nil, 2
	}
	return db, -1
}

func writeImportReport(w io.Writer, rep vulndb.Report) {
	if rep.Error == "" {
		fmt.Fprintf(w, "imported vulnerability database generation %d in %s", rep.Generation, rep.Duration().Round(time.Millisecond))
		if rep.Replaced > 0 {
			fmt.Fprintf(w, " (replaces generation %d)", rep.Replaced)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "import failed after %s; the current database is unchanged\n", rep.Duration().Round(time.Millisecond))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if len(rep.Sources) > 0 {
		fmt.Fprintln(tw, "source\tkind\tsize\tsha256\trecords\twithdrawn\tduplicates\tmalformed")
		for _, s := range rep.Sources {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", s.Path, s.Kind, meta.FormatStorage(s.Size), s.SHA256,
				s.Records, s.Withdrawn, s.Duplicates, s.Malformed)
		}
		tw.Flush()
	}
	if len(rep.Ecosystems) > 0 {
		fmt.Fprintln(w, "records per ecosystem:")
		writeEcosystems(w, rep.Ecosystems)
	}
	fmt.Fprintf(w, "%d vulnerabilities, %d affected packages; skipped %d withdrawn, %d duplicate, %d malformed\n",
		rep.Records, rep.Affected, rep.Withdrawn, rep.Duplicates, rep.Malformed)
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "  malformed: %s: %s: %s\n", e.Source, e.File, e.Error)
	}
	if rep.Malformed > len(rep.Errors) {
		fmt.Fprintf(w, "  … and %d more malformed records\n", rep.Malformed-len(rep.Errors))
	}
	if rep.PurgeError != "" {
		fmt.Fprintf(w, "warning: the replaced generation's rows were not all deleted (the next import retries): %s\n", rep.PurgeError)
	}
}

func writeEcosystems(w io.Writer, ecosystems map[string]int) {
	names := make([]string, 0, len(ecosystems))
	nameW, countW := 0, 0
	for e, n := range ecosystems {
		names = append(names, e)
		nameW, countW = max(nameW, len(e)), max(countW, len(strconv.Itoa(n)))
	}
	sort.Strings(names)
	for _, e := range names {
		fmt.Fprintf(w, "  %-*s  %*d\n", nameW, e, countW, ecosystems[e])
	}
}

func vulndbUpdate(ctx context.Context, vdb *vulndb.DB, cfg config.Config, asJSON bool, stdout, stderr io.Writer) int {
	opt := server.VulnDBUpdateSource(cfg)
	opt.Trigger = "MANUAL"
	rep, err := vdb.Update(ctx, opt)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "archive\tresult\tsize\tsha256")
		for _, a := range rep.Archives {
			result := a.Result
			if a.Error != "" {
				result += ": " + a.Error
			}
			size := ""
			if a.Size > 0 {
				size = meta.FormatStorage(a.Size)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.URL, result, size, a.SHA256)
		}
		tw.Flush()
		if rep.Import != nil {
			writeImportReport(stdout, *rep.Import)
		}
		fmt.Fprintln(stdout, rep.Summary())
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth vulndb update: %v\n", err)
		return 1
	}
	return 0
}

// updateSchedule is the stored schedule of the server's updates, as status shows it.
type updateSchedule interface {
	Schedule(ctx context.Context, name string) (meta.StoredSchedule, error)
}

func vulndbStatus(ctx context.Context, db updateSchedule, vdb *vulndb.DB, asJSON bool, stdout, stderr io.Writer) int {
	st, err := vdb.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "berth vulndb status: %v\n", err)
		return 2
	}
	sch, err := db.Schedule(ctx, scan.VulnDBUpdateScheduleName)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		fmt.Fprintf(stderr, "berth vulndb status: %v\n", err)
		return 2
	}
	if asJSON {
		out := struct {
			vulndb.Status
			NextUpdate time.Time `json:"next_update,omitzero"`
		}{Status: st, NextUpdate: sch.NextAt}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	if st.Generation == 0 {
		fmt.Fprintln(stdout, vulndb.ErrNoDatabase)
	} else {
		fmt.Fprintf(stdout, "generation %d, imported %s: %d vulnerabilities, %d affected packages\n",
			st.Generation, st.ImportedAt.Format(time.RFC3339), st.Vulnerabilities, st.AffectedPackages)
		for _, s := range st.Sources {
			from := s.Path
			if s.URL != "" {
				from = s.URL // downloaded by berth vulndb update or the server's schedule
			}
			fmt.Fprintf(stdout, "  from %s (%s, %s, sha256 %s)\n", from, s.Kind, meta.FormatStorage(s.Size), s.SHA256)
		}
		fmt.Fprintln(stdout, "records per ecosystem:")
		writeEcosystems(stdout, st.Ecosystems)
	}
	if li := st.LastImport; li != nil {
		fmt.Fprintf(stdout, "last import: generation %d %s, started %s", li.Generation, li.Status, li.StartedAt.Format(time.RFC3339))
		if li.Error != "" {
			fmt.Fprintf(stdout, ": %s", li.Error)
		}
		fmt.Fprintln(stdout)
	}
	if lu := st.LastUpdate; lu != nil {
		fmt.Fprintf(stdout, "last update (%s): %s, started %s: %s\n", strings.ToLower(lu.Trigger), lu.Status, lu.StartedAt.Format(time.RFC3339), lu.Message)
	}
	if sch.NextAt.IsZero() {
		fmt.Fprintln(stdout, "no scheduled update (vulndb_update_interval 0s, or air_gapped)")
	} else {
		fmt.Fprintf(stdout, "next scheduled update: %s (%s)\n", sch.NextAt.Format(time.RFC3339), strings.TrimPrefix(sch.Cron, "@"))
	}
	return 0
}
