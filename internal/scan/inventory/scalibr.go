package inventory

// This file is the only place that knows osv-scalibr. It imports single extractors, never
// scalibr's root package or its plugin lists, which pull in every extractor and detector
// and hundreds of modules (TestNoHeavyweightImports keeps it so).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	javascriptmeta "github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemspec"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargolock"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/osrelease"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	scalibrlog "github.com/google/osv-scalibr/log"
	"github.com/google/osv-scalibr/purl"
	purlecosystem "github.com/google/osv-scalibr/purl/ecosystem"
	"github.com/ossf/osv-schema/bindings/go/osvconstants"
)

// wiredExtractor is an osv-scalibr filesystem extractor as Berth runs it.
type wiredExtractor struct {
	ex filesystem.Extractor
	// binary extractors read executables; a file only they want is kept only if it
	// carries one of binaryMarkers.
	binary bool
	// accept narrows the files the extractor is given beyond its FileRequired.
	accept func(path string) bool
	// size picks the size limit of the files it reads; nil is MaxFileBytes.
	size func(path string) sizeClass
	// check looks at a file before the extractor does (checks.go); nil: nothing to check
	// beyond its size.
	check check
}

// sizeClass is which size limit applies to a file.
type sizeClass int

const (
	anyFile  sizeClass = iota // MaxFileBytes
	database                  // MaxDatabaseBytes
	manifest                  // MaxManifestBytes
)

func always(c sizeClass) func(string) sizeClass { return func(string) sizeClass { return c } }

// pythonSize: eggs and wheels are archives (checkPython bounds what is read of them), the
// rest metadata files.
func pythonSize(path string) sizeClass {
	if strings.HasSuffix(path, ".egg") || strings.HasSuffix(path, ".whl") {
		return anyFile
	}
	return manifest
}

func (w wiredExtractor) wants(api filesystem.FileAPI) bool {
	return (w.accept == nil || w.accept(api.Path())) && w.ex.FileRequired(api)
}

// sizeLimit is the size limit of the file at path for this extractor, and its name.
func (w wiredExtractor) sizeLimit(l Limits, path string) (string, int64) {
	c := anyFile
	if w.size != nil {
		c = w.size(path)
	}
	switch c {
	case database:
		return "MaxDatabaseBytes", l.MaxDatabaseBytes
	case manifest:
		return "MaxManifestBytes", l.MaxManifestBytes
	}
	return "MaxFileBytes", l.MaxFileBytes
}

// wiredExtractors returns the extractors Berth runs, in a fixed order:
//
//	os/dpkg                 Debian, Ubuntu (var/lib/dpkg/status, distroless status.d/*)
//	os/apk                  Alpine (lib/apk/db/installed)
//	os/rpm                  Red Hat, AlmaLinux, Rocky Linux (BerkeleyDB, NDB and SQLite rpmdb),
//	                        read by Berth's own reader (rpmdb.go)
//	go/binary               Go modules and the toolchain ("stdlib") of Go executables
//	rust/cargoauditable     crates.io dependencies embedded by cargo-auditable
//	rust/cargolock          crates.io, Cargo.lock
//	javascript/packagejson  npm, package.json under node_modules
//	python/wheelegg         PyPI, *.dist-info/METADATA, *.egg-info, eggs and wheels
//	ruby/gemspec            RubyGems, *.gemspec
//
// Java archives are not read: scalibr's java/archive extractor imports its Maven resolution
// client (gRPC, deps.dev, Google auth), over a hundred packages this one does not need.
func wiredExtractors(lim Limits) ([]wiredExtractor, error) {
	setScalibrLogger()
	// Berth enforces its own size limits while writing the scratch directory (Limits), so
	// the extractors' own, which would pass over a large file silently, are lifted.
	cfg := &cpb.PluginConfig{MaxFileSizeBytes: math.MaxInt64}
	// rpm databases are read by Berth (rpmdb.go), for the files os/rpm reads.
	newRPM := func(cfg *cpb.PluginConfig) (filesystem.Extractor, error) {
		e, err := rpm.New(cfg)
		if err != nil {
			return nil, err
		}
		return rpmExtractor{Extractor: e, lim: lim}, nil
	}
	constructors := []struct {
		new func(*cpb.PluginConfig) (filesystem.Extractor, error)
		wiredExtractor
	}{
		{dpkg.New, wiredExtractor{size: always(database), check: checkParagraphs}},
		{apk.New, wiredExtractor{size: always(database), check: checkParagraphs}},
		{newRPM, wiredExtractor{}},
		{gobinary.New, wiredExtractor{binary: true, check: checkGoBinary}},
		{cargoauditable.New, wiredExtractor{binary: true, check: checkCargoAuditable}},
		{cargolock.New, wiredExtractor{size: always(manifest), check: checkTables}},
		// A package.json outside node_modules is the application's own manifest, not an
		// installed package.
		{packagejson.New, wiredExtractor{accept: inNodeModules, size: always(manifest)}},
		{wheelegg.New, wiredExtractor{size: pythonSize, check: checkPython}},
		{gemspec.New, wiredExtractor{size: always(manifest)}},
	}
	out := make([]wiredExtractor, 0, len(constructors))
	for _, c := range constructors {
		e, err := c.new(cfg)
		if err != nil {
			return nil, fmt.Errorf("create extractor: %w", err)
		}
		w := c.wiredExtractor
		w.ex = e
		out = append(out, w)
	}
	return out, nil
}

