package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/retention"
)

// Tag retention (/retentions): policies, runs by hand and on a schedule, their executions,
// tasks and logs, through the full server on both databases. The RECIPE's policy — keep the 10
// most recently pushed tags per repository, or those pushed within the last 30 days — comes
// first.

type tRetExecution struct {
	ID        int64  `json:"id"`
	PolicyID  int64  `json:"policy_id"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time"`
	Status    string `json:"status"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dry_run"`
}

type tRetTask struct {
	ID          int64  `json:"id"`
	ExecutionID int64  `json:"execution_id"`
	Repository  string `json:"repository"`
	JobID       string `json:"job_id"`
	Status      string `json:"status"`
	StatusCode  int    `json:"status_code"`
	StartTime   string `json:"start_time"`
	EndTime     string `json:"end_time"`
	Total       int    `json:"total"`
	Retained    int    `json:"retained"`
}

// retRule is a rule as Harbor's portal sends it: the template with its parameter, over the
// tags matching tagPattern in the repositories matching repoPattern (without the project).
func retRule(template string, n int, tagPattern, repoPattern string) map[string]any {
	params := map[string]any{}
	if template != "always" {
		params[template] = n
	}
	return map[string]any{
		"disabled": false, "action": "retain", "template": template, "params": params,
		"tag_selectors":   []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": tagPattern, "extras": `{"untagged":true}`}},
		"scope_selectors": map[string]any{"repository": []map[string]string{{"kind": "doublestar", "decoration": "repoMatches", "pattern": repoPattern}}},
	}
}

// retPolicy is a policy of the project as Harbor's portal sends it.
func retPolicy(projectID int64, cron string, rules ...map[string]any) map[string]any {
	if rules == nil {
		rules = []map[string]any{}
	}
	return map[string]any{
		"algorithm": "or", "rules": rules,
		"trigger": map[string]any{"kind": "Schedule", "references": map[string]any{}, "settings": map[string]any{"cron": cron}},
		"scope":   map[string]any{"level": "project", "ref": projectID},
	}
}

// recipeRules are the RECIPE's: most recent 10 tags per repository, OR pushed within 30 days.
func recipeRules() []map[string]any {
	return []map[string]any{retRule("latestPushedK", 10, "**", "**"), retRule("nDaysSinceLastPush", 30, "**", "**")}
}

// retCreate creates a policy and returns its id, checking 201 and the Location.
func retCreate(t *testing.T, ts *testServer, h http.Header, policy any) int64 {
	t.Helper()
	resp := artCall(t, ts, http.MethodPost, "/retentions", h, policy)
	expectStatus(t, resp, http.StatusCreated)
	id := mrLocationID(t, resp)
	if want := apiBase + "/retentions/" + strconv.FormatInt(id, 10); resp.Header.Get("Location") != want {
		t.Errorf("Location %q, want %q", resp.Header.Get("Location"), want)
	}
	return id
}

func retPath(id int64) string { return "/retentions/" + strconv.FormatInt(id, 10) }

// retRun starts a run and returns the execution's id.
func retRun(t *testing.T, ts *testServer, h http.Header, id int64, dryRun bool) int64 {
	t.Helper()
	resp := artCall(t, ts, http.MethodPost, retPath(id)+"/executions", h, map[string]bool{"dry_run": dryRun})
	expectStatus(t, resp, http.StatusCreated)
	eid := mrLocationID(t, resp)
	if want := apiBase + retPath(id) + "/executions/" + strconv.FormatInt(eid, 10); resp.Header.Get("Location") != want {
		t.Errorf("Location %q, want %q", resp.Header.Get("Location"), want)
	}
	return eid
}

func retFinal(status string) bool {
	return status == meta.StatusSuccess || status == meta.StatusError || status == meta.StatusStopped
}

// retWait polls the policy's executions until eid has ended, and returns it.
func retWait(t *testing.T, ts *testServer, id, eid int64) tRetExecution {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var execs []tRetExecution
		artGet(t, ts, retPath(id)+"/executions?page_size=100", nil, &execs)
		for _, e := range execs {
			if e.ID == eid && retFinal(e.Status) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %d of policy %d did not end: %+v", eid, id, execs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func retTasks(t *testing.T, ts *testServer, id, eid int64) []tRetTask {
	t.Helper()
	var tasks []tRetTask
	artGet(t, ts, fmt.Sprintf("%s/executions/%d/tasks?page_size=100", retPath(id), eid), nil, &tasks)
	return tasks
}

func retTaskLog(t *testing.T, ts *testServer, id, eid, tid int64) string {
	t.Helper()
	resp := artCall(t, ts, http.MethodGet, fmt.Sprintf("%s/executions/%d/tasks/%d", retPath(id), eid, tid), nil, nil)
	expectStatus(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("task log Content-Type %q, want text/plain", ct)
	}
	return string(respBody(t, resp))
}

// retTags lists a repository's tags through /v2/.
func retTags(t *testing.T, ts *testServer, repo string) []string {
	t.Helper()
	resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/tags/list?n=1000", nil, nil)
	expectStatus(t, resp, http.StatusOK)
	tags := decodeJSON[struct{ Tags []string }](t, resp).Tags
	slices.Sort(tags)
	return tags
}

// retPushTags pushes one distinct image per tag, in order, and returns their digests by tag.
func retPushTags(t *testing.T, ts *testServer, repo string, tags ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tag := range tags {
		_, d, _ := artImage(t, ts, repo, tag, "amd64")
		out[tag] = d
	}
	return out
}

func vTags(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("v%02d", i))
	}
	return out
}

