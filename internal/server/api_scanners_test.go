package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/adapter"
	"github.com/berthreg/berth/internal/scan/report"
)

// Scanner registrations (/scanners), the project's scanner, and Berth's built-in scanner served
// as a Harbor scanner adapter under /scanner.

type tScanner struct {
	UUID            string          `json:"uuid"`
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	URL             string          `json:"url"`
	Disabled        bool            `json:"disabled"`
	IsDefault       bool            `json:"is_default"`
	Auth            string          `json:"auth"`
	SkipCertVerify  bool            `json:"skip_certVerify"`
	UseInternalAddr bool            `json:"use_internal_addr"`
	Adapter         string          `json:"adapter"`
	Vendor          string          `json:"vendor"`
	Version         string          `json:"version"`
	Health          string          `json:"health"`
	Capabilities    map[string]bool `json:"capabilities"`
}

// scEngine is an external scanner's engine: metadata only (these tests do not scan through it).
type scEngine struct{ name string }

func (e scEngine) Metadata(context.Context) (report.Metadata, error) {
	return report.Metadata{Scanner: report.Scanner{Name: e.name, Vendor: "Aqua Security", Version: "0.50.0"},
		Capabilities: []report.Capability{{Type: "vulnerability", ConsumesMimeTypes: []string{report.MimeOCIImage},
			ProducesMimeTypes: []string{report.MimeGeneric}}}}, nil
}

func (e scEngine) Scan(context.Context, report.Request) (report.Result, error) {
	return report.Result{}, nil
}

// scAdapter starts a fake adapter that wants the Basic credential user:password.
func scAdapter(t *testing.T, name, user, password string) string {
	t.Helper()
	srv := adapter.NewServer(scEngine{name}, adapter.CredentialAuth(func(_ context.Context, u, p string) bool {
		return u == user && p == password
	}), nil)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs.URL
}

// scDeadURL is a URL nothing listens on.
func scDeadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return "http://" + l.Addr().String()
}

