package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/berthreg/berth/internal/api"
	"github.com/berthreg/berth/internal/fsck"
	"github.com/berthreg/berth/internal/oci"
	"github.com/berthreg/berth/internal/scan"
)

// The bad-input suite: junk sent to every route of /api/v2.0 (api.Handler.Routes) and /v2/
// (oci.Routes), with path parameters filled with valid fixtures and with junk, as an anonymous
// caller and as the administrator, on both databases. Junk is what clients and attackers send
// by mistake or on purpose: NUL characters and invalid UTF-8 (PostgreSQL refuses both in text),
// overlong values (SQLite refuses LIKE patterns over 50,000 bytes), negative and huge numbers,
// JSON of the wrong types, oversized bodies, bad Content-Range and Content-Length headers,
// malformed digests, and names that look like path traversal. No answer may be a 5xx, every
// answer must come within biDeadline, every refusal must be the protocol's JSON error body,
// and afterwards no stored text may hold a NUL or invalid UTF-8, and fsck must find nothing.

// biDeadline bounds one answer.
const biDeadline = 20 * time.Second

// biWorkers is how many requests are in flight at once.
const biWorkers = 6

func TestBadInput(t *testing.T) {
	if raceDetector {
		t.Skip("its 16,000 requests per database take many minutes under the race detector; the answers to junk do not depend on timing, and go test without -race runs it")
	}
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		start := time.Now()
		f := biSetup(t, ts)
		run := &biRun{ts: ts, client: &http.Client{
			Timeout:       biDeadline,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
		bodies := biBodyModels(t)
		// Anonymous callers first, while the fixtures are as set up; then the administrator's
		// reads and refusals, then bodies that may change the fixtures, then deletions (those
		// with junk first: a junk query on a valid path could still delete).
		var anon, admin, writes, junkDeletes, deletes []biRequest
		for _, r := range append(f.apiRequests(bodies), f.v2Requests(t, ts)...) {
			switch {
			case r.anonymous:
				anon = append(anon, r)
			case r.method == http.MethodDelete && r.junk:
				junkDeletes = append(junkDeletes, r)
			case r.method == http.MethodDelete:
				deletes = append(deletes, r)
			case r.method == http.MethodGet || r.method == http.MethodHead || r.junk:
				admin = append(admin, r)
			default:
				writes = append(writes, r)
			}
		}
		other := f.otherRequests()
		total := 0
		for _, batch := range [][]biRequest{anon, other, admin, writes} {
			run.all(t, batch)
			total += len(batch)
		}
		raw := run.rawProbes(t, f)
		run.oversized(t, f)
		// Before the deletions, which take what junk might have been stored with them.
		biNoStoredJunk(t, ts)
		run.all(t, junkDeletes)
		run.all(t, deletes)
		total += len(junkDeletes) + len(deletes)
		t.Logf("%d requests and %d raw probes in %v", total, raw, time.Since(start).Round(time.Millisecond))

		ctx := context.Background()
		biNoStoredJunk(t, ts)
		rep, err := fsck.Run(ctx, ts.srv.db, ts.srv.blobs, fsck.Options{})
		if err != nil {
			t.Fatalf("fsck: %v", err)
		}
		if rep.Problems() > 0 {
			var b strings.Builder
			rep.WriteText(&b)
			t.Errorf("fsck found problems after the bad input:\n%s", b.String())
		}
	})
}

// biRequest is one request of the suite.
type biRequest struct {
	method string
	// target is the request target as sent: path and query, escaped as the junk needs.
	target    string
	header    http.Header
	body      []byte
	anonymous bool
	// junk marks a request that must change nothing (all of its junk is refused).
	junk bool
	// what says what is junk about it, for failure messages.
	what string
}

// biFixture holds valid values for every path parameter.
type biFixture struct {
	ts                                 *testServer
	pub, priv                          string // a public and a private project
	pubID                              int64
	repo                               string // pub/app, holding tag v1
	digest                             string
	manifest                           tManifest // an image manifest whose blobs repo holds
	userName                           string
	userID, labelID, memberID, robotID int64
	immID, retID, execID, taskID       int64
	gcID, quotaID, groupID             int64
	upload                             string // an upload session in repo
	// anonToken is an anonymous caller's token to pull from repo: anonymous /v2/ requests
	// carry it, so that they reach the handlers of the public project.
	anonToken string
	apiRoutes []string
	v2Routes  []oci.Route
}