// retBackdate moves an artifact's push time, and that of its tags, to at (the store keeps no
// API for it; Harbor's "pushed within n days" is about exactly this time).
func retBackdate(t *testing.T, ts *testServer, repo, digest string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	var id, tagID int64
	err := ts.srv.db.QueryRowForTest(ctx, `UPDATE manifests SET created_at = $1
		WHERE digest = $2 AND repository_id = (SELECT id FROM repositories WHERE name = $3) RETURNING id`, at.UnixMicro(), digest, repo).Scan(&id)
	if err != nil {
		t.Fatalf("back-date %s@%s: %v", repo, digest, err)
	}
	if err := ts.srv.db.QueryRowForTest(ctx, `UPDATE tags SET created_at = $1, updated_at = $1 WHERE manifest_id = $2 RETURNING id`,
		at.UnixMicro(), id).Scan(&tagID); err != nil {
		t.Fatalf("back-date the tag of %s@%s: %v", repo, digest, err)
	}
}

func TestRetentionKeepsTheTenMostRecentlyPushed(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "ret"+uniqueSuffix(), false)
		repo := p.Name + "/app"
		digests := retPushTags(t, ts, repo, vTags(1, 15)...)
		id := retCreate(t, ts, nil, retPolicy(p.ID, "", retRule("latestPushedK", 10, "**", "**")))

		// Harbor's portal finds the policy through the project's metadata.
		var proj struct{ Metadata map[string]string }
		artGet(t, ts, "/projects/"+p.Name, nil, &proj)
		if proj.Metadata["retention_id"] != strconv.FormatInt(id, 10) {
			t.Fatalf("project metadata %v lacks retention_id %d", proj.Metadata, id)
		}

		eid := retRun(t, ts, nil, id, false)
		e := retWait(t, ts, id, eid)
		if e.Status != "Success" || e.Trigger != "MANUAL" || e.DryRun || e.PolicyID != id || e.StartTime == "" || e.EndTime == "" {
			t.Fatalf("execution %+v", e)
		}
		if got, want := retTags(t, ts, repo), vTags(6, 15); !slices.Equal(got, want) {
			t.Fatalf("tags after the run %v, want the 10 newest %v", got, want)
		}
		tasks := retTasks(t, ts, id, eid)
		if len(tasks) != 1 || tasks[0].Repository != repo || tasks[0].Status != "Success" || tasks[0].StatusCode != 3 ||
			tasks[0].Total != 15 || tasks[0].Retained != 10 || tasks[0].ExecutionID != eid || tasks[0].JobID == "" {
			t.Fatalf("tasks %+v", tasks)
		}
		// The artifacts went the way the API deletes them, audit included.
		artWaitAudit(t, ts, "delete", "artifact", repo+"@"+digests["v01"])
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath(repo)+"/artifacts/"+digests["v05"], nil, nil), http.StatusNotFound, "NOT_FOUND")

		// Run again: nothing more to do.
		eid = retRun(t, ts, nil, id, false)
		if e := retWait(t, ts, id, eid); e.Status != "Success" {
			t.Fatalf("second run %+v", e)
		}
		if tasks := retTasks(t, ts, id, eid); len(tasks) != 1 || tasks[0].Total != 10 || tasks[0].Retained != 10 {
			t.Fatalf("second run's tasks %+v", tasks)
		}
	})
}