func (ts *testServer) scBuiltin(t *testing.T) meta.ScannerRegistration {
	t.Helper()
	r, err := ts.srv.db.EnsureBuiltinScanner(context.Background(), scan.BuiltinUUID, "Berth", adapter.BuiltinURL)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (ts *testServer) scList(t *testing.T, path string, auth http.Header) []tScanner {
	t.Helper()
	resp := ts.do(t, http.MethodGet, path, auth, nil)
	expectStatus(t, resp, http.StatusOK)
	if strings.Contains(string(respBody(t, resp)), "access_credential") {
		t.Errorf("GET %s shows access_credential: %s", path, respBody(t, resp))
	}
	return decodeJSON[[]tScanner](t, resp)
}

func scFind(list []tScanner, name string) (tScanner, bool) {
	for _, s := range list {
		if s.Name == name {
			return s, true
		}
	}
	return tScanner{}, false
}

// scErrorMessage returns the first message of Harbor's error body.
func scErrorMessage(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.Unmarshal(respBody(t, resp), &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("no error body: %s", respBody(t, resp))
	}
	return e.Errors[0].Message
}

func TestScannerRegistrations(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		builtin := ts.scBuiltin(t)
		trivyURL := scAdapter(t, "Trivy", "harbor", "Adapter123")
		dead := scDeadURL(t)
		scanners := apiBase + "/scanners"

		list := ts.scList(t, scanners, nil)
		if b, ok := scFind(list, "Berth"); !ok || !b.IsDefault || b.UUID != builtin.UUID || b.URL != adapter.BuiltinURL || b.Health != "healthy" {
			t.Fatalf("the built-in registration: %+v", list)
		}

		// Ping: a live adapter with its credential; wrong credential, dead URL and bad
		// settings are 400s that say why.
		settings := map[string]any{"name": "Trivy", "url": trivyURL, "auth": "Basic", "access_credential": "harbor:Adapter123"}
		expectStatus(t, ts.mrJSON(t, http.MethodPost, scanners+"/ping", nil, settings), http.StatusOK)
		for _, tc := range []struct {
			body map[string]any
			want string
		}{
			{map[string]any{"name": "Trivy", "url": trivyURL, "auth": "Basic", "access_credential": "harbor:wrong"}, "401"},
			{map[string]any{"name": "Trivy", "url": dead}, "connection refused"},
			{map[string]any{"name": "Trivy", "url": "trivy:8080"}, "url"},
			{map[string]any{"name": "Trivy", "url": trivyURL, "auth": "Bearer"}, "access_credential is required"},
			{map[string]any{"url": trivyURL}, "name is required"},
		} {
			resp := ts.mrJSON(t, http.MethodPost, scanners+"/ping", nil, tc.body)
			mrExpectAPIError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
			if msg := scErrorMessage(t, resp); !strings.Contains(msg, tc.want) || strings.Contains(msg, "harbor:wrong") {
				t.Errorf("ping %v: %q, want %q (and no credential)", tc.body, msg, tc.want)
			}
		}

		// Create (Harbor pings first), read back without the credential.
		settings["description"] = "Trivy adapter"
		resp := ts.mrJSON(t, http.MethodPost, scanners, nil, settings)
		expectStatus(t, resp, http.StatusCreated)
		loc := resp.Header.Get("Location")
		uuid := strings.TrimPrefix(loc, scanners+"/")
		if !strings.HasPrefix(loc, scanners+"/") || len(uuid) != 36 {
			t.Fatalf("Location %q", loc)
		}
		resp = ts.do(t, http.MethodGet, loc, nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if strings.Contains(string(respBody(t, resp)), "Adapter123") || strings.Contains(string(respBody(t, resp)), "access_credential") {
			t.Errorf("GET %s shows the credential: %s", loc, respBody(t, resp))
		}
		trivy := decodeJSON[tScanner](t, resp)
		if trivy.Name != "Trivy" || trivy.Description != "Trivy adapter" || trivy.Auth != "Basic" || trivy.IsDefault || trivy.Health != "healthy" ||
			trivy.Adapter != "Trivy" || trivy.Vendor != "Aqua Security" || trivy.Version != "0.50.0" ||
			!trivy.Capabilities["support_vulnerability"] || trivy.Capabilities["support_sbom"] {
			t.Errorf("created registration %+v", trivy)
		}
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPost, scanners, nil, settings), http.StatusConflict, "CONFLICT")
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPost, scanners, nil, map[string]any{"name": "Dead", "url": dead}), http.StatusBadRequest, "BAD_REQUEST")
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPost, scanners, nil, map[string]any{"name": "Berth", "url": adapter.BuiltinURL}), http.StatusBadRequest, "BAD_REQUEST")
		mrExpectAPIError(t, ts.do(t, http.MethodGet, scanners+"/no-such-uuid", nil, nil), http.StatusNotFound, "NOT_FOUND")

		// Update without the credential keeps it (the live metadata call still authenticates).
		back := map[string]any{"name": "Trivy", "description": "renamed", "url": trivyURL + "/", "auth": "Basic",
			"uuid": uuid, "is_default": false, "health": "healthy"}
		expectStatus(t, ts.mrJSON(t, http.MethodPut, loc, nil, back), http.StatusOK)
		resp = ts.do(t, http.MethodGet, loc+"/metadata", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		md := decodeJSON[struct {
			Scanner      report.Scanner
			Capabilities []struct {
				Type              string
				ProducesMimeTypes []string `json:"produces_mime_types"`
			}
		}](t, resp)
		if md.Scanner.Name != "Trivy" || len(md.Capabilities) != 1 || md.Capabilities[0].ProducesMimeTypes[0] != report.MimeGeneric {
			t.Errorf("metadata %+v", md)
		}
		if got := decodeJSON[tScanner](t, ts.do(t, http.MethodGet, loc, nil, nil)); got.Description != "renamed" || got.URL != trivyURL {
			t.Errorf("after PUT: %+v", got)
		}

		// The default moves with PATCH; the default cannot be disabled.
		expectStatus(t, ts.mrJSON(t, http.MethodPatch, loc, nil, map[string]any{"is_default": true}), http.StatusOK)
		list = ts.scList(t, scanners, nil)
		if len(list) != 2 || list[0].Name != "Trivy" || !list[0].IsDefault || list[1].IsDefault {
			t.Fatalf("after PATCH: %+v", list)
		}
		back["disabled"] = true
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, loc, nil, back), http.StatusBadRequest, "BAD_REQUEST")
		expectStatus(t, ts.mrJSON(t, http.MethodPatch, loc, nil, map[string]any{"is_default": false}), http.StatusOK)
		// Left out, is_default is false (Harbor's generated client leaves a false one out).
		expectStatus(t, ts.mrJSON(t, http.MethodPatch, loc, nil, map[string]any{}), http.StatusOK)
		if got := ts.scList(t, scanners+"?q=name%3DTrivy", nil); len(got) != 1 || !got[0].IsDefault {
			t.Errorf("is_default:false changed the default: %+v", got)
		}

		// A deactivated registration cannot become the default; changing the auth type needs
		// the new credential.
		offURL := scAdapter(t, "Off", "u", "Passw0rd1")
		resp = ts.mrJSON(t, http.MethodPost, scanners, nil, map[string]any{"name": "Off", "url": offURL, "auth": "Basic",
			"access_credential": "u:Passw0rd1", "disabled": true})
		expectStatus(t, resp, http.StatusCreated)
		off := resp.Header.Get("Location")
		resp = ts.mrJSON(t, http.MethodPatch, off, nil, map[string]any{"is_default": true})
		mrExpectAPIError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
		if msg := scErrorMessage(t, resp); !strings.Contains(msg, "deactivated") {
			t.Errorf("PATCH a deactivated registration: %q", msg)
		}
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, off, nil, map[string]any{"name": "Off", "url": offURL, "auth": "Bearer"}),
			http.StatusBadRequest, "BAD_REQUEST")
		expectStatus(t, ts.do(t, http.MethodDelete, off, nil, nil), http.StatusOK)

		// The built-in registration is immutable (Harbor: 403).
		bloc := scanners + "/" + builtin.UUID
		resp = ts.mrJSON(t, http.MethodPut, bloc, nil, map[string]any{"name": "Mine", "url": trivyURL})
		mrExpectAPIError(t, resp, http.StatusForbidden, "FORBIDDEN")
		if msg := scErrorMessage(t, resp); !strings.Contains(msg, "immutable") {
			t.Errorf("PUT built-in: %q", msg)
		}
		mrExpectAPIError(t, ts.do(t, http.MethodDelete, bloc, nil, nil), http.StatusForbidden, "FORBIDDEN")
		resp = ts.do(t, http.MethodGet, bloc+"/metadata", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		want, err := ts.srv.scan.Builtin.Metadata(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeJSON[struct{ Scanner report.Scanner }](t, resp); got.Scanner != want.Scanner {
			t.Errorf("built-in metadata %+v, want %+v", got.Scanner, want.Scanner)
		}

		// A project uses the default until its admin picks another.
		project, _ := ts.mrProject(t, "scp", false)
		pscanner := apiBase + "/projects/" + project + "/scanner"
		if got := decodeJSON[tScanner](t, ts.do(t, http.MethodGet, pscanner, nil, nil)); got.UUID != uuid {
			t.Errorf("project scanner %+v, want the default Trivy", got)
		}
		if got := ts.scList(t, pscanner+"/candidates", nil); len(got) != 2 {
			t.Errorf("candidates %+v", got)
		}
		expectStatus(t, ts.mrJSON(t, http.MethodPut, pscanner, nil, map[string]string{"uuid": builtin.UUID}), http.StatusOK)
		if got := decodeJSON[tScanner](t, ts.do(t, http.MethodGet, pscanner, nil, nil)); got.Name != "Berth" {
			t.Errorf("picked scanner %+v", got)
		}
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, pscanner, nil, map[string]string{"uuid": "no-such-uuid"}), http.StatusBadRequest, "BAD_REQUEST")
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, pscanner, nil, map[string]string{}), http.StatusBadRequest, "BAD_REQUEST")
		if r, err := ts.srv.db.ScannerForProject(context.Background(), mustProjectID(t, ts, project)); err != nil || r.UUID != builtin.UUID {
			t.Errorf("ScannerForProject %+v, %v", r, err)
		}

		// Deleting the default answers what was deleted; the built-in is the default again.
		resp = ts.do(t, http.MethodDelete, loc, nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if got := decodeJSON[tScanner](t, resp); got.UUID != uuid || got.Name != "Trivy" {
			t.Errorf("DELETE answered %+v", got)
		}
		mrExpectAPIError(t, ts.do(t, http.MethodGet, loc, nil, nil), http.StatusNotFound, "NOT_FOUND")
		if list := ts.scList(t, scanners, nil); len(list) != 1 || !list[0].IsDefault || list[0].Name != "Berth" {
			t.Errorf("after DELETE: %+v", list)
		}
		if n := ts.mrAuditCount(t, "delete", "scanner", "Trivy"); n != 1 {
			t.Errorf("%d audit entries for deleting Trivy", n)
		}
	})
}

