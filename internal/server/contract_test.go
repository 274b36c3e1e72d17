package server

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/berthreg/berth/internal/auth"
)

// The contract test: every /api/v2.0 response any test in this package receives is recorded,
// and after the tests ran each JSON body is validated against the schema of its operation in
// Harbor's swagger (shared/reference/harbor-swagger.yaml), and each success status must be one
// the operation lists. A full run also checks that every endpoint issue 3 names was exercised.

type recordedResponse struct {
	test   string
	method string
	path   string // escaped path below /api/v2.0
	status int
	ctype  string
	body   []byte
}

var contract struct {
	mu        sync.Mutex
	responses []recordedResponse
}

func recordAPIResponse(t *testing.T, method, target string, resp *http.Response, body []byte) {
	path, ok := strings.CutPrefix(target, "/api/v2.0")
	if !ok {
		return
	}
	contract.mu.Lock()
	defer contract.mu.Unlock()
	contract.responses = append(contract.responses, recordedResponse{
		test: t.Name(), method: method, path: path, status: resp.StatusCode,
		ctype: resp.Header.Get("Content-Type"), body: body,
	})
}

// requiredOperations are the endpoints Berth must serve as Harbor does; a full run must exercise each.
var requiredOperations = []string{
	"GET /users", "POST /users", "GET /users/current", "GET /users/current/permissions", "GET /users/search",
	"GET /users/{user_id}", "PUT /users/{user_id}", "DELETE /users/{user_id}", "PUT /users/{user_id}/sysadmin", "PUT /users/{user_id}/password",
	"GET /projects", "HEAD /projects", "POST /projects", "GET /projects/{project_name_or_id}", "PUT /projects/{project_name_or_id}",
	"DELETE /projects/{project_name_or_id}", "GET /projects/{project_name_or_id}/_deletable", "GET /projects/{project_name_or_id}/summary",
	"GET /projects/{project_name_or_id}/metadatas/", "POST /projects/{project_name_or_id}/metadatas/",
	"GET /projects/{project_name_or_id}/metadatas/{meta_name}", "PUT /projects/{project_name_or_id}/metadatas/{meta_name}", "DELETE /projects/{project_name_or_id}/metadatas/{meta_name}",
	"GET /projects/{project_name_or_id}/members", "POST /projects/{project_name_or_id}/members",
	"GET /projects/{project_name_or_id}/members/{mid}", "PUT /projects/{project_name_or_id}/members/{mid}", "DELETE /projects/{project_name_or_id}/members/{mid}",
	"GET /robots", "POST /robots", "GET /robots/{robot_id}", "PUT /robots/{robot_id}", "PATCH /robots/{robot_id}", "DELETE /robots/{robot_id}",
	"GET /repositories", "GET /projects/{project_name}/repositories", "GET /projects/{project_name}/repositories/{repository_name}",
	"PUT /projects/{project_name}/repositories/{repository_name}", "DELETE /projects/{project_name}/repositories/{repository_name}",
	"GET /projects/{project_name}/repositories/{repository_name}/artifacts", "POST /projects/{project_name}/repositories/{repository_name}/artifacts",
	"GET /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}", "DELETE /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
	"GET /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags", "POST /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
	"DELETE /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}",
	"POST /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels",
	"DELETE /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels/{label_id}",
	"GET /labels", "POST /labels", "GET /labels/{label_id}", "PUT /labels/{label_id}", "DELETE /labels/{label_id}",
	"GET /quotas", "GET /quotas/{id}", "PUT /quotas/{id}",
	"GET /audit-logs", "GET /projects/{project_name}/logs",
	"GET /auditlog-exts", "GET /auditlog-exts/events", "GET /projects/{project_name}/auditlog-exts",
	"GET /jobservice/queues", "PUT /jobservice/queues/{job_type}", "GET /jobservice/pools", "GET /jobservice/pools/{pool_id}/workers",
	"PUT /jobservice/jobs/{job_id}", "GET /jobservice/jobs/{job_id}/log", "GET /schedules", "GET /schedules/{job_type}/paused",
	"GET /search", "GET /statistics", "GET /systeminfo", "GET /health", "GET /ping", "GET /configurations", "PUT /configurations",
	"GET /system/CVEAllowlist", "PUT /system/CVEAllowlist",
	"GET /projects/{project_name_or_id}/immutabletagrules", "POST /projects/{project_name_or_id}/immutabletagrules",
	"PUT /projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}", "DELETE /projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}",
	"GET /system/gc", "GET /system/gc/{gc_id}", "PUT /system/gc/{gc_id}", "GET /system/gc/{gc_id}/log",
	"GET /system/gc/schedule", "POST /system/gc/schedule", "PUT /system/gc/schedule",
	"GET /retentions/metadatas", "POST /retentions", "GET /retentions/{id}", "PUT /retentions/{id}", "DELETE /retentions/{id}",
	"GET /retentions/{id}/executions", "POST /retentions/{id}/executions", "PATCH /retentions/{id}/executions/{eid}",
	"GET /retentions/{id}/executions/{eid}/tasks", "GET /retentions/{id}/executions/{eid}/tasks/{tid}",
	"GET /scanners", "POST /scanners", "POST /scanners/ping", "GET /scanners/{registration_id}", "PUT /scanners/{registration_id}",
	"DELETE /scanners/{registration_id}", "PATCH /scanners/{registration_id}", "GET /scanners/{registration_id}/metadata",
	"GET /projects/{project_name_or_id}/scanner", "PUT /projects/{project_name_or_id}/scanner", "GET /projects/{project_name_or_id}/scanner/candidates",
}

