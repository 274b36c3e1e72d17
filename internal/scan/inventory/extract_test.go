package inventory

import (
	"context"
	"slices"
	"testing"
)

// want is what a test expects of one package; empty fields are not checked except
// SourceName, which is checked always.
type want struct {
	ecosystem, name, source, version, location string
}

func TestExtractFindsInstalledPackages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		layers  func(t *testing.T) []Layer
		os      OS
		want    []want
		missing []string // names that must not be reported
	}{
		{
			name: "debian dpkg status with source packages",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					dir("etc/"), reg("etc/os-release", "debian/os-release"),
					dir("var/lib/dpkg/"), reg("var/lib/dpkg/status", "debian/status"),
				)}
			},
			os: OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
			want: []want{
				{"Debian:12", "libc6", "glibc", "2.36-9+deb12u4", "/var/lib/dpkg/status"},
				{"Debian:12", "libssl3", "openssl", "3.0.11-1~deb12u2", "/var/lib/dpkg/status"},
				{"Debian:12", "zlib1g", "zlib", "1:1.2.13.dfsg-1", "/var/lib/dpkg/status"},
				{"Debian:12", "base-files", "", "12.4+deb12u5", "/var/lib/dpkg/status"},
			},
			missing: []string{"tzdata"}, // deinstall ok config-files
		},
		{
			name: "distroless status.d, os-release through a symbolic link",
			layers: func(t *testing.T) []Layer {
				return []Layer{blob(mtDocker, gzipped(t, tarball(t,
					symlink("etc/os-release", "../usr/lib/os-release"),
					reg("usr/lib/os-release", "distroless/os-release"),
					reg("var/lib/dpkg/status.d/libssl3", "distroless/status.d/libssl3"),
					reg("var/lib/dpkg/status.d/libssl3.md5sums", "distroless/status.d/libssl3.md5sums"),
					reg("var/lib/dpkg/status.d/tzdata", "distroless/status.d/tzdata"),
				)))}
			},
			os: OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
			want: []want{
				{"Debian:12", "libssl3", "openssl", "3.0.11-1~deb12u2", "/var/lib/dpkg/status.d/libssl3"},
				{"Debian:12", "tzdata", "", "2024a-0+deb12u1", "/var/lib/dpkg/status.d/tzdata"},
			},
		},
		{
			name: "ubuntu LTS",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					reg("etc/os-release", "ubuntu/os-release"),
					reg("var/lib/dpkg/status", "ubuntu/status"),
				)}
			},
			os: OS{ID: "ubuntu", VersionID: "22.04", PrettyName: "Ubuntu 22.04.4 LTS"},
			want: []want{
				{"Ubuntu:22.04:LTS", "libssl3", "openssl", "3.0.2-0ubuntu1.15", "/var/lib/dpkg/status"},
				{"Ubuntu:22.04:LTS", "bash", "", "5.1-6ubuntu1.1", "/var/lib/dpkg/status"},
			},
		},
		{
			name: "alpine apk database with origins, zstd layer",
			layers: func(t *testing.T) []Layer {
				return []Layer{blob(mtZstd, zstded(t, tarball(t,
					reg("etc/os-release", "alpine/os-release"),
					reg("lib/apk/db/installed", "alpine/installed"),
				)))}
			},
			os: OS{ID: "alpine", VersionID: "3.19.1", PrettyName: "Alpine Linux v3.19"},
			want: []want{
				{"Alpine:v3.19", "libssl3", "openssl", "3.1.4-r5", "/lib/apk/db/installed"},
				{"Alpine:v3.19", "libcrypto3", "openssl", "3.1.4-r5", "/lib/apk/db/installed"},
				{"Alpine:v3.19", "musl", "", "1.2.4_git20230717-r4", "/lib/apk/db/installed"},
				{"Alpine:v3.19", "zlib", "", "1.3.1-r0", "/lib/apk/db/installed"},
			},
		},
		{
			name: "rocky linux sqlite rpmdb with epochs",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					reg("etc/os-release", "rocky/os-release"),
					reg("var/lib/rpm/rpmdb.sqlite", "rocky/rpmdb.sqlite"),
				)}
			},
			os: OS{ID: "rocky", VersionID: "9.2", PrettyName: "Rocky Linux 9.2 (Blue Onyx)"},
			want: []want{
				{"Rocky Linux:9", "openssl-libs", "openssl", "1:3.0.7-6.el9_2", "/var/lib/rpm/rpmdb.sqlite"},
				{"Rocky Linux:9", "zlib", "", "1.2.11-39.el9", "/var/lib/rpm/rpmdb.sqlite"},
				{"Rocky Linux:9", "xz-libs", "xz", "5.2.5-8.el9_0", "/var/lib/rpm/rpmdb.sqlite"},
				{"Rocky Linux:9", "bzip2-libs", "bzip2", "1.0.8-8.el9", "/var/lib/rpm/rpmdb.sqlite"},
				{"Rocky Linux:9", "rocky-release", "", "9.2-1.4.el9", "/var/lib/rpm/rpmdb.sqlite"},
			},
		},
		{
			name: "red hat berkeley db rpmdb",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					reg("etc/os-release", "rhel/os-release"),
					reg("var/lib/rpm/Packages", "rhel/Packages"),
				)}
			},
			os: OS{ID: "rhel", VersionID: "9.3", PrettyName: "Red Hat Enterprise Linux 9.3 (Plow)"},
			want: []want{
				{"Red Hat:9", "hello", "", "1:0.0.1-rls", "/var/lib/rpm/Packages"},
			},
		},
		{
			name: "language packages in an uncompressed layer",
			layers: func(t *testing.T) []Layer {
				return []Layer{blob(mtTar, tarball(t,
					reg("usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA", "python/METADATA"),
					reg("app/package.json", "npm/app-package.json"),
					reg("app/node_modules/lodash/package.json", "npm/package.json"),
					reg("src/hello/Cargo.lock", "rust/Cargo.lock"),
					reg("usr/local/bundle/specifications/rake-13.0.6.gemspec", "ruby/rake-13.0.6.gemspec"),
				))}
			},
			want: []want{
				{"PyPI", "requests", "", "2.31.0", "/usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA"},
				{"npm", "lodash", "", "4.17.20", "/app/node_modules/lodash/package.json"},
				{"crates.io", "smallvec", "", "1.6.0", "/src/hello/Cargo.lock"},
				{"RubyGems", "rake", "", "13.0.6", "/usr/local/bundle/specifications/rake-13.0.6.gemspec"},
			},
			missing: []string{"my-service"}, // the application's own package.json
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim, clean := scratch(t, Limits{})
			layers := tt.layers(t)
			inv, err := Extract(context.Background(), layers, lim)
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			clean()
			if inv.OS != tt.os {
				t.Errorf("OS = %+v, want %+v", inv.OS, tt.os)
			}
			for _, w := range tt.want {
				p := pkgIn(t, inv, w.ecosystem, w.name)
				if p.SourceName != w.source || p.Version != w.version || !slices.Contains(p.Locations, w.location) {
					t.Errorf("%s: got source %q version %q locations %v, want %q %q %q", w.name, p.SourceName, p.Version, p.Locations, w.source, w.version, w.location)
				}
				if p.Layer != layers[len(layers)-1].Digest {
					t.Errorf("%s: Layer = %q, want %q", w.name, p.Layer, layers[len(layers)-1].Digest)
				}
				if p.PURL == "" {
					t.Errorf("%s: no PURL", w.name)
				}
			}
			for _, p := range inv.Packages {
				if slices.Contains(tt.missing, p.Name) {
					t.Errorf("%s reported: %+v", p.Name, p)
				}
			}
			if len(inv.Problems) > 0 {
				t.Errorf("problems: %+v", inv.Problems)
			}
			if !slices.IsSortedFunc(inv.Packages, comparePackages) {
				t.Errorf("packages not sorted: %s", describe(inv))
			}
		})
	}
}

