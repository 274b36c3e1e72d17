package vulndb

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/outbound"
)

// Update: downloading osv.dev's per-ecosystem archives and importing them.
//
// Each ecosystem's archive is <URL>/<ecosystem>/all.zip. Archives are kept between updates in a
// cache directory, one subdirectory per ecosystem holding the archive (named by its SHA-256)
// and state.json: the URL it came from and the validators the server sent with it (ETag,
// Last-Modified). An update asks with If-None-Match and If-Modified-Since, so an archive the
// server reports unchanged (304) is not downloaded again. A new archive goes to a temporary
// file, must open as a zip archive, and then joins the cache under its digest; state.json names
// it only once it is imported (or found to be what the current generation was imported from).
//
// Any failure — a network error, an answer other than 200, 304 or 404, an archive that does not
// open, a failed import — ends the update with the current database and the cached archives as
// they were: a database missing an ecosystem would report its images clean. A 404 means osv.dev
// publishes no archive for the ecosystem; it is skipped and reported, and an update that finds
// no archive at all fails (a mistyped URL).
//
// With every archive in hand, their digests are compared with the sources of the current
// generation: the same set means the database is current and nothing is imported (a replica
// whose cache is empty downloads what another replica imported, and stops there). Otherwise
// they are imported (Import) as one new generation, and only then replace the cached archives.

// UpdateKind names update runs among executions; each run, scheduled or by hand, is one.
const UpdateKind = "vulndb_update"

// Results of fetching one archive.
const (
	ArchiveDownloaded  = "downloaded"
	ArchiveNotModified = "not-modified"
	ArchiveMissing     = "missing"
	ArchiveFailed      = "failed"
)

// DefaultMaxArchive bounds a downloaded archive: osv.dev's largest are a few hundred MiB.
const DefaultMaxArchive = 4 << 30

// UpdateOptions says where an update downloads from and how the run is recorded.
type UpdateOptions struct {
	// URL is the base URL of the archives: <URL>/<ecosystem>/all.zip.
	URL string
	// Ecosystems are OSV ecosystem names ("Debian", "Red Hat", "crates.io").
	Ecosystems []string
	// CacheDir keeps the archives between updates.
	CacheDir string
	// Client makes the requests, made by internal/outbound; nil: outbound's defaults.
	Client *http.Client
	// MaxArchive bounds each downloaded archive (0: DefaultMaxArchive).
	MaxArchive int64
	// Trigger is recorded with the run: MANUAL (berth vulndb update) or SCHEDULE.
	Trigger string
	// ScheduledAt is the schedule's run this update is, recorded with it; zero for one by hand.
	ScheduledAt time.Time
}

// UpdateReport is the outcome of an update, also stored with its execution.
type UpdateReport struct {
	Execution  int64           `json:"execution"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	Archives   []ArchiveReport `json:"archives"`
	// Imported is true when the archives became a new generation (Import is its report), false
	// when they are the current generation's sources already, or the update failed.
	Imported bool    `json:"imported"`
	Import   *Report `json:"import,omitempty"`
	// Error is why the update failed; empty on success.
	Error string `json:"error,omitempty"`
}

// Summary says in one line what the update did.
func (r UpdateReport) Summary() string {
	var got, unchanged, missing int
	for _, a := range r.Archives {
		switch a.Result {
		case ArchiveDownloaded:
			got++
		case ArchiveNotModified:
			unchanged++
		case ArchiveMissing:
			missing++
		}
	}
	s := fmt.Sprintf("archives: %d downloaded, %d unchanged", got, unchanged)
	if missing > 0 {
		s += fmt.Sprintf(", %d not published", missing)
	}
	switch {
	case r.Error != "":
		return s + "; failed: " + r.Error
	case r.Imported:
		return s + fmt.Sprintf("; imported generation %d (%d vulnerabilities)", r.Import.Generation, r.Import.Records)
	}
	return s + "; the database is current"
}

// ArchiveReport is one ecosystem's archive in an update.
type ArchiveReport struct {
	Ecosystem string `json:"ecosystem"`
	URL       string `json:"url"`
	// Result is downloaded, not-modified (the cached copy is current), missing (404: osv.dev
	// publishes none) or failed.
	Result string `json:"result"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Error  string `json:"error,omitempty"`
}

// UpdateState is the latest update run, as Status shows it.
type UpdateState struct {
	Trigger    string    `json:"trigger"`
	Status     string    `json:"status"` // Running, Success, Error
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Message says what the run did, or why it failed.
	Message string `json:"message,omitempty"`
}

// ErrUpdateRunning refuses an update while another one is running (on any replica, or in
// berth vulndb update).
var ErrUpdateRunning = errors.New("another vulnerability database update is running")

