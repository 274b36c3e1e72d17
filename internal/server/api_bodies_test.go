package server

import (
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Request bodies as Harbor's generated clients send them: the whole model, read-only fields
// included. Berth takes every field of the model an operation's body is (ignoring those that
// mean nothing to it) and still refuses fields of no model.

// unknownField is a field no Harbor model has.
const unknownField = "berth_not_a_harbor_field"

// bodyOperationsServed are the operations with a request body that Berth serves; the test fails
// if one of them stops being exercised. Operations served later are checked without being
// named here.
var bodyOperationsServed = []string{
	"POST /projects", "PUT /projects/{project_name_or_id}",
	"POST /projects/{project_name_or_id}/members", "PUT /projects/{project_name_or_id}/members/{mid}",
	"POST /projects/{project_name_or_id}/metadatas/", "PUT /projects/{project_name_or_id}/metadatas/{meta_name}",
	"PUT /projects/{project_name}/repositories/{repository_name}",
	"POST /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/scan",
	"POST /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/scan/stop",
	"POST /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
	"POST /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels",
	"PUT /projects/{project_name_or_id}/scanner",
	"POST /projects/{project_name_or_id}/immutabletagrules", "PUT /projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}",
	"POST /usergroups", "PUT /usergroups/{group_id}",
	"POST /robots", "PUT /robots/{robot_id}", "PATCH /robots/{robot_id}",
	"PUT /quotas/{id}",
	"POST /system/gc/schedule", "PUT /system/gc/schedule",
	"PUT /system/CVEAllowlist",
	"POST /system/scanAll/schedule", "PUT /system/scanAll/schedule",
	"POST /retentions", "PUT /retentions/{id}", "POST /retentions/{id}/executions", "PATCH /retentions/{id}/executions/{eid}",
	"POST /scanners", "POST /scanners/ping", "PUT /scanners/{registration_id}", "PATCH /scanners/{registration_id}",
	"POST /users", "PUT /users/{user_id}", "PUT /users/{user_id}/sysadmin", "PUT /users/{user_id}/password",
	"POST /labels", "PUT /labels/{label_id}",
}

// bodyExceptions are the served operations whose bodies are not a model with a fixed set of
// fields, and why.
var bodyExceptions = map[string]string{
	// A configuration key is a setting: one Berth does not have is refused by the settings
	// service (after authentication) rather than ignored, so that a setting never silently
	// does nothing.
	"PUT /configurations": "settings",
	// The user service refuses the CLI secret (an OIDC feature) before reading the body.
	"PUT /users/{user_id}/cli_secret": "not read",
}

// olderModels are operations whose bodies Harbor's generated clients send as another model
// of the swagger than the one it names now.
var olderModels = map[string]string{
	// The tag creation took the whole Tag before NewTag; go-client still sends a Tag.
	"POST /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags": "Tag",
}

// exampleStrings are the example values of string properties that hold a document of their
// own.
var exampleStrings = map[string]string{
	"extras": `{"untagged":true}`, // selectors' options, JSON in a string
}

// TestRequestBodiesTakeHarborModels sends every operation Berth serves the whole model of its
// body as Harbor's swagger defines it, every property filled, read-only ones too: no field of
// it may be refused. The same body with one field of no model must be refused as unknown,
// which shows the body is read (strictly) before anything else answers. The requests are
// anonymous, so nothing changes: a body that was read is answered 401.
func TestRequestBodiesTakeHarborModels(t *testing.T) {
	t.Parallel()
	spec, err := loadHarborSpec()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no Harbor spec: %v", err)
	}
	ts := newTestServer(t, "sqlite")
	served := map[string]bool{}
	for _, o := range spec.ops {
		if o.op.RequestBody == nil || o.op.RequestBody.Value == nil {
			continue
		}
		mt := o.op.RequestBody.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
			continue
		}
		key := o.method + " " + o.path
		if _, skip := bodyExceptions[key]; skip {
			served[key] = true
			continue
		}
		path := apiBase + examplePath(o)
		if !ts.serves(t, o.method, path) {
			continue
		}
		served[key] = true
		models := map[string]*openapi3.Schema{modelName(mt.Schema): mt.Schema.Value}
		if name, ok := olderModels[key]; ok {
			models[name] = spec.doc.Components.Schemas[name].Value
		}
		for name, model := range models {
			t.Run(key+" "+name, func(t *testing.T) {
				checkBody(t, ts, o.method, path, name, model)
			})
		}
	}
	var missing []string
	for _, k := range bodyOperationsServed {
		if !served[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations with a body not exercised: %s", strings.Join(missing, ", "))
	}
}

