// Package config loads Berth's settings. Each layer overrides the one before:
// defaults, the YAML file named by --config or BERTH_CONFIG, BERTH_*
// environment variables, then command-line flags. Validate reports every bad
// key at once, so an operator can fix a config in one pass.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/berthreg/berth/internal/blob"
)

// Config is the complete server configuration.
type Config struct {
	Addr            string        `yaml:"addr"`
	DataDir         string        `yaml:"data_dir"`
	StorageDriver   string        `yaml:"storage_driver"`
	ExternalURL     string        `yaml:"external_url"`
	DatabaseURL     string        `yaml:"database_url"`
	AdminPassword   string        `yaml:"admin_password"`
	TLSCert         string        `yaml:"tls_cert"`
	TLSKey          string        `yaml:"tls_key"`
	LogLevel        string        `yaml:"log_level"`
	LogFormat       string        `yaml:"log_format"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	MaxManifestSize int64         `yaml:"max_manifest_size"`
	UploadTTL       time.Duration `yaml:"upload_ttl"`
	Pprof           bool          `yaml:"pprof"`
	DBMaxConns      int           `yaml:"db_max_conns"`
	GCGracePeriod   time.Duration `yaml:"gc_grace_period"`
	JobWorkers      int           `yaml:"job_workers"`
	// What the built-in scanner's scans share (internal/scan/inventory.Budget).
	ScanScratchSize int64  `yaml:"scan_scratch_size"`
	ScanParsers     int    `yaml:"scan_parsers"`
	VulnDBRepo      string `yaml:"vulndb_repository"`
	// The scheduled download of the vulnerability database (see VulnDBEcosystems).
	VulnDBUpdateURL        string        `yaml:"vulndb_update_url"`
	VulnDBUpdateEcosystems string        `yaml:"vulndb_update_ecosystems"`
	VulnDBUpdateInterval   time.Duration `yaml:"vulndb_update_interval"`
	AirGapped              bool          `yaml:"air_gapped"`
	// TrustedProxies lists the peers (CIDRs or IPs, comma-separated) whose X-Forwarded-* and
	// Forwarded headers say which URL a client used; see TrustedProxyPrefixes.
	TrustedProxies string `yaml:"trusted_proxies"`
	// Login throttling (internal/auth/throttle.go): failures before a lockout, per account
	// and client address, per address and per account, and the lockout's first and longest
	// duration.
	LoginMaxFailures        int           `yaml:"login_max_failures"`
	LoginAddressMaxFailures int           `yaml:"login_address_max_failures"`
	LoginAccountMaxFailures int           `yaml:"login_account_max_failures"`
	LoginLockoutMin         time.Duration `yaml:"login_lockout_min"`
	LoginLockoutMax         time.Duration `yaml:"login_lockout_max"`
	// SessionMaxAge ends a portal session this long after its login, however busy it is
	// (the system setting session_timeout ends an idle one).
	SessionMaxAge time.Duration `yaml:"session_max_age"`

	// How long a client may take over a request's headers, leave a kept-alive connection idle,
	// and pause in the middle of a request body (each byte that arrives restarts the wait).
	HTTPReadHeaderTimeout time.Duration `yaml:"http_read_header_timeout"`
	HTTPIdleTimeout       time.Duration `yaml:"http_idle_timeout"`
	HTTPBodyIdleTimeout   time.Duration `yaml:"http_body_idle_timeout"`

	// What Berth's own requests (scanner adapters, vulnerability database downloads) may reach
	// and how long they wait; see internal/outbound.
	OutboundAllowedCIDRs          string        `yaml:"outbound_allowed_cidrs"`
	OutboundDeniedCIDRs           string        `yaml:"outbound_denied_cidrs"`
	OutboundDialTimeout           time.Duration `yaml:"outbound_dial_timeout"`
	OutboundTLSHandshakeTimeout   time.Duration `yaml:"outbound_tls_handshake_timeout"`
	OutboundResponseHeaderTimeout time.Duration `yaml:"outbound_response_header_timeout"`
}

const (
	envPrefix = "BERTH_"
	envConfig = envPrefix + "CONFIG"
	redacted  = "REDACTED"
)

// setting describes one key once, so the YAML name, environment variable,
// flag, usage text and log output cannot drift apart.
type setting struct {
	yaml   string
	flag   bool // also settable as --<yaml name with dashes>
	list   bool // YAML also takes a sequence, joined with commas
	usage  string
	field  func(*Config) any   // pointer to the Config field
	redact func(string) string // non-nil for values that may hold secrets
}

func (s setting) env() string      { return envPrefix + strings.ToUpper(s.yaml) }
func (s setting) flagName() string { return strings.ReplaceAll(s.yaml, "_", "-") }

var settings = []setting{
	{yaml: "addr", flag: true, usage: "listen `address` as host:port",
		field: func(c *Config) any { return &c.Addr }},
	{yaml: "data_dir", flag: true, usage: "`directory` for blobs and the SQLite database",
		field: func(c *Config) any { return &c.DataDir }},
	{yaml: "storage_driver", usage: "where blobs are stored: filesystem (in data_dir/storage)",
		field: func(c *Config) any { return &c.StorageDriver }},
	{yaml: "external_url", flag: true, usage: "`URL` clients reach the registry at; empty: each request's scheme and Host",
		field: func(c *Config) any { return &c.ExternalURL }},
	{yaml: "database_url", flag: true, usage: "PostgreSQL `URL` (postgres://...); empty uses SQLite in data_dir",
		field: func(c *Config) any { return &c.DatabaseURL }, redact: redactDatabaseURL},
	// No flag: command lines are visible to every local user.
	{yaml: "admin_password", usage: "initial admin password, used only on first start",
		field: func(c *Config) any { return &c.AdminPassword }, redact: redactSecret},
	{yaml: "tls_cert", flag: true, usage: "TLS certificate `file` (PEM); needs tls_key",
		field: func(c *Config) any { return &c.TLSCert }},
	{yaml: "tls_key", flag: true, usage: "TLS private key `file` (PEM); needs tls_cert",
		field: func(c *Config) any { return &c.TLSKey }},
	{yaml: "log_level", flag: true, usage: "log `level`: debug, info, warn or error",
		field: func(c *Config) any { return &c.LogLevel }},
	{yaml: "log_format", usage: "log format: text or json",
		field: func(c *Config) any { return &c.LogFormat }},
	{yaml: "shutdown_timeout", usage: "how long shutdown waits for in-flight requests",
		field: func(c *Config) any { return &c.ShutdownTimeout }},
	{yaml: "max_manifest_size", usage: "largest accepted manifest in bytes, 1024 to 67108864",
		field: func(c *Config) any { return &c.MaxManifestSize }},
	{yaml: "upload_ttl", usage: "abandoned upload sessions expire after this, at least 1m",
		field: func(c *Config) any { return &c.UploadTTL }},
	{yaml: "pprof", flag: true, usage: "expose /debug/pprof to admins",
		field: func(c *Config) any { return &c.Pprof }},
	{yaml: "db_max_conns", usage: "maximum database connections; 0 chooses automatically",
		field: func(c *Config) any { return &c.DBMaxConns }},
	{yaml: "gc_grace_period", usage: "how long unreferenced content waits before garbage collection may delete it (Harbor's 2h; 0s: at once)",
		field: func(c *Config) any { return &c.GCGracePeriod }},
	{yaml: "job_workers", usage: "background jobs (GC, retention, ...) this process runs at once",
		field: func(c *Config) any { return &c.JobWorkers }},
	{yaml: "scan_scratch_size", usage: "bytes of data_dir/tmp all scans of this process may fill at once, at least 67108864; a scan finding it taken waits",
		field: func(c *Config) any { return &c.ScanScratchSize }},
	{yaml: "scan_parsers", usage: "images whose package databases this process parses at once, 1 to 64 (each may take a few hundred megabytes)",
		field: func(c *Config) any { return &c.ScanParsers }},
	{yaml: "vulndb_repository", usage: "repository (project/name) whose pushes are OSV vulnerability database bundles to import; empty: none",
		field: func(c *Config) any { return &c.VulnDBRepo }},
	{yaml: "vulndb_update_url", usage: "base `URL` of OSV's vulnerability archives, downloaded as <url>/<ecosystem>/all.zip",
		field: func(c *Config) any { return &c.VulnDBUpdateURL }, redact: redactURLPassword},
	{yaml: "vulndb_update_ecosystems", usage: "comma-separated OSV ecosystems the vulnerability database is downloaded for",
		field: func(c *Config) any { return &c.VulnDBUpdateEcosystems }},
	{yaml: "vulndb_update_interval", usage: "how often the vulnerability database is downloaded, at least 10m; 0s: never on a schedule",
		field: func(c *Config) any { return &c.VulnDBUpdateInterval }},
	{yaml: "air_gapped", usage: "reach nothing outside the local network: no vulnerability database downloads (import files or push bundles instead)",
		field: func(c *Config) any { return &c.AirGapped }},
	{yaml: "trusted_proxies", flag: true, list: true, usage: "comma-separated `CIDRs` or IPs of proxies whose X-Forwarded-Proto/-Host and Forwarded headers are believed; empty: none",
		field: func(c *Config) any { return &c.TrustedProxies }},
	{yaml: "login_max_failures", usage: "failed logins of one account from one client address before that address is locked out of it; 0 turns login throttling off",
		field: func(c *Config) any { return &c.LoginMaxFailures }},
	{yaml: "login_address_max_failures", usage: "failed logins from one client address, over all accounts, before it is locked out of the accounts it has not signed in to",
		field: func(c *Config) any { return &c.LoginAddressMaxFailures }},
	{yaml: "login_account_max_failures", usage: "failed logins of one account, over all addresses, before it is locked for addresses that have failed recently",
		field: func(c *Config) any { return &c.LoginAccountMaxFailures }},
	{yaml: "login_lockout_min", usage: "the first lockout after too many failed logins; each further failure doubles it",
		field: func(c *Config) any { return &c.LoginLockoutMin }},
	{yaml: "login_lockout_max", usage: "the longest lockout after failed logins; failure counts halve every four times this",
		field: func(c *Config) any { return &c.LoginLockoutMax }},
	{yaml: "session_max_age", usage: "a portal session ends this long after its login however it is used, 5m to 720h (the system setting session_timeout ends an idle one)",
		field: func(c *Config) any { return &c.SessionMaxAge }},
	{yaml: "http_read_header_timeout", usage: "how long a client may take to send a request's headers",
		field: func(c *Config) any { return &c.HTTPReadHeaderTimeout }},
	{yaml: "http_idle_timeout", usage: "how long a kept-alive connection may wait for its next request",
		field: func(c *Config) any { return &c.HTTPIdleTimeout }},
	{yaml: "http_body_idle_timeout", usage: "longest pause in the middle of a request body; every byte that arrives restarts it",
		field: func(c *Config) any { return &c.HTTPBodyIdleTimeout }},
	{yaml: "outbound_allowed_cidrs", list: true, usage: "comma-separated `CIDRs` or IPs Berth's own requests may reach even if refused by default or by outbound_denied_cidrs",
		field: func(c *Config) any { return &c.OutboundAllowedCIDRs }},
	{yaml: "outbound_denied_cidrs", list: true, usage: "comma-separated `CIDRs` or IPs Berth's own requests may not reach, besides link-local, metadata, multicast and unspecified addresses",
		field: func(c *Config) any { return &c.OutboundDeniedCIDRs }},
	{yaml: "outbound_dial_timeout", usage: "how long Berth's own requests wait for a connection",
		field: func(c *Config) any { return &c.OutboundDialTimeout }},
	{yaml: "outbound_tls_handshake_timeout", usage: "how long Berth's own requests wait for a TLS handshake",
		field: func(c *Config) any { return &c.OutboundTLSHandshakeTimeout }},
	{yaml: "outbound_response_header_timeout", usage: "how long Berth's own requests wait for the headers of an answer",
		field: func(c *Config) any { return &c.OutboundResponseHeaderTimeout }},
}

// DefaultGCGracePeriod is how long unreferenced content waits before a collection may delete
// it: Harbor's time window (GC_TIME_WINDOW_HOURS, 2 hours), long enough for a push to upload
// its layers and then its manifest, short enough that a collection frees what was deleted a
// little earlier. Upload sessions still in progress are not content yet and never wait on it
// (they expire after upload_ttl of idleness).
const DefaultGCGracePeriod = 2 * time.Hour

// DefaultVulnDBUpdateURL is where osv.dev publishes its per-ecosystem archives.
const DefaultVulnDBUpdateURL = "https://osv-vulnerabilities.storage.googleapis.com"

// DefaultVulnDBEcosystems are the OSV ecosystems the built-in scanner's inventory extractors
// (internal/scan/inventory) file packages under: dpkg, apk and rpm databases of the
// distributions osv.dev publishes advisories for, Go binaries, Cargo, npm, Python and RubyGems.
var DefaultVulnDBEcosystems = []string{
	"Debian", "Ubuntu",
	"Alpine", "Wolfi", "Chainguard", "MinimOS",
	"Red Hat", "AlmaLinux", "Rocky Linux", "SUSE", "openSUSE", "Mageia", "openEuler",
	"Go", "crates.io", "npm", "PyPI", "RubyGems",
}

// minScanScratchSize leaves a scan room for the package databases of a large image.
const minScanScratchSize = 64 << 20

// minVulnDBUpdateInterval keeps a scheduled update from hammering the archive server: osv.dev
// rebuilds its archives a few times a day, and each download is hundreds of megabytes.
const minVulnDBUpdateInterval = 10 * time.Minute

// Default returns the configuration used when nothing is set.
func Default() Config {
	c := Config{
		Addr:            ":5000",
		DataDir:         "./data",
		StorageDriver:   blob.DriverFilesystem,
		LogLevel:        "info",
		LogFormat:       "json",
		ShutdownTimeout: 30 * time.Second,
		MaxManifestSize: 4 << 20,
		UploadTTL:       24 * time.Hour,
		GCGracePeriod:   DefaultGCGracePeriod,
		JobWorkers:      4,
		ScanScratchSize: 8 << 30,
		ScanParsers:     1,

		VulnDBUpdateURL:        DefaultVulnDBUpdateURL,
		VulnDBUpdateEcosystems: strings.Join(DefaultVulnDBEcosystems, ","),
		VulnDBUpdateInterval:   24 * time.Hour,

		LoginMaxFailures:        5,
		LoginAddressMaxFailures: 20,
		LoginAccountMaxFailures: 100,
		LoginLockoutMin:         30 * time.Second,
		LoginLockoutMax:         15 * time.Minute,
		SessionMaxAge:           12 * time.Hour,
		HTTPReadHeaderTimeout:   30 * time.Second,
		HTTPIdleTimeout:         2 * time.Minute,
		HTTPBodyIdleTimeout:     time.Minute,

		OutboundDialTimeout:           10 * time.Second,
		OutboundTLSHandshakeTimeout:   10 * time.Second,
		OutboundResponseHeaderTimeout: time.Minute,
	}
	return c
}

// Load builds the configuration from defaults, the YAML file, the
// environment and args (the arguments after the subcommand), then validates
// it. It returns the positional arguments left after the flags. getenv is
// os.Getenv in production; an empty variable counts as unset.
func Load(args []string, getenv func(string) string) (Config, []string, error) {
	// Flags are parsed first because --config picks the file, but applied
	// last so they win over the file and the environment.
	flagged := Default()
	var path string
	fs := newFlagSet(&flagged, &path)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	if path == "" {
		path = getenv(envConfig)
	}

	c := Default()
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return Config{}, nil, err
		}
	}
	if err := c.loadEnv(getenv); err != nil {
		return Config{}, nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.flag && s.flagName() == f.Name {
				reflect.ValueOf(s.field(&c)).Elem().Set(reflect.ValueOf(s.field(&flagged)).Elem())
			}
		}
	})

	// Handlers append paths such as /v2/ to it.
	c.ExternalURL = strings.TrimRight(c.ExternalURL, "/")
	if err := c.Validate(); err != nil {
		return Config{}, nil, err
	}
	return c, fs.Args(), nil
}

// Usage prints the flags and environment variables with their defaults.
func Usage(w io.Writer) {
	c := Default()
	var path string
	fs := newFlagSet(&c, &path)
	fs.SetOutput(w)
	fmt.Fprintln(w, "Flags (override environment variables):")
	fs.PrintDefaults()

	fmt.Fprintln(w, "\nEnvironment variables (override the config file):")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\t\tYAML config file, like --config\n", envConfig)
	// A long default (the list of ecosystems) would widen every row: it goes below the table.
	var long []string
	for _, s := range settings {
		def := fmt.Sprint(get(s.field(&c)))
		if len(def) > maxUsageDefault {
			long = append(long, fmt.Sprintf("  %s defaults to %s\n", s.env(), def))
			def = "(below)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.env(), def, strings.ReplaceAll(s.usage, "`", ""))
	}
	tw.Flush()
	if len(long) > 0 {
		fmt.Fprintln(w)
		fmt.Fprint(w, strings.Join(long, ""))
	}
}

