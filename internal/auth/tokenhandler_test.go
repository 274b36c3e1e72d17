package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGrant stands in for the RBAC layer: sysadmins get everything, "p/..."
// repositories give members pull and push, "public/..." gives anyone pull,
// and "boom/..." fails. Denied entries are returned with no actions so the
// handler's dropping of them is exercised.
func fakeGrant(_ context.Context, p Principal, requested []Access) ([]Access, error) {
	var out []Access
	for _, r := range requested {
		var allowed []string
		switch {
		case strings.HasPrefix(r.Name, "boom/"):
			return nil, errors.New("rbac backend down")
		case p.SysAdmin:
			allowed = r.Actions
		case strings.HasPrefix(r.Name, "p/") && !p.IsAnonymous():
			allowed = []string{"pull", "push"}
		case strings.HasPrefix(r.Name, "public/"):
			allowed = []string{"pull"}
		}
		g := r
		g.Actions = slices.DeleteFunc(slices.Clone(r.Actions), func(a string) bool { return !slices.Contains(allowed, a) })
		out = append(out, g)
	}
	return out, nil
}

// syncBuffer lets parallel handler goroutines share one log buffer safely.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestTokenHandler(t *testing.T, logs *syncBuffer) *TokenHandler {
	t.Helper()
	accounts := &fakeAccounts{accounts: map[string]Account{
		"admin": {ID: 1, Name: "admin", PasswordHash: mustHash(t, "Harbor12345"), SysAdmin: true},
		"dev":   {ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")},
	}}
	return &TokenHandler{
		Auth:     NewAuthenticator(accounts.lookup),
		Tokens:   NewTokenService(newTestKey(t), testIssuer, testService, 30*time.Minute),
		Service:  testService,
		Grant:    fakeGrant,
		Accounts: accounts.lookup,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func basicAuth(user, password string) http.Header {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, password)
	return http.Header{"Authorization": r.Header["Authorization"]}
}

func TestTokenHandler(t *testing.T) {
	t.Parallel()
	pullPush := []Access{{Type: "repository", Name: "p/r", Actions: []string{"pull", "push"}}}
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	refreshFor := func(name string) func(*TokenHandler) string {
		return func(h *TokenHandler) string {
			a, err := h.Accounts(t.Context(), name)
			if errors.Is(err, ErrNoAccount) {
				a = Account{ID: 99, Name: name, PasswordHash: "$argon2id$gone"}
			}
			rt, err := h.Tokens.IssueRefresh(a)
			if err != nil {
				panic(err)
			}
			return form("grant_type", "refresh_token", "refresh_token", rt, "service", testService,
				"scope", "repository:p/r:pull,push", "client_id", "containerd")
		}
	}
	const formType = "application/x-www-form-urlencoded"

	tests := []struct {
		name        string
		method      string
		target      string
		header      http.Header
		contentType string
		body        func(*TokenHandler) string

		wantStatus  int
		wantCode    string   // error responses
		wantAccess  []Access // success responses
		wantSubject string
		wantRefresh bool
	}{
		{name: "docker pull/push with Basic", method: "GET",
			target: "/service/token?service=harbor-registry&scope=repository:p/r:pull,push,delete&scope=repository:q/s:pull&account=dev&client_id=docker",
			header: basicAuth("dev", "Dev12345"), wantStatus: 200, wantAccess: pullPush, wantSubject: "dev"},
		{name: "admin gets everything asked", method: "GET",
			target: "/service/token?service=harbor-registry&scope=repository:q/s:pull,delete&scope=registry:catalog:*",
			header: basicAuth("admin", "Harbor12345"), wantStatus: 200, wantSubject: "admin", wantAccess: []Access{
				{Type: "repository", Name: "q/s", Actions: []string{"pull", "delete"}},
				{Type: "registry", Name: "catalog", Actions: []string{"*"}},
			}},
		{name: "docker login without scope", method: "GET", target: "/service/token?service=harbor-registry&account=admin&client_id=docker&offline_token=true",
			header: basicAuth("admin", "Harbor12345"), wantStatus: 200, wantAccess: []Access{}, wantSubject: "admin", wantRefresh: true},
		{name: "space separated scopes in GET", method: "GET", target: "/service/token?scope=" + url.QueryEscape("repository:p/r:pull repository:p/r:push"),
			header: basicAuth("dev", "Dev12345"), wantStatus: 200, wantAccess: pullPush, wantSubject: "dev"},
		{name: "offline_token", method: "GET", target: "/service/token?service=harbor-registry&scope=repository:p/r:pull,push&offline_token=true",
			header: basicAuth("dev", "Dev12345"), wantStatus: 200, wantAccess: pullPush, wantSubject: "dev", wantRefresh: true},
		{name: "anonymous pull of public repo", method: "GET", target: "/service/token?service=harbor-registry&scope=repository:public/r:pull,push",
			wantStatus: 200, wantAccess: []Access{{Type: "repository", Name: "public/r", Actions: []string{"pull"}}}},
		{name: "anonymous on private repo gets empty access", method: "GET", target: "/service/token?scope=repository:p/r:pull",
			wantStatus: 200, wantAccess: []Access{}},
		{name: "anonymous gets no refresh token", method: "GET", target: "/service/token?scope=repository:public/r:pull&offline_token=true",
			wantStatus: 200, wantAccess: []Access{{Type: "repository", Name: "public/r", Actions: []string{"pull"}}}},
		{name: "anonymous without scope", method: "GET", target: "/service/token?service=harbor-registry",
			wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "wrong password", method: "GET", target: "/service/token?scope=repository:p/r:pull",
			header: basicAuth("dev", "wrong-Pass1"), wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "unknown user", method: "GET", target: "/service/token?scope=repository:p/r:pull",
			header: basicAuth("ghost", "wrong-Pass1"), wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "non-Basic authorization", method: "GET", target: "/service/token?scope=repository:p/r:pull",
			header: http.Header{"Authorization": {"Bearer abc"}}, wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "wrong service", method: "GET", target: "/service/token?service=other&scope=repository:p/r:pull",
			header: basicAuth("dev", "Dev12345"), wantStatus: 400, wantCode: "BAD_REQUEST"},
		{name: "malformed scope", method: "GET", target: "/service/token?scope=repository:p/r",
			header: basicAuth("dev", "Dev12345"), wantStatus: 400, wantCode: "BAD_REQUEST"},
		{name: "grant failure", method: "GET", target: "/service/token?scope=repository:boom/r:pull",
			header: basicAuth("dev", "Dev12345"), wantStatus: 500, wantCode: "UNKNOWN"},

		{name: "OAuth2 password grant", method: "POST", target: "/service/token", contentType: formType,
			body: func(*TokenHandler) string {
				return form("grant_type", "password", "username", "dev", "password", "Dev12345", "service", testService,
					"scope", "repository:p/r:pull repository:p/r:push", "scope", "repository:q/s:pull",
					"client_id", "containerd", "access_type", "offline")
			},
			wantStatus: 200, wantAccess: pullPush, wantSubject: "dev", wantRefresh: true},
		{name: "OAuth2 password grant with charset", method: "POST", target: "/service/token", contentType: formType + "; charset=utf-8",
			body: func(*TokenHandler) string {
				return form("grant_type", "password", "username", "dev", "password", "Dev12345", "scope", "repository:p/r:pull,push")
			},
			wantStatus: 200, wantAccess: pullPush, wantSubject: "dev"},
		{name: "OAuth2 password grant bad password", method: "POST", target: "/service/token", contentType: formType,
			body: func(*TokenHandler) string {
				return form("grant_type", "password", "username", "dev", "password", "wrong-Pass1", "scope", "repository:p/r:pull")
			},
			wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "OAuth2 refresh grant", method: "POST", target: "/service/token", contentType: formType, body: refreshFor("dev"),
			wantStatus: 200, wantAccess: pullPush, wantSubject: "dev"},
		{name: "OAuth2 refresh grant for deleted account", method: "POST", target: "/service/token", contentType: formType, body: refreshFor("ghost"),
			wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "OAuth2 refresh grant with access token", method: "POST", target: "/service/token", contentType: formType,
			body: func(h *TokenHandler) string {
				tok, _, _, err := h.Tokens.Issue(t.Context(), Principal{Kind: User, ID: 7, Name: "dev"}, nil)
				if err != nil {
					panic(err)
				}
				return form("grant_type", "refresh_token", "refresh_token", tok)
			},
			wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "OAuth2 wrong service", method: "POST", target: "/service/token", contentType: formType,
			body: func(*TokenHandler) string {
				return form("grant_type", "password", "username", "dev", "password", "Dev12345", "service", "other")
			},
			wantStatus: 400, wantCode: "BAD_REQUEST"},
		{name: "unsupported grant", method: "POST", target: "/service/token", contentType: formType,
			body:       func(*TokenHandler) string { return form("grant_type", "client_credentials", "client_id", "x") },
			wantStatus: 400, wantCode: "UNSUPPORTED"},
		{name: "missing grant", method: "POST", target: "/service/token", contentType: formType,
			body:       func(*TokenHandler) string { return form("username", "dev", "password", "Dev12345") },
			wantStatus: 400, wantCode: "BAD_REQUEST"},
		{name: "JSON body", method: "POST", target: "/service/token", contentType: "application/json",
			body:       func(*TokenHandler) string { return `{"grant_type":"password"}` },
			wantStatus: 400, wantCode: "BAD_REQUEST"},
		{name: "oversize form", method: "POST", target: "/service/token", contentType: formType,
			body: func(*TokenHandler) string {
				return form("grant_type", "password", "scope", strings.Repeat("repository:p/r:pull ", 4000))
			},
			wantStatus: 413, wantCode: "REQUEST_ENTITY_TOO_LARGE"},
		{name: "PUT", method: "PUT", target: "/service/token", wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &syncBuffer{}
			h := newTestTokenHandler(t, logs)
			var body string
			if tt.body != nil {
				body = tt.body(h)
			}
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(body))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			res := rec.Result()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tt.wantStatus, rec.Body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control %q, want no-store", cc)
			}
			for _, secret := range []string{"Harbor12345", "Dev12345", "wrong-Pass1"} {
				if strings.Contains(logs.String(), secret) {
					t.Fatalf("log contains password %q:\n%s", secret, logs)
				}
			}
			if tt.wantCode != "" {
				checkTokenError(t, rec.Body.Bytes(), tt.wantCode)
				if tt.wantStatus == http.StatusMethodNotAllowed && res.Header.Get("Allow") != "GET, POST" {
					t.Fatalf("405 without Allow header: %v", res.Header)
				}
				return
			}
			checkTokenResponse(t, h, rec.Body.Bytes(), logs.String(), tt.wantSubject, tt.wantAccess, tt.wantRefresh)
		})
	}
}