// checkBody sends the whole model, then the model with a field of no model.
func checkBody(t *testing.T, ts *testServer, method, path, name string, model *openapi3.Schema) {
	t.Helper()
	full := exampleValue("", model, 0)
	resp := ts.do(t, method, path, hdr(anonymous(), "Content-Type", "application/json"), mustJSON(t, full))
	if msg := bodyRefusal(t, resp); msg != "" {
		t.Errorf("the whole %s model was refused: %s\nbody: %s", name, msg, mustJSON(t, full))
	}
	obj, isObject := full.(map[string]any)
	if !isObject || openObject(model) {
		return // a map of the client's keys: any key is Harbor's
	}
	extra := map[string]any{unknownField: 1}
	for k, v := range obj {
		extra[k] = v
	}
	resp = ts.do(t, method, path, hdr(anonymous(), "Content-Type", "application/json"), mustJSON(t, extra))
	if msg := bodyRefusal(t, resp); !strings.Contains(msg, `unknown field "`+unknownField+`"`) {
		t.Errorf("a field of no model was not refused before anything else answered: %d %s", resp.StatusCode, respBody(t, resp))
	}
}

// serves reports whether Berth has a route for the request: it answers neither 405 nor 404
// "no such API". The probe is not recorded for the contract check, which holds Berth's routes
// to the spec, not the answers for routes it does not have.
func (ts *testServer) serves(t *testing.T, method, path string) bool {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Errors []ociError `json:"errors"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	switch {
	case resp.StatusCode == http.StatusMethodNotAllowed:
		return false
	case resp.StatusCode == http.StatusNotFound && len(body.Errors) > 0:
		return !strings.HasPrefix(body.Errors[0].Message, "no such API")
	}
	return true
}

// bodyRefusal returns the message of a 400 that refused the request body as such, "" for any
// other answer.
func bodyRefusal(t *testing.T, resp *http.Response) string {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest {
		return ""
	}
	errs := decodeErrors(t, resp)
	if len(errs) == 0 || !strings.HasPrefix(errs[0].Message, "invalid request body") {
		return ""
	}
	return errs[0].Message
}

// examplePath fills an operation's path parameters: 1 for numbers, a name otherwise.
func examplePath(o specOperation) string {
	p := o.path
	for _, ref := range o.op.Parameters {
		if ref.Value == nil || ref.Value.In != "path" {
			continue
		}
		v := "berth"
		if s := ref.Value.Schema; s != nil && s.Value != nil && s.Value.Type.Is("integer") {
			v = "1"
		}
		p = strings.ReplaceAll(p, "{"+ref.Value.Name+"}", v)
	}
	return p
}

// openObject reports whether an object schema takes keys of the client's choosing.
func openObject(s *openapi3.Schema) bool {
	ap := s.AdditionalProperties
	return len(s.Properties) == 0 || ap.Schema != nil || (ap.Has != nil && *ap.Has)
}

func modelName(ref *openapi3.SchemaRef) string {
	if ref.Ref != "" {
		return ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
	}
	return "inline"
}

// exampleValue is a value of the schema of property name with every property present, as a
// generated client sends a model it filled completely.
func exampleValue(name string, s *openapi3.Schema, depth int) any {
	if depth > 8 {
		return nil
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is("array"):
		if s.Items == nil || s.Items.Value == nil {
			return []any{}
		}
		return []any{exampleValue(name, s.Items.Value, depth+1)}
	case s.Type.Is("integer"):
		return 1
	case s.Type.Is("number"):
		return 1.5
	case s.Type.Is("boolean"):
		return true
	case s.Type.Is("string"):
		if v, ok := exampleStrings[name]; ok {
			return v
		}
		if s.Format == "date-time" {
			return "2026-01-02T15:04:05.000Z"
		}
		return "berth"
	}
	// An object, declared or not.
	m := map[string]any{}
	for name, p := range s.Properties {
		if p.Value != nil {
			m[name] = exampleValue(name, p.Value, depth+1)
		}
	}
	if len(s.Properties) == 0 {
		if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
			m["key"] = exampleValue("", ap.Value, depth+1)
		} else if has := s.AdditionalProperties.Has; has != nil && *has {
			m["key"] = "value"
		}
	}
	return m
}

// TestCreateTagTakesWholeTag: a tag creation with the whole Tag, as go-client sends it (its
// Tag always carries immutable and both times), creates the tag; the fields the server sets
// are ignored.
func TestCreateTagTakesWholeTag(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		project, _ := ts.mrProject(t, "wholetag", false)
		_, digest := ts.pushImage(t, project+"/app", "v1", mtOCIManifest)
		tags := apiBase + "/projects/" + project + "/repositories/app/artifacts/" + digest + "/tags"
		resp := ts.mrJSON(t, http.MethodPost, tags, nil, map[string]any{
			"name": "stable", "immutable": false, "id": 0, "repository_id": 0, "artifact_id": 0,
			"push_time": "0001-01-01T00:00:00.000Z", "pull_time": "0001-01-01T00:00:00.000Z",
		})
		expectStatus(t, resp, http.StatusCreated)
		listed := decodeJSON[[]struct {
			Name     string `json:"name"`
			PushTime string `json:"push_time"`
		}](t, ts.do(t, http.MethodGet, tags+"?q=name%3Dstable", nil, nil))
		if len(listed) != 1 || listed[0].PushTime == "0001-01-01T00:00:00.000Z" {
			t.Errorf("tags named stable: %+v", listed)
		}
	})
}
