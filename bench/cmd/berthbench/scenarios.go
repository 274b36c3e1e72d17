package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

var scenarioFuncs = map[string]func(context.Context, *bench) *Result{
	"large-push":   largePush,
	"large-pull":   largePull,
	"small-push":   smallPush,
	"small-pull":   smallPull,
	"manifest-get": manifestGet,
	"tags-catalog": tagsCatalog,
	"mixed":        mixed,
	"scan-one":     scanOne, // scan.go; not in scenarioOrder
	"scan-all":     scanAll,
	"portal":       portal, // portal.go; not in scenarioOrder
}

const mib = 1 << 20

// maxOpsPerWorker bounds the fixed-duration loops in count as well as in time.
const maxOpsPerWorker = 5_000_000

func (b *bench) repo(name string) string { return b.cfg.Project + "/" + b.cfg.Prefix + "-" + name }

// ---- large-push / large-pull -------------------------------------------------------------

// largeBlob is the single big layer: its seed, size and digest. The digest has to be known
// before the PUT, so the stream is generated and hashed once before the clock starts, then
// generated again while it is sent; the blob is never held in memory.
type largeBlob struct {
	seed uint64
	size int64
	dgst string
}

func (b *bench) prepareLarge() (largeBlob, time.Duration) {
	start := time.Now()
	lb := largeBlob{seed: mix(b.cfg.Seed, 1), size: b.cfg.LargeSize}
	h := sha256.New()
	io.CopyBuffer(h, newRandStream(lb.seed, lb.size), make([]byte, 1<<20))
	lb.dgst = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return lb, time.Since(start)
}