// Update downloads the archives and imports them when they differ from the current
// generation's sources. The run is recorded as an execution of UpdateKind, kept alive while it
// runs; ErrUpdateRunning while another one is. It returns the report also when it fails.
func (d *DB) Update(ctx context.Context, opt UpdateOptions) (UpdateReport, error) {
	rep := UpdateReport{StartedAt: time.Now().UTC()}
	// The job queue takes a long-running job for stuck and runs it again elsewhere, and a
	// person may run berth vulndb update beside the schedule: one update is enough.
	es, _, err := d.store.ListExecutions(ctx, UpdateKind, 0, meta.ListQuery{Limit: 1})
	if err != nil {
		return rep, err
	}
	if len(es) == 1 && es[0].Status == meta.StatusRunning && !jobs.Stale(es[0]) {
		return rep, fmt.Errorf("%w (started %s)", ErrUpdateRunning, es[0].StartedAt.UTC().Format(time.RFC3339))
	}
	params, _ := json.Marshal(struct {
		URL         string    `json:"url"`
		Ecosystems  []string  `json:"ecosystems"`
		ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	}{opt.URL, opt.Ecosystems, opt.ScheduledAt})
	id, err := d.store.CreateExecution(ctx, meta.Execution{Kind: UpdateKind, Trigger: opt.Trigger, Params: string(params)})
	if err != nil {
		return rep, err
	}
	rep.Execution = id
	if err := d.store.SetExecutionStatus(ctx, id, meta.StatusRunning, ""); err != nil {
		return rep, err
	}
	stop := jobs.Heartbeat(d.store, id)
	err = d.update(ctx, opt, &rep)
	stop()
	rep.FinishedAt = time.Now().UTC()
	status := meta.StatusSuccess
	if err != nil {
		rep.Error = err.Error()
		status = meta.StatusError
	}
	// The record survives a cancelled run.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	doc, _ := json.Marshal(rep)
	return rep, errors.Join(err,
		d.store.SetExecutionResult(rctx, id, string(doc)),
		d.store.SetExecutionStatus(rctx, id, status, rep.Summary()))
}