func inNodeModules(p string) bool {
	return strings.HasPrefix(p, "node_modules/") || strings.Contains(p, "/node_modules/")
}

// fileAPI is osv-scalibr's view of a file: a path relative to the image root and its
// FileInfo (from the archive header while applying layers, from disk afterwards).
type fileAPI struct {
	path string
	info fs.FileInfo
}

func (f fileAPI) Path() string               { return f.path }
func (f fileAPI) Stat() (fs.FileInfo, error) { return f.info, nil }

// inventory runs the extractors over the files kept in the scratch tree, each file checked
// first where its extractor would keep more than its size tells (checks.go).
func (a *applier) inventory(ctx context.Context) (Inventory, error) {
	fsys := a.t.fsys()
	inv := Inventory{Problems: a.problems}
	if m, err := osrelease.GetOSRelease(fsys); err == nil {
		inv.OS = OS{ID: m["ID"], VersionID: m["VERSION_ID"], PrettyName: m["PRETTY_NAME"]}
	}

	var found []Package
	for _, p := range a.t.files() {
		if err := ctx.Err(); err != nil {
			return Inventory{}, err
		}
		info, err := a.t.root.Lstat(p)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		api := fileAPI{path: p, info: info}
		for _, w := range a.ex {
			if !w.wants(api) {
				continue
			}
			problem := func(err error) {
				inv.Problems = append(inv.Problems, Problem{Path: "/" + p, Extractor: w.ex.Name(), Message: err.Error()})
			}
			if w.check != nil {
				n, err := a.check(ctx, w, p, info)
				var le *LimitError
				switch {
				case errors.As(err, &le) || ctx.Err() != nil:
					return Inventory{}, cmp.Or(ctx.Err(), err)
				case err != nil:
					problem(fmt.Errorf("not read: %w", err))
					continue
				}
				if err := a.countPackages(n, p); err != nil {
					return Inventory{}, err
				}
				a.packages -= n // counted again, exactly, below
			}
			pkgs, err := a.run(ctx, w.ex, fsys, p, info)
			if le := (*LimitError)(nil); errors.As(err, &le) {
				return Inventory{}, err
			}
			if err != nil {
				if ctx.Err() != nil {
					return Inventory{}, ctx.Err()
				}
				problem(err)
			}
			if err := a.countPackages(int64(len(pkgs)), p); err != nil {
				return Inventory{}, err
			}
			for _, sp := range pkgs {
				found = append(found, convert(sp, "/"+p))
			}
		}
	}
	inv.Packages = a.merge(found)
	slices.SortFunc(inv.Problems, func(x, y Problem) int {
		return cmp.Or(strings.Compare(x.Path, y.Path), strings.Compare(x.Extractor, y.Extractor), strings.Compare(x.Message, y.Message))
	})
	return inv, nil
}

// countPackages adds the n packages of the file at p to those of the image, within
// MaxFilePackages and MaxPackages.
func (a *applier) countPackages(n int64, p string) error {
	if max := a.lim.MaxFilePackages; max > 0 && n > max {
		return limitErr("MaxFilePackages", max, p, "holds more than %d packages", max)
	}
	a.packages += n
	if max := a.lim.MaxPackages; max > 0 && a.packages > max {
		return limitErr("MaxPackages", max, "", "the image holds more than %d packages", max)
	}
	return nil
}