// maxUsageDefault is the longest default Usage prints in its table.
const maxUsageDefault = 60

func newFlagSet(c *Config, path *string) *flag.FlagSet {
	fs := flag.NewFlagSet("berth", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller decides how to report errors and -h
	fs.StringVar(path, "config", "", "YAML config `file`")
	for _, s := range settings {
		if s.flag {
			fs.Var(flagValue{s.field(c)}, s.flagName(), s.usage)
		}
	}
	return fs
}

// flagValue lets flags parse with the same rules as YAML and env values.
type flagValue struct{ p any }

func (v flagValue) String() string {
	if v.p == nil { // flag.PrintDefaults calls String on a zero flagValue
		return ""
	}
	return fmt.Sprint(get(v.p))
}

func (v flagValue) Set(s string) error { return set(v.p, s) }

// IsBoolFlag lets --pprof stand alone without =true.
func (v flagValue) IsBoolFlag() bool { _, ok := v.p.(*bool); return ok }

// loadFile reads the YAML file by walking its nodes rather than decoding into
// Config: yaml.v3's KnownFields and type errors report only a line, while
// operators need the key, and walking lets YAML values share the env parser.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s (--config): %w", envConfig, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 { // empty, or only comments
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: the top level must be key: value pairs (e.g. addr: \":5000\")", path, m.Line)
	}
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		at := fmt.Sprintf("%s:%d: %s:", path, k.Line, k.Value)
		s, known := lookup(k.Value)
		switch {
		case !known:
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q (known keys: %s)", path, k.Line, k.Value, knownKeys()))
		case seen[k.Value]:
			errs = append(errs, fmt.Errorf("%s appears more than once; keep one", at))
		case s.list && v.Kind == yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("%s:%d: %s: list items must be single values", path, it.Line, k.Value))
					continue
				}
				items = append(items, it.Value)
			}
			if err := set(s.field(c), strings.Join(items, ",")); err != nil {
				errs = append(errs, fmt.Errorf("%s %w", at, err))
			}
		case v.Kind != yaml.ScalarNode:
			if s.list {
				errs = append(errs, fmt.Errorf("%s must be a value or a list of values, not a mapping", at))
			} else {
				errs = append(errs, fmt.Errorf("%s must be a single value, not a list or mapping", at))
			}
		case v.Tag == "!!null":
			// "key:" with no value keeps the default, like an empty env variable.
		default:
			if err := set(s.field(c), v.Value); err != nil {
				errs = append(errs, fmt.Errorf("%s %q %w", at, v.Value, err))
			}
		}
		seen[k.Value] = true
	}
	return errors.Join(errs...)
}

