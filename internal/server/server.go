// Package server wires Berth together: configuration, stores, services and handlers, the
// route table, middleware, background loops, start and graceful stop.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berthreg/berth/internal/api"
	"github.com/berthreg/berth/internal/audit"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/account"
	"github.com/berthreg/berth/internal/auth/group"
	"github.com/berthreg/berth/internal/auth/robot"
	"github.com/berthreg/berth/internal/auth/session"
	"github.com/berthreg/berth/internal/auth/user"
	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/catalog"
	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/gc"
	"github.com/berthreg/berth/internal/health"
	"github.com/berthreg/berth/internal/jobmonitor"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/label"
	"github.com/berthreg/berth/internal/logctx"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/oci"
	"github.com/berthreg/berth/internal/origin"
	"github.com/berthreg/berth/internal/portal"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/retention"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/adapter"
	"github.com/berthreg/berth/internal/settings"
)

// TokenService is the token service name clients see in challenges; Harbor's, so that tools
// configured for Harbor keep working.
const TokenService = "harbor-registry"

type Server struct {
	cfg     config.Config
	log     *slog.Logger
	db      *meta.DB
	blobs   blob.Store
	reg     *registry.Service
	auth    *auth.Authenticator
	origin  *origin.Resolver // the URL and client address a request came from
	jobs    *jobs.Queue
	scan    *scan.Service
	events  *events.Bus
	metrics *metrics
	// stopBackground ends the loops New starts (watching for vulnerability database imports).
	stopBackground context.CancelFunc
	handler        http.Handler

	// certCheckInterval, if not zero, replaces certCheckInterval (tests).
	certCheckInterval time.Duration

	// settings owns the system configuration and the copy of it that hot paths read.
	settings *settings.Service
	// catalog reports what the registry holds and the size of its blob storage.
	catalog *catalog.Service
}

