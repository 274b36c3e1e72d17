package inventory

// SBOM documents of an Inventory: SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/)
// and CycloneDX 1.6 JSON (https://cyclonedx.org/docs/1.6/json/). Both are deterministic: the
// same inventory and subject give the same bytes, identifiers and document namespace
// included, so an SBOM can be regenerated or compared without spurious differences.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/osv-scalibr/purl"
)

// Media types of the SBOM documents.
const (
	SPDXMediaType      = "application/spdx+json"
	CycloneDXMediaType = "application/vnd.cyclonedx+json"
)

// SBOMSubject names the artifact an SBOM describes.
type SBOMSubject struct {
	// Repository is the repository name, with the registry host if the SBOM leaves the
	// registry ("registry.example.com/team/app").
	Repository string
	Digest     string    // manifest digest, "sha256:…"
	Tag        string    // optional
	Created    time.Time // when the inventory was taken
	// Tool names the creator, with its version ("berth-1.4.0"); "berth" if empty.
	Tool string
}

func (s SBOMSubject) validate() error {
	var missing []string
	if s.Repository == "" {
		missing = append(missing, "Repository")
	}
	if s.Digest == "" {
		missing = append(missing, "Digest")
	}
	if s.Created.IsZero() {
		missing = append(missing, "Created")
	}
	if len(missing) > 0 {
		return fmt.Errorf("sbom subject: %s required", strings.Join(missing, ", "))
	}
	return nil
}

func (s SBOMSubject) tool() string {
	if s.Tool == "" {
		return "berth"
	}
	return s.Tool
}

// imagePURL is the package URL of the image (pkg:oci, purl-spec PURL-TYPES.rst).
func (s SBOMSubject) imagePURL() string {
	q := map[string]string{"repository_url": s.Repository}
	if s.Tag != "" {
		q["tag"] = s.Tag
	}
	return purl.PackageURL{
		Type:       "oci",
		Name:       strings.ToLower(path.Base(s.Repository)),
		Version:    s.Digest,
		Qualifiers: purl.QualifiersFromMap(q),
	}.String()
}

// documentID is a UUID (version 8, RFC 9562: custom) derived from the subject and what
// the document lists, standing in for the random UUID the formats suggest, for determinism.
func documentID(os OS, pkgs []Package, s SBOMSubject) (string, error) {
	body, err := json.Marshal(struct {
		OS       OS
		Packages []Package
		Subject  SBOMSubject
	}{os, pkgs, s})
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(body)
	h[6] = h[6]&0x0f | 0x80 // version 8
	h[8] = h[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32], nil
}

// packageIDs gives each package of inv a short, stable identifier derived from what it
// is and where it was found, unique within the document.
func packageIDs(pkgs []Package) []string {
	ids := make([]string, len(pkgs))
	seen := map[string]int{}
	for i, p := range pkgs {
		h := sha256.Sum256([]byte(strings.Join([]string{p.Ecosystem, p.Name, p.SourceName, p.Version, p.PURL, strings.Join(p.Locations, ",")}, "\x00")))
		id := hex.EncodeToString(h[:8])
		if n := seen[id]; n > 0 {
			id = fmt.Sprintf("%s-%d", id, n)
		}
		seen[id]++
		ids[i] = id
	}
	return ids
}

// sortedPackages returns inv's packages in the order Extract gives them, whatever order
// the caller's (stored, decoded) inventory has.
func sortedPackages(inv Inventory) []Package {
	pkgs := slices.Clone(inv.Packages)
	slices.SortStableFunc(pkgs, comparePackages)
	return pkgs
}

func sourceInfo(p Package) string {
	s := "found at " + strings.Join(p.Locations, ", ")
	if p.Layer != "" {
		s += " (layer " + p.Layer + ")"
	}
	return s
}

// SPDX 2.3 JSON, written with the fields Berth fills (the schema's names).
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
	ExtractedLicenses []spdxExtracted    `json:"hasExtractedLicensingInfos,omitempty"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID                string            `json:"SPDXID"`
	Name                  string            `json:"name"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	LicenseConcluded      string            `json:"licenseConcluded"`
	LicenseDeclared       string            `json:"licenseDeclared"`
	CopyrightText         string            `json:"copyrightText"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	Summary               string            `json:"summary,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

type spdxExtracted struct {
	LicenseID     string `json:"licenseId"`
	ExtractedText string `json:"extractedText"`
	Name          string `json:"name"`
}

