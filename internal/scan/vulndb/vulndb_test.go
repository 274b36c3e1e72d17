package vulndb_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/scan/inventory"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

const fixtures = "testdata/osv"

// installed is an image's inventory touching every fixture record, and packages that must not
// match.
var installed = []inventory.Package{
	{Ecosystem: "Debian:12", Name: "libssl3", SourceName: "openssl", Version: "3.0.11-1~deb12u1", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12"},
	{Ecosystem: "Debian:12", Name: "openssl", Version: "3.0.11-1~deb12u1"},
	{Ecosystem: "Debian:12", Name: "zlib1g", SourceName: "zlib", Version: "1:1.2.13.dfsg-1"},
	{Ecosystem: "Debian:11", Name: "libssl1.1", SourceName: "openssl", Version: "1.1.1w-0+deb11u1"}, // fixed in Debian 11
	{Ecosystem: "Alpine:v3.19", Name: "busybox-binsh", SourceName: "busybox", Version: "1.36.1-r15"},
	{Ecosystem: "Go", Name: "stdlib", Version: "go1.22.1"},
	{Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.6.0"},
	{Ecosystem: "Go", Name: "github.com/example/limited", Version: "v1.4.9"},
	{Ecosystem: "Go", Name: "github.com/example/limited", Version: "v1.6.0"}, // beyond the limit
	{Ecosystem: "PyPI", Name: "Flask-Cors", Version: "4.0.0"},
	{Ecosystem: "PyPI", Name: "example_pkg", Version: "1.0.1"},
	{Ecosystem: "PyPI", Name: "example_pkg", Version: "1.0.2"}, // not listed
	{Ecosystem: "npm", Name: "semver", Version: "7.5.1"},
	{Ecosystem: "npm", Name: "semver", Version: "6.3.1"},      // fixed on its branch
	{Ecosystem: "npm", Name: "Semver", Version: "7.5.1"},      // npm names are case-sensitive
	{Ecosystem: "npm", Name: "left-pad", Version: "1.0.0"},    // only a withdrawn record
	{Ecosystem: "crates.io", Name: "shlex", Version: "1.2.0"}, // SEMVER range beside a GIT one
	{Ecosystem: "RubyGems", Name: "nokogiri", Version: "1.16.4"},
	{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1"},
	{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.12.2"}, // fixed on its branch
}

// match is what a test compares of a finding.
type match struct {
	ID, CVE, Package, Version, Fixed, Severity string
	Score                                      float64
}

var wantMatches = []match{
	{"GHSA-84pr-m4jr-85g5", "CVE-2024-1681", "Flask-Cors", "4.0.0", "4.0.1", "Medium", 5.3},
	{"ALPINE-CVE-2023-42363", "CVE-2023-42363", "busybox-binsh", "1.36.1-r15", "1.36.1-r16", "Medium", 5.5},
	{"PYSEC-2099-1", "", "example_pkg", "1.0.1", "", "Critical", 0},
	{"GO-2099-0001", "", "github.com/example/limited", "v1.4.9", "", "Unknown", 0},
	{"GO-2023-1571", "CVE-2022-41723", "golang.org/x/net", "v0.6.0", "0.7.0", "Unknown", 0},
	{"GO-2024-2687", "CVE-2023-45288", "golang.org/x/net", "v0.6.0", "0.23.0", "Unknown", 0},
	{"DSA-5532-1", "CVE-2023-5363", "libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "Unknown", 0},
	{"GHSA-r95h-9x8f-r3f7", "", "nokogiri", "1.16.4", "1.16.5", "Medium", 0},
	{"DSA-5532-1", "CVE-2023-5363", "openssl", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "Unknown", 0},
	{"GHSA-jfh8-c2jp-5v3q", "CVE-2021-44228", "org.apache.logging.log4j:log4j-core", "2.14.1", "2.15.0", "Critical", 10.0},
	{"GHSA-c2qf-rxjj-qqgw", "CVE-2022-25883", "semver", "7.5.1", "7.5.2", "High", 7.5},
	{"RUSTSEC-2024-0006", "", "shlex", "1.2.0", "1.3.0", "Critical", 9.8},
	{"GO-2024-2687", "CVE-2023-45288", "stdlib", "go1.22.1", "1.22.2", "Unknown", 0},
	{"DEBIAN-CVE-2023-45853", "CVE-2023-45853", "zlib1g", "1:1.2.13.dfsg-1", "", "Negligible", 0},
}

func matches(fs []vulndb.Finding) []match {
	out := []match{}
	for _, f := range fs {
		out = append(out, match{f.ID, f.CVE, f.Package.Name, f.Package.Version, f.FixedVersion, f.Severity, f.CVSSv3Score})
	}
	return out
}

func checkMatches(t *testing.T, d *vulndb.DB, wantGen int64) []vulndb.Finding {
	t.Helper()
	set, err := d.MatchSet(context.Background(), installed)
	if err != nil {
		t.Fatal(err)
	}
	if set.Generation != wantGen {
		t.Fatalf("matched generation %d, want %d", set.Generation, wantGen)
	}
	if got := matches(set.Findings); !reflect.DeepEqual(got, wantMatches) {
		t.Fatalf("findings:\n%s\nwant:\n%s", dump(got), dump(wantMatches))
	}
	for _, f := range set.Findings {
		if f.Generation != wantGen {
			t.Fatalf("finding %s of generation %d, want %d", f.ID, f.Generation, wantGen)
		}
	}
	return set.Findings
}

func dump(ms []match) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString("  ")
		b.WriteString(strings.Join([]string{m.ID, m.CVE, m.Package, m.Version, m.Fixed, m.Severity}, " | "))
		b.WriteString("\n")
	}
	return b.String()
}

func TestImportDirectoryAndMatch(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		d := vulndb.New(db)
		if _, err := d.Match(ctx, installed); !errors.Is(err, vulndb.ErrNoDatabase) {
			t.Fatalf("match before any import: %v, want ErrNoDatabase", err)
		}
		rep, err := d.Import(ctx, []string{fixtures}, vulndb.ImportOptions{BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		wantEco := map[string]int{"Debian": 2, "Alpine": 2, "Go": 3, "PyPI": 2, "npm": 1, "crates.io": 1, "RubyGems": 1, "Maven": 1}
		if rep.Generation != 1 || rep.Replaced != 0 || rep.Records != 13 || rep.Affected != 17 || rep.Withdrawn != 1 ||
			rep.Malformed != 3 || rep.Duplicates != 0 || !reflect.DeepEqual(rep.Ecosystems, wantEco) {
			t.Fatalf("report %+v", rep)
		}
		src := rep.Sources[0]
		if src.Kind != "directory" || src.Files != 17 || src.Records != 13 || src.Size == 0 || len(src.SHA256) != 64 {
			t.Fatalf("source %+v", src)
		}
		var files []string
		for _, e := range rep.Errors {
			files = append(files, e.File)
		}
		sort.Strings(files)
		if !reflect.DeepEqual(files, []string{"broken/no-id.json", "broken/truncated.json", "broken/wrong-type.json"}) {
			t.Fatalf("malformed records reported: %+v", rep.Errors)
		}
		findings := checkMatches(t, d, 1)

		// One finding in full.
		var log4j vulndb.Finding
		for _, f := range findings {
			if f.ID == "GHSA-jfh8-c2jp-5v3q" {
				log4j = f
			}
		}
		want := vulndb.Finding{
			ID: "GHSA-jfh8-c2jp-5v3q", CVE: "CVE-2021-44228", Aliases: []string{"CVE-2021-44228"},
			Package:      installed[18],
			FixedVersion: "2.15.0", Severity: "Critical",
			CVSSv3Score: 10, CVSSv3Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
			Summary:     "Remote code injection in Log4j",
			Description: "Apache Log4j2 <=2.14.1 JNDI features used in configuration, log messages, and parameters do not protect against attacker controlled LDAP and other JNDI related endpoints.",
			Links:       []string{"https://nvd.nist.gov/vuln/detail/CVE-2021-44228", "https://logging.apache.org/log4j/2.x/security.html"},
			CWEIDs:      []string{"CWE-20", "CWE-400", "CWE-502", "CWE-917"},
			Generation:  1,
		}
		if !reflect.DeepEqual(log4j, want) {
			t.Fatalf("finding\n%+v\nwant\n%+v", log4j, want)
		}

		st, err := d.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Generation != 1 || st.Vulnerabilities != 13 || st.AffectedPackages != 17 || st.ImportedAt.IsZero() ||
			!reflect.DeepEqual(st.Ecosystems, wantEco) || len(st.Sources) != 1 || st.LastImport != nil {
			t.Fatalf("status %+v", st)
		}
		// Matching nothing still names the generation.
		set, err := d.MatchSet(ctx, []inventory.Package{{Ecosystem: "npm", Name: "left-pad", Version: "1.0.0"}})
		if err != nil || set.Generation != 1 || set.Findings == nil || len(set.Findings) != 0 {
			t.Fatalf("empty match: %+v, %v", set, err)
		}
	})
}

// zipOf writes the fixture files (or those for which keep is true) into a zip archive.
func zipOf(t *testing.T, path string, keep func(name string) bool) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(fixtures, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fixtures, p)
		if keep != nil && !keep(rel) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Store})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestImportZip(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		all := filepath.Join(t.TempDir(), "all.zip")
		zipOf(t, all, nil)
		d := vulndb.New(db)
		rep, err := d.Import(ctx, []string{all}, vulndb.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(all)
		sum := sha256.Sum256(data)
		src := rep.Sources[0]
		if src.Kind != "zip" || src.Name != "all.zip" || src.Size != int64(len(data)) || src.SHA256 != hex.EncodeToString(sum[:]) ||
			src.Files != 17 || src.Records != 13 || src.Malformed != 3 || src.Withdrawn != 1 {
			t.Fatalf("source %+v", src)
		}
		checkMatches(t, d, 1)
	})
}

