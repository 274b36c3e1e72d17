package vulndb

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Import: what it reads, what it refuses, what it reports.
//
// A source is an osv.dev all.zip (any zip of OSV JSON files; entries not ending in .json are
// ignored), a directory walked recursively for *.json files, or one .json file. Records stream
// one at a time into batches written a transaction each, so memory stays bounded however large
// the input: a batch of records, and for a zip its directory of entry names.
//
// The import fails, leaving the current generation in place and deleting its own rows, when
// a source cannot be read (missing, unreadable, a truncated or corrupt zip), the context ends,
// the store fails, or no valid record was read at all (an empty generation would silently
// clear every report). A record that does not parse, has no id, or is larger than
// maxRecordSize is skipped and counted with its file name in the report; withdrawn records are
// skipped and counted; a record already read from another source (osv.dev's per-ecosystem
// archives repeat records that span ecosystems) keeps its first copy.

// Report is the outcome of an import, also stored with it.
type Report struct {
	Generation int64          `json:"generation"`
	Replaced   int64          `json:"replaced,omitempty"` // the generation it replaced
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
	Sources    []SourceReport `json:"sources"`
	// Records is the number of vulnerabilities imported, Affected their affected-package
	// entries, Ecosystems the records per base ecosystem (a record affecting packages of two
	// ecosystems counts in both).
	Records    int            `json:"records"`
	Affected   int            `json:"affected"`
	Ecosystems map[string]int `json:"ecosystems"`
	Withdrawn  int            `json:"withdrawn"`
	Duplicates int            `json:"duplicates"`
	Malformed  int            `json:"malformed"`
	// Errors lists the first maxReportedErrors malformed records.
	Errors []RecordError `json:"errors,omitempty"`
	// Error is why the import failed; empty on success.
	Error string `json:"error,omitempty"`
	// PurgeError is why deleting the replaced generation's rows failed; the import stands, and
	// the next import deletes them.
	PurgeError string `json:"purge_error,omitempty"`
}

// Duration is how long the import took.
func (r Report) Duration() time.Duration { return r.FinishedAt.Sub(r.StartedAt) }

// SourceReport describes one source of an import. For a directory, Size is the total size of
// its JSON files and SHA256 the digest of "<relative path>\x00<file sha256 hex>\n" for each,
// in lexical walk order.
type SourceReport struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// URL is where the file was downloaded from (Update); empty for a file given by hand.
	URL        string `json:"url,omitempty"`
	Kind       string `json:"kind"` // zip, directory, file
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Files      int    `json:"files"`   // JSON documents read
	Records    int    `json:"records"` // vulnerabilities imported from it
	Withdrawn  int    `json:"withdrawn"`
	Duplicates int    `json:"duplicates"`
	Malformed  int    `json:"malformed"`
}

// RecordError is a record that was skipped as malformed.
type RecordError struct {
	Source string `json:"source"`
	File   string `json:"file"`
	Error  string `json:"error"`
}

// ImportOptions tunes an import; zero values pick the defaults.
type ImportOptions struct {
	// BatchSize is the number of records written per transaction (default 500).
	BatchSize int
	// Origins maps a path to the URL it was downloaded from, kept in its SourceReport.
	Origins map[string]string
}

const (
	defaultBatchSize  = 500
	maxRecordSize     = 32 << 20 // bytes of one OSV document
	maxReportedErrors = 100
	// staleImport is how long a running import may go without writing a batch before another
	// import takes it for dead.
	staleImport = 10 * time.Minute
	purgeBatch  = 2000
	// cleanupTimeout bounds the clean-up after a failed or cancelled import.
	cleanupTimeout = 10 * time.Minute
)

