package server

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Tag immutability: the rules API (/projects/{p}/immutabletagrules) and what an enabled rule
// refuses on /v2/ and on the API, through the full server on both databases.

// tImmutableRule is Harbor's ImmutableRule as the tests read it.
type tImmutableRule struct {
	ID             int64                           `json:"id"`
	Priority       int                             `json:"priority"`
	Disabled       bool                            `json:"disabled"`
	Action         string                          `json:"action"`
	Template       string                          `json:"template"`
	Params         map[string]any                  `json:"params"`
	TagSelectors   []tImmutableSelector            `json:"tag_selectors"`
	ScopeSelectors map[string][]tImmutableSelector `json:"scope_selectors"`
}

type tImmutableSelector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

// immRule is a rule as Harbor's portal sends it: tags matching tagPattern in repositories
// matching repoPattern (both relative to the project).
func immRule(tagPattern, repoPattern string) map[string]any {
	return map[string]any{
		"disabled": false, "action": "immutable", "template": "immutable_template", "params": map[string]any{},
		"tag_selectors":   []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": tagPattern, "extras": `{"untagged":false}`}},
		"scope_selectors": map[string]any{"repository": []map[string]string{{"kind": "doublestar", "decoration": "repoMatches", "pattern": repoPattern}}},
	}
}

func immRulesPath(project string) string { return "/projects/" + project + "/immutabletagrules" }