// TestSecondImportReplacesFirst: the new generation answers, and the old one's rows are gone.
func TestSecondImportReplacesFirst(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		d := vulndb.New(db)
		var hooked []int64
		var mu sync.Mutex
		d.OnNewGeneration(func(_ context.Context, gen int64) {
			mu.Lock()
			hooked = append(hooked, gen)
			mu.Unlock()
		})
		if _, err := d.Import(ctx, []string{fixtures}, vulndb.ImportOptions{BatchSize: 3}); err != nil {
			t.Fatal(err)
		}
		// The second import repeats one record in two sources: the copy is a duplicate.
		dir := t.TempDir()
		goOnly := filepath.Join(dir, "Go.zip")
		zipOf(t, goOnly, func(name string) bool { return strings.HasPrefix(name, "GO-2023") })
		single := filepath.Join(fixtures, "GO-2023-1571.json")
		rep, err := d.Import(ctx, []string{goOnly, single}, vulndb.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Generation != 2 || rep.Replaced != 1 || rep.Records != 1 || rep.Duplicates != 1 || rep.Sources[1].Kind != "file" || rep.Sources[1].Duplicates != 1 {
			t.Fatalf("report %+v", rep)
		}
		fs, err := d.Match(ctx, installed)
		if err != nil {
			t.Fatal(err)
		}
		if got := matches(fs); !reflect.DeepEqual(got, []match{{"GO-2023-1571", "CVE-2022-41723", "golang.org/x/net", "v0.6.0", "0.7.0", "Unknown", 0}}) {
			t.Fatalf("findings after the second import:\n%s", dump(got))
		}
		for _, table := range []string{"vulndb_vulns", "vulndb_affected"} {
			var n int
			if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM "+table+" WHERE generation = $1", 1).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s still holds %d rows of generation 1 (%v)", table, n, err)
			}
		}
		old, err := db.VulnImport(ctx, 1)
		if err != nil || old.Status != meta.VulnImportReplaced || !old.Purged {
			t.Fatalf("generation 1: %+v, %v", old, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !reflect.DeepEqual(hooked, []int64{1, 2}) {
			t.Fatalf("OnNewGeneration saw %v, want [1 2]", hooked)
		}
	})
}