func TestRetentionDaysSinceLastPush(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retdays"+uniqueSuffix(), false)
		fresh := p.Name + "/fresh"
		digests := retPushTags(t, ts, fresh, vTags(1, 6)...)
		for i, tag := range vTags(1, 3) {
			retBackdate(t, ts, fresh, digests[tag], time.Now().Add(-time.Duration(40-i)*24*time.Hour))
		}
		id := retCreate(t, ts, nil, retPolicy(p.ID, "", retRule("nDaysSinceLastPush", 30, "**", "**")))
		eid := retRun(t, ts, nil, id, false)
		if e := retWait(t, ts, id, eid); e.Status != "Success" {
			t.Fatalf("execution %+v", e)
		}
		if got, want := retTags(t, ts, fresh), vTags(4, 6); !slices.Equal(got, want) {
			t.Fatalf("tags %v, want only those pushed within 30 days %v", got, want)
		}

		// The RECIPE's policy: the 10 most recent OR pushed within the last 30 days. Of twelve
		// images all older than 30 days, the ten newest stay; the three recent ones all stay.
		old := p.Name + "/team/old"
		digests = retPushTags(t, ts, old, vTags(1, 12)...)
		for i, tag := range vTags(1, 12) {
			retBackdate(t, ts, old, digests[tag], time.Now().Add(-time.Duration(60-i)*24*time.Hour))
		}
		expectStatus(t, artCall(t, ts, http.MethodPut, retPath(id), nil, retPolicy(p.ID, "", recipeRules()...)), http.StatusOK)
		eid = retRun(t, ts, nil, id, false)
		if e := retWait(t, ts, id, eid); e.Status != "Success" {
			t.Fatalf("execution %+v", e)
		}
		if got, want := retTags(t, ts, old), vTags(3, 12); !slices.Equal(got, want) {
			t.Fatalf("tags of %s %v, want the 10 newest %v", old, got, want)
		}
		if got, want := retTags(t, ts, fresh), vTags(4, 6); !slices.Equal(got, want) {
			t.Fatalf("tags of %s %v, want %v", fresh, got, want)
		}
		tasks := retTasks(t, ts, id, eid)
		if len(tasks) != 2 || tasks[0].Repository != fresh || tasks[1].Repository != old ||
			tasks[0].Total != 3 || tasks[0].Retained != 3 || tasks[1].Total != 12 || tasks[1].Retained != 10 {
			t.Fatalf("tasks %+v", tasks)
		}
	})
}

func TestRetentionDryRunDeletesNothing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retdry"+uniqueSuffix(), false)
		repo := p.Name + "/app"
		retPushTags(t, ts, repo, vTags(1, 15)...)
		id := retCreate(t, ts, nil, retPolicy(p.ID, "", retRule("latestPushedK", 10, "**", "**")))

		dry := retRun(t, ts, nil, id, true)
		if e := retWait(t, ts, id, dry); e.Status != "Success" || !e.DryRun {
			t.Fatalf("dry run %+v", e)
		}
		if got := retTags(t, ts, repo); len(got) != 15 {
			t.Fatalf("a dry run deleted tags: %v", got)
		}
		dryTasks := retTasks(t, ts, id, dry)
		if len(dryTasks) != 1 || dryTasks[0].Total != 15 || dryTasks[0].Retained != 10 {
			t.Fatalf("dry run tasks %+v", dryTasks)
		}
		log := retTaskLog(t, ts, id, dry, dryTasks[0].ID)
		if n := strings.Count(log, "DEL (dry run)"); n != 5 || !strings.Contains(log, "Dry Run: true") {
			t.Fatalf("dry run log marks %d deletions, want 5:\n%s", n, log)
		}

		// The real run reports the same counts and does what the dry run said.
		real := retRun(t, ts, nil, id, false)
		if e := retWait(t, ts, id, real); e.Status != "Success" || e.DryRun {
			t.Fatalf("run %+v", e)
		}
		if tasks := retTasks(t, ts, id, real); len(tasks) != 1 || tasks[0].Total != 15 || tasks[0].Retained != 10 {
			t.Fatalf("run tasks %+v", tasks)
		}
		if got := retTags(t, ts, repo); !slices.Equal(got, vTags(6, 15)) {
			t.Fatalf("tags after the run %v", got)
		}
	})
}