// Import reads the sources into a new generation and makes it current. It returns the report
// also when it fails (as far as it got).
func (d *DB) Import(ctx context.Context, paths []string, opt ImportOptions) (Report, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = defaultBatchSize
	}
	rep := Report{StartedAt: time.Now().UTC(), Ecosystems: map[string]int{}}
	fail := func(err error) (Report, error) {
		rep.FinishedAt = time.Now().UTC()
		rep.Error = err.Error()
		return rep, err
	}
	if len(paths) == 0 {
		return fail(errors.New("nothing to import: no paths given"))
	}
	// Open every source before starting, so a mistyped path or a truncated zip fails at once.
	srcs := make([]*source, 0, len(paths))
	defer func() {
		for _, s := range srcs {
			s.close()
		}
	}()
	for _, p := range paths {
		s, err := openSource(p)
		if err != nil {
			return fail(err)
		}
		s.report.URL = opt.Origins[p]
		srcs = append(srcs, s)
		rep.Sources = append(rep.Sources, s.report)
	}

	gen, err := d.store.BeginVulnImport(ctx, staleImport)
	if err != nil {
		return fail(err)
	}
	rep.Generation = gen
	// Rows left by imports that failed or were interrupted before cleaning up.
	if _, err := d.store.PurgeVulnGenerations(ctx, purgeBatch); err != nil {
		return d.abort(ctx, &rep, err)
	}
	w := &writer{d: d, gen: gen, rep: &rep, batch: opt.BatchSize}
	for i, s := range srcs {
		err := s.each(func(file string, r io.Reader) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return w.add(ctx, i, file, r)
		})
		rep.Sources[i].Size, rep.Sources[i].SHA256 = s.report.Size, s.report.SHA256
		if err != nil {
			return d.abort(ctx, &rep, fmt.Errorf("%s: %w", s.report.Path, err))
		}
	}
	if err := w.flush(ctx); err != nil {
		return d.abort(ctx, &rep, err)
	}
	if rep.Records == 0 {
		return d.abort(ctx, &rep, fmt.Errorf("no valid vulnerability records read (%d malformed, %d withdrawn): the current database is kept", rep.Malformed, rep.Withdrawn))
	}
	rep.FinishedAt = time.Now().UTC()
	doc, _ := json.Marshal(rep)
	prev, err := d.store.FinishVulnImport(ctx, gen, string(doc))
	if err != nil {
		return d.abort(ctx, &rep, err)
	}
	rep.Replaced = prev
	if _, err := d.store.PurgeVulnGenerations(ctx, purgeBatch); err != nil {
		rep.PurgeError = err.Error()
	}
	d.notify(ctx, gen)
	return rep, nil
}

// abort records a failed import and deletes its rows, even when ctx has ended.
func (d *DB) abort(ctx context.Context, rep *Report, cause error) (Report, error) {
	rep.FinishedAt = time.Now().UTC()
	rep.Error = cause.Error()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	doc, _ := json.Marshal(rep)
	if err := d.store.FailVulnImport(cctx, rep.Generation, cause.Error(), string(doc)); err != nil {
		return *rep, errors.Join(cause, err)
	}
	if _, err := d.store.PurgeVulnGenerations(cctx, purgeBatch); err != nil {
		return *rep, errors.Join(cause, err)
	}
	return *rep, cause
}

// writer collects documents, parses a batch of them at once on all cores, and writes the
// valid records with AddVulnBatch. A batch is bounded in records and in bytes.
type writer struct {
	d       *DB
	gen     int64
	rep     *Report
	batch   int
	raw     []rawRecord
	rawSize int
	pending []pendingRecord
}

type rawRecord struct {
	source int
	file   string
	data   []byte
}

type pendingRecord struct {
	source int
	c      converted
}

// maxBatchBytes bounds the documents held for one batch.
const maxBatchBytes = 64 << 20

func (w *writer) add(ctx context.Context, source int, file string, r io.Reader) error {
	w.rep.Sources[source].Files++
	data, err := io.ReadAll(io.LimitReader(r, maxRecordSize+1))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err) // an unreadable source, not a malformed record
	}
	w.raw = append(w.raw, rawRecord{source: source, file: file, data: data})
	w.rawSize += len(data)
	if len(w.raw) >= w.batch || w.rawSize >= maxBatchBytes {
		return w.flush(ctx)
	}
	return nil
}

// parse turns the collected documents into records, in their order, counting the withdrawn
// and malformed ones.
func (w *writer) parse() {
	results := make([]struct {
		c   converted
		err error
	}, len(w.raw))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(w.raw)) {
		wg.Go(func() {
			for i := range next {
				results[i].c, results[i].err = parseProtected(w.raw[i].data)
			}
		})
	}
	for i := range w.raw {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, res := range results {
		raw := w.raw[i]
		src := &w.rep.Sources[raw.source]
		switch {
		case errors.Is(res.err, errWithdrawn):
			src.Withdrawn++
			w.rep.Withdrawn++
		case res.err != nil:
			src.Malformed++
			w.rep.Malformed++
			if len(w.rep.Errors) < maxReportedErrors {
				w.rep.Errors = append(w.rep.Errors, RecordError{Source: src.Name, File: raw.file, Error: res.err.Error()})
			}
		default:
			w.pending = append(w.pending, pendingRecord{source: raw.source, c: res.c})
		}
	}
	w.raw, w.rawSize = w.raw[:0], 0
}

