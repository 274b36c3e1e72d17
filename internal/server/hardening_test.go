package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The probes of issue 14, each as it was reported, and the answers they now get. TestBadInput
// sends their kind to every route.

// TestTextNoStoreHoldsIsRefused: NUL characters and invalid UTF-8 in paths, queries, JSON
// bodies, forms, credentials and manifests are refused with 400 in the protocol's error body
// (PostgreSQL answered them with 500; SQLite stored them), and valid non-ASCII text is taken.
func TestTextNoStoreHoldsIsRefused(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		pub := "txt" + uniqueSuffix()
		artProject(t, ts, pub, true)
		repo := pub + "/app"
		ts.pushImage(t, repo, "v1", mtOCIManifest)
		anonPull := bearer(ts.token(t, anonymous(), "repository:"+repo+":pull"))
		form := func(h http.Header) http.Header { return hdr(h, "Content-Type", "application/x-www-form-urlencoded") }

		for _, tc := range []struct {
			name, method, path string
			h                  http.Header
			body               string
			status             int
			code               string
		}{
			{"search for a NUL, anonymous", "GET", "/api/v2.0/search?q=%00", anonymous(), "", 400, "BAD_REQUEST"},
			{"search for invalid UTF-8", "GET", "/api/v2.0/search?q=%ff", anonymous(), "", 400, "BAD_REQUEST"},
			{"a NUL in q, escaped twice", "GET", "/api/v2.0/projects?q=name%3D~%2500", anonymous(), "", 400, "BAD_REQUEST"},
			{"a NUL in a path parameter", "GET", "/api/v2.0/projects/%00", anonymous(), "", 400, "BAD_REQUEST"},
			{"a NUL in a path parameter, escaped twice", "GET", "/api/v2.0/projects/" + pub + "/repositories/app%2500", nil, "", 400, "BAD_REQUEST"},
			{"invalid UTF-8 in a query key", "GET", "/api/v2.0/projects?%ff=1", nil, "", 400, "BAD_REQUEST"},
			{"tags after a NUL, anonymous", "GET", "/v2/" + repo + "/tags/list?last=%00", anonPull, "", 400, "TAG_INVALID"},
			{"tags after invalid UTF-8", "GET", "/v2/" + repo + "/tags/list?last=%ff", nil, "", 400, "TAG_INVALID"},
			{"catalog after a NUL", "GET", "/v2/_catalog?last=%00", nil, "", 400, "NAME_INVALID"},
			{"referrers of a NUL artifactType", "GET", "/v2/" + repo + "/referrers/" + sha256Digest([]byte("x")) + "?artifactType=%00", nil, "", 400, "MANIFEST_INVALID"},
			{"a JSON body with a NUL", "POST", "/api/v2.0/labels", hdr(nil, "Content-Type", "application/json"), `{"name":"l\u0000","scope":"g"}`, 400, "BAD_REQUEST"},
			{"a JSON body with invalid UTF-8", "POST", "/api/v2.0/labels", hdr(nil, "Content-Type", "application/json"), "{\"name\":\"l\xff\",\"scope\":\"g\"}", 400, "BAD_REQUEST"},
			{"a NUL in a configuration value", "PUT", "/api/v2.0/configurations", hdr(nil, "Content-Type", "application/json"), `{"banner_message":"\u0000"}`, 400, "BAD_REQUEST"},
			{"Basic credentials with a NUL", "GET", "/api/v2.0/users/current", basicAuth("ad\x00min", "x"), "", 401, "UNAUTHORIZED"},
			{"Basic credentials of invalid UTF-8 on /v2/", "GET", "/v2/" + repo + "/tags/list", basicAuth("\xff", "x"), "", 401, "UNAUTHORIZED"},
			{"a login with a NUL", "POST", "/c/login", form(anonymous()), "principal=ad%00min&password=x", 400, "BAD_REQUEST"},
			{"a token scope with a NUL", "GET", "/service/token?service=harbor-registry&scope=repository:" + repo + ":pull%00", anonymous(), "", 400, "BAD_REQUEST"},
			{"a token form with a NUL", "POST", "/service/token", form(anonymous()), "grant_type=password&username=%00&password=x", 400, "BAD_REQUEST"},
			{"token credentials with a NUL", "GET", "/service/token?service=harbor-registry", basicAuth("a\x00", "x"), "", 401, "UNAUTHORIZED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body []byte
				if tc.body != "" {
					body = []byte(tc.body)
				}
				assertOCIError(t, ts.do(t, tc.method, tc.path, tc.h, body), tc.status, tc.code)
			})
		}

		t.Run("manifests with text no store holds", func(t *testing.T) {
			m := ts.imageManifest(t, repo, mtOCIManifest)
			doc := func(edit func(map[string]any)) []byte {
				var d map[string]any
				json.Unmarshal(mustJSON(t, m), &d)
				edit(d)
				return mustJSON(t, d)
			}
			for name, body := range map[string][]byte{
				"artifactType with a NUL":      doc(func(d map[string]any) { d["artifactType"] = "application/vnd.x\x00" }),
				"an annotation with a NUL":     doc(func(d map[string]any) { d["annotations"] = map[string]string{"k": "v\x00"} }),
				"an annotation key with a NUL": doc(func(d map[string]any) { d["annotations"] = map[string]string{"k\x00": "v"} }),
				"a config media type with a NUL": doc(func(d map[string]any) {
					d["config"].(map[string]any)["mediaType"] = "application/vnd.oci.image.config.v1+json\x00"
				}),
				"a config media type with a newline": doc(func(d map[string]any) {
					d["config"].(map[string]any)["mediaType"] = "application/vnd.oci.image.config.v1+json\nx"
				}),
				"a subject artifactType with a NUL": doc(func(d map[string]any) {
					d["subject"] = map[string]any{"mediaType": mtOCIManifest, "digest": sha256Digest([]byte("s")), "size": 1, "artifactType": "a\x00"}
				}),
				"invalid UTF-8":                bytes.Replace(doc(func(d map[string]any) { d["artifactType"] = "MARK" }), []byte("MARK"), []byte("\xff"), 1),
				"an artifactType of 300 bytes": doc(func(d map[string]any) { d["artifactType"] = "application/" + strings.Repeat("x", 288) }),
			} {
				resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/junk", hdr(nil, "Content-Type", mtOCIManifest), body)
				t.Run(name, func(t *testing.T) { assertOCIError(t, resp, http.StatusBadRequest, "MANIFEST_INVALID") })
			}
			// The same manifest with text every store holds is taken.
			ok := doc(func(d map[string]any) {
				d["artifactType"] = "application/vnd.example.café+json"
				d["annotations"] = map[string]string{"org.opencontainers.image.description": "café ☕ \u0001"}
			})
			ts.pushManifest(t, repo, "text-ok", mtOCIManifest, ok)
		})

		t.Run("valid non-ASCII text is taken", func(t *testing.T) {
			id := labelCreate(t, ts, nil, map[string]any{"name": "café" + uniqueSuffix(), "description": "crème brûlée ☕", "scope": "g"})
			var l struct {
				Description string `json:"description"`
			}
			artGet(t, ts, fmt.Sprintf("/labels/%d", id), nil, &l)
			if l.Description != "crème brûlée ☕" {
				t.Errorf("description %q", l.Description)
			}
			expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/search?q=caf%C3%A9", anonymous(), nil), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/labels?scope=g&name=caf%C3%A9", nil, nil), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/tags/list?last=caf%C3%A9", anonPull, nil), http.StatusOK)
		})
		biNoStoredJunk(t, ts)
	})
}