func biSetup(t *testing.T, ts *testServer) *biFixture {
	t.Helper()
	sfx := uniqueSuffix()
	f := &biFixture{ts: ts, pub: "bipub" + sfx, priv: "bipriv" + sfx, userName: "biuser" + sfx}
	// A finished collection (its id is a fixture) before anything is pushed, so that it
	// takes none of the blobs the suite's manifests reference.
	f.gcID = ts.runGC(t, "{}").ID
	f.pubID = artProject(t, ts, f.pub, true).ID
	artProject(t, ts, f.priv, false)
	f.repo = f.pub + "/app"
	_, f.digest = ts.pushImage(t, f.repo, "v1", mtOCIManifest)
	ts.pushImage(t, f.priv+"/app", "v1", mtOCIManifest)
	f.manifest = ts.imageManifest(t, f.repo, mtOCIManifest)
	f.userID = acctCreate(t, ts, f.userName)
	f.labelID = labelCreate(t, ts, nil, map[string]any{"name": "bilabel" + sfx, "scope": "g", "color": "#000000"})
	f.memberID = ts.mrAddUser(t, f.pub, f.userName, 2)
	f.robotID = ts.mrRobot(t, nil, projectRobot("birobot"+sfx, f.pub, 30, "repository:pull")).ID
	f.immID = immCreate(t, ts, f.pub, nil, immRule("frozen-*", "**"))
	// The policy retains everything, whatever runs it.
	f.retID = retCreate(t, ts, nil, retPolicy(f.pubID, "", retRule("always", 0, "**", "**")))
	f.execID = retRun(t, ts, nil, f.retID, true)
	retWait(t, ts, f.retID, f.execID)
	if tasks := retTasks(t, ts, f.retID, f.execID); len(tasks) > 0 {
		f.taskID = tasks[0].ID
	} else {
		f.taskID = 1
	}
	var quotas []struct {
		ID int64 `json:"id"`
	}
	artGet(t, ts, "/quotas?reference=project&reference_id="+strconv.FormatInt(f.pubID, 10), nil, &quotas)
	if len(quotas) != 1 {
		t.Fatalf("quotas of project %d: %+v", f.pubID, quotas)
	}
	f.quotaID = quotas[0].ID
	resp := ts.mrJSON(t, http.MethodPost, apiBase+"/usergroups", nil, map[string]any{"group_name": "bigroup" + sfx, "group_type": 2})
	expectStatus(t, resp, http.StatusCreated)
	f.groupID = mrLocationID(t, resp)
	f.upload = f.newUpload(t)
	f.anonToken = ts.token(t, anonymous(), "repository:"+f.repo+":pull")
	f.apiRoutes = api.New(api.Deps{}).Routes()
	f.v2Routes = oci.Routes()
	return f
}