// parseProtected parses one document; a record that makes a version comparator panic is
// malformed rather than the end of the import.
func parseProtected(data []byte) (c converted, err error) {
	if len(data) > maxRecordSize {
		return c, fmt.Errorf("larger than %d MiB", maxRecordSize>>20)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cannot be read: %v", p)
		}
	}()
	return parseRecord(data)
}

// flush parses the collected documents and writes the valid records.
func (w *writer) flush(ctx context.Context) error {
	w.parse()
	if len(w.pending) == 0 {
		return nil
	}
	vulns := make([]meta.Vuln, 0, len(w.pending))
	var affected []meta.VulnAffected
	for _, p := range w.pending {
		vulns = append(vulns, p.c.vuln)
		affected = append(affected, p.c.affected...)
	}
	added, err := w.d.store.AddVulnBatch(ctx, w.gen, vulns, affected)
	if err != nil {
		return err
	}
	isNew := make(map[string]bool, len(added))
	for _, id := range added {
		isNew[id] = true
	}
	for _, p := range w.pending {
		src := &w.rep.Sources[p.source]
		if !isNew[p.c.vuln.ID] {
			src.Duplicates++
			w.rep.Duplicates++
			continue
		}
		delete(isNew, p.c.vuln.ID) // a second copy in the same batch is a duplicate
		src.Records++
		w.rep.Records++
		w.rep.Affected += len(p.c.affected)
		for _, e := range p.c.ecosystems {
			w.rep.Ecosystems[e]++
		}
	}
	w.pending = w.pending[:0]
	return nil
}

// source is one opened input.
type source struct {
	report SourceReport
	file   *os.File    // zip and single file
	zip    *zip.Reader // zip
}

func openSource(path string) (*source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	s := &source{report: SourceReport{Name: filepath.Base(abs), Path: abs}}
	if st.IsDir() {
		s.report.Kind = "directory"
		return s, nil
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a file or directory", abs)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	s.file = f
	s.report.Size = st.Size()
	if strings.EqualFold(filepath.Ext(abs), ".json") {
		s.report.Kind = "file"
		return s, nil
	}
	s.report.Kind = "zip"
	z, err := zip.NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a readable zip archive (truncated or corrupt?): %w", abs, err)
	}
	s.zip = z
	return s, nil
}

func (s *source) close() {
	if s.file != nil {
		s.file.Close()
	}
}

// each calls fn for every JSON document of the source, with its name within the source, and
// fills in the source's size and digest.
func (s *source) each(fn func(name string, r io.Reader) error) error {
	switch s.report.Kind {
	case "file":
		h := sha256.New()
		if err := fn(s.report.Name, io.TeeReader(s.file, h)); err != nil {
			return err
		}
		if _, err := io.Copy(h, s.file); err != nil { // the rest of a record too large to read
			return err
		}
		s.report.SHA256 = hex.EncodeToString(h.Sum(nil))
		return nil
	case "zip":
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(s.file, 0, s.report.Size)); err != nil {
			return err
		}
		s.report.SHA256 = hex.EncodeToString(h.Sum(nil))
		for _, zf := range s.zip.File {
			if zf.FileInfo().IsDir() || !strings.EqualFold(filepath.Ext(zf.Name), ".json") {
				continue
			}
			if err := s.zipEntry(zf, fn); err != nil {
				return err
			}
		}
		return nil
	}
	return s.walk(fn)
}

func (s *source) zipEntry(zf *zip.File, fn func(string, io.Reader) error) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", zf.Name, err)
	}
	defer rc.Close()
	if err := fn(zf.Name, rc); err != nil {
		return err
	}
	// Read to the end, so that the archive's checksum of the entry is verified even when the
	// record was too large to read whole.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("%s: %w", zf.Name, err)
	}
	return nil
}

func (s *source) walk(fn func(string, io.Reader) error) error {
	dirHash := sha256.New()
	err := filepath.WalkDir(s.report.Path, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() || !strings.EqualFold(filepath.Ext(p), ".json") {
			return nil
		}
		rel, _ := filepath.Rel(s.report.Path, p)
		rel = filepath.ToSlash(rel)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		h := sha256.New()
		if err := fn(rel, io.TeeReader(f, h)); err != nil {
			return err
		}
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		s.report.Size += st.Size()
		addFileDigest(dirHash, rel, h)
		return nil
	})
	s.report.SHA256 = hex.EncodeToString(dirHash.Sum(nil))
	return err
}

func addFileDigest(dir hash.Hash, rel string, file hash.Hash) {
	io.WriteString(dir, rel+"\x00"+hex.EncodeToString(file.Sum(nil))+"\n")
}
