package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berthreg/berth/internal/input"
	"github.com/berthreg/berth/internal/meta"
)

// maxTokenFormBytes bounds an OAuth2 POST body; real requests are a few
// hundred bytes.
const maxTokenFormBytes = 64 << 10

// TokenHandler serves the Docker registry token endpoint (/service/token):
// the GET form of the Docker token spec and the OAuth2 POST form that
// containerd and podman use.
type TokenHandler struct {
	Auth    *Authenticator
	Tokens  *TokenService
	Service string // "harbor-registry"
	// Grant trims the requested access to what the principal may do; it
	// returns only granted actions (entries left without actions are dropped).
	Grant func(ctx context.Context, p Principal, requested []Access) ([]Access, error)
	// Accounts finds the account a refresh token was issued to (the Authenticator's lookup).
	Accounts AccountLookup
	Logger   *slog.Logger // nil means slog.Default()
}

type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

func (h *TokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := input.URL(r.URL); p != nil {
		writeTokenError(w, http.StatusBadRequest, "BAD_REQUEST", p.Error())
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.serveGet(w, r)
	case http.MethodPost:
		h.servePost(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeTokenError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed")
	}
}

// serveGet handles the Docker token spec request: Basic credentials are
// optional, and without them the principal is anonymous.
func (h *TokenHandler) serveGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	access, ok := h.checkRequest(w, q)
	if !ok {
		return
	}
	var acct Account // zero: anonymous
	if r.Header.Get("Authorization") != "" {
		name, password, ok := r.BasicAuth()
		if !ok {
			h.unauthorized(w, r, "token request with a non-Basic Authorization header")
			return
		}
		var err error
		if acct, err = h.Auth.BasicAccount(r.Context(), name, password); err != nil {
			h.authFailed(w, r, name, err)
			return
		}
	} else if len(access) == 0 {
		// Harbor refuses anonymous requests that ask for nothing: that is
		// `docker login` probing whether credentials are needed.
		h.unauthorized(w, r, "anonymous token request without scope")
		return
	}
	offline, _ := strconv.ParseBool(q.Get("offline_token"))
	h.respond(w, r, acct, access, offline)
}

// servePost handles the OAuth2 form (RFC 6749 password and refresh_token
// grants).
func (h *TokenHandler) servePost(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeTokenError(w, http.StatusBadRequest, "BAD_REQUEST", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeTokenError(w, http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE", "form body exceeds 64 KiB")
			return
		}
		writeTokenError(w, http.StatusBadRequest, "BAD_REQUEST", "malformed form body")
		return
	}
	form := r.PostForm
	if p := input.Values(form); p != nil {
		writeTokenError(w, http.StatusBadRequest, "BAD_REQUEST", p.Error())
		return
	}
	access, ok := h.checkRequest(w, form)
	if !ok {
		return
	}
	var acct Account
	switch grant := form.Get("grant_type"); grant {
	case "password":
		name := form.Get("username")
		var err error
		if acct, err = h.Auth.BasicAccount(r.Context(), name, form.Get("password")); err != nil {
			h.authFailed(w, r, name, err)
			return
		}
	case "refresh_token":
		// A refresh token is not a password: it is checked against the account as it is
		// now (gone, recreated, or with a changed password or secret: refused), not throttled.
		var err error
		acct, err = h.Tokens.VerifyRefresh(r.Context(), form.Get("refresh_token"), h.Accounts)
		if errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrNoAccount) {
			h.unauthorized(w, r, "refresh token refused: "+err.Error())
			return
		}
		if err != nil {
			h.internalError(w, r, "verify refresh token", err)
			return
		}
	case "":
		writeTokenError(w, http.StatusBadRequest, "BAD_REQUEST", "grant_type is required")
		return
	default:
		writeTokenError(w, http.StatusBadRequest, "UNSUPPORTED", "unsupported grant_type "+strconv.Quote(grant))
		return
	}
	h.respond(w, r, acct, access, form.Get("access_type") == "offline")
}