// pushLarge uploads the blob (timed) and then a config and manifest tagged latest, so that
// large-pull can find it by tag.
func (b *bench) pushLarge(ctx context.Context, w *worker, lb largeBlob) (time.Duration, error) {
	repo := b.repo("large")
	start := time.Now()
	err := w.pushBlob(ctx, repo, lb.dgst, lb.size, func() io.Reader { return newRandStream(lb.seed, lb.size) }, b.cfg.MaxTime)
	elapsed := time.Since(start)
	if err != nil {
		return elapsed, err
	}
	cfgBlob := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%q]}}`, lb.dgst))
	if err := w.pushBytes(ctx, repo, cfgBlob); err != nil {
		return elapsed, err
	}
	m := buildManifest(descriptor{MediaType: mtConfig, Digest: sha256Digest(cfgBlob), Size: int64(len(cfgBlob))},
		[]descriptor{{MediaType: mtLayer, Digest: lb.dgst, Size: lb.size}})
	return elapsed, w.putManifest(ctx, repo, "latest", m)
}

func largePush(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "mib_per_s", Better: "higher"}
	lb, prep := b.prepareLarge()
	w := b.newWorker()
	elapsed, err := b.pushLarge(ctx, w, lb)
	res.set("size_mib", float64(lb.size)/mib)
	res.set("seconds", elapsed)
	if err == nil {
		res.set("mib_per_s", float64(lb.size)/mib/elapsed.Seconds())
	} else {
		res.set("mib_per_s", 0.0)
	}
	res.set("client_hash_s", prep)
	return res
}

func largePull(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "mib_per_s", Better: "higher"}
	repo := b.repo("large")
	w := b.newWorker()
	// Setup (untimed): the blob large-push left, or push one now.
	resp, err := w.call(ctx, &Request{Method: http.MethodHead, URL: "/v2/" + repo + "/manifests/latest", Scope: pullScope(repo), Header: manifestAccept}, 0, []int{200, 404}, nil)
	if err == nil && resp.StatusCode == http.StatusNotFound {
		lb, _ := b.prepareLarge()
		_, err = b.pushLarge(ctx, w, lb)
	}
	var m *manifest
	if err == nil {
		m, _, err = w.getManifest(ctx, repo, "latest", "")
	}
	if err == nil && len(m.Layers) != 1 {
		b.errs.add("%s:latest has %d layers, want 1", repo, len(m.Layers))
		err = fmt.Errorf("bad manifest")
	}
	res.set("pulls", b.cfg.LargePulls)
	if err != nil {
		res.set("mib_per_s", 0.0)
		return res
	}
	layer := m.Layers[0]
	var total time.Duration
	ok := 0
	for range b.cfg.LargePulls {
		start := time.Now()
		if err := w.getBlob(ctx, repo, layer, b.cfg.MaxTime); err != nil {
			continue
		}
		total += time.Since(start)
		ok++
	}
	res.set("size_mib", float64(layer.Size)/mib)
	res.set("seconds", total)
	if ok > 0 {
		res.set("mib_per_s", float64(ok)*float64(layer.Size)/mib/total.Seconds())
	} else {
		res.set("mib_per_s", 0.0)
	}
	return res
}

// ---- small-push / small-pull -------------------------------------------------------------

// The small image set: image i lives in one of SmallRepos repositories under tag v<i>.
func (b *bench) smallRef(i int) (repo, tag string) {
	return b.repo(fmt.Sprintf("small-%02d", i%b.cfg.SmallRepos)), fmt.Sprintf("v%06d", i)
}

func (b *bench) smallImage(salt uint64, i int) *image {
	return newImage(mix(b.cfg.Seed, salt, uint64(i)), b.cfg.SmallLayers, b.cfg.SmallLayerSize)
}

func smallPush(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "images_per_s", Better: "higher"}
	n := b.cfg.SmallImages
	start := time.Now()
	workers := b.forEach(ctx, n, b.cfg.SmallClients, func(w *worker, i int) {
		repo, tag := b.smallRef(i)
		img := b.smallImage(2, i)
		t0 := time.Now()
		if w.pushImage(ctx, repo, tag, img) == nil {
			w.ops = append(w.ops, time.Since(t0))
		}
	})
	b.imageResult(res, n, time.Since(start), workers)
	return res
}

// imageResult fills the fields shared by the image scenarios.
func (b *bench) imageResult(res *Result, n int, elapsed time.Duration, workers []*worker) {
	lat, reqs := requestStats(workers)
	imgs := opStats(workers)
	res.set("images", n)
	res.set("done", len(imgs))
	res.set("seconds", elapsed)
	res.set("images_per_s", float64(len(imgs))/elapsed.Seconds())
	res.set("req_per_s", float64(len(lat))/elapsed.Seconds())
	res.set("requests", reqs)
	res.set("p50_ms", lat.pct(0.50))
	res.set("p99_ms", lat.pct(0.99))
	res.set("img_p50_ms", imgs.pct(0.50))
	res.set("img_p99_ms", imgs.pct(0.99))
}

// target is a manifest known to exist, with the digest its content must hash to.
type target struct{ repo, tag, digest string }

// ensureSmall makes sure images 0..n-1 of the small set exist (untimed setup): it HEADs each
// and pushes the missing ones, so a pull scenario also runs on its own.
func (b *bench) ensureSmall(ctx context.Context, n int) []target {
	out := make([]target, n)
	b.forEach(ctx, n, b.cfg.SmallClients, func(w *worker, i int) {
		repo, tag := b.smallRef(i)
		resp, err := w.call(ctx, &Request{Method: http.MethodHead, URL: "/v2/" + repo + "/manifests/" + tag, Scope: pushScope(repo), Header: manifestAccept}, 0, []int{200, 404}, nil)
		if err != nil {
			return
		}
		if resp.StatusCode == http.StatusOK {
			d := resp.Header.Get("Docker-Content-Digest")
			if !strings.HasPrefix(d, "sha256:") {
				b.errs.add("HEAD /v2/%s/manifests/%s: no sha256 Docker-Content-Digest (%q)", repo, tag, d)
				return
			}
			out[i] = target{repo, tag, d}
			return
		}
		img := b.smallImage(3, i)
		if w.pushImage(ctx, repo, tag, img) == nil {
			out[i] = target{repo, tag, img.digest}
		}
	})
	return slices.DeleteFunc(out, func(t target) bool { return t.repo == "" })
}

func smallPull(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "images_per_s", Better: "higher"}
	targets := b.ensureSmall(ctx, b.cfg.SmallImages)
	start := time.Now()
	workers := b.forEach(ctx, len(targets), b.cfg.SmallClients, func(w *worker, i int) {
		t := targets[i]
		t0 := time.Now()
		if w.pullImage(ctx, t.repo, t.tag, t.digest) == nil {
			w.ops = append(w.ops, time.Since(t0))
		}
	})
	b.imageResult(res, b.cfg.SmallImages, time.Since(start), workers)
	return res
}

// ---- manifest-get ------------------------------------------------------------------------

func manifestGet(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "req_per_s", Better: "higher"}
	targets := b.ensureSmall(ctx, min(b.cfg.MgetTargets, b.cfg.SmallImages))
	if len(targets) == 0 {
		res.set("req_per_s", 0.0)
		return res
	}
	type split struct{ get, head latencies }
	per := make([]split, b.cfg.MgetClients)
	workers, elapsed := b.untilDeadline(ctx, b.cfg.MgetClients, b.cfg.Duration, maxOpsPerWorker, func(w *worker, id, k int) {
		t := targets[(id*7+k)%len(targets)]
		before := len(w.lat)
		if k%2 == 0 {
			w.getManifest(ctx, t.repo, t.tag, t.digest)
		} else {
			resp, err := w.call(ctx, &Request{Method: http.MethodHead, URL: "/v2/" + t.repo + "/manifests/" + t.tag, Scope: pullScope(t.repo), Header: manifestAccept}, 0, []int{200}, nil)
			if err == nil && resp.Header.Get("Docker-Content-Digest") != t.digest {
				b.errs.add("HEAD /v2/%s/manifests/%s: Docker-Content-Digest %q, want %s", t.repo, t.tag, resp.Header.Get("Docker-Content-Digest"), t.digest)
			}
		}
		if len(w.lat) > before {
			if k%2 == 0 {
				per[id].get = append(per[id].get, w.lat[len(w.lat)-1])
			} else {
				per[id].head = append(per[id].head, w.lat[len(w.lat)-1])
			}
		}
	})
	lat, reqs := requestStats(workers)
	var gets, heads []latencies
	for _, s := range per {
		gets, heads = append(gets, s.get), append(heads, s.head)
	}
	g, h := merge(gets), merge(heads)
	res.set("clients", b.cfg.MgetClients)
	res.set("seconds", elapsed)
	res.set("requests", reqs)
	res.set("req_per_s", float64(len(lat))/elapsed.Seconds())
	res.set("p50_ms", lat.pct(0.50))
	res.set("p99_ms", lat.pct(0.99))
	res.set("get_p99_ms", g.pct(0.99))
	res.set("head_p99_ms", h.pct(0.99))
	return res
}

// ---- tags-catalog ------------------------------------------------------------------------

// tinyImage is a config-only image: the least a repository or a tag can be made from.
func tinyImage(seed uint64) (cfg []byte, m []byte) {
	cfg = []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"berthbench.seed":"%d"}}}`, seed))
	return cfg, buildManifest(descriptor{MediaType: mtConfig, Digest: sha256Digest(cfg), Size: int64(len(cfg))}, nil)
}