func TestRetentionPolicyValidation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retval"+uniqueSuffix(), false)
		bad := func(change func(pol map[string]any)) map[string]any {
			pol := retPolicy(p.ID, "", retRule("latestPushedK", 10, "**", "**"))
			change(pol)
			return pol
		}
		rule0 := func(pol map[string]any) map[string]any { return pol["rules"].([]map[string]any)[0] }
		var sixteen []map[string]any
		for i := range 16 {
			sixteen = append(sixteen, retRule("latestPushedK", i, "**", "**"))
		}
		cases := []struct {
			name   string
			policy any
			want   string // in the message
		}{
			{"unknown template", bad(func(pol map[string]any) { rule0(pol)["template"] = "keepSome" }), `unknown template "keepSome"`},
			{"missing parameter", bad(func(pol map[string]any) { rule0(pol)["params"] = map[string]any{} }), "missing required parameter latestPushedK"},
			{"negative parameter", bad(func(pol map[string]any) { rule0(pol)["params"] = map[string]any{"latestPushedK": -3} }), "less than zero"},
			{"action other than retain", bad(func(pol map[string]any) { rule0(pol)["action"] = "immutable" }), `"immutable" is not supported`},
			{"algorithm other than or", bad(func(pol map[string]any) { pol["algorithm"] = "and" }), `algorithm: "and"`},
			{"sixteen rules", retPolicy(p.ID, "", sixteen...), "only 15 rules are allowed at most"},
			{"five-field cron", retPolicy(p.ID, "0 2 * * *"), "trigger.settings.cron"},
			{"cron out of range", retPolicy(p.ID, "0 0 25 * * *"), "trigger.settings.cron"},
			{"malformed tag selector", bad(func(pol map[string]any) {
				rule0(pol)["tag_selectors"] = []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": "[a-"}}
			}), "tag_selectors[0].pattern"},
			{"unknown decoration", bad(func(pol map[string]any) {
				rule0(pol)["scope_selectors"] = map[string]any{"repository": []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": "**"}}}
			}), "scope_selectors.repository[0].decoration"},
			{"no repository selector", bad(func(pol map[string]any) { rule0(pol)["scope_selectors"] = map[string]any{} }), "scope_selectors.repository"},
			{"scope ref not a project", retPolicy(p.ID+1000000, ""), "invalid project id"},
			{"scope level", bad(func(pol map[string]any) { pol["scope"] = map[string]any{"level": "system", "ref": 0} }), `scope.level: "system"`},
			{"not JSON", "{", "invalid request body"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp := artCall(t, ts, http.MethodPost, "/retentions", nil, c.policy)
				if msg := artErr(t, resp, http.StatusBadRequest, "BAD_REQUEST"); !strings.Contains(msg, c.want) {
					t.Errorf("message %q lacks %q", msg, c.want)
				}
			})
		}
		// The same rule twice is a conflict, as in Harbor.
		dup := retPolicy(p.ID, "", retRule("latestPushedK", 3, "**", "**"), retRule("latestPushedK", 3, "**", "**"))
		artErr(t, artCall(t, ts, http.MethodPost, "/retentions", nil, dup), http.StatusConflict, "CONFLICT")

		// One policy per project.
		id := retCreate(t, ts, nil, retPolicy(p.ID, ""))
		if msg := artErr(t, artCall(t, ts, http.MethodPost, "/retentions", nil, retPolicy(p.ID, "")), http.StatusBadRequest, "BAD_REQUEST"); !strings.Contains(msg, "already has retention policy "+strconv.FormatInt(id, 10)) {
			t.Errorf("second policy: %q", msg)
		}
		// Updates are validated alike, and cannot move the policy to another project.
		artErr(t, artCall(t, ts, http.MethodPut, retPath(id), nil, retPolicy(p.ID, "every day")), http.StatusBadRequest, "BAD_REQUEST")
		other := artProject(t, ts, "retval2"+uniqueSuffix(), false)
		artErr(t, artCall(t, ts, http.MethodPut, retPath(id), nil, retPolicy(other.ID, "")), http.StatusBadRequest, "BAD_REQUEST")
		// Unknown policies, executions and tasks are 404s; malformed ids 400s.
		artErr(t, artCall(t, ts, http.MethodGet, retPath(id+1000), nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, retPath(id)+"/executions/99999/tasks", nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, "/retentions/abc", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodPatch, retPath(id)+"/executions/1", nil, map[string]string{"action": "pause"}), http.StatusBadRequest, "BAD_REQUEST")

		// The metadata lists Harbor's templates and selectors.
		var md retention.Metadata
		artGet(t, ts, "/retentions/metadatas", nil, &md)
		if len(md.Templates) != 5 || md.Templates[0].RuleTemplate != "latestPushedK" || len(md.TagSelectors) != 1 || len(md.ScopeSelectors) != 1 {
			t.Fatalf("metadata %+v", md)
		}
		artErr(t, artCall(t, ts, http.MethodGet, "/retentions/metadatas", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
	})
}

func TestRetentionPermissions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retperm"+uniqueSuffix(), false)
		roles := artRoles(t, ts, p)
		repo := p.Name + "/app"
		retPushTags(t, ts, repo, "a", "b")

		// Guests and limited guests may not create; outsiders do not see the project.
		pol := retPolicy(p.ID, "", retRule("latestPushedK", 1, "**", "**"))
		artErr(t, artCall(t, ts, http.MethodPost, "/retentions", roles["guest"], pol), http.StatusForbidden, "FORBIDDEN")
		artErr(t, artCall(t, ts, http.MethodPost, "/retentions", roles["limited"], pol), http.StatusForbidden, "FORBIDDEN")
		artErr(t, artCall(t, ts, http.MethodPost, "/retentions", roles["outsider"], pol), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodPost, "/retentions", anonymous(), pol), http.StatusUnauthorized, "UNAUTHORIZED")
		// Developers manage and run retention (HARBOR-NOTES §d).
		id := retCreate(t, ts, roles["developer"], pol)
		var got retention.Policy
		artGet(t, ts, retPath(id), roles["maintainer"], &got)
		if got.ID != id || got.Scope.Ref != p.ID || len(got.Rules) != 1 || got.Rules[0].ID != 1 {
			t.Fatalf("policy %+v", got)
		}
		expectStatus(t, artCall(t, ts, http.MethodPut, retPath(id), roles["developer"], pol), http.StatusOK)

		for _, who := range []string{"guest", "limited"} {
			artErr(t, artCall(t, ts, http.MethodGet, retPath(id), roles[who], nil), http.StatusForbidden, "FORBIDDEN")
			artErr(t, artCall(t, ts, http.MethodPost, retPath(id)+"/executions", roles[who], map[string]bool{"dry_run": false}), http.StatusForbidden, "FORBIDDEN")
			artErr(t, artCall(t, ts, http.MethodGet, retPath(id)+"/executions", roles[who], nil), http.StatusForbidden, "FORBIDDEN")
			artErr(t, artCall(t, ts, http.MethodPut, retPath(id), roles[who], pol), http.StatusForbidden, "FORBIDDEN")
			artErr(t, artCall(t, ts, http.MethodDelete, retPath(id), roles[who], nil), http.StatusForbidden, "FORBIDDEN")
		}
		artErr(t, artCall(t, ts, http.MethodGet, retPath(id), roles["outsider"], nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, retPath(id), anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")

		eid := retRun(t, ts, roles["developer"], id, false)
		if e := retWait(t, ts, id, eid); e.Status != "Success" {
			t.Fatalf("developer's run %+v", e)
		}
		if tags := retTags(t, ts, repo); !slices.Equal(tags, []string{"b"}) {
			t.Fatalf("tags after the developer's run %v", tags)
		}
		tasks := retTasks(t, ts, id, eid)
		artErr(t, artCall(t, ts, http.MethodGet, fmt.Sprintf("%s/executions/%d/tasks/%d", retPath(id), eid, tasks[0].ID), roles["guest"], nil),
			http.StatusForbidden, "FORBIDDEN")
		// What the developer's run deleted is in the audit log under the developer's name.
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n int
			if err := ts.srv.db.QueryRowForTest(context.Background(), `SELECT COUNT(*) FROM audit_log
				WHERE operation = 'delete' AND resource_type = 'artifact' AND username = $1`, p.Name+"-developer").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d audit entries of the developer's deletions, want 1", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		expectStatus(t, artCall(t, ts, http.MethodDelete, retPath(id), roles["developer"], nil), http.StatusOK)
	})
}

