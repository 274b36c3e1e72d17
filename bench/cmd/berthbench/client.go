package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client talks to one registry over plain HTTP/1.1 with keep-alive. It answers auth
// challenges the way docker does: on 401 with a Bearer challenge it fetches a token from the
// realm (with Basic credentials when it has them, anonymously otherwise), caches it per scope
// until shortly before it expires, and repeats the request once; on a Basic challenge it
// switches to Basic credentials. Against a registry without auth (Distribution here) no
// challenge ever comes and every request goes out bare.
type Client struct {
	base       *url.URL
	user, pass string
	hc         *http.Client

	mu     sync.Mutex
	tokens map[string]*tokenEntry // by scope

	useBasic     atomic.Bool
	tokenFetches atomic.Int64
}

type tokenEntry struct {
	// mu serializes fetching, so that 64 workers hitting the same challenge at once ask the
	// token service once rather than 64 times.
	mu      sync.Mutex
	value   string
	expires time.Time
}

// Request is one registry request. Body is a factory because a request may have to be sent
// twice (once bare, once after the auth challenge), and a streamed body can only be read once.
type Request struct {
	Method string
	URL    string // absolute, or a path (with query) relative to the registry
	Scope  string // token scope the request needs, e.g. repository:library/x:pull
	Header http.Header
	Body   func() io.Reader
	Size   int64 // Content-Length of Body; -1 sends it chunked
}

func newClient(rawURL, user, pass string, conns int) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("registry URL %q: want http://host:port", rawURL)
	}
	if err := requireLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		DialContext: loopbackDial,
		// Pools sized for the concurrency: every worker keeps its connection alive, so the
		// numbers measure requests, not TCP handshakes.
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // blobs are opaque; measure the registry, not gzip
		ForceAttemptHTTP2:   false,
		// Large buffers keep the 1 GiB streams from being syscall-bound on the client side.
		WriteBufferSize: 256 << 10,
		ReadBufferSize:  256 << 10,
	}
	return &Client{
		base:   u,
		user:   user,
		pass:   pass,
		hc:     &http.Client{Transport: tr},
		tokens: map[string]*tokenEntry{},
	}, nil
}

// requireLoopback refuses anything but the local machine: a load generator pointed at a
// shared service by mistake would be a denial of service.
func requireLoopback(host string) error {
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback address; berthbench only runs on loopback", host)
	}
	return nil
}

// loopbackDial also checks the resolved address, so a token realm or a Location header
// pointing elsewhere cannot send traffic off the machine either.
func loopbackDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if err := requireLoopback(host); err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (c *Client) resolve(ref string) (*url.URL, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	return c.base.ResolveReference(u), nil
}

// Do sends r and answers at most one auth challenge. It returns the final response (the
// caller closes its body) and when the final attempt started, so latencies exclude the
// token round trip, which happens once per scope.
func (c *Client) Do(ctx context.Context, r *Request) (*http.Response, time.Time, error) {
	u, err := c.resolve(r.URL)
	if err != nil {
		return nil, time.Time{}, err
	}
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if r.Body != nil {
			body = r.Body()
		}
		hr, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
		if err != nil {
			return nil, time.Time{}, err
		}
		if r.Body != nil {
			hr.ContentLength = r.Size
			if r.Size == 0 {
				hr.Body = http.NoBody
			}
		}
		for k, v := range r.Header {
			hr.Header[k] = v
		}
		used, sentBasic := c.authorize(hr, r.Scope)
		start := time.Now()
		resp, err := c.hc.Do(hr)
		if err != nil {
			return nil, start, err
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, start, nil
		}
		challenge := resp.Header.Get("WWW-Authenticate")
		drain(resp)
		if err := c.answer(ctx, challenge, r.Scope, used, sentBasic); err != nil {
			return nil, start, fmt.Errorf("%s %s: 401 and the challenge could not be answered: %w", r.Method, u.Path, err)
		}
	}
}

