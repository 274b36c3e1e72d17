package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	harbor "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	hartifact "github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	haudit "github.com/goharbor/go-client/pkg/sdk/v2.0/client/auditlog"
	hconfigure "github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	hgc "github.com/goharbor/go-client/pkg/sdk/v2.0/client/gc"
	hhealth "github.com/goharbor/go-client/pkg/sdk/v2.0/client/health"
	himmutable "github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	hjobservice "github.com/goharbor/go-client/pkg/sdk/v2.0/client/jobservice"
	hlabel "github.com/goharbor/go-client/pkg/sdk/v2.0/client/label"
	hmember "github.com/goharbor/go-client/pkg/sdk/v2.0/client/member"
	hpermissions "github.com/goharbor/go-client/pkg/sdk/v2.0/client/permissions"
	hping "github.com/goharbor/go-client/pkg/sdk/v2.0/client/ping"
	hproject "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	hmetadata "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project_metadata"
	hquota "github.com/goharbor/go-client/pkg/sdk/v2.0/client/quota"
	hrepository "github.com/goharbor/go-client/pkg/sdk/v2.0/client/repository"
	hretention "github.com/goharbor/go-client/pkg/sdk/v2.0/client/retention"
	hrobot "github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	hscan "github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	hscanall "github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan_all"
	hscanner "github.com/goharbor/go-client/pkg/sdk/v2.0/client/scanner"
	hschedule "github.com/goharbor/go-client/pkg/sdk/v2.0/client/schedule"
	hsearch "github.com/goharbor/go-client/pkg/sdk/v2.0/client/search"
	hsecurity "github.com/goharbor/go-client/pkg/sdk/v2.0/client/securityhub"
	hstatistic "github.com/goharbor/go-client/pkg/sdk/v2.0/client/statistic"
	hallowlist "github.com/goharbor/go-client/pkg/sdk/v2.0/client/system_cve_allowlist"
	hsysteminfo "github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	huser "github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	husergroup "github.com/goharbor/go-client/pkg/sdk/v2.0/client/usergroup"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/adapter"
)

// The contract suite through Harbor's generated Go client (github.com/goharbor/go-client, the
// library Harbor's own CLI is built on): every endpoint Berth serves, called the way that client
// calls it — lists with page=0&page_size=0, lookups by name, q escaped once (by the client) and
// twice (by a caller that escapes it first), create and update bodies as the client's models
// fill them (read-only fields and zero times included) — and answered with a status the
// swagger lists for the operation: the client turns any other status into an error of its own
// (runtime.APIError), and every answer is recorded for the contract check (contract_test.go),
// which validates its body against the swagger.

// client returns Harbor's client for the fixture's server, signed in as user (anonymous when
// user is "").
func (f *hcFixture) client(t *testing.T, user, password string) *harbor.HarborAPI {
	t.Helper()
	u, err := url.Parse(f.ts.URL + "/api/v2.0")
	if err != nil {
		t.Fatal(err)
	}
	var auth runtime.ClientAuthInfoWriter
	if user != "" {
		auth = httptransport.BasicAuth(user, password)
	}
	return harbor.New(harbor.Config{URL: u, Transport: &recordingTransport{t: t, log: &f.log}, AuthInfo: auth})
}

// requestLog is what the clients of a fixture asked and the status of the last answer.
type requestLog struct {
	mu       sync.Mutex
	requests []recordedResponse
}

func (l *requestLog) add(r recordedResponse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
}

func (l *requestLog) lastStatus() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.requests) == 0 {
		return 0
	}
	return l.requests[len(l.requests)-1].status
}

// recordingTransport records every answer for the contract check and in its log.
type recordingTransport struct {
	t   *testing.T
	log *requestLog
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	recordAPIResponse(rt.t, req.Method, req.URL.EscapedPath(), resp, b)
	rt.log.add(recordedResponse{method: req.Method, path: strings.TrimPrefix(req.URL.EscapedPath(), "/api/v2.0"), status: resp.StatusCode})
	return resp, nil
}

// coded is what every response type of the client has: the status it stands for.
type coded interface{ IsCode(int) bool }

// describe says what an error of the client is: its status and Harbor's error body.
func describe(err error) string {
	var api *runtime.APIError
	if errors.As(err, &api) {
		var body []byte
		if r, ok := api.Response.(runtime.ClientResponse); ok {
			body, _ = io.ReadAll(r.Body())
		}
		return fmt.Sprintf("status %d, which the swagger does not list for the operation: %s", api.Code, body)
	}
	v := reflect.ValueOf(err)
	if m := v.MethodByName("GetPayload"); m.IsValid() {
		b, _ := json.Marshal(m.Call(nil)[0].Interface())
		return fmt.Sprintf("%v: %s", err, b)
	}
	return err.Error()
}

// mustOK fails the test unless err is nil (a status the swagger lists as a success).
func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s", describe(err))
	}
}

// mustCode fails the test unless err is the answer with status code. The client's swagger
// (Harbor 2.13) lacks some error statuses of Harbor's current one, which the contract check
// holds Berth to (a 404 for a project that does not exist): those reach the caller as the
// client's runtime.APIError.
func mustCode(t *testing.T, err error, code int) {
	t.Helper()
	var c coded
	var api *runtime.APIError
	if (errors.As(err, &c) && c.IsCode(code)) || (errors.As(err, &api) && api.Code == code) {
		return
	}
	t.Fatalf("want status %d, got %v", code, describe(err))
}

// pointer is what optional parameters and fields of the client take.
func pointer[T any](v T) *T { return &v }

// escapings are the two ways q reaches Berth: as the client escapes it, and escaped first by
// the caller (then by the client again).
var escapings = []struct {
	name string
	q    func(string) *string
}{
	{"q escaped once", func(q string) *string { return &q }},
	{"q escaped twice", func(q string) *string { return pointer(url.QueryEscape(q)) }},
}

// everything is page=0&page_size=0: every item.
var everything = struct{ page, size *int64 }{pointer(int64(0)), pointer(int64(0))}

// wantAll checks a page=0&page_size=0 answer: every item, as many as X-Total-Count says, and no
// Link, since nothing is left.
func wantAll[T any](t *testing.T, what string, items []T, total int64, link string, min int) {
	t.Helper()
	if int64(len(items)) != total || len(items) < min || link != "" {
		t.Errorf("%s with page=0&page_size=0: %d items, X-Total-Count %d, Link %q; want all, at least %d", what, len(items), total, link, min)
	}
}

// locationID is the trailing id of a Location header.
func locationID(t *testing.T, loc string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("Location %q does not end in an id", loc)
	}
	return id
}

// TestHarborGoClientOnEveryEndpoint runs the suite on both databases.
func TestHarborGoClientOnEveryEndpoint(t *testing.T) {
	if raceDetector {
		t.Skip("a sequential walk of every endpoint, whose handlers the other tests also run under the race detector; go test without -race runs it")
	}
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		f := &hcFixture{ts: ts, ctx: t.Context()}
		f.c = f.client(t, adminUser, adminPassword)
		f.project = "gc" + uniqueSuffix()
		steps := []struct {
			name string
			run  func(*testing.T, *hcFixture)
		}{
			{"system", hcSystem},
			{"users", hcUsers},
			{"user groups", hcUserGroups},
			{"projects", hcProjects},
			{"members", hcMembers},
			{"robots", hcRobots},
			{"repositories and artifacts", hcContent},
			{"labels", hcLabels},
			{"quotas", hcQuotas},
			{"immutability", hcImmutable},
			{"retention", hcRetention},
			{"scanners", hcScanners},
			{"scanning", hcScanning},
			{"garbage collection", hcGC},
			{"audit logs", hcAudit},
			{"job service", hcJobService},
			{"deletions", hcDeletions},
		}
		for _, s := range steps {
			if !t.Run(s.name, func(t *testing.T) { s.run(t, f) }) {
				return // later steps build on earlier ones
			}
		}
		t.Run("every endpoint served was called", func(t *testing.T) { hcCoverage(t, f) })
	})
}

// hcCoverage fails for every operation of the swagger that Berth serves and no step called.
func hcCoverage(t *testing.T, f *hcFixture) {
	spec, err := loadHarborSpec()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no Harbor spec: %v", err)
	}
	called := map[string]bool{}
	f.log.mu.Lock()
	for _, r := range f.log.requests {
		if _, key := spec.match(r.method, r.path); key != "" {
			called[key] = true
		}
	}
	f.log.mu.Unlock()
	var missing []string
	for _, o := range spec.ops {
		key := o.method + " " + o.path
		if !called[key] && f.ts.serves(t, o.method, apiBase+examplePath(o)) {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("Berth serves %d operations that no call through Harbor's client exercised (add them to a step): %s",
			len(missing), strings.Join(missing, ", "))
	}
}