// newUpload starts an upload session in the fixture repository and returns its id.
func (f *biFixture) newUpload(t *testing.T) string {
	t.Helper()
	resp := f.ts.do(t, http.MethodPost, "/v2/"+f.repo+"/blobs/uploads/", nil, nil)
	expectStatus(t, resp, http.StatusAccepted)
	id := resp.Header.Get("Docker-Upload-UUID")
	if id == "" {
		t.Fatal("upload session without Docker-Upload-UUID")
	}
	return id
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// apiParam is the valid value of a path parameter of an /api/v2.0 pattern.
func (f *biFixture) apiParam(pattern, name string) string {
	switch name {
	case "project_name_or_id", "project_name":
		return f.pub
	case "repository_name":
		return "app"
	case "reference":
		return f.digest
	case "tag_name":
		return "v1"
	case "label_id":
		return itoa(f.labelID)
	case "mid":
		return itoa(f.memberID)
	case "robot_id":
		return itoa(f.robotID)
	case "immutable_rule_id":
		return itoa(f.immID)
	case "user_id":
		return itoa(f.userID)
	case "group_id":
		return itoa(f.groupID)
	case "gc_id":
		return itoa(f.gcID)
	case "eid":
		return itoa(f.execID)
	case "tid":
		return itoa(f.taskID)
	case "id":
		if strings.Contains(pattern, "/quotas/") {
			return itoa(f.quotaID)
		}
		return itoa(f.retID)
	case "meta_name":
		return "public"
	case "registration_id":
		return scan.BuiltinUUID
	case "addition":
		return "build_history"
	case "report_id":
		return "5f0a7d5e-0d1e-4f6e-8a57-6c0b3d0c9d11"
	case "job_type":
		// One kind whose pause or stop the rest of the run does not depend on.
		return "RETENTION"
	case "pool_id":
		return "all"
	case "job_id":
		return "1"
	}
	panic("no fixture for path parameter " + name + " of " + pattern)
}

var biParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// biPathJunk are values for a path parameter, as they appear in the request target.
var biPathJunk = []string{
	"%00", "%ff", "\xff\xfe", "%2500", "%25ff", // NUL and invalid UTF-8, also double-encoded
	"..", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "a%2F..%2F..%2Fb", // traversal
	"-5", "0", "99999999999999999999", "1e3", "0x10", // numbers
	"caf%C3%A9", "%20", "%0A", // text that is valid but odd
	strings.Repeat("a", 3000), // overlong
}

// biQueryJunk are query strings sent to every listing (and some to every route).
var biQueryJunk = []string{
	"q=%00", "q=%ff", "q=%2500", "q=name%3D~%00", "q=name%3D~%ff",
	"q=" + strings.Repeat("a", 50000), "q=name%3D~" + strings.Repeat("a", 2030), "q=name%3D~" + strings.Repeat("%25", 2000),
	"q=name%3D~%25_%5C", "q=name%3D%7B", "q=id%3D%5B-5~99999999999999999999%5D", "q=creation_time%3D%5Bx~y%5D",
	"q=id%3D%7B" + strings.Repeat("1+", 1000) + "%7D",
	"page=-5", "page=99999999999999999999", "page_size=-5", "page_size=99999999999999999999", "page=1e3",
	"sort=%00", "sort=-", "sort=" + strings.Repeat("a", 3000), "sort=name,,",
	"%00=1", "name=%00", "x=%ff", "with_tag=%00&with_label=%ff", "reference_id=-5", "reference_id=99999999999999999999",
	"from=..%2F..%2Fx", "from=" + strings.Repeat("a", 3000), "groupname=%00", "username=%25_", "scope=%00",
	strings.Repeat("a=1&", 3000),
}

// biQueryAlways are the query strings sent to routes that are not listings too.
var biQueryAlways = []string{"q=%00", "x=%ff", "%00=1", "name=" + strings.Repeat("a", 50000)}

// fill replaces each {param} of pattern by value(param) (and drops ServeMux's {$}).
func fill(pattern string, value func(name string) string) string {
	pattern = strings.TrimSuffix(pattern, "{$}")
	return biParamRE.ReplaceAllStringFunc(pattern, func(m string) string { return value(m[1 : len(m)-1]) })
}

func (f *biFixture) apiRequests(bodies map[string]*openapi3.Schema) []biRequest {
	var out []biRequest
	for _, route := range f.apiRoutes {
		method, pattern, _ := strings.Cut(route, " ")
		valid := fill(pattern, func(n string) string { return f.apiParam(pattern, n) })
		key := method + " " + strings.TrimPrefix(pattern, apiBase)
		model := bodies[key]
		for _, anonymous := range []bool{true, false} {
			add := func(r biRequest) {
				r.anonymous = anonymous
				if r.method == "" {
					r.method = method
				}
				out = append(out, r)
			}
			// The route with valid parameters: once plain (reads only; writes come with
			// bodies below), then with junk queries.
			if method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete {
				add(biRequest{target: valid, what: "valid parameters"})
			}
			queries := biQueryAlways
			if method == http.MethodGet {
				queries = biQueryJunk
			}
			for _, q := range queries {
				add(biRequest{target: valid + "?" + q, junk: true, what: "query " + biShort(q)})
			}
			// Each path parameter in turn replaced by junk.
			for _, m := range biParamRE.FindAllStringSubmatch(pattern, -1) {
				param := m[1]
				for _, j := range biPathJunk {
					target := fill(pattern, func(n string) string {
						if n == param {
							return j
						}
						return f.apiParam(pattern, n)
					})
					add(biRequest{target: target, body: biBaseBody(model), header: biJSON, junk: true, what: param + "=" + biShort(j)})
				}
			}
			// Bodies: junk documents, then the operation's model with one field at a time
			// replaced by junk (the administrator only: an anonymous body is refused unread).
			if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
				for _, b := range biJunkDocuments {
					add(biRequest{target: valid, body: []byte(b), header: biJSON, junk: true, what: "body " + biShort(b)})
				}
				if !anonymous && model != nil {
					for _, m := range biMutations(model) {
						add(biRequest{target: valid, body: m.body, header: biJSON, what: "body " + m.what})
					}
				}
			}
		}
	}
	return out
}

var biJSON = http.Header{"Content-Type": {"application/json"}}

// biJunkDocuments are request bodies no operation takes.
var biJunkDocuments = []string{
	"", "{", "null", "[]", "123", `"s"`, "true", `{"a":"\u0000"}`, "{\"a\":\"\xff\"}", "\xef\xbb\xbf{}", `{"\u0000":1}`,
	strings.Repeat("[", 100000), `{"a":` + strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20001),
	`{"name":"x"} trailing`,
}

