// Package adapter speaks Harbor's pluggable scanner API (spec v1.2, prefix /api/v1,
// shared/reference/scanner-adapter-openapi.yaml) in both directions: Client scans through an
// external adapter (Trivy's, or another Berth's) as a report.Engine, and Server serves any
// report.Engine — Berth's built-in scanner — as an adapter another Berth or a Harbor can
// register. Engines picks the engine for a scanner registration.
//
// This file holds what both sides share: the wire shapes, the MIME types of the adapter API's
// own messages, and registrations.
package adapter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/report"
)

// MIME types of the adapter API's messages (the reports' are in package report). Harbor sends
// the 1.0 versions; the 1.1 ones have the same shapes.
const (
	MimeMetadata10    = "application/vnd.scanner.adapter.metadata+json; version=1.0"
	MimeMetadata11    = "application/vnd.scanner.adapter.metadata+json; version=1.1"
	MimeScanRequest10 = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
	MimeScanResponse  = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
	MimeError         = "application/vnd.scanner.adapter.error+json; version=1.0"
)

// Capability types.
const (
	CapVulnerability = "vulnerability"
	CapSBOM          = "sbom"
)

// Ways Berth authenticates to an adapter (a registration's auth), as Harbor names them.
const (
	AuthNone   = ""
	AuthBasic  = "Basic"                    // access credential "user:password"
	AuthBearer = "Bearer"                   // access credential: the token
	AuthAPIKey = "X-ScannerAdapter-API-Key" // access credential: the key, sent in that header
)

// BuiltinURL is the URL of the built-in scanner's registration: Engines answers it with the
// built-in engine in this process, without HTTP. It is a URI, as the registration schema
// requires, that no HTTP client can reach.
const BuiltinURL = "builtin://berth"

// Registration is what it takes to reach an adapter.
type Registration struct {
	Name             string // for messages
	URL              string // base URL; the API is under URL + "/api/v1"
	Auth             string // AuthNone, AuthBasic, AuthBearer or AuthAPIKey
	AccessCredential string
	SkipCertVerify   bool
}

// RegistrationOf takes the connection settings of a stored registration.
func RegistrationOf(r meta.ScannerRegistration) Registration {
	return Registration{Name: r.Name, URL: r.URL, Auth: r.Auth, AccessCredential: r.AccessCredential, SkipCertVerify: r.SkipCertVerify}
}

// Builtin reports whether the registration is the built-in scanner's.
func (r Registration) Builtin() bool { return r.URL == BuiltinURL }

// Validate checks the settings of an external adapter (Harbor's Registration.Validate): an
// http or https URL with a host, a known auth type, and a credential when one is needed. The
// message names the field.
func (r Registration) Validate() error {
	u, err := url.Parse(r.URL)
	if err != nil {
		return errors.New("url: not a valid URL")
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("url %q: put credentials in auth and access_credential, not in the URL", u.Redacted())
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url %q: an http:// or https:// URL of the scanner adapter is required", r.URL)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("url %q: the adapter's base URL takes no query or fragment", r.URL)
	}
	switch r.Auth {
	case AuthNone:
		return nil
	case AuthBasic:
		if user, _, ok := strings.Cut(r.AccessCredential, ":"); !ok || user == "" {
			return fmt.Errorf("access_credential: auth %s needs user:password", r.Auth)
		}
	case AuthBearer, AuthAPIKey:
		if r.AccessCredential == "" {
			return fmt.Errorf("access_credential is required for auth type %s", r.Auth)
		}
	default:
		return fmt.Errorf("auth type %q is not supported: use %q, %q, %q or none", r.Auth, AuthBasic, AuthBearer, AuthAPIKey)
	}
	return nil
}

// NormalizeURL trims what does not change the adapter's address (a trailing slash), so one
// adapter is not registered twice under two spellings.
func NormalizeURL(s string) string { return strings.TrimRight(strings.TrimSpace(s), "/") }

// Engines gives each registration its engine: the built-in one for BuiltinURL, a Client for
// the others.
type Engines struct {
	// Builtin is Berth's own scanner; nil while it is not running.
	Builtin report.Engine
	// HTTPClient is the base client for adapters, made by internal/outbound; nil: outbound's
	// defaults.
	HTTPClient *http.Client
}