func tagsCatalog(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "list_s", Better: "lower"}
	cfgBlob, m := tinyImage(mix(b.cfg.Seed, 4))
	tagRepo := b.repo("tags")
	tagName := func(i int) string { return fmt.Sprintf("t%07d", i) }
	catRepo := func(i int) string { return b.repo(fmt.Sprintf("cat-%06d", i)) }

	// Setup 1: one manifest under Tags tags, as fast as TagClients clients can.
	w := b.newWorker()
	if err := w.pushBytes(ctx, tagRepo, cfgBlob); err != nil {
		res.set("list_s", 0.0)
		return res
	}
	start := time.Now()
	workers := b.forEach(ctx, b.cfg.Tags, b.cfg.TagClients, func(w *worker, i int) {
		w.putManifest(ctx, tagRepo, tagName(i), m)
	})
	tagTime := time.Since(start)
	tagLat, _ := requestStats(workers)

	// Setup 2: Repos repositories of one tiny image each: mount the config blob from the tag
	// repository, PUT the manifest.
	start = time.Now()
	workers = b.forEach(ctx, b.cfg.Repos, b.cfg.TagClients, func(w *worker, i int) {
		if w.mountBlob(ctx, catRepo(i), tagRepo, cfgBlob) == nil {
			w.putManifest(ctx, catRepo(i), "latest", m)
		}
	})
	repoTime := time.Since(start)

	// The measurement: complete listings following Link, repeated; median of the totals.
	prefix := b.repo("cat-")
	var tagTotals, catTotals []time.Duration
	var tagPages, catPages latencies
	for range b.cfg.ListRepeats {
		if ctx.Err() != nil {
			break
		}
		d, pages, got := b.listAll(ctx, "/v2/"+tagRepo+"/tags/list", pullScope(tagRepo), "tags", "")
		if got != b.cfg.Tags {
			b.errs.add("tags/list of %s returned %d distinct tags, want %d", tagRepo, got, b.cfg.Tags)
		}
		tagTotals, tagPages = append(tagTotals, d), append(tagPages, pages...)
		d, pages, got = b.listAll(ctx, "/v2/_catalog", "registry:catalog:*", "repositories", prefix)
		if got != b.cfg.Repos {
			b.errs.add("_catalog returned %d distinct %s* repositories, want %d", got, prefix, b.cfg.Repos)
		}
		catTotals, catPages = append(catTotals, d), append(catPages, pages...)
	}
	slices.Sort(tagPages)
	slices.Sort(catPages)
	tl, cl := median(tagTotals), median(catTotals)
	res.set("tags", b.cfg.Tags)
	res.set("repos", b.cfg.Repos)
	res.set("tag_puts_per_s", float64(b.cfg.Tags)/tagTime.Seconds())
	res.set("tag_put_p99_ms", tagLat.pct(0.99))
	res.set("repos_per_s", float64(b.cfg.Repos)/repoTime.Seconds())
	res.set("tags_list_s", tl)
	res.set("catalog_s", cl)
	res.set("list_s", tl+cl)
	res.set("tags_page_p50_ms", tagPages.pct(0.50))
	res.set("catalog_page_p50_ms", catPages.pct(0.50))
	res.set("page_size", b.cfg.PageSize)
	return res
}