// immCreate creates a rule and returns its id, checking 201 and the Location.
func immCreate(t *testing.T, ts *testServer, project string, h http.Header, rule any) int64 {
	t.Helper()
	resp := artCall(t, ts, http.MethodPost, immRulesPath(project), h, rule)
	expectStatus(t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	id := mrLocationID(t, resp)
	if want := "/api/v2.0" + immRulesPath(project) + "/" + strconv.FormatInt(id, 10); loc != want {
		t.Errorf("Location %q, want %q", loc, want)
	}
	return id
}

func immList(t *testing.T, ts *testServer, path string) ([]tImmutableRule, *http.Response) {
	t.Helper()
	var rules []tImmutableRule
	resp := artGet(t, ts, path, nil, &rules)
	return rules, resp
}

func TestImmutableRulesAPI(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "imm", false)
		other := artProject(t, ts, "immother", false)
		roles := artRoles(t, ts, p)
		path := immRulesPath(p.Name)

		// As Harbor's portal sends it, with the project's id.
		portal := immRule("v*", "team/**")
		portal["project_id"], portal["priority"] = p.ID, 0
		first := immCreate(t, ts, p.Name, nil, portal)
		rules, resp := immList(t, ts, path)
		if len(rules) != 1 || resp.Header.Get("X-Total-Count") != "1" {
			t.Fatalf("rules %+v, X-Total-Count %q", rules, resp.Header.Get("X-Total-Count"))
		}
		r := rules[0]
		if r.ID != first || r.Disabled || r.Action != "immutable" || r.Template != "immutable_template" || r.Params == nil ||
			len(r.TagSelectors) != 1 || r.TagSelectors[0] != (tImmutableSelector{"doublestar", "matches", "v*", ""}) ||
			len(r.ScopeSelectors["repository"]) != 1 || r.ScopeSelectors["repository"][0] != (tImmutableSelector{"doublestar", "repoMatches", "team/**", ""}) {
			t.Errorf("rule %+v", r)
		}
		// The project by id, as Harbor's project_name_or_id allows.
		byID, _ := immList(t, ts, immRulesPath(strconv.FormatInt(p.ID, 10)))
		if len(byID) != 1 || byID[0].ID != first {
			t.Errorf("rules of project %d: %+v", p.ID, byID)
		}
		// Extras are kept, in Harbor's string form; action and template may be left out.
		withExtras := immCreate(t, ts, p.Name, nil, `{"priority":3,"tag_selectors":[{"kind":"doublestar","decoration":"excludes","pattern":"dev-*","extras":"{\"untagged\":true}"}],`+
			`"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoExcludes","pattern":"tmp/**"}]}}`)
		rules, _ = immList(t, ts, path+"?q=priority%3D3")
		if len(rules) != 1 || rules[0].ID != withExtras || rules[0].TagSelectors[0].Extras != `{"untagged":true}` || rules[0].Action != "immutable" {
			t.Errorf("rule with extras %+v", rules)
		}

		// Validation: Harbor's error body, a message naming what is wrong.
		for _, c := range []struct {
			name, body, inMessage string
		}{
			{"a bad pattern", `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"v[0-9"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "tag_selectors[0].pattern"},
			{"a bad repository pattern", `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"{a,b"}]}}`, "scope_selectors.repository[0].pattern"},
			{"an empty pattern", `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":""}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "tag_selectors[0].pattern"},
			{"an unknown kind", `{"tag_selectors":[{"kind":"regexp","decoration":"matches","pattern":"**"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "tag_selectors[0].kind"},
			{"an unknown decoration", `{"tag_selectors":[{"kind":"doublestar","decoration":"matching","pattern":"**"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "tag_selectors[0].decoration"},
			{"a tag decoration on repositories", `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"matches","pattern":"**"}]}}`, "scope_selectors.repository[0].decoration"},
			{"no tag selectors", `{"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "tag_selectors"},
			{"no scope selectors", `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}]}`, "scope_selectors"},
			{"another action", `{"action":"retain","tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "action"},
			{"bad extras", `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**","extras":"nope"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "extras"},
			{"an unknown field", `{"bogus":1,"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, "bogus"},
		} {
			t.Run(c.name, func(t *testing.T) {
				msg := artErr(t, artCall(t, ts, http.MethodPost, path, nil, c.body), http.StatusBadRequest, "BAD_REQUEST")
				if !strings.Contains(msg, c.inMessage) {
					t.Errorf("message %q does not name %s", msg, c.inMessage)
				}
			})
		}

		// The same selectors twice in a project: 409, whatever the priority or state; another
		// project may have them.
		dup := immRule("v*", "team/**")
		dup["priority"], dup["disabled"] = 5, true
		artErr(t, artCall(t, ts, http.MethodPost, path, nil, dup), http.StatusConflict, "CONFLICT")
		immCreate(t, ts, other.Name, nil, immRule("v*", "team/**"))

		// At most 15 rules in a project.
		for i := 3; i <= 15; i++ {
			immCreate(t, ts, p.Name, nil, immRule("r"+strconv.Itoa(i), "**"))
		}
		msg := artErr(t, artCall(t, ts, http.MethodPost, path, nil, immRule("r16", "**")), http.StatusBadRequest, "BAD_REQUEST")
		if !strings.Contains(msg, "15") {
			t.Errorf("limit message %q", msg)
		}
		rules, resp = immList(t, ts, path)
		if len(rules) != 10 || resp.Header.Get("X-Total-Count") != "15" || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) || rules[0].ID != first {
			t.Errorf("first page: %d rules, X-Total-Count %q, Link %q", len(rules), resp.Header.Get("X-Total-Count"), resp.Header.Get("Link"))
		}
		rules, _ = immList(t, ts, path+"?page=2&page_size=10")
		if len(rules) != 5 {
			t.Errorf("second page: %d rules", len(rules))
		}

		// Updating replaces the rule; the id in the body, if any, must be the path's.
		one := path + "/" + strconv.FormatInt(first, 10)
		upd := immRule("release-*", "team/**")
		upd["id"], upd["priority"] = first, 2
		expectStatus(t, artCall(t, ts, http.MethodPut, one, nil, upd), http.StatusOK)
		rules, _ = immList(t, ts, path+"?q=id%3D"+strconv.FormatInt(first, 10))
		if len(rules) != 1 || rules[0].TagSelectors[0].Pattern != "release-*" || rules[0].Priority != 2 || rules[0].Disabled {
			t.Errorf("updated rule %+v", rules)
		}
		artErr(t, artCall(t, ts, http.MethodPut, one, nil, immRule("r3", "**")), http.StatusConflict, "CONFLICT")
		mismatch := immRule("x", "**")
		mismatch["id"] = first + 1000
		artErr(t, artCall(t, ts, http.MethodPut, one, nil, mismatch), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodPut, one, nil, immRule("v[", "**")), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodPut, path+"/999999", nil, immRule("x", "**")), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodPut, path+"/abc", nil, immRule("x", "**")), http.StatusBadRequest, "BAD_REQUEST")
		// A rule is reached through its own project only.
		artErr(t, artCall(t, ts, http.MethodPut, immRulesPath(other.Name)+"/"+strconv.FormatInt(first, 10), nil, immRule("x", "**")), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodDelete, immRulesPath(other.Name)+"/"+strconv.FormatInt(first, 10), nil, nil), http.StatusNotFound, "NOT_FOUND")

		// {"disabled":true} only disables: the selectors stay.
		expectStatus(t, artCall(t, ts, http.MethodPut, one, nil, `{"disabled":true}`), http.StatusOK)
		rules, _ = immList(t, ts, path+"?q=disabled%3Dtrue")
		if len(rules) != 1 || rules[0].ID != first || rules[0].TagSelectors[0].Pattern != "release-*" || rules[0].Priority != 2 {
			t.Errorf("disabled rules %+v", rules)
		}
		expectStatus(t, artCall(t, ts, http.MethodPut, one, nil, `{"disabled":false}`), http.StatusOK)
		rules, _ = immList(t, ts, path+"?q=disabled%3Dtrue")
		if len(rules) != 0 {
			t.Errorf("disabled rules after enabling: %+v", rules)
		}

		// Deleting.
		expectStatus(t, artCall(t, ts, http.MethodDelete, one, nil, nil), http.StatusOK)
		artErr(t, artCall(t, ts, http.MethodDelete, one, nil, nil), http.StatusNotFound, "NOT_FOUND")
		if _, resp := immList(t, ts, path); resp.Header.Get("X-Total-Count") != "14" {
			t.Errorf("X-Total-Count %q after a deletion", resp.Header.Get("X-Total-Count"))
		}
		// Room for one more now.
		immCreate(t, ts, p.Name, nil, immRule("r16", "**"))

		// Who may: project admins and maintainers (HARBOR-NOTES §d); others not even list.
		artErr(t, artCall(t, ts, http.MethodGet, immRulesPath("nosuch"), nil, nil), http.StatusNotFound, "NOT_FOUND")
		for _, c := range []struct {
			who    string
			status int
			code   string
		}{
			{"developer", http.StatusForbidden, "FORBIDDEN"},
			{"guest", http.StatusForbidden, "FORBIDDEN"},
			{"limited", http.StatusForbidden, "FORBIDDEN"},
			{"outsider", http.StatusNotFound, "NOT_FOUND"},
		} {
			t.Run(c.who, func(t *testing.T) {
				artErr(t, artCall(t, ts, http.MethodPost, path, roles[c.who], immRule("dev", "**")), c.status, c.code)
				artErr(t, artCall(t, ts, http.MethodGet, path, roles[c.who], nil), c.status, c.code)
				artErr(t, artCall(t, ts, http.MethodDelete, path+"/"+strconv.FormatInt(withExtras, 10), roles[c.who], nil), c.status, c.code)
			})
		}
		artErr(t, artCall(t, ts, http.MethodGet, path, anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		expectStatus(t, artCall(t, ts, http.MethodDelete, path+"/"+strconv.FormatInt(withExtras, 10), roles["maintainer"], nil), http.StatusOK)
		immCreate(t, ts, p.Name, roles["maintainer"], immRule("maint", "**"))
		var list []tImmutableRule
		artGet(t, ts, path, roles["admin"], &list)
	})
}