// biShort abbreviates junk for messages.
func biShort(s string) string {
	s = strconv.Quote(s)
	if len(s) > 60 {
		return s[:40] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// biBodyModels are the request body schemas of Harbor's operations, by "METHOD /path".
func biBodyModels(t *testing.T) map[string]*openapi3.Schema {
	spec, err := loadHarborSpec()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Logf("no Harbor spec (%v): request bodies are only junk documents", err)
		return nil
	}
	out := map[string]*openapi3.Schema{}
	for _, o := range spec.ops {
		if o.op.RequestBody == nil || o.op.RequestBody.Value == nil {
			continue
		}
		if mt := o.op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
			out[o.method+" "+strings.TrimSuffix(o.path, "/")] = mt.Schema.Value
			out[o.method+" "+o.path] = mt.Schema.Value
		}
	}
	return out
}

// biBaseBody is the model with every field filled and every flag false (nothing switched on
// by accident: read-only mode, public, administrator), or nil without a model.
func biBaseBody(model *openapi3.Schema) []byte {
	if model == nil {
		return nil
	}
	b, _ := json.Marshal(biFalse(exampleValue("", model, 0)))
	return b
}

func biFalse(v any) any {
	switch v := v.(type) {
	case bool:
		return false
	case map[string]any:
		for k, e := range v {
			v[k] = biFalse(e)
		}
	case []any:
		for i, e := range v {
			v[i] = biFalse(e)
		}
	}
	return v
}

// biMarker stands for the junk in a marshalled body, replaced by it afterwards, so that junk
// json.Marshal would escape or repair (a raw invalid byte) reaches the server as it is.
const biMarker = "\"berth-junk-marker\""

// Junk values by the type a field has, as raw JSON.
var (
	biStringJunk = []string{`"a\u0000b"`, "\"\xff\xfe\"", `"` + strings.Repeat("x", 10000) + `"`, `"../../etc/passwd"`, `5`, `{}`, `null`, `" "`, `""`}
	biNumberJunk = []string{`-5`, `0`, `99999999999999999999`, `1e308`, `-1e308`, `0.5`, `"5"`, `null`, `[]`}
	biBoolJunk   = []string{`"true"`, `1`, `null`}
	biArrayJunk  = []string{`{}`, `"x"`, `[null]`, `["a\u0000"]`, `[-5]`, `[` + strings.Repeat(`"x",`, 5000) + `"x"]`}
	biObjectJunk = []string{`[]`, `"x"`, `{"a\u0000":"b"}`}
)

type biMutation struct {
	what string
	body []byte
}

// biMutations are the model's base body with one field at a time (up to two levels deep, into
// objects and the first element of arrays) replaced by each junk value of its type.
func biMutations(model *openapi3.Schema) []biMutation {
	type field struct {
		path []string
		s    *openapi3.Schema
	}
	var fields []field
	var collect func(prefix []string, s *openapi3.Schema, depth int)
	collect = func(prefix []string, s *openapi3.Schema, depth int) {
		if s.Type.Is("array") && s.Items != nil && s.Items.Value != nil {
			s = s.Items.Value
		}
		for _, n := range slices.Sorted(maps.Keys(s.Properties)) {
			p := s.Properties[n]
			if p.Value == nil {
				continue
			}
			path := append(slices.Clone(prefix), n)
			fields = append(fields, field{path, p.Value})
			if depth < 2 {
				collect(path, p.Value, depth+1)
			}
		}
	}
	collect(nil, model, 1)
	var out []biMutation
	for _, fl := range fields {
		var junk []string
		switch s := fl.s; {
		case s.Type.Is("string"):
			junk = biStringJunk
		case s.Type.Is("integer"), s.Type.Is("number"):
			junk = biNumberJunk
		case s.Type.Is("boolean"):
			junk = biBoolJunk
		case s.Type.Is("array"):
			junk = biArrayJunk
		default:
			junk = biObjectJunk
		}
		for _, j := range junk {
			base := biFalse(exampleValue("", model, 0))
			if !biSet(base, fl.path, json.RawMessage(biMarker)) {
				continue
			}
			b, err := json.Marshal(base)
			if err != nil {
				panic(err)
			}
			out = append(out, biMutation{what: strings.Join(fl.path, ".") + "=" + biShort(j), body: bytes.Replace(b, []byte(biMarker), []byte(j), 1)})
		}
	}
	return out
}

// biSet sets the field a path names in a body (through the first element of arrays); false if
// there is no such field.
func biSet(v any, path []string, x any) bool {
	for i, k := range path {
		if a, ok := v.([]any); ok {
			if len(a) == 0 {
				return false
			}
			v = a[0]
		}
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if i == len(path)-1 {
			m[k] = x
			return true
		}
		v = m[k]
	}
	return false
}

