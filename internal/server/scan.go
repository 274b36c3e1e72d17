package server

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/berthreg/berth/internal/api"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/outbound"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/adapter"
	"github.com/berthreg/berth/internal/scan/inventory"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// newScanService wires vulnerability scanning: the built-in scanner reading this registry's
// stores, the offline vulnerability database, and short-lived pull credentials for external
// scanners (tokens granting scanner-pull, which the pull gate lets through).
func newScanService(ctx context.Context, reg *registry.Service, db *meta.DB, blobs blob.Store, q *jobs.Queue, tokens *auth.TokenService, authz *rbac.Authorizer, projects *project.Service, artifacts *registry.Artifacts, cfg config.Config, log *slog.Logger) (*scan.Service, error) {
	// The built-in scanner is a registration like any other (Harbor's /scanners), fixed id.
	if _, err := db.EnsureBuiltinScanner(ctx, scan.BuiltinUUID, "Berth", adapter.BuiltinURL); err != nil {
		return nil, err
	}
	vdb := vulndb.New(db)
	// Scans unpack what they read under here; each removes its own directory when it ends.
	scratch := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		log.Warn("scan scratch directory", "dir", scratch, "err", err)
	}
	// One budget for every scan of this process: job_workers scans at once share the scratch
	// space and take turns at the memory-hungry parse.
	budget := inventory.NewBudget(cfg.ScanScratchSize, cfg.ScanParsers)
	builtin := &scan.Builtin{DB: db, Blobs: blobs, VulnDB: vdb, Version: api.Version(),
		Limits: inventory.Limits{ScratchDir: scratch, Budget: budget},
		HTTP:   outboundClient(cfg, 30*time.Minute)}
	engines := &adapter.Engines{Builtin: builtin, HTTPClient: outboundClient(cfg, 2*time.Minute)}
	updates := scan.VulnDBUpdates{Interval: cfg.VulnDBUpdateInterval, AirGapped: cfg.AirGapped, Source: VulnDBUpdateSource(cfg)}
	return &scan.Service{Store: db, Jobs: q, Builtin: builtin, VulnDB: vdb, Log: log, Updates: updates,
		Scanners: &scan.Registrations{Store: db, Engines: engines}, Engines: engines,
		RegistryURL: cfg.BaseURL(), VulnDBRepository: cfg.VulnDBRepo, Registry: reg, Authz: authz, Projects: projects, Artifacts: artifacts,
		PullCredential: func(ctx context.Context, repo string) (string, error) {
			tok, _, _, err := tokens.Issue(ctx, auth.Principal{Kind: auth.Robot, Name: "scanner"},
				[]auth.Access{{Type: "repository", Name: repo, Actions: []string{"pull", "scanner-pull"}}})
			return "Bearer " + tok, err
		}}, nil
}

// VulnDBUpdateSource is where the server, and berth vulndb update, download the vulnerability
// database from: the configured URL and ecosystems, with the archives kept in data_dir/vulndb.
func VulnDBUpdateSource(cfg config.Config) vulndb.UpdateOptions {
	// No overall timeout (archives are large; the update job has one), but a server that stops
	// answering is given up (outbound_response_header_timeout).
	return vulndb.UpdateOptions{URL: cfg.VulnDBUpdateURL, Ecosystems: cfg.VulnDBEcosystems(),
		CacheDir: filepath.Join(cfg.DataDir, "vulndb"), Client: outboundClient(cfg, 0)}
}

// OutboundOptions are the settings of every request Berth itself sends (outbound_*).
func OutboundOptions(cfg config.Config) outbound.Options {
	allow, deny := cfg.OutboundCIDRs()
	return outbound.Options{Policy: outbound.Policy{Allow: allow, Deny: deny},
		DialTimeout: cfg.OutboundDialTimeout, TLSHandshakeTimeout: cfg.OutboundTLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.OutboundResponseHeaderTimeout}
}

// outboundClient is a client with OutboundOptions whose requests take at most timeout each
// (0: no bound).
func outboundClient(cfg config.Config, timeout time.Duration) *http.Client {
	o := OutboundOptions(cfg)
	o.Timeout = timeout
	return outbound.NewClient(o)
}