func (c *Config) loadEnv(getenv func(string) string) error {
	var errs []error
	for _, s := range settings {
		// Empty counts as unset: os.Getenv cannot tell the two apart.
		if v := getenv(s.env()); v != "" {
			if err := set(s.field(c), v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q %w", s.env(), v, err))
			}
		}
	}
	return errors.Join(errs...)
}

func lookup(yamlKey string) (setting, bool) {
	for _, s := range settings {
		if s.yaml == yamlKey {
			return s, true
		}
	}
	return setting{}, false
}

func knownKeys() string {
	keys := make([]string, len(settings))
	for i, s := range settings {
		keys[i] = s.yaml
	}
	return strings.Join(keys, ", ")
}

// set parses s into the field p points to. Its error continues a sentence
// that starts with the quoted value.
func set(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *bool:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("is not a boolean (true or false)")
		}
		*p = v
	case *int:
		v, err := strconv.Atoi(s)
		if err != nil {
			return errors.New("is not a whole number (e.g. 10)")
		}
		*p = v
	case *int64:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errors.New("is not a whole number (e.g. 4194304)")
		}
		*p = v
	case *time.Duration:
		v, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("is not a duration (e.g. 30m)")
		}
		*p = v
	default:
		panic(fmt.Sprintf("config: no parser for %T", p)) // a new Config field type needs a case
	}
	return nil
}