// v2Param is the valid value of a /v2/ pattern's parameter.
func (f *biFixture) v2Param(name string) string {
	switch name {
	case "name":
		return f.repo
	case "reference":
		return "v1"
	case "digest":
		return f.digest
	case "blob":
		return f.manifest.Config.Digest
	case "uuid":
		return f.upload
	}
	panic("no fixture for /v2/ parameter " + name)
}

// biBlobParam names the digest of a blob route {blob}: its fixture is a blob, not a manifest.
func biBlobParam(pattern string) string {
	return strings.Replace(pattern, "/blobs/{digest}", "/blobs/{blob}", 1)
}

var biV2PathJunk = []string{
	"%00", "%ff", "\xff", "..", "%2e%2e", "a%2F..%2Fb", "-5", "UPPER", "sha256:zz", "sha256:" + strings.Repeat("0", 63),
	"sha512:" + strings.Repeat("0", 128), "md5:d41d8cd98f00b204e9800998ecf8427e", strings.Repeat("a", 300),
}

var biV2QueryJunk = []string{
	"n=-5", "n=99999999999999999999", "n=1e3", "n=1&last=%00", "last=%ff", "last=" + strings.Repeat("z", 3000),
	"last=%2500", "digest=sha256:zz", "digest=%00", "mount=sha256:zz&from=..%2F..", "mount=%00&from=x",
	"mount=sha256:" + strings.Repeat("0", 64) + "&from=%ff", "tag=%00", "tag=" + strings.Repeat("t", 200), "artifactType=%00",
	"artifactType=%ff", "x=" + strings.Repeat("x", 50000),
}

