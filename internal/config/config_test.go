package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefault(t *testing.T) {
	t.Parallel()
	want := Config{
		Addr:            ":5000",
		DataDir:         "./data",
		StorageDriver:   "filesystem",
		LogLevel:        "info",
		LogFormat:       "json",
		ShutdownTimeout: 30 * time.Second,
		MaxManifestSize: 4194304,
		UploadTTL:       24 * time.Hour,
		GCGracePeriod:   2 * time.Hour,
		JobWorkers:      4,
		ScanScratchSize: 8 << 30,
		ScanParsers:     1,

		VulnDBUpdateURL: "https://osv-vulnerabilities.storage.googleapis.com",
		VulnDBUpdateEcosystems: "Debian,Ubuntu,Alpine,Wolfi,Chainguard,MinimOS,Red Hat,AlmaLinux,Rocky Linux,SUSE,openSUSE,Mageia,openEuler," +
			"Go,crates.io,npm,PyPI,RubyGems",
		VulnDBUpdateInterval: 24 * time.Hour,

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
	c := Default()
	if c != want {
		t.Fatalf("Default() =\n%#v\nwant\n%#v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if got, want := c.SQLitePath(), filepath.Join("data", "berth.db"); got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}
	if c.TLSEnabled() {
		t.Error("TLSEnabled() = true by default")
	}
	if got := c.VulnDBEcosystems(); len(got) != 18 || got[6] != "Red Hat" || got[17] != "RubyGems" {
		t.Errorf("VulnDBEcosystems() = %q", got)
	}
}

func TestVulnDBEcosystemsList(t *testing.T) {
	t.Parallel()
	c := Config{VulnDBUpdateEcosystems: " Debian , Red Hat,,Go "}
	if got := c.VulnDBEcosystems(); !slices.Equal(got, []string{"Debian", "Red Hat", "Go"}) {
		t.Errorf("VulnDBEcosystems() = %q", got)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		yaml     string // written to a file named by BERTH_CONFIG when non-empty
		env      map[string]string
		args     []string
		want     func(c *Config) // turns Default() into the expected config
		wantArgs []string
	}{
		{
			name: "defaults",
			want: func(c *Config) {},
		},
		{
			name: "yaml overrides every default",
			yaml: `
addr: "127.0.0.1:6000"
data_dir: /var/lib/berth
external_url: https://reg.example.com/
database_url: postgres://berth:pw@db:5432/berth
admin_password: first-start
log_level: debug
log_format: text
shutdown_timeout: 5s
max_manifest_size: 1048576
upload_ttl: 2h
pprof: true
db_max_conns: 8
scan_scratch_size: 1073741824
scan_parsers: 2
`,
			want: func(c *Config) {
				c.Addr = "127.0.0.1:6000"
				c.DataDir = "/var/lib/berth"
				c.ExternalURL = "https://reg.example.com"
				c.DatabaseURL = "postgres://berth:pw@db:5432/berth"
				c.AdminPassword = "first-start"
				c.LogLevel = "debug"
				c.LogFormat = "text"
				c.ShutdownTimeout = 5 * time.Second
				c.MaxManifestSize = 1 << 20
				c.UploadTTL = 2 * time.Hour
				c.Pprof = true
				c.DBMaxConns = 8
				c.ScanScratchSize = 1 << 30
				c.ScanParsers = 2
			},
		},
		{
			name: "comment-only yaml keeps defaults",
			yaml: "# nothing yet\n",
			want: func(c *Config) {},
		},
		{
			name: "empty yaml values keep defaults",
			yaml: "addr:\nupload_ttl: ~\n",
			want: func(c *Config) {},
		},
		{
			name: "external url stays unset: each request's own",
			yaml: "addr: 0.0.0.0:8080\n",
			want: func(c *Config) {
				c.Addr = "0.0.0.0:8080"
			},
		},
		{
			name: "trusted proxies as a yaml list",
			yaml: "trusted_proxies:\n  - 10.0.0.0/8\n  - 192.0.2.10\n",
			want: func(c *Config) {
				c.TrustedProxies = "10.0.0.0/8,192.0.2.10"
			},
		},
		{
			name: "trusted proxies as a yaml string",
			yaml: "trusted_proxies: 10.0.0.0/8, fd00::/8\n",
			want: func(c *Config) {
				c.TrustedProxies = "10.0.0.0/8, fd00::/8"
			},
		},
		{
			name: "env overrides yaml",
			yaml: "addr: :6000\nupload_ttl: 1h\npprof: true\nlog_format: text\n",
			env: map[string]string{
				"BERTH_ADDR":       ":7000",
				"BERTH_UPLOAD_TTL": "2h",
				"BERTH_PPROF":      "false",
			},
			want: func(c *Config) {
				c.Addr = ":7000"
				c.UploadTTL = 2 * time.Hour
				c.LogFormat = "text" // not in env, so the file's value stays
			},
		},
		{
			name: "env sets every key",
			env: map[string]string{
				"BERTH_ADDR":              "127.0.0.1:5001",
				"BERTH_DATA_DIR":          "/srv/berth",
				"BERTH_EXTERNAL_URL":      "http://berth.internal:5001",
				"BERTH_DATABASE_URL":      "postgresql://db/berth",
				"BERTH_ADMIN_PASSWORD":    "pw",
				"BERTH_LOG_LEVEL":         "warn",
				"BERTH_LOG_FORMAT":        "text",
				"BERTH_SHUTDOWN_TIMEOUT":  "1m",
				"BERTH_MAX_MANIFEST_SIZE": "1024",
				"BERTH_UPLOAD_TTL":        "1m",
				"BERTH_PPROF":             "true",
				"BERTH_DB_MAX_CONNS":      "0",

				"BERTH_VULNDB_UPDATE_URL":        "http://mirror.internal/osv",
				"BERTH_VULNDB_UPDATE_ECOSYSTEMS": "Debian,Go",
				"BERTH_VULNDB_UPDATE_INTERVAL":   "0s",
				"BERTH_AIR_GAPPED":               "true",
				"BERTH_TRUSTED_PROXIES":          "10.1.2.3,10.2.0.0/16",

				"BERTH_HTTP_READ_HEADER_TIMEOUT":         "10s",
				"BERTH_HTTP_IDLE_TIMEOUT":                "30s",
				"BERTH_HTTP_BODY_IDLE_TIMEOUT":           "5m",
				"BERTH_OUTBOUND_ALLOWED_CIDRS":           "169.254.10.7",
				"BERTH_OUTBOUND_DENIED_CIDRS":            "10.0.0.0/8,192.168.0.0/16",
				"BERTH_OUTBOUND_DIAL_TIMEOUT":            "3s",
				"BERTH_OUTBOUND_TLS_HANDSHAKE_TIMEOUT":   "4s",
				"BERTH_OUTBOUND_RESPONSE_HEADER_TIMEOUT": "2m",
			},
			want: func(c *Config) {
				c.Addr = "127.0.0.1:5001"
				c.DataDir = "/srv/berth"
				c.ExternalURL = "http://berth.internal:5001"
				c.DatabaseURL = "postgresql://db/berth"
				c.AdminPassword = "pw"
				c.LogLevel = "warn"
				c.LogFormat = "text"
				c.ShutdownTimeout = time.Minute
				c.MaxManifestSize = 1024
				c.UploadTTL = time.Minute
				c.Pprof = true
				c.VulnDBUpdateURL = "http://mirror.internal/osv"
				c.VulnDBUpdateEcosystems = "Debian,Go"
				c.VulnDBUpdateInterval = 0
				c.AirGapped = true
				c.TrustedProxies = "10.1.2.3,10.2.0.0/16"
				c.HTTPReadHeaderTimeout = 10 * time.Second
				c.HTTPIdleTimeout = 30 * time.Second
				c.HTTPBodyIdleTimeout = 5 * time.Minute
				c.OutboundAllowedCIDRs = "169.254.10.7"
				c.OutboundDeniedCIDRs = "10.0.0.0/8,192.168.0.0/16"
				c.OutboundDialTimeout = 3 * time.Second
				c.OutboundTLSHandshakeTimeout = 4 * time.Second
				c.OutboundResponseHeaderTimeout = 2 * time.Minute
			},
		},
		{
			name: "flags override env, unset flags do not",
			yaml: "log_level: error\n",
			env: map[string]string{
				"BERTH_ADDR":      ":7000",
				"BERTH_LOG_LEVEL": "warn",
				"BERTH_DATA_DIR":  "/from/env",
				"BERTH_PPROF":     "true",
			},
			args: []string{"--addr", "127.0.0.1:8000", "-log-level=debug", "--pprof=false", "extra", "--not-a-flag"},
			want: func(c *Config) {
				c.Addr = "127.0.0.1:8000"
				c.LogLevel = "debug"
				c.DataDir = "/from/env"
			},
			wantArgs: []string{"extra", "--not-a-flag"},
		},
		{
			name: "every flag",
			args: []string{
				"--addr=:0",
				"--data-dir=/tmp/berth",
				"--external-url=https://x.example/",
				"--database-url=postgres://db/berth",
				"--log-level=error",
				"--pprof",
				"--trusted-proxies=127.0.0.1/32",
			},
			want: func(c *Config) {
				c.Addr = ":0"
				c.DataDir = "/tmp/berth"
				c.ExternalURL = "https://x.example"
				c.DatabaseURL = "postgres://db/berth"
				c.LogLevel = "error"
				c.Pprof = true
				c.TrustedProxies = "127.0.0.1/32"
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.yaml != "" {
				env["BERTH_CONFIG"] = writeFile(t, t.TempDir(), "berth.yaml", tc.yaml)
			}
			got, rest, err := Load(tc.args, mapEnv(env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := Default()
			tc.want(&want)
			if got != want {
				t.Errorf("Load() =\n%#v\nwant\n%#v\n(AdminPassword %q, want %q)", got, want, got.AdminPassword, want.AdminPassword)
			}
			if !slices.Equal(rest, tc.wantArgs) {
				t.Errorf("remaining args = %q, want %q", rest, tc.wantArgs)
			}
		})
	}
}

func TestLoadConfigFlagBeatsEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envFile := writeFile(t, dir, "env.yaml", "data_dir: /from/env-file\n")
	flagFile := writeFile(t, dir, "flag.yaml", "data_dir: /from/flag-file\n")
	c, _, err := Load([]string{"--config", flagFile}, mapEnv(map[string]string{"BERTH_CONFIG": envFile}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/flag-file" {
		t.Errorf("DataDir = %q, want the --config file's /from/flag-file", c.DataDir)
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := writeFile(t, dir, "cert.pem", "cert")
	key := writeFile(t, dir, "key.pem", "key")
	tests := []struct {
		addr string
		tls  bool
		ext  string
		want string
	}{
		{":5000", false, "", "http://localhost:5000"},
		{"0.0.0.0:8080", false, "", "http://localhost:8080"},
		{"127.0.0.1:5000", false, "", "http://127.0.0.1:5000"},
		{"[::]:443", true, "", "https://localhost:443"},
		{"[::1]:5000", false, "", "http://[::1]:5000"},
		{"registry.lan:5000", true, "", "https://registry.lan:5000"},
		{"127.0.0.1:5443", true, "https://registry.example.com/", "https://registry.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.addr+" "+tc.ext, func(t *testing.T) {
			t.Parallel()
			var args []string
			if tc.tls {
				args = []string{"--tls-cert", cert, "--tls-key", key}
			}
			c, _, err := Load(args, mapEnv(map[string]string{"BERTH_ADDR": tc.addr, "BERTH_EXTERNAL_URL": tc.ext}))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BaseURL(); got != tc.want {
				t.Errorf("BaseURL() = %q, want %q", got, tc.want)
			}
			if c.TLSEnabled() != tc.tls {
				t.Errorf("TLSEnabled() = %v, want %v", c.TLSEnabled(), tc.tls)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		args []string
		want string // "{file}" stands for the YAML file's path
	}{
		{
			name: "unknown yaml key",
			yaml: "addr: :5000\nregistry_url: x\n",
			want: `{file}:2: unknown key "registry_url" (known keys: addr, data_dir, storage_driver, external_url, database_url, admin_password, tls_cert, tls_key, log_level, log_format, shutdown_timeout, max_manifest_size, upload_ttl, pprof, db_max_conns, gc_grace_period, job_workers, scan_scratch_size, scan_parsers, vulndb_repository, vulndb_update_url, vulndb_update_ecosystems, vulndb_update_interval, air_gapped, trusted_proxies, login_max_failures, login_address_max_failures, login_account_max_failures, login_lockout_min, login_lockout_max, session_max_age, http_read_header_timeout, http_idle_timeout, http_body_idle_timeout, outbound_allowed_cidrs, outbound_denied_cidrs, outbound_dial_timeout, outbound_tls_handshake_timeout, outbound_response_header_timeout)`,
		},
		{
			name: "yaml duration",
			yaml: "upload_ttl: abc\n",
			want: `{file}:1: upload_ttl: "abc" is not a duration (e.g. 30m)`,
		},
		{
			name: "yaml bool",
			yaml: "\npprof: yes\n",
			want: `{file}:2: pprof: "yes" is not a boolean (true or false)`,
		},
		{
			name: "yaml int64",
			yaml: "max_manifest_size: 4MiB\n",
			want: `{file}:1: max_manifest_size: "4MiB" is not a whole number (e.g. 4194304)`,
		},
		{
			name: "yaml list value",
			yaml: "addr: [a, b]\n",
			want: `{file}:1: addr: must be a single value, not a list or mapping`,
		},
		{
			name: "yaml mapping for a list",
			yaml: "trusted_proxies: {a: b}\n",
			want: `{file}:1: trusted_proxies: must be a value or a list of values, not a mapping`,
		},
		{
			name: "yaml nested list",
			yaml: "trusted_proxies:\n  - 10.0.0.0/8\n  - [a]\n",
			want: `{file}:3: trusted_proxies: list items must be single values`,
		},
		{
			name: "yaml bad trusted proxy",
			yaml: "trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n",
			want: `BERTH_TRUSTED_PROXIES (trusted_proxies): "10.0.0.0/33" is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8)`,
		},
		{
			name: "env bad trusted proxy",
			env:  map[string]string{"BERTH_TRUSTED_PROXIES": "10.0.0.1, proxy.internal"},
			want: `BERTH_TRUSTED_PROXIES (trusted_proxies): "proxy.internal" is neither an IP address nor a CIDR (e.g. 192.0.2.10 or 10.0.0.0/8)`,
		},
		{
			name: "flag bad trusted proxy",
			args: []string{"--trusted-proxies", "300.1.1.1"},
			want: `BERTH_TRUSTED_PROXIES (trusted_proxies): "300.1.1.1" is neither an IP address nor a CIDR (e.g. 192.0.2.10 or 10.0.0.0/8)`,
		},
		{
			name: "yaml duplicate key",
			yaml: "addr: :1\naddr: :2\n",
			want: `{file}:2: addr: appears more than once; keep one`,
		},
		{
			name: "yaml top level is a list",
			yaml: "- addr\n",
			want: `{file}:1: the top level must be key: value pairs (e.g. addr: ":5000")`,
		},
		{
			name: "yaml syntax",
			yaml: "addr: [\n",
			want: `{file}: yaml: line 1: did not find expected node content`,
		},
		{
			name: "missing config file",
			env:  map[string]string{"BERTH_CONFIG": "/nonexistent/berth.yaml"},
			want: `BERTH_CONFIG (--config): open /nonexistent/berth.yaml: no such file or directory`,
		},
		{
			name: "env duration",
			env:  map[string]string{"BERTH_UPLOAD_TTL": "abc"},
			want: `BERTH_UPLOAD_TTL: "abc" is not a duration (e.g. 30m)`,
		},
		{
			name: "env errors are all reported",
			env: map[string]string{
				"BERTH_PPROF":        "maybe",
				"BERTH_DB_MAX_CONNS": "many",
			},
			want: "BERTH_PPROF: \"maybe\" is not a boolean (true or false)\n" +
				"BERTH_DB_MAX_CONNS: \"many\" is not a whole number (e.g. 10)",
		},
		{
			name: "unknown flag",
			args: []string{"--nope"},
			want: `flag provided but not defined: -nope`,
		},
		{
			name: "bad flag value",
			args: []string{"--pprof=maybe"},
			want: `invalid boolean value "maybe" for -pprof: is not a boolean (true or false)`,
		},
		{
			name: "validation runs last",
			yaml: "addr: :5000\n",
			env:  map[string]string{"BERTH_ADDR": ":6000"},
			args: []string{"--addr", "localhost"},
			want: `BERTH_ADDR (addr): "localhost" is not host:port (e.g. :5000 or 127.0.0.1:5000)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			want := tc.want
			if tc.yaml != "" {
				path := writeFile(t, t.TempDir(), "berth.yaml", tc.yaml)
				env["BERTH_CONFIG"] = path
				want = strings.ReplaceAll(want, "{file}", path)
			}
			_, _, err := Load(tc.args, mapEnv(env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if got := err.Error(); got != want {
				t.Errorf("error =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		if _, _, err := Load([]string{arg}, mapEnv(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%s) error = %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	var c Config
	var path string
	var got []string
	newFlagSet(&c, &path).VisitAll(func(f *flag.Flag) { got = append(got, f.Name) })
	want := []string{"addr", "config", "data-dir", "database-url", "external-url", "log-level", "pprof", "tls-cert", "tls-key", "trusted-proxies"}
	if !slices.Equal(got, want) {
		t.Errorf("flags = %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := writeFile(t, dir, "cert.pem", "cert")
	key := writeFile(t, dir, "key.pem", "key")
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"addr without port", func(c *Config) { c.Addr = "localhost" },
			`BERTH_ADDR (addr): "localhost" is not host:port (e.g. :5000 or 127.0.0.1:5000)`},
		{"addr port too big", func(c *Config) { c.Addr = ":65536" },
			`BERTH_ADDR (addr): port "65536" is not a number from 0 to 65535`},
		{"addr named port", func(c *Config) { c.Addr = ":http" },
			`BERTH_ADDR (addr): port "http" is not a number from 0 to 65535`},
		{"addr port 0", func(c *Config) { c.Addr = "127.0.0.1:0" }, ""},
		{"addr port 65535", func(c *Config) { c.Addr = ":65535" }, ""},

		{"data_dir empty", func(c *Config) { c.DataDir = "" },
			`BERTH_DATA_DIR (data_dir): is empty; set the directory for blobs and the SQLite database (e.g. ./data)`},

		{"storage_driver unknown", func(c *Config) { c.StorageDriver = "s3" },
			`BERTH_STORAGE_DRIVER (storage_driver): "s3" is not one of filesystem`},
		{"storage_driver empty", func(c *Config) { c.StorageDriver = "" },
			`BERTH_STORAGE_DRIVER (storage_driver): "" is not one of filesystem`},

		{"external_url empty: each request's own", func(c *Config) { c.ExternalURL = "" }, ""},
		{"external_url no scheme", func(c *Config) { c.ExternalURL = "registry.example.com" },
			`BERTH_EXTERNAL_URL (external_url): "registry.example.com" is not an absolute http(s) URL (e.g. https://registry.example.com)`},
		{"external_url ftp", func(c *Config) { c.ExternalURL = "ftp://registry.example.com" },
			`BERTH_EXTERNAL_URL (external_url): "ftp://registry.example.com" is not an absolute http(s) URL (e.g. https://registry.example.com)`},
		{"external_url no host", func(c *Config) { c.ExternalURL = "https://" },
			`BERTH_EXTERNAL_URL (external_url): "https://" is not an absolute http(s) URL (e.g. https://registry.example.com)`},
		{"external_url query", func(c *Config) { c.ExternalURL = "https://r.example?x=1" },
			`BERTH_EXTERNAL_URL (external_url): "https://r.example?x=1" must not have a query or fragment; remove everything from ? or #`},
		{"external_url fragment", func(c *Config) { c.ExternalURL = "https://r.example#top" },
			`BERTH_EXTERNAL_URL (external_url): "https://r.example#top" must not have a query or fragment; remove everything from ? or #`},
		{"external_url with path", func(c *Config) { c.ExternalURL = "https://r.example:8443/berth" }, ""},

		{"trusted_proxies bad CIDR", func(c *Config) { c.TrustedProxies = "10.0.0.0/8,10.0.0.0/33" },
			`BERTH_TRUSTED_PROXIES (trusted_proxies): "10.0.0.0/33" is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8)`},
		{"trusted_proxies not an address", func(c *Config) { c.TrustedProxies = "ingress" },
			`BERTH_TRUSTED_PROXIES (trusted_proxies): "ingress" is neither an IP address nor a CIDR (e.g. 192.0.2.10 or 10.0.0.0/8)`},
		{"trusted_proxies zone", func(c *Config) { c.TrustedProxies = "fe80::1%eth0" },
			`BERTH_TRUSTED_PROXIES (trusted_proxies): "fe80::1%eth0" has an IPv6 zone; remove it`},
		{"trusted_proxies wide mapped prefix", func(c *Config) { c.TrustedProxies = "::ffff:0.0.0.0/64" },
			`BERTH_TRUSTED_PROXIES (trusted_proxies): "::ffff:0.0.0.0/64" is wider than the IPv4-mapped addresses; write IPv4 ranges as IPv4 CIDRs (e.g. 10.0.0.0/8)`},
		{"trusted_proxies", func(c *Config) { c.TrustedProxies = " 10.0.0.0/8 , 192.0.2.10,fd00::/8,::1, " }, ""},

		{"http_read_header_timeout zero", func(c *Config) { c.HTTPReadHeaderTimeout = 0 },
			`BERTH_HTTP_READ_HEADER_TIMEOUT (http_read_header_timeout): 0s must be positive (e.g. 30s)`},
		{"http_idle_timeout negative", func(c *Config) { c.HTTPIdleTimeout = -time.Second },
			`BERTH_HTTP_IDLE_TIMEOUT (http_idle_timeout): -1s must be positive (e.g. 2m)`},
		{"http_body_idle_timeout zero", func(c *Config) { c.HTTPBodyIdleTimeout = 0 },
			`BERTH_HTTP_BODY_IDLE_TIMEOUT (http_body_idle_timeout): 0s must be positive (e.g. 1m)`},
		{"http timeouts short", func(c *Config) {
			c.HTTPReadHeaderTimeout, c.HTTPIdleTimeout, c.HTTPBodyIdleTimeout = time.Second, time.Second, 100*time.Millisecond
		}, ""},
		{"outbound_dial_timeout zero", func(c *Config) { c.OutboundDialTimeout = 0 },
			`BERTH_OUTBOUND_DIAL_TIMEOUT (outbound_dial_timeout): 0s must be positive (e.g. 10s)`},
		{"outbound_tls_handshake_timeout zero", func(c *Config) { c.OutboundTLSHandshakeTimeout = 0 },
			`BERTH_OUTBOUND_TLS_HANDSHAKE_TIMEOUT (outbound_tls_handshake_timeout): 0s must be positive (e.g. 10s)`},
		{"outbound_response_header_timeout zero", func(c *Config) { c.OutboundResponseHeaderTimeout = 0 },
			`BERTH_OUTBOUND_RESPONSE_HEADER_TIMEOUT (outbound_response_header_timeout): 0s must be positive (e.g. 1m)`},
		{"outbound_allowed_cidrs bad", func(c *Config) { c.OutboundAllowedCIDRs = "169.254.169.254,scanner.internal" },
			`BERTH_OUTBOUND_ALLOWED_CIDRS (outbound_allowed_cidrs): "scanner.internal" is neither an IP address nor a CIDR (e.g. 192.0.2.10 or 10.0.0.0/8)`},
		{"outbound_denied_cidrs bad", func(c *Config) { c.OutboundDeniedCIDRs = "10.0.0.0/33" },
			`BERTH_OUTBOUND_DENIED_CIDRS (outbound_denied_cidrs): "10.0.0.0/33" is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8)`},
		{"outbound cidrs", func(c *Config) {
			c.OutboundAllowedCIDRs, c.OutboundDeniedCIDRs = "169.254.10.0/24", "10.0.0.0/8, 127.0.0.2"
		}, ""},

		{"database_url other scheme", func(c *Config) { c.DatabaseURL = "mysql://u:s3cret@db/berth" },
			`BERTH_DATABASE_URL (database_url): is not a postgres:// or postgresql:// URL (e.g. postgres://berth:secret@db:5432/berth); leave it empty for SQLite in data_dir`},
		{"database_url keyword DSN", func(c *Config) { c.DatabaseURL = "host=db password=s3cret" },
			`BERTH_DATABASE_URL (database_url): is not a postgres:// or postgresql:// URL (e.g. postgres://berth:secret@db:5432/berth); leave it empty for SQLite in data_dir`},
		{"database_url unparsable", func(c *Config) { c.DatabaseURL = "postgres://u:s3%zz@db/berth" },
			`BERTH_DATABASE_URL (database_url): is not a postgres:// or postgresql:// URL (e.g. postgres://berth:secret@db:5432/berth); leave it empty for SQLite in data_dir`},
		{"database_url postgres", func(c *Config) { c.DatabaseURL = "postgres://u:p@db:5432/berth?sslmode=require" }, ""},
		{"database_url postgresql", func(c *Config) { c.DatabaseURL = "postgresql:///berth?host=/run/postgresql" }, ""},

		{"tls cert without key", func(c *Config) { c.TLSCert = cert },
			`BERTH_TLS_KEY (tls_key): is empty but tls_cert is set; set both to serve HTTPS, or neither`},
		{"tls key without cert", func(c *Config) { c.TLSKey = key },
			`BERTH_TLS_CERT (tls_cert): is empty but tls_key is set; set both to serve HTTPS, or neither`},
		{"tls cert missing", func(c *Config) { c.TLSCert, c.TLSKey = missing, key },
			`BERTH_TLS_CERT (tls_cert): open ` + missing + `: no such file or directory; point it at a readable PEM file`},
		{"tls key is a directory", func(c *Config) { c.TLSCert, c.TLSKey = cert, dir },
			`BERTH_TLS_KEY (tls_key): read ` + dir + `: is a directory; point it at a readable PEM file`},
		{"tls both", func(c *Config) { c.TLSCert, c.TLSKey = cert, key }, ""},

		{"log_level", func(c *Config) { c.LogLevel = "verbose" },
			`BERTH_LOG_LEVEL (log_level): "verbose" is not one of debug, info, warn, error`},
		{"log_level is case-sensitive", func(c *Config) { c.LogLevel = "INFO" },
			`BERTH_LOG_LEVEL (log_level): "INFO" is not one of debug, info, warn, error`},
		{"log_format", func(c *Config) { c.LogFormat = "yaml" },
			`BERTH_LOG_FORMAT (log_format): "yaml" is not one of text, json`},

		{"shutdown_timeout zero", func(c *Config) { c.ShutdownTimeout = 0 },
			`BERTH_SHUTDOWN_TIMEOUT (shutdown_timeout): 0s must be positive (e.g. 30s)`},
		{"shutdown_timeout negative", func(c *Config) { c.ShutdownTimeout = -time.Second },
			`BERTH_SHUTDOWN_TIMEOUT (shutdown_timeout): -1s must be positive (e.g. 30s)`},

		{"max_manifest_size too small", func(c *Config) { c.MaxManifestSize = 1023 },
			`BERTH_MAX_MANIFEST_SIZE (max_manifest_size): 1023 is outside 1024 to 67108864 bytes (1 KiB to 64 MiB; default 4194304)`},
		{"max_manifest_size too big", func(c *Config) { c.MaxManifestSize = 64<<20 + 1 },
			`BERTH_MAX_MANIFEST_SIZE (max_manifest_size): 67108865 is outside 1024 to 67108864 bytes (1 KiB to 64 MiB; default 4194304)`},
		{"max_manifest_size upper bound", func(c *Config) { c.MaxManifestSize = 64 << 20 }, ""},

		{"upload_ttl", func(c *Config) { c.UploadTTL = 30 * time.Second },
			`BERTH_UPLOAD_TTL (upload_ttl): 30s is shorter than 1m (e.g. 24h)`},

		{"db_max_conns", func(c *Config) { c.DBMaxConns = -1 },
			`BERTH_DB_MAX_CONNS (db_max_conns): -1 is negative; use 0 for automatic or a positive limit`},

		{"scan_scratch_size too small", func(c *Config) { c.ScanScratchSize = 64<<20 - 1 },
			`BERTH_SCAN_SCRATCH_SIZE (scan_scratch_size): 67108863 is less than 67108864 bytes (64 MiB; default 8589934592, 8 GiB)`},
		{"scan_scratch_size smallest", func(c *Config) { c.ScanScratchSize = 64 << 20 }, ""},
		{"scan_parsers zero", func(c *Config) { c.ScanParsers = 0 },
			`BERTH_SCAN_PARSERS (scan_parsers): 0 is outside 1 to 64`},
		{"scan_parsers too many", func(c *Config) { c.ScanParsers = 65 },
			`BERTH_SCAN_PARSERS (scan_parsers): 65 is outside 1 to 64`},

		{"vulndb_update_url not http", func(c *Config) { c.VulnDBUpdateURL = "gs://osv-vulnerabilities" },
			`BERTH_VULNDB_UPDATE_URL (vulndb_update_url): "gs://osv-vulnerabilities" is not an absolute http(s) URL (e.g. https://osv-vulnerabilities.storage.googleapis.com)`},
		{"vulndb_update_url with a query", func(c *Config) { c.VulnDBUpdateURL = "https://mirror.example/osv?x=1" },
			`BERTH_VULNDB_UPDATE_URL (vulndb_update_url): "https://mirror.example/osv?x=1" must not have a query or fragment: archives are fetched as <url>/<ecosystem>/all.zip`},
		{"vulndb_update_url hides its password", func(c *Config) { c.VulnDBUpdateURL = "ftp://u:s3cret@mirror.example" },
			`BERTH_VULNDB_UPDATE_URL (vulndb_update_url): "ftp://u:xxxxx@mirror.example" is not an absolute http(s) URL (e.g. https://osv-vulnerabilities.storage.googleapis.com)`},
		{"vulndb_update_url mirror", func(c *Config) { c.VulnDBUpdateURL = "http://u:p@mirror.internal:8080/osv" }, ""},
		{"vulndb_update_ecosystems empty", func(c *Config) { c.VulnDBUpdateEcosystems = " , " },
			`BERTH_VULNDB_UPDATE_ECOSYSTEMS (vulndb_update_ecosystems): is empty; list OSV ecosystems separated by commas (default Debian,Ubuntu,Alpine,Wolfi,Chainguard,MinimOS,Red Hat,AlmaLinux,Rocky Linux,SUSE,openSUSE,Mageia,openEuler,Go,crates.io,npm,PyPI,RubyGems)`},
		{"vulndb_update_ecosystems path", func(c *Config) { c.VulnDBUpdateEcosystems = "Debian,../etc" },
			`BERTH_VULNDB_UPDATE_ECOSYSTEMS (vulndb_update_ecosystems): "../etc" is not an OSV ecosystem name (e.g. Debian, Red Hat, crates.io)`},
		{"vulndb_update_ecosystems twice", func(c *Config) { c.VulnDBUpdateEcosystems = "Go, Debian ,Go" },
			`BERTH_VULNDB_UPDATE_ECOSYSTEMS (vulndb_update_ecosystems): "Go" is listed twice`},
		{"vulndb_update_ecosystems one", func(c *Config) { c.VulnDBUpdateEcosystems = "Rocky Linux" }, ""},
		{"vulndb_update_interval too short", func(c *Config) { c.VulnDBUpdateInterval = time.Minute },
			`BERTH_VULNDB_UPDATE_INTERVAL (vulndb_update_interval): 1m0s is neither 0s (no scheduled update) nor at least 10m0s (e.g. 24h)`},
		{"vulndb_update_interval negative", func(c *Config) { c.VulnDBUpdateInterval = -time.Hour },
			`BERTH_VULNDB_UPDATE_INTERVAL (vulndb_update_interval): -1h0m0s is neither 0s (no scheduled update) nor at least 10m0s (e.g. 24h)`},
		{"vulndb_update_interval off", func(c *Config) { c.VulnDBUpdateInterval = 0 }, ""},

		{"login_max_failures negative", func(c *Config) { c.LoginMaxFailures = -1 },
			`BERTH_LOGIN_MAX_FAILURES (login_max_failures): -1 is negative; use 0 to turn login throttling off, or a positive count (default 5)`},
		{"login throttling off ignores the rest", func(c *Config) {
			c.LoginMaxFailures, c.LoginAddressMaxFailures, c.LoginLockoutMin = 0, 0, 0
		}, ""},
		{"login_address_max_failures below login_max_failures", func(c *Config) { c.LoginAddressMaxFailures = 4 },
			`BERTH_LOGIN_ADDRESS_MAX_FAILURES (login_address_max_failures): 4 is below login_max_failures (5): one address's failures over all accounts include those at one account (default 20)`},
		{"login_account_max_failures below login_max_failures", func(c *Config) { c.LoginMaxFailures, c.LoginAccountMaxFailures = 10, 9 },
			`BERTH_LOGIN_ACCOUNT_MAX_FAILURES (login_account_max_failures): 9 is below login_max_failures (10): one account's failures over all addresses include those from one address (default 100)`},
		{"login_lockout_min too short", func(c *Config) { c.LoginLockoutMin = 500 * time.Millisecond },
			`BERTH_LOGIN_LOCKOUT_MIN (login_lockout_min): 500ms is shorter than 1s (default 30s)`},
		{"login_lockout_max below min", func(c *Config) { c.LoginLockoutMax = 10 * time.Second },
			`BERTH_LOGIN_LOCKOUT_MAX (login_lockout_max): 10s is shorter than login_lockout_min (30s) (default 15m)`},
		{"login_lockout_max too long", func(c *Config) { c.LoginLockoutMax = 25 * time.Hour },
			`BERTH_LOGIN_LOCKOUT_MAX (login_lockout_max): 25h0m0s is longer than 24h (default 15m)`},
		{"session_max_age too short", func(c *Config) { c.SessionMaxAge = time.Minute },
			`BERTH_SESSION_MAX_AGE (session_max_age): 1m0s is outside 5m to 720h (default 12h)`},
		{"login throttling strict", func(c *Config) {
			c.LoginMaxFailures, c.LoginAddressMaxFailures, c.LoginAccountMaxFailures = 3, 3, 3
			c.LoginLockoutMin, c.LoginLockoutMax = time.Minute, time.Hour
		}, ""},

		{"every problem is listed", func(c *Config) {
			c.DataDir = ""
			c.LogFormat = "xml"
			c.DBMaxConns = -2
		}, "BERTH_DATA_DIR (data_dir): is empty; set the directory for blobs and the SQLite database (e.g. ./data)\n" +
			`BERTH_LOG_FORMAT (log_format): "xml" is not one of text, json` + "\n" +
			`BERTH_DB_MAX_CONNS (db_max_conns): -2 is negative; use 0 for automatic or a positive limit`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("error leaks the database password: %s", got)
			}
		})
	}
}

func TestSQLitePath(t *testing.T) {
	t.Parallel()
	c := Config{DataDir: "/srv/berth"}
	if got := c.SQLitePath(); got != "/srv/berth/berth.db" {
		t.Errorf("SQLitePath() = %q, want /srv/berth/berth.db", got)
	}
	c.DatabaseURL = "postgres://db/berth"
	if got := c.SQLitePath(); got != "" {
		t.Errorf("SQLitePath() with PostgreSQL = %q, want empty", got)
	}
}

func TestLogValueRedacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		databaseURL string
		want        string // logged database_url
	}{
		{"sqlite", "", ""},
		{"no password", "postgres://berth@db:5432/berth", "postgres://berth@db:5432/berth"},
		{"user info", "postgres://berth:db-s3cret@db:5432/berth?sslmode=disable",
			"postgres://berth:xxxxx@db:5432/berth?sslmode=disable"},
		{"query parameters", "postgresql://db/berth?password=q-s3cret&sslpassword=ssl-s3cret&sslmode=verify-full",
			"postgresql://db/berth?password=xxxxx&sslmode=verify-full&sslpassword=xxxxx"},
		{"keyword DSN", "host=db password=kw-s3cret", "REDACTED"},
		{"unparsable", "postgres://u:bad%zz-s3cret@db/berth", "REDACTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.AdminPassword = "hunter2-admin"
			c.DatabaseURL = tc.databaseURL
			c.VulnDBUpdateURL = "https://mirror:url-s3cret@osv.internal"

			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
			var line struct {
				Config map[string]any `json:"config"`
			}
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v in %s", err, buf.Bytes())
			}
			for k, want := range map[string]any{
				"database_url":   tc.want,
				"admin_password": "REDACTED",
				"addr":           ":5000",
				"pprof":          false,
				"db_max_conns":   float64(0),

				"vulndb_update_url":      "https://mirror:xxxxx@osv.internal",
				"vulndb_update_interval": "24h0m0s",
				"air_gapped":             false,
			} {
				if got := line.Config[k]; got != want {
					t.Errorf("logged %s = %#v, want %#v", k, got, want)
				}
			}

			slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "config", c)
			for _, out := range []string{buf.String(), c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, &c)} {
				if strings.Contains(out, "hunter2") || strings.Contains(out, "s3cret") {
					t.Errorf("output leaks a password: %s", out)
				}
			}
		})
	}

	// Unset secrets log as empty, so operators can tell them from set ones.
	if got := (Config{}).String(); strings.Contains(got, "REDACTED") {
		t.Errorf("unset secrets logged as set: %s", got)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	Usage(&buf)
	out := buf.String()
	for _, want := range []string{
		"-addr address",
		"(default :5000)",
		"-pprof",
		"-config file",
		"BERTH_CONFIG",
		"BERTH_LOGIN_LOCKOUT_MAX 15m0s",
		"BERTH_MAX_MANIFEST_SIZE 4194304",
		"BERTH_VULNDB_UPDATE_URL https://osv-vulnerabilities.storage.googleapis.com",
		"BERTH_VULNDB_UPDATE_ECOSYSTEMS (below)",
		"BERTH_VULNDB_UPDATE_ECOSYSTEMS defaults to Debian,Ubuntu,",
		"BERTH_HTTP_BODY_IDLE_TIMEOUT 1m0s",
	} {
		// The table's columns are as wide as its longest entries: compare with single spaces.
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	for _, s := range settings {
		if !strings.Contains(out, s.env()) {
			t.Errorf("usage lacks %s", s.env())
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // the prefixes, space-separated
	}{
		{"", ""},
		{" , ", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"}, // host bits dropped
		{"192.0.2.10", "192.0.2.10/32"},
		{"::1", "::1/128"},
		{"fd00::/8, 172.16.0.0/12", "fd00::/8 172.16.0.0/12"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"}, // peers are compared unmapped
		{"::ffff:192.0.2.10", "192.0.2.10/32"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTrustedProxies(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != tc.want {
				t.Errorf("ParseTrustedProxies(%q) = %v, want %s", tc.in, got, tc.want)
			}
		})
	}
}
