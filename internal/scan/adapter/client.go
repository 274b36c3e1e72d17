package adapter

// The client side: a report.Engine that scans through an external adapter as Harbor's
// jobservice does (src/pkg/scan/rest/v1): GET /metadata, POST /scan, then GET
// /scan/{id}/report for each wanted report until it is ready. Every failure is an error whose
// text is fit for the scan log: it names the adapter and what went wrong, never a credential.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/outbound"
	"github.com/berthreg/berth/internal/scan/report"
)

// Client scans through one adapter. Its settings may be changed before the first call.
type Client struct {
	reg  Registration
	base string // the adapter's URL + "/api/v1"
	http *http.Client

	// FirstPoll is the wait between the accepted scan request and the first report poll
	// (Harbor: 2 s).
	FirstPoll time.Duration
	// Timeout bounds a whole scan, from the request to the last report (Harbor: 30 min).
	Timeout time.Duration
	// RequestTimeout bounds each HTTP call, its body included.
	RequestTimeout time.Duration
	// MaxResponse bounds each answer's body, reports included.
	MaxResponse int64

	// minRefresh and maxRefresh clamp the adapter's Refresh-After (1 s … 60 s).
	minRefresh, maxRefresh time.Duration
}

// Defaults of a Client.
const (
	DefaultFirstPoll      = 2 * time.Second
	DefaultScanTimeout    = 30 * time.Minute
	DefaultRequestTimeout = time.Minute
	DefaultMaxResponse    = 64 << 20
	// defaultRefresh is the wait when a 302 has no usable Refresh-After (Harbor's default).
	defaultRefresh = 5 * time.Second
)

// NewClient returns an engine for the adapter at reg.URL. httpClient is the base client, made
// by internal/outbound (nil: outbound's defaults); the Client never follows redirects (a 302
// means "not ready yet") and honours reg.SkipCertVerify.
func NewClient(reg Registration, httpClient *http.Client) *Client {
	return &Client{
		reg:            reg,
		base:           NormalizeURL(reg.URL) + "/api/v1",
		http:           clientFor(httpClient, reg.SkipCertVerify),
		FirstPoll:      DefaultFirstPoll,
		Timeout:        DefaultScanTimeout,
		RequestTimeout: DefaultRequestTimeout,
		MaxResponse:    DefaultMaxResponse,
		minRefresh:     time.Second,
		maxRefresh:     time.Minute,
	}
}

// defaultClient and insecureClient are outbound's default clients, with and without
// certificate checks, shared by every Client made without a base client (one connection pool,
// not one per scan).
var (
	defaultClient  = sync.OnceValue(func() *http.Client { return outbound.NewClient(outbound.Options{}) })
	insecureClient = sync.OnceValue(func() *http.Client {
		return outbound.NewClient(outbound.Options{InsecureSkipVerify: true})
	})
)