// New opens the stores, runs migrations and first-start setup, and builds the handler.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	// The request id observe puts in each request's context reaches every line logged with it.
	log = slog.New(logctx.NewHandler(log.Handler()))
	db, err := meta.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), meta.Options{MaxConns: cfg.DBMaxConns})
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	blobs, err := blob.Open(ctx, cfg.BlobStore())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("blob store: %w", err)
	}
	s := &Server{cfg: cfg, log: log, db: db, blobs: blobs}
	if err := s.bootstrap(ctx); err != nil {
		db.Close()
		return nil, err
	}
	key, err := auth.LoadOrCreateSigningKey(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	tokens := auth.NewTokenService(key, "berth-token-issuer", TokenService, 30*time.Minute)
	tokens.SetLifetime(s.tokenLifetime)
	authz := &rbac.Authorizer{Members: db, Robots: db}
	s.settings = &settings.Service{Store: db, Authz: authz}
	accounts := &account.Lookup{Store: db, Config: s.settings}
	s.auth = auth.NewAuthenticator(accounts.Account)
	s.auth.SetThrottle(auth.NewThrottle(throttleConfig(cfg)))
	s.auth.OnLockout((&account.Lockouts{Store: db, Log: log}).Record)
	projects := &project.Service{Store: db, Authz: authz}
	s.reg = &registry.Service{DB: db, Blobs: blobs, MaxManifestSize: cfg.MaxManifestSize, Log: log, Config: s.settings}
	s.metrics = newMetrics(db.CountUploads)
	s.jobs, err = jobs.New(ctx, db, jobs.Options{Logger: log, Workers: cfg.JobWorkers})
	if err != nil {
		s.reg.Close()
		db.Close()
		return nil, err
	}
	db.SetGCGrace(cfg.GCGracePeriod)
	gcService := &gc.Service{Store: db, Jobs: s.jobs, Authz: authz, Collector: &gc.Collector{DB: db, Blobs: blobs, Log: log,
		ExpireUploads: func(ctx context.Context) (int, error) { return s.reg.ExpireUploads(ctx, cfg.UploadTTL) }}}
	gc.Register(s.jobs, gcService)

	urls := origin.New(cfg.ExternalURL, cfg.ListenHost(), cfg.TrustedProxyPrefixes())
	s.origin = urls
	v2 := &oci.Handler{Reg: s.reg, Authz: authz, Auth: s.auth, Tokens: tokens, Origin: urls, Service: TokenService, Log: log}
	tokenHandler := &auth.TokenHandler{Auth: s.auth, Tokens: tokens, Service: TokenService, Grant: v2.Grant, Accounts: accounts.Account, Logger: log}
	artifacts := &registry.Artifacts{Registry: s.reg, Store: db, Projects: projects}
	if s.scan, err = newScanService(ctx, s.reg, db, blobs, s.jobs, tokens, authz, projects, artifacts, cfg, log); err != nil {
		s.reg.Close()
		db.Close()
		return nil, err
	}
	v2.Gate = func(ctx context.Context, p meta.Project, m meta.Manifest) error {
		err := s.scan.Gate(ctx, p, m)
		var pv *scan.PolicyViolation
		if errors.As(err, &pv) {
			return &oci.PolicyError{Message: pv.Message}
		}
		return err
	}
	s.catalog = &catalog.Service{Store: db, Authz: authz, Blobs: blobs}
	sessions := &session.Service{Store: db, Auth: s.auth, MaxAge: cfg.SessionMaxAge}
	users := &user.Service{Store: db, Authz: authz, Auth: s.auth}
	repositories := &registry.Repositories{Registry: s.reg, Store: db, Projects: projects}
	checker := &health.Checker{Log: log, Components: []health.Component{{Name: "database", Ping: db.Ping}, {Name: "registry", Ping: blobs.Ping}}}
	robots := &robot.Service{Store: db, Authz: authz, Projects: projects}
	// The API and the portal act through the same services.
	tags := &registry.Tags{Registry: s.reg, Store: db, Projects: projects}
	immutable := &retention.ImmutableRules{Store: db, Projects: projects}
	retentionService := &retention.Service{Store: db, Jobs: s.jobs, Projects: projects}
	labels := &label.Service{Store: db, Authz: authz}
	groups := &group.Service{Store: db, Authz: authz}
	auditLog := &audit.Service{Store: db, Authz: authz, Projects: projects}
	jobMonitor := &jobmonitor.Service{Queue: s.jobs, Authz: authz}
	apiHandler := api.New(api.Deps{Reg: s.reg, Auth: s.auth, Log: log,
		GC: gcService, Scan: s.scan, Origin: urls,
		Projects:     projects,
		Repositories: repositories,
		Artifacts:    artifacts,
		Tags:         tags,
		Immutable:    immutable,
		Retention:    retentionService,
		Labels:       labels,
		Users:        users,
		Robots:       robots,
		Groups:       groups,
		Sessions:     sessions,
		Settings:     s.settings,
		Health:       checker,
		Catalog:      s.catalog,
		AuditLog:     auditLog,
		JobMonitor:   jobMonitor})

	mux := http.NewServeMux()
	mux.Handle("/service/token", tokenHandler)
	mux.Handle("/api/", apiHandler)
	// Harbor's portal login and logout live outside /api.
	mux.Handle("/c/login", apiHandler.SessionHandler())
	mux.Handle("/c/log_out", apiHandler.SessionHandler())
	// The web portal: every path no other route takes, with its own HTML 404.
	mux.Handle("/", portal.New(portal.Deps{Reg: s.reg, Sessions: sessions, Users: users, Robots: robots, Groups: groups,
		Projects: projects, Repositories: repositories, Artifacts: artifacts, Tags: tags, Labels: labels,
		Immutable: immutable, Retention: retentionService, Scan: s.scan, GC: gcService, Catalog: s.catalog,
		Settings: s.settings, AuditLog: auditLog, JobMonitor: jobMonitor, Health: checker, Origin: urls, Log: log, Version: api.Version()}))
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/readyz", s.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	// The built-in scanner as a Harbor scanner adapter: other registries register <external URL>/scanner.
	mux.Handle("/scanner/", http.StripPrefix("/scanner", adapter.NewServer(s.scan.Builtin, s.scannerAdapterAuth(authz), log)))
	if cfg.Pprof {
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", s.adminOnly(pp))
	}
	// /v2/ bypasses ServeMux, which would "clean" paths containing "." or ".." segments with a
	// redirect: such paths must instead be refused by the registry's own name rules.
	s.handler = s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
			v2.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	retention.Register(s.jobs, db, s.reg, log)
	scan.Register(s.jobs, s.scan)
	// Every worker is registered above; from here this process also works queued jobs.
	if err := s.jobs.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.events = events.New(db, events.Options{Logger: log})
	s.events.Subscribe("audit", audit.Subscriber(db, log), audit.Types()...)
	s.events.Subscribe("scan-on-push", s.scan.HandlePushes, events.ArtifactPushed)
	if err := s.events.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	s.stopBackground = stop
	// An import by `berth vulndb import` (another process) re-matches stored inventories here.
	go s.scan.VulnDB.Watch(bg, 30*time.Second)
	s.scan.StartVulnDBUpdates(ctx)
	return s, nil
}