func checkTokenError(t *testing.T, body []byte, wantCode string) {
	t.Helper()
	var got tokenErrorBody
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if len(got.Errors) != 1 || got.Errors[0].Code != wantCode || got.Errors[0].Message == "" {
		t.Fatalf("error body %s, want one error with code %s", body, wantCode)
	}
	if wantCode == "UNAUTHORIZED" && got.Errors[0].Message != "authentication required" {
		t.Fatalf("401 message %q, want Harbor's \"authentication required\"", got.Errors[0].Message)
	}
}

func checkTokenResponse(t *testing.T, h *TokenHandler, body []byte, logs, wantSubject string, wantAccess []Access, wantRefresh bool) {
	t.Helper()
	var got struct {
		Token        string  `json:"token"`
		AccessToken  string  `json:"access_token"`
		ExpiresIn    int     `json:"expires_in"`
		IssuedAt     string  `json:"issued_at"`
		RefreshToken *string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if got.Token == "" || got.Token != got.AccessToken || got.ExpiresIn != 1800 {
		t.Fatalf("body %s: want token == access_token and expires_in 1800", body)
	}
	if strings.Contains(logs, got.Token) {
		t.Fatal("log contains the issued token")
	}
	issued, err := time.Parse(time.RFC3339, got.IssuedAt)
	if err != nil || !strings.HasSuffix(got.IssuedAt, "Z") || time.Since(issued) > time.Minute {
		t.Fatalf("issued_at %q: want a recent RFC 3339 UTC time (%v)", got.IssuedAt, err)
	}
	claims, err := h.Tokens.Verify(got.Token)
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if claims.Principal.Name != wantSubject || !reflect.DeepEqual(claims.Access, wantAccess) {
		t.Fatalf("token for %q with access %+v; want %q with %+v", claims.Principal.Name, claims.Access, wantSubject, wantAccess)
	}
	if (got.RefreshToken != nil) != wantRefresh {
		t.Fatalf("refresh_token present = %v, want %v", got.RefreshToken != nil, wantRefresh)
	}
	if got.RefreshToken != nil {
		if a, err := h.Tokens.VerifyRefresh(t.Context(), *got.RefreshToken, h.Accounts); err != nil || a.Name != wantSubject {
			t.Fatalf("refresh token: VerifyRefresh = %+v, %v; want %q", a, err, wantSubject)
		}
	}
}

// TestTokenHandlerThrottles: after five wrong passwords from one address, both forms of the
// token request answer 429 TOOMANYREQUESTS with Retry-After — for the right password too, and
// for an unknown name alike — while another address still gets its token.
func TestTokenHandlerThrottles(t *testing.T) {
	t.Parallel()
	get := func(name, password string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/service/token?service=harbor-registry&scope=repository:p/r:pull", nil)
		r.SetBasicAuth(name, password)
		return r
	}
	post := func(name, password string) *http.Request {
		body := url.Values{"grant_type": {"password"}, "username": {name}, "password": {password}, "scope": {"repository:p/r:pull"}}.Encode()
		r := httptest.NewRequest(http.MethodPost, "/service/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	for _, form := range []struct {
		name string
		req  func(name, password string) *http.Request
	}{{"GET", get}, {"POST", post}} {
		for _, name := range []string{"dev", "ghost"} {
			t.Run(form.name+" "+name, func(t *testing.T) {
				t.Parallel()
				h := newTestTokenHandler(t, &syncBuffer{})
				// A stopped clock: Retry-After is exactly the first lockout.
				h.Auth.now = func() time.Time { return testBaseTime }
				serve := func(addr netip.Addr, password string) *httptest.ResponseRecorder {
					r := form.req(name, password)
					r = r.WithContext(WithClientAddr(r.Context(), addr))
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					return rec
				}
				for i := 1; i <= 5; i++ {
					rec := serve(addrA, "wrong-Pass1")
					want := http.StatusUnauthorized
					if i == 5 {
						want = http.StatusTooManyRequests
					}
					if rec.Code != want {
						t.Fatalf("attempt %d: status %d, want %d; body %s", i, rec.Code, want, rec.Body)
					}
				}
				rec := serve(addrA, "Dev12345")
				if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "30" {
					t.Fatalf("right password during the lockout: %d, Retry-After %q; want 429, 30", rec.Code, rec.Header().Get("Retry-After"))
				}
				checkTokenError(t, rec.Body.Bytes(), "TOOMANYREQUESTS")
				if name == "dev" {
					if rec := serve(addrB, "Dev12345"); rec.Code != http.StatusOK {
						t.Fatalf("from another address: %d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