func clientFor(base *http.Client, skipVerify bool) *http.Client {
	shared := defaultClient
	if skipVerify {
		shared = insecureClient
	}
	var c http.Client
	if base != nil {
		c = *base
	}
	switch tr := c.Transport.(type) {
	case nil:
		// Never http.DefaultTransport, which would reach any address.
		c.Transport = shared().Transport
	case *http.Transport:
		if skipVerify {
			tr = tr.Clone()
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the registration asks for it
			c.Transport = tr
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// errorf prefixes a failure with the adapter it concerns.
func (c *Client) errorf(format string, args ...any) error {
	name := c.reg.Name
	if name == "" {
		name = "scanner adapter"
	} else {
		name = "scanner " + strconv.Quote(name)
	}
	return fmt.Errorf("%s at %s: %w", name, NormalizeURL(c.reg.URL), fmt.Errorf(format, args...))
}

// Metadata asks the adapter what it is and what it scans (GET /metadata).
func (c *Client) Metadata(ctx context.Context) (report.Metadata, error) {
	var wm wireMetadata
	resp, body, err := c.call(ctx, http.MethodGet, "/metadata", MimeMetadata10, "", nil)
	if err != nil {
		return report.Metadata{}, err
	}
	if err := c.expect(resp, body, http.StatusOK, "GET /metadata"); err != nil {
		return report.Metadata{}, err
	}
	if err := c.decodeJSON(resp, body, "GET /metadata", &wm); err != nil {
		return report.Metadata{}, err
	}
	md := report.Metadata{Scanner: wm.Scanner, Properties: wm.Properties}
	if md.Scanner.Name == "" {
		return report.Metadata{}, c.errorf("GET /metadata: the answer names no scanner")
	}
	for _, wc := range wm.Capabilities {
		if len(wc.ProducesMimeTypes) == 0 {
			continue
		}
		md.Capabilities = append(md.Capabilities, report.Capability{Type: capType(wc.Type),
			ConsumesMimeTypes: wc.ConsumesMimeTypes, ProducesMimeTypes: wc.ProducesMimeTypes})
	}
	if len(md.Capabilities) == 0 {
		return report.Metadata{}, c.errorf("GET /metadata: the scanner lists no capability that produces reports")
	}
	return md, nil
}

// Scan asks the adapter for the reports of req.Want and waits for them. The adapter pulls the
// artifact itself, so req.Registry must be set.
func (c *Client) Scan(ctx context.Context, req report.Request) (report.Result, error) {
	res := report.Result{Reports: map[string][]byte{}}
	if req.Registry == "" {
		return res, c.errorf("an external scanner needs the registry URL to pull %s@%s from", req.Artifact.Repository, req.Artifact.Digest)
	}
	if len(req.Want) == 0 {
		return res, c.errorf("no report type asked for")
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()
	logf := func(format string, args ...any) {
		res.Log = append(res.Log, time.Now().UTC().Format(time.RFC3339)+" "+fmt.Sprintf(format, args...))
	}

	md, err := c.Metadata(ctx)
	if err != nil {
		return res, c.context(ctx, err, start)
	}
	logf("scanner %s %s by %s at %s", md.Scanner.Name, md.Scanner.Version, md.Scanner.Vendor, NormalizeURL(c.reg.URL))
	caps, err := c.capabilities(md, req)
	if err != nil {
		return res, err
	}

	body, err := json.Marshal(scanRequest{
		Registry:            wireRegistry{URL: req.Registry, Authorization: req.Authorization},
		Artifact:            req.Artifact,
		EnabledCapabilities: caps,
	})
	if err != nil {
		return res, err
	}
	resp, rb, err := c.call(ctx, http.MethodPost, "/scan", MimeScanResponse, MimeScanRequest10, body)
	if err != nil {
		return res, c.context(ctx, err, start)
	}
	if err := c.expect(resp, rb, http.StatusAccepted, "POST /scan"); err != nil {
		return res, err
	}
	var sr scanResponse
	if err := c.decodeJSON(resp, rb, "POST /scan", &sr); err != nil {
		return res, err
	}
	if sr.ID == "" {
		return res, c.errorf("POST /scan: the answer has no scan request id")
	}
	logf("scan request %s accepted for %s@%s", sr.ID, req.Artifact.Repository, req.Artifact.Digest)

	wait := c.FirstPoll
	for _, want := range req.Want {
		b, waited, err := c.poll(ctx, sr.ID, want, req.SBOMMediaType, wait)
		if err != nil {
			return res, c.context(ctx, err, start)
		}
		wait = 0
		res.Reports[want] = b
		logf("report %s ready (%d bytes) after %s", want, len(b), waited.Round(time.Millisecond))
	}
	return res, nil
}

// context turns an error caused by the scan's context ending into one that says so.
func (c *Client) context(ctx context.Context, err error, start time.Time) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return c.errorf("gave up after %s: %w", time.Since(start).Round(time.Second), context.DeadlineExceeded)
	case ctx.Err() != nil:
		return c.errorf("scan cancelled: %w", ctx.Err())
	}
	return err
}

// capabilities lists what to enable for the wanted reports, refusing reports the scanner
// does not produce.
func (c *Client) capabilities(md report.Metadata, req report.Request) ([]enabledCapability, error) {
	produces := map[string]bool{}
	for _, cp := range md.Capabilities {
		for _, m := range cp.ProducesMimeTypes {
			produces[normMIME(m)] = true
		}
	}
	var caps []enabledCapability
	add := func(typ, mime string) *enabledCapability {
		for i := range caps {
			if caps[i].Type == typ {
				caps[i].ProducesMimeTypes = append(caps[i].ProducesMimeTypes, mime)
				return &caps[i]
			}
		}
		caps = append(caps, enabledCapability{Type: typ, ProducesMimeTypes: []string{mime}})
		return &caps[len(caps)-1]
	}
	for _, want := range req.Want {
		typ := capabilityOf(want)
		if typ == "" {
			return nil, c.errorf("%q is not a report type of the scanner API", want)
		}
		if !produces[normMIME(want)] {
			return nil, c.errorf("the scanner does not produce %s reports", want)
		}
		cp := add(typ, want)
		if typ == CapSBOM {
			mt := sbomMediaType(req.SBOMMediaType)
			if !slices.Contains(sbomMediaTypes, mt) {
				return nil, c.errorf("SBOM format %q: use %s or %s", req.SBOMMediaType, report.MediaSPDX, report.MediaCDX)
			}
			cp.Parameters = &sbomParameters{SBOMMediaTypes: []string{mt}}
		}
	}
	return caps, nil
}

// sbomMediaType is the SBOM format asked for; SPDX when none is named (Harbor's choice).
func sbomMediaType(s string) string {
	if s == "" {
		return report.MediaSPDX
	}
	return s
}

// poll fetches one report, waiting first, then as long as the adapter answers 302, for its
// Refresh-After (clamped). It returns the report and how long it waited.
func (c *Client) poll(ctx context.Context, id, want, sbomType string, wait time.Duration) ([]byte, time.Duration, error) {
	path := "/scan/" + url.PathEscape(id) + "/report"
	if capabilityOf(want) == CapSBOM {
		path += "?sbom_media_type=" + url.QueryEscape(sbomMediaType(sbomType))
	}
	start := time.Now()
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, time.Since(start), ctx.Err()
			case <-t.C:
			}
		}
		resp, body, err := c.call(ctx, http.MethodGet, path, want, "", nil)
		if err != nil {
			return nil, time.Since(start), err
		}
		switch resp.StatusCode {
		case http.StatusFound:
			wait = c.refreshAfter(resp.Header.Get("Refresh-After"))
			continue
		case http.StatusNotFound:
			return nil, time.Since(start), c.errorf("GET %s: 404: the adapter does not know scan request %s (restarted, or the report expired)", path, id)
		}
		if err := c.expect(resp, body, http.StatusOK, "GET "+path); err != nil {
			return nil, time.Since(start), err
		}
		if err := c.checkReport(resp, body, want, sbomType); err != nil {
			return nil, time.Since(start), err
		}
		return body, time.Since(start), nil
	}
}

