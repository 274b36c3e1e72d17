package server

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/scan/vulndb"
)

// TestScanOSPackages scans images built from real package databases — a Debian 12 machine's
// dpkg status file, an Alpine 3.19 apk database and a Rocky Linux 9 SQLite rpm database —
// against OSV records written for the test (testdata/scan/osv, see its README). The findings
// must be exactly the pairs the records aim at: Debian advisories name source packages and
// reach every binary built from them, Alpine ones name origins, Rocky ones binary packages;
// advisories of another release do not apply; versions compare with epochs, Debian
// revisions and '~' (Debian against source versions), apk -r releases and _git suffixes, RPM
// releases.
func TestScanOSPackages(t *testing.T) {
	t.Parallel()
	status := gunzipFile(t, filepath.Join("testdata", "scan", "dpkg-status.gz"))
	inv := filepath.Join("..", "scan", "inventory", "testdata")
	read := func(path string) []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	glibc := []string{"libc-bin", "libc-dev-bin", "libc-devtools", "libc-l10n", "libc6", "libc6-dbg", "libc6-dev", "locales"}
	openssl := []string{"libssl-dev", "libssl3", "openssl"}
	images := []struct {
		repo  string
		files map[string][]byte
		want  []string // "osv id package version"
	}{
		{
			repo: "library/debian-machine",
			files: map[string][]byte{
				"etc/os-release":      read(filepath.Join(inv, "debian", "os-release")),
				"var/lib/dpkg/status": status,
			},
			want: slices.Concat(
				findings("TEST-DEB-1", "3.0.19-1~deb12u2", openssl...), // fixed in the next security update
				findings("TEST-DEB-3", "3.0.19-1~deb12u2", openssl...), // '~' sorts before the release it is a pre-release of
				findings("TEST-DEB-5", "1:2.39.5-0+deb12u3", "git", "git-man"),
				findings("TEST-DEB-6", "2.36-9+deb12u14", glibc...), // introduced after 0, fixed later
				// Compared by source version: gcc-defaults 1.203 builds cpp, gcc and g++
				// 4:12.2.0-3, whose own versions are far above the fix.
				findings("TEST-DEB-10", "4:12.2.0-3", "cpp", "g++", "gcc"),
				// TEST-DEB-2: fixed in the installed version; TEST-DEB-4: fixed in a higher
				// upstream version of epoch 0, below the installed epoch 1; TEST-DEB-7 names a
				// binary package; TEST-DEB-8 is Debian 11's; TEST-DEB-9 fixed at the installed
				// revision.
			),
		},
		{
			repo: "library/alpine",
			files: map[string][]byte{
				"etc/os-release":       read(filepath.Join(inv, "alpine", "os-release")),
				"lib/apk/db/installed": read(filepath.Join(inv, "alpine", "installed")),
			},
			want: slices.Concat(
				findings("TEST-ALPINE-1", "3.1.4-r5", "libcrypto3", "libssl3"), // the origin's binaries
				findings("TEST-ALPINE-5", "1.2.4_git20230717-r4", "musl"),
				// TEST-ALPINE-2: fixed in -r5; TEST-ALPINE-3 names a binary package;
				// TEST-ALPINE-4: 1.2.4_git… is after 1.2.4; TEST-ALPINE-6 is Alpine 3.18's.
			),
		},
		{
			repo: "library/rocky",
			files: map[string][]byte{
				"etc/os-release":           read(filepath.Join(inv, "rocky", "os-release")),
				"var/lib/rpm/rpmdb.sqlite": read(filepath.Join(inv, "rocky", "rpmdb.sqlite")),
			},
			want: slices.Concat(
				findings("TEST-ROCKY-1", "1:3.0.7-6.el9_2", "openssl-libs"),
				findings("TEST-ROCKY-4", "1.0.8-8.el9", "bzip2-libs"), // release 8 < 10
				// TEST-ROCKY-2: 3.0.8 has epoch 0, below the installed epoch 1; TEST-ROCKY-3:
				// fixed in the installed version; TEST-ROCKY-5 names the openssl binary package,
				// which is not installed.
			),
		},
	}
	records, err := filepath.Glob(filepath.Join("testdata", "scan", "osv", "*.json"))
	if err != nil || len(records) == 0 {
		t.Fatalf("no OSV records: %v", err)
	}

	forEachDialect(t, func(t *testing.T, ts *testServer) {
		if _, err := ts.srv.scan.VulnDB.Import(context.Background(), []string{filepath.Join("testdata", "scan", "osv")}, vulndb.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, img := range images {
			layer := tarGz(t, img.files)
			cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"` + img.repo + `"}`)
			m := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
				Config: &tDescriptor{MediaType: mtOCIConfig, Digest: ts.pushBlob(t, img.repo, cfg), Size: int64(len(cfg))},
				Layers: []tDescriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: ts.pushBlob(t, img.repo, layer), Size: int64(len(layer))}}}
			ts.pushManifest(t, img.repo, "v1", mtOCIManifest, mustJSON(t, m))
			project, repo, _ := strings.Cut(img.repo, "/")
			base := "/api/v2.0/projects/" + project + "/repositories/" + repo + "/artifacts/v1"
			expectStatus(t, ts.do(t, http.MethodPost, base+"/scan", nil, nil), http.StatusAccepted)
			if o := ts.waitScan(t, project, repo, "v1"); o.Status != "Success" {
				t.Fatalf("%s: scan: %+v", img.repo, o)
			}
			var reports map[string]struct {
				Vulnerabilities []struct {
					ID               string         `json:"id"`
					Package          string         `json:"package"`
					Version          string         `json:"version"`
					VendorAttributes map[string]any `json:"vendor_attributes"`
				} `json:"vulnerabilities"`
			}
			if err := json.Unmarshal(respBody(t, ts.do(t, http.MethodGet, base+"/additions/vulnerabilities", nil, nil)), &reports); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, v := range reports[mimeGeneric].Vulnerabilities {
				osvID, _ := v.VendorAttributes["osv_id"].(string)
				got = append(got, osvID+" "+v.Package+" "+v.Version)
				if want := "CVE-2099-" + osvSerial(osvID); v.ID != want {
					t.Errorf("%s: %s shown as %s, want its CVE alias %s", img.repo, osvID, v.ID, want)
				}
			}
			sort.Strings(got)
			want := slices.Clone(img.want)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s findings:\n got  %q\n want %q", img.repo, got, want)
			}
		}
	})
}

// findings are the "osv-id package version" lines a record yields for packages of one version.
func findings(id, version string, pkgs ...string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = id + " " + p + " " + version
	}
	return out
}

// osvSerial maps a test record's id to its alias number: TEST-DEB-n → 100n, TEST-ALPINE-n →
// 200n, TEST-ROCKY-n → 300n.
func osvSerial(id string) string {
	kind, n, _ := strings.Cut(strings.TrimPrefix(id, "TEST-"), "-")
	return map[string]string{"DEB": "100", "ALPINE": "200", "ROCKY": "300"}[kind] + n
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tarGz is a gzip-compressed layer holding the files, written in name order.
func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
