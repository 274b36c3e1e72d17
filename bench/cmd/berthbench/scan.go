package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Scanning scenarios: Berth's built-in vulnerability scanner, measured through the Harbor API
// against a vulnerability database and images whose findings are known in advance.
//
// They are not in scenarioOrder ("all"): Distribution has no scanner, and compare.sh runs
// "all" against it. `-scenarios scan` runs both; bench/scan.sh runs them against a fresh Berth.
//
// The content is generated, deterministically from -seed:
//
//   - scanPackages: -scan-packages Debian 12 packages. Every other one is a binary package
//     built from a source package of another name (dpkg's Source: field), which is the name
//     Debian advisories use.
//   - osvBundle: an OSV zip (as osv.dev's all.zip) of -scan-osv-records records: per package
//     one record that affects the installed version (fixed in a higher one) and one that must
//     not match (fixed at or below the installed version for Debian 12, and fixed above it
//     only for Debian 11); the rest are records for other packages. An image therefore has
//     exactly one finding per package, with known ids, fix versions and severities.
//   - newScanImage: an OCI image of one gzip layer: os-release of Debian 12, the dpkg status
//     of the packages, and per package a shared library, an executable, a copyright file and
//     a dpkg file list, of -scan-layer-mib in all (half random, half text per 4 KiB block, so
//     it compresses about as well as a real base image). Every image has its own random bytes,
//     so no two share a layer and nothing a scan stored for one is reused for another.
var scanScenarios = []string{"scan-one", "scan-all"}

const (
	mtEmpty          = "application/vnd.oci.empty.v1+json"
	mtOSVBundle      = "application/vnd.osv.bundle"
	mtZip            = "application/zip"
	vulnReportMime   = "application/vnd.security.vulnerability.report; version=1.1"
	builtinScanner   = "berth-builtin"
	vulndbUpdatedKey = "harbor.scanner-adapter/vulnerability-database-updated-at"

	scanPoll    = 10 * time.Millisecond  // scan-one polls the artifact's overview this often
	scanAllPoll = 250 * time.Millisecond // scan-all polls its metrics this often
	vulndbPoll  = 100 * time.Millisecond // the import is seen this late at most
	// vulndbWait bounds the wait for the import (also bounded by -max-time): a bundle pushed
	// to a repository the server does not import from is never imported.
	vulndbWait = 5 * time.Minute
)

// scanState is what the scanning scenarios of one run share: the package set and whether
// this run's vulnerability database bundle has been imported (a scenario may run alone).
type scanState struct {
	pkgs       []debPkg
	imported   bool
	importTime time.Duration
	records    int
}

// debPkg is one installed package of the scan images and what the bundle says about it.
type debPkg struct {
	name, source string // binary package; its source package ("" when it has the same name)
	version      string
	fixed        string // fix of the record that affects version (above it)
	benignFixed  string // fix of the record that must not match (at or below version)
	cve          string // id shown for the affecting record
	severity     string // what its CVSS vector rates
	vector       string
}

// advisoryName is the name Debian advisories use: the source package.
func (p debPkg) advisoryName() string {
	if p.source != "" {
		return p.source
	}
	return p.name
}

