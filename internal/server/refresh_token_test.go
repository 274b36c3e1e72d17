package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// Tests that OAuth2 refresh tokens (POST /service/token with access_type=offline, GET with
// offline_token=true) die with the credential they were issued against: a password change, an
// administrator's reset, a robot's secret refresh, and the account deleted and created again
// under the same name.

// tokenForm posts an OAuth2 form to the token endpoint.
func (ts *testServer) tokenForm(t *testing.T, form url.Values) *http.Response {
	t.Helper()
	form.Set("service", TokenService)
	form.Set("client_id", "containerd")
	return ts.do(t, http.MethodPost, "/service/token", hdr(anonymous(), "Content-Type", "application/x-www-form-urlencoded"), []byte(form.Encode()))
}

// refreshTokenFor logs in with the password grant, asking for offline access, and returns the
// refresh token.
func (ts *testServer) refreshTokenFor(t *testing.T, name, password string) string {
	t.Helper()
	resp := ts.tokenForm(t, url.Values{"grant_type": {"password"}, "username": {name}, "password": {password}, "access_type": {"offline"}})
	return refreshTokenOf(t, resp)
}

// offlineTokenFor asks for a refresh token the Docker way: GET with Basic and offline_token.
func (ts *testServer) offlineTokenFor(t *testing.T, name, password string) string {
	t.Helper()
	return refreshTokenOf(t, ts.do(t, http.MethodGet, "/service/token?service="+TokenService+"&offline_token=true", basicAuth(name, password), nil))
}

func refreshTokenOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	expectStatus(t, resp, http.StatusOK)
	var tr struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(respBody(t, resp), &tr); err != nil || tr.RefreshToken == "" {
		t.Fatalf("token response %s: no refresh token (%v)", respBody(t, resp), err)
	}
	return tr.RefreshToken
}

// refresh uses a refresh token for a push token and returns the answer.
func (ts *testServer) refresh(t *testing.T, rt string) *http.Response {
	t.Helper()
	return ts.tokenForm(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"scope": {"repository:library/refreshed:pull,push"}})
}

func TestRefreshTokenRevokedByCredentialChange(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		refused := func(t *testing.T, rt string) {
			t.Helper()
			assertOCIError(t, ts.refresh(t, rt), http.StatusUnauthorized, "UNAUTHORIZED")
		}

		t.Run("unchanged account keeps refreshing", func(t *testing.T) {
			acctCreate(t, ts, "rt-steady")
			for _, rt := range []string{ts.refreshTokenFor(t, "rt-steady", acctPassword), ts.offlineTokenFor(t, "rt-steady", acctPassword)} {
				for range 3 {
					expectStatus(t, ts.refresh(t, rt), http.StatusOK)
				}
			}
			// A profile change is no credential change.
			id := mustUserID(t, ts, "rt-steady")
			body := `{"email":"steady@example.com","realname":"Steady","comment":"x"}`
			expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/users/%d", id), hdr(nil, "Content-Type", "application/json"), []byte(body)), http.StatusOK)
			expectStatus(t, ts.refresh(t, ts.refreshTokenFor(t, "rt-steady", acctPassword)), http.StatusOK)
		})

		t.Run("user changes their password", func(t *testing.T) {
			id := acctCreate(t, ts, "rt-changer")
			rt, offline := ts.refreshTokenFor(t, "rt-changer", acctPassword), ts.offlineTokenFor(t, "rt-changer", acctPassword)
			expectStatus(t, ts.refresh(t, rt), http.StatusOK)
			body := mustJSON(t, map[string]string{"old_password": acctPassword, "new_password": "N3w-Passw0rd"})
			expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/users/%d/password", id), acctAuth("rt-changer"), body), http.StatusOK)
			refused(t, rt)
			refused(t, offline)
			expectStatus(t, ts.refresh(t, ts.refreshTokenFor(t, "rt-changer", "N3w-Passw0rd")), http.StatusOK)
		})

		t.Run("administrator resets the password", func(t *testing.T) {
			id := acctCreate(t, ts, "rt-reset")
			rt := ts.refreshTokenFor(t, "rt-reset", acctPassword)
			expectStatus(t, ts.refresh(t, rt), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/users/%d/password", id), nil, []byte(`{"new_password":"Reset-Passw0rd"}`)), http.StatusOK)
			refused(t, rt)
		})

		t.Run("robot secret refreshed", func(t *testing.T) {
			r := ts.mrRobot(t, nil, projectRobot("rtbot", "library", -1, "repository:pull", "repository:push"))
			rt, offline := ts.refreshTokenFor(t, r.Name, r.Secret), ts.offlineTokenFor(t, r.Name, r.Secret)
			expectStatus(t, ts.refresh(t, rt), http.StatusOK)
			expectStatus(t, ts.mrJSON(t, http.MethodPatch, fmt.Sprintf("%s/robots/%d", apiBase, r.ID), nil, map[string]any{"secret": "N3w-Secret42"}), http.StatusOK)
			refused(t, rt)
			refused(t, offline)
			expectStatus(t, ts.refresh(t, ts.refreshTokenFor(t, r.Name, "N3w-Secret42")), http.StatusOK)
		})

		t.Run("robot deleted and created again", func(t *testing.T) {
			spec := projectRobot("rtbot2", "library", -1, "repository:pull")
			spec["secret"] = "Same-Secret42"
			r := ts.mrRobot(t, nil, spec)
			rt := ts.refreshTokenFor(t, r.Name, "Same-Secret42")
			expectStatus(t, ts.do(t, http.MethodDelete, fmt.Sprintf("%s/robots/%d", apiBase, r.ID), nil, nil), http.StatusOK)
			refused(t, rt)
			again := ts.mrRobot(t, nil, spec)
			if again.Name != r.Name {
				t.Fatalf("recreated robot is %s, want %s", again.Name, r.Name)
			}
			refused(t, rt)
		})

		t.Run("user deleted and created again", func(t *testing.T) {
			id := acctCreate(t, ts, "rt-reborn")
			rt := ts.refreshTokenFor(t, "rt-reborn", acctPassword)
			expectStatus(t, ts.do(t, http.MethodDelete, fmt.Sprintf("/api/v2.0/users/%d", id), nil, nil), http.StatusOK)
			refused(t, rt)
			// Same name, same password: still another account.
			acctCreate(t, ts, "rt-reborn")
			refused(t, rt)
			expectStatus(t, ts.refresh(t, ts.refreshTokenFor(t, "rt-reborn", acctPassword)), http.StatusOK)
		})
	})
}

// mustUserID finds a user's id by name through the API.
func mustUserID(t *testing.T, ts *testServer, name string) int64 {
	t.Helper()
	users := decodeJSON[[]acctUser](t, ts.do(t, http.MethodGet, "/api/v2.0/users?q="+url.QueryEscape("username="+name), nil, nil))
	if len(users) != 1 {
		t.Fatalf("user %s: found %d", name, len(users))
	}
	return users[0].UserID
}