// hcFixture is what the steps share.
type hcFixture struct {
	ts        *testServer
	c         *harbor.HarborAPI // signed in as admin
	log       requestLog
	ctx       context.Context
	project   string // created by the projects step
	projectID int64
	userID    int64 // a user that is not an administrator
	userName  string
	groupID   int64
	digest    string // project/app:v1
}

const hcPassword = "Client-Passw0rd"

func hcSystem(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	ping, err := c.Ping.GetPing(ctx, hping.NewGetPingParams())
	mustOK(t, err)
	if ping.Payload != "Pong" {
		t.Errorf("ping %q", ping.Payload)
	}
	info, err := c.Systeminfo.GetSystemInfo(ctx, hsysteminfo.NewGetSystemInfoParams())
	mustOK(t, err)
	if info.Payload.ExternalURL == nil || *info.Payload.ExternalURL != f.ts.URL {
		t.Errorf("systeminfo %+v", info.Payload)
	}
	_, err = c.Systeminfo.GetVolumes(ctx, hsysteminfo.NewGetVolumesParams())
	mustOK(t, err)
	_, err = c.Health.GetHealth(ctx, hhealth.NewGetHealthParams())
	mustOK(t, err)
	_, err = c.Statistic.GetStatistic(ctx, hstatistic.NewGetStatisticParams())
	mustOK(t, err)
	_, err = c.Search.Search(ctx, hsearch.NewSearchParams().WithQ("library"))
	mustOK(t, err)
	_, err = c.Permissions.GetPermissions(ctx, hpermissions.NewGetPermissionsParams())
	mustOK(t, err)

	cfg, err := c.Configure.GetConfigurations(ctx, hconfigure.NewGetConfigurationsParams())
	mustOK(t, err)
	if cfg.Payload.AuthMode == nil || cfg.Payload.AuthMode.Value != "db_auth" {
		t.Errorf("configurations %+v", cfg.Payload)
	}
	_, err = c.Configure.UpdateConfigurations(ctx, hconfigure.NewUpdateConfigurationsParams().WithConfigurations(&models.Configurations{
		BannerMessage: pointer("welcome"), TokenExpiration: pointer(int64(45)), ReadOnly: pointer(false),
	}))
	mustOK(t, err)

	// The system allowlist goes back as it was read, read-only fields and all.
	al, err := c.SystemCVEAllowlist.GetSystemCVEAllowlist(ctx, hallowlist.NewGetSystemCVEAllowlistParams())
	mustOK(t, err)
	al.Payload.Items = append(al.Payload.Items, &models.CVEAllowlistItem{CVEID: "CVE-2024-0001"})
	_, err = c.SystemCVEAllowlist.PutSystemCVEAllowlist(ctx, hallowlist.NewPutSystemCVEAllowlistParams().WithAllowlist(al.Payload))
	mustOK(t, err)
}