// checkRequest validates the parameters both forms share, service and scope,
// and writes a 400 if they are wrong.
func (h *TokenHandler) checkRequest(w http.ResponseWriter, params url.Values) ([]Access, bool) {
	if svc := params.Get("service"); svc != "" && svc != h.Service {
		writeTokenError(w, http.StatusBadRequest, "BAD_REQUEST", "unknown service "+strconv.Quote(svc))
		return nil, false
	}
	access, err := ParseScopes(params["scope"])
	if err != nil {
		writeTokenError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return nil, false
	}
	return access, true
}

// respond issues a token for the account (the zero Account: anonymous), with a refresh token
// bound to it when offline access was asked for.
func (h *TokenHandler) respond(w http.ResponseWriter, r *http.Request, acct Account, requested []Access, offline bool) {
	p := Principal{Kind: Anonymous}
	if acct.Name != "" {
		p = acct.Principal()
	}
	granted := []Access{}
	if len(requested) > 0 {
		g, err := h.Grant(r.Context(), p, requested)
		if err != nil {
			h.internalError(w, r, "grant access", err)
			return
		}
		for _, a := range g {
			if len(a.Actions) > 0 {
				granted = append(granted, a)
			}
		}
	}
	token, expiresIn, issuedAt, err := h.Tokens.Issue(r.Context(), p, granted)
	if err != nil {
		h.internalError(w, r, "issue token", err)
		return
	}
	resp := tokenResponse{
		Token:       token,
		AccessToken: token,
		ExpiresIn:   expiresIn,
		IssuedAt:    issuedAt.UTC().Format(time.RFC3339),
	}
	if offline && !p.IsAnonymous() {
		if resp.RefreshToken, err = h.Tokens.IssueRefresh(acct); err != nil {
			h.internalError(w, r, "issue refresh token", err)
			return
		}
	}
	h.logger().DebugContext(r.Context(), "issued registry token",
		"principal", p.Name, "kind", p.Kind.String(), "requested", len(requested), "granted", len(granted),
		"refresh", resp.RefreshToken != "")
	w.Header().Set("Content-Type", "application/json")
	// Tokens are credentials: no cache may keep them.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}

// authFailed maps an authentication error to a response: bad credentials are
// the client's problem (401), as is a lockout (429 with Retry-After); anything else is
// ours (500).
func (h *TokenHandler) authFailed(w http.ResponseWriter, r *http.Request, name string, err error) {
	if errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrNoAccount) {
		h.logger().InfoContext(r.Context(), "token request with bad credentials", "user", name)
		h.unauthorized(w, r, "")
		return
	}
	if te, ok := errors.AsType[*ThrottledError](err); ok {
		h.logger().InfoContext(r.Context(), "token request refused during a login lockout", "user", name)
		w.Header().Set("Retry-After", strconv.Itoa(te.Seconds()))
		writeTokenError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", te.Message())
		return
	}
	h.internalError(w, r, "authenticate "+strconv.Quote(name), err)
}

// unauthorized writes the 401 Harbor sends; reason is for the debug log only,
// clients always see the same message.
func (h *TokenHandler) unauthorized(w http.ResponseWriter, r *http.Request, reason string) {
	if reason != "" {
		h.logger().DebugContext(r.Context(), "token request refused", "reason", reason)
	}
	writeTokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
}

func (h *TokenHandler) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if meta.IsUnavailable(err) {
		// The database is down or restarting: a condition that passes, which clients retry.
		h.logger().WarnContext(r.Context(), "token request: database unavailable", "op", what, "err", err)
		writeTokenError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the registry's database is unavailable; try again shortly")
		return
	}
	h.logger().ErrorContext(r.Context(), "token request failed", "op", what, "err", err)
	writeTokenError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
}

func (h *TokenHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

type tokenErrorBody struct {
	Errors []tokenErrorEntry `json:"errors"`
}

type tokenErrorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeTokenError writes Harbor's error body, which the Docker client turns
// into "<code>: <message>".
func writeTokenError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(tokenErrorBody{Errors: []tokenErrorEntry{{Code: code, Message: message}}})
}