// immPushOther PUTs new content (an image of fresh blobs) under ref and returns the answer.
func immPushOther(t *testing.T, ts *testServer, repo, ref string) (*http.Response, []byte) {
	t.Helper()
	b := mustJSON(t, ts.imageManifest(t, repo, mtOCIManifest))
	return ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, hdr(nil, "Content-Type", mtOCIManifest), b), b
}

// immResolve returns the digest a reference of the repository resolves to on /v2/.
func immResolve(t *testing.T, ts *testServer, repo, ref string) string {
	t.Helper()
	resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, hdr(nil, "Accept", mtOCIManifest), nil)
	expectStatus(t, resp, http.StatusOK)
	return resp.Header.Get("Docker-Content-Digest")
}

func immOCIMessage(t *testing.T, resp *http.Response) string {
	t.Helper()
	errs := decodeErrors(t, resp)
	if len(errs) == 0 {
		t.Fatalf("no error in %s", respBody(t, resp))
	}
	return errs[0].Message
}

func TestImmutableTagsEnforced(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "imm", false)
		roles := artRoles(t, ts, p)
		rule := immCreate(t, ts, p.Name, nil, immRule("t*", "team/**"))
		repo := "imm/team/app"

		// The first push of a protected tag is allowed, and so is pushing the same content again.
		body, t1, _ := artImage(t, ts, repo, "t1", "amd64")
		expectStatus(t, ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/t1", hdr(nil, "Content-Type", mtOCIManifest), body), http.StatusCreated)

		// Other content under it is refused, by tag and by digest with ?tag=, and nothing of
		// the refused push is stored.
		want := "Failed to process request due to '" + repo + ":t1' configured as immutable."
		resp, otherBody := immPushOther(t, ts, repo, "t1")
		assertOCIError(t, resp, http.StatusPreconditionFailed, "PRECONDITION")
		if msg := immOCIMessage(t, resp); msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
		other := sha256Digest(otherBody)
		resp = ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+other+"?tag=t1", hdr(nil, "Content-Type", mtOCIManifest), otherBody)
		assertOCIError(t, resp, http.StatusPreconditionFailed, "PRECONDITION")
		assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+other, hdr(nil, "Accept", mtOCIManifest), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		if d := immResolve(t, ts, repo, "t1"); d != t1 {
			t.Errorf("t1 resolves to %s, want the first push %s", d, t1)
		}
		got := ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/t1", hdr(nil, "Accept", mtOCIManifest), nil)
		if !bytes.Equal(respBody(t, got), body) {
			t.Error("t1 serves other bytes than its first push")
		}

		// Tags the rule does not pick behave as usual: in the repository, and t1 elsewhere.
		_, latest, _ := artImage(t, ts, repo, "latest", "amd64")
		resp, _ = immPushOther(t, ts, repo, "latest")
		expectStatus(t, resp, http.StatusCreated)
		if d := immResolve(t, ts, repo, "latest"); d == latest {
			t.Error("latest did not move")
		}
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/latest", nil, nil), http.StatusAccepted)
		artImage(t, ts, "imm/tools", "t1", "amd64")
		resp, _ = immPushOther(t, ts, "imm/tools", "t1")
		expectStatus(t, resp, http.StatusCreated)

		// Deleting the tag, or the manifest carrying it, is refused on /v2/.
		resp = ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/t1", nil, nil)
		assertOCIError(t, resp, http.StatusPreconditionFailed, "PRECONDITION")
		if msg := immOCIMessage(t, resp); msg != want {
			t.Errorf("delete message %q, want %q", msg, want)
		}
		assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+t1, nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
		assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/t9", nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		if d := immResolve(t, ts, repo, "t1"); d != t1 {
			t.Errorf("t1 resolves to %s after refused deletions", d)
		}

		// And on the API, in its words: tag deletion, artifact deletion, repository deletion.
		arts := artRepoPath(repo) + "/artifacts/"
		msg := artErr(t, artCall(t, ts, http.MethodDelete, arts+t1+"/tags/t1", roles["maintainer"], nil), http.StatusPreconditionFailed, "PRECONDITION")
		if msg != "the tag t1 configured as immutable, cannot be deleted" {
			t.Errorf("tag deletion message %q", msg)
		}
		artErr(t, artCall(t, ts, http.MethodDelete, arts+t1+"/tags/t7", nil, nil), http.StatusNotFound, "NOT_FOUND")
		msg = artErr(t, artCall(t, ts, http.MethodDelete, arts+t1, nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
		if msg != "the tag t1 configured as immutable, cannot be deleted" {
			t.Errorf("artifact deletion message %q", msg)
		}
		// A repository holding a protected tag: refused before anything of it goes.
		before, _ := artDigests(t, ts, artRepoPath(repo)+"/artifacts?page_size=100", nil)
		msg = artErr(t, artCall(t, ts, http.MethodDelete, artRepoPath(repo), nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
		if after, _ := artDigests(t, ts, artRepoPath(repo)+"/artifacts?page_size=100", nil); len(before) < 2 || !sameSet(before, after) {
			t.Errorf("artifacts before the refused repository deletion %v, after %v (%s)", before, after, msg)
		}
		if d := immResolve(t, ts, repo, "t1"); d != t1 {
			t.Errorf("t1 resolves to %s after refused API deletions", d)
		}
		// A second tag on the artifact: created (a first push of it), then neither deletable
		// nor movable; moving a tag onto it from the API is a conflict as ever.
		_, d2, _ := artImage(t, ts, repo, "", "arm64")
		expectStatus(t, artCall(t, ts, http.MethodPost, arts+t1+"/tags", nil, map[string]string{"name": "t2"}), http.StatusCreated)
		artErr(t, artCall(t, ts, http.MethodPost, arts+d2+"/tags", nil, map[string]string{"name": "t2"}), http.StatusConflict, "CONFLICT")
		msg = artErr(t, artCall(t, ts, http.MethodDelete, arts+t1+"/tags/t2", nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
		if msg != "the tag t2 configured as immutable, cannot be deleted" {
			t.Errorf("message %q", msg)
		}
		// Copying other content under a protected tag is refused too.
		artImage(t, ts, "imm/src", "t1", "amd64")
		msg = artErr(t, artCall(t, ts, http.MethodPost, artRepoPath(repo)+"/artifacts?from=imm/src:t1", nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
		if msg != "the tag t1 configured as immutable, cannot be updated" {
			t.Errorf("copy message %q", msg)
		}
		// Copying the same content is a push of the same content: allowed.
		expectStatus(t, artCall(t, ts, http.MethodPost, artRepoPath(repo)+"/artifacts?from="+repo+"@"+t1, nil, nil), http.StatusCreated)

		// with_immutable_status shows which tags are protected.
		var list []tArtifact
		artGet(t, ts, artRepoPath(repo)+"/artifacts?with_immutable_status=true", roles["guest"], &list)
		seen := 0
		for _, a := range list {
			for _, tg := range *a.Tags {
				seen++
				if tg.Immutable == nil || *tg.Immutable != (tg.Name == "t1" || tg.Name == "t2") {
					t.Errorf("tag %s: immutable %v", tg.Name, tg.Immutable)
				}
			}
		}
		if seen == 0 {
			t.Error("no tags listed")
		}
		a := artArtifact(t, ts, repo, t1, "with_immutable_status=false", nil)
		for _, tg := range *a.Tags {
			if tg.Immutable == nil || *tg.Immutable {
				t.Errorf("tag %s: immutable %v without with_immutable_status", tg.Name, tg.Immutable)
			}
		}
		var projArts []tArtifact
		artGet(t, ts, "/projects/imm/artifacts?with_immutable_status=true&page_size=100", nil, &projArts)
		for _, a := range projArts {
			for _, tg := range *a.Tags {
				if want := a.RepositoryName == repo; *tg.Immutable != want {
					t.Errorf("%s:%s immutable %v, want %v", a.RepositoryName, tg.Name, *tg.Immutable, want)
				}
			}
		}
		var tags []tTag
		artGet(t, ts, arts+t1+"/tags?with_immutable_status=true", nil, &tags)
		if len(tags) != 2 || !*tags[0].Immutable || !*tags[1].Immutable {
			t.Errorf("tags %+v", tags)
		}

		// A disabled rule protects nothing.
		expectStatus(t, artCall(t, ts, http.MethodPut, immRulesPath(p.Name)+"/"+strconv.FormatInt(rule, 10), nil, `{"disabled":true}`), http.StatusOK)
		artGet(t, ts, arts+t1+"/tags?with_immutable_status=true", nil, &tags)
		if len(tags) != 2 || *tags[0].Immutable || *tags[1].Immutable {
			t.Errorf("tags under a disabled rule %+v", tags)
		}
		resp, _ = immPushOther(t, ts, repo, "t1")
		expectStatus(t, resp, http.StatusCreated)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/t1", nil, nil), http.StatusAccepted)
		expectStatus(t, artCall(t, ts, http.MethodDelete, arts+t1, nil, nil), http.StatusOK)
	})
}

// TestImmutableFirstPushRace: pushes of different content racing to create the same
// protected tag: one wins, the others are refused, and the tag stays the winner's. The
// manifests are stored by digest first, so the racing pushes only tag them and nothing else
// (such as the quota row a new manifest is charged to) orders their transactions.
func TestImmutableFirstPushRace(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "race", false)
		immCreate(t, ts, p.Name, nil, immRule("**", "**"))
		repo := "race/app"
		const n = 8
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = mustJSON(t, ts.imageManifest(t, repo, mtOCIManifest))
			ts.pushManifest(t, repo, sha256Digest(bodies[i]), mtOCIManifest, bodies[i])
		}
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := http.NewRequest(http.MethodPut, ts.URL+"/v2/"+repo+"/manifests/r1", bytes.NewReader(bodies[i]))
				if err != nil {
					t.Error(err)
					return
				}
				req.SetBasicAuth(adminUser, adminPassword)
				req.Header.Set("Content-Type", mtOCIManifest)
				resp, err := ts.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		winner := -1
		for i, s := range statuses {
			switch {
			case s == http.StatusCreated && winner < 0:
				winner = i
			case s == http.StatusCreated:
				t.Errorf("pushes %d and %d both created r1", winner, i)
			case s != http.StatusPreconditionFailed:
				t.Errorf("push %d: status %d", i, s)
			}
		}
		if winner >= 0 {
			if d := immResolve(t, ts, repo, "r1"); d != sha256Digest(bodies[winner]) {
				t.Errorf("r1 resolves to %s, not the winner's %s", d, sha256Digest(bodies[winner]))
			}
		}
	})
}