func mustProjectID(t *testing.T, ts *testServer, name string) int64 {
	t.Helper()
	p, err := ts.srv.db.ProjectByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func TestScannerPermissions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		builtin := ts.scBuiltin(t)
		project, _ := ts.mrProject(t, "scperm", false)
		_, guest, guestAuth := ts.mrUser(t, "scguest")
		_, padmin, padminAuth := ts.mrUser(t, "scpadmin")
		ts.mrAddUser(t, project, guest, meta.RoleGuest)
		ts.mrAddUser(t, project, padmin, meta.RoleProjectAdmin)
		reader := ts.mrRobot(t, nil, map[string]any{"name": "scread" + uniqueSuffix(), "level": "system", "duration": -1,
			"permissions": []robotPermission{{Kind: "system", Namespace: "/", Access: access("scanner:list", "scanner:read")}}})
		readerAuth := basicAuth(reader.Name, reader.Secret)

		scanners := apiBase + "/scanners"
		body := map[string]any{"name": "Nope", "url": scDeadURL(t)}
		for _, tc := range []struct {
			who    string
			auth   http.Header
			status int
		}{
			{"anonymous", anonymous(), http.StatusUnauthorized},
			{"project admin", padminAuth, http.StatusForbidden},
			{"scanner-reading robot", readerAuth, http.StatusOK},
		} {
			if resp := ts.do(t, http.MethodGet, scanners, tc.auth, nil); resp.StatusCode != tc.status {
				t.Errorf("%s: GET /scanners: %d, want %d", tc.who, resp.StatusCode, tc.status)
			}
			if resp := ts.do(t, http.MethodGet, scanners+"/"+builtin.UUID, tc.auth, nil); resp.StatusCode != tc.status {
				t.Errorf("%s: GET /scanners/{id}: %d, want %d", tc.who, resp.StatusCode, tc.status)
			}
			status := tc.status
			if status == http.StatusOK {
				status = http.StatusForbidden // reading is not creating
			}
			if resp := ts.mrJSON(t, http.MethodPost, scanners, tc.auth, body); resp.StatusCode != status {
				t.Errorf("%s: POST /scanners: %d, want %d", tc.who, resp.StatusCode, status)
			}
			if resp := ts.mrJSON(t, http.MethodPatch, scanners+"/"+builtin.UUID, tc.auth, map[string]bool{"is_default": true}); resp.StatusCode != status {
				t.Errorf("%s: PATCH /scanners/{id}: %d, want %d", tc.who, resp.StatusCode, status)
			}
		}

		// The project's scanner: every member reads it (signed in: Harbor refuses anonymous
		// callers even on public projects); project admins pick it and list the candidates.
		pscanner := apiBase + "/projects/" + project + "/scanner"
		pick := map[string]string{"uuid": builtin.UUID}
		expectStatus(t, ts.do(t, http.MethodGet, pscanner, guestAuth, nil), http.StatusOK)
		mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, pscanner, guestAuth, pick), http.StatusForbidden, "FORBIDDEN")
		mrExpectAPIError(t, ts.do(t, http.MethodGet, pscanner+"/candidates", guestAuth, nil), http.StatusForbidden, "FORBIDDEN")
		expectStatus(t, ts.mrJSON(t, http.MethodPut, pscanner, padminAuth, pick), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodGet, pscanner+"/candidates", padminAuth, nil), http.StatusOK)
		mrExpectAPIError(t, ts.do(t, http.MethodGet, pscanner, anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		public, _ := ts.mrProject(t, "scpub", true)
		mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+public+"/scanner", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		_, _, outsiderAuth := ts.mrUser(t, "scoutsider")
		expectStatus(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+public+"/scanner", outsiderAuth, nil), http.StatusOK)
		mrExpectAPIError(t, ts.do(t, http.MethodGet, pscanner, outsiderAuth, nil), http.StatusNotFound, "NOT_FOUND")
	})
}

