package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta/metatest"
)

// logLines collects the JSON lines a server logs.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// withRequestID returns the messages of the lines logged with request_id id, and fails the
// test on a line that names its request_id more than once.
func (l *logLines) withRequestID(t *testing.T, id string) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var rec struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.RequestID != id {
			continue
		}
		if n := strings.Count(line, `"request_id"`); n != 1 {
			t.Errorf("log line with request_id %d times: %s", n, line)
		}
		msgs = append(msgs, rec.Msg)
	}
	return msgs
}

// TestRequestIDInHandlerLogs checks that what a handler logs while serving a request carries
// the request's id, as the access-log line ("request") does, whichever package logs it.
func TestRequestIDInHandlerLogs(t *testing.T) {
	for _, d := range metatest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			logs := &logLines{}
			ts := newLoggingTestServer(t, d, slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

			repo := "library/logs" + uniqueSuffix()
			lost := ts.pushBlob(t, repo, randomBytes(32))
			if err := os.Remove(ts.blobPath(lost)); err != nil {
				t.Fatal(err)
			}
			// A chart whose archive is not a gzipped tar: the API cannot read its values.
			cfg := []byte(`{"name":"broken","version":"0.1.0","apiVersion":"v2"}`)
			archive := randomBytes(64)
			ts.pushManifest(t, repo, "chart", mtOCIManifest, mustJSON(t, tManifest{
				SchemaVersion: 2, MediaType: mtOCIManifest,
				Config: &tDescriptor{MediaType: "application/vnd.cncf.helm.config.v1+json", Digest: ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
				Layers: []tDescriptor{{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Digest: ts.pushBlob(t, repo, archive), Size: int64(len(archive))}},
			}))

			tests := []struct {
				name      string
				requestID string // sent as X-Request-Id; empty lets the server choose one
				method    string
				path      string
				auth      http.Header
				status    int
				msg       string // what the handler logs
			}{
				{"token service", "", http.MethodGet, "/service/token?service=" + TokenService, basicAuth(adminUser, "wrong"),
					http.StatusUnauthorized, "token request with bad credentials"},
				{"registry", "", http.MethodGet, "/v2/" + repo + "/blobs/" + lost, nil,
					http.StatusNotFound, "blob missing from storage"},
				{"REST API", "", http.MethodGet, apiBase + artRepoPath(repo) + "/artifacts/chart/additions/values.yaml", nil,
					http.StatusNotFound, "read chart archive"},
				{"request id from the client", "client-chosen-" + uniqueSuffix(), http.MethodGet, "/v2/" + repo + "/blobs/" + lost, nil,
					http.StatusNotFound, "blob missing from storage"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := tt.auth
					if tt.requestID != "" {
						h = hdr(h, "X-Request-Id", tt.requestID)
					}
					resp := ts.do(t, tt.method, tt.path, h, nil)
					expectStatus(t, resp, tt.status)
					id := resp.Header.Get("X-Request-Id")
					if id == "" || (tt.requestID != "" && id != tt.requestID) {
						t.Fatalf("X-Request-Id %q, want %q (or one the server chose)", id, tt.requestID)
					}
					// The access-log line, the request's last, is written once the handler has returned.
					var msgs []string
					for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
						if msgs = logs.withRequestID(t, id); len(msgs) > 0 && msgs[len(msgs)-1] == "request" {
							break
						}
					}
					if len(msgs) != 2 || msgs[0] != tt.msg || msgs[1] != "request" {
						t.Errorf("lines with request_id %s: %q, want [%q \"request\"]", id, msgs, tt.msg)
					}
				})
			}
		})
	}
}