// severityVectors are CVSS v3.1 vectors with their base score's rating.
var severityVectors = []struct{ severity, vector string }{
	{"Critical", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, // 9.8
	{"High", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},     // 7.5
	{"Medium", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"},   // 5.4
	{"Low", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"},      // 3.1
}

var pkgWords = []string{"acl", "attr", "bzip", "coreutils", "curl", "dash", "expat", "findutils", "gnutls", "grep",
	"gzip", "keyutils", "krb", "ldap", "lz", "ncurses", "nettle", "pam", "pcre", "readline", "sed", "sqlite",
	"systemd", "tar", "tzdata", "util", "xz", "zlib", "zstd", "openssl"}

// scanPackages returns n packages with Debian version strings of the usual shapes (epochs,
// +dfsg, +deb12uN security updates), each with the fix versions of its two records.
func scanPackages(seed uint64, n int) []debPkg {
	out := make([]debPkg, n)
	for i := range out {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		base := fmt.Sprintf("%s%03d", pkgWords[i%len(pkgWords)], i)
		p := debPkg{name: base}
		if i%2 == 0 {
			p.name, p.source = "lib"+base+"-1", base
		}
		P, Q, R, S := 1+rng.IntN(9), rng.IntN(20), 1+rng.IntN(30), 1+rng.IntN(5)
		var lower string // a fix below the installed version
		switch i % 4 {
		case 0:
			p.version = fmt.Sprintf("%d.%d.%d-%d", P, Q, R, S)
			p.fixed = fmt.Sprintf("%d.%d.%d-1", P, Q, R+1)
			lower = fmt.Sprintf("%d.%d.%d~rc1-1", P, Q, R)
		case 1:
			E := 1 + rng.IntN(3)
			p.version = fmt.Sprintf("%d:%d.%d.%d-%d", E, P, Q, R, S)
			p.fixed = fmt.Sprintf("%d:%d.%d.%d-%d", E, P, Q, R, S+1)
			lower = fmt.Sprintf("%d.%d.%d-%d", P, Q, R+5, S) // epoch 0
		case 2:
			K := 1 + rng.IntN(6)
			p.version = fmt.Sprintf("%d.%d.%d-%d+deb12u%d", P, Q, R, S, K)
			p.fixed = fmt.Sprintf("%d.%d.%d-%d+deb12u%d", P, Q, R, S, K+1)
			lower = fmt.Sprintf("%d.%d.%d-%d", P, Q, R, S)
		default:
			p.version = fmt.Sprintf("%d.%d+dfsg-%d", P, Q, S)
			p.fixed = fmt.Sprintf("%d.%d+dfsg-1", P, Q+1)
			lower = fmt.Sprintf("%d.%d+dfsg-%d~bpo12+1", P, Q, S)
		}
		p.benignFixed = p.version // fixed in exactly the installed version: not affected
		if i/4%2 == 1 {
			p.benignFixed = lower
		}
		sv := severityVectors[i/2%len(severityVectors)]
		p.severity, p.vector = sv.severity, sv.vector
		p.cve = fmt.Sprintf("CVE-2099-%d", 100000+i)
		out[i] = p
	}
	return out
}

// expectedSummary is the summary every scan image's report must have.
func expectedSummary(pkgs []debPkg) vulnSummary {
	s := vulnSummary{Total: len(pkgs), Fixable: len(pkgs), Counts: map[string]int{}}
	for _, p := range pkgs {
		s.Counts[p.severity]++
	}
	return s
}

// OSV records, as much of the schema as Berth reads and osv.dev writes for Debian.
type osvRecord struct {
	SchemaVersion string        `json:"schema_version"`
	ID            string        `json:"id"`
	Modified      string        `json:"modified"`
	Published     string        `json:"published"`
	Aliases       []string      `json:"aliases"`
	Summary       string        `json:"summary"`
	Details       string        `json:"details"`
	Severity      []osvSeverity `json:"severity,omitempty"`
	Affected      []osvAffected `json:"affected"`
	References    []osvRef      `json:"references"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges []osvRange `json:"ranges"`
}

type osvRange struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

type osvRef struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

func debianAffected(release, name, fixed string) osvAffected {
	var a osvAffected
	a.Package.Ecosystem, a.Package.Name = "Debian:"+release, name
	a.Ranges = []osvRange{{Type: "ECOSYSTEM", Events: []map[string]string{{"introduced": "0"}, {"fixed": fixed}}}}
	return a
}

func newOSVRecord(cve, pkg, vector string, affected ...osvAffected) osvRecord {
	return osvRecord{
		SchemaVersion: "1.6.0", ID: "DEBIAN-" + cve,
		Modified: "2024-01-01T00:00:00Z", Published: "2024-01-01T00:00:00Z",
		Aliases:    []string{cve},
		Summary:    cve + " in " + pkg,
		Details:    "A flaw in " + pkg + " allows a remote attacker to do something it should not (generated by berthbench).",
		Severity:   []osvSeverity{{Type: "CVSS_V3", Score: vector}},
		Affected:   affected,
		References: []osvRef{{Type: "ADVISORY", URL: "https://security-tracker.debian.org/tracker/" + cve}},
	}
}

// osvBundle returns the zip of records records (at least two per package) and how many it
// holds. nonce goes into a file the importer ignores (not *.json), so that every run pushes
// a bundle of its own digest: a push of a digest already imported would not be imported again.
func osvBundle(seed uint64, pkgs []debPkg, records int, nonce int64) ([]byte, int, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	add := func(r osvRecord) error {
		w, err := zw.Create(r.ID + ".json")
		if err != nil {
			return err
		}
		n++
		return json.NewEncoder(w).Encode(r)
	}
	for i, p := range pkgs {
		if err := add(newOSVRecord(p.cve, p.advisoryName(), p.vector, debianAffected("12", p.advisoryName(), p.fixed))); err != nil {
			return nil, 0, err
		}
		// Must not match: fixed at or below the installed version in Debian 12, and the
		// Debian 11 range (which would match) is for another release.
		benign := fmt.Sprintf("CVE-2099-%d", 200000+i)
		if err := add(newOSVRecord(benign, p.advisoryName(), p.vector,
			debianAffected("12", p.advisoryName(), p.benignFixed), debianAffected("11", p.advisoryName(), p.fixed))); err != nil {
			return nil, 0, err
		}
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for k := 0; n < records; k++ {
		name := fmt.Sprintf("%s-filler%05d", pkgWords[k%len(pkgWords)], k)
		release := "12"
		if k%5 == 0 {
			release = "11"
		}
		fixed := fmt.Sprintf("%d.%d.%d-%d", 1+rng.IntN(9), rng.IntN(20), rng.IntN(30), 1+rng.IntN(5))
		sv := severityVectors[k%len(severityVectors)]
		if err := add(newOSVRecord(fmt.Sprintf("CVE-2098-%d", 1000000+k), name, sv.vector, debianAffected(release, name, fixed))); err != nil {
			return nil, 0, err
		}
	}
	w, err := zw.Create("berthbench-bundle.txt")
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(w, "berthbench OSV bundle, seed %d, run %d\n", seed, nonce)
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), n, nil
}

// newScanImage builds a Debian 12 image of the packages with one layer of about contentBytes
// uncompressed.
func newScanImage(seed uint64, pkgs []debPkg, contentBytes int64) (*image, error) {
	layer, diffID, err := debianLayer(seed, pkgs, contentBytes)
	if err != nil {
		return nil, err
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"config":       map[string]any{"Cmd": []string{"bash"}, "Labels": map[string]string{"berthbench.seed": fmt.Sprint(seed)}},
	})
	m := buildManifest(descriptor{MediaType: mtConfig, Digest: sha256Digest(cfg), Size: int64(len(cfg))},
		[]descriptor{{MediaType: mtLayer, Digest: sha256Digest(layer), Size: int64(len(layer))}})
	return &image{layers: [][]byte{layer}, config: cfg, manifest: m, digest: sha256Digest(m)}, nil
}

const osRelease = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n" +
	"VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n"

// debianLayer writes the layer (gzip at BestSpeed: the scanner's cost is decompressing, which
// hardly depends on the level) and returns it with its diff id.
func debianLayer(seed uint64, pkgs []debPkg, contentBytes int64) ([]byte, string, error) {
	type small struct{ name, body string }
	var smalls []small
	var status strings.Builder
	for _, p := range pkgs {
		base := p.advisoryName()
		lib := "usr/lib/x86_64-linux-gnu/lib" + base + ".so.1"
		bin := "usr/bin/" + base
		doc := "usr/share/doc/" + p.name + "/copyright"
		smalls = append(smalls,
			small{doc, "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: " + base + "\n\nFiles: *\nCopyright: 2024 The " + base + " authors\nLicense: MIT\n"},
			small{"var/lib/dpkg/info/" + p.name + ".list", "/.\n/usr\n/usr/bin\n/" + bin + "\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/" + lib + "\n/usr/share/doc/" + p.name + "\n/" + doc + "\n"})
	}
	fixed := int64(len(osRelease))
	for _, s := range smalls {
		fixed += int64(len(s.body))
	}
	// The two big files per package share what is left of contentBytes (the status file is
	// small next to them and not counted).
	fileSize := max(256, (contentBytes-fixed)/int64(2*len(pkgs)))
	for _, p := range pkgs {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\n"+
			"Maintainer: Debian Benchmarks <bench@example.org>\nArchitecture: amd64\n", p.name, (2*fileSize+1023)/1024)
		if p.source != "" {
			fmt.Fprintf(&status, "Source: %s\n", p.source)
		}
		fmt.Fprintf(&status, "Version: %s\nDepends: libc6 (>= 2.34)\nDescription: %s library and tools\n berthbench generated package %s.\n\n",
			p.version, p.advisoryName(), p.name)
	}

	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, h))
	mtime := time.Unix(1700000000, 0)
	var werr error
	dir := func(name string) {
		if werr == nil {
			werr = tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
		}
	}
	file := func(name string, mode int64, body []byte) {
		if werr == nil {
			werr = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), ModTime: mtime})
		}
		if werr == nil {
			_, werr = tw.Write(body)
		}
	}
	for _, d := range []string{"etc", "usr", "usr/bin", "usr/lib", "usr/lib/x86_64-linux-gnu", "usr/share", "usr/share/doc", "var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/info"} {
		dir(d)
	}
	file("etc/os-release", 0o644, []byte(osRelease))
	for i, p := range pkgs {
		base := p.advisoryName()
		text := "Copyright (C) 2024 The " + base + " authors. Permission is hereby granted, free of charge. "
		file("usr/lib/x86_64-linux-gnu/lib"+base+".so.1", 0o644, mixedBytes(mix(seed, uint64(i), 1), int(fileSize), text))
		file("usr/bin/"+base, 0o755, mixedBytes(mix(seed, uint64(i), 2), int(fileSize), text))
		dir("usr/share/doc/" + p.name)
		file(smalls[2*i].name, 0o644, []byte(smalls[2*i].body))
		file(smalls[2*i+1].name, 0o644, []byte(smalls[2*i+1].body))
	}
	file("var/lib/dpkg/status", 0o644, []byte(status.String()))
	if werr != nil {
		return nil, "", werr
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// mixedBytes is size bytes that compress about 2:1: each 4 KiB block is 2 KiB of the random
// stream for seed, then 2 KiB of text.
func mixedBytes(seed uint64, size int, text string) []byte {
	b := make([]byte, size)
	rs := newRandStream(seed, int64(size))
	for off := 0; off < size; off += 4096 {
		end := min(off+4096, size)
		half := min(off+2048, end)
		io.ReadFull(rs, b[off:half])
		for j := half; j < end; j++ {
			b[j] = text[(j-half)%len(text)]
		}
	}
	return b
}

// ---- Harbor API ----------------------------------------------------------------------------

// apiHeader carries Basic credentials: Berth's /api/ takes them on every call, so API
// requests never meet a challenge (the client switches to Basic with the same credentials
// if one comes anyway).
func (b *bench) apiHeader() http.Header {
	h := http.Header{}
	if b.cfg.User != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(b.cfg.User+":"+b.cfg.Password)))
	}
	return h
}

// artifactAPI is the Harbor API path of repo:ref. The repository name goes without its
// project and escaped twice, as Harbor wants it (a/b is a%252Fb).
func (b *bench) artifactAPI(repo, ref string) string {
	name := strings.TrimPrefix(repo, b.cfg.Project+"/")
	return "/api/v2.0/projects/" + url.PathEscape(b.cfg.Project) + "/repositories/" + url.PathEscape(url.PathEscape(name)) +
		"/artifacts/" + url.PathEscape(ref)
}

// scanOverview is one report's entry in an artifact's scan_overview.
type scanOverview struct {
	ReportID string       `json:"report_id"`
	Status   string       `json:"scan_status"`
	Start    string       `json:"start_time"`
	End      string       `json:"end_time"`
	Summary  *vulnSummary `json:"summary"`
}

type vulnSummary struct {
	Total   int            `json:"total"`
	Fixable int            `json:"fixable"`
	Counts  map[string]int `json:"summary"`
}

func (o scanOverview) final() bool {
	return o.Status == "Success" || o.Status == "Error" || o.Status == "Stopped"
}

// times are the scan's start and end by the server's clock (ms precision); ok false when the
// overview lacks them.
func (o scanOverview) times() (start, end time.Time, ok bool) {
	const layout = "2006-01-02T15:04:05.000Z"
	s, err1 := time.Parse(layout, o.Start)
	e, err2 := time.Parse(layout, o.End)
	return s, e, err1 == nil && err2 == nil
}

// artifactJSON is what the scanning scenarios read of a Harbor artifact.
type artifactJSON struct {
	Digest       string                  `json:"digest"`
	ScanOverview map[string]scanOverview `json:"scan_overview"`
}

// vulnOverview picks the vulnerability report's overview (1.1, or the only one there is).
func (a artifactJSON) vulnOverview() (scanOverview, bool) {
	if o, ok := a.ScanOverview[vulnReportMime]; ok {
		return o, true
	}
	for _, o := range a.ScanOverview {
		return o, true
	}
	return scanOverview{}, false
}

func decodeJSON(v any) func(*http.Response) error {
	return func(resp *http.Response) error { return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v) }
}

// startScan asks for a scan of repo:tag.
func (b *bench) startScan(ctx context.Context, w *worker, repo, tag string) error {
	_, err := w.call(ctx, &Request{Method: http.MethodPost, URL: b.artifactAPI(repo, tag) + "/scan", Header: b.apiHeader()}, 0, []int{202}, nil)
	return err
}

// waitScan polls repo:tag's overview every `every` until its scan has ended. The report row is
// reset to Pending before the scan request is answered, so the first final status seen is
// that of the scan asked for.
func (b *bench) waitScan(ctx context.Context, w *worker, repo, tag string, every time.Duration) (scanOverview, error) {
	for {
		var a artifactJSON
		if _, err := w.call(ctx, &Request{Method: http.MethodGet, URL: b.artifactAPI(repo, tag) + "?with_scan_overview=true", Header: b.apiHeader()},
			0, []int{200}, decodeJSON(&a)); err != nil {
			return scanOverview{}, err
		}
		if o, ok := a.vulnOverview(); ok && o.final() {
			return o, nil
		}
		select {
		case <-ctx.Done():
			b.errs.add("scan of %s:%s did not end within -max-time", repo, tag)
			return scanOverview{}, ctx.Err()
		case <-time.After(every):
		}
	}
}

// checkScan counts an error unless the scan succeeded with the expected summary; a failed
// scan's log is printed with it.
func (b *bench) checkScan(ctx context.Context, w *worker, repo, tag string, o scanOverview, want vulnSummary) bool {
	if o.Status != "Success" {
		var log string
		if o.ReportID != "" {
			w.call(ctx, &Request{Method: http.MethodGet, URL: b.artifactAPI(repo, tag) + "/scan/" + o.ReportID + "/log", Header: b.apiHeader()}, 0, []int{200},
				func(resp *http.Response) error {
					body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
					log = snippet(body)
					return err
				})
		}
		b.errs.add("scan of %s:%s ended %s; log: %s", repo, tag, o.Status, log)
		return false
	}
	if got := o.Summary; got == nil || got.Total != want.Total || got.Fixable != want.Fixable || !sameCounts(got.Counts, want.Counts) {
		b.errs.add("scan of %s:%s: summary %+v, want %+v", repo, tag, got, want)
		return false
	}
	return true
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if v != b[k] {
			return false
		}
	}
	for k, v := range b {
		if v != a[k] {
			return false
		}
	}
	return true
}

// checkReport reads repo:tag's full vulnerability report and counts an error unless it lists
// exactly the affecting record of every package, with the installed version, the fix and
// the severity.
func (b *bench) checkReport(ctx context.Context, w *worker, repo, tag string, pkgs []debPkg) {
	var rep map[string]struct {
		Vulnerabilities []struct {
			ID         string `json:"id"`
			Package    string `json:"package"`
			Version    string `json:"version"`
			FixVersion string `json:"fix_version"`
			Severity   string `json:"severity"`
		} `json:"vulnerabilities"`
	}
	if _, err := w.call(ctx, &Request{Method: http.MethodGet, URL: b.artifactAPI(repo, tag) + "/additions/vulnerabilities", Header: b.apiHeader()},
		0, []int{200}, decodeJSON(&rep)); err != nil {
		return
	}
	r, ok := rep[vulnReportMime]
	if !ok {
		b.errs.add("%s:%s: no %q report in additions/vulnerabilities", repo, tag, vulnReportMime)
		return
	}
	want := map[string]debPkg{}
	for _, p := range pkgs {
		want[p.cve] = p
	}
	for _, v := range r.Vulnerabilities {
		p, ok := want[v.ID]
		if !ok {
			b.errs.add("%s:%s: report lists %s (%s %s), which must not match", repo, tag, v.ID, v.Package, v.Version)
			return
		}
		if v.Package != p.name || v.Version != p.version || v.FixVersion != p.fixed || v.Severity != p.severity {
			b.errs.add("%s:%s: %s is reported as %s %s fixed in %q, %s; want %s %s fixed in %q, %s", repo, tag, v.ID,
				v.Package, v.Version, v.FixVersion, v.Severity, p.name, p.version, p.fixed, p.severity)
			return
		}
		delete(want, v.ID)
	}
	if len(want) > 0 {
		b.errs.add("%s:%s: report misses %d of the %d expected vulnerabilities", repo, tag, len(want), len(pkgs))
	}
}

// vulndbUpdatedAt is when the server's vulnerability database was last imported ("" never),
// to the second, as the built-in scanner's metadata says.
func (b *bench) vulndbUpdatedAt(ctx context.Context, w *worker) (string, error) {
	var md struct {
		Properties map[string]string `json:"properties"`
	}
	_, err := w.call(ctx, &Request{Method: http.MethodGet, URL: "/api/v2.0/scanners/" + builtinScanner + "/metadata", Header: b.apiHeader()},
		0, []int{200}, decodeJSON(&md))
	return md.Properties[vulndbUpdatedKey], err
}

// ensureVulnDB pushes this run's OSV bundle to -scan-vulndb-repo and waits until the server
// has imported it, once per run; false if that failed (the error is counted).
func (b *bench) ensureVulnDB(ctx context.Context) bool {
	st := b.scan
	if st.imported {
		return true
	}
	w := b.newWorker()
	prev, err := b.vulndbUpdatedAt(ctx, w)
	if err != nil {
		return false
	}
	records := b.cfg.OSVRecords
	bundle, n, err := osvBundle(mix(b.cfg.Seed, 40), b.scanPkgs(), records, time.Now().UnixNano())
	if err != nil {
		b.errs.add("building the OSV bundle: %v", err)
		return false
	}
	repo := b.cfg.VulnDBRepo
	empty := []byte("{}")
	if w.pushBytes(ctx, repo, empty) != nil || w.pushBlob(ctx, repo, sha256Digest(bundle), int64(len(bundle)), bytesBody(bundle), 0) != nil {
		return false
	}
	m, _ := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		ArtifactType  string       `json:"artifactType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{2, mtManifest, mtOSVBundle, descriptor{MediaType: mtEmpty, Digest: sha256Digest(empty), Size: int64(len(empty))},
		[]descriptor{{MediaType: mtZip, Digest: sha256Digest(bundle), Size: int64(len(bundle))}}})
	if w.putManifest(ctx, repo, "latest", m) != nil {
		return false
	}
	// The import is a job queued by the push. Its end shows as a new "updated at" (to the
	// second: an import that ended in the same second as the previous one would go unseen,
	// which only two runs started within a second of each other could cause).
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, vulndbWait)
	defer cancel()
	for {
		select {
		case <-wctx.Done():
			b.errs.add("the OSV bundle pushed to %s was not imported within %s (is -scan-vulndb-repo the server's BERTH_VULNDB_REPOSITORY? see its log)",
				repo, time.Since(start).Round(time.Second))
			return false
		case <-time.After(vulndbPoll):
		}
		cur, err := b.vulndbUpdatedAt(wctx, w)
		if err != nil {
			return false
		}
		if cur != "" && cur != prev {
			break
		}
	}
	st.imported, st.importTime, st.records = true, time.Since(start), n
	return true
}