func TestRetentionExecutionsAndTasks(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retexec"+uniqueSuffix(), false)
		retPushTags(t, ts, p.Name+"/a", "keep-1", "tmp-1", "tmp-2")
		retPushTags(t, ts, p.Name+"/b", "x")
		retPushTags(t, ts, p.Name+"/other/c", "y")
		// Temporary tags of every repository but other/**: the newest one stays.
		rule := retRule("latestPushedK", 1, "tmp-*", "**")
		rule["scope_selectors"] = map[string]any{"repository": []map[string]string{{"kind": "doublestar", "decoration": "repoExcludes", "pattern": "other/**"}}}
		id := retCreate(t, ts, nil, retPolicy(p.ID, "", rule))

		var eids []int64
		for i := range 3 {
			eid := retRun(t, ts, nil, id, i < 2)
			retWait(t, ts, id, eid)
			eids = append(eids, eid)
		}
		// Newest first, paged like Harbor's lists.
		var page []tRetExecution
		resp := artGet(t, ts, retPath(id)+"/executions?page=1&page_size=2", nil, &page)
		if resp.Header.Get("X-Total-Count") != "3" || len(page) != 2 || page[0].ID != eids[2] || page[1].ID != eids[1] ||
			!strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
			t.Fatalf("page 1: %+v, X-Total-Count %q, Link %q", page, resp.Header.Get("X-Total-Count"), resp.Header.Get("Link"))
		}
		if page[0].DryRun || !page[1].DryRun || page[0].Status != "Success" {
			t.Fatalf("executions %+v", page)
		}

		// One task per repository the policy applies to, with counts and a log.
		tasks := retTasks(t, ts, id, eids[2])
		if len(tasks) != 2 || tasks[0].Repository != p.Name+"/a" || tasks[1].Repository != p.Name+"/b" {
			t.Fatalf("tasks %+v", tasks)
		}
		if tasks[0].Total != 3 || tasks[0].Retained != 2 || tasks[1].Total != 1 || tasks[1].Retained != 1 ||
			tasks[0].StartTime == "" || tasks[0].EndTime == "" {
			t.Fatalf("task counts %+v", tasks)
		}
		var one []tRetTask
		resp = artGet(t, ts, fmt.Sprintf("%s/executions/%d/tasks?page=2&page_size=1", retPath(id), eids[2]), nil, &one)
		if resp.Header.Get("X-Total-Count") != "2" || len(one) != 1 || one[0].ID != tasks[1].ID {
			t.Fatalf("task page 2: %+v, X-Total-Count %q", one, resp.Header.Get("X-Total-Count"))
		}
		log := retTaskLog(t, ts, id, eids[2], tasks[0].ID)
		for _, want := range []string{"Repository: " + p.Name + "/a", "Load 3 candidates", "Retained 2 of 3 artifacts"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
		lines := map[string]string{}
		for _, l := range strings.Split(log, "\n") {
			for _, tag := range []string{"keep-1", "tmp-1", "tmp-2"} {
				if strings.Contains(l, "| "+tag+" ") {
					lines[tag] = l
				}
			}
		}
		if !strings.Contains(lines["keep-1"], "RETAIN") || !strings.Contains(lines["keep-1"], "picked by no rule") ||
			!strings.Contains(lines["tmp-2"], "RETAIN") || !strings.Contains(lines["tmp-2"], "retained by rule 1") ||
			!strings.Contains(lines["tmp-1"], "DEL") || !strings.Contains(lines["tmp-1"], "picked by rule 1, retained by none") {
			t.Errorf("log lines %q:\n%s", lines, log)
		}
		if got := retTags(t, ts, p.Name+"/a"); !slices.Equal(got, []string{"keep-1", "tmp-2"}) {
			t.Fatalf("tags of a %v", got)
		}
		// A task belongs to its execution, an execution to its policy.
		artErr(t, artCall(t, ts, http.MethodGet, fmt.Sprintf("%s/executions/%d/tasks/%d", retPath(id), eids[1], tasks[0].ID), nil, nil), http.StatusNotFound, "NOT_FOUND")
		p2 := artProject(t, ts, "retexec2"+uniqueSuffix(), false)
		id2 := retCreate(t, ts, nil, retPolicy(p2.ID, ""))
		artErr(t, artCall(t, ts, http.MethodGet, fmt.Sprintf("%s/executions/%d/tasks", retPath(id2), eids[2]), nil, nil), http.StatusNotFound, "NOT_FOUND")
		// A policy without rules runs to success with nothing to do.
		eid := retRun(t, ts, nil, id2, false)
		if e := retWait(t, ts, id2, eid); e.Status != "Success" || len(retTasks(t, ts, id2, eid)) != 0 {
			t.Fatalf("empty policy's run %+v", e)
		}
	})
}

