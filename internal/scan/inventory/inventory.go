// Package inventory finds what is installed in an artifact: the operating system's packages
// and the language packages of its layers. The inventory is stored per artifact, served as an
// SBOM, and matched against the vulnerability database (internal/scan/vulndb) without
// reading the layers again.
//
// Extract applies an image's layers into a scratch directory and runs osv-scalibr's
// extractors over it; SPDX and CycloneDX render an Inventory as an SBOM. osv-scalibr stays
// behind this package: the rest of Berth sees only the types below.
package inventory

// OS identifies the distribution of an image (from /etc/os-release or /usr/lib/os-release).
type OS struct {
	ID         string `json:"id"`          // os-release ID: debian, ubuntu, alpine, rhel, …
	VersionID  string `json:"version_id"`  // os-release VERSION_ID: 12, 22.04, 3.19.1, …
	PrettyName string `json:"pretty_name"` // os-release PRETTY_NAME
}

// Package is one installed package.
type Package struct {
	// Ecosystem is the OSV ecosystem the vulnerability database files it under: "Debian:12",
	// "Ubuntu:22.04:LTS", "Alpine:v3.19", "Red Hat", "AlmaLinux:9", "Rocky Linux:9", "Go",
	// "npm", "PyPI", "crates.io", "RubyGems", "Maven". It is empty when OSV has no ecosystem
	// for the package (an opkg package, a distribution OSV does not cover).
	Ecosystem string `json:"ecosystem"`
	// Name as the ecosystem names it: a Debian binary package, an Alpine package, a Go
	// module path ("stdlib" for the Go toolchain), an npm name, a PyPI name as written,
	// "group:artifact" for Maven.
	Name string `json:"name"`
	// SourceName is the package it was built from when that differs from Name: the
	// Debian/Ubuntu source package, the Alpine origin (which their advisories name), the RPM
	// source name (shown only: the RPM family's advisories name binary packages). It is empty
	// when the source package has the binary package's name.
	SourceName string `json:"source_name,omitempty"`
	// SourceVersion is the version of the source package when that differs from Version: a
	// Debian/Ubuntu binary rebuilt on its own ("5.2.15-2+b8" from source "5.2.15-2"), or one
	// versioned apart from its source (cpp "4:12.2.0-3" from gcc-defaults "1.203"). Their
	// advisories are written against source versions.
	SourceVersion string `json:"source_version,omitempty"`
	// Version as the ecosystem writes it; RPM versions of the Red Hat family carry the epoch
	// ("1:3.0.7-24.el9") when it is not zero, Go versions have no "v" prefix.
	Version string `json:"version"`
	// PURL is the package URL (pkg:deb/debian/openssl@3.0.11-1?arch=amd64&distro=bookworm).
	PURL string `json:"purl"`
	// Licenses as the package declares them (SPDX expressions when known).
	Licenses []string `json:"licenses,omitempty"`
	// Locations are the absolute paths in the image where it was found (the package
	// database, the binary, the manifest file), sorted.
	Locations []string `json:"locations"`
	// Layer is the digest of the layer that last wrote the first location.
	Layer string `json:"layer,omitempty"`
}

// Problem is a file the inventory could not be read from: an extractor failed on it (a
// malformed package database, a broken package.json). The scan goes on without it, keeping
// whatever the extractor returned before the fault, so one bad manifest does not hide the
// rest of the image; the problem is recorded so that an incomplete inventory says so.
type Problem struct {
	Path      string `json:"path"`      // absolute path in the image
	Extractor string `json:"extractor"` // osv-scalibr extractor name, e.g. "os/dpkg"
	Message   string `json:"message"`
}

// Inventory is everything found in one artifact (one platform image).
type Inventory struct {
	OS       OS        `json:"os"`
	Packages []Package `json:"packages"`
	Problems []Problem `json:"problems,omitempty"`
}