func get(p any) any { return reflect.ValueOf(p).Elem().Interface() }

// Validate checks every key. The error has one line per problem, each
// starting with the key's env and YAML names.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s (%s): %s", envPrefix, strings.ToUpper(key), key, fmt.Sprintf(format, args...)))
	}

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "%q is not host:port (e.g. :5000 or 127.0.0.1:5000)", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("addr", "port %q is not a number from 0 to 65535", port)
	}
	if c.DataDir == "" {
		bad("data_dir", "is empty; set the directory for blobs and the SQLite database (e.g. ./data)")
	}
	if !slices.Contains(blob.Drivers, c.StorageDriver) {
		bad("storage_driver", "%q is not one of %s", c.StorageDriver, strings.Join(blob.Drivers, ", "))
	}
	if msg := checkExternalURL(c.ExternalURL); msg != "" {
		bad("external_url", "%s", msg)
	}
	if _, err := ParseTrustedProxies(c.TrustedProxies); err != nil {
		bad("trusted_proxies", "%v", err)
	}
	if _, ok := parsePostgresURL(c.DatabaseURL); c.DatabaseURL != "" && !ok {
		// The value is not echoed: it may contain a password.
		bad("database_url", "is not a postgres:// or postgresql:// URL (e.g. postgres://berth:secret@db:5432/berth); leave it empty for SQLite in data_dir")
	}

	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		bad("tls_key", "is empty but tls_cert is set; set both to serve HTTPS, or neither")
	case c.TLSKey != "" && c.TLSCert == "":
		bad("tls_cert", "is empty but tls_key is set; set both to serve HTTPS, or neither")
	}
	for _, f := range []struct{ key, path string }{{"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey}} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			bad(f.key, "%v; point it at a readable PEM file", err)
		}
	}

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		bad("log_format", "%q is not one of text, json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "%v must be positive (e.g. 30s)", c.ShutdownTimeout)
	}
	if c.MaxManifestSize < 1<<10 || c.MaxManifestSize > 64<<20 {
		bad("max_manifest_size", "%d is outside 1024 to 67108864 bytes (1 KiB to 64 MiB; default 4194304)", c.MaxManifestSize)
	}
	if c.UploadTTL < time.Minute {
		bad("upload_ttl", "%v is shorter than 1m (e.g. 24h)", c.UploadTTL)
	}
	if c.GCGracePeriod < 0 {
		bad("gc_grace_period", "%v is negative (e.g. 24h, or 0s to collect at once)", c.GCGracePeriod)
	}
	if c.JobWorkers < 1 || c.JobWorkers > 64 {
		bad("job_workers", "%d is outside 1 to 64", c.JobWorkers)
	}
	if c.ScanScratchSize < minScanScratchSize {
		bad("scan_scratch_size", "%d is less than %d bytes (64 MiB; default 8589934592, 8 GiB)", c.ScanScratchSize, int64(minScanScratchSize))
	}
	if c.ScanParsers < 1 || c.ScanParsers > 64 {
		bad("scan_parsers", "%d is outside 1 to 64", c.ScanParsers)
	}
	if c.DBMaxConns < 0 {
		bad("db_max_conns", "%d is negative; use 0 for automatic or a positive limit", c.DBMaxConns)
	}
	if msg := checkArchiveURL(c.VulnDBUpdateURL); msg != "" {
		bad("vulndb_update_url", "%s", msg)
	}
	if msg := checkEcosystems(c.VulnDBUpdateEcosystems); msg != "" {
		bad("vulndb_update_ecosystems", "%s", msg)
	}
	if d := c.VulnDBUpdateInterval; d < 0 || d > 0 && d < minVulnDBUpdateInterval {
		bad("vulndb_update_interval", "%v is neither 0s (no scheduled update) nor at least %v (e.g. 24h)", d, minVulnDBUpdateInterval)
	}
	c.validateLoginThrottle(bad)
	for _, d := range []struct {
		key string
		v   time.Duration
		eg  string
	}{
		{"http_read_header_timeout", c.HTTPReadHeaderTimeout, "30s"},
		{"http_idle_timeout", c.HTTPIdleTimeout, "2m"},
		{"http_body_idle_timeout", c.HTTPBodyIdleTimeout, "1m"},
		{"outbound_dial_timeout", c.OutboundDialTimeout, "10s"},
		{"outbound_tls_handshake_timeout", c.OutboundTLSHandshakeTimeout, "10s"},
		{"outbound_response_header_timeout", c.OutboundResponseHeaderTimeout, "1m"},
	} {
		if d.v <= 0 {
			bad(d.key, "%v must be positive (e.g. %s)", d.v, d.eg)
		}
	}
	if _, err := ParseTrustedProxies(c.OutboundAllowedCIDRs); err != nil {
		bad("outbound_allowed_cidrs", "%v", err)
	}
	if _, err := ParseTrustedProxies(c.OutboundDeniedCIDRs); err != nil {
		bad("outbound_denied_cidrs", "%v", err)
	}
	return errors.Join(errs...)
}