func (f *biFixture) v2Requests(t *testing.T, ts *testServer) []biRequest {
	var out []biRequest
	m := f.manifest
	mt := func(edit func(*map[string]any)) []byte {
		var doc map[string]any
		json.Unmarshal(mustJSON(t, m), &doc)
		edit(&doc)
		return mustJSON(t, doc)
	}
	// with is the manifest with one field's value replaced by raw JSON.
	with := func(field, junk string) []byte {
		b := mt(func(d *map[string]any) { (*d)[field] = json.RawMessage(biMarker) })
		return bytes.Replace(b, []byte(biMarker), []byte(junk), 1)
	}
	// Manifests with junk in each stored string, and malformed ones.
	manifests := map[string][]byte{
		"artifactType NUL":         with("artifactType", `"a\u0000b"`),
		"artifactType invalid":     with("artifactType", "\"\xff\""),
		"artifactType long":        with("artifactType", `"`+strings.Repeat("a", 100000)+`"`),
		"annotation NUL":           with("annotations", `{"k":"a\u0000"}`),
		"annotation key NUL":       with("annotations", `{"k\u0000":"v"}`),
		"annotations wrong type":   with("annotations", `["k"]`),
		"mediaType NUL":            with("mediaType", `"application/vnd.oci.image.manifest.v1+json\u0000"`),
		"schemaVersion huge":       with("schemaVersion", `99999999999999999999`),
		"schemaVersion negative":   with("schemaVersion", `-5`),
		"config mediaType NUL":     mt(func(d *map[string]any) { (*d)["config"].(map[string]any)["mediaType"] = "a\x00b" }),
		"config mediaType control": mt(func(d *map[string]any) { (*d)["config"].(map[string]any)["mediaType"] = "a\nb" }),
		"config size negative":     mt(func(d *map[string]any) { (*d)["config"].(map[string]any)["size"] = -5 }),
		"config size huge":         mt(func(d *map[string]any) { (*d)["config"].(map[string]any)["size"] = 1e30 }),
		"config digest junk":       mt(func(d *map[string]any) { (*d)["config"].(map[string]any)["digest"] = "sha256:../../etc" }),
		"layer artifactType NUL": mt(func(d *map[string]any) {
			(*d)["layers"].([]any)[0].(map[string]any)["artifactType"] = "x\x00"
		}),
		"subject digest junk": mt(func(d *map[string]any) {
			(*d)["subject"] = map[string]any{"mediaType": mtOCIManifest, "digest": "sha256:zz", "size": 1}
		}),
		"subject size negative": mt(func(d *map[string]any) {
			(*d)["subject"] = map[string]any{"mediaType": mtOCIManifest, "digest": f.digest, "size": -5}
		}),
		"not JSON":       []byte("not json"),
		"invalid UTF-8":  []byte("{\"schemaVersion\":2,\"x\":\"\xff\"}"),
		"empty":          {},
		"deeply nested":  []byte(strings.Repeat("[", 100000)),
		"schema 1":       []byte(`{"schemaVersion":1,"fsLayers":[]}`),
		"null":           []byte("null"),
		"array":          []byte("[]"),
		"layers objects": mt(func(d *map[string]any) { (*d)["layers"] = map[string]any{} }),
	}
	names := slices.Sorted(maps.Keys(manifests))
	for _, route := range f.v2Routes {
		route.Pattern = biBlobParam(route.Pattern)
		valid := fill(route.Pattern, f.v2Param)
		for _, anonymous := range []bool{true, false} {
			add := func(r biRequest) {
				r.anonymous = anonymous
				if r.method == "" {
					r.method = route.Method
				}
				if anonymous {
					r.header = hdr(r.header, "Authorization", "Bearer "+f.anonToken)
				}
				out = append(out, r)
			}
			switch route.Method {
			case http.MethodGet, http.MethodHead, http.MethodDelete:
				add(biRequest{target: valid, what: "valid parameters"})
			}
			for _, q := range biV2QueryJunk {
				add(biRequest{target: valid + "?" + q, junk: true, what: "query " + biShort(q)})
			}
			for _, m := range biParamRE.FindAllStringSubmatch(route.Pattern, -1) {
				param := m[1]
				for _, j := range biV2PathJunk {
					target := fill(route.Pattern, func(n string) string {
						if n == param {
							return j
						}
						return f.v2Param(n)
					})
					add(biRequest{target: target, junk: true, what: param + "=" + biShort(j)})
				}
			}
			switch {
			case route.Method == http.MethodPut && strings.Contains(route.Pattern, "/manifests/"):
				for _, name := range names {
					for _, ct := range []string{mtOCIManifest, "", "application/json", "a\xffb"} {
						add(biRequest{target: valid, body: manifests[name], header: http.Header{"Content-Type": {ct}}, junk: true, what: "manifest " + name + " as " + biShort(ct)})
					}
				}
			case route.Method == http.MethodGet && strings.Contains(route.Pattern, "/blobs/{blob}"):
				for _, rg := range []string{"bytes=99999999999999999999-", "bytes=-5", "bytes=a-b", "bytes=5-1", "bytes=0-0,0-0,0-0,0-0,0-0", "chars=0-1", "bytes=" + strings.Repeat("0-1,", 500) + "0-1"} {
					add(biRequest{target: valid, header: http.Header{"Range": {rg}}, junk: true, what: "Range " + biShort(rg)})
				}
			}
		}
	}
	// Uploads, each on a session of its own (a refused chunk may end a session): bad
	// Content-Range, digests that are not, bodies that do not match.
	{
		base := "/v2/" + f.repo + "/blobs/uploads/"
		for _, cr := range []string{"bytes=5-1", "-5-10", "0-99999999999999999999", "abc", "0--1", "99999999999999999999-0", "bytes 0-3", "0-3"} {
			id := f.newUpload(t)
			out = append(out, biRequest{method: http.MethodPatch, target: base + id, header: http.Header{"Content-Range": {cr}, "Content-Type": {"application/octet-stream"}},
				body: []byte("abcdefgh"), junk: true, what: "Content-Range " + biShort(cr)})
		}
		for _, d := range []string{"sha256:zz", "%00", "sha256:" + strings.Repeat("0", 64), "md5:x", strings.Repeat("a", 3000), ""} {
			id := f.newUpload(t)
			out = append(out, biRequest{method: http.MethodPut, target: base + id + "?digest=" + d, body: []byte("abc"), junk: true, what: "finish with digest " + biShort(d)})
			out = append(out, biRequest{method: http.MethodPost, target: base + "?digest=" + d, body: []byte("abc"), junk: true, what: "monolithic digest " + biShort(d)})
		}
	}
	return out
}