// authorize adds credentials for scope and says what it sent: the token ("" for none), or
// whether it was Basic.
func (c *Client) authorize(hr *http.Request, scope string) (token string, basic bool) {
	if c.useBasic.Load() {
		hr.SetBasicAuth(c.user, c.pass)
		return "", true
	}
	c.mu.Lock()
	e := c.tokens[scope]
	c.mu.Unlock()
	if e == nil {
		return "", false
	}
	e.mu.Lock()
	v, exp := e.value, e.expires
	e.mu.Unlock()
	if v == "" || time.Now().After(exp) {
		return "", false
	}
	hr.Header.Set("Authorization", "Bearer "+v)
	return v, false
}

// answer handles one WWW-Authenticate challenge. used is the token the refused request
// carried (when another worker has fetched a newer one meanwhile, that one is reused), and
// sentBasic whether it carried Basic credentials (then a Basic challenge means they are wrong).
func (c *Client) answer(ctx context.Context, challenge, scope, used string, sentBasic bool) error {
	scheme, params := parseChallenge(challenge)
	switch scheme {
	case "basic":
		if c.user == "" {
			return errors.New("registry wants Basic credentials and none were given (-user/-password)")
		}
		if sentBasic {
			return errors.New("Basic credentials were refused")
		}
		c.useBasic.Store(true)
		return nil
	case "bearer":
	default:
		return fmt.Errorf("unsupported challenge %q", challenge)
	}
	realm := params["realm"]
	if realm == "" {
		return fmt.Errorf("bearer challenge without realm: %q", challenge)
	}
	key := scope
	if key == "" {
		key = params["scope"]
	}
	c.mu.Lock()
	e := c.tokens[key]
	if e == nil {
		e = &tokenEntry{}
		c.tokens[key] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.value != "" && e.value != used && time.Now().Before(e.expires) {
		return nil // someone else already fetched a fresh token for this scope
	}
	var scopes []string
	if scope != "" {
		scopes = append(scopes, scope)
	}
	if s := params["scope"]; s != "" && s != scope {
		scopes = append(scopes, s)
	}
	tok, ttl, err := c.fetchToken(ctx, realm, params["service"], scopes)
	if err != nil {
		return err
	}
	e.value = tok
	// Renew at 90 % of the lifetime so a long run never sends an expired token.
	e.expires = time.Now().Add(ttl * 9 / 10)
	return nil
}

func (c *Client) fetchToken(ctx context.Context, realm, service string, scopes []string) (string, time.Duration, error) {
	u, err := url.Parse(realm)
	if err != nil {
		return "", 0, fmt.Errorf("realm %q: %w", realm, err)
	}
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", 0, err
	}
	if c.user != "" {
		hr.SetBasicAuth(c.user, c.pass)
	}
	c.tokenFetches.Add(1)
	resp, err := c.hc.Do(hr)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("token service %s: %s: %s", u.Path, resp.Status, snippet(body))
	}
	var t struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return "", 0, fmt.Errorf("token service answer: %w", err)
	}
	tok := t.Token
	if tok == "" {
		tok = t.AccessToken
	}
	if tok == "" {
		return "", 0, errors.New("token service answered without a token")
	}
	ttl := time.Duration(t.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 60 * time.Second // the distribution token spec's default
	}
	return tok, ttl, nil
}

// parseChallenge splits `Bearer realm="…",service="…",scope="a:b:pull,push"` into the
// lower-cased scheme and its parameters. Quoted values may contain commas.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(after, `"`) {
			after = after[1:]
			var b strings.Builder
			i := 0
			for ; i < len(after); i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
					b.WriteByte(after[i])
					continue
				}
				if after[i] == '"' {
					break
				}
				b.WriteByte(after[i])
			}
			v = b.String()
			if i < len(after) {
				i++
			}
			rest = after[i:]
		} else {
			v, rest, _ = strings.Cut(after, ",")
			v = strings.TrimSpace(v)
		}
		params[k] = v
	}
	return strings.ToLower(scheme), params
}

// nextLink returns the target of a `Link: <…>; rel="next"` header, or "".
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, `rel="next"`) && !strings.Contains(part, "rel=next") {
			continue
		}
		start, end := strings.Index(part, "<"), strings.Index(part, ">")
		if start >= 0 && end > start {
			return part[start+1 : end]
		}
	}
	return ""
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