// validateLoginThrottle checks the login throttling keys; with login_max_failures 0 (off) the
// others are not used, and not checked.
func (c *Config) validateLoginThrottle(bad func(key, format string, args ...any)) {
	if c.LoginMaxFailures < 0 {
		bad("login_max_failures", "%d is negative; use 0 to turn login throttling off, or a positive count (default 5)", c.LoginMaxFailures)
	}
	if c.LoginMaxFailures <= 0 {
		return
	}
	if c.LoginAddressMaxFailures < c.LoginMaxFailures {
		bad("login_address_max_failures", "%d is below login_max_failures (%d): one address's failures over all accounts include those at one account (default 20)", c.LoginAddressMaxFailures, c.LoginMaxFailures)
	}
	if c.LoginAccountMaxFailures < c.LoginMaxFailures {
		bad("login_account_max_failures", "%d is below login_max_failures (%d): one account's failures over all addresses include those from one address (default 100)", c.LoginAccountMaxFailures, c.LoginMaxFailures)
	}
	if c.LoginLockoutMin < time.Second {
		bad("login_lockout_min", "%v is shorter than 1s (default 30s)", c.LoginLockoutMin)
	}
	if c.LoginLockoutMax < c.LoginLockoutMin {
		bad("login_lockout_max", "%v is shorter than login_lockout_min (%v) (default 15m)", c.LoginLockoutMax, c.LoginLockoutMin)
	} else if c.LoginLockoutMax > 24*time.Hour {
		bad("login_lockout_max", "%v is longer than 24h (default 15m)", c.LoginLockoutMax)
	}
	if c.SessionMaxAge < 5*time.Minute || c.SessionMaxAge > 720*time.Hour {
		bad("session_max_age", "%v is outside 5m to 720h (default 12h)", c.SessionMaxAge)
	}
}