func (b *bench) scanPkgs() []debPkg {
	if b.scan.pkgs == nil {
		b.scan.pkgs = scanPackages(mix(b.cfg.Seed, 41), b.cfg.ScanPackages)
	}
	return b.scan.pkgs
}

func (b *bench) setVulnDBFields(res *Result) {
	res.set("vulndb_import_s", b.scan.importTime)
	res.set("osv_records", b.scan.records)
}

// ---- scan-one ------------------------------------------------------------------------------

// scanOne: -scan-images distinct images, pushed first (untimed), then scanned one at a time.
// A scan's time runs from the scan request to the first poll that sees it ended, so it
// includes the wait for a job worker to take it up; the server's own start-to-end time is
// reported beside it. A rescan of the first image (inventory stored: no layer is read) is
// reported separately.
func scanOne(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "scan_p50_ms", Better: "lower"}
	pkgs := b.scanPkgs()
	want := expectedSummary(pkgs)
	n := b.cfg.ScanImages
	res.set("images", n)
	res.set("packages", len(pkgs))
	res.set("layer_mib", float64(b.cfg.ScanLayerSize)/mib)
	if !b.ensureVulnDB(ctx) {
		res.set("scan_p50_ms", 0.0)
		return res
	}
	repo := b.repo("scan")
	w := b.newWorker()
	tags := make([]string, n)
	var gz int64
	for i := range n {
		img, err := newScanImage(mix(b.cfg.Seed, 30, uint64(i)), pkgs, b.cfg.ScanLayerSize)
		if err != nil {
			b.errs.add("building scan image %d: %v", i, err)
			break
		}
		tags[i] = fmt.Sprintf("s%03d", i)
		gz = int64(len(img.layers[0]))
		if w.pushImage(ctx, repo, tags[i], img) != nil {
			tags[i] = ""
		}
	}
	res.set("layer_gz_mib", float64(gz)/mib)
	tags = slices.DeleteFunc(tags, func(t string) bool { return t == "" })

	// client: request to the poll that saw the end; server: the scan's start to end by the
	// server's clock; pickup: request to the scan's start (the wait for a job worker; same
	// machine, same clock).
	var client, server, pickup latencies
	vulns := -1
	for _, tag := range tags {
		start := time.Now()
		if b.startScan(ctx, w, repo, tag) != nil {
			continue
		}
		o, err := b.waitScan(ctx, w, repo, tag, scanPoll)
		elapsed := time.Since(start)
		if err != nil {
			continue
		}
		if o.Summary != nil && vulns < 0 {
			vulns = o.Summary.Total
		}
		if !b.checkScan(ctx, w, repo, tag, o, want) {
			continue
		}
		client = append(client, elapsed)
		if s, e, ok := o.times(); ok {
			server = append(server, e.Sub(s))
			pickup = append(pickup, s.Sub(start))
		}
	}
	// Content check, untimed: the full report of every image.
	for _, tag := range tags {
		b.checkReport(ctx, w, repo, tag, pkgs)
	}
	rescan := time.Duration(0)
	if start := time.Now(); len(tags) > 0 && b.startScan(ctx, w, repo, tags[0]) == nil {
		if o, err := b.waitScan(ctx, w, repo, tags[0], scanPoll); err == nil && b.checkScan(ctx, w, repo, tags[0], o, want) {
			rescan = time.Since(start)
		}
	}
	slices.Sort(client)
	slices.Sort(server)
	slices.Sort(pickup)
	res.set("vulns", vulns)
	res.set("scan_p50_ms", client.pct(0.50))
	res.set("scan_max_ms", client.pct(1))
	res.set("server_scan_p50_ms", server.pct(0.50))
	res.set("pickup_p50_ms", pickup.pct(0.50))
	res.set("rescan_ms", float64(rescan)/float64(time.Millisecond))
	b.setVulnDBFields(res)
	return res
}