func TestRetentionStop(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retstop"+uniqueSuffix(), false)
		for _, r := range []string{"a", "b", "c"} {
			retPushTags(t, ts, p.Name+"/"+r, vTags(1, 6)...)
		}
		id := retCreate(t, ts, nil, retPolicy(p.ID, "", retRule("latestPushedK", 1, "**", "**")))
		// Stopped at once: while it waits for a worker (it never starts) or while it runs
		// (between repositories and deletions). Either way it ends Stopped, its tasks too.
		eid := retRun(t, ts, nil, id, false)
		expectStatus(t, artCall(t, ts, http.MethodPatch, fmt.Sprintf("%s/executions/%d", retPath(id), eid), nil, map[string]string{"action": "stop"}), http.StatusOK)
		e := retWait(t, ts, id, eid)
		if e.Status != "Stopped" || e.EndTime == "" {
			t.Fatalf("stopped execution %+v", e)
		}
		// The worker leaves no task running once it has seen the stop.
		deadline := time.Now().Add(30 * time.Second)
		for {
			tasks := retTasks(t, ts, id, eid)
			if !slices.ContainsFunc(tasks, func(tk tRetTask) bool { return !retFinal(tk.Status) }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tasks still going after the stop: %+v", tasks)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Stopping an execution that has ended changes nothing.
		done := retRun(t, ts, nil, id, true)
		retWait(t, ts, id, done)
		expectStatus(t, artCall(t, ts, http.MethodPatch, fmt.Sprintf("%s/executions/%d", retPath(id), done), nil, map[string]string{"action": "stop"}), http.StatusOK)
		if e := retWait(t, ts, id, done); e.Status != "Success" {
			t.Fatalf("an ended execution changed on stop: %+v", e)
		}
	})
}

func TestRetentionSchedule(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		p := artProject(t, ts, "retsched"+uniqueSuffix(), false)
		repo := p.Name + "/app"
		retPushTags(t, ts, repo, "a", "b", "c")
		// Once a minute, first in a few seconds: the schedule runs the policy without anyone
		// asking.
		cron := fmt.Sprintf("%d * * * * *", time.Now().Add(3*time.Second).Second())
		id := retCreate(t, ts, nil, retPolicy(p.ID, cron, retRule("latestPushedK", 2, "**", "**")))
		if s, ok, err := ts.srv.jobs.GetSchedule(ctx, retention.ScheduleName(id)); err != nil || !ok || s.Cron != cron {
			t.Fatalf("schedule %+v %v %v", s, ok, err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			var execs []tRetExecution
			artGet(t, ts, retPath(id)+"/executions", nil, &execs)
			if i := slices.IndexFunc(execs, func(e tRetExecution) bool { return e.Trigger == "SCHEDULE" && e.Status == "Success" }); i >= 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no scheduled run: %+v", execs)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got := retTags(t, ts, repo); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("tags after the scheduled run %v", got)
		}
		var pol retention.Policy
		artGet(t, ts, retPath(id), nil, &pol)
		if pol.Cron() != cron || pol.Trigger.Kind != "Schedule" {
			t.Fatalf("policy trigger %+v", pol.Trigger)
		}

		// An update without a cron removes the schedule; one with a cron replaces it.
		expectStatus(t, artCall(t, ts, http.MethodPut, retPath(id), nil, retPolicy(p.ID, "", retRule("latestPushedK", 2, "**", "**"))), http.StatusOK)
		if _, ok, err := ts.srv.jobs.GetSchedule(ctx, retention.ScheduleName(id)); err != nil || ok {
			t.Fatalf("schedule still there after the cron was cleared (%v)", err)
		}
		expectStatus(t, artCall(t, ts, http.MethodPut, retPath(id), nil, retPolicy(p.ID, "0 0 2 * * *", retRule("latestPushedK", 2, "**", "**"))), http.StatusOK)
		if s, ok, _ := ts.srv.jobs.GetSchedule(ctx, retention.ScheduleName(id)); !ok || s.Cron != "0 0 2 * * *" {
			t.Fatalf("schedule after the update %+v", s)
		}

		// Deleting the policy removes its schedule, its runs and the project's retention_id.
		expectStatus(t, artCall(t, ts, http.MethodDelete, retPath(id), nil, nil), http.StatusOK)
		if _, ok, _ := ts.srv.jobs.GetSchedule(ctx, retention.ScheduleName(id)); ok {
			t.Fatal("schedule survived its policy")
		}
		artErr(t, artCall(t, ts, http.MethodGet, retPath(id), nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, retPath(id)+"/executions", nil, nil), http.StatusNotFound, "NOT_FOUND")
		var proj struct{ Metadata map[string]string }
		artGet(t, ts, "/projects/"+p.Name, nil, &proj)
		if _, ok := proj.Metadata["retention_id"]; ok {
			t.Fatalf("retention_id survived its policy: %v", proj.Metadata)
		}
		// A project gets a new policy after that.
		retCreate(t, ts, nil, retPolicy(p.ID, ""))
	})
}