// VulnDBEcosystems is vulndb_update_ecosystems as a list.
func (c *Config) VulnDBEcosystems() []string {
	var out []string
	for _, e := range strings.Split(c.VulnDBUpdateEcosystems, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func checkArchiveURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute http(s) URL (e.g. %s)", redactURLPassword(s), DefaultVulnDBUpdateURL)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Sprintf("%q must not have a query or fragment: archives are fetched as <url>/<ecosystem>/all.zip", redactURLPassword(s))
	}
	return ""
}

// checkEcosystems accepts a comma-separated list of OSV ecosystem names, each becoming one
// path segment of a URL and a directory name.
func checkEcosystems(s string) string {
	seen := map[string]bool{}
	n := 0
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case e == "." || e == ".." || strings.ContainsAny(e, "/\\?#%") || strings.ContainsFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return fmt.Sprintf("%q is not an OSV ecosystem name (e.g. Debian, Red Hat, crates.io)", e)
		case seen[e]:
			return fmt.Sprintf("%q is listed twice", e)
		}
		seen[e] = true
		n++
	}
	if n == 0 {
		return fmt.Sprintf("is empty; list OSV ecosystems separated by commas (default %s)", strings.Join(DefaultVulnDBEcosystems, ","))
	}
	return ""
}