// run runs one extractor on one file. A panic in the extractor (a parser meeting input it
// did not expect) becomes an error, so that a hostile image cannot take the scanner down.
func (a *applier) run(ctx context.Context, e filesystem.Extractor, fsys *treeFS, p string, info fs.FileInfo) (pkgs []*extractor.Package, err error) {
	f, err := a.t.root.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("extractor panicked: %v", r)
		}
	}()
	inv, err := e.Extract(ctx, &filesystem.ScanInput{FS: fsys, Path: p, Root: a.t.dir, Info: info, Reader: f})
	return inv.Packages, err
}

// convert maps an osv-scalibr package found at location to Berth's Package.
func convert(p *extractor.Package, location string) Package {
	name := p.Name
	var source, sourceVersion string
	switch m := p.Metadata.(type) {
	case *dpkgmeta.Metadata:
		name, source, sourceVersion = m.PackageName, m.SourceName, m.SourceVersion
	case *apkmeta.Metadata:
		source = m.OriginName
	case *rpmmeta.Metadata:
		source = srpmName(m.SourceRPM)
	}
	if m, ok := p.Metadata.(*javascriptmeta.JavascriptPackageJSONMetadata); ok && m.Source == "" {
		// An unset source would be written into the PURL as "?source=UNKNOWN".
		q, mm := *p, *m
		mm.Source = javascriptmeta.Unknown
		q.Metadata = &mm
		p = &q
	}
	if p.PURLType == purl.TypeGolang && p.Name == "go" && p.Metadata == nil {
		// OSV files vulnerabilities of the Go toolchain and standard library under "stdlib".
		q := *p
		q.Name = "stdlib"
		p, name = &q, "stdlib"
	}
	if source == name {
		source = ""
	}
	eco := ecosystem(p)
	version := p.Version
	if m, ok := p.Metadata.(*rpmmeta.Metadata); ok && m.Epoch > 0 && rhelFamily(eco) {
		// The Red Hat family's OSV records write versions with the epoch when it is not zero.
		version = strconv.Itoa(m.Epoch) + ":" + version
	}
	var purlStr string
	if u := p.PURL(); u != nil {
		purlStr = u.String()
	}
	var licenses []string
	for _, l := range p.Licenses {
		if l = strings.TrimSpace(l); l != "" {
			licenses = append(licenses, l)
		}
	}
	if sourceVersion == version {
		sourceVersion = ""
	}
	return Package{
		Ecosystem:     eco,
		Name:          name,
		SourceName:    source,
		SourceVersion: sourceVersion,
		Version:       version,
		PURL:          purlStr,
		Licenses:      licenses,
		Locations:     []string{location},
	}
}

// ecosystem returns the OSV ecosystem of p: osv-scalibr's mapping, with the Ubuntu LTS
// suffix, and the Red Hat and Rocky Linux names OSV's records use.
func ecosystem(p *extractor.Package) string {
	switch m := p.Metadata.(type) {
	case *dpkgmeta.Metadata:
		if m.OSID == "ubuntu" && m.OSVersionID != "" {
			// Ubuntu:<VERSION_ID>, plus ":LTS" for long-term releases: purl/ecosystem
			// knows the released ones, ubuntuLTS the rule for those to come.
			e := purlecosystem.FromPURL(&purl.PackageURL{
				Type:       purl.TypeDebian,
				Namespace:  "ubuntu",
				Qualifiers: purl.QualifiersFromMap(map[string]string{purl.Distro: m.OSVersionID}),
			}).String()
			if !strings.HasSuffix(e, ":LTS") && ubuntuLTS(m.OSVersionID) {
				e += ":LTS"
			}
			return e
		}
		// Debian:<major>, from VERSION_ID or the release's code name (testing has no
		// VERSION_ID).
		if e := purlecosystem.FromPURL(p.PURL()); !e.IsEmpty() {
			return e.String()
		}
	case *rpmmeta.Metadata:
		switch m.OSID {
		case "rhel":
			// "Red Hat:<major>": OSV files Red Hat records under "Red Hat:<CPE>"
			// (enterprise_linux:9::appstream), and the matcher picks those of this major.
			if major, _, _ := strings.Cut(m.OSVersionID, "."); major != "" {
				return string(osvconstants.EcosystemRedHat) + ":" + major
			}
			return string(osvconstants.EcosystemRedHat)
		case "rocky":
			major, _, _ := strings.Cut(m.OSVersionID, ".")
			if major == "" {
				return string(osvconstants.EcosystemRockyLinux)
			}
			return string(osvconstants.EcosystemRockyLinux) + ":" + major
		}
	}
	return p.Ecosystem().String()
}