const (
	spdxNoAssertion = "NOASSERTION"
	spdxDocumentID  = "SPDXRef-DOCUMENT"
	spdxImageID     = "SPDXRef-Image"
	spdxOSID        = "SPDXRef-OperatingSystem"
	// spdxNamespaceBase prefixes document namespaces: a URI in Berth's name that need not
	// resolve, as SPDX allows ("http://[CreatorWebsite]/[pathToSpdx]/[DocumentName]-[UUID]").
	spdxNamespaceBase = "https://github.com/berthreg/berth/spdx/"
)

// SPDX renders inv as an SPDX 2.3 JSON document (SPDXMediaType): the image as the described
// package, the operating system and every installed package as packages it CONTAINS, each
// with its package URL as a PACKAGE-MANAGER purl reference.
func SPDX(inv Inventory, subject SBOMSubject) ([]byte, error) {
	if err := subject.validate(); err != nil {
		return nil, err
	}
	pkgs := sortedPackages(inv)
	uuid, err := documentID(inv.OS, pkgs, subject)
	if err != nil {
		return nil, err
	}
	name := subject.Repository + "@" + subject.Digest
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            spdxDocumentID,
		Name:              name,
		DocumentNamespace: spdxNamespaceBase + escapePath(subject.Repository) + "-" + uuid,
		CreationInfo: spdxCreationInfo{
			Created:  subject.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: " + subject.tool()},
		},
	}
	image := spdxPackage{
		SPDXID:                spdxImageID,
		Name:                  subject.Repository,
		VersionInfo:           subject.Digest,
		DownloadLocation:      spdxNoAssertion,
		LicenseConcluded:      spdxNoAssertion,
		LicenseDeclared:       spdxNoAssertion,
		CopyrightText:         spdxNoAssertion,
		PrimaryPackagePurpose: "CONTAINER",
		ExternalRefs:          []spdxExternalRef{{"PACKAGE-MANAGER", "purl", subject.imagePURL()}},
	}
	if subject.Tag != "" {
		image.Summary = "tag " + subject.Tag
	}
	doc.Packages = append(doc.Packages, image)
	doc.Relationships = append(doc.Relationships, spdxRelationship{spdxDocumentID, "DESCRIBES", spdxImageID})
	if inv.OS.ID != "" {
		doc.Packages = append(doc.Packages, spdxPackage{
			SPDXID:           spdxOSID,
			Name:             inv.OS.ID,
			VersionInfo:      inv.OS.VersionID,
			DownloadLocation: spdxNoAssertion,
			LicenseConcluded: spdxNoAssertion,
			LicenseDeclared:  spdxNoAssertion,
			CopyrightText:    spdxNoAssertion,
			Summary:          inv.OS.PrettyName,
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{spdxImageID, "CONTAINS", spdxOSID})
	}

	refs := licenseRefs{}
	for i, id := range packageIDs(pkgs) {
		p := pkgs[i]
		sp := spdxPackage{
			SPDXID:           "SPDXRef-Package-" + id,
			Name:             p.Name,
			VersionInfo:      p.Version,
			DownloadLocation: spdxNoAssertion,
			LicenseConcluded: spdxNoAssertion,
			LicenseDeclared:  refs.expression(p.Licenses),
			CopyrightText:    spdxNoAssertion,
			SourceInfo:       sourceInfo(p),
		}
		if p.PURL != "" {
			sp.ExternalRefs = []spdxExternalRef{{"PACKAGE-MANAGER", "purl", p.PURL}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, spdxRelationship{spdxImageID, "CONTAINS", sp.SPDXID})
	}
	doc.ExtractedLicenses = refs.list()
	return marshalIndent(doc)
}

// licenseRefs collects the declared licenses that are not SPDX expressions, as
// LicenseRef identifiers with their text.
type licenseRefs map[string]string // identifier → text

// expression returns the SPDX expression of a package's declared licenses: each one as an
// SPDX expression if it is one, or as a LicenseRef, joined with AND; NOASSERTION if none.
func (r licenseRefs) expression(licenses []string) string {
	var parts []string
	for _, l := range licenses {
		e, ok := spdxExpression(l)
		if !ok {
			e = r.ref(l)
		} else if len(licenses) > 1 && strings.Contains(e, " OR ") {
			e = "(" + e + ")"
		}
		parts = append(parts, e)
	}
	if len(parts) == 0 {
		return spdxNoAssertion
	}
	return strings.Join(parts, " AND ")
}

// ref returns the LicenseRef for a license text: the text with the characters SPDX
// identifiers allow, and a hash suffix if another text already took that identifier.
func (r licenseRefs) ref(text string) string {
	var b strings.Builder
	b.WriteString("LicenseRef-")
	for _, c := range text {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b.WriteRune(c)
		} else if c == '+' {
			b.WriteString("-or-later")
		} else {
			b.WriteByte('-')
		}
	}
	id := b.String()
	if t, ok := r[id]; ok && t != text {
		h := sha256.Sum256([]byte(text))
		id += "-" + hex.EncodeToString(h[:4])
	}
	r[id] = text
	return id
}