// TestFailedImportKeepsCurrent: imports that fail leave the previous generation answering and
// delete what they wrote.
func TestFailedImportKeepsCurrent(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		d := vulndb.New(db)
		if _, err := d.Import(ctx, []string{fixtures}, vulndb.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()

		// A truncated archive (a download cut short) is refused before anything is written.
		all := filepath.Join(dir, "all.zip")
		zipOf(t, all, nil)
		data, _ := os.ReadFile(all)
		truncated := filepath.Join(dir, "truncated.zip")
		os.WriteFile(truncated, data[:len(data)*2/3], 0o644)
		if _, err := d.Import(ctx, []string{fixtures, truncated}, vulndb.ImportOptions{}); err == nil || !strings.Contains(err.Error(), "not a readable zip archive") {
			t.Fatalf("truncated zip: %v", err)
		}

		// A corrupt entry half-way through an archive fails the import after batches were written.
		corrupt := filepath.Join(dir, "corrupt.zip")
		i := bytes.LastIndex(data, []byte(`"summary": "Remote code injection in Log4j"`))
		if i < 0 {
			t.Fatal("log4j record not found in the archive")
		}
		bad := bytes.Clone(data)
		bad[i+12] ^= 0x20 // stored uncompressed: the entry's checksum no longer matches
		os.WriteFile(corrupt, bad, 0o644)
		rep, err := d.Import(ctx, []string{fixtures, corrupt}, vulndb.ImportOptions{BatchSize: 2})
		if err == nil || !strings.Contains(err.Error(), "checksum") || rep.Generation == 0 {
			t.Fatalf("corrupt entry: %+v, %v", rep, err)
		}
		failed := rep.Generation
		for _, table := range []string{"vulndb_vulns", "vulndb_affected"} {
			var n int
			if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM "+table+" WHERE generation = $1", failed).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s keeps %d rows of the failed generation (%v)", table, n, err)
			}
		}

		// Nothing valid at all: refused, rather than an empty database.
		if _, err := d.Import(ctx, []string{filepath.Join(fixtures, "broken")}, vulndb.ImportOptions{}); err == nil || !strings.Contains(err.Error(), "no valid vulnerability records") {
			t.Fatalf("only malformed records: %v", err)
		}
		// A missing path.
		if _, err := d.Import(ctx, []string{filepath.Join(dir, "missing.zip")}, vulndb.ImportOptions{}); err == nil {
			t.Fatal("missing path imported")
		}

		checkMatches(t, d, 1)
		st, err := d.Status(ctx)
		if err != nil || st.Generation != 1 || st.LastImport == nil || st.LastImport.Status != meta.VulnImportFailed ||
			!strings.Contains(st.LastImport.Error, "no valid vulnerability records") {
			t.Fatalf("status %+v (last import %+v), %v", st, st.LastImport, err)
		}
	})
}

