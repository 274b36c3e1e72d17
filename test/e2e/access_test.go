//go:build e2e

package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAccess checks who may pull and push: anonymous pull of public projects
// (with crane and through the raw token flow), no anonymous push, no
// anonymous pull of private projects (without revealing what exists), and no
// login with a wrong password.
func TestAccess(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		// Throttling off: this test counts every refusal of a wrong password, so
		// it sends more of them from one address than the lockout allows;
		// TestLoginLockout covers the lockout itself.
		srv := startServer(t, serverOptions{DB: db, Env: map[string]string{"BERTH_LOGIN_MAX_FAILURES": "0"}})
		public := randomImage(t, 64<<10)
		mustPushImage(t, srv.admin(), "library/x", "v1", public)
		createProject(t, srv, "secret", false)
		private := randomImage(t, 64<<10)
		mustPushImage(t, srv.admin(), "secret/x", "v1", private)

		t.Run("anonymous crane pulls a public image", func(t *testing.T) {
			requireClient(t, "crane")
			got := run(t, "crane", "digest", "--insecure", srv.Host+"/library/x:v1")
			if got = strings.TrimSpace(got); got != public.Digest {
				t.Fatalf("crane digest: %s, want %s", got, public.Digest)
			}
			run(t, "crane", "pull", "--insecure", "--format=oci", srv.Host+"/library/x:v1", filepath.Join(envFor(t).Dir, "x"))
		})

		t.Run("anonymous pull through the token flow", func(t *testing.T) {
			anon := srv.anonymous()
			r := anon.do(t, http.MethodGet, "/v2/library/x/manifests/v1", nil, "Accept", manifestAccept)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("want 401 with a Bearer challenge, got %s", r)
			}
			ch, err := parseChallenge(r.Header.Get("WWW-Authenticate"))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"realm":   srv.URL + "/service/token",
				"service": "harbor-registry",
				"scope":   "repository:library/x:pull",
			}
			if ch.Scheme != "Bearer" {
				t.Errorf("WWW-Authenticate scheme %q, want Bearer (header %q)", ch.Scheme, r.Header.Get("WWW-Authenticate"))
			}
			for k, v := range want {
				if ch.Params[k] != v {
					t.Errorf("WWW-Authenticate %s=%q, want %q (header %q)", k, ch.Params[k], v, r.Header.Get("WWW-Authenticate"))
				}
			}

			// Follow the challenge as a client would: realm?service=&scope=
			q := url.Values{"service": {ch.Params["service"]}, "scope": {ch.Params["scope"]}}
			tr := anon.do(t, http.MethodGet, ch.Params["realm"]+"?"+q.Encode(), nil)
			if tr.Status != http.StatusOK {
				t.Fatalf("anonymous token for %s: want 200, got %s", q.Get("scope"), tr)
			}
			_, token := fetchToken(t, srv, "", "", "repository:library/x:pull")
			if token == "" {
				t.Fatal("no anonymous token")
			}
			r = srv.withBearer(token).do(t, http.MethodGet, "/v2/library/x/manifests/v1", nil, "Accept", manifestAccept)
			if r.Status != http.StatusOK || sha256Digest(r.Body) != public.Digest {
				t.Fatalf("GET manifest with the anonymous token: want 200 and %s, got %s", public.Digest, r)
			}
			mustVerifyImage(t, srv.withBearer(token), "library/x", "v1", public)
		})

		t.Run("anonymous push is refused", func(t *testing.T) {
			anon := srv.anonymous()
			r := anon.do(t, http.MethodPost, "/v2/library/anon/blobs/uploads/", nil)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("anonymous POST blobs/uploads/: want 401, got %s", r)
			}
			r = anon.do(t, http.MethodPut, "/v2/library/anon/manifests/v1", public.Manifest, "Content-Type", mtOCIManifest)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("anonymous PUT manifest: want 401, got %s", r)
			}
			// An anonymous token asked for push must not allow pushing.
			tr, token := fetchToken(t, srv, "", "", "repository:library/anon:pull,push")
			if token != "" {
				r = srv.withBearer(token).do(t, http.MethodPost, "/v2/library/anon/blobs/uploads/", nil)
				if r.Status != http.StatusUnauthorized {
					t.Errorf("POST blobs/uploads/ with an anonymous pull,push token: want 401, got %s", r)
				}
			} else if tr.Status != http.StatusUnauthorized {
				t.Errorf("anonymous token request for push: want 200 (a token without push) or 401, got %s", tr)
			}
			if _, ok := clientPath("crane"); ok {
				tarPath := filepath.Join(envFor(t).Dir, "layer.tar")
				if err := os.WriteFile(tarPath, tarBytes(t, map[string][]byte{"a": randomBytes(t, 1024)}), 0o644); err != nil {
					t.Fatal(err)
				}
				mustFail(t, runOpts{}, "crane", "append", "--insecure", "-f", tarPath, "-t", srv.Host+"/library/anon:v1")
			}
			if r := srv.admin().do(t, http.MethodGet, "/v2/library/anon/tags/list", nil); r.Status == http.StatusOK && strings.Contains(string(r.Body), `"v1"`) {
				t.Errorf("an anonymous push left a tag in library/anon: %s", r)
			}
		})

		t.Run("private image is not pullable anonymously and its existence is not revealed", func(t *testing.T) {
			anon := srv.anonymous()
			paths := map[string]string{
				"existing manifest":          "/v2/secret/x/manifests/v1",
				"missing manifest":           "/v2/secret/nope/manifests/v1",
				"existing blob":              "/v2/secret/x/blobs/" + private.Layers[0].Digest,
				"existing repo, missing tag": "/v2/secret/x/manifests/v9",
				"tag list":                   "/v2/secret/x/tags/list",
			}
			statuses := map[string]int{}
			for name, p := range paths {
				r := anon.do(t, http.MethodGet, p, nil, "Accept", manifestAccept)
				if r.Status != http.StatusUnauthorized && r.Status != http.StatusNotFound {
					t.Errorf("anonymous GET %s (%s): want 401 or 404, got %s", p, name, r)
				}
				statuses[name] = r.Status
			}
			if statuses["existing manifest"] != statuses["missing manifest"] {
				t.Errorf("anonymous GET of an existing private manifest answers %d but a missing one %d: existence leaks",
					statuses["existing manifest"], statuses["missing manifest"])
			}
			// With an anonymous token for the private repository.
			_, token := fetchToken(t, srv, "", "", "repository:secret/x:pull")
			_, tokenMissing := fetchToken(t, srv, "", "", "repository:secret/nope:pull")
			if token != "" && tokenMissing != "" {
				r1 := srv.withBearer(token).do(t, http.MethodGet, "/v2/secret/x/manifests/v1", nil, "Accept", manifestAccept)
				r2 := srv.withBearer(tokenMissing).do(t, http.MethodGet, "/v2/secret/nope/manifests/v1", nil, "Accept", manifestAccept)
				if r1.Status != http.StatusUnauthorized && r1.Status != http.StatusNotFound {
					t.Errorf("GET a private manifest with an anonymous token: want 401 or 404, got %s", r1)
				}
				if r1.Status != r2.Status {
					t.Errorf("with anonymous tokens, an existing private manifest answers %d but a missing one %d: existence leaks", r1.Status, r2.Status)
				}
			}
			if _, ok := clientPath("crane"); ok {
				mustFail(t, runOpts{}, "crane", "digest", "--insecure", srv.Host+"/secret/x:v1")
			}
			// The admin can pull it.
			mustVerifyImage(t, srv.admin(), "secret/x", "v1", private)
		})

		t.Run("wrong password is refused", func(t *testing.T) {
			_, token := fetchToken(t, srv, srv.User, srv.Password, "repository:library/x:pull,push")
			if token == "" {
				t.Fatal("the admin's correct password got no token")
			}
			if r, _ := fetchToken(t, srv, srv.User, "wrong-"+srv.Password, "repository:library/x:pull,push"); r.Status != http.StatusUnauthorized {
				t.Errorf("token request with a wrong password: want 401, got %s", r)
			}
			if r, _ := fetchToken(t, srv, "nobody", srv.Password, "repository:library/x:pull"); r.Status != http.StatusUnauthorized {
				t.Errorf("token request for an unknown user: want 401, got %s", r)
			}
			if r := srv.withBasic(srv.User, "wrong").do(t, http.MethodGet, "/v2/", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("GET /v2/ with Basic and a wrong password: want 401, got %s", r)
			}
			if r := srv.withBasic(srv.User, "wrong").do(t, http.MethodPost, "/v2/library/x/blobs/uploads/", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("POST blobs/uploads/ with Basic and a wrong password: want 401, got %s", r)
			}
			if r := srv.withBasic(srv.User, "wrong").do(t, http.MethodGet, "/api/v2.0/projects/library", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("GET /api/v2.0/projects/library with Basic and a wrong password: want 401, got %s", r)
			}

			// Clients that check credentials at login.
			logins := []struct {
				client string
				args   func(pass string) []string
			}{
				{"podman", func(p string) []string {
					return []string{"login", "--tls-verify=false", "-u", srv.User, "-p", p, srv.Host}
				}},
				{"skopeo", func(p string) []string {
					return []string{"login", "--tls-verify=false", "-u", srv.User, "-p", p, srv.Host}
				}},
				{"oras", func(p string) []string { return []string{"login", "--plain-http", "-u", srv.User, "-p", p, srv.Host} }},
				{"helm", func(p string) []string {
					return []string{"registry", "login", srv.Host, "--plain-http", "-u", srv.User, "-p", p}
				}},
				{"regctl", func(p string) []string { return []string{"registry", "login", srv.Host, "-u", srv.User, "-p", p} }},
			}
			for _, l := range logins {
				t.Run(l.client, func(t *testing.T) {
					requireClient(t, l.client)
					if l.client == "regctl" {
						run(t, "regctl", "registry", "set", "--skip-check", "--tls", "disabled", srv.Host)
					}
					mustFail(t, runOpts{}, l.client, l.args("wrong-"+srv.Password)...)
					mustRun(t, runOpts{}, l.client, l.args(srv.Password)...)
				})
			}
		})
	})
}