// ---- scan-all ------------------------------------------------------------------------------

// scanAll: -scan-all-images distinct small images pushed by -scan-clients clients, then one
// manual scan-all, timed from the request until its metrics say it has ended (polled every
// 250 ms), with the server's RSS sampled over that span alone.
//
// Scan-all walks every artifact in the registry, not only these: also the scan-one images
// (their inventories are stored, so they are quick) and the vulnerability database bundle,
// which is not an image: Berth counts it as "Skipped", not as a failure (scanOne in
// internal/scan/scanall.go), so failures are everything that is neither Success nor
// Skipped. Against a fresh Berth (bench/scan.sh) every artifact is this run's, so any failure
// is an error. Then every image pushed here must have a successful report with the expected
// summary, read back through the artifact listing.
func scanAll(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "artifacts_per_s", Better: "higher"}
	pkgs := b.scanPkgs()
	want := expectedSummary(pkgs)
	n := b.cfg.ScanAllImages
	res.set("images", n)
	res.set("packages", len(pkgs))
	res.set("layer_kib", float64(b.cfg.ScanAllLayerSize)/1024)
	res.set("clients", b.cfg.ScanClients)
	if !b.ensureVulnDB(ctx) {
		res.set("artifacts_per_s", 0.0)
		return res
	}
	repo := b.repo("scanall")
	digests := make([]string, n)
	start := time.Now()
	b.forEach(ctx, n, b.cfg.ScanClients, func(w *worker, i int) {
		img, err := newScanImage(mix(b.cfg.Seed, 31, uint64(i)), pkgs, b.cfg.ScanAllLayerSize)
		if err != nil {
			b.errs.add("building scan-all image %d: %v", i, err)
			return
		}
		if w.pushImage(ctx, repo, fmt.Sprintf("i%04d", i), img) == nil {
			digests[i] = img.digest
		}
	})
	res.set("push_s", time.Since(start))

	w := b.newWorker()
	rss := startRSS(b.cfg.PID, 200*time.Millisecond)
	start = time.Now()
	body := []byte(`{"schedule":{"type":"Manual"}}`)
	h := b.apiHeader()
	h.Set("Content-Type", "application/json")
	var m struct {
		Total     int64          `json:"total"`
		Completed int64          `json:"completed"`
		Metrics   map[string]int `json:"metrics"`
		Ongoing   bool           `json:"ongoing"`
	}
	_, err := w.call(ctx, &Request{Method: http.MethodPost, URL: "/api/v2.0/system/scanAll/schedule", Header: h, Body: bytesBody(body), Size: int64(len(body))},
		0, []int{201}, nil)
	for err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			b.errs.add("scan-all did not end within -max-time: %d of %d done", m.Completed, m.Total)
			continue
		case <-time.After(scanAllPoll):
		}
		m.Metrics = nil
		if _, err = w.call(ctx, &Request{Method: http.MethodGet, URL: "/api/v2.0/scans/all/metrics", Header: b.apiHeader()}, 0, []int{200}, decodeJSON(&m)); err != nil {
			break
		}
		if !m.Ongoing {
			break
		}
	}
	elapsed := time.Since(start)
	peak := rss.finish()
	if err != nil {
		res.set("artifacts_per_s", 0.0)
		return res
	}
	failed := m.Completed - int64(m.Metrics["Success"]) - int64(m.Metrics["Skipped"])
	if m.Completed != m.Total {
		b.errs.add("scan-all ended with %d of %d artifacts done (metrics %v)", m.Completed, m.Total, m.Metrics)
	}
	if failed > 0 {
		b.errs.add("scan-all: %d artifacts not scanned successfully (metrics %v)", failed, m.Metrics)
	}
	res.set("artifacts", m.Total)
	res.set("scanned_ok", m.Metrics["Success"])
	res.set("skipped", m.Metrics["Skipped"])
	res.set("failed", failed)
	res.set("seconds", elapsed)
	res.set("artifacts_per_s", float64(m.Completed)/elapsed.Seconds())
	if b.cfg.PID > 0 {
		res.set("scan_peak_rss_mb", peak)
	}
	b.checkScanAll(ctx, w, repo, digests, want)
	b.setVulnDBFields(res)
	return res
}

