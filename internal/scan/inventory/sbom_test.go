package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var testSubject = SBOMSubject{
	Repository: "registry.example.com/team/app",
	Digest:     "sha256:0f5c4d1b7d0e0b5e2a1e0f3d4c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a2918070",
	Tag:        "1.4.0",
	Created:    time.Date(2024, 5, 1, 12, 30, 0, 0, time.FixedZone("CEST", 2*3600)),
	Tool:       "berth-test",
}

func testInventory() Inventory {
	return Inventory{
		OS: OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []Package{
			{Ecosystem: "Debian:12", Name: "libssl3", SourceName: "openssl", Version: "3.0.11-1~deb12u2",
				PURL:      "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=bookworm&source=openssl",
				Locations: []string{"/var/lib/dpkg/status"}, Layer: "sha256:aaaa"},
			{Ecosystem: "Go", Name: "stdlib", Version: "1.22.1", PURL: "pkg:golang/stdlib@1.22.1",
				Locations: []string{"/usr/local/bin/app", "/usr/local/bin/tool"}, Layer: "sha256:bbbb"},
			{Ecosystem: "npm", Name: "lodash", Version: "4.17.20", PURL: "pkg:npm/lodash@4.17.20", Licenses: []string{"MIT"},
				Locations: []string{"/app/node_modules/lodash/package.json"}, Layer: "sha256:bbbb"},
			{Ecosystem: "PyPI", Name: "requests", Version: "2.31.0", PURL: "pkg:pypi/requests@2.31.0", Licenses: []string{"Apache 2.0"},
				Locations: []string{"/usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA"}},
			{Ecosystem: "Alpine:v3.19", Name: "busybox", Version: "1.36.1-r15", PURL: "pkg:apk/alpine/busybox@1.36.1-r15",
				Licenses: []string{"GPL-2.0-only"}, Locations: []string{"/lib/apk/db/installed"}},
			{Ecosystem: "Red Hat", Name: "bash", Version: "5.1.8-6.el9", PURL: "pkg:rpm/redhat/bash@5.1.8-6.el9",
				Licenses: []string{"GPLv3+"}, Locations: []string{"/var/lib/rpm/rpmdb.sqlite"}},
			{Ecosystem: "crates.io", Name: "dual", Version: "1.0.0", PURL: "pkg:cargo/dual@1.0.0",
				Licenses: []string{"mit or apache-2.0", "BSD-3-Clause"}, Locations: []string{"/src/Cargo.lock"}},
		},
	}
}

// Fields of SPDX 2.3 JSON (spdx-schema 2.3: additionalProperties false), the part Berth
// may write, and what the schema requires.
var (
	spdxDocKeys = []string{"SPDXID", "annotations", "comment", "creationInfo", "dataLicense", "externalDocumentRefs",
		"hasExtractedLicensingInfos", "name", "revieweds", "spdxVersion", "documentNamespace", "documentDescribes",
		"packages", "files", "snippets", "relationships"}
	spdxDocRequired = []string{"SPDXID", "creationInfo", "dataLicense", "name", "spdxVersion"}
	spdxPkgKeys     = []string{"SPDXID", "annotations", "attributionTexts", "builtDate", "checksums", "comment",
		"copyrightText", "description", "downloadLocation", "externalRefs", "filesAnalyzed", "hasFiles", "homepage",
		"licenseComments", "licenseConcluded", "licenseDeclared", "licenseInfoFromFiles", "name", "originator",
		"packageFileName", "packageVerificationCode", "primaryPackagePurpose", "releaseDate", "sourceInfo", "summary",
		"supplier", "validUntilDate", "versionInfo"}
	spdxPkgRequired = []string{"SPDXID", "downloadLocation", "name"}
	spdxIDPattern   = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	licenseRefRe    = regexp.MustCompile(`LicenseRef-[A-Za-z0-9.-]+`)
)