// throttleConfig is the login throttle's part of the configuration.
func throttleConfig(cfg config.Config) auth.ThrottleConfig {
	return auth.ThrottleConfig{
		MaxFailures:        cfg.LoginMaxFailures,
		AddressMaxFailures: cfg.LoginAddressMaxFailures,
		AccountMaxFailures: cfg.LoginAccountMaxFailures,
		LockoutMin:         cfg.LoginLockoutMin,
		LockoutMax:         cfg.LoginLockoutMax,
	}
}

// tokenLifetime is Harbor's token_expiration setting (minutes): it is changed through
// /api/v2.0/configurations and shared by all replicas.
func (s *Server) tokenLifetime(ctx context.Context) time.Duration {
	c, err := s.settings.CachedSystemConfig(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "read token_expiration", "err", err)
		return 0 // the token service falls back to its default
	}
	return time.Duration(c.TokenExpiration) * time.Minute
}

// Handler is the complete HTTP handler (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the background work and releases the stores.
func (s *Server) Close() error {
	if s.stopBackground != nil {
		s.stopBackground()
	}
	if s.events != nil {
		s.events.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.jobs.Stop(ctx); err != nil {
		s.log.Warn("stop background jobs", "err", err)
	}
	s.reg.Close()
	return s.db.Close()
}

// scannerAdapterAuth admits the callers of /scanner: system administrators and system robots
// allowed to read scanners, with their credential in any form Harbor sends one.
func (s *Server) scannerAdapterAuth(authz *rbac.Authorizer) func(*http.Request) bool {
	return adapter.CredentialAuth(func(ctx context.Context, name, secret string) bool {
		p, err := s.auth.Basic(ctx, name, secret)
		if err != nil {
			// A wrong credential, or one refused during a login lockout, is a plain refusal.
			if !errors.Is(err, auth.ErrBadCredentials) && !errors.Is(err, auth.ErrThrottled) {
				s.log.WarnContext(ctx, "scanner adapter: check credentials", "err", err)
			}
			return false
		}
		ok, err := authz.CanSystem(ctx, p, rbac.ResScanner, rbac.ActRead)
		return err == nil && ok
	})
}

// adminOnly guards operator endpoints with a system administrator's Basic credentials.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := r.BasicAuth()
		if ok {
			p, err := s.auth.Basic(r.Context(), name, password)
			if err == nil && p.SysAdmin {
				next.ServeHTTP(w, r)
				return
			}
			if te, ok := errors.AsType[*auth.ThrottledError](err); ok {
				w.Header().Set("Retry-After", strconv.Itoa(te.Seconds()))
				http.Error(w, te.Message(), http.StatusTooManyRequests)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
		http.Error(w, "system administrator credentials required", http.StatusUnauthorized)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain")
	if err := s.db.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready: database", "err", err)
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	if err := s.blobs.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready: storage", "err", err)
		http.Error(w, "storage unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// Run serves until ctx is cancelled, then stops accepting connections and drains in-flight
// requests for at most the configured shutdown timeout. ready, if not nil, receives the bound
// address once the listener is open.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	srv := s.newHTTPServer()
	if s.cfg.TLSEnabled() {
		every := s.certCheckInterval
		if every == 0 {
			every = certCheckInterval
		}
		certs, err := newCertReloader(s.cfg.TLSCert, s.cfg.TLSKey, every, s.log)
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = tlsConfig(certs)
		ln = tls.NewListener(ln, srv.TLSConfig)
		// SIGHUP loads the certificate again at once.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					certs.Reload()
				}
			}
		}()
	}
	// Above TLS: the refusals net/http writes itself are answered in JSON (conn.go).
	ln = jsonRefusals(ln, s.log, srv.ReadHeaderTimeout)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go s.expireUploadsLoop(bg)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	extURL := s.cfg.ExternalURL
	if extURL == "" {
		extURL = "(each request's own)"
	}
	s.log.Info("berth serving", "addr", ln.Addr().String(), "external_url", extURL, "database", s.db.Dialect(), "tls", s.cfg.TLSEnabled())
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("shutdown timed out; closing remaining connections", "err", err)
		srv.Close()
	}
	return nil
}

// expireUploadsLoop removes abandoned upload sessions.
func (s *Server) expireUploadsLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		n, err := s.reg.ExpireUploads(ctx, s.cfg.UploadTTL)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("expire upload sessions", "err", err)
		} else if n > 0 {
			s.log.Info("expired abandoned upload sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