// TestLoginLockout checks the failed-login throttle as clients meet it: after
// too many wrong passwords from one address, even the right password is
// refused with 429 and Retry-After (which clients report as "too many
// requests") until the lockout ends; other accounts are not locked by it.
func TestLoginLockout(t *testing.T) {
	t.Parallel()
	requireClient(t, "skopeo")
	srv := startServer(t, serverOptions{Env: map[string]string{
		"BERTH_LOGIN_MAX_FAILURES": "3",
		"BERTH_LOGIN_LOCKOUT_MIN":  "3s",
	}})
	other := newPassword("Other")
	r := srv.admin().do(t, http.MethodPost, "/api/v2.0/users",
		[]byte(`{"username":"other","email":"other@example.com","realname":"Other","password":"`+other+`"}`),
		"Content-Type", "application/json")
	if r.Status != http.StatusCreated {
		t.Fatalf("create user other: %s", r)
	}

	login := func(pass string) []string {
		return []string{"login", "--tls-verify=false", "-u", srv.User, "-p", pass, srv.Host}
	}
	for range 3 {
		mustFail(t, runOpts{}, "skopeo", login("wrong-"+srv.Password)...)
	}
	res := mustFail(t, runOpts{}, "skopeo", login(srv.Password)...)
	if !strings.Contains(strings.ToLower(res.Stderr), "too many requests") {
		t.Errorf("skopeo login with the right password while locked out: want \"too many requests\", got %s", res)
	}
	tr, _ := fetchToken(t, srv, srv.User, srv.Password, "repository:library/x:pull")
	if tr.Status != http.StatusTooManyRequests || tr.Header.Get("Retry-After") == "" {
		t.Fatalf("token request while locked out: want 429 with Retry-After, got %s (Retry-After %q)", tr, tr.Header.Get("Retry-After"))
	}
	wait, err := strconv.Atoi(tr.Header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > 60 {
		t.Fatalf("Retry-After %q: want whole seconds within the configured lockout", tr.Header.Get("Retry-After"))
	}

	// The lockout is of this account from this address, not of the address.
	mustRun(t, runOpts{}, "skopeo", "login", "--tls-verify=false", "-u", "other", "-p", other, srv.Host)

	time.Sleep(time.Duration(wait)*time.Second + 500*time.Millisecond)
	mustRun(t, runOpts{}, "skopeo", login(srv.Password)...)
}
