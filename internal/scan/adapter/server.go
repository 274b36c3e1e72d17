package adapter

// The server side: any report.Engine — Berth's built-in scanner — served as a scanner
// adapter, so that another Berth or a Harbor can register it. POST /scan queues the scan and
// answers its id at once; a small pool of workers runs the queue; results stay in memory for a
// while (Harbor fetches each report once, soon after the scan) and are then forgotten.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/input"
	"github.com/berthreg/berth/internal/scan/report"
)

// Server serves an engine over the adapter API, under /api/v1. Its settings may be changed
// before it serves the first request.
type Server struct {
	engine report.Engine
	auth   func(*http.Request) bool
	log    *slog.Logger
	mux    *http.ServeMux

	// Workers is how many scans run at once.
	Workers int
	// QueueLimit is how many accepted scans may wait for a worker; beyond it POST /scan
	// answers 503 and the caller retries later.
	QueueLimit int
	// ResultTTL is how long a finished scan's reports stay available.
	ResultTTL time.Duration
	// MaxResults bounds the finished scans kept; the oldest go first.
	MaxResults int
	// RefreshAfter is the wait a 302 asks for while a scan runs (whole seconds).
	RefreshAfter time.Duration
	// ScanTimeout bounds one scan.
	ScanTimeout time.Duration

	once   sync.Once
	ctx    context.Context // ends with Close: running scans stop, waiting ones never start
	cancel context.CancelFunc
	sem    chan struct{}
	now    func() time.Time

	mu       sync.Mutex
	jobs     map[string]*job
	finished []*job // in the order they finished
	waiting  int
}

// Defaults of a Server.
const (
	DefaultWorkers      = 2
	DefaultQueueLimit   = 100
	DefaultResultTTL    = time.Hour
	DefaultMaxResults   = 1000
	DefaultRefreshAfter = 5 * time.Second
	maxScanRequest      = 1 << 20
)

// job is one accepted scan request.
type job struct {
	id       string
	req      report.Request
	state    string // "queued", "running", "done"
	result   report.Result
	err      error
	finished time.Time
}

// NewServer serves engine. auth decides who may call (nil: anyone); log gets one line per
// scan.
func NewServer(engine report.Engine, auth func(*http.Request) bool, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{engine: engine, auth: auth, log: log, jobs: map[string]*job{}, now: time.Now,
		Workers: DefaultWorkers, QueueLimit: DefaultQueueLimit, ResultTTL: DefaultResultTTL,
		MaxResults: DefaultMaxResults, RefreshAfter: DefaultRefreshAfter, ScanTimeout: DefaultScanTimeout}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/v1/metadata", s.metadata)
	s.mux.HandleFunc("POST /api/v1/scan", s.scan)
	s.mux.HandleFunc("GET /api/v1/scan/{id}/report", s.report)
	return s
}