// TestConcurrentImports: a second import is refused while one runs, and an import that stopped
// making progress is taken for dead.
func TestConcurrentImports(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		gen, err := db.BeginVulnImport(ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d := vulndb.New(db)
		if _, err := d.Import(ctx, []string{fixtures}, vulndb.ImportOptions{}); !errors.Is(err, meta.ErrVulnImportRunning) {
			t.Fatalf("import beside a running one: %v", err)
		}
		if _, err := db.AddVulnBatch(ctx, gen, []meta.Vuln{{ID: "X-1"}}, []meta.VulnAffected{{VulnID: "X-1", Ecosystem: "npm", Name: "x", Ranges: "{}"}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		next, err := db.BeginVulnImport(ctx, time.Millisecond)
		if err != nil || next <= gen {
			t.Fatalf("begin after a stale import: %d, %v", next, err)
		}
		if _, err := db.AddVulnBatch(ctx, gen, []meta.Vuln{{ID: "X-2"}}, nil); !errors.Is(err, meta.ErrVulnImportAbandoned) {
			t.Fatalf("the stale import wrote on: %v", err)
		}
		if _, err := db.FinishVulnImport(ctx, gen, "{}"); !errors.Is(err, meta.ErrVulnImportAbandoned) {
			t.Fatalf("the stale import became current: %v", err)
		}
		if err := db.FailVulnImport(ctx, next, "test", "{}"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PurgeVulnGenerations(ctx, 1); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM vulndb_vulns").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rows left of failed imports (%v)", n, err)
		}
	})
}

// TestWatchSeesImportsElsewhere: a server learns of a generation another process imported.
func TestWatchSeesImportsElsewhere(t *testing.T) {
	t.Parallel()
	db := metatest.Open(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := vulndb.New(db)
	seen := make(chan int64, 4)
	server.OnNewGeneration(func(_ context.Context, gen int64) { seen <- gen })
	go server.Watch(ctx, 10*time.Millisecond)
	if _, err := vulndb.New(db).Import(ctx, []string{fixtures}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case gen := <-seen:
		if gen != 1 {
			t.Fatalf("hook called with generation %d, want 1", gen)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not report the new generation")
	}
	select {
	case gen := <-seen:
		t.Fatalf("hook called again with %d for an unchanged generation", gen)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestDependencies keeps the package off osv-scalibr's plugin lists (they pull in every
// extractor and detector): of scalibr, only the version comparators are wanted.
func TestDependencies(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"osv-scalibr/plugin/list", "osv-scalibr/extractor/filesystem/list", "osv-scalibr/detector", "osv-scalibr/enricher"} {
			if strings.Contains(dep, banned) {
				t.Errorf("vulndb depends on %s", dep)
			}
		}
	}
}