// refreshAfter reads Refresh-After (seconds) and clamps it.
func (c *Client) refreshAfter(v string) time.Duration {
	d := defaultRefresh
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(n) * time.Second
	}
	return min(max(d, c.minRefresh), c.maxRefresh)
}

// checkReport makes sure a report is what was asked for before anyone stores it.
func (c *Client) checkReport(resp *http.Response, body []byte, want, sbomType string) error {
	what := "the " + want + " report"
	raw := normMIME(want) == normMIME(report.MimeRaw)
	if ct := resp.Header.Get("Content-Type"); !raw && normMIME(ct) != normMIME(want) && !jsonType(ct) {
		return c.errorf("%s came as %s", what, describeType(ct))
	}
	switch {
	case raw:
		return nil // vendor-specific
	case normMIME(want) == normMIME(report.MimeSBOM):
		var r struct {
			MediaType string          `json:"media_type"`
			SBOM      json.RawMessage `json:"sbom"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return c.errorf("%s does not parse: %s", what, jsonProblem(err))
		}
		if len(r.SBOM) == 0 || string(r.SBOM) == "null" {
			return c.errorf("%s has no sbom", what)
		}
		if r.MediaType != "" && r.MediaType != sbomMediaType(sbomType) {
			return c.errorf("%s is in %s, not the %s asked for", what, r.MediaType, sbomMediaType(sbomType))
		}
	default:
		var r struct {
			Vulnerabilities []report.Vulnerability `json:"vulnerabilities"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return c.errorf("%s does not parse: %s", what, jsonProblem(err))
		}
	}
	return nil
}