// TestLongFiltersAreRefused: a query value over 2 KiB, or a query string over 8 KiB, is
// refused with 400 (a 50,000-character search was SQLite's "LIKE or GLOB pattern too complex",
// a 500); within the bounds, LIKE's wildcards in a filter match themselves.
func TestLongFiltersAreRefused(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		sfx := uniqueSuffix()
		for _, name := range []string{"lk_a" + sfx, "lkxa" + sfx} {
			artProject(t, ts, name, true)
		}
		for _, tc := range []struct {
			name, path string
			status     int
		}{
			{"a 50,000-character search, anonymous", "/api/v2.0/search?q=" + strings.Repeat("a", 50000), 400},
			{"a 50,000-character q", "/api/v2.0/projects?q=name%3D~" + strings.Repeat("a", 50000), 400},
			{"a fuzzy filter at the bound", "/api/v2.0/projects?q=name%3D~" + strings.Repeat("a", 2048-len("name=~")), 200},
			{"a fuzzy filter over the bound", "/api/v2.0/projects?q=name%3D~" + strings.Repeat("a", 2049-len("name=~")), 400},
			{"a fuzzy filter of 2,000 percent signs", "/api/v2.0/projects?q=name%3D~" + strings.Repeat("%25", 2000), 200},
			{"a query string over 8 KiB", "/api/v2.0/projects?" + strings.Repeat("page=1&", 1200), 400},
			{"a long search within the bounds", "/api/v2.0/search?q=" + strings.Repeat("a", 2048), 200},
			{"a long user search", "/api/v2.0/users/search?username=" + strings.Repeat("%25", 3000), 400},
			{"a long /v2/ last", "/v2/_catalog?last=" + strings.Repeat("a", 3000), 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodGet, tc.path, anonymous(), nil)
				if tc.status == 200 {
					expectStatus(t, resp, http.StatusOK)
					return
				}
				code := "BAD_REQUEST"
				if strings.HasPrefix(tc.path, "/v2/") {
					code = "NAME_INVALID"
				}
				assertOCIError(t, resp, tc.status, code)
			})
		}
		t.Run("LIKE wildcards match themselves", func(t *testing.T) {
			for _, tc := range []struct {
				filter string
				want   []string
			}{
				{"k_a" + sfx, []string{"lk_a" + sfx}},
				{"lk%25zz", nil}, // "%zz" does not decode: the filter is lk%zz
				{"%5C", nil},
				{"kxa" + sfx, []string{"lkxa" + sfx}},
			} {
				var ps []struct {
					Name string `json:"name"`
				}
				artGet(t, ts, "/projects?q=name%3D~"+tc.filter, nil, &ps)
				var got []string
				for _, p := range ps {
					got = append(got, p.Name)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("name=~%s: %v, want %v", tc.filter, got, tc.want)
				}
			}
		})
	})
}