func (r licenseRefs) list() []spdxExtracted {
	var out []spdxExtracted
	for id, text := range r {
		out = append(out, spdxExtracted{LicenseID: id, ExtractedText: text, Name: text})
	}
	slices.SortFunc(out, func(a, b spdxExtracted) int { return strings.Compare(a.LicenseID, b.LicenseID) })
	return out
}

// CycloneDX renders inv as a CycloneDX 1.6 JSON BOM (CycloneDXMediaType): the image as the
// metadata component, the operating system and every installed package as components,
// and the image depending on all of them. Berth's own fields are properties named
// "berth:ecosystem", "berth:source_name", "berth:layer" and "berth:location".
func CycloneDX(inv Inventory, subject SBOMSubject) ([]byte, error) {
	if err := subject.validate(); err != nil {
		return nil, err
	}
	pkgs := sortedPackages(inv)
	uuid, err := documentID(inv.OS, pkgs, subject)
	if err != nil {
		return nil, err
	}
	imageRef := subject.imagePURL()
	image := cdx.Component{
		BOMRef:     imageRef,
		Type:       cdx.ComponentTypeContainer,
		Name:       subject.Repository,
		Version:    subject.Digest,
		PackageURL: imageRef,
	}
	if subject.Tag != "" {
		image.Properties = &[]cdx.Property{{Name: "berth:tag", Value: subject.Tag}}
	}
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid
	bom.Metadata = &cdx.Metadata{
		Timestamp: subject.Created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication,
			Name: subject.tool(),
		}}},
		Component: &image,
	}

	var components []cdx.Component
	var refs []string
	if inv.OS.ID != "" {
		components = append(components, cdx.Component{
			BOMRef:      "os",
			Type:        cdx.ComponentTypeOS,
			Name:        inv.OS.ID,
			Version:     inv.OS.VersionID,
			Description: inv.OS.PrettyName,
		})
		refs = append(refs, "os")
	}
	for i, id := range packageIDs(pkgs) {
		p := pkgs[i]
		c := cdx.Component{
			BOMRef:     "pkg-" + id,
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Licenses:   cdxLicenses(p.Licenses),
		}
		var props []cdx.Property
		if p.Ecosystem != "" {
			props = append(props, cdx.Property{Name: "berth:ecosystem", Value: p.Ecosystem})
		}
		if p.SourceName != "" {
			props = append(props, cdx.Property{Name: "berth:source_name", Value: p.SourceName})
		}
		if p.Layer != "" {
			props = append(props, cdx.Property{Name: "berth:layer", Value: p.Layer})
		}
		for _, l := range p.Locations {
			props = append(props, cdx.Property{Name: "berth:location", Value: l})
		}
		if len(props) > 0 {
			c.Properties = &props
		}
		components = append(components, c)
		refs = append(refs, c.BOMRef)
	}
	bom.Components = &components
	deps := []cdx.Dependency{{Ref: imageRef, Dependencies: &refs}}
	bom.Dependencies = &deps

	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("encode cyclonedx: %w", err)
	}
	return buf.Bytes(), nil
}

// cdxLicenses writes declared licenses as CycloneDX allows: one SPDX expression, or a list
// of licenses each with a listed SPDX identifier or a name.
func cdxLicenses(licenses []string) *cdx.Licenses {
	if len(licenses) == 0 {
		return nil
	}
	var exprs []string
	for _, l := range licenses {
		e, ok := spdxExpression(l)
		if !ok {
			exprs = nil
			break
		}
		if len(licenses) > 1 && strings.Contains(e, " OR ") {
			e = "(" + e + ")"
		}
		exprs = append(exprs, e)
	}
	if len(exprs) > 0 {
		joined := strings.Join(exprs, " AND ")
		if id, ok := spdxLicenseID(joined); ok {
			return &cdx.Licenses{{License: &cdx.License{ID: id}}}
		}
		return &cdx.Licenses{{Expression: joined}}
	}
	out := cdx.Licenses{}
	for _, l := range licenses {
		if id, ok := spdxLicenseID(l); ok {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{ID: id}})
		} else {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{Name: l}})
		}
	}
	return &out
}

func marshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode spdx: %w", err)
	}
	return buf.Bytes(), nil
}

// escapePath escapes each element of a repository name for use in a URI path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
