// Command berth is the Berth container registry: one binary for the registry, its REST API
// and its maintenance commands.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/fsck"
	"github.com/berthreg/berth/internal/logctx"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/server"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise the module
// version or VCS revision recorded by the Go toolchain is shown.
var version = ""

const usage = `berth — a container registry in one binary

Usage:
  berth serve [flags]            run the registry (default: SQLite + files under ./data)
  berth admin passwd USER        set a local user's password (read from standard input)
  berth gc [--dry-run] [--delete-untagged=false] [--workers N] [--json] [flags]
                                 collect garbage now: what nothing references any more
  berth fsck [--repair] [--quick] [--min-age 1h] [--json] [flags]
                                 check that the database and the blob storage agree
  berth vulndb update|import|status
                                 download OSV vulnerability data, or import it (all.zip,
                                 directories); show it
  berth version                  print the version
  berth help                     show this help

Run "berth serve --help" for the flags and BERTH_* environment variables.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "admin":
		if len(args) >= 2 && args[1] == "passwd" {
			return passwd(args[2:], stdin, stdout, stderr)
		}
		fmt.Fprint(stderr, "usage: berth admin passwd USER [flags]\n")
		return 2
	case "fsck":
		return fsckCommand(args[1:], stdout, stderr)
	case "gc":
		return gcCommand(args[1:], stdout, stderr)
	case "vulndb":
		return vulndbCommand(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "berth", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "berth: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}

// loadConfig parses flags and environment. When it cannot go on (help was asked for, or the
// configuration is invalid) it prints why and returns the exit code, else -1.
func loadConfig(cmd string, args []string, stdout, stderr io.Writer) (config.Config, []string, int) {
	cfg, rest, err := config.Load(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: berth %s [flags]\n\n", cmd)
		config.Usage(stdout)
		return cfg, nil, 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth: invalid configuration:\n%v\n", err)
		return cfg, nil, 2
	}
	return cfg, rest, -1
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Lines logged with a request's context carry its id (see internal/logctx).
	return slog.New(logctx.NewHandler(h))
}

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, rest, code := loadConfig("serve", args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "berth serve: unexpected arguments %q\n", rest)
		return 2
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	log.Info("starting berth", "version", versionString(), "config", cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	defer srv.Close()
	if err := srv.Run(ctx, nil); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// passwd sets a local user's password from standard input: one line, or two identical lines
// when typed at a terminal.
func passwd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var user string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		user, args = args[0], args[1:]
	}
	cfg, rest, code := loadConfig("admin passwd USER", args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if user == "" && len(rest) == 1 {
		user = rest[0]
	} else if len(rest) > 0 || user == "" {
		fmt.Fprint(stderr, "usage: berth admin passwd USER [flags]  (the new password is read from standard input)\n")
		return 2
	}
	interactive := isTerminal(stdin)
	if interactive {
		fmt.Fprintf(stdout, "New password for %s: ", user)
	}
	sc := bufio.NewScanner(stdin)
	if !sc.Scan() {
		fmt.Fprint(stderr, "berth: no password on standard input\n")
		return 1
	}
	password := strings.TrimRight(sc.Text(), "\r")
	if interactive {
		fmt.Fprint(stdout, "\nRepeat: ")
		if !sc.Scan() || strings.TrimRight(sc.Text(), "\r") != password {
			fmt.Fprint(stderr, "\nberth: the passwords differ\n")
			return 1
		}
		fmt.Fprintln(stdout)
	}
	if err := auth.CheckPasswordRules(password); err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	ctx := context.Background()
	db, err := meta.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), meta.Options{MaxConns: 2})
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	defer db.Close()
	if err := db.SetPassword(ctx, user, hash); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			fmt.Fprintf(stderr, "berth: no local user %q\n", user)
		} else {
			fmt.Fprintf(stderr, "berth: %v\n", err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "password of %s changed\n", user)
	return 0
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const fsckUsage = `Usage: berth fsck [--repair] [--quick] [--min-age 1h] [--json] [flags]

