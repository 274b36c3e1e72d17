// Command berth is the Berth container registry: one binary for the registry, its REST API
// and its maintenance commands.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/config"
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
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
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