// TestBuiltinScannerAdapter registers this Berth's /scanner in itself, as another Berth or a
// Harbor would, and scans an image through it: the adapter pulls from the registry URL with
// the credential of the request.
func TestBuiltinScannerAdapter(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		metaPath := "/scanner/api/v1/metadata"
		_, _, userAuth := ts.mrUser(t, "scuser")
		robot := ts.mrRobot(t, nil, map[string]any{"name": "scanner" + uniqueSuffix(), "level": "system", "duration": -1,
			"permissions": []robotPermission{{Kind: "system", Namespace: "/", Access: access("scanner:read")}}})
		other := ts.mrRobot(t, nil, map[string]any{"name": "scother" + uniqueSuffix(), "level": "system", "duration": -1,
			"permissions": []robotPermission{{Kind: "system", Namespace: "/", Access: access("project:list")}}})
		for _, tc := range []struct {
			who  string
			auth http.Header
			ok   bool
		}{
			{"admin", nil, true},
			{"scanner robot", basicAuth(robot.Name, robot.Secret), true},
			{"scanner robot, Bearer", bearer(robot.Name + ":" + robot.Secret), true},
			{"scanner robot, API key", http.Header{"Authorization": {""}, adapter.AuthAPIKey: {base64.StdEncoding.EncodeToString([]byte(robot.Name + ":" + robot.Secret))}}, true},
			{"anonymous", anonymous(), false},
			{"user", userAuth, false},
			{"other robot", basicAuth(other.Name, other.Secret), false},
			{"wrong password", basicAuth(adminUser, "Wrong1234"), false},
		} {
			resp := ts.do(t, http.MethodGet, metaPath, tc.auth, nil)
			if ok := resp.StatusCode == http.StatusOK; ok != tc.ok || (!ok && resp.StatusCode != http.StatusUnauthorized) {
				t.Errorf("%s: GET %s: %d", tc.who, metaPath, resp.StatusCode)
			}
		}

		// Register it like an external adapter (the ping on creation goes through /scanner).
		resp := ts.mrJSON(t, http.MethodPost, apiBase+"/scanners", nil, map[string]any{"name": "Berth over HTTP",
			"url": ts.URL + "/scanner", "auth": "Basic", "access_credential": robot.Name + ":" + robot.Secret})
		expectStatus(t, resp, http.StatusCreated)
		reg, err := ts.srv.db.ScannerRegistrationByUUID(context.Background(), strings.TrimPrefix(resp.Header.Get("Location"), apiBase+"/scanners/"))
		if err != nil {
			t.Fatal(err)
		}

		project, _ := ts.mrProject(t, "scremote", false)
		repo := project + "/app"
		digest := ts.pushDebianImage(t, repo, "v1", "zlib1g 1:1.2.13.dfsg-1", "openssl 3.0.11-1~deb12u1")
		ts.importVulnDB(t, osvRecord("DSA-5999-1", "CVE-2099-1111", "openssl", "3.0.13-1~deb12u1", vecCritical))

		c := adapter.NewClient(adapter.RegistrationOf(reg), nil)
		c.FirstPoll = 10 * time.Millisecond
		res, err := c.Scan(context.Background(), report.Request{Registry: ts.URL,
			Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPassword)),
			Artifact:      report.Artifact{Repository: repo, Digest: digest, Tag: "v1", MimeType: mtOCIManifest},
			Want:          []string{report.MimeGeneric}})
		if err != nil {
			t.Fatalf("scan through /scanner: %v", err)
		}
		var v report.Vulnerabilities
		if err := json.Unmarshal(res.Reports[report.MimeGeneric], &v); err != nil {
			t.Fatal(err)
		}
		if len(v.Vulnerabilities) != 1 || v.Vulnerabilities[0].Package != "openssl" || v.Artifact.Digest != digest {
			t.Errorf("report through /scanner: %s", res.Reports[report.MimeGeneric])
		}

		// The project uses it as an external scanner: Berth hands it a short-lived pull
		// credential (scanner-pull, so the project's gate does not stop it) and polls it.
		expectStatus(t, ts.mrJSON(t, http.MethodPut, apiBase+"/projects/"+project+"/scanner", nil, map[string]string{"uuid": reg.UUID}), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPut, apiBase+"/projects/"+project, nil,
			[]byte(`{"metadata":{"prevent_vul":"true","severity":"low"}}`)), http.StatusOK)
		time.Sleep(1100 * time.Millisecond) // cached scanner choice and policy
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/projects/"+project+"/repositories/app/artifacts/v1/scan", nil, nil), http.StatusAccepted)
		o := ts.waitScan(t, project, "app", "v1")
		if o.Status != "Success" || o.Summary.Total != 1 || o.Scanner.Name != "Berth" {
			t.Fatalf("scan through the registered adapter: %+v", o)
		}
		if r, err := ts.srv.db.ScanReportByID(context.Background(), o.ReportID); err != nil || r.RegistrationUUID != reg.UUID {
			t.Fatalf("report %+v was not made by the registered adapter (%v)", r, err)
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/v1", hdr(nil, "Accept", mtOCIManifest), nil),
			http.StatusPreconditionFailed, "PROJECTPOLICYVIOLATION")

		// An adapter that is down fails the scan cleanly; it can be retried.
		down := ts.mrJSON(t, http.MethodPost, apiBase+"/scanners", nil, map[string]any{"name": "down", "url": strings.Replace(ts.URL, "127.0.0.1", "localhost", 1) + "/scanner",
			"auth": "Basic", "access_credential": robot.Name + ":" + robot.Secret})
		expectStatus(t, down, http.StatusCreated)
		downUUID := strings.TrimPrefix(down.Header.Get("Location"), apiBase+"/scanners/")
		expectStatus(t, ts.mrJSON(t, http.MethodPut, apiBase+"/scanners/"+downUUID, nil, map[string]any{"name": "down",
			"url": "http://127.0.0.1:1/scanner", "auth": "Basic", "access_credential": robot.Name + ":" + robot.Secret}), http.StatusOK)
		expectStatus(t, ts.mrJSON(t, http.MethodPut, apiBase+"/projects/"+project+"/scanner", nil, map[string]string{"uuid": downUUID}), http.StatusOK)
		time.Sleep(1100 * time.Millisecond)
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/projects/"+project+"/repositories/app/artifacts/v1/scan", nil, nil), http.StatusAccepted)
		if o := ts.waitScan(t, project, "app", "v1"); o.Status != "Error" {
			t.Fatalf("scan with the adapter down: %+v", o)
		}
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/projects/"+project+"/repositories/app/artifacts/v1/scan", nil, nil), http.StatusAccepted)
	})
}