// TestSchedulesRunAtMostOnceAMinute: a schedule that would run more than once a minute is
// refused, for garbage collection, scans of everything and retention alike.
func TestSchedulesRunAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "sched"+uniqueSuffix(), false)
		for _, cron := range []string{"* * * * * *", "*/30 * * * * *", "0,30 * * * * *", "0-1 0 0 * * *"} {
			body := []byte(`{"schedule":{"type":"Custom","cron":"` + cron + `"}}`)
			for _, path := range []string{"/api/v2.0/system/gc/schedule", "/api/v2.0/system/scanAll/schedule"} {
				for _, method := range []string{http.MethodPost, http.MethodPut} {
					assertOCIError(t, ts.do(t, method, path, hdr(nil, "Content-Type", "application/json"), body), http.StatusBadRequest, "BAD_REQUEST")
				}
			}
			resp := artCall(t, ts, http.MethodPost, "/retentions", nil, retPolicy(p.ID, cron, retRule("always", 0, "**", "**")))
			assertOCIError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
		}
		// Once a minute is the most allowed.
		body := []byte(`{"schedule":{"type":"Custom","cron":"30 * * * * *"}}`)
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/gc/schedule", hdr(nil, "Content-Type", "application/json"), body), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/scanAll/schedule", hdr(nil, "Content-Type", "application/json"), body), http.StatusOK)
		retCreate(t, ts, nil, retPolicy(p.ID, "30 * * * * *", retRule("always", 0, "**", "**")))
	})
}