Checks that the metadata database and the blob storage agree: every blob has its stored object,
of the recorded size and matching its digest; every stored object and upload has its row. Safe
while the server runs. Exit status: 0 no problems remain, 1 problems remain, 2 usage or I/O error.

  --repair        remove what is safely removable: stored objects and upload data without rows,
                  upload sessions whose data is gone, and blobs no manifest references whose
                  object is missing or corrupt
  --quick         compare sizes only, without reading and hashing the content
  --min-age 1h    leave objects and uploads without a row alone until they are this old (an
                  upload commit stores the object just before its row); 0 checks everything,
                  which is safe only while no registry process runs
  --json          print the report as JSON

It reads the server's configuration: `

// fsckOptions are fsck's own flags; the remaining arguments are the configuration flags that
// serve takes, so fsck opens the same database and storage.
type fsckOptions struct {
	fsck.Options
	json bool
}

func parseFsckFlags(args []string) (fsckOptions, []string, error) {
	o := fsckOptions{Options: fsck.Options{MinAge: fsck.DefaultMinAge}}
	rest, err := splitFlags(args, map[string]*bool{"repair": &o.Repair, "quick": &o.Quick, "json": &o.json},
		map[string]func(string) error{"min-age": func(value string) error {
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 {
				return fmt.Errorf("--min-age %q is not a duration of 0 or more (e.g. 1h, 30m)", value)
			}
			o.MinAge = d
			if d == 0 {
				o.MinAge = -1 // fsck.Options: no minimum
			}
			return nil
		}})
	return o, rest, err
}

// splitFlags takes a maintenance command's own flags out of args (booleans, optionally
// --name=true|false, and flags with a value, as --name value or --name=value) and returns the
// rest, which are the configuration flags serve takes, so the command opens the same database
// and storage as the server.
func splitFlags(args []string, bools map[string]*bool, values map[string]func(string) error) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), nil
		}
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if set, ok := values[name]; ok {
			if !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("--%s needs a value", name)
				}
				i++
				value = args[i]
			}
			if err := set(value); err != nil {
				return nil, err
			}
			continue
		}
		b, ok := bools[name]
		if !ok {
			rest = append(rest, a)
			continue
		}
		*b = true
		if hasValue {
			v, err := strconv.ParseBool(value)
			if err != nil {
				return nil, fmt.Errorf("--%s=%q is not true or false", name, value)
			}
			*b = v
		}
	}
	return rest, nil
}

func fsckCommand(args []string, stdout, stderr io.Writer) int {
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		fmt.Fprint(stdout, fsckUsage)
		config.Usage(stdout)
		return 0
	}
	opts, args, err := parseFsckFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "berth fsck: %v\n", err)
		return 2
	}
	cfg, rest, code := loadConfig("fsck", args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "berth fsck: unexpected arguments %q\n", rest)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, store, code := openStores(ctx, "fsck", cfg, stderr)
	if code >= 0 {
		return code
	}
	defer db.Close()
	rep, err := fsck.Run(ctx, db, store, opts.Options)
	if err != nil {
		fmt.Fprintf(stderr, "berth fsck: stopped after %d blobs and %d stored objects: %v\n", rep.BlobRows, rep.Objects, err)
		return 2
	}
	if opts.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth fsck: %v\n", err)
		return 2
	}
	if rep.Problems() > 0 {
		return 1
	}
	return 0
}

// openStores opens an existing registry's metadata and blob stores for a maintenance command.
// Opening would create an empty database and storage where there are none, which would then
// look clean: a mistyped data directory must be an error instead.
func openStores(ctx context.Context, cmd string, cfg config.Config, stderr io.Writer) (*meta.DB, blob.Store, int) {
	if path := cfg.SQLitePath(); path != "" {
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(stderr, "berth %s: no database: %v; point --data-dir (BERTH_DATA_DIR) at the server's data directory, or set BERTH_DATABASE_URL\n", cmd, err)
			return nil, nil, 2
		}
	}
	bc := cfg.BlobStore()
	bc.Existing = true
	store, err := blob.Open(ctx, bc)
	if errors.Is(err, blob.ErrNotFound) {
		fmt.Fprintf(stderr, "berth %s: no blob storage: %v; point --data-dir (BERTH_DATA_DIR) at the server's data directory\n", cmd, err)
		return nil, nil, 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth %s: blob store: %v\n", cmd, err)
		return nil, nil, 2
	}
	db, err := meta.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), meta.Options{MaxConns: 4})
	if err != nil {
		fmt.Fprintf(stderr, "berth %s: metadata store: %v\n", cmd, err)
		return nil, nil, 2
	}
	return db, store, -1
}