// slowEngine is an adapter's engine whose scans run until they are cancelled.
type slowEngine struct{ scEngine }

func (slowEngine) Scan(ctx context.Context, _ report.Request) (report.Result, error) {
	<-ctx.Done()
	return report.Result{}, ctx.Err()
}

// TestScanStop stops a scan that an external adapter is still running, and a scan-all.
func TestScanStop(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		srv := adapter.NewServer(slowEngine{scEngine{"Slow"}}, func(*http.Request) bool { return true }, nil)
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		resp := ts.mrJSON(t, http.MethodPost, apiBase+"/scanners", nil, map[string]any{"name": "slow", "url": hs.URL})
		expectStatus(t, resp, http.StatusCreated)
		uuid := strings.TrimPrefix(resp.Header.Get("Location"), apiBase+"/scanners/")
		project, _ := ts.mrProject(t, "slow", false)
		expectStatus(t, ts.mrJSON(t, http.MethodPut, apiBase+"/projects/"+project+"/scanner", nil, map[string]string{"uuid": uuid}), http.StatusOK)
		ts.pushDebianImage(t, project+"/app", "v1", "bash 5.2.15-2")
		art := apiBase + "/projects/" + project + "/repositories/app/artifacts/v1"
		expectStatus(t, ts.do(t, http.MethodPost, art+"/scan", nil, nil), http.StatusAccepted)
		// Wait until it runs, then stop it.
		deadline := time.Now().Add(time.Minute)
		for {
			var a struct {
				ScanOverview map[string]tOverview `json:"scan_overview"`
			}
			json.Unmarshal(respBody(t, ts.do(t, http.MethodGet, art+"?with_scan_overview=true", nil, nil)), &a)
			if a.ScanOverview[mimeGeneric].Status == "Running" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the scan never ran: %+v", a)
			}
			time.Sleep(50 * time.Millisecond)
		}
		expectStatus(t, ts.do(t, http.MethodPost, art+"/scan/stop", nil, nil), http.StatusAccepted)
		if o := ts.waitScan(t, project, "app", "v1"); o.Status != "Stopped" {
			t.Fatalf("after stop: %+v", o)
		}
		// Stopping it again is accepted and changes nothing, as in Harbor.
		expectStatus(t, ts.do(t, http.MethodPost, art+"/scan/stop", nil, nil), http.StatusAccepted)
		if o := ts.waitScan(t, project, "app", "v1"); o.Status != "Stopped" {
			t.Fatalf("after a second stop: %+v", o)
		}

		// Scan-all stops too.
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/scanAll/schedule", nil, []byte(`{"schedule":{"type":"Manual"}}`)), http.StatusCreated)
		for {
			var m struct{ Ongoing bool }
			json.Unmarshal(respBody(t, ts.do(t, http.MethodGet, apiBase+"/scans/all/metrics", nil, nil)), &m)
			if m.Ongoing {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("scan-all never started")
			}
			time.Sleep(50 * time.Millisecond)
		}
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/scanAll/stop", nil, nil), http.StatusAccepted)
		deadline = time.Now().Add(time.Minute)
		for {
			var m struct {
				Ongoing bool
				Metrics map[string]int
			}
			json.Unmarshal(respBody(t, ts.do(t, http.MethodGet, apiBase+"/scans/all/metrics", nil, nil)), &m)
			if !m.Ongoing {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("scan-all did not stop")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Its scan ended with it (none is left Pending without a job to run it), and the
		// artifact can be scanned again.
		if o := ts.waitScan(t, project, "app", "v1"); o.Status != "Stopped" {
			t.Fatalf("the artifact's scan after the scan-all stopped: %+v", o)
		}
		expectStatus(t, ts.do(t, http.MethodPost, art+"/scan", nil, nil), http.StatusAccepted)
		for deadline = time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			var a struct {
				ScanOverview map[string]tOverview `json:"scan_overview"`
			}
			json.Unmarshal(respBody(t, ts.do(t, http.MethodGet, art+"?with_scan_overview=true", nil, nil)), &a)
			if a.ScanOverview[mimeGeneric].Status == "Running" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the scan requested after the scan-all stopped never ran: %+v", a)
			}
		}
		expectStatus(t, ts.do(t, http.MethodPost, art+"/scan/stop", nil, nil), http.StatusAccepted)
	})
}