// Close stops the running scans and forgets the others.
func (s *Server) Close() { s.cancel() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.auth != nil && !s.auth(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth scanner adapter"`)
		writeError(w, http.StatusUnauthorized, "unauthorized: the scanner adapter needs valid credentials")
		return
	}
	if p := input.URL(r.URL); p != nil {
		writeError(w, http.StatusBadRequest, p.Error())
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, http.StatusNotFound, "no such operation: "+r.Method+" "+r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	var e errorResponse
	e.Error.Message = msg
	writeJSON(w, status, MimeError, e)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	md, err := s.engine.Metadata(r.Context())
	if err != nil {
		s.log.WarnContext(r.Context(), "scanner adapter: metadata", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	wm := wireMetadata{Scanner: md.Scanner, Properties: md.Properties, Capabilities: []wireCapability{}}
	for _, c := range md.Capabilities {
		wc := wireCapability{Type: capType(c.Type), ConsumesMimeTypes: c.ConsumesMimeTypes, ProducesMimeTypes: c.ProducesMimeTypes}
		if wc.Type == CapSBOM {
			wc.AdditionalAttributes = map[string]any{"sbom_media_types": sbomMediaTypes}
		}
		wm.Capabilities = append(wm.Capabilities, wc)
	}
	// Harbor asks for 1.0; the shapes are the same, so answer the version asked for.
	ct := MimeMetadata11
	if acc := normMIME(r.Header.Get("Accept")); strings.Contains(acc, normMIME(MimeMetadata10)) && !strings.Contains(acc, normMIME(MimeMetadata11)) {
		ct = MimeMetadata10
	}
	writeJSON(w, http.StatusOK, ct, wm)
}

// invalid is a request that parsed but says something impossible (422), or asks for what the
// engine cannot do (501).
type invalid struct {
	status int
	msg    string
}

func (e *invalid) Error() string { return e.msg }

func (s *Server) scan(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxScanRequest))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the scan request is larger than %d KiB", maxScanRequest>>10))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the scan request: "+err.Error())
		return
	}
	if why := input.JSON(body); why != "" {
		writeError(w, http.StatusBadRequest, "the scan request "+why)
		return
	}
	var sr scanRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		writeError(w, http.StatusBadRequest, "the scan request is not valid JSON of the right shape: "+jsonProblem(err))
		return
	}
	md, err := s.engine.Metadata(r.Context())
	if err != nil {
		s.log.WarnContext(r.Context(), "scanner adapter: metadata", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	req, err := requestOf(sr, md)
	if err != nil {
		var iv *invalid
		if errors.As(err, &iv) {
			writeError(w, iv.status, iv.msg)
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}

	s.once.Do(func() { s.sem = make(chan struct{}, max(1, s.Workers)) })
	s.mu.Lock()
	s.prune()
	if s.waiting >= s.QueueLimit {
		n := s.waiting
		s.mu.Unlock()
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d scans are waiting already: retry later", n))
		return
	}
	j := &job{id: newID(), req: req, state: "queued"}
	s.jobs[j.id] = j
	s.waiting++
	s.mu.Unlock()
	go s.run(j)

	writeJSON(w, http.StatusAccepted, MimeScanResponse, scanResponse{ID: j.id})
}

// requestOf checks a scan request against the spec and the engine's capabilities and turns
// it into the engine's request.
func requestOf(sr scanRequest, md report.Metadata) (report.Request, error) {
	var problems []string
	// The registry URL is required although the spec's schema leaves it optional: an engine
	// given no registry reads this Berth's own storage, which the caller's credentials for
	// another registry must never reach.
	if u, err := url.Parse(sr.Registry.URL); sr.Registry.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("registry.url %q: the http(s) URL of the registry to pull from is required", sr.Registry.URL))
	}
	if sr.Artifact.Repository == "" {
		problems = append(problems, "artifact.repository is required")
	}
	if _, err := digest.Parse(sr.Artifact.Digest); err != nil {
		problems = append(problems, fmt.Sprintf("artifact.digest %q is not a digest (algorithm:hex)", sr.Artifact.Digest))
	}
	produced := map[string][]string{} // capability type → report MIME types
	for _, c := range md.Capabilities {
		produced[capType(c.Type)] = append(produced[capType(c.Type)], c.ProducesMimeTypes...)
	}
	req := report.Request{Registry: sr.Registry.URL, Authorization: sr.Registry.Authorization, Artifact: sr.Artifact}
	caps := sr.EnabledCapabilities
	if len(caps) == 0 {
		// Before spec 1.2 a request enabled every capability, and every capability was
		// about vulnerabilities: such callers ask for vulnerability reports.
		caps = []enabledCapability{{Type: CapVulnerability}}
	}
	var unsupported []string
	for i, c := range caps {
		switch c.Type {
		case CapVulnerability, CapSBOM:
		default:
			problems = append(problems, fmt.Sprintf("enabled_capabilities[%d].type %q: want %q or %q", i, c.Type, CapVulnerability, CapSBOM))
			continue
		}
		if c.Type == CapSBOM {
			var types []string
			if c.Parameters != nil {
				types = c.Parameters.SBOMMediaTypes
			}
			for _, t := range types {
				if !slices.Contains(sbomMediaTypes, t) {
					problems = append(problems, fmt.Sprintf("enabled_capabilities[%d].parameters.sbom_media_types: %q is neither %s nor %s", i, t, report.MediaSPDX, report.MediaCDX))
				}
			}
			// One format per scan: the first asked for (the report request names it again).
			req.SBOMMediaType = report.MediaSPDX
			if len(types) > 0 {
				req.SBOMMediaType = types[0]
			}
		}
		can := produced[c.Type]
		if len(can) == 0 {
			unsupported = append(unsupported, "the scanner has no "+c.Type+" capability")
			continue
		}
		want := c.ProducesMimeTypes
		if len(want) == 0 {
			want = can
		}
		for _, m := range want {
			if !slices.ContainsFunc(can, func(p string) bool { return normMIME(p) == normMIME(m) }) {
				unsupported = append(unsupported, fmt.Sprintf("the scanner's %s capability does not produce %s", c.Type, m))
				continue
			}
			if !slices.ContainsFunc(req.Want, func(p string) bool { return normMIME(p) == normMIME(m) }) {
				req.Want = append(req.Want, canonicalMIME(m))
			}
		}
	}
	if len(problems) > 0 {
		return req, &invalid{http.StatusUnprocessableEntity, "invalid scan request: " + strings.Join(problems, "; ")}
	}
	if len(unsupported) > 0 {
		return req, &invalid{http.StatusNotImplemented, strings.Join(unsupported, "; ")}
	}
	if len(req.Want) == 0 {
		return req, &invalid{http.StatusNotImplemented, "the scanner produces none of the reports asked for"}
	}
	return req, nil
}

// canonicalMIME spells a report MIME type as package report does, for the map of results.
func canonicalMIME(m string) string {
	for _, c := range []string{report.MimeNative, report.MimeGeneric, report.MimeRaw, report.MimeSBOM} {
		if normMIME(c) == normMIME(m) {
			return c
		}
	}
	return m
}

