package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Tests of login throttling through the complete server: every entry point that takes a
// password answers 429 with Retry-After in its own error format once a client has failed too
// often, refuses even the right password from that client during the lockout, lets the user in
// from another address, treats unknown names like known ones, and records the lockout in the
// audit log. (The throttle's arithmetic — growth, expiry, decay, the memory bound — is tested
// with a test clock in internal/auth.)

// from returns a copy of the test server whose requests come from the loopback address ip
// (all of 127.0.0.0/8 reaches the listener), so that a test can speak as several clients.
func (ts *testServer) from(ip string) *testServer {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	other := *ts
	other.client = &http.Client{
		CheckRedirect: ts.client.CheckRedirect,
		Timeout:       ts.client.Timeout,
		Transport:     &http.Transport{DialContext: d.DialContext},
	}
	return &other
}

// loginEntryPoint is one way a client presents a password.
type loginEntryPoint struct {
	name string
	// try presents name and password; ok is the status of success.
	try func(t *testing.T, ts *testServer, name, password string) *http.Response
	ok  int
	// code is the error code of the 429 answer in the entry point's error format.
	code string
}

var loginEntryPoints = []loginEntryPoint{
	{"v2 basic", func(t *testing.T, ts *testServer, name, password string) *http.Response {
		return ts.do(t, http.MethodGet, "/v2/", basicAuth(name, password), nil)
	}, http.StatusOK, "TOOMANYREQUESTS"},
	{"api basic", func(t *testing.T, ts *testServer, name, password string) *http.Response {
		return ts.do(t, http.MethodGet, "/api/v2.0/users/current", basicAuth(name, password), nil)
	}, http.StatusOK, "TOO_MANY_REQUEST"},
	{"token GET", func(t *testing.T, ts *testServer, name, password string) *http.Response {
		return ts.do(t, http.MethodGet, "/service/token?service="+TokenService+"&offline_token=true", basicAuth(name, password), nil)
	}, http.StatusOK, "TOOMANYREQUESTS"},
	{"token password grant", func(t *testing.T, ts *testServer, name, password string) *http.Response {
		form := url.Values{"grant_type": {"password"}, "username": {name}, "password": {password},
			"service": {TokenService}, "client_id": {"containerd"}, "access_type": {"offline"}}.Encode()
		return ts.do(t, http.MethodPost, "/service/token", hdr(anonymous(), "Content-Type", "application/x-www-form-urlencoded"), []byte(form))
	}, http.StatusOK, "TOOMANYREQUESTS"},
	{"portal login", func(t *testing.T, ts *testServer, name, password string) *http.Response {
		form := url.Values{"principal": {name}, "password": {password}}.Encode()
		return ts.do(t, http.MethodPost, "/c/login", hdr(anonymous(), "Content-Type", "application/x-www-form-urlencoded"), []byte(form))
	}, http.StatusOK, "TOO_MANY_REQUEST"},
}

// expectThrottled checks a 429 answer: Retry-After within the first lockout, and the entry
// point's error body with a message that says when to come back.
func expectThrottled(t *testing.T, resp *http.Response, code string) {
	t.Helper()
	assertOCIError(t, resp, http.StatusTooManyRequests, code)
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 30 {
		t.Errorf("Retry-After %q, want 1 to 30 seconds", resp.Header.Get("Retry-After"))
	}
	if msg := decodeErrors(t, resp)[0].Message; msg != fmt.Sprintf("too many failed login attempts: try again in %d seconds", ra) {
		t.Errorf("message %q does not say when to try again (Retry-After %d)", msg, ra)
	}
}

