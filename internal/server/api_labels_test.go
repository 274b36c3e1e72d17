package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Labels (/api/v2.0/labels) and labels on artifacts, through the full server on both databases.

// labelCreate creates a label and returns its id, checking 201 and the Location.
func labelCreate(t *testing.T, ts *testServer, h http.Header, body map[string]any) int64 {
	t.Helper()
	resp := artCall(t, ts, http.MethodPost, "/labels", h, body)
	expectStatus(t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/api/v2.0/labels/"), 10, 64)
	if err != nil || !strings.HasPrefix(loc, "/api/v2.0/labels/") {
		t.Fatalf("create label: Location %q", loc)
	}
	return id
}

func labelNames(ls []tLabel) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.Name)
	}
	return out
}

func TestLabelScopesAndPermissions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "team", false)
		other := artProject(t, ts, "other", false)
		roles := artRoles(t, ts, p)
		pid := strconv.FormatInt(p.ID, 10)

		global := labelCreate(t, ts, nil, map[string]any{"name": "prod", "description": "production", "color": "#00FF00", "scope": "g"})
		proj := labelCreate(t, ts, roles["maintainer"], map[string]any{"name": "prod", "color": "#0065ab", "scope": "p", "project_id": p.ID})
		labelCreate(t, ts, roles["admin"], map[string]any{"name": "qa", "scope": "p", "project_id": p.ID})
		labelCreate(t, ts, nil, map[string]any{"name": "prod", "scope": "p", "project_id": other.ID})

		var l tLabel
		artGet(t, ts, "/labels/"+strconv.FormatInt(global, 10), roles["outsider"], &l)
		if l.Name != "prod" || l.Scope != "g" || l.ProjectID != 0 || l.Color != "#00FF00" || l.Description != "production" {
			t.Errorf("global label %+v", l)
		}
		artGet(t, ts, "/labels/"+strconv.FormatInt(proj, 10), roles["guest"], &l)
		if l.Scope != "p" || l.ProjectID != p.ID {
			t.Errorf("project label %+v", l)
		}

		for _, c := range []struct {
			name   string
			h      http.Header
			body   string
			status int
			code   string
		}{
			{"a global label by a non-admin", roles["admin"], `{"name":"x","scope":"g"}`, http.StatusForbidden, "FORBIDDEN"},
			{"a project label by a developer", roles["developer"], `{"name":"x","scope":"p","project_id":` + pid + `}`, http.StatusForbidden, "FORBIDDEN"},
			{"a project label of an invisible project", roles["admin"], `{"name":"x","scope":"p","project_id":` + strconv.FormatInt(other.ID, 10) + `}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"anonymous", anonymous(), `{"name":"x","scope":"g"}`, http.StatusUnauthorized, "UNAUTHORIZED"},
			{"a taken global name", nil, `{"name":"prod","scope":"g"}`, http.StatusConflict, "CONFLICT"},
			{"a taken project name", nil, `{"name":"qa","scope":"p","project_id":` + pid + `}`, http.StatusConflict, "CONFLICT"},
			{"no name", nil, `{"scope":"g"}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"a bad color", nil, `{"name":"x","scope":"g","color":"green"}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"a bad scope", nil, `{"name":"x","scope":"x"}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"a project label without project", nil, `{"name":"x","scope":"p"}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"an unknown project", nil, `{"name":"x","scope":"p","project_id":99999}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"an unknown field", nil, `{"name":"x","scope":"g","bogus":true}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"a wrongly typed field", nil, `{"name":"x","scope":"g","project_id":"1"}`, http.StatusBadRequest, "BAD_REQUEST"},
		} {
			t.Run(c.name, func(t *testing.T) {
				artErr(t, artCall(t, ts, http.MethodPost, "/labels", c.h, c.body), c.status, c.code)
			})
		}

		// Listing: one scope at a time; project labels for those who may read the project's.
		var ls []tLabel
		resp := artGet(t, ts, "/labels?scope=g", anonymous(), &ls)
		if strings.Join(labelNames(ls), ",") != "prod" || resp.Header.Get("X-Total-Count") != "1" {
			t.Errorf("global labels %v", labelNames(ls))
		}
		artGet(t, ts, "/labels?scope=p&project_id="+pid, roles["guest"], &ls)
		if strings.Join(labelNames(ls), ",") != "prod,qa" {
			t.Errorf("project labels %v", labelNames(ls))
		}
		artGet(t, ts, "/labels?scope=p&project_id="+pid+"&name=Q", roles["guest"], &ls)
		if strings.Join(labelNames(ls), ",") != "qa" {
			t.Errorf("project labels named ~Q: %v", labelNames(ls))
		}
		resp = artGet(t, ts, "/labels?scope=p&project_id="+pid+"&page_size=1&page=2", nil, &ls)
		if strings.Join(labelNames(ls), ",") != "qa" || resp.Header.Get("X-Total-Count") != "2" || !strings.Contains(resp.Header.Get("Link"), `rel="prev"`) {
			t.Errorf("page 2: %v, %q, %q", labelNames(ls), resp.Header.Get("X-Total-Count"), resp.Header.Get("Link"))
		}
		artErr(t, artCall(t, ts, http.MethodGet, "/labels", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodGet, "/labels?scope=p", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodGet, "/labels?scope=p&project_id="+pid, roles["limited"], nil), http.StatusForbidden, "FORBIDDEN")
		artErr(t, artCall(t, ts, http.MethodGet, "/labels?scope=p&project_id="+pid, roles["outsider"], nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, "/labels/"+strconv.FormatInt(proj, 10), roles["outsider"], nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, "/labels/99999", nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, "/labels/abc", nil, nil), http.StatusBadRequest, "BAD_REQUEST")

		// Updating: name, description and color; the scope stays.
		path := "/labels/" + strconv.FormatInt(proj, 10)
		artErr(t, artCall(t, ts, http.MethodPut, path, roles["developer"], map[string]any{"name": "x"}), http.StatusForbidden, "FORBIDDEN")
		artErr(t, artCall(t, ts, http.MethodPut, path, roles["maintainer"], map[string]any{"name": "qa"}), http.StatusConflict, "CONFLICT")
		artErr(t, artCall(t, ts, http.MethodPut, path, roles["maintainer"], map[string]any{"name": "x", "color": "#12345"}), http.StatusBadRequest, "BAD_REQUEST")
		expectStatus(t, artCall(t, ts, http.MethodPut, path, roles["maintainer"],
			map[string]any{"name": "production", "description": "d", "color": "#abcdef", "scope": "g", "project_id": 0}), http.StatusOK)
		artGet(t, ts, path, nil, &l)
		if l.Name != "production" || l.Description != "d" || l.Color != "#abcdef" || l.Scope != "p" || l.ProjectID != p.ID {
			t.Errorf("updated label %+v", l)
		}
		artErr(t, artCall(t, ts, http.MethodPut, "/labels/"+strconv.FormatInt(global, 10), roles["admin"], map[string]any{"name": "x"}), http.StatusForbidden, "FORBIDDEN")

		// Deleting.
		artErr(t, artCall(t, ts, http.MethodDelete, path, roles["developer"], nil), http.StatusForbidden, "FORBIDDEN")
		expectStatus(t, artCall(t, ts, http.MethodDelete, path, roles["maintainer"], nil), http.StatusOK)
		artErr(t, artCall(t, ts, http.MethodGet, path, nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodDelete, path, nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodDelete, "/labels/"+strconv.FormatInt(global, 10), roles["admin"], nil), http.StatusForbidden, "FORBIDDEN")
		expectStatus(t, artCall(t, ts, http.MethodDelete, "/labels/"+strconv.FormatInt(global, 10), nil, nil), http.StatusOK)
	})
}

func TestArtifactLabels(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "lab", false)
		other := artProject(t, ts, "elsewhere", false)
		roles := artRoles(t, ts, p)
		_, img, _ := artImage(t, ts, "lab/app", "v1", "amd64")
		_, img2, _ := artImage(t, ts, "lab/app", "v2", "amd64")
		global := labelCreate(t, ts, nil, map[string]any{"name": "approved", "scope": "g"})
		local := labelCreate(t, ts, nil, map[string]any{"name": "team", "scope": "p", "project_id": p.ID})
		foreign := labelCreate(t, ts, nil, map[string]any{"name": "team", "scope": "p", "project_id": other.ID})
		labels := artRepoPath("lab/app") + "/artifacts/v1/labels"

		expectStatus(t, artCall(t, ts, http.MethodPost, labels, roles["developer"], map[string]any{"id": global}), http.StatusOK)
		expectStatus(t, artCall(t, ts, http.MethodPost, labels, nil, map[string]any{"id": local, "name": "ignored"}), http.StatusOK)
		expectStatus(t, artCall(t, ts, http.MethodPost, artRepoPath("lab/app")+"/artifacts/v2/labels", nil, map[string]any{"id": local}), http.StatusOK)
		for _, c := range []struct {
			name   string
			h      http.Header
			body   any
			status int
			code   string
		}{
			{"already added", nil, map[string]any{"id": global}, http.StatusConflict, "CONFLICT"},
			{"a label of another project", nil, map[string]any{"id": foreign}, http.StatusBadRequest, "BAD_REQUEST"},
			{"an unknown label", nil, map[string]any{"id": 99999}, http.StatusNotFound, "NOT_FOUND"},
			{"no id", nil, map[string]any{"name": "approved"}, http.StatusBadRequest, "BAD_REQUEST"},
			{"an unknown field", nil, `{"id":1,"x":2}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"a guest", roles["guest"], map[string]any{"id": local}, http.StatusForbidden, "FORBIDDEN"},
			{"an outsider", roles["outsider"], map[string]any{"id": local}, http.StatusNotFound, "NOT_FOUND"},
			{"anonymous", anonymous(), map[string]any{"id": local}, http.StatusUnauthorized, "UNAUTHORIZED"},
		} {
			t.Run(c.name, func(t *testing.T) {
				artErr(t, artCall(t, ts, http.MethodPost, labels, c.h, c.body), c.status, c.code)
			})
		}

		a := artArtifact(t, ts, "lab/app", "v1", "with_label=true", roles["limited"])
		if a.Labels == nil || strings.Join(labelNames(*a.Labels), ",") != "approved,team" {
			t.Errorf("labels of v1: %+v", a.Labels)
		}
		arts := artRepoPath("lab/app") + "/artifacts"
		for q, want := range map[string][]string{
			"labels%3D" + strconv.FormatInt(local, 10):                                                      {img2, img},
			"labels%3D%28" + strconv.FormatInt(local, 10) + "%20" + strconv.FormatInt(global, 10) + "%29":   {img},
			"labels%3D%7B" + strconv.FormatInt(global, 10) + "%20" + strconv.FormatInt(foreign, 10) + "%7D": {img},
		} {
			got, _ := artDigests(t, ts, arts+"?q="+q, nil)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("q=%s: %v, want %v", q, got, want)
			}
		}

		// Removing.
		one := labels + "/" + strconv.FormatInt(global, 10)
		artErr(t, artCall(t, ts, http.MethodDelete, one, roles["guest"], nil), http.StatusForbidden, "FORBIDDEN")
		expectStatus(t, artCall(t, ts, http.MethodDelete, one, roles["developer"], nil), http.StatusOK)
		artErr(t, artCall(t, ts, http.MethodDelete, one, nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodDelete, labels+"/abc", nil, nil), http.StatusBadRequest, "BAD_REQUEST")

		// Deleting a label takes it off every artifact; deleting an artifact takes its labels.
		expectStatus(t, artCall(t, ts, http.MethodDelete, "/labels/"+strconv.FormatInt(local, 10), nil, nil), http.StatusOK)
		a = artArtifact(t, ts, "lab/app", "v2", "with_label=true", nil)
		if len(*a.Labels) != 0 {
			t.Errorf("labels of v2 after the label's deletion: %+v", a.Labels)
		}
		expectStatus(t, artCall(t, ts, http.MethodPost, artRepoPath("lab/app")+"/artifacts/v2/labels", nil, map[string]any{"id": global}), http.StatusOK)
		expectStatus(t, artCall(t, ts, http.MethodDelete, artRepoPath("lab/app")+"/artifacts/v2", nil, nil), http.StatusOK)
		var n int64
		if err := ts.srv.db.QueryRowForTest(t.Context(), "SELECT COUNT(*) FROM artifact_labels").Scan(&n); err != nil || n != 0 {
			t.Errorf("artifact_labels rows left: %d (%v)", n, err)
		}
	})
}