func checkExternalURL(s string) string {
	if s == "" {
		return "" // each request's own URL
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute http(s) URL (e.g. https://registry.example.com)", s)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Sprintf("%q must not have a query or fragment; remove everything from ? or #", s)
	}
	return ""
}

// parsePostgresURL accepts the URL forms pgx recognises by prefix.
func parsePostgresURL(s string) (*url.URL, bool) {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return nil, false
	}
	u, err := url.Parse(s)
	return u, err == nil
}

// ListenHost is host:port of the listen address, the wildcard host (which cannot be
// dialled) written as localhost. It is "" for an invalid addr, which Validate reports.
func (c *Config) ListenHost() string {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// BaseURL is external_url or, when it is unset, the URL derived from addr and TLS. Answers
// to requests use each request's own URL instead (internal/origin); this is for what no
// request asks, such as the URL external scanners are told to pull from.
func (c *Config) BaseURL() string {
	if c.ExternalURL != "" {
		return c.ExternalURL
	}
	h := c.ListenHost()
	if h == "" {
		return ""
	}
	if c.TLSEnabled() {
		return "https://" + h
	}
	return "http://" + h
}

// ParseTrustedProxies parses trusted_proxies: CIDRs (10.0.0.0/8, fd00::/8) or single
// addresses (192.0.2.10, ::1), separated by commas; blanks around them are ignored.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8)", f)
			}
			switch {
			case p.Addr().Zone() != "":
				return nil, fmt.Errorf("%q has an IPv6 zone; remove it", f)
			case p.Addr().Is4In6() && p.Bits() < 96:
				return nil, fmt.Errorf("%q is wider than the IPv4-mapped addresses; write IPv4 ranges as IPv4 CIDRs (e.g. 10.0.0.0/8)", f)
			case p.Addr().Is4In6():
				// Peers are compared unmapped: ::ffff:10.0.0.0/104 is 10.0.0.0/8.
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR (e.g. 192.0.2.10 or 10.0.0.0/8)", f)
		}
		if ip.Zone() != "" {
			return nil, fmt.Errorf("%q has an IPv6 zone; remove it", f)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// TrustedProxyPrefixes is trusted_proxies parsed; Validate has reported any error, after
// which the list is empty.
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	p, err := ParseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return nil
	}
	return p
}