func TestRetentionGoesWithItsProject(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retproj"+uniqueSuffix(), false)
		id := retCreate(t, ts, nil, retPolicy(p.ID, "0 0 3 * * *"))
		expectStatus(t, artCall(t, ts, http.MethodDelete, "/projects/"+p.Name, nil, nil), http.StatusOK)
		artErr(t, artCall(t, ts, http.MethodGet, retPath(id), nil, nil), http.StatusNotFound, "NOT_FOUND")
		// A project of the same name starts without one.
		p2 := artProject(t, ts, p.Name, false)
		var proj struct{ Metadata map[string]string }
		artGet(t, ts, "/projects/"+strconv.FormatInt(p2.ID, 10), nil, &proj)
		if _, ok := proj.Metadata["retention_id"]; ok {
			t.Fatalf("new project has retention_id: %v", proj.Metadata)
		}
		retCreate(t, ts, nil, retPolicy(p2.ID, ""))
	})
}

func TestRetentionSparesImmutableTagsIndexChildrenAndAccessories(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "retimm"+uniqueSuffix(), false)
		repo := p.Name + "/app"
		// Oldest first: an index with two children and a signature, a protected release, two
		// images; the newest, tagged "new", is the one the rule keeps.
		idx := artPushIndex(t, ts, repo, "multi")
		sig := artPushSignature(t, ts, repo, idx.digest, int64(len(idx.body)))
		digests := retPushTags(t, ts, repo, "release-1", "old", "new")
		immutable := map[string]any{
			"disabled": false, "action": "immutable", "template": "immutable_template", "params": map[string]any{},
			"tag_selectors":   []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": "release-*"}},
			"scope_selectors": map[string]any{"repository": []map[string]string{{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}},
		}
		expectStatus(t, artCall(t, ts, http.MethodPost, "/projects/"+p.Name+"/immutabletagrules", nil, immutable), http.StatusCreated)

		id := retCreate(t, ts, nil, retPolicy(p.ID, "", retRule("latestPushedK", 1, "**", "**")))
		eid := retRun(t, ts, nil, id, false)
		if e := retWait(t, ts, id, eid); e.Status != "Success" {
			t.Fatalf("execution %+v", e)
		}
		if got := retTags(t, ts, repo); !slices.Equal(got, []string{"new", "release-1"}) {
			t.Fatalf("tags %v, want the newest and the immutable one", got)
		}
		tasks := retTasks(t, ts, id, eid)
		// Candidates are the artifacts: the index counts once, its children and signature not.
		if len(tasks) != 1 || tasks[0].Total != 4 || tasks[0].Retained != 2 {
			t.Fatalf("tasks %+v", tasks)
		}
		log := retTaskLog(t, ts, id, eid, tasks[0].ID)
		if !strings.Contains(log, "retained: tag release-1 is immutable") {
			t.Errorf("log does not explain the immutable artifact:\n%s", log)
		}
		// The index went with its children and its signature.
		for _, d := range []string{idx.digest, idx.amd64, idx.arm64, sig, digests["old"]} {
			resp := ts.do(t, http.MethodHead, "/v2/"+repo+"/manifests/"+d, nil, nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("manifest %s: HEAD %d, want 404", d, resp.StatusCode)
			}
		}
	})
}