// run waits for a worker and scans.
func (s *Server) run(j *job) {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		s.finish(j, report.Result{}, errors.New("the scanner adapter stopped before the scan started"))
		return
	}
	defer func() { <-s.sem }()
	s.mu.Lock()
	j.state = "running"
	s.waiting--
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(s.ctx, s.ScanTimeout)
	defer cancel()
	start := time.Now()
	res, err := s.engine.Scan(ctx, j.req)
	if err == nil {
		for _, m := range j.req.Want {
			if _, ok := res.Reports[m]; !ok {
				err = fmt.Errorf("the scanner produced no %s report", m)
				break
			}
		}
	}
	s.finish(j, res, err)
	s.log.Info("scanner adapter: scan", "id", j.id, "repository", j.req.Artifact.Repository, "digest", j.req.Artifact.Digest,
		"reports", j.req.Want, "duration", time.Since(start).Round(time.Millisecond), "err", err)
}

func (s *Server) finish(j *job, res report.Result, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.state == "queued" {
		s.waiting--
	}
	j.state, j.result, j.err, j.finished = "done", res, err, s.now()
	s.finished = append(s.finished, j)
	s.prune()
}

// prune forgets finished scans past their time or beyond the cap (s.mu held).
func (s *Server) prune() {
	now := s.now()
	drop := 0
	for drop < len(s.finished) && (len(s.finished)-drop > s.MaxResults || now.Sub(s.finished[drop].finished) > s.ResultTTL) {
		delete(s.jobs, s.finished[drop].id)
		drop++
	}
	if drop > 0 {
		s.finished = slices.Delete(s.finished, 0, drop)
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	s.prune()
	j, ok := s.jobs[id]
	var state string
	var res report.Result
	var scanErr error
	var req report.Request
	if ok {
		state, res, scanErr, req = j.state, j.result, j.err, j.req
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no scan request "+strconv.Quote(id)+" (unknown, or its reports expired)")
		return
	}
	if state != "done" {
		w.Header().Set("Refresh-After", strconv.Itoa(int(s.RefreshAfter/time.Second)))
		w.WriteHeader(http.StatusFound)
		return
	}
	if scanErr != nil {
		writeError(w, http.StatusInternalServerError, scanErr.Error())
		return
	}
	mime, status, msg := s.pick(r, req)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	w.Header().Set("Content-Type", mime)
	w.WriteHeader(http.StatusOK)
	w.Write(res.Reports[mime])
}

// pick chooses the report an Accept header asks for among the scan's: the first type listed
// that the scan produced; any report when the header names none ("*/*" or nothing).
func (s *Server) pick(r *http.Request, req report.Request) (mime string, status int, msg string) {
	var asked []string
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		var keep []string
		for _, p := range strings.Split(part, ";") {
			if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(strings.ToLower(p), "q=") {
				keep = append(keep, p)
			}
		}
		if m := strings.Join(keep, "; "); m != "" && m != "*/*" && m != "application/*" {
			asked = append(asked, m)
		}
	}
	if len(asked) == 0 {
		asked = req.Want[:1]
	}
	for _, a := range asked {
		i := slices.IndexFunc(req.Want, func(m string) bool { return normMIME(m) == normMIME(a) })
		if i < 0 {
			continue
		}
		mime = req.Want[i]
		if capabilityOf(mime) == CapSBOM {
			got := r.URL.Query().Get("sbom_media_type")
			switch {
			case got == "":
				return "", http.StatusBadRequest, "an SBOM report needs ?sbom_media_type= (" + report.MediaSPDX + " or " + report.MediaCDX + ")"
			case got != req.SBOMMediaType:
				return "", http.StatusBadRequest, fmt.Sprintf("sbom_media_type %q: this scan produced its SBOM in %s", got, req.SBOMMediaType)
			}
		}
		return mime, http.StatusOK, ""
	}
	for _, a := range asked {
		if capabilityOf(a) != "" {
			return "", http.StatusBadRequest, "the scan request did not ask for " + a + " reports; it produced " + strings.Join(req.Want, ", ")
		}
	}
	return "", http.StatusNotImplemented, "the scanner produces no " + strings.Join(asked, ", ") + " reports"
}

// newID returns a random UUID for a scan request.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// CredentialAuth admits requests that carry name:secret credentials check accepts, in any of
// the ways Harbor sends a registration's credential: Basic (Harbor encodes "name:secret"),
// Bearer or X-ScannerAdapter-API-Key (the credential as typed: "name:secret", or it
// base64-encoded). One credential thus works with whichever auth type the registering side
// picks.
func CredentialAuth(check func(ctx context.Context, name, secret string) bool) func(*http.Request) bool {
	return func(r *http.Request) bool {
		if name, secret, ok := r.BasicAuth(); ok {
			return check(r.Context(), name, secret)
		}
		token := r.Header.Get(AuthAPIKey)
		if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			token = rest
		}
		token = strings.TrimSpace(token)
		if token == "" {
			return false
		}
		if !strings.Contains(token, ":") {
			b, err := base64.StdEncoding.DecodeString(token)
			if err != nil {
				return false
			}
			token = string(b)
		}
		name, secret, ok := strings.Cut(token, ":")
		return ok && check(r.Context(), name, secret)
	}
}