func TestMain(m *testing.M) {
	flag.Parse()
	auth.CheapHashesForTests()
	code := m.Run()
	if code == 0 {
		// Under the race detector some tests skip themselves: only a run of them all can tell
		// whether every operation was exercised.
		if err := checkContract(flag.Lookup("test.run").Value.String() == "" && !raceDetector); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: API contract:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func checkContract(fullRun bool) error {
	contract.mu.Lock()
	defer contract.mu.Unlock()
	if len(contract.responses) == 0 {
		return nil
	}
	spec, err := loadHarborSpec()
	if err != nil {
		if os.Getenv("CI") == "true" {
			return err
		}
		fmt.Fprintf(os.Stderr, "skipping the API contract check: %v (run with ../shared beside the repository)\n", err)
		return nil
	}
	var problems []string
	seen := map[string]bool{}
	for _, r := range contract.responses {
		op, key := spec.match(r.method, r.path)
		if op == nil {
			problems = append(problems, fmt.Sprintf("%s: %s %s: no such operation in the spec", r.test, r.method, r.path))
			continue
		}
		seen[key] = true
		if err := validateResponse(op, r); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s %s → %d: %v", r.test, r.method, r.path, r.status, err))
		}
	}
	if fullRun {
		for _, k := range requiredOperations {
			if !seen[k] {
				problems = append(problems, "no test exercised "+k)
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

type harborSpec struct {
	doc *openapi3.T
	ops []specOperation
}

type specOperation struct {
	method   string
	path     string
	segments []string
	op       *openapi3.Operation
}

func loadHarborSpec() (*harborSpec, error) {
	path, err := findShared("reference/harbor-swagger.yaml")
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// The file is YAML; kin-openapi's Swagger 2.0 types decode from JSON.
	var tree any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	var v2 openapi2.T
	if err := json.Unmarshal(js, &v2); err != nil {
		return nil, fmt.Errorf("load Swagger 2.0 %s: %w", path, err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", path, err)
	}
	for _, ref := range doc.Components.Schemas {
		anyAdditionalObject(ref)
	}
	s := &harborSpec{doc: doc}
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			s.ops = append(s.ops, specOperation{method: method, path: p, segments: strings.Split(strings.Trim(p, "/"), "/"), op: op})
		}
	}
	return s, nil
}

// match finds the operation for a request; literal segments beat parameters
// (/users/current over /users/{user_id}).
func (s *harborSpec) match(method, path string) (*openapi3.Operation, string) {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	trailing := strings.HasSuffix(path, "/")
	var best *specOperation
	bestScore := -1
	for i := range s.ops {
		o := &s.ops[i]
		if o.method != method || len(o.segments) != len(segs) || strings.HasSuffix(o.path, "/") != trailing {
			continue
		}
		score := 0
		okMatch := true
		for j, seg := range o.segments {
			if strings.HasPrefix(seg, "{") {
				continue
			}
			if seg != segs[j] {
				okMatch = false
				break
			}
			score++
		}
		if okMatch && score > bestScore {
			best, bestScore = o, score
		}
	}
	if best == nil {
		if !trailing {
			// Berth also answers the spec's trailing-slash paths without the slash.
			return s.match(method, path+"/")
		}
		return nil, ""
	}
	return best.op, method + " " + best.path
}

func validateResponse(op *openapi3.Operation, r recordedResponse) error {
	resp := op.Responses.Status(r.status)
	if r.method == http.MethodHead {
		// HEAD answers carry no body; only the status is checked.
		if resp == nil && r.status < 400 {
			return fmt.Errorf("status %d is not one the spec lists (%s)", r.status, strings.Join(statuses(op), ", "))
		}
		return nil
	}
	if resp == nil {
		if r.status < 400 {
			return fmt.Errorf("status %d is not one the spec lists (%s)", r.status, strings.Join(statuses(op), ", "))
		}
		// Error statuses the spec does not list still use Harbor's error body.
		return validateErrorBody(r.body)
	}
	if resp.Value == nil || resp.Value.Content == nil {
		return nil
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	if len(r.body) == 0 {
		return fmt.Errorf("empty body where the spec defines a JSON schema")
	}
	// Operations whose schema is "type: string" (the artifact additions) answer the raw
	// content, JSON or not: Harbor sends build_history as a JSON array, values.yaml as YAML.
	if mt.Schema.Value.Type.Is("string") {
		return nil
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		// Plain text answers (ping) are described as strings.
		if mt.Schema.Value.Type.Is("string") {
			return nil
		}
		return fmt.Errorf("body is not JSON: %v", err)
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("body does not match the schema: %v\nbody: %.600s", err, r.body)
	}
	return nil
}

// anyAdditionalObject relaxes "additionalProperties: {type: object}" without properties (the
// Artifact's ExtraAttrs, a RetentionRule's params) to any value, as go-swagger, which Harbor's
// server is generated with, reads it (map[string]interface{}): Harbor answers extra_attrs
// {"architecture": "amd64", ...} and params {"latestPushedK": 10}. Properties declared inline
// are relaxed too.
func anyAdditionalObject(ref *openapi3.SchemaRef) {
	if ref == nil || ref.Value == nil {
		return
	}
	if ap := ref.Value.AdditionalProperties.Schema; ap != nil && ap.Value != nil && ap.Value.Type.Is("object") && len(ap.Value.Properties) == 0 {
		yes := true
		ref.Value.AdditionalProperties = openapi3.AdditionalProperties{Has: &yes}
	}
	for _, prop := range ref.Value.Properties {
		if prop != nil && prop.Ref == "" {
			anyAdditionalObject(prop)
		}
	}
}

func validateErrorBody(body []byte) error {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 || e.Errors[0].Code == "" {
		return fmt.Errorf("error response without Harbor's error body: %.300s", body)
	}
	return nil
}

func statuses(op *openapi3.Operation) []string {
	var out []string
	for k := range op.Responses.Map() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// findShared locates a file of the shared folder beside the repository (or $BERTH_SHARED).
func findShared(rel string) (string, error) {
	if d := os.Getenv("BERTH_SHARED"); d != "" {
		return filepath.Join(d, rel), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		for _, cand := range []string{filepath.Join(dir, "shared", rel), filepath.Join(dir, "..", "shared", rel)} {
			if _, err := os.Stat(cand); err == nil {
				return cand, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("shared/%s not found beside the repository", rel)
		}
		dir = parent
	}
}

// TestContractValidator shows that the contract check catches what it must: a field of the
// wrong type, a missing required error body, a success status the spec does not list.
func TestContractValidator(t *testing.T) {
	spec, err := loadHarborSpec()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no Harbor spec: %v", err)
	}
	cases := []struct {
		method, path string
		status       int
		body         string
		valid        bool
	}{
		{"GET", "/projects/library", 200, `{"project_id":1,"name":"library","metadata":{"public":"true"}}`, true},
		{"GET", "/projects/library", 200, `{"project_id":"one","name":"library"}`, false},
		{"GET", "/projects/library", 200, `{"project_id":1,"metadata":{"public":true}}`, false},
		{"GET", "/projects", 201, `[]`, false},
		{"GET", "/projects/nosuch", 404, `{"errors":[{"code":"NOT_FOUND","message":"x"}]}`, true},
		{"GET", "/projects/nosuch", 404, `not json`, false},
		{"GET", "/users/current", 200, `{"user_id":1,"username":"admin"}`, true},
		{"GET", "/projects/p/repositories/a%252Fb/artifacts", 200, `[]`, true},
	}
	for _, c := range cases {
		op, key := spec.match(c.method, c.path)
		if op == nil {
			t.Fatalf("%s %s matched no operation", c.method, c.path)
		}
		err := validateResponse(op, recordedResponse{method: c.method, path: c.path, status: c.status, body: []byte(c.body)})
		if (err == nil) != c.valid {
			t.Errorf("%s (%s) %d %s: valid=%v, err %v", key, c.path, c.status, c.body, c.valid, err)
		}
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	resp := ts.do(t, http.MethodGet, "/api/v2.0/ping", anonymous(), nil)
	if resp.StatusCode != http.StatusOK || string(respBody(t, resp)) != "Pong" {
		t.Fatalf("ping answered %d %q", resp.StatusCode, respBody(t, resp))
	}
}