func hcUsers(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	var names []string
	for i := range 12 {
		name := fmt.Sprintf("client-%02d-%s", i, uniqueSuffix())
		created, err := c.User.CreateUser(ctx, huser.NewCreateUserParams().WithUserReq(&models.UserCreationReq{
			Username: name, Password: hcPassword, Email: name + "@example.com", Realname: "Client " + name, Comment: "made by go-client",
		}))
		mustOK(t, err)
		names = append(names, name)
		if i == 0 {
			f.userID, f.userName = locationID(t, created.Location), name
		}
	}

	list, err := c.User.ListUsers(ctx, huser.NewListUsersParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "users", list.Payload, list.XTotalCount, list.Link, len(names))
	for _, e := range escapings {
		found, err := c.User.ListUsers(ctx, huser.NewListUsersParams().WithPage(everything.page).WithPageSize(everything.size).WithQ(e.q("username="+names[3])))
		mustOK(t, err)
		if len(found.Payload) != 1 || found.Payload[0].Username != names[3] {
			t.Errorf("user by name, %s: %+v", e.name, found.Payload)
		}
	}
	search, err := c.User.SearchUsers(ctx, huser.NewSearchUsersParams().WithUsername(names[5]).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(search.Payload) != 1 || search.Payload[0].Username != names[5] {
		t.Errorf("search %s: %+v", names[5], search.Payload)
	}

	got, err := c.User.GetUser(ctx, huser.NewGetUserParams().WithUserID(f.userID))
	mustOK(t, err)
	if got.Payload.Username != f.userName {
		t.Errorf("user %d: %+v", f.userID, got.Payload)
	}
	_, err = c.User.UpdateUserProfile(ctx, huser.NewUpdateUserProfileParams().WithUserID(f.userID).WithProfile(&models.UserProfile{
		Email: f.userName + "@example.org", Realname: "Renamed", Comment: "changed",
	}))
	mustOK(t, err)
	for _, flag := range []bool{true, false} {
		_, err = c.User.SetUserSysAdmin(ctx, huser.NewSetUserSysAdminParams().WithUserID(f.userID).WithSysadminFlag(&models.UserSysAdminFlag{SysadminFlag: flag}))
		mustOK(t, err)
	}
	_, err = c.User.GetUser(ctx, huser.NewGetUserParams().WithUserID(987654))
	mustCode(t, err, http.StatusNotFound)

	// The user changes its own password, reads itself and its permissions.
	uc := f.client(t, f.userName, hcPassword)
	_, err = uc.User.UpdateUserPassword(ctx, huser.NewUpdateUserPasswordParams().WithUserID(f.userID).WithPassword(&models.PasswordReq{
		OldPassword: hcPassword, NewPassword: hcPassword + "2",
	}))
	mustOK(t, err)
	uc = f.client(t, f.userName, hcPassword+"2")
	_, err = uc.User.UpdateUserPassword(ctx, huser.NewUpdateUserPasswordParams().WithUserID(f.userID).WithPassword(&models.PasswordReq{
		OldPassword: hcPassword + "2", NewPassword: hcPassword,
	}))
	mustOK(t, err)
	uc = f.client(t, f.userName, hcPassword)
	me, err := uc.User.GetCurrentUserInfo(ctx, huser.NewGetCurrentUserInfoParams())
	mustOK(t, err)
	if me.Payload.UserID != f.userID {
		t.Errorf("current user %+v", me.Payload)
	}
	_, err = uc.User.GetCurrentUserPermissions(ctx, huser.NewGetCurrentUserPermissionsParams().WithScope(pointer("/project/1")).WithRelative(pointer(true)))
	mustOK(t, err)
	// CLI secrets belong to OIDC users: refused under db_auth with the swagger's 412.
	_, err = uc.User.SetCliSecret(ctx, huser.NewSetCliSecretParams().WithUserID(f.userID).WithSecret(&models.OIDCCliSecretReq{Secret: "Cli-Secret-1"}))
	mustCode(t, err, http.StatusPreconditionFailed)

	anon := f.client(t, "", "")
	_, err = anon.User.ListUsers(ctx, huser.NewListUsersParams())
	mustCode(t, err, http.StatusUnauthorized)
}

func hcUserGroups(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	name := "client-devs-" + uniqueSuffix()
	created, err := c.Usergroup.CreateUserGroup(ctx, husergroup.NewCreateUserGroupParams().WithUsergroup(&models.UserGroup{GroupName: name, GroupType: 2}))
	mustOK(t, err)
	f.groupID = locationID(t, created.Location)
	list, err := c.Usergroup.ListUserGroups(ctx, husergroup.NewListUserGroupsParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "user groups", list.Payload, list.XTotalCount, list.Link, 1)
	byName, err := c.Usergroup.ListUserGroups(ctx, husergroup.NewListUserGroupsParams().WithGroupName(&name).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(byName.Payload) != 1 || byName.Payload[0].ID != f.groupID {
		t.Errorf("group by name: %+v", byName.Payload)
	}
	search, err := c.Usergroup.SearchUserGroups(ctx, husergroup.NewSearchUserGroupsParams().WithGroupname(name).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(search.Payload) != 1 {
		t.Errorf("group search: %+v", search.Payload)
	}
	got, err := c.Usergroup.GetUserGroup(ctx, husergroup.NewGetUserGroupParams().WithGroupID(f.groupID))
	mustOK(t, err)
	got.Payload.GroupName = name + "-renamed"
	_, err = c.Usergroup.UpdateUserGroup(ctx, husergroup.NewUpdateUserGroupParams().WithGroupID(f.groupID).WithUsergroup(got.Payload))
	mustOK(t, err)
}

func hcProjects(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	_, err := c.Project.HeadProject(ctx, hproject.NewHeadProjectParams().WithProjectName(f.project))
	mustCode(t, err, http.StatusNotFound)
	created, err := c.Project.CreateProject(ctx, hproject.NewCreateProjectParams().WithProject(&models.ProjectReq{
		ProjectName:  f.project,
		Metadata:     &models.ProjectMetadata{Public: "false", AutoScan: pointer("false"), Severity: pointer("high"), PreventVul: pointer("false")},
		StorageLimit: pointer(int64(-1)),
		CVEAllowlist: &models.CVEAllowlist{Items: []*models.CVEAllowlistItem{{CVEID: "CVE-2024-0002"}}},
	}).WithXResourceNameInLocation(pointer(true)))
	mustOK(t, err)
	if !strings.HasSuffix(created.Location, "/projects/"+f.project) {
		t.Errorf("Location %q", created.Location)
	}
	_, err = c.Project.HeadProject(ctx, hproject.NewHeadProjectParams().WithProjectName(f.project))
	mustOK(t, err)
	other := "gc-other" + uniqueSuffix()
	_, err = c.Project.CreateProject(ctx, hproject.NewCreateProjectParams().WithProject(&models.ProjectReq{ProjectName: other, Public: pointer(true)}))
	mustOK(t, err)

	got, err := c.Project.GetProject(ctx, hproject.NewGetProjectParams().WithProjectNameOrID(f.project).WithXIsResourceName(pointer(true)))
	mustOK(t, err)
	f.projectID = int64(got.Payload.ProjectID)
	byID, err := c.Project.GetProject(ctx, hproject.NewGetProjectParams().WithProjectNameOrID(strconv.FormatInt(f.projectID, 10)))
	mustOK(t, err)
	if byID.Payload.Name != f.project || byID.Payload.Metadata == nil || byID.Payload.Metadata.Severity == nil || *byID.Payload.Metadata.Severity != "high" {
		t.Errorf("project by id: %+v", byID.Payload)
	}
	_, err = c.Project.GetProject(ctx, hproject.NewGetProjectParams().WithProjectNameOrID("nosuch"+uniqueSuffix()))
	mustCode(t, err, http.StatusNotFound)

	list, err := c.Project.ListProjects(ctx, hproject.NewListProjectsParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "projects", list.Payload, list.XTotalCount, list.Link, 3) // library too
	byName, err := c.Project.ListProjects(ctx, hproject.NewListProjectsParams().WithName(&f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(byName.Payload) != 1 || byName.Payload[0].Name != f.project {
		t.Errorf("project by name: %+v", byName.Payload)
	}
	for _, e := range escapings {
		found, err := c.Project.ListProjects(ctx, hproject.NewListProjectsParams().WithQ(e.q("name="+other)).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(found.Payload) != 1 || found.Payload[0].Name != other {
			t.Errorf("project by q, %s: %+v", e.name, found.Payload)
		}
	}

	// The update sends the ProjectReq a client makes of what it read.
	md := got.Payload.Metadata
	md.AutoScan = pointer("true")
	_, err = c.Project.UpdateProject(ctx, hproject.NewUpdateProjectParams().WithProjectNameOrID(f.project).WithXIsResourceName(pointer(true)).
		WithProject(&models.ProjectReq{ProjectName: f.project, Metadata: md, CVEAllowlist: got.Payload.CVEAllowlist}))
	mustOK(t, err)
	_, err = c.Project.GetProjectDeletable(ctx, hproject.NewGetProjectDeletableParams().WithProjectNameOrID(f.project))
	mustOK(t, err)
	_, err = c.Project.GetProjectSummary(ctx, hproject.NewGetProjectSummaryParams().WithProjectNameOrID(f.project))
	mustOK(t, err)

	mdParams := func() *hmetadata.ListProjectMetadatasParams {
		return hmetadata.NewListProjectMetadatasParams().WithProjectNameOrID(f.project)
	}
	_, err = c.ProjectMetadata.AddProjectMetadatas(ctx, hmetadata.NewAddProjectMetadatasParams().WithProjectNameOrID(f.project).
		WithMetadata(map[string]string{"enable_content_trust": "false"}))
	mustOK(t, err)
	mds, err := c.ProjectMetadata.ListProjectMetadatas(ctx, mdParams())
	mustOK(t, err)
	if mds.Payload["enable_content_trust"] != "false" {
		t.Errorf("metadata %+v", mds.Payload)
	}
	_, err = c.ProjectMetadata.GetProjectMetadata(ctx, hmetadata.NewGetProjectMetadataParams().WithProjectNameOrID(f.project).WithMetaName("auto_scan"))
	mustOK(t, err)
	_, err = c.ProjectMetadata.UpdateProjectMetadata(ctx, hmetadata.NewUpdateProjectMetadataParams().WithProjectNameOrID(f.project).
		WithMetaName("enable_content_trust").WithMetadata(map[string]string{"enable_content_trust": "true"}))
	mustOK(t, err)
	_, err = c.ProjectMetadata.DeleteProjectMetadata(ctx, hmetadata.NewDeleteProjectMetadataParams().WithProjectNameOrID(f.project).WithMetaName("enable_content_trust"))
	mustOK(t, err)

	_, err = c.Project.DeleteProject(ctx, hproject.NewDeleteProjectParams().WithProjectNameOrID(other).WithXIsResourceName(pointer(true)))
	mustOK(t, err)
}

func hcMembers(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	created, err := c.Member.CreateProjectMember(ctx, hmember.NewCreateProjectMemberParams().WithProjectNameOrID(f.project).
		WithProjectMember(&models.ProjectMember{RoleID: 2, MemberUser: &models.UserEntity{Username: f.userName}}))
	mustOK(t, err)
	mid := locationID(t, created.Location)
	_, err = c.Member.CreateProjectMember(ctx, hmember.NewCreateProjectMemberParams().WithProjectNameOrID(f.project).
		WithProjectMember(&models.ProjectMember{RoleID: 3, MemberGroup: &models.UserGroup{ID: f.groupID}}))
	mustOK(t, err)
	list, err := c.Member.ListProjectMembers(ctx, hmember.NewListProjectMembersParams().WithProjectNameOrID(f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "members", list.Payload, list.XTotalCount, list.Link, 3) // admin, the user, the group
	byName, err := c.Member.ListProjectMembers(ctx, hmember.NewListProjectMembersParams().WithProjectNameOrID(f.project).
		WithEntityname(&f.userName).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(byName.Payload) != 1 || byName.Payload[0].ID != mid {
		t.Errorf("member by name: %+v", byName.Payload)
	}
	_, err = c.Member.GetProjectMember(ctx, hmember.NewGetProjectMemberParams().WithProjectNameOrID(f.project).WithMid(mid))
	mustOK(t, err)
	_, err = c.Member.UpdateProjectMember(ctx, hmember.NewUpdateProjectMemberParams().WithProjectNameOrID(f.project).WithMid(mid).
		WithRole(&models.RoleRequest{RoleID: 4}))
	mustOK(t, err)
}

func hcRobots(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	var ids []int64
	for i := range 3 {
		created, err := c.Robot.CreateRobot(ctx, hrobot.NewCreateRobotParams().WithRobot(&models.RobotCreate{
			Name: fmt.Sprintf("ci%d", i), Description: "pipeline", Level: "project", Duration: -1,
			Permissions: []*models.RobotPermission{{Kind: "project", Namespace: f.project, Access: []*models.Access{
				{Resource: "repository", Action: "pull"}, {Resource: "repository", Action: "push"},
			}}},
		}))
		mustOK(t, err)
		if created.Payload.Secret == "" || created.Payload.Name != "robot$"+f.project+"+"+fmt.Sprintf("ci%d", i) {
			t.Errorf("created robot %+v", created.Payload)
		}
		ids = append(ids, created.Payload.ID)
	}
	for _, e := range escapings {
		list, err := c.Robot.ListRobot(ctx, hrobot.NewListRobotParams().WithPage(everything.page).WithPageSize(everything.size).
			WithQ(e.q(fmt.Sprintf("Level=project,ProjectID=%d", f.projectID))))
		mustOK(t, err)
		wantAll(t, "robots of the project, "+e.name, list.Payload, list.XTotalCount, list.Link, 3)
		byName, err := c.Robot.ListRobot(ctx, hrobot.NewListRobotParams().WithPage(everything.page).WithPageSize(everything.size).
			WithQ(e.q("name="+f.project+"+ci1")))
		mustOK(t, err)
		if len(byName.Payload) != 1 || byName.Payload[0].ID != ids[1] {
			t.Errorf("robot by name, %s: %+v", e.name, byName.Payload)
		}
	}
	got, err := c.Robot.GetRobotByID(ctx, hrobot.NewGetRobotByIDParams().WithRobotID(ids[0]))
	mustOK(t, err)
	// The update sends back the whole Robot it read.
	got.Payload.Description = "nightly"
	got.Payload.Disable = true
	_, err = c.Robot.UpdateRobot(ctx, hrobot.NewUpdateRobotParams().WithRobotID(ids[0]).WithRobot(got.Payload))
	mustOK(t, err)
	sec, err := c.Robot.RefreshSec(ctx, hrobot.NewRefreshSecParams().WithRobotID(ids[0]).WithRobotSec(&models.RobotSec{}))
	mustOK(t, err)
	if sec.Payload.Secret == "" {
		t.Error("refreshed secret is empty")
	}
	// A secret of the caller's choosing is not answered back, as Harbor does not; it works.
	sec, err = c.Robot.RefreshSec(ctx, hrobot.NewRefreshSecParams().WithRobotID(ids[1]).WithRobotSec(&models.RobotSec{Secret: "Chosen4Pipeline"}))
	mustOK(t, err)
	if sec.Payload.Secret != "" {
		t.Errorf("refresh with a chosen secret answered it back: %q", sec.Payload.Secret)
	}
	expectStatus(t, f.ts.do(t, http.MethodGet, "/v2/", basicAuth("robot$"+f.project+"+ci1", "Chosen4Pipeline"), nil), http.StatusOK)
	_, err = c.Robot.DeleteRobot(ctx, hrobot.NewDeleteRobotParams().WithRobotID(ids[2]))
	mustOK(t, err)
	_, err = c.Robot.GetRobotByID(ctx, hrobot.NewGetRobotByIDParams().WithRobotID(ids[2]))
	mustCode(t, err, http.StatusNotFound)
}

func hcContent(t *testing.T, f *hcFixture) {
	c, ctx, ts := f.c, f.ctx, f.ts
	var v1 []byte
	v1, f.digest = ts.pushImage(t, f.project+"/app", "v1", mtOCIManifest)
	ts.pushImage(t, f.project+"/app", "v2", mtOCIManifest)
	ts.pushImage(t, f.project+"/team/api", "v1", mtDockerManifest)
	nested := "team/api"

	found, err := c.Search.Search(ctx, hsearch.NewSearchParams().WithQ(f.project))
	mustOK(t, err)
	if len(found.Payload.Project) != 1 || len(found.Payload.Repository) != 2 {
		t.Errorf("search %s: %d projects, %d repositories", f.project, len(found.Payload.Project), len(found.Payload.Repository))
	}
	all1, err := c.Repository.ListAllRepositories(ctx, hrepository.NewListAllRepositoriesParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "all repositories", all1.Payload, all1.XTotalCount, all1.Link, 2)
	repos, err := c.Repository.ListRepositories(ctx, hrepository.NewListRepositoriesParams().WithProjectName(f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "repositories", repos.Payload, repos.XTotalCount, repos.Link, 2)
	for _, e := range escapings {
		found, err := c.Repository.ListRepositories(ctx, hrepository.NewListRepositoriesParams().WithProjectName(f.project).
			WithQ(e.q("name="+f.project+"/"+nested)).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(found.Payload) != 1 || found.Payload[0].Name != f.project+"/"+nested {
			t.Errorf("repository by name, %s: %+v", e.name, found.Payload)
		}
		found2, err := c.Repository.ListAllRepositories(ctx, hrepository.NewListAllRepositoriesParams().
			WithQ(e.q("name=~"+f.project+"/te")).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(found2.Payload) != 1 {
			t.Errorf("repositories by fuzzy name, %s: %+v", e.name, found2.Payload)
		}
	}
	// Nested names go into paths as the client's users escape them: once by hand, once more by
	// the client (team%252Fapi); the client alone escapes them once (team%2Fapi).
	for _, name := range []string{url.PathEscape(nested), nested} {
		repo, err := c.Repository.GetRepository(ctx, hrepository.NewGetRepositoryParams().WithProjectName(f.project).WithRepositoryName(name))
		mustOK(t, err)
		if repo.Payload.Name != f.project+"/"+nested {
			t.Errorf("repository %s: %+v", name, repo.Payload)
		}
	}
	repo, err := c.Repository.GetRepository(ctx, hrepository.NewGetRepositoryParams().WithProjectName(f.project).WithRepositoryName("app"))
	mustOK(t, err)
	repo.Payload.Description = "the app"
	_, err = c.Repository.UpdateRepository(ctx, hrepository.NewUpdateRepositoryParams().WithProjectName(f.project).WithRepositoryName("app").
		WithRepository(repo.Payload))
	mustOK(t, err)

	arts, err := c.Artifact.ListArtifacts(ctx, hartifact.NewListArtifactsParams().WithProjectName(f.project).WithRepositoryName("app").
		WithPage(everything.page).WithPageSize(everything.size).WithWithTag(pointer(true)).WithWithLabel(pointer(true)).WithWithScanOverview(pointer(true)).
		WithWithImmutableStatus(pointer(true)).WithWithAccessory(pointer(true)).WithWithSbomOverview(pointer(true)))
	mustOK(t, err)
	wantAll(t, "artifacts", arts.Payload, arts.XTotalCount, arts.Link, 2)
	for _, e := range escapings {
		found, err := c.Artifact.ListArtifacts(ctx, hartifact.NewListArtifactsParams().WithProjectName(f.project).WithRepositoryName("app").
			WithQ(e.q("tags=v1")).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(found.Payload) != 1 || found.Payload[0].Digest != f.digest {
			t.Errorf("artifact by tag, %s: %+v", e.name, found.Payload)
		}
		byType, err := c.Artifact.ListArtifacts(ctx, hartifact.NewListArtifactsParams().WithProjectName(f.project).WithRepositoryName("app").
			WithQ(e.q("media_type="+mtOCIConfig)).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(byType.Payload) != 2 {
			t.Errorf("artifacts by media type (a + in q), %s: %d", e.name, len(byType.Payload))
		}
	}
	for _, ref := range []string{"v1", f.digest} {
		got, err := c.Artifact.GetArtifact(ctx, hartifact.NewGetArtifactParams().WithProjectName(f.project).WithRepositoryName("app").
			WithReference(ref).WithWithTag(pointer(true)).WithWithScanOverview(pointer(true)).WithWithLabel(pointer(true)))
		mustOK(t, err)
		if got.Payload.Digest != f.digest {
			t.Errorf("artifact %s: %+v", ref, got.Payload)
		}
	}
	_, err = c.Artifact.GetArtifact(ctx, hartifact.NewGetArtifactParams().WithProjectName(f.project).WithRepositoryName("app").WithReference("nosuch"))
	mustCode(t, err, http.StatusNotFound)
	inProject, err := c.Project.ListArtifactsOfProject(ctx, hproject.NewListArtifactsOfProjectParams().WithProjectNameOrID(f.project).
		WithXIsResourceName(pointer(true)).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "artifacts of the project", inProject.Payload, inProject.XTotalCount, inProject.Link, 3)

	// A tag as go-client creates it: a whole Tag, with its zero times and immutable=false.
	_, err = c.Artifact.CreateTag(ctx, hartifact.NewCreateTagParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference(f.digest).WithTag(&models.Tag{Name: "stable"}))
	mustOK(t, err)
	tags, err := c.Artifact.ListTags(ctx, hartifact.NewListTagsParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference(f.digest).WithPage(everything.page).WithPageSize(everything.size).WithWithImmutableStatus(pointer(true)))
	mustOK(t, err)
	wantAll(t, "tags", tags.Payload, tags.XTotalCount, tags.Link, 2)
	for _, e := range escapings {
		found, err := c.Artifact.ListTags(ctx, hartifact.NewListTagsParams().WithProjectName(f.project).WithRepositoryName("app").
			WithReference(f.digest).WithQ(e.q("name=stable")).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(found.Payload) != 1 || found.Payload[0].Name != "stable" {
			t.Errorf("tag by name, %s: %+v", e.name, found.Payload)
		}
	}
	_, err = c.Artifact.DeleteTag(ctx, hartifact.NewDeleteTagParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference(f.digest).WithTagName("stable"))
	mustOK(t, err)

	_, err = c.Artifact.CopyArtifact(ctx, hartifact.NewCopyArtifactParams().WithProjectName(f.project).WithRepositoryName("copy").
		WithFrom(f.project+"/app:v1"))
	mustOK(t, err)
	sig := artPushSignature(t, ts, f.project+"/app", f.digest, int64(len(v1)))
	acc, err := c.Artifact.ListAccessories(ctx, hartifact.NewListAccessoriesParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference(f.digest).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "accessories", acc.Payload, acc.XTotalCount, acc.Link, 1)
	if len(acc.Payload) != 1 || acc.Payload[0].Digest != sig || acc.Payload[0].Type != "signature.cosign" || acc.Payload[0].SubjectArtifactDigest != f.digest {
		t.Errorf("accessories: %+v", acc.Payload)
	}
	signed, err := c.Artifact.GetArtifact(ctx, hartifact.NewGetArtifactParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference(f.digest).WithWithAccessory(pointer(true)))
	mustOK(t, err)
	if len(signed.Payload.Accessories) != 1 {
		t.Errorf("accessories of the artifact: %+v", signed.Payload.Accessories)
	}

	// An index, whose references carry platforms with the swagger's quoted property names.
	idx := artPushIndex(t, ts, f.project+"/multi", "latest")
	multi, err := c.Artifact.GetArtifact(ctx, hartifact.NewGetArtifactParams().WithProjectName(f.project).WithRepositoryName("multi").
		WithReference("latest"))
	mustOK(t, err)
	if multi.Payload.Digest != idx.digest || len(multi.Payload.References) != 2 {
		t.Fatalf("index: %+v", multi.Payload)
	}
	for _, r := range multi.Payload.References {
		if p := r.Platform; r.ChildDigest == idx.arm64 && (p == nil || p.Architecture != "arm64" || p.Variant != "v8" || p.OsVersion != "6.1" ||
			len(p.OsFeatures) != 1 || p.OsFeatures[0] != "sse4") {
			t.Errorf("platform of the arm64 child: %+v", p)
		}
	}
	_, err = c.Artifact.GetAddition(ctx, hartifact.NewGetAdditionParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference("v1").WithAddition("build_history"))
	additionRead(t, f, "build_history", err)
	_, err = c.Artifact.GetVulnerabilitiesAddition(ctx, hartifact.NewGetVulnerabilitiesAdditionParams().WithProjectName(f.project).
		WithRepositoryName("app").WithReference("v1"))
	additionRead(t, f, "vulnerabilities", err)
}

// additionRead checks an addition's answer. The client declares additions as strings, which
// its JSON reader cannot fill with the JSON Harbor answers (an array, an object): that is the
// client's limit (Harbor answers the same), so a failure to read is accepted when the status
// was the swagger's 200.
func additionRead(t *testing.T, f *hcFixture, name string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var c coded
	if errors.As(err, &c) || f.log.lastStatus() != http.StatusOK {
		t.Errorf("addition %s: %s (status %d)", name, describe(err), f.log.lastStatus())
	}
}

func hcLabels(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	global := "client-global-" + uniqueSuffix()
	created, err := c.Label.CreateLabel(ctx, hlabel.NewCreateLabelParams().WithLabel(&models.Label{Name: global, Color: "#0000FF", Scope: "g"}))
	mustOK(t, err)
	gid := locationID(t, created.Location)
	var pid int64
	for i := range 3 {
		created, err := c.Label.CreateLabel(ctx, hlabel.NewCreateLabelParams().WithLabel(&models.Label{
			Name: fmt.Sprintf("client-p%d", i), Scope: "p", ProjectID: f.projectID, Description: "project label",
		}))
		mustOK(t, err)
		pid = locationID(t, created.Location)
	}
	list, err := c.Label.ListLabels(ctx, hlabel.NewListLabelsParams().WithScope(pointer("p")).WithProjectID(&f.projectID).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "project labels", list.Payload, list.XTotalCount, list.Link, 3)
	byName, err := c.Label.ListLabels(ctx, hlabel.NewListLabelsParams().WithScope(pointer("g")).WithName(&global).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(byName.Payload) != 1 || byName.Payload[0].ID != gid {
		t.Errorf("label by name: %+v", byName.Payload)
	}
	got, err := c.Label.GetLabelByID(ctx, hlabel.NewGetLabelByIDParams().WithLabelID(gid))
	mustOK(t, err)
	got.Payload.Description = "updated from what was read"
	_, err = c.Label.UpdateLabel(ctx, hlabel.NewUpdateLabelParams().WithLabelID(gid).WithLabel(got.Payload))
	mustOK(t, err)

	// Artifact labels take the whole Label too.
	_, err = c.Artifact.AddLabel(ctx, hartifact.NewAddLabelParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference("v1").WithLabel(got.Payload))
	mustOK(t, err)
	labelled, err := c.Artifact.GetArtifact(ctx, hartifact.NewGetArtifactParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference("v1").WithWithLabel(pointer(true)))
	mustOK(t, err)
	if len(labelled.Payload.Labels) != 1 || labelled.Payload.Labels[0].ID != gid {
		t.Errorf("labels of the artifact: %+v", labelled.Payload.Labels)
	}
	_, err = c.Artifact.RemoveLabel(ctx, hartifact.NewRemoveLabelParams().WithProjectName(f.project).WithRepositoryName("app").
		WithReference("v1").WithLabelID(gid))
	mustOK(t, err)
	_, err = c.Label.DeleteLabel(ctx, hlabel.NewDeleteLabelParams().WithLabelID(pid))
	mustOK(t, err)
}

func hcQuotas(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	list, err := c.Quota.ListQuotas(ctx, hquota.NewListQuotasParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "quotas", list.Payload, list.XTotalCount, list.Link, 2)
	mine, err := c.Quota.ListQuotas(ctx, hquota.NewListQuotasParams().WithReference(pointer("project")).
		WithReferenceID(pointer(strconv.FormatInt(f.projectID, 10))).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(mine.Payload) != 1 {
		t.Fatalf("quota of the project: %+v", mine.Payload)
	}
	id := mine.Payload[0].ID
	_, err = c.Quota.GetQuota(ctx, hquota.NewGetQuotaParams().WithID(id))
	mustOK(t, err)
	_, err = c.Quota.UpdateQuota(ctx, hquota.NewUpdateQuotaParams().WithID(id).WithHard(&models.QuotaUpdateReq{Hard: models.ResourceList{"storage": 1 << 30}}))
	mustOK(t, err)
}

func hcImmutable(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	rule := func(tags string) *models.ImmutableRule {
		return &models.ImmutableRule{
			Action: "immutable", Template: "immutable_template",
			TagSelectors:   []*models.ImmutableSelector{{Kind: "doublestar", Decoration: "matches", Pattern: tags}},
			ScopeSelectors: map[string][]models.ImmutableSelector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}},
		}
	}
	created, err := c.Immutable.CreateImmuRule(ctx, himmutable.NewCreateImmuRuleParams().WithProjectNameOrID(f.project).WithImmutableRule(rule("release-*")))
	mustOK(t, err)
	id := locationID(t, created.Location)
	// Selectors without a kind (the client leaves an empty one out) have Harbor's default.
	kindless := rule("frozen-*")
	kindless.TagSelectors[0].Kind = ""
	kindless.ScopeSelectors["repository"][0].Kind = ""
	_, err = c.Immutable.CreateImmuRule(ctx, himmutable.NewCreateImmuRuleParams().WithProjectNameOrID(f.project).WithImmutableRule(kindless))
	mustOK(t, err)
	list, err := c.Immutable.ListImmuRules(ctx, himmutable.NewListImmuRulesParams().WithProjectNameOrID(f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "immutability rules", list.Payload, list.XTotalCount, list.Link, 2)
	for _, r := range list.Payload {
		if len(r.TagSelectors) != 1 || r.TagSelectors[0].Kind != "doublestar" || len(r.ScopeSelectors["repository"]) != 1 ||
			r.ScopeSelectors["repository"][0].Kind != "doublestar" {
			t.Errorf("immutability rule %d: selectors %+v %+v, want kind doublestar", r.ID, r.TagSelectors, r.ScopeSelectors)
		}
	}
	// The update sends back the rule as listed.
	for _, r := range list.Payload {
		if r.ID == id {
			r.Disabled = true
			_, err = c.Immutable.UpdateImmuRule(ctx, himmutable.NewUpdateImmuRuleParams().WithProjectNameOrID(f.project).WithImmutableRuleID(id).WithImmutableRule(r))
			mustOK(t, err)
		}
	}
	// Enabled again with a rule that says only that: the client sends {"id":…,"tag_selectors":null}.
	_, err = c.Immutable.UpdateImmuRule(ctx, himmutable.NewUpdateImmuRuleParams().WithProjectNameOrID(f.project).WithImmutableRuleID(id).
		WithImmutableRule(&models.ImmutableRule{ID: id}))
	mustOK(t, err)
	list, err = c.Immutable.ListImmuRules(ctx, himmutable.NewListImmuRulesParams().WithProjectNameOrID(f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	for _, r := range list.Payload {
		if r.ID == id && (r.Disabled || len(r.TagSelectors) != 1 || r.TagSelectors[0].Pattern != "release-*") {
			t.Errorf("rule %d after enabling it: %+v", id, r)
		}
	}
	_, err = c.Immutable.DeleteImmuRule(ctx, himmutable.NewDeleteImmuRuleParams().WithProjectNameOrID(f.project).WithImmutableRuleID(id))
	mustOK(t, err)
}

func hcRetention(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	_, err := c.Retention.GetRentenitionMetadata(ctx, hretention.NewGetRentenitionMetadataParams())
	mustOK(t, err)
	policy := &models.RetentionPolicy{
		Algorithm: "or",
		Rules: []*models.RetentionRule{{
			Action: "retain", Template: "latestPushedK", Params: map[string]any{"latestPushedK": 1},
			TagSelectors:   []*models.RetentionSelector{{Kind: "doublestar", Decoration: "matches", Pattern: "**", Extras: `{"untagged":false}`}},
			ScopeSelectors: map[string][]models.RetentionSelector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}},
		}},
		Trigger: &models.RetentionRuleTrigger{Kind: "Schedule", Settings: map[string]any{"cron": ""}},
		Scope:   &models.RetentionPolicyScope{Level: "project", Ref: f.projectID},
	}
	created, err := c.Retention.CreateRetention(ctx, hretention.NewCreateRetentionParams().WithPolicy(policy))
	mustOK(t, err)
	id := locationID(t, created.Location)
	// The project now shows its retention_id among its metadata; an update that sends the
	// metadata back as read still goes through.
	p, err := c.Project.GetProject(ctx, hproject.NewGetProjectParams().WithProjectNameOrID(f.project))
	mustOK(t, err)
	if p.Payload.Metadata.RetentionID == nil || *p.Payload.Metadata.RetentionID != strconv.FormatInt(id, 10) {
		t.Errorf("retention_id of the project: %+v", p.Payload.Metadata)
	}
	_, err = c.Project.UpdateProject(ctx, hproject.NewUpdateProjectParams().WithProjectNameOrID(f.project).
		WithProject(&models.ProjectReq{ProjectName: f.project, Metadata: p.Payload.Metadata, CVEAllowlist: p.Payload.CVEAllowlist}))
	mustOK(t, err)
	got, err := c.Retention.GetRetention(ctx, hretention.NewGetRetentionParams().WithID(id))
	mustOK(t, err)
	// An update whose selectors leave out their kind: Harbor's default, doublestar, is kept.
	got.Payload.Rules[0].Params = map[string]any{"latestPushedK": 2}
	got.Payload.Rules[0].TagSelectors[0].Kind = ""
	got.Payload.Rules[0].ScopeSelectors["repository"][0].Kind = ""
	_, err = c.Retention.UpdateRetention(ctx, hretention.NewUpdateRetentionParams().WithID(id).WithPolicy(got.Payload))
	mustOK(t, err)
	got, err = c.Retention.GetRetention(ctx, hretention.NewGetRetentionParams().WithID(id))
	mustOK(t, err)
	if r := got.Payload.Rules[0]; r.TagSelectors[0].Kind != "doublestar" || r.ScopeSelectors["repository"][0].Kind != "doublestar" {
		t.Errorf("retention rule after an update without selector kinds: %+v %+v", r.TagSelectors[0], r.ScopeSelectors)
	}

	_, run, err := c.Retention.TriggerRetentionExecution(ctx, hretention.NewTriggerRetentionExecutionParams().WithID(id).
		WithBody(hretention.TriggerRetentionExecutionBody{DryRun: true}))
	mustOK(t, err)
	if run == nil {
		t.Fatal("a retention run answered 200, not 201 with its Location")
	}
	eid := locationID(t, run.Location)
	deadline := time.Now().Add(time.Minute)
	for {
		execs, err := c.Retention.ListRetentionExecutions(ctx, hretention.NewListRetentionExecutionsParams().WithID(id).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(execs.Payload) == 1 && retFinal(execs.Payload[0].Status) {
			wantAll(t, "retention executions", execs.Payload, execs.XTotalCount, execs.Link, 1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention run %d did not end: %+v", eid, execs.Payload)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tasks, err := c.Retention.ListRetentionTasks(ctx, hretention.NewListRetentionTasksParams().WithID(id).WithEid(eid).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "retention tasks", tasks.Payload, tasks.XTotalCount, tasks.Link, 1)
	_, err = c.Retention.GetRetentionTaskLog(ctx, hretention.NewGetRetentionTaskLogParams().WithID(id).WithEid(eid).WithTid(tasks.Payload[0].ID))
	mustOK(t, err)
	_, err = c.Retention.OperateRetentionExecution(ctx, hretention.NewOperateRetentionExecutionParams().WithID(id).WithEid(eid).
		WithBody(hretention.OperateRetentionExecutionBody{Action: "stop"}))
	mustOK(t, err)
	_, err = c.Retention.DeleteRetention(ctx, hretention.NewDeleteRetentionParams().WithID(id))
	mustOK(t, err)
}

func hcScanners(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	f.ts.scBuiltin(t)
	adapterURL := strfmt.URI(scAdapter(t, "Trivy", "harbor", "Adapter123"))
	name := "trivy-" + uniqueSuffix()
	_, err := c.Scanner.PingScanner(ctx, hscanner.NewPingScannerParams().WithSettings(&models.ScannerRegistrationSettings{
		Name: &name, URL: &adapterURL, Auth: "Basic", AccessCredential: "harbor:Adapter123",
	}))
	mustOK(t, err)
	created, err := c.Scanner.CreateScanner(ctx, hscanner.NewCreateScannerParams().WithRegistration(&models.ScannerRegistrationReq{
		Name: &name, URL: &adapterURL, Auth: "Basic", AccessCredential: "harbor:Adapter123", Description: "external",
		SkipCertVerify: pointer(false), UseInternalAddr: pointer(false), Disabled: pointer(false),
	}))
	mustOK(t, err)
	uuid := created.Location[strings.LastIndex(created.Location, "/")+1:]

	list, err := c.Scanner.ListScanners(ctx, hscanner.NewListScannersParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "scanners", list.Payload, list.XTotalCount, list.Link, 2)
	for _, e := range escapings {
		found, err := c.Scanner.ListScanners(ctx, hscanner.NewListScannersParams().WithQ(e.q("name="+name)).WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(found.Payload) != 1 || found.Payload[0].UUID != uuid {
			t.Errorf("scanner by name, %s: %+v", e.name, found.Payload)
		}
	}
	got, err := c.Scanner.GetScanner(ctx, hscanner.NewGetScannerParams().WithRegistrationID(uuid))
	mustOK(t, err)
	_, err = c.Scanner.GetScannerMetadata(ctx, hscanner.NewGetScannerMetadataParams().WithRegistrationID(uuid))
	mustOK(t, err)
	// The update sends the request model made of what was read, with the credential again.
	_, err = c.Scanner.UpdateScanner(ctx, hscanner.NewUpdateScannerParams().WithRegistrationID(uuid).WithRegistration(&models.ScannerRegistrationReq{
		Name: &got.Payload.Name, URL: &got.Payload.URL, Auth: got.Payload.Auth, AccessCredential: "harbor:Adapter123",
		Description: "updated", SkipCertVerify: got.Payload.SkipCertVerify, UseInternalAddr: got.Payload.UseInternalAddr, Disabled: got.Payload.Disabled,
	}))
	mustOK(t, err)
	_, err = c.Scanner.SetScannerAsDefault(ctx, hscanner.NewSetScannerAsDefaultParams().WithRegistrationID(uuid).WithPayload(&models.IsDefault{IsDefault: true}))
	mustOK(t, err)
	// is_default false, which the client leaves out of the body: nothing changes.
	_, err = c.Scanner.SetScannerAsDefault(ctx, hscanner.NewSetScannerAsDefaultParams().WithRegistrationID(uuid).WithPayload(&models.IsDefault{}))
	mustOK(t, err)

	_, err = c.Project.SetScannerOfProject(ctx, hproject.NewSetScannerOfProjectParams().WithProjectNameOrID(f.project).
		WithPayload(&models.ProjectScanner{UUID: &uuid}))
	mustOK(t, err)
	ps, err := c.Project.GetScannerOfProject(ctx, hproject.NewGetScannerOfProjectParams().WithProjectNameOrID(f.project))
	mustOK(t, err)
	if ps.Payload.UUID != uuid {
		t.Errorf("scanner of the project: %+v", ps.Payload)
	}
	cands, err := c.Project.ListScannerCandidatesOfProject(ctx, hproject.NewListScannerCandidatesOfProjectParams().WithProjectNameOrID(f.project).
		WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "scanner candidates", cands.Payload, cands.XTotalCount, cands.Link, 2)

	// Back to the built-in scanner, then the external one goes.
	_, err = c.Scanner.SetScannerAsDefault(ctx, hscanner.NewSetScannerAsDefaultParams().WithRegistrationID(scan.BuiltinUUID).WithPayload(&models.IsDefault{IsDefault: true}))
	mustOK(t, err)
	_, err = c.Project.SetScannerOfProject(ctx, hproject.NewSetScannerOfProjectParams().WithProjectNameOrID(f.project).
		WithPayload(&models.ProjectScanner{UUID: pointer(scan.BuiltinUUID)}))
	mustOK(t, err)
	_, err = c.Scanner.DeleteScanner(ctx, hscanner.NewDeleteScannerParams().WithRegistrationID(uuid))
	mustOK(t, err)
}

func hcScanning(t *testing.T, f *hcFixture) {
	c, ctx, ts := f.c, f.ctx, f.ts
	ts.importVulnDB(t, osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
	ts.pushDebianImage(t, f.project+"/deb", "v1", "openssl 3.0.11-1~deb12u1")
	_, err := c.Scan.ScanArtifact(ctx, hscan.NewScanArtifactParams().WithProjectName(f.project).WithRepositoryName("deb").WithReference("v1").
		WithScanType(&models.ScanType{ScanType: "vulnerability"}))
	mustOK(t, err)
	o := ts.waitScan(t, f.project, "deb", "v1")
	if o.Status != "Success" {
		t.Fatalf("scan: %+v", o)
	}
	scanned, err := c.Artifact.ListArtifacts(ctx, hartifact.NewListArtifactsParams().WithDefaults().WithProjectName(f.project).WithRepositoryName("deb").
		WithWithScanOverview(pointer(true)).WithWithSbomOverview(pointer(true)))
	mustOK(t, err)
	if len(scanned.Payload) != 1 || len(scanned.Payload[0].ScanOverview) != 1 {
		t.Fatalf("scanned artifacts: %+v", scanned.Payload)
	}
	for mime, ov := range scanned.Payload[0].ScanOverview {
		if ov.ScanStatus != "Success" || ov.Severity != "Critical" || ov.Summary == nil || ov.Summary.Total != 1 || ov.Scanner == nil {
			t.Errorf("scan overview %s: %+v", mime, ov)
		}
	}
	_, err = c.Scan.GetReportLog(ctx, hscan.NewGetReportLogParams().WithProjectName(f.project).WithRepositoryName("deb").WithReference("v1").
		WithReportID(o.ReportID))
	mustOK(t, err)
	// The scan has ended: stopping it is accepted (202) and changes nothing, as in Harbor…
	_, err = c.Scan.StopScanArtifact(ctx, hscan.NewStopScanArtifactParams().WithProjectName(f.project).WithRepositoryName("deb").WithReference("v1").
		WithScanType(&models.ScanType{ScanType: "vulnerability"}))
	mustOK(t, err)
	if again := ts.waitScan(t, f.project, "deb", "v1"); again.Status != "Success" || again.ReportID != o.ReportID {
		t.Errorf("the ended scan after a stop: %+v, was %+v", again, o)
	}
	// …while an SBOM never generated has no scan to stop: 400.
	_, err = c.Scan.StopScanArtifact(ctx, hscan.NewStopScanArtifactParams().WithProjectName(f.project).WithRepositoryName("deb").WithReference("v1").
		WithScanType(&models.ScanType{ScanType: "sbom"}))
	mustCode(t, err, http.StatusBadRequest)

	// The summary's lists are there when asked for, and only then (Harbor's default: not).
	for _, sc := range []struct {
		name           string
		cves, artifact *bool
		want           bool
	}{
		{"by default", nil, nil, false},
		{"not asked", pointer(false), pointer(false), false},
		{"asked", pointer(true), pointer(true), true},
	} {
		sum, err := c.Securityhub.GetSecuritySummary(ctx, hsecurity.NewGetSecuritySummaryParams().WithWithDangerousCVE(sc.cves).WithWithDangerousArtifact(sc.artifact))
		mustOK(t, err)
		if got := len(sum.Payload.DangerousCves) == 1 && len(sum.Payload.DangerousArtifacts) == 1; got != sc.want ||
			!sc.want && (sum.Payload.DangerousCves != nil || sum.Payload.DangerousArtifacts != nil) {
			t.Errorf("security summary %s: dangerous CVEs %+v, artifacts %+v", sc.name, sum.Payload.DangerousCves, sum.Payload.DangerousArtifacts)
		}
		if sum.Payload.CriticalCnt != 1 || sum.Payload.ScannedCnt != 1 {
			t.Errorf("security summary %s: %+v", sc.name, sum.Payload)
		}
	}
	for _, e := range escapings {
		vulns, err := c.Securityhub.ListVulnerabilities(ctx, hsecurity.NewListVulnerabilitiesParams().WithQ(e.q("cve_id=CVE-2024-0001")).
			WithPage(everything.page).WithPageSize(everything.size).WithTuneCount(pointer(true)).WithWithTag(pointer(true)))
		mustOK(t, err)
		wantAll(t, "vulnerabilities, "+e.name, vulns.Payload, vulns.XTotalCount, vulns.Link, 1)
		if len(vulns.Payload) == 1 && !slices.Equal(vulns.Payload[0].Tags, []string{"v1"}) {
			t.Errorf("vulnerability with its tags, %s: %+v", e.name, vulns.Payload[0])
		}
	}
	untagged, err := c.Securityhub.ListVulnerabilities(ctx, hsecurity.NewListVulnerabilitiesParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	if len(untagged.Payload) != 1 || len(untagged.Payload[0].Tags) != 0 {
		t.Errorf("vulnerabilities without with_tag: %+v", untagged.Payload)
	}

	// Scan-all runs last: it scans the image above again.
	_, err = c.ScanAll.GetScanAllSchedule(ctx, hscanall.NewGetScanAllScheduleParams())
	mustOK(t, err)
	_, err = c.ScanAll.CreateScanAllSchedule(ctx, hscanall.NewCreateScanAllScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Daily", Cron: "0 0 3 * * *"},
	}))
	mustOK(t, err)
	sched, err := c.ScanAll.GetScanAllSchedule(ctx, hscanall.NewGetScanAllScheduleParams())
	mustOK(t, err)
	// The update sends back the Schedule it read, with a new cron.
	sched.Payload.Schedule.Type, sched.Payload.Schedule.Cron = "Custom", "0 30 4 * * *"
	_, err = c.ScanAll.UpdateScanAllSchedule(ctx, hscanall.NewUpdateScanAllScheduleParams().WithSchedule(sched.Payload))
	mustOK(t, err)
	_, err = c.ScanAll.CreateScanAllSchedule(ctx, hscanall.NewCreateScanAllScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Manual"},
	}))
	mustOK(t, err)
	// Running or ended, the scan-all just started can be stopped.
	_, err = c.ScanAll.StopScanAll(ctx, hscanall.NewStopScanAllParams())
	mustOK(t, err)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		m, err := c.ScanAll.GetLatestScanAllMetrics(ctx, hscanall.NewGetLatestScanAllMetricsParams())
		mustOK(t, err)
		if !m.Payload.Ongoing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stopped scan-all never ended: %+v", m.Payload)
		}
	}
	_, err = c.ScanAll.GetLatestScanAllMetrics(ctx, hscanall.NewGetLatestScanAllMetricsParams())
	mustOK(t, err)
	_, err = c.ScanAll.GetLatestScheduledScanAllMetrics(ctx, hscanall.NewGetLatestScheduledScanAllMetricsParams())
	mustOK(t, err)
}

func hcGC(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	_, err := c.GC.GetGCSchedule(ctx, hgc.NewGetGCScheduleParams())
	mustOK(t, err)
	run, err := c.GC.CreateGCSchedule(ctx, hgc.NewCreateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Manual"}, Parameters: map[string]any{"delete_untagged": true, "dry_run": true, "workers": 1},
	}))
	mustOK(t, err)
	id := locationID(t, run.Location)
	f.ts.waitGC(t, run.Location)
	history, err := c.GC.GetGCHistory(ctx, hgc.NewGetGCHistoryParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "gc history", history.Payload, history.XTotalCount, history.Link, 1)
	_, err = c.GC.GetGC(ctx, hgc.NewGetGCParams().WithGCID(id))
	mustOK(t, err)
	_, err = c.GC.GetGCLog(ctx, hgc.NewGetGCLogParams().WithGCID(id))
	mustOK(t, err)
	_, err = c.GC.StopGC(ctx, hgc.NewStopGCParams().WithGCID(id))
	mustOK(t, err)
	_, err = c.GC.CreateGCSchedule(ctx, hgc.NewCreateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Daily", Cron: "0 0 2 * * *"},
	}))
	mustOK(t, err)
	sched, err := c.GC.GetGCSchedule(ctx, hgc.NewGetGCScheduleParams())
	mustOK(t, err)
	_, err = c.GC.UpdateGCSchedule(ctx, hgc.NewUpdateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule:   &models.ScheduleObj{Type: "Custom", Cron: "0 30 * * * *", NextScheduledTime: sched.Payload.Schedule.NextScheduledTime},
		Parameters: map[string]any{"delete_untagged": false},
	}))
	mustOK(t, err)
}

func hcAudit(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	logs, err := c.Auditlog.ListAuditLogs(ctx, haudit.NewListAuditLogsParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "audit logs", logs.Payload, logs.XTotalCount, logs.Link, 0)
	for _, e := range escapings {
		_, err := c.Auditlog.ListAuditLogs(ctx, haudit.NewListAuditLogsParams().WithQ(e.q("operation=create,resource_type=artifact")).
			WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
	}
	plogs, err := c.Project.GetLogs(ctx, hproject.NewGetLogsParams().WithProjectName(f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "project logs", plogs.Payload, plogs.XTotalCount, plogs.Link, 0)

	// Harbor 2.13's extended audit log.
	ext, err := c.Auditlog.ListAuditLogExts(ctx, haudit.NewListAuditLogExtsParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "extended audit logs", ext.Payload, ext.XTotalCount, ext.Link, 1)
	for _, e := range escapings {
		found, err := c.Auditlog.ListAuditLogExts(ctx, haudit.NewListAuditLogExtsParams().WithQ(e.q("operation=create,resource_type=project,resource="+f.project)).
			WithPage(everything.page).WithPageSize(everything.size))
		mustOK(t, err)
		if len(found.Payload) != 1 || found.Payload[0].OperationDescription != "create project: "+f.project || !found.Payload[0].OperationResult {
			t.Errorf("the project's creation, %s: %+v", e.name, found.Payload)
		}
	}
	pext, err := c.Project.GetLogExts(ctx, hproject.NewGetLogExtsParams().WithProjectName(f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "project's extended audit logs", pext.Payload, pext.XTotalCount, pext.Link, 1)
	types, err := c.Auditlog.ListAuditLogEventTypes(ctx, haudit.NewListAuditLogEventTypesParams())
	mustOK(t, err)
	if len(types.Payload) == 0 || types.Payload[0].EventType != "create_artifact" {
		t.Errorf("event types: %+v", types.Payload)
	}
}

// hcJobService looks at and acts on the job service monitor: queues (paused and resumed),
// pools and workers, schedules, and a running scan's job, whose log is read and which is
// stopped.
func hcJobService(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	queue := func(typ string) *models.JobQueue {
		t.Helper()
		qs, err := c.Jobservice.ListJobQueues(ctx, hjobservice.NewListJobQueuesParams())
		mustOK(t, err)
		for _, q := range qs.Payload {
			if q.JobType == typ {
				return q
			}
		}
		t.Fatalf("no queue %s in %+v", typ, qs.Payload)
		return nil
	}
	for _, action := range []string{"pause", "stop", "resume"} {
		_, err := c.Jobservice.ActionPendingJobs(ctx, hjobservice.NewActionPendingJobsParams().WithJobType("VULNDB_IMPORT").
			WithActionRequest(&models.ActionRequest{Action: action}))
		mustOK(t, err)
		if q := queue("VULNDB_IMPORT"); q.Paused != (action != "resume") {
			t.Errorf("after %s: %+v", action, q)
		}
	}
	pools, err := c.Jobservice.GetWorkerPools(ctx, hjobservice.NewGetWorkerPoolsParams())
	mustOK(t, err)
	if len(pools.Payload) != 1 || pools.Payload[0].Concurrency != int64(f.ts.cfg.JobWorkers) {
		t.Fatalf("pools: %+v", pools.Payload)
	}
	// The jobs of the steps above have ended, but a job's end is recorded a moment after its
	// worker is free again: until then it still shows on a worker.
	var workers *hjobservice.GetWorkersOK
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		workers, err = c.Jobservice.GetWorkers(ctx, hjobservice.NewGetWorkersParams().WithPoolID(pools.Payload[0].WorkerPoolID))
		mustOK(t, err)
		if len(workers.Payload) == f.ts.cfg.JobWorkers || time.Now().After(deadline) {
			break
		}
	}
	if len(workers.Payload) != f.ts.cfg.JobWorkers {
		var b strings.Builder
		for _, w := range workers.Payload {
			fmt.Fprintf(&b, " %+v", *w)
		}
		t.Errorf("workers:%s", b.String())
	}
	schedules, err := c.Schedule.ListSchedules(ctx, hschedule.NewListSchedulesParams().WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	wantAll(t, "schedules", schedules.Payload, schedules.XTotalCount, schedules.Link, 1)
	paused, err := c.Schedule.GetSchedulePaused(ctx, hschedule.NewGetSchedulePausedParams().WithJobType("all"))
	mustOK(t, err)
	if paused.Payload.Paused {
		t.Error("schedules paused")
	}

	// A scan that runs until it is stopped: its job shows on a worker.
	srv := adapter.NewServer(slowEngine{scEngine{"Slow"}}, func(*http.Request) bool { return true }, nil)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	resp := f.ts.mrJSON(t, http.MethodPost, apiBase+"/scanners", nil, map[string]any{"name": "slow-" + uniqueSuffix(), "url": hs.URL})
	expectStatus(t, resp, http.StatusCreated)
	uuid := resp.Header.Get("Location")[strings.LastIndex(resp.Header.Get("Location"), "/")+1:]
	_, err = c.Project.SetScannerOfProject(ctx, hproject.NewSetScannerOfProjectParams().WithProjectNameOrID(f.project).
		WithPayload(&models.ProjectScanner{UUID: &uuid}))
	mustOK(t, err)
	_, err = c.Scan.ScanArtifact(ctx, hscan.NewScanArtifactParams().WithProjectName(f.project).WithRepositoryName("app").WithReference(f.digest))
	mustOK(t, err)
	var job string
	for deadline := time.Now().Add(time.Minute); job == ""; time.Sleep(50 * time.Millisecond) {
		ws, err := c.Jobservice.GetWorkers(ctx, hjobservice.NewGetWorkersParams().WithPoolID("all"))
		mustOK(t, err)
		for _, w := range ws.Payload {
			if w.JobName == "IMAGE_SCAN" {
				job = w.JobID
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, w := range ws.Payload {
				fmt.Fprintf(&b, " %+v", *w)
			}
			a, _ := c.Artifact.GetArtifact(ctx, hartifact.NewGetArtifactParams().WithProjectName(f.project).WithRepositoryName("app").
				WithReference(f.digest).WithWithScanOverview(pointer(true)))
			var ov any
			if a != nil {
				ov = a.Payload.ScanOverview
			}
			t.Fatalf("the scan's job never ran: workers%s; scan overview %+v", b.String(), ov)
		}
	}
	log, err := c.Jobservice.ActionGetJobLog(ctx, hjobservice.NewActionGetJobLogParams().WithJobID(job))
	mustOK(t, err)
	if !strings.Contains(log.Payload, "queued scan job "+job) {
		t.Errorf("job log:\n%s", log.Payload)
	}
	_, err = c.Jobservice.StopRunningJob(ctx, hjobservice.NewStopRunningJobParams().WithJobID(job))
	mustOK(t, err)
	_, err = c.Jobservice.StopRunningJob(ctx, hjobservice.NewStopRunningJobParams().WithJobID("all"))
	mustOK(t, err)
}

func hcDeletions(t *testing.T, f *hcFixture) {
	c, ctx := f.c, f.ctx
	_, err := c.Project.DeleteProject(ctx, hproject.NewDeleteProjectParams().WithProjectNameOrID(f.project))
	mustCode(t, err, http.StatusPreconditionFailed) // it holds repositories
	_, err = c.Artifact.DeleteArtifact(ctx, hartifact.NewDeleteArtifactParams().WithProjectName(f.project).WithRepositoryName("app").WithReference("v2"))
	mustOK(t, err)
	for _, repo := range []string{"app", "copy", "deb", "multi", url.PathEscape("team/api")} {
		_, err = c.Repository.DeleteRepository(ctx, hrepository.NewDeleteRepositoryParams().WithProjectName(f.project).WithRepositoryName(repo))
		mustOK(t, err)
	}
	members, err := c.Member.ListProjectMembers(ctx, hmember.NewListProjectMembersParams().WithProjectNameOrID(f.project).WithPage(everything.page).WithPageSize(everything.size))
	mustOK(t, err)
	for _, m := range members.Payload {
		if m.EntityName == adminUser {
			continue
		}
		_, err = c.Member.DeleteProjectMember(ctx, hmember.NewDeleteProjectMemberParams().WithProjectNameOrID(f.project).WithMid(m.ID))
		mustOK(t, err)
	}
	_, err = c.Usergroup.DeleteUserGroup(ctx, husergroup.NewDeleteUserGroupParams().WithGroupID(f.groupID))
	mustOK(t, err)
	_, err = c.User.DeleteUser(ctx, huser.NewDeleteUserParams().WithUserID(f.userID))
	mustOK(t, err)
	_, err = c.Project.DeleteProject(ctx, hproject.NewDeleteProjectParams().WithProjectNameOrID(f.project))
	mustOK(t, err)
}
