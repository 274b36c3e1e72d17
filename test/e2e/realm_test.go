//go:build e2e

package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCranePushThroughLocalhostToLoopbackTLS starts Berth with TLS on 127.0.0.1 and no
// external_url, and pushes with crane through localhost:<port>. go-containerregistry refuses
// a token realm whose host is a private address other than the registry's, so a realm of
// https://127.0.0.1:<port> (the listen address) fails the push; the realm must follow the
// name the client used.
func TestCranePushThroughLocalhostToLoopbackTLS(t *testing.T) {
	t.Parallel()
	requireClient(t, "crane")
	srv := startServer(t, serverOptions{TLS: true, FollowRequests: true})
	_, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	localhost := "localhost:" + port

	// The challenge names the host each request used.
	for _, host := range []string{localhost, srv.Addr} {
		c := srv.anonymous()
		c.base = "https://" + host
		r := c.do(t, http.MethodGet, "/v2/", nil)
		want := `Bearer realm="https://` + host + `/service/token",service="harbor-registry"`
		if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != want {
			t.Errorf("GET https://%s/v2/: want 401 with WWW-Authenticate %s, got %s", host, want, r)
		}
	}

	// crane verifies the self-signed certificate through SSL_CERT_FILE: no --insecure.
	env := envFor(t)
	o := runOpts{Env: []string{"SSL_CERT_FILE=" + srv.CertFile}}
	mustRun(t, o, "crane", "auth", "login", localhost, "-u", srv.User, "-p", srv.Password)
	tarPath := filepath.Join(env.Dir, "layer.tar")
	if err := os.WriteFile(tarPath, tarBytes(t, map[string][]byte{"hello.bin": randomBytes(t, 64<<10)}), 0o644); err != nil {
		t.Fatal(err)
	}
	mark := len(srv.logText())
	ref := localhost + "/library/realm:v1"
	mustRun(t, o, "crane", "append", "-f", tarPath, "-t", ref)
	assertTokenIssued(t, srv, mark, "crane")

	digest := strings.TrimSpace(mustRun(t, o, "crane", "digest", ref))
	if got := manifestDigest(t, srv.admin(), "library/realm", "v1"); got != digest {
		t.Fatalf("crane digest %s through %s, registry serves %s", digest, localhost, got)
	}
	// The same registry through its address works too: the realm follows that name.
	mustRun(t, o, "crane", "auth", "login", srv.Addr, "-u", srv.User, "-p", srv.Password)
	if got := strings.TrimSpace(mustRun(t, o, "crane", "digest", srv.Addr+"/library/realm:v1")); got != digest {
		t.Fatalf("crane digest through %s: %s, want %s", srv.Addr, got, digest)
	}
}