// ubuntuLTS tells whether an Ubuntu VERSION_ID is a long-term support release: the April
// release of even years.
func ubuntuLTS(v string) bool {
	year, month, ok := strings.Cut(v, ".")
	y, err := strconv.Atoi(year)
	return ok && err == nil && month == "04" && y%2 == 0
}

func rhelFamily(ecosystem string) bool {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch osvconstants.Ecosystem(base) {
	case osvconstants.EcosystemRedHat, osvconstants.EcosystemAlmaLinux, osvconstants.EcosystemRockyLinux:
		return true
	}
	return false
}

// srpmName returns the package name of a source RPM file name
// (openssl-3.0.7-24.el9.src.rpm → openssl).
func srpmName(srpm string) string {
	s, ok := strings.CutSuffix(srpm, ".src.rpm")
	if !ok {
		if s, ok = strings.CutSuffix(srpm, ".nosrc.rpm"); !ok {
			return ""
		}
	}
	for range 2 { // drop -release, then -version
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}

// merge folds packages found at several locations (a Go module in two binaries, a
// dpkg package in status and status.d) into one, and sorts the result.
func (a *applier) merge(found []Package) []Package {
	type key struct{ eco, name, source, version, purl string }
	byKey := map[key]*Package{}
	var order []key
	for _, p := range found {
		k := key{p.Ecosystem, p.Name, p.SourceName, p.Version, p.PURL}
		if q, ok := byKey[k]; ok {
			q.Locations = append(q.Locations, p.Locations...)
			q.Licenses = append(q.Licenses, p.Licenses...)
			continue
		}
		byKey[k] = &p
		order = append(order, k)
	}
	out := make([]Package, 0, len(order))
	for _, k := range order {
		p := byKey[k]
		slices.Sort(p.Locations)
		p.Locations = slices.Compact(p.Locations)
		slices.Sort(p.Licenses)
		p.Licenses = slices.Compact(p.Licenses)
		if n, ok := a.t.nodes[strings.TrimPrefix(p.Locations[0], "/")]; ok && n.layer < len(a.layers) {
			p.Layer = a.layers[n.layer].Digest
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, comparePackages)
	return out
}

func comparePackages(x, y Package) int {
	return cmp.Or(
		strings.Compare(x.Ecosystem, y.Ecosystem),
		strings.Compare(x.Name, y.Name),
		strings.Compare(x.Version, y.Version),
		strings.Compare(x.SourceName, y.SourceName),
		strings.Compare(x.PURL, y.PURL),
		slices.Compare(x.Locations, y.Locations),
	)
}

var scalibrLoggerOnce sync.Once

// setScalibrLogger sends osv-scalibr's log lines (which go to the standard logger by
// default) to slog at debug level: what matters to an operator is returned as a Problem.
func setScalibrLogger() {
	scalibrLoggerOnce.Do(func() { scalibrlog.SetLogger(slogAdapter{}) })
}

type slogAdapter struct{}

func (slogAdapter) log(level, msg string) {
	slog.Debug(msg, "component", "osv-scalibr", "scalibr_level", level)
}
func (s slogAdapter) Errorf(format string, args ...any) { s.log("error", fmt.Sprintf(format, args...)) }
func (s slogAdapter) Error(args ...any)                 { s.log("error", fmt.Sprint(args...)) }
func (s slogAdapter) Warnf(format string, args ...any)  { s.log("warn", fmt.Sprintf(format, args...)) }
func (s slogAdapter) Warn(args ...any)                  { s.log("warn", fmt.Sprint(args...)) }
func (s slogAdapter) Infof(format string, args ...any)  { s.log("info", fmt.Sprintf(format, args...)) }
func (s slogAdapter) Info(args ...any)                  { s.log("info", fmt.Sprint(args...)) }
func (s slogAdapter) Debugf(format string, args ...any) { s.log("debug", fmt.Sprintf(format, args...)) }
func (s slogAdapter) Debug(args ...any)                 { s.log("debug", fmt.Sprint(args...)) }