// OutboundCIDRs are outbound_allowed_cidrs and outbound_denied_cidrs parsed (the syntax of
// trusted_proxies); Validate has reported any error, after which a list is empty.
func (c *Config) OutboundCIDRs() (allowed, denied []netip.Prefix) {
	allowed, _ = ParseTrustedProxies(c.OutboundAllowedCIDRs)
	denied, _ = ParseTrustedProxies(c.OutboundDeniedCIDRs)
	return allowed, denied
}

// TLSEnabled reports whether the server should serve HTTPS.
func (c *Config) TLSEnabled() bool { return c.TLSCert != "" && c.TLSKey != "" }

// BlobStore is the configuration of the blob store (blob.Open); the filesystem driver keeps
// the blobs in data_dir/storage.
func (c *Config) BlobStore() blob.Config {
	return blob.Config{Driver: c.StorageDriver, Root: filepath.Join(c.DataDir, "storage")}
}

// SQLitePath is the SQLite database file, or "" when PostgreSQL is used.
func (c *Config) SQLitePath() string {
	if c.DatabaseURL != "" {
		return ""
	}
	return filepath.Join(c.DataDir, "berth.db")
}

// LogValue is a view of the configuration safe to log: secrets are masked.
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		v := get(s.field(&c))
		if s.redact != nil {
			v = s.redact(v.(string))
		}
		if d, ok := v.(time.Duration); ok {
			v = d.String() // slog's JSON handler would print nanoseconds
		}
		attrs = append(attrs, slog.Any(s.yaml, v))
	}
	return slog.GroupValue(attrs...)
}

// String and GoString keep fmt's %v, %+v and %#v from printing secrets.
func (c Config) String() string   { return c.LogValue().String() }
func (c Config) GoString() string { return c.String() }

func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// redactURLPassword masks the password of a URL's user info (a mirror behind Basic auth).
func redactURLPassword(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return redacted
		}
		return s
	}
	return u.Redacted()
}

// redactDatabaseURL masks the password wherever a PostgreSQL URL can carry
// one: the user info and the password/sslpassword query parameters. Anything
// else is hidden entirely, since it may be a key=value DSN with a password.
func redactDatabaseURL(s string) string {
	if s == "" {
		return ""
	}
	u, ok := parsePostgresURL(s)
	if !ok {
		return redacted
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}