// TestLoginThrottling: at every entry point, five wrong passwords from one address lock that
// address out of the account (the fifth answer already says so): the right password from
// there is refused too, while the user logs in from another address; a name that does not
// exist is answered exactly alike; and the lockout reaches the audit log.
func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		for i, ep := range loginEntryPoints {
			t.Run(ep.name, func(t *testing.T) {
				user := fmt.Sprintf("throttled%d", i)
				acctCreate(t, ts, user)
				// Each entry point has its own attacker and user addresses, so that the
				// per-address limit (20 failures over all accounts) is not what is tested.
				attackerIP, userIP := fmt.Sprintf("127.0.0.%d", 10+i), fmt.Sprintf("127.0.0.%d", 30+i)
				attacker, elsewhere := ts.from(attackerIP), ts.from(userIP)

				for _, name := range []string{user, "nobody-" + user} {
					for n := 1; n <= 4; n++ {
						assertOCIError(t, ep.try(t, attacker, name, "Wrong-Passw0rd"), http.StatusUnauthorized, "UNAUTHORIZED")
					}
					expectThrottled(t, ep.try(t, attacker, name, "Wrong-Passw0rd"), ep.code)
					// During the lockout the right password from that address is refused.
					expectThrottled(t, ep.try(t, attacker, name, acctPassword), ep.code)
				}
				// The user, from elsewhere, is not locked out.
				expectStatus(t, ep.try(t, elsewhere, user, acctPassword), ep.ok)

				deadline := time.Now().Add(5 * time.Second)
				for acctCount(t, ts, "SELECT COUNT(*) FROM audit_log WHERE operation = 'lockout' AND resource_type = 'user' AND resource = $1 AND username = $2",
					user, attackerIP) == 0 {
					if time.Now().After(deadline) {
						t.Fatalf("no audit entry of the lockout of %s from %s", user, attackerIP)
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}

		// A signed-in user guessing their current password through a password change is
		// throttled too (with a session: Basic credentials would prove the password anyway).
		t.Run("current password of a password change", func(t *testing.T) {
			id := acctCreate(t, ts, "throttled-change")
			client := ts.from("127.0.0.50")
			s := acctLogin(t, client, "throttled-change", acctPassword)
			path := fmt.Sprintf("/api/v2.0/users/%d/password", id)
			change := func(old string) *http.Response {
				return client.do(t, http.MethodPut, path, s.withCSRF(), mustJSON(t, map[string]string{"old_password": old, "new_password": "N3w-Passw0rd"}))
			}
			for range 4 {
				assertOCIError(t, change("Wrong-Passw0rd"), http.StatusForbidden, "FORBIDDEN")
			}
			expectThrottled(t, change("Wrong-Passw0rd"), "TOO_MANY_REQUEST")
			expectThrottled(t, change(acctPassword), "TOO_MANY_REQUEST")
		})
	})
}

// TestLoginThrottlingLeavesTokensAndSessionsAlone: a client locked out of an account keeps
// using the bearer token and the session it already holds; only password checks are throttled.
func TestLoginThrottlingLeavesTokensAndSessionsAlone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	acctCreate(t, ts, "holder")
	client := ts.from("127.0.0.60")
	tok := client.token(t, acctAuth("holder"))
	s := acctLogin(t, client, "holder", acctPassword)
	for range 5 {
		_ = client.do(t, http.MethodGet, "/v2/", basicAuth("holder", "Wrong-Passw0rd"), nil)
	}
	expectThrottled(t, client.do(t, http.MethodGet, "/v2/", acctAuth("holder"), nil), "TOOMANYREQUESTS")
	expectStatus(t, client.do(t, http.MethodGet, "/v2/", bearer(tok), nil), http.StatusOK)
	expectStatus(t, client.do(t, http.MethodGet, "/api/v2.0/users/current", s.headers(), nil), http.StatusOK)
}

// TestLoginThrottlingConfiguration: login_max_failures sets the threshold; 0 turns throttling
// off.
func TestLoginThrottlingConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		maxFailures int
		// throttledAt is the failure answered 429; 0: none of 12.
		throttledAt int
	}{
		{"stricter", 2, 2},
		{"off", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := offlineConfig()
			cfg.DataDir = t.TempDir()
			cfg.AdminPassword = adminPassword
			cfg.LoginMaxFailures = tc.maxFailures
			ts := startTestServer(t, cfg, "sqlite", slog.DiscardHandler)
			for n := 1; n <= 12; n++ {
				resp := ts.do(t, http.MethodGet, "/api/v2.0/users/current", basicAuth(adminUser, "Wrong-Passw0rd"), nil)
				if n == tc.throttledAt {
					expectThrottled(t, resp, "TOO_MANY_REQUEST")
					return
				}
				assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
			}
			if tc.throttledAt != 0 {
				t.Fatalf("never throttled")
			}
			expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", nil, nil), http.StatusOK)
		})
	}
}