// TestSelectorsWithoutKind: retention and immutability rules whose selectors leave out kind,
// as Harbor accepts and stores them, are accepted with Harbor's default kind, doublestar, on
// creation and update, and read back with it; an unknown kind is a 400 that names the selector.
func TestSelectorsWithoutKind(t *testing.T) {
	t.Parallel()
	tagSel := func(rule map[string]any) map[string]string { return rule["tag_selectors"].([]map[string]string)[0] }
	repoSel := func(rule map[string]any) map[string]string {
		return rule["scope_selectors"].(map[string]any)["repository"].([]map[string]string)[0]
	}
	cases := []struct {
		name    string
		change  func(rule map[string]any)
		refused string // in the 400's message; "" = accepted
	}{
		{"no tag selector kind", func(r map[string]any) { delete(tagSel(r), "kind") }, ""},
		{"no repository selector kind", func(r map[string]any) { delete(repoSel(r), "kind") }, ""},
		{"no kind at all", func(r map[string]any) { delete(tagSel(r), "kind"); delete(repoSel(r), "kind") }, ""},
		{"empty kinds", func(r map[string]any) { tagSel(r)["kind"] = ""; repoSel(r)["kind"] = "" }, ""},
		{"unknown tag selector kind", func(r map[string]any) { tagSel(r)["kind"] = "regexp" },
			`tag_selectors[0].kind: unknown selector kind "regexp" (want "doublestar")`},
		{"unknown repository selector kind", func(r map[string]any) { delete(tagSel(r), "kind"); repoSel(r)["kind"] = "label" },
			`scope_selectors.repository[0].kind: unknown selector kind "label" (want "doublestar")`},
	}
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		imm := artProject(t, ts, "kinds"+uniqueSuffix(), false)
		immPath := immRulesPath(imm.Name)
		// immKinds reads back the kinds of rule id's selectors.
		immKinds := func(t *testing.T, id int64) (string, string) {
			t.Helper()
			rules, _ := immList(t, ts, immPath+"?q=id%3D"+strconv.FormatInt(id, 10))
			if len(rules) != 1 || len(rules[0].TagSelectors) != 1 || len(rules[0].ScopeSelectors["repository"]) != 1 {
				t.Fatalf("rule %d: %+v", id, rules)
			}
			return rules[0].TagSelectors[0].Kind, rules[0].ScopeSelectors["repository"][0].Kind
		}
		retKinds := func(t *testing.T, id int64) (string, string) {
			t.Helper()
			var pol retention.Policy
			artGet(t, ts, retPath(id), nil, &pol)
			if len(pol.Rules) != 1 || len(pol.Rules[0].Tags) != 1 || len(pol.Rules[0].Repositories()) != 1 {
				t.Fatalf("policy %d: %+v", id, pol)
			}
			return pol.Rules[0].Tags[0].Kind, pol.Rules[0].Repositories()[0].Kind
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				check := func(what string, resp *http.Response, status int, kinds func() (string, string)) {
					t.Helper()
					if c.refused != "" {
						if msg := artErr(t, resp, http.StatusBadRequest, "BAD_REQUEST"); !strings.Contains(msg, c.refused) {
							t.Errorf("%s: message %q lacks %q", what, msg, c.refused)
						}
						return
					}
					expectStatus(t, resp, status)
					if tk, rk := kinds(); tk != retention.KindDoublestar || rk != retention.KindDoublestar {
						t.Errorf("%s: read back with kinds %q and %q, want doublestar", what, tk, rk)
					}
				}
				tagPattern := fmt.Sprintf("case%d-*", i)

				// Immutability rules: created, then an existing rule updated.
				rule := immRule(tagPattern, "**")
				c.change(rule)
				resp := artCall(t, ts, http.MethodPost, immPath, nil, rule)
				check("immutable rule created", resp, http.StatusCreated, func() (string, string) { return immKinds(t, mrLocationID(t, resp)) })
				existing := immCreate(t, ts, imm.Name, nil, immRule(tagPattern+"-old", "**"))
				rule = immRule(tagPattern+"-new", "**")
				c.change(rule)
				check("immutable rule updated", artCall(t, ts, http.MethodPut, immPath+"/"+strconv.FormatInt(existing, 10), nil, rule),
					http.StatusOK, func() (string, string) { return immKinds(t, existing) })

				// Retention policies: created (one per project), then one updated.
				p := artProject(t, ts, "kindsret"+uniqueSuffix(), false)
				rr := retRule("latestPushedK", 3, tagPattern, "**")
				c.change(rr)
				resp = artCall(t, ts, http.MethodPost, "/retentions", nil, retPolicy(p.ID, "", rr))
				check("retention policy created", resp, http.StatusCreated, func() (string, string) { return retKinds(t, mrLocationID(t, resp)) })
				q := artProject(t, ts, "kindsret"+uniqueSuffix(), false)
				id := retCreate(t, ts, nil, retPolicy(q.ID, "", retRule("latestPushedK", 3, "**", "**")))
				rr = retRule("latestPushedK", 5, tagPattern, "**")
				c.change(rr)
				check("retention policy updated", artCall(t, ts, http.MethodPut, retPath(id), nil, retPolicy(q.ID, "", rr)),
					http.StatusOK, func() (string, string) { return retKinds(t, id) })
			})
		}
	})
}