func TestExtractPackageURLs(t *testing.T) {
	t.Parallel()
	lim, clean := scratch(t, Limits{})
	inv, err := Extract(context.Background(), []Layer{gzLayer(t,
		reg("etc/os-release", "debian/os-release"),
		reg("var/lib/dpkg/status", "debian/status"),
		reg("app/node_modules/lodash/package.json", "npm/package.json"),
	)}, lim)
	if err != nil {
		t.Fatal(err)
	}
	clean()
	for name, purl := range map[string]string{
		"libssl3": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=bookworm&source=openssl",
		"lodash":  "pkg:npm/lodash@4.17.20",
	} {
		var got string
		for _, p := range inv.Packages {
			if p.Name == name {
				got = p.PURL
			}
		}
		if got != purl {
			t.Errorf("%s: PURL = %q, want %q", name, got, purl)
		}
	}
}

func TestUbuntuLTS(t *testing.T) {
	t.Parallel()
	for v, lts := range map[string]bool{"22.04": true, "24.04": true, "30.04": true, "23.10": false, "23.04": false, "22.10": false, "": false} {
		if got := ubuntuLTS(v); got != lts {
			t.Errorf("ubuntuLTS(%q) = %v, want %v", v, got, lts)
		}
	}
}

func TestSourceRPMName(t *testing.T) {
	t.Parallel()
	for srpm, name := range map[string]string{
		"openssl-3.0.7-24.el9.src.rpm":            "openssl",
		"python-setuptools-53.0.0-12.el9.src.rpm": "python-setuptools",
		"hello-0.0.1-rls.nosrc.rpm":               "hello",
		"garbage":                                 "",
		"x-1.src.rpm":                             "",
	} {
		if got := srpmName(srpm); got != name {
			t.Errorf("srpmName(%q) = %q, want %q", srpm, got, name)
		}
	}
}

func TestMediaTypeDetectedWhenMissing(t *testing.T) {
	t.Parallel()
	tests := map[string]func(t *testing.T, b []byte) []byte{
		"tar":  func(t *testing.T, b []byte) []byte { return b },
		"gzip": func(t *testing.T, b []byte) []byte { return gzipped(t, b) },
		"zstd": func(t *testing.T, b []byte) []byte { return zstded(t, b) },
	}
	for name, compress := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lim, clean := scratch(t, Limits{})
			b := compress(t, tarball(t, reg("etc/os-release", "alpine/os-release"), reg("lib/apk/db/installed", "alpine/installed")))
			inv, err := Extract(context.Background(), []Layer{blob("", b)}, lim)
			if err != nil {
				t.Fatal(err)
			}
			clean()
			pkgIn(t, inv, "Alpine:v3.19", "musl")
		})
	}
}
