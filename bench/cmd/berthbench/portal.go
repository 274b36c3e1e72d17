package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The portal scenario: Berth's web portal with a registry the size of a real one. It is
// Berth-only (not in "all"); bench/portal.sh runs it against a fresh Berth on each database.
//
// It pushes -portal-artifacts image manifests (distinct by an annotation, one tag each) from
// -small-clients clients, spread over -portal-repos repositories, all sharing one config and one layer, then signs in through
// the login form and loads each kind of page -portal-requests times from -portal-clients
// clients, at random repositories and artifacts: the projects list, the project page (its
// repository list, first and a deep page), a repository page (its artifact list, 25 and 100
// rows), an artifact page, and a search. Reported per kind: p50 and p95 of the whole exchange
// (the page is rendered on the server and read to its end) and the bytes a browser transfers
// for the page and the assets it links, compressed as the server sends them to a browser that
// accepts gzip.

var portalKinds = []string{"projects", "project", "project-deep", "repository", "repository-100", "artifact", "search"}

type portalState struct {
	repos   []string            // repository names, without the project
	digests map[string][]string // repository → its artifacts' digests
}

func portalSeed(ctx context.Context, b *bench) (*portalState, error) {
	cfg := b.cfg
	st := &portalState{digests: map[string][]string{}}
	for r := range cfg.PortalRepos {
		st.repos = append(st.repos, fmt.Sprintf("%s-portal-%04d", cfg.Prefix, r))
	}
	layer := randBytes(mix(cfg.Seed, 21), 2<<10)
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + sha256Digest(layer) + `"]}}`)
	first := cfg.Project + "/" + st.repos[0]
	w := b.newWorker()
	if err := w.pushBytes(ctx, first, layer); err != nil {
		return nil, err
	}
	if err := w.pushBytes(ctx, first, config); err != nil {
		return nil, err
	}
	b.forEach(ctx, len(st.repos)-1, cfg.SmallClients, func(w *worker, i int) {
		repo := cfg.Project + "/" + st.repos[i+1]
		if w.mountBlob(ctx, repo, first, layer) == nil {
			w.mountBlob(ctx, repo, first, config)
		}
	})
	type pushed struct {
		repo, digest string
	}
	results := make([]pushed, cfg.PortalArtifacts)
	b.forEach(ctx, cfg.PortalArtifacts, cfg.SmallClients, func(w *worker, i int) {
		repo := st.repos[i%len(st.repos)]
		m, _ := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"mediaType":     mtManifest,
			"config":        descriptor{MediaType: mtConfig, Digest: sha256Digest(config), Size: int64(len(config))},
			"layers":        []descriptor{{MediaType: mtLayer, Digest: sha256Digest(layer), Size: int64(len(layer))}},
			"annotations":   map[string]string{"org.opencontainers.image.version": strconv.Itoa(i), "bench.seed": strconv.FormatUint(cfg.Seed, 16)},
		})
		if w.putManifest(ctx, cfg.Project+"/"+repo, "v"+strconv.Itoa(i), m) == nil {
			results[i] = pushed{repo, sha256Digest(m)}
		}
	})
	for _, p := range results {
		if p.digest != "" {
			st.digests[p.repo] = append(st.digests[p.repo], p.digest)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return st, nil
}

// portalClient is a browser's view of the portal: a session cookie and gzip accepted; bodies
// are read as sent (compressed), so their size is what went over the wire.
type portalClient struct {
	base string
	hc   *http.Client
}

func newPortalClient(ctx context.Context, base, user, pass string, conns int) (*portalClient, error) {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{DialContext: loopbackDial, MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: 2 * conns,
		DisableCompression: true} // the Accept-Encoding header is set by hand; bodies stay compressed
	pc := &portalClient{base: strings.TrimRight(base, "/"), hc: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	page, _, _, err := pc.get(ctx, "/login")
	if err != nil {
		return nil, err
	}
	if len(page) > 1 && page[0] == 0x1f && page[1] == 0x8b {
		if page, err = gunzip(page); err != nil {
			return nil, err
		}
	}
	token := csrfInput.FindSubmatch(page)
	if token == nil {
		return nil, fmt.Errorf("the login page has no csrf field: %s", snippet(page))
	}
	form := url.Values{"principal": {user}, "password": {pass}, "csrf": {string(token[1])}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, pc.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := pc.hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("portal login as %s: %s, want 303", user, resp.Status)
	}
	return pc, nil
}

// get loads path and returns the body as sent and how long the whole exchange took.
func (pc *portalClient) get(ctx context.Context, path string) ([]byte, string, time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, pc.base+path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	start := time.Now()
	resp, err := pc.hc.Do(req)
	if err != nil {
		return nil, "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return nil, "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, snippet(body))
	}
	return body, resp.Header.Get("Content-Encoding"), took, nil
}

// portalPath picks a page of kind at random.
func portalPath(kind string, cfg *Config, st *portalState, rnd *rand.Rand) string {
	repo := st.repos[rnd.IntN(len(st.repos))]
	base := "/projects/" + url.PathEscape(cfg.Project)
	switch kind {
	case "projects":
		return "/projects"
	case "project":
		return base
	case "project-deep":
		return base + "?page=" + strconv.Itoa(1+rnd.IntN(max(1, len(st.repos)/25)))
	case "repository":
		return base + "/repositories/" + url.PathEscape(repo)
	case "repository-100":
		return base + "/repositories/" + url.PathEscape(repo) + "?page_size=100"
	case "artifact":
		ds := st.digests[repo]
		if len(ds) == 0 {
			return base + "/repositories/" + url.PathEscape(repo)
		}
		return base + "/repositories/" + url.PathEscape(repo) + "/artifacts/" + ds[rnd.IntN(len(ds))]
	case "search":
		return "/search?q=" + url.QueryEscape(repo)
	}
	panic("unknown portal page kind " + kind)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

var assetRef = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

// transfer is what a browser with an empty cache downloads for path: the page and every
// static asset it links, as sent.
func (pc *portalClient) transfer(ctx context.Context, path string) (int, error) {
	page, _, _, err := pc.get(ctx, path)
	if err != nil {
		return 0, err
	}
	total := len(page)
	html := page
	if len(page) > 1 && page[0] == 0x1f && page[1] == 0x8b {
		if html, err = gunzip(page); err != nil {
			return 0, err
		}
	}
	seen := map[string]bool{}
	for _, m := range assetRef.FindAllSubmatch(html, -1) {
		ref := strings.ReplaceAll(string(m[1]), "&amp;", "&")
		if seen[ref] {
			continue
		}
		seen[ref] = true
		b, _, _, err := pc.get(ctx, ref)
		if err != nil {
			return 0, err
		}
		total += len(b)
	}
	return total, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func portal(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "p95_ms", Better: "lower"}
	cfg := b.cfg
	start := time.Now()
	st, err := portalSeed(ctx, b)
	if err != nil {
		b.errs.add("portal: seeding: %v", err)
		return res
	}
	res.set("seed_s", time.Since(start))
	if cfg.PortalAfterSeed != "" {
		start := time.Now()
		out, err := exec.CommandContext(ctx, "sh", "-c", cfg.PortalAfterSeed).CombinedOutput()
		if err != nil {
			b.errs.add("portal: after seeding, %q: %v: %s", cfg.PortalAfterSeed, err, snippet(out))
			return res
		}
		res.set("after_seed_s", time.Since(start))
	}
	res.set("artifacts", cfg.PortalArtifacts)
	res.set("repos", cfg.PortalRepos)
	pc, err := newPortalClient(ctx, cfg.URL, cfg.User, cfg.Password, cfg.PortalClients)
	if err != nil {
		b.errs.add("%v", err)
		return res
	}
	worst, heaviest := 0.0, 0
	for _, kind := range portalKinds {
		parts := make([]latencies, cfg.PortalClients)
		b.forEach(ctx, cfg.PortalClients, cfg.PortalClients, func(_ *worker, id int) {
			rnd := rand.New(rand.NewPCG(cfg.Seed, uint64(id)))
			for range cfg.PortalRequests / cfg.PortalClients {
				_, _, took, err := pc.get(ctx, portalPath(kind, cfg, st, rnd))
				if err != nil {
					b.errs.add("portal %s: %v", kind, err)
					continue
				}
				parts[id] = append(parts[id], took)
			}
		})
		lat := merge(parts)
		size, err := pc.transfer(ctx, portalPath(kind, cfg, st, rand.New(rand.NewPCG(cfg.Seed, 99))))
		if err != nil {
			b.errs.add("portal %s: transfer: %v", kind, err)
		}
		res.set(kind+"_p50_ms", lat.pct(0.50))
		res.set(kind+"_p95_ms", lat.pct(0.95))
		res.set(kind+"_kb", float64(size)/1000)
		worst = max(worst, lat.pct(0.95))
		heaviest = max(heaviest, size)
	}
	res.set("p95_ms", worst)
	res.set("max_kb", float64(heaviest)/1000)
	return res
}