// otherRequests probe the token service and the portal's login, which take text too.
func (f *biFixture) otherRequests() []biRequest {
	var out []biRequest
	for _, q := range []string{"scope=%00", "scope=repository:" + f.repo + ":pull%00", "scope=repository:%ff:pull", "service=%00",
		"account=%00", "scope=" + strings.Repeat("repository:a/b:pull+", 500), "offline_token=%ff", "client_id=%00"} {
		out = append(out, biRequest{method: http.MethodGet, target: "/service/token?" + q, anonymous: true, junk: true, what: "token " + biShort(q)})
	}
	for _, cred := range []string{"a\x00b:x", "\xff:x", "admin:\x00", strings.Repeat("a", 5000) + ":x"} {
		user, pass, _ := strings.Cut(cred, ":")
		out = append(out, biRequest{method: http.MethodGet, target: "/service/token?service=harbor-registry", header: basicAuth(user, pass), junk: true, what: "token credentials " + biShort(cred)})
		out = append(out, biRequest{method: http.MethodGet, target: "/api/v2.0/users/current", header: basicAuth(user, pass), junk: true, what: "API credentials " + biShort(cred)})
		out = append(out, biRequest{method: http.MethodGet, target: "/v2/" + f.repo + "/tags/list", header: basicAuth(user, pass), junk: true, what: "/v2/ credentials " + biShort(cred)})
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, b := range []string{"grant_type=password&username=%00&password=x", "grant_type=password&username=%ff&password=x",
		"grant_type=refresh_token&refresh_token=%00", "grant_type=%00", "scope=%00&grant_type=password&username=a&password=b"} {
		out = append(out, biRequest{method: http.MethodPost, target: "/service/token", header: form, body: []byte(b), anonymous: true, junk: true, what: "token form " + biShort(b)})
	}
	for _, b := range []string{"principal=%00&password=x", "principal=%ff&password=x", "principal=" + strings.Repeat("a", 5000) + "&password=x",
		"principal=admin&password=%00", "principal=a%2500&password=x"} {
		out = append(out, biRequest{method: http.MethodPost, target: "/c/login", header: form, body: []byte(b), anonymous: true, junk: true, what: "login form " + biShort(b)})
	}
	out = append(out, biRequest{method: http.MethodGet, target: "/c/log_out?x=%00", anonymous: true, junk: true, what: "logout query"})
	// The built-in scanner as a Harbor scanner adapter (its own error body, see check).
	for _, target := range []string{"/scanner/api/v1/metadata?x=%00", "/scanner/api/v1/scan/%00/report", "/scanner/api/v1/scan/%ff/report",
		"/scanner/api/v1/scan/" + strings.Repeat("a", 3000) + "/report"} {
		out = append(out, biRequest{method: http.MethodGet, target: target, junk: true, what: "scanner adapter " + biShort(target)})
	}
	for _, b := range biJunkDocuments {
		out = append(out, biRequest{method: http.MethodPost, target: "/scanner/api/v1/scan", header: biJSON, body: []byte(b), junk: true, what: "scan request " + biShort(b)})
	}
	return out
}

// biRun sends the suite's requests and checks every answer.
type biRun struct {
	ts     *testServer
	client *http.Client
	mu     sync.Mutex
	fails  int
}

// all sends the requests, biWorkers at a time.
func (b *biRun) all(t *testing.T, reqs []biRequest) {
	t.Helper()
	work := make(chan biRequest)
	var wg sync.WaitGroup
	for range biWorkers {
		wg.Go(func() {
			for r := range work {
				b.send(t, r)
			}
		})
	}
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
}

// failf reports a failure; after 50 the rest are counted only.
func (b *biRun) failf(t *testing.T, format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	if b.fails <= 50 {
		t.Errorf(format, args...)
	} else if b.fails == 51 {
		t.Errorf("more failures follow; only the first 50 are shown")
	}
}

func (b *biRun) send(t *testing.T, r biRequest) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, b.ts.URL+"/", body)
	if err != nil {
		b.failf(t, "%s %s: %v", r.method, biShort(r.target), err)
		return
	}
	path, query, _ := strings.Cut(r.target, "?")
	req.URL.Opaque = path
	req.URL.RawQuery = query
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if !r.anonymous && req.Header.Get("Authorization") == "" {
		req.SetBasicAuth(adminUser, adminPassword)
	}
	start := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		b.failf(t, "%s %s (%s): no answer within %v: %v", r.method, biShort(r.target), r.what, biDeadline, err)
		return
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.failf(t, "%s %s (%s): reading the answer after %v: %v", r.method, biShort(r.target), r.what, time.Since(start), err)
		return
	}
	b.check(t, r, resp, got)
}