// checkScanAll reads every artifact of repo with its scan overview (pages of 100) and counts
// an error for each pushed image without a successful report of the expected summary.
func (b *bench) checkScanAll(ctx context.Context, w *worker, repo string, digests []string, want vulnSummary) {
	seen := map[string]scanOverview{}
	maxPages := len(digests)/100 + 100
	for page := 1; page <= maxPages && ctx.Err() == nil; page++ {
		var arts []artifactJSON
		if _, err := w.call(ctx, &Request{Method: http.MethodGet, Header: b.apiHeader(),
			URL: fmt.Sprintf("%s?with_scan_overview=true&with_tag=false&page_size=100&page=%d", strings.TrimSuffix(b.artifactAPI(repo, ""), "/"), page)},
			0, []int{200}, decodeJSON(&arts)); err != nil {
			return
		}
		for _, a := range arts {
			if o, ok := a.vulnOverview(); ok {
				seen[a.Digest] = o
			}
		}
		if len(arts) < 100 {
			break
		}
	}
	for i, d := range digests {
		if d == "" {
			continue // its push failed, and was counted
		}
		o, ok := seen[d]
		switch {
		case !ok:
			b.errs.add("scan-all: %s:i%04d (%s) has no vulnerability report", repo, i, d)
		case o.Status != "Success":
			b.errs.add("scan-all: %s:i%04d ended %s", repo, i, o.Status)
		case o.Summary == nil || o.Summary.Total != want.Total || o.Summary.Fixable != want.Fixable || !sameCounts(o.Summary.Counts, want.Counts):
			b.errs.add("scan-all: %s:i%04d: summary %+v, want %+v", repo, i, o.Summary, want)
		}
	}
}