// Engine returns the engine that scans for the registration.
func (e *Engines) Engine(reg Registration) report.Engine {
	if reg.Builtin() {
		if e == nil || e.Builtin == nil {
			return unavailable{}
		}
		return e.Builtin
	}
	var hc *http.Client
	if e != nil {
		hc = e.HTTPClient
	}
	return NewClient(reg, hc)
}

// ErrBuiltinUnavailable is what the built-in registration's engine answers while no built-in
// scanner runs in this process.
var ErrBuiltinUnavailable = errors.New("the built-in scanner is not running in this Berth")

type unavailable struct{}

func (unavailable) Metadata(context.Context) (report.Metadata, error) {
	return report.Metadata{}, ErrBuiltinUnavailable
}

func (unavailable) Scan(context.Context, report.Request) (report.Result, error) {
	return report.Result{}, ErrBuiltinUnavailable
}

// The wire shapes of the adapter API.

type wireRegistry struct {
	URL           string `json:"url"`
	Authorization string `json:"authorization,omitempty"`
}

type scanRequest struct {
	Registry            wireRegistry        `json:"registry"`
	Artifact            report.Artifact     `json:"artifact"`
	EnabledCapabilities []enabledCapability `json:"enabled_capabilities,omitempty"`
}

type enabledCapability struct {
	Type              string          `json:"type"`
	ProducesMimeTypes []string        `json:"produces_mime_types,omitempty"`
	Parameters        *sbomParameters `json:"parameters,omitempty"`
}

type sbomParameters struct {
	SBOMMediaTypes []string `json:"sbom_media_types,omitempty"`
}

type scanResponse struct {
	ID string `json:"id"`
}

type errorResponse struct {
	Error struct {
		Message string `json:"message"`
	} `json:"error"`
}

type wireMetadata struct {
	Scanner      report.Scanner    `json:"scanner"`
	Capabilities []wireCapability  `json:"capabilities"`
	Properties   map[string]string `json:"properties,omitempty"`
}

type wireCapability struct {
	Type                 string         `json:"type,omitempty"`
	ConsumesMimeTypes    []string       `json:"consumes_mime_types"`
	ProducesMimeTypes    []string       `json:"produces_mime_types"`
	AdditionalAttributes map[string]any `json:"additional_attributes,omitempty"`
}

// sbomMediaTypes are the SBOM formats an engine's SBOM capability produces: report.Request
// lets the caller ask for either.
var sbomMediaTypes = []string{report.MediaSPDX, report.MediaCDX}

// capabilityOf returns the capability type a report MIME type belongs to ("" if none).
func capabilityOf(mime string) string {
	switch normMIME(mime) {
	case normMIME(report.MimeNative), normMIME(report.MimeGeneric), normMIME(report.MimeRaw):
		return CapVulnerability
	case normMIME(report.MimeSBOM):
		return CapSBOM
	}
	return ""
}

// normMIME makes MIME types comparable: lower case, no spaces ("a; version=1.0" and
// "a;version=1.0" are one type).
func normMIME(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// capType is a capability's type; the spec reads a missing one as "vulnerability".
func capType(t string) string {
	if t == "" {
		return CapVulnerability
	}
	return t
}

// MetadataCache remembers adapters' metadata, failures included, for a while: listings show
// each registration's health without calling every adapter every time (Harbor keeps it 30 s).
type MetadataCache struct {
	TTL time.Duration

	mu sync.Mutex
	m  map[Registration]cachedMetadata
}

type cachedMetadata struct {
	md      report.Metadata
	err     error
	expires time.Time
}

// Metadata returns e's metadata for reg, from the cache while it is fresh.
func (c *MetadataCache) Metadata(ctx context.Context, reg Registration, e report.Engine) (report.Metadata, error) {
	now := time.Now()
	c.mu.Lock()
	if v, ok := c.m[reg]; ok && now.Before(v.expires) {
		c.mu.Unlock()
		return v.md, v.err
	}
	c.mu.Unlock()
	md, err := e.Metadata(ctx)
	c.Put(reg, md, err)
	return md, err
}

// Put records a fresh answer (a live call made elsewhere).
func (c *MetadataCache) Put(reg Registration, md report.Metadata, err error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[Registration]cachedMetadata{}
	}
	for k, v := range c.m {
		if !now.Before(v.expires) {
			delete(c.m, k)
		}
	}
	c.m[reg] = cachedMetadata{md: md, err: err, expires: now.Add(c.TTL)}
}