func (d *DB) update(ctx context.Context, opt UpdateOptions, rep *UpdateReport) error {
	if len(opt.Ecosystems) == 0 {
		return errors.New("no ecosystems to download")
	}
	base, err := url.Parse(strings.TrimRight(opt.URL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return fmt.Errorf("%q is not an http(s) URL", opt.URL)
	}
	client := opt.Client
	if client == nil {
		client = outbound.NewClient(outbound.Options{})
	}
	maxArchive := opt.MaxArchive
	if maxArchive <= 0 {
		maxArchive = DefaultMaxArchive
	}
	var got []*fetched
	defer func() {
		for _, f := range got {
			f.discard()
		}
	}()
	var failed []string
	for _, eco := range opt.Ecosystems {
		u := base.JoinPath(eco, "all.zip").String()
		c := &archiveCache{dir: filepath.Join(opt.CacheDir, eco)}
		f, err := c.fetch(ctx, client, u, maxArchive)
		ar := ArchiveReport{Ecosystem: eco, URL: u}
		switch {
		case err != nil:
			ar.Result, ar.Error = ArchiveFailed, err.Error()
			failed = append(failed, fmt.Sprintf("%s: %v", eco, err))
		case f == nil:
			ar.Result = ArchiveMissing
		default:
			got = append(got, f)
			ar.Result, ar.Size, ar.SHA256 = ArchiveNotModified, f.state.Size, f.state.SHA256
			if f.fresh {
				ar.Result = ArchiveDownloaded
			}
		}
		rep.Archives = append(rep.Archives, ar)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("nothing imported: %s", strings.Join(failed, "; "))
	}
	if len(got) == 0 {
		return fmt.Errorf("no archive found under %s for %s: check the URL and the ecosystem names", opt.URL, strings.Join(opt.Ecosystems, ", "))
	}

	current, err := d.currentDigests(ctx)
	if err != nil {
		return err
	}
	var digests, paths []string
	origins := map[string]string{}
	for _, f := range got {
		digests = append(digests, f.state.SHA256)
		paths = append(paths, f.path())
		origins[f.path()] = f.state.URL
	}
	slices.Sort(digests)
	if !slices.Equal(digests, current) {
		ir, err := d.Import(ctx, paths, ImportOptions{Origins: origins})
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		rep.Imported, rep.Import = true, &ir
	}
	for _, f := range got {
		if err := f.keep(); err != nil {
			// The database is updated; the next update downloads this archive again.
			return fmt.Errorf("keep the archive of %s: %w", f.state.URL, err)
		}
	}
	return nil
}

// currentDigests lists the SHA-256 of the current generation's sources, sorted; nil when there
// is no database.
func (d *DB) currentDigests(ctx context.Context) ([]string, error) {
	st, err := d.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.Generation == 0 {
		return nil, nil
	}
	var out []string
	for _, s := range st.Sources {
		out = append(out, s.SHA256)
	}
	slices.Sort(out)
	return out, nil
}

// lastUpdate is the latest update run; nil when there was none.
func (d *DB) lastUpdate(ctx context.Context) (*UpdateState, error) {
	es, _, err := d.store.ListExecutions(ctx, UpdateKind, 0, meta.ListQuery{Limit: 1})
	if err != nil || len(es) == 0 {
		return nil, err
	}
	e := es[0]
	st := &UpdateState{Trigger: e.Trigger, Status: e.Status, StartedAt: e.StartedAt, FinishedAt: e.EndedAt, Message: e.StatusText}
	if st.StartedAt.IsZero() {
		st.StartedAt = e.CreatedAt
	}
	if jobs.Stale(e) {
		st.Status, st.Message = meta.StatusError, "interrupted: the process running it ended"
	}
	return st, nil
}

// archiveState is what state.json keeps of an ecosystem's cached archive.
type archiveState struct {
	URL          string    `json:"url"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	SHA256       string    `json:"sha256"`
	Size         int64     `json:"size"`
	FetchedAt    time.Time `json:"fetched_at"`
}

// archiveCache is one ecosystem's directory in the cache.
type archiveCache struct {
	dir string
}

const stateFile = "state.json"

// staleDownload is the age of a temporary download left by a process that died, after which
// the next update deletes it.
const staleDownload = 24 * time.Hour

func (c *archiveCache) archivePath(sha string) string { return filepath.Join(c.dir, sha+".zip") }

// state returns the cached archive's state when the archive is there and was fetched from u.
func (c *archiveCache) state(u string) (archiveState, bool) {
	var st archiveState
	data, err := os.ReadFile(filepath.Join(c.dir, stateFile))
	if err != nil || json.Unmarshal(data, &st) != nil || st.URL != u || len(st.SHA256) != 64 {
		return archiveState{}, false
	}
	fi, err := os.Stat(c.archivePath(st.SHA256))
	if err != nil || fi.Size() != st.Size {
		return archiveState{}, false
	}
	return st, true
}

// fetched is an archive in hand, in the cache under its digest: the cached one, or a fresh
// download that state.json does not name yet.
type fetched struct {
	cache *archiveCache
	state archiveState
	fresh bool
}

func (f *fetched) path() string { return f.cache.archivePath(f.state.SHA256) }

// discard deletes a fresh download that was not kept, unless it is the cached archive too (the
// server sent the same bytes under a new ETag).
func (f *fetched) discard() {
	if !f.fresh {
		return
	}
	if cur, ok := f.cache.state(f.state.URL); !ok || cur.SHA256 != f.state.SHA256 {
		os.Remove(f.path())
	}
}

// keep makes a fresh download the cached archive: state.json names it from now on, and the
// archive it named before goes.
func (f *fetched) keep() error {
	if !f.fresh {
		return nil
	}
	prev, hadPrev := f.cache.state(f.state.URL)
	data, _ := json.MarshalIndent(f.state, "", "  ")
	if err := writeFileAtomic(filepath.Join(f.cache.dir, stateFile), data); err != nil {
		return err
	}
	f.fresh = false
	if hadPrev && prev.SHA256 != f.state.SHA256 {
		os.Remove(f.cache.archivePath(prev.SHA256))
	}
	return nil
}

// fetch asks for the archive at u, conditionally when a cached copy from u is there. It
// returns nil, nil when the server has none (404).
func (c *archiveCache) fetch(ctx context.Context, client *http.Client, u string, limit int64) (*fetched, error) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	c.removeStaleDownloads()
	cached, haveCached := c.state(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "Berth vulnerability database update")
	if haveCached {
		if cached.ETag != "" {
			req.Header.Set("If-None-Match", cached.ETag)
		}
		if cached.LastModified != "" {
			req.Header.Set("If-Modified-Since", cached.LastModified)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && haveCached:
		return &fetched{cache: c, state: cached}, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	tmp, err := os.CreateTemp(c.dir, "download-*.zip")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), outbound.LimitReader(resp.Body, limit))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	// The import reads it all; a download the server cut short or garbled is refused here,
	// before anything is imported.
	z, err := zip.OpenReader(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("%s is not a readable zip archive (%d bytes; truncated or corrupt?): %w", u, n, err)
	}
	z.Close()
	f := &fetched{cache: c, fresh: true, state: archiveState{URL: u, ETag: resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"), SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, FetchedAt: time.Now().UTC()}}
	if err := os.Rename(tmp.Name(), f.path()); err != nil {
		return nil, err
	}
	return f, nil
}

func (c *archiveCache) removeStaleDownloads() {
	old, _ := filepath.Glob(filepath.Join(c.dir, "download-*.zip"))
	for _, p := range old {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > staleDownload {
			os.Remove(p)
		}
	}
}

// writeFileAtomic replaces path with data: readers see the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