// check holds an answer to the suite's rules: no 5xx, and a refusal in the protocol's JSON
// error body.
func (b *biRun) check(t *testing.T, r biRequest, resp *http.Response, body []byte) {
	who := "admin"
	if r.anonymous {
		who = "anonymous"
	}
	where := fmt.Sprintf("%s %s as %s (%s)", r.method, biShort(r.target), who, r.what)
	if resp.StatusCode >= 500 {
		b.failf(t, "%s: %d; body %.300s", where, resp.StatusCode, body)
		return
	}
	if resp.StatusCode < 400 || r.method == http.MethodHead {
		return
	}
	if strings.HasPrefix(r.target, "/scanner/") {
		// The scanner adapter API's error body: {"error":{"message":"..."}}.
		var doc struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(body, &doc) != nil || doc.Error.Message == "" {
			b.failf(t, "%s: %d with a body that is not the scanner adapter's error: %.300s", where, resp.StatusCode, body)
		}
		return
	}
	if !biJSONError(resp, body) {
		b.failf(t, "%s: %d with Content-Type %q and a body that is not {\"errors\":[{\"code\",\"message\"}]}: %.300s",
			where, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// biJSONError reports whether an answer is the JSON error body every protocol of Berth uses.
func biJSONError(resp *http.Response, body []byte) bool {
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		return false
	}
	var doc struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	return json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 && doc.Errors[0].Code != "" && doc.Errors[0].Message != ""
}

// rawProbes send, over a connection of their own, requests net/http refuses before any
// handler runs (a negative Content-Length, one that is not a number, two that disagree, an
// unknown Transfer-Encoding), to every route; each answer must be the JSON error body. It
// returns how many it sent.
func (b *biRun) rawProbes(t *testing.T, f *biFixture) int {
	t.Helper()
	var targets []string
	for _, route := range f.apiRoutes {
		method, pattern, _ := strings.Cut(route, " ")
		targets = append(targets, method+" "+fill(pattern, func(n string) string { return f.apiParam(pattern, n) }))
	}
	for _, route := range f.v2Routes {
		targets = append(targets, route.Method+" "+fill(biBlobParam(route.Pattern), f.v2Param))
	}
	headers := []string{"Content-Length: -5", "Content-Length: abc", "Content-Length: 1\r\nContent-Length: 2", "Transfer-Encoding: gzip, chunked",
		"Content-Length: 99999999999999999999"}
	n := 0
	for i, target := range targets {
		h := headers[i%len(headers)]
		status, ctype, body, err := rawRequest(b.ts, target+" HTTP/1.1\r\nHost: x\r\n"+h+"\r\n\r\n")
		n++
		where := fmt.Sprintf("%s with %q", target, h)
		switch {
		case err != nil:
			b.failf(t, "%s: %v", where, err)
		case status != http.StatusBadRequest && status != http.StatusNotImplemented:
			b.failf(t, "%s: status %d, want 400 or 501", where, status)
		case ctype != "application/json" || !biJSONError(&http.Response{Header: http.Header{"Content-Type": {ctype}}}, body):
			b.failf(t, "%s: %d with Content-Type %q and body %q, want the JSON error body", where, status, ctype, body)
		}
	}
	return n
}

// rawRequest writes a request as it is on a new connection and reads the answer.
func rawRequest(ts *testServer, request string) (status int, contentType string, body []byte, err error) {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(ts.URL, "http://"), biDeadline)
	if err != nil {
		return 0, "", nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(biDeadline))
	if _, err := io.WriteString(c, request); err != nil {
		return 0, "", nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, err
}

// oversized sends every API operation that takes a JSON body one just over the limit, and
// one operation a 60 MB body: each is refused with 413 in Harbor's error body.
func (b *biRun) oversized(t *testing.T, f *biFixture) {
	t.Helper()
	big := append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	big = append(big, `"}`...)
	for _, route := range f.apiRoutes {
		method, pattern, _ := strings.Cut(route, " ")
		key := method + " " + strings.TrimPrefix(pattern, apiBase)
		if !slices.Contains(bodyOperationsServed, key) && key != "PUT /configurations" {
			continue
		}
		target := fill(pattern, func(n string) string { return f.apiParam(pattern, n) })
		b.expect413(t, method, target, big)
	}
	b.expect413(t, http.MethodPost, apiBase+"/projects", bytes.Repeat([]byte(" "), 60<<20))
}

func (b *biRun) expect413(t *testing.T, method, target string, body []byte) {
	req, err := http.NewRequest(method, b.ts.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(adminUser, adminPassword)
	resp, err := b.client.Do(req)
	if err != nil {
		b.failf(t, "%s %s with a %d-byte body: %v", method, target, len(body), err)
		return
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !biJSONError(resp, got) {
		b.failf(t, "%s %s with a %d-byte body: %d %q, want 413 with Harbor's error body", method, target, len(body), resp.StatusCode, biShort(string(got)))
	}
}

// biNoStoredJunk reads every text value of every table: none may hold a NUL (raw or escaped
// in JSON) or invalid UTF-8.
func biNoStoredJunk(t *testing.T, ts *testServer) {
	t.Helper()
	ctx := context.Background()
	db := ts.srv.db.WritePool()
	list := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if ts.dialect == "postgres" {
		list = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`
	}
	rows, err := db.QueryContext(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	checked := 0
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			for i, v := range vals {
				s, ok := v.(string)
				if !ok {
					continue
				}
				checked++
				if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) || strings.Contains(s, `\u0000`) {
					t.Errorf("%s.%s holds junk: %s", table, cols[i], biShort(s))
				}
			}
		}
		rows.Close()
	}
	if checked == 0 {
		t.Error("no text read from the store")
	}
}