func checkKeys(t *testing.T, what string, obj map[string]any, allowed, required []string) {
	t.Helper()
	for k := range obj {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s: property %q not in the SPDX 2.3 schema", what, k)
		}
	}
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s: required property %q missing", what, k)
		}
	}
}

func TestSPDXDocumentIsValid(t *testing.T) {
	t.Parallel()
	inv := testInventory()
	b, err := SPDX(inv, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "document", doc, spdxDocKeys, spdxDocRequired)
	if doc["spdxVersion"] != "SPDX-2.3" || doc["dataLicense"] != "CC0-1.0" || doc["SPDXID"] != "SPDXRef-DOCUMENT" {
		t.Errorf("header: %v %v %v", doc["spdxVersion"], doc["dataLicense"], doc["SPDXID"])
	}
	if ns, _ := doc["documentNamespace"].(string); !regexp.MustCompile(`^https://github\.com/berthreg/berth/spdx/registry\.example\.com/team/app-[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(ns) {
		t.Errorf("documentNamespace = %q", ns)
	}
	ci := doc["creationInfo"].(map[string]any)
	if ci["created"] != "2024-05-01T10:30:00Z" || !slices.Equal(toStrings(ci["creators"]), []string{"Tool: berth-test"}) {
		t.Errorf("creationInfo = %v", ci)
	}

	ids := map[string]map[string]any{"SPDXRef-DOCUMENT": doc}
	purls := map[string]bool{}
	for _, raw := range doc["packages"].([]any) {
		p := raw.(map[string]any)
		id, _ := p["SPDXID"].(string)
		checkKeys(t, "package "+id, p, spdxPkgKeys, spdxPkgRequired)
		if !spdxIDPattern.MatchString(id) {
			t.Errorf("SPDXID %q invalid", id)
		}
		if ids[id] != nil {
			t.Errorf("SPDXID %q repeated", id)
		}
		ids[id] = p
		if p["filesAnalyzed"] != false {
			t.Errorf("%s: filesAnalyzed must be false (no files, no verification code)", id)
		}
		for _, r := range toMaps(p["externalRefs"]) {
			if r["referenceCategory"] != "PACKAGE-MANAGER" || r["referenceType"] != "purl" || !strings.HasPrefix(r["referenceLocator"].(string), "pkg:") {
				t.Errorf("%s: external ref %v", id, r)
			}
			purls[r["referenceLocator"].(string)] = true
		}
	}
	if len(ids) != 1+1+1+len(inv.Packages) { // document, image, OS, packages
		t.Errorf("%d elements, want %d", len(ids), 3+len(inv.Packages))
	}
	for _, p := range inv.Packages {
		if !purls[p.PURL] {
			t.Errorf("no package with PURL %s", p.PURL)
		}
	}
	if img := ids["SPDXRef-Image"]; img == nil || img["primaryPackagePurpose"] != "CONTAINER" || img["versionInfo"] != testSubject.Digest {
		t.Errorf("image package = %v", img)
	}

	contains := 0
	for _, r := range toMaps(doc["relationships"]) {
		from, to, typ := r["spdxElementId"].(string), r["relatedSpdxElement"].(string), r["relationshipType"]
		if ids[from] == nil || ids[to] == nil {
			t.Errorf("relationship %v refers to an unknown element", r)
		}
		switch {
		case typ == "DESCRIBES" && from == "SPDXRef-DOCUMENT" && to == "SPDXRef-Image":
		case typ == "CONTAINS" && from == "SPDXRef-Image":
			contains++
		default:
			t.Errorf("unexpected relationship %v", r)
		}
	}
	if contains != len(inv.Packages)+1 {
		t.Errorf("%d CONTAINS relationships, want %d", contains, len(inv.Packages)+1)
	}

	// Declared licenses: SPDX expressions, with every LicenseRef defined in the document.
	defined := map[string]bool{}
	for _, e := range toMaps(doc["hasExtractedLicensingInfos"]) {
		defined[e["licenseId"].(string)] = e["extractedText"] != ""
	}
	declared := map[string]string{}
	for _, p := range ids {
		if l, ok := p["licenseDeclared"].(string); ok {
			declared[p["name"].(string)] = l
			for _, ref := range licenseRefRe.FindAllString(l, -1) {
				if !defined[ref] {
					t.Errorf("%s used but not defined", ref)
				}
			}
		}
	}
	for name, want := range map[string]string{
		"lodash":   "MIT",
		"libssl3":  "NOASSERTION",
		"busybox":  "GPL-2.0-only",
		"requests": "LicenseRef-Apache-2.0",
		"bash":     "LicenseRef-GPLv3-or-later",
		"dual":     "(MIT OR Apache-2.0) AND BSD-3-Clause",
	} {
		if declared[name] != want {
			t.Errorf("%s: licenseDeclared = %q, want %q", name, declared[name], want)
		}
	}
}

func toMaps(v any) []map[string]any {
	var out []map[string]any
	for _, x := range toSlice(v) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func toStrings(v any) []string {
	var out []string
	for _, x := range toSlice(v) {
		out = append(out, x.(string))
	}
	return out
}

func toSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// cyclonedxSchema compiles the CycloneDX 1.6 JSON schema from testdata (copied from
// github.com/CycloneDX/cyclonedx-go v0.12.0, see testdata/README.md).
func cyclonedxSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range []string{"bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"} {
		f, err := os.Open(filepath.Join("testdata", "cyclonedx", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource("http://cyclonedx.org/schema/"+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCycloneDXDocumentIsValid(t *testing.T) {
	t.Parallel()
	inv := testInventory()
	b, err := CycloneDX(inv, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := cyclonedxSchema(t).Validate(doc); err != nil {
		t.Fatalf("CycloneDX 1.6 schema: %v\n%s", err, b)
	}

	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("spec %v serial %q", bom.SpecVersion, bom.SerialNumber)
	}
	if m := bom.Metadata; m == nil || m.Component == nil || m.Component.Type != cdx.ComponentTypeContainer ||
		m.Component.Version != testSubject.Digest || m.Timestamp != "2024-05-01T10:30:00Z" {
		t.Errorf("metadata = %+v", bom.Metadata)
	}
	byPURL := map[string]cdx.Component{}
	for _, c := range *bom.Components {
		byPURL[c.PackageURL] = c
	}
	if len(*bom.Components) != len(inv.Packages)+1 {
		t.Errorf("%d components, want %d", len(*bom.Components), len(inv.Packages)+1)
	}
	ssl := byPURL[inv.Packages[0].PURL]
	props := map[string][]string{}
	for _, p := range *ssl.Properties {
		props[p.Name] = append(props[p.Name], p.Value)
	}
	if ssl.Name != "libssl3" || props["berth:ecosystem"][0] != "Debian:12" || props["berth:source_name"][0] != "openssl" ||
		props["berth:layer"][0] != "sha256:aaaa" || props["berth:location"][0] != "/var/lib/dpkg/status" {
		t.Errorf("libssl3 component = %+v, properties %v", ssl, props)
	}
	licenses := func(purl string) string {
		c := byPURL[purl]
		if c.Licenses == nil {
			return ""
		}
		var parts []string
		for _, l := range *c.Licenses {
			switch {
			case l.Expression != "":
				parts = append(parts, "expr:"+l.Expression)
			case l.License.ID != "":
				parts = append(parts, "id:"+l.License.ID)
			default:
				parts = append(parts, "name:"+l.License.Name)
			}
		}
		return strings.Join(parts, ",")
	}
	for purl, want := range map[string]string{
		"pkg:npm/lodash@4.17.20":          "id:MIT",
		"pkg:pypi/requests@2.31.0":        "name:Apache 2.0",
		"pkg:rpm/redhat/bash@5.1.8-6.el9": "name:GPLv3+",
		"pkg:cargo/dual@1.0.0":            "expr:(MIT OR Apache-2.0) AND BSD-3-Clause",
	} {
		if got := licenses(purl); got != want {
			t.Errorf("%s: licenses %q, want %q", purl, got, want)
		}
	}
	if deps := *bom.Dependencies; len(deps) != 1 || deps[0].Ref != bom.Metadata.Component.BOMRef || len(*deps[0].Dependencies) != len(inv.Packages)+1 {
		t.Errorf("dependencies = %+v", deps)
	}
}

func TestSBOMsAreDeterministic(t *testing.T) {
	t.Parallel()
	for name, render := range map[string]func(Inventory, SBOMSubject) ([]byte, error){"spdx": SPDX, "cyclonedx": CycloneDX} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			first, err := render(testInventory(), testSubject)
			if err != nil {
				t.Fatal(err)
			}
			shuffled := testInventory()
			slices.Reverse(shuffled.Packages)
			again, err := render(shuffled, testSubject)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, again) {
				t.Error("same inventory, different document")
			}
			other := testSubject
			other.Digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
			third, err := render(testInventory(), other)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(first, third) {
				t.Error("different subject, same document")
			}
		})
	}
}

func TestSBOMSubjectRequired(t *testing.T) {
	t.Parallel()
	for _, s := range []SBOMSubject{{}, {Repository: "a", Digest: "sha256:x"}, {Digest: "sha256:x", Created: time.Now()}} {
		if _, err := SPDX(testInventory(), s); err == nil {
			t.Errorf("SPDX(%+v) succeeded", s)
		}
		if _, err := CycloneDX(testInventory(), s); err == nil {
			t.Errorf("CycloneDX(%+v) succeeded", s)
		}
	}
}

// An inventory taken from layers renders as valid documents.
func TestSBOMOfExtractedInventory(t *testing.T) {
	t.Parallel()
	lim, clean := scratch(t, Limits{})
	inv, err := Extract(context.Background(), []Layer{gzLayer(t,
		reg("etc/os-release", "debian/os-release"),
		reg("var/lib/dpkg/status", "debian/status"),
		reg("app/node_modules/lodash/package.json", "npm/package.json"),
		reg("usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA", "python/METADATA"),
		reg("usr/local/bundle/specifications/rake-13.0.6.gemspec", "ruby/rake-13.0.6.gemspec"),
	)}, lim)
	if err != nil {
		t.Fatal(err)
	}
	clean()
	b, err := CycloneDX(inv, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := cyclonedxSchema(t).Validate(doc); err != nil {
		t.Fatalf("CycloneDX 1.6 schema: %v", err)
	}
	if _, err := SPDX(inv, testSubject); err != nil {
		t.Fatal(err)
	}
}

func TestSPDXExpressions(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"MIT":                                  "MIT",
		"mit":                                  "MIT",
		"  Apache-2.0 ":                        "Apache-2.0",
		"GPL-2.0-or-later OR MIT":              "GPL-2.0-or-later OR MIT",
		"(MIT OR Apache-2.0) AND BSD-3-Clause": "(MIT OR Apache-2.0) AND BSD-3-Clause",
		"(mit or apache-2.0)and bsd-3-clause":  "(MIT OR Apache-2.0) AND BSD-3-Clause",
		"(mit or apache-2.0) and bsd-3-clause": "(MIT OR Apache-2.0) AND BSD-3-Clause",
		"GPL-2.0+":                             "GPL-2.0+",
		"GPL-2.0-only WITH Classpath-exception-2.0": "GPL-2.0-only WITH Classpath-exception-2.0",
		"GPLv2+":            "",
		"Apache 2.0":        "",
		"MIT BSD":           "",
		"MIT AND":           "",
		"(MIT":              "",
		"MIT)":              "",
		"LicenseRef-custom": "",
		"MIT WITH MIT":      "",
		"":                  "",
	} {
		got, ok := spdxExpression(in)
		if want == "" && ok || want != "" && got != want {
			t.Errorf("spdxExpression(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