// TestCVEAllowlistsAreBounded: CVE ids look like vulnerability ids and are at most 128 bytes,
// a list holds at most 10,000, and expires_at is an epoch second from 0 (or null, never).
func TestCVEAllowlistsAreBounded(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "allow"+uniqueSuffix(), false)
		many := make([]string, 10001)
		for i := range many {
			many[i] = fmt.Sprintf(`{"cve_id":"CVE-2024-%d"}`, 10000+i)
		}
		for _, tc := range []struct {
			name, body string
			status     int
		}{
			{"a 100,000-character CVE id", `{"items":[{"cve_id":"CVE-` + strings.Repeat("1", 100000) + `"}]}`, 400},
			{"a 129-byte CVE id", `{"items":[{"cve_id":"CVE-` + strings.Repeat("1", 125) + `"}]}`, 400},
			{"a negative expires_at", `{"expires_at":-5,"items":[]}`, 400},
			{"an expires_at past year 9999", `{"expires_at":253402300800,"items":[]}`, 400},
			{"an expires_at beyond int64", `{"expires_at":99999999999999999999,"items":[]}`, 400},
			{"a CVE id with a space", `{"items":[{"cve_id":"CVE 2021 1"}]}`, 400},
			{"a CVE id with a slash", `{"items":[{"cve_id":"../../etc"}]}`, 400},
			{"10,001 CVE ids", `{"items":[` + strings.Join(many, ",") + `]}`, 400},
			{"10,000 CVE ids", `{"items":[` + strings.Join(many[1:], ",") + `]}`, 200},
			{"ids of every scanner", `{"expires_at":0,"items":[{"cve_id":"CVE-2021-44228"},{"cve_id":"GHSA-jfh8-c2jp-5v3q"},{"cve_id":"RHSA-2021:1234"},{"cve_id":"openSUSE-SU-2021:1234-1"},{"cve_id":"GO-2022-0001"}]}`, 200},
			{"a list that never expires", `{"expires_at":null,"items":[{"cve_id":"CVE-2021-44228"}]}`, 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodPut, "/api/v2.0/system/CVEAllowlist", hdr(nil, "Content-Type", "application/json"), []byte(tc.body))
				if tc.status == 200 {
					expectStatus(t, resp, http.StatusOK)
					return
				}
				assertOCIError(t, resp, tc.status, "BAD_REQUEST")
				// A project's list follows the same rules.
				resp = artCall(t, ts, http.MethodPut, "/projects/"+p.Name, nil, `{"cve_allowlist":`+tc.body+`}`)
				assertOCIError(t, resp, tc.status, "BAD_REQUEST")
			})
		}
	})
}

// TestOversizedBodiesAre413: a JSON body over the API's 1 MiB limit is refused with 413 in
// Harbor's error body, whether its Content-Length says so (60 MB) or it is streamed without one.
func TestOversizedBodiesAre413(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	for _, tc := range []struct {
		name, method, path string
		body               io.Reader
	}{
		{"60 MB with its Content-Length", http.MethodPost, "/api/v2.0/projects", bytes.NewReader(bytes.Repeat([]byte(" "), 60<<20))},
		{"streamed past the limit", http.MethodPost, "/api/v2.0/projects", io.MultiReader(strings.NewReader(`{"project_name":"`), strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader(`"}`))},
		{"configurations", http.MethodPut, "/api/v2.0/configurations", io.MultiReader(strings.NewReader(`{"banner_message":"`), strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader(`"}`))},
		{"the login form", http.MethodPost, "/c/login", strings.NewReader("principal=admin&password=" + strings.Repeat("a", 1<<20))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := "application/json"
			if tc.path == "/c/login" {
				ct = "application/x-www-form-urlencoded"
			}
			assertOCIError(t, ts.doReader(t, tc.method, tc.path, hdr(nil, "Content-Type", ct), tc.body), http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE")
		})
	}
}