// listAll follows Link from the first page to the last and returns the total time, each
// page's latency and how many distinct entries (with prefix) it saw. The number of pages is
// bounded by what the registry can hold plus slack, so a Link loop cannot spin forever.
func (b *bench) listAll(ctx context.Context, path, scope, key, prefix string) (time.Duration, latencies, int) {
	w := b.newWorker()
	seen := map[string]struct{}{}
	next := fmt.Sprintf("%s?n=%d", path, b.cfg.PageSize)
	maxPages := (b.cfg.Tags+b.cfg.Repos+b.cfg.SmallImages)/b.cfg.PageSize + 1000
	start := time.Now()
	for page := 0; next != "" && page < maxPages && ctx.Err() == nil; page++ {
		resp, err := w.call(ctx, &Request{Method: http.MethodGet, URL: next, Scope: scope}, 0, []int{200}, func(resp *http.Response) error {
			var body map[string]json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				return err
			}
			var entries []string
			if err := json.Unmarshal(body[key], &entries); err != nil {
				return fmt.Errorf("%q: %w", key, err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e, prefix) {
					seen[e] = struct{}{}
				}
			}
			return nil
		})
		if err != nil {
			break
		}
		next = nextLink(resp.Header.Get("Link"))
	}
	return time.Since(start), w.lat, len(seen)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// ---- mixed -------------------------------------------------------------------------------

func mixed(ctx context.Context, b *bench) *Result {
	res := &Result{Primary: "ops_per_s", Better: "higher"}
	targets := b.ensureSmall(ctx, b.cfg.SmallImages)
	if len(targets) == 0 {
		res.set("ops_per_s", 0.0)
		return res
	}
	type rec struct{ pulls, pushes int }
	per := make([]rec, b.cfg.MixedClients)
	workers, elapsed := b.untilDeadline(ctx, b.cfg.MixedClients, b.cfg.Duration, maxOpsPerWorker, func(w *worker, id, k int) {
		// A fixed per-worker sequence, so every registry sees the same mix in the same order.
		rng := rand.New(rand.NewPCG(b.cfg.Seed, uint64(id)<<32|uint64(k)))
		t0 := time.Now()
		var err error
		if rng.IntN(100) < b.cfg.MixedPushPct {
			repo := b.repo(fmt.Sprintf("mixed-%02d", id%b.cfg.SmallRepos))
			err = w.pushImage(ctx, repo, fmt.Sprintf("w%02d-%06d", id, k), b.smallImage(5, id<<20|k))
			if err == nil {
				per[id].pushes++
			}
		} else {
			t := targets[rng.IntN(len(targets))]
			err = w.pullImage(ctx, t.repo, t.tag, t.digest)
			if err == nil {
				per[id].pulls++
			}
		}
		if err == nil {
			w.ops = append(w.ops, time.Since(t0))
		}
	})
	lat, reqs := requestStats(workers)
	o := opStats(workers)
	pulls, pushes := 0, 0
	for _, r := range per {
		pulls += r.pulls
		pushes += r.pushes
	}
	res.set("clients", b.cfg.MixedClients)
	res.set("seconds", elapsed)
	res.set("ops_per_s", float64(len(o))/elapsed.Seconds())
	res.set("pulls_per_s", float64(pulls)/elapsed.Seconds())
	res.set("pushes_per_s", float64(pushes)/elapsed.Seconds())
	res.set("requests", reqs)
	res.set("req_per_s", float64(len(lat))/elapsed.Seconds())
	res.set("p50_ms", lat.pct(0.50))
	res.set("p99_ms", lat.pct(0.99))
	res.set("op_p50_ms", o.pct(0.50))
	res.set("op_p99_ms", o.pct(0.99))
	return res
}