// call sends one request to the adapter and reads the answer, bounded in time and size.
func (c *Client) call(ctx context.Context, method, path, accept, contentType string, body []byte) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, c.errorf("%s %s: %v", method, path, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the prefix already
		}
		return nil, nil, c.errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := outbound.ReadAll(resp.Body, c.MaxResponse)
	var tl *outbound.TooLargeError
	switch {
	case errors.As(err, &tl):
		return nil, nil, c.errorf("%s %s: %w", method, path, err)
	case err != nil:
		return nil, nil, c.errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return resp, b, nil
}

// authorize adds the registration's credentials (Harbor's pkg/scan/rest/auth).
func (c *Client) authorize(req *http.Request) {
	switch c.reg.Auth {
	case AuthBasic:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.reg.AccessCredential)))
	case AuthBearer:
		req.Header.Set("Authorization", "Bearer "+c.reg.AccessCredential)
	case AuthAPIKey:
		req.Header.Set(AuthAPIKey, c.reg.AccessCredential)
	}
}

// expect checks the status; any other is an error with the adapter's message when it sent
// the spec's error body.
func (c *Client) expect(resp *http.Response, body []byte, want int, what string) error {
	if resp.StatusCode == want {
		return nil
	}
	status := strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	var e errorResponse
	if jsonType(resp.Header.Get("Content-Type")) && json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return c.errorf("%s: %s: %s", what, status, oneLine(e.Error.Message, 500))
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return c.errorf("%s: %s: check the registration's auth and access_credential", what, status)
	}
	if len(body) == 0 {
		return c.errorf("%s: %s", what, status)
	}
	return c.errorf("%s: %s (%s answer, not the adapter API's error body)", what, status, describeType(resp.Header.Get("Content-Type")))
}

// decodeJSON decodes an answer the spec defines as JSON.
func (c *Client) decodeJSON(resp *http.Response, body []byte, what string, v any) error {
	ct := resp.Header.Get("Content-Type")
	if !jsonType(ct) {
		return c.errorf("%s: the answer is %s, not JSON: is %s a scanner adapter?", what, describeType(ct), NormalizeURL(c.reg.URL))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return c.errorf("%s: the answer does not parse: %s", what, jsonProblem(err))
	}
	return nil
}

// jsonType reports whether a Content-Type is JSON ("application/json", "…+json; version=1.0").
// An empty one is given the benefit of the doubt.
func jsonType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func describeType(ct string) string {
	if ct == "" {
		return "an untyped"
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return "a " + mt
	}
	return "a " + strconv.Quote(ct)
}

// jsonProblem says what is wrong with a JSON document, without quoting it.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se) && se.Error() == "unexpected end of JSON input":
		return "truncated JSON"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s is a JSON %s, not %s", fieldName(te.Field), te.Value, te.Type)
	}
	return err.Error()
}

func fieldName(f string) string {
	if f == "" {
		return "the document"
	}
	return f
}

// oneLine keeps an adapter's message to one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