// TestBlobRangeErrorsAreJSON: a Range a blob download cannot serve is answered 416 with the
// OCI error body (http.ServeContent writes plain text), and a good Range is still served.
func TestBlobRangeErrorsAreJSON(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	p := artProject(t, ts, "rng"+uniqueSuffix(), false)
	data := []byte("0123456789")
	d := ts.pushBlob(t, p.Name+"/app", data)
	for _, rg := range []string{"bytes=5-1", "bytes=a-b", "bytes=100-", "chars=0-1", "bytes=99999999999999999999-"} {
		resp := ts.do(t, http.MethodGet, "/v2/"+p.Name+"/app/blobs/"+d, hdr(nil, "Range", rg), nil)
		assertOCIError(t, resp, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
	}
	resp := ts.do(t, http.MethodGet, "/v2/"+p.Name+"/app/blobs/"+d, hdr(nil, "Range", "bytes=2-4"), nil)
	expectStatus(t, resp, http.StatusPartialContent)
	if got := string(respBody(t, resp)); got != "234" {
		t.Errorf("bytes 2-4: %q", got)
	}
}

// TestNetHTTPRefusalsAreJSON: requests net/http refuses before any handler runs are answered
// with the JSON error body, not its plain text, over HTTP and over TLS (served by Run); what
// handlers answer passes untouched, and TLS requests still know they came over TLS.
func TestNetHTTPRefusalsAreJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, request string
		status        int
		code, message string
	}{
		{"negative Content-Length", "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, "BAD_REQUEST", "malformed HTTP request"},
		{"Content-Length not a number", "POST /api/v2.0/projects HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\n", 400, "BAD_REQUEST", "malformed HTTP request"},
		{"two Content-Lengths", "PUT /v2/a/b/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, "BAD_REQUEST", "malformed HTTP request"},
		{"no Host", "GET /api/v2.0/ping HTTP/1.1\r\n\r\n", 400, "BAD_REQUEST", "missing required Host header"},
		{"unknown Transfer-Encoding", "POST /api/v2.0/projects HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "UNSUPPORTED", "Unsupported transfer encoding"},
		{"malformed request line", "GET\r\n\r\n", 400, "BAD_REQUEST", "malformed HTTP request"},
		{"header too large", "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n", 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "too large"},
	}
	check := func(t *testing.T, dial func() (net.Conn, error), base string) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				go io.WriteString(c, tc.request) // a refused request may not be read to its end
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var doc struct {
					Errors []struct{ Code, Message string }
				}
				if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &doc) != nil ||
					len(doc.Errors) != 1 || doc.Errors[0].Code != tc.code || !strings.Contains(doc.Errors[0].Message, tc.message) {
					t.Errorf("%d %q %q, want %d with {\"errors\":[{\"code\":%q,\"message\":...%q...}]}", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.code, tc.message)
				}
			})
		}
		t.Run("a good request, then a refused one on the same connection", func(t *testing.T) {
			c, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(c)
			// A handler's own plain-text answer (the portal's 404 for a static file) passes as it is.
			io.WriteString(c, "GET /static/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || string(body) != "no such file\n" {
				t.Errorf("a handler's answer was changed: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			io.WriteString(c, "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("the refusal after a good request: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
		t.Run("a handler's answer", func(t *testing.T) {
			c, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := "Bearer realm=\"" + base + "/service/token\""
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), want) {
				t.Errorf("GET /v2/: %d, WWW-Authenticate %q, want it to start with %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
			}
		})
	}

	t.Run("http", func(t *testing.T) {
		t.Parallel()
		cfg := offlineConfig()
		cfg.DataDir = t.TempDir()
		cfg.AdminPassword = adminPassword
		// No external_url: the realm follows the request, which must be seen not to be TLS.
		ts := startTestServerWith(t, cfg, "sqlite", slog.DiscardHandler, serverOptions{FollowRequests: true})
		addr := strings.TrimPrefix(ts.URL, "http://")
		check(t, func() (net.Conn, error) { return net.Dial("tcp", addr) }, "http://x")
	})
	t.Run("https", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, "sqlite")
		cfg.TLSCert, cfg.TLSKey = selfSignedCert(t)
		// No external_url: the realm follows the request, which must be seen to be TLS.
		cfg.ExternalURL = ""
		base, _ := start(t, cfg)
		addr := strings.TrimPrefix(base, "http://")
		check(t, func() (net.Conn, error) {
			return tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		}, "https://x")
		t.Run("plain HTTP to the TLS port", func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			io.WriteString(c, "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
			b, _ := io.ReadAll(c)
			if !strings.Contains(string(b), "Client sent an HTTP request to an HTTPS server") {
				t.Errorf("answer %q", b)
			}
		})
		t.Run("a client over TLS", func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 30 * time.Second}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://"+addr+"/api/v2.0/ping", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "Pong" {
				t.Errorf("ping over TLS: %d %q", resp.StatusCode, b)
			}
		})
	})
}

// selfSignedCert writes a certificate for localhost and 127.0.0.1 and its key, and returns
// their paths.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