// TestAnotherBerthAsExternalScanner: one Berth registers another Berth's adapter endpoint as
// its external scanner; the report it gets equals the one its own built-in scanner makes.
func TestAnotherBerthAsExternalScanner(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			registry, scanner := newTestServer(t, d), newTestServer(t, d)
			records := []string{osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical),
				osvRecord("DEBIAN-CVE-2024-0002", "CVE-2024-0002", "zlib", "1:1.2.13.dfsg-2", vecMedium)}
			registry.importVulnDB(t, records...)
			scanner.importVulnDB(t, records...)
			registry.pushDebianImage(t, "library/app", "v1", "openssl 3.0.11-1~deb12u1", "zlib 1:1.2.13.dfsg-1", "bash 5.2.15-2")

			// The built-in scanner's report first.
			art := apiBase + "/projects/library/repositories/app/artifacts/v1"
			expectStatus(t, registry.do(t, http.MethodPost, art+"/scan", nil, nil), http.StatusAccepted)
			own := registry.waitScan(t, "library", "app", "v1")
			ownReport := respBody(t, registry.do(t, http.MethodGet, art+"/additions/vulnerabilities", nil, nil))

			// Then through the other Berth, registered as Harbor registers an adapter.
			resp := registry.mrJSON(t, http.MethodPost, apiBase+"/scanners", nil, map[string]any{"name": "other berth",
				"url": scanner.URL + "/scanner", "auth": "Basic", "access_credential": adminUser + ":" + adminPassword})
			expectStatus(t, resp, http.StatusCreated)
			uuid := strings.TrimPrefix(resp.Header.Get("Location"), apiBase+"/scanners/")
			expectStatus(t, registry.mrJSON(t, http.MethodPut, apiBase+"/projects/library/scanner", nil, map[string]string{"uuid": uuid}), http.StatusOK)
			time.Sleep(1100 * time.Millisecond) // the cached scanner choice
			expectStatus(t, registry.do(t, http.MethodPost, art+"/scan", nil, nil), http.StatusAccepted)
			other := registry.waitScan(t, "library", "app", "v1")
			if other.Status != "Success" || other.ReportID == own.ReportID || other.Summary.Total != own.Summary.Total ||
				other.Severity != own.Severity || other.Summary.Summary["Critical"] != own.Summary.Summary["Critical"] {
				t.Fatalf("report through the other Berth %+v, own %+v", other, own)
			}
			type vuln struct{ ID, Package, Version, Severity, FixVersion string }
			vulns := func(body []byte) []vuln {
				var reports map[string]struct {
					Vulnerabilities []struct {
						ID, Package, Version, Severity string
						FixVersion                     string `json:"fix_version"`
					} `json:"vulnerabilities"`
				}
				if err := json.Unmarshal(body, &reports); err != nil {
					t.Fatal(err)
				}
				var out []vuln
				for _, v := range reports[mimeGeneric].Vulnerabilities {
					out = append(out, vuln{v.ID, v.Package, v.Version, v.Severity, v.FixVersion})
				}
				return out
			}
			got, want := vulns(respBody(t, registry.do(t, http.MethodGet, art+"/additions/vulnerabilities", nil, nil))), vulns(ownReport)
			if fmt.Sprint(got) != fmt.Sprint(want) || len(want) != 2 {
				t.Fatalf("vulnerabilities through the other Berth %v, own %v", got, want)
			}
		})
	}
}
