package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// TestPermissionMatrix is HARBOR-NOTES §d as one table: every capability (a row) for every kind
// of principal (a column), each cell checked through real HTTP calls on /api/v2.0 and, where the
// capability has a /v2/ form, on /v2/ too (with the token flow registry clients use, and Basic).
// Allowed cells must answer the spec's success status and have their effect; denied cells must
// be refused and change nothing. Subtests are named capability/principal, so a failure names
// the cell.
//
// Columns. Every row runs against a private project in which the five role users are members;
// "@public" columns run the same calls against a public project, for the two principals §d's
// "P" column is about.
//
//   - anonymous, limited-guest, guest, developer, maintainer, project-admin, system-admin,
//     non-member (a signed-in user who is no member of the project);
//   - project-robot: a project robot holding exactly the permissions its row needs in the
//     project (pmRow.perms) — and nothing else;
//   - pull-robot: a project robot holding only repository:pull there, so the robot column shows
//     denied cells next to allowed ones;
//   - system-robot: a system robot holding the row's permissions on every project
//     (namespace "*"); for system-level rows, the row's system permissions instead;
//   - anonymous@public, non-member@public.
//
// Expected outcomes come from §d: system administrators pass everything; a role passes the rows
// §d gives it; robots pass exactly what their permissions list; anonymous callers and
// non-members pass only what the "P" column gives anyone on a public project.
//
// How a denial looks (pmCell.denial), everywhere alike:
//   - anonymous: 401 UNAUTHORIZED (the API's Basic challenge; on /v2/ the Bearer challenge);
//   - a private project the principal cannot see at all (the non-member): Berth answers as it
//     would for a project that does not exist, so outsiders cannot probe for private project
//     names — 404 NOT_FOUND on the API, 404 NAME_UNKNOWN on /v2/. Who "sees" a project: its
//     members (any role), system administrators, and robots holding any permission in it;
//   - everyone else: 403 FORBIDDEN on the API, 403 DENIED on /v2/.
//
// Rows of §d not in the table, because Berth has no endpoint for them yet: CVE export, read and
// manage webhooks, preheat policies, and "project configuration read" (no endpoint of its own:
// the project's CVE allowlist comes with project read, which is a row).
func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		users := pmNewUsers(t, ts)
		for _, row := range pmRows() {
			t.Run(row.name, func(t *testing.T) {
				// Rows are independent (each has projects of its own) except those that change
				// the system configuration: they run first, alone.
				if !row.serial {
					t.Parallel()
				}
				e := &pmEnv{ts: ts, users: users, row: row}
				if row.around != nil {
					defer row.around(t, e)()
				}
				for _, col := range pmColumns {
					if row.system() && col.public {
						continue // system-level capabilities have no project
					}
					t.Run(col.name, func(t *testing.T) { row.run(t, e.cell(t, col)) })
				}
			})
		}
	})
}

// Columns.

type pmKind int

const (
	pmAnonymous    pmKind = iota
	pmMember              // a user with a role in the project
	pmSysAdmin            // the system administrator
	pmNonMember           // a signed-in user without a role in the project
	pmProjectRobot        // a project robot with the row's permissions in the project
	pmPullRobot           // a project robot with repository:pull in the project
	pmSystemRobot         // a system robot with the row's permissions on every project
)

type pmCol struct {
	name   string
	kind   pmKind
	role   int  // pmMember: the role
	public bool // run against the row's public project
}

var pmColumns = []pmCol{
	{name: "anonymous", kind: pmAnonymous},
	{name: "limited-guest", kind: pmMember, role: meta.RoleLimitedGuest},
	{name: "guest", kind: pmMember, role: meta.RoleGuest},
	{name: "developer", kind: pmMember, role: meta.RoleDeveloper},
	{name: "maintainer", kind: pmMember, role: meta.RoleMaintainer},
	{name: "project-admin", kind: pmMember, role: meta.RoleProjectAdmin},
	{name: "system-admin", kind: pmSysAdmin},
	{name: "non-member", kind: pmNonMember},
	{name: "project-robot", kind: pmProjectRobot},
	{name: "pull-robot", kind: pmPullRobot},
	{name: "system-robot", kind: pmSystemRobot},
	{name: "anonymous@public", kind: pmAnonymous, public: true},
	{name: "non-member@public", kind: pmNonMember, public: true},
}

var pmRoles = []int{meta.RoleLimitedGuest, meta.RoleGuest, meta.RoleDeveloper, meta.RoleMaintainer, meta.RoleProjectAdmin}

// Rows.

type pmRow struct {
	name string
	// roles are the project roles §d grants the capability to (system administrators hold
	// every capability).
	roles []int
	// public: §d's "P" column — anyone, anonymous included, may do it on a public project.
	public bool
	// perms are what a project robot needs for the capability ("resource:action"); the row's
	// system robot holds them on namespace "*".
	perms []string
	// sysPerms make a system-level row: its system robot holds these system permissions, its
	// project robot every project permission (which never reaches system level).
	sysPerms []string
	// allow overrides the default expectation (system-level rows).
	allow func(col pmCol) bool
	// fresh: the capability changes or deletes the project itself, so every cell gets a
	// project of its own.
	fresh     bool
	freshMeta map[string]string
	// serial: the row changes the system configuration; around sets it up and returns the
	// restoring function.
	serial bool
	around func(t *testing.T, e *pmEnv) func()
	run    func(t *testing.T, c *pmCell)
}

func (r *pmRow) system() bool { return len(r.sysPerms) > 0 }

// allows is the expected outcome of a cell.
func (r *pmRow) allows(col pmCol) bool {
	if r.allow != nil {
		return r.allow(col)
	}
	switch col.kind {
	case pmSysAdmin, pmProjectRobot, pmSystemRobot:
		return true
	case pmPullRobot:
		return slices.Equal(r.perms, []string{"repository:pull"})
	case pmMember:
		return slices.Contains(r.roles, col.role)
	}
	return col.public && r.public
}

var (
	pmAllRoles   = pmRoles
	pmWriters    = []int{meta.RoleDeveloper, meta.RoleMaintainer, meta.RoleProjectAdmin}
	pmDeleters   = []int{meta.RoleMaintainer, meta.RoleProjectAdmin}
	pmReaders    = []int{meta.RoleGuest, meta.RoleDeveloper, meta.RoleMaintainer, meta.RoleProjectAdmin}
	pmAdminsOnly = []int{meta.RoleProjectAdmin}
)

// pmSystemAdmins is the expectation of the system-level rows that only system administrators
// and the system robot holding the row's system permissions pass.
func pmSystemAdmins(col pmCol) bool { return col.kind == pmSysAdmin || col.kind == pmSystemRobot }

func pmRows() []*pmRow {
	return []*pmRow{
		// §d: pull; artifact/tag/accessory list & read — every role, and anyone on a public
		// project.
		{name: "pull", roles: pmAllRoles, public: true, perms: []string{"repository:pull"}, run: pmPull},
		{name: "artifact-list-read", roles: pmAllRoles, public: true, perms: []string{"artifact:list", "artifact:read"}, run: pmArtifactRead},
		{name: "tag-list", roles: pmAllRoles, public: true, perms: []string{"tag:list"}, run: pmTagList},
		{name: "accessory-list", roles: pmAllRoles, public: true, perms: []string{"accessory:list"}, run: pmAccessoryList},
		{name: "repository-list-read", roles: pmAllRoles, public: true, perms: []string{"repository:list", "repository:read"}, run: pmRepositoryRead},

		// §d: push; repo create/update; artifact copy; tag create; add/remove artifact labels.
		{name: "push", roles: pmWriters, perms: []string{"repository:push"}, run: pmPush},
		{name: "repository-update", roles: pmWriters, perms: []string{"repository:update"}, run: pmRepositoryUpdate},
		// Copying pulls the source and pushes the destination.
		{name: "artifact-copy", roles: pmWriters, perms: []string{"repository:pull", "repository:push"}, run: pmArtifactCopy},
		{name: "tag-create", roles: pmWriters, perms: []string{"tag:create"}, run: pmTagCreate},
		{name: "artifact-label-add-remove", roles: pmWriters, perms: []string{"artifact-label:create", "artifact-label:delete"}, run: pmArtifactLabels},

		// §d: start/stop scan and SBOM — maintainers and up; scan read — everyone.
		{name: "scan-start", roles: pmDeleters, perms: []string{"scan:create", "sbom:create"}, run: pmScanStart},
		{name: "scan-read", roles: pmAllRoles, public: true, perms: []string{"scan:read"}, run: pmScanRead},

		// §d: tag-retention CRUD/run — developers and up. A project holds one policy, so every
		// cell has a project of its own.
		{name: "tag-retention-crud-run", roles: pmWriters, fresh: true,
			perms: []string{"tag-retention:create", "tag-retention:read", "tag-retention:update", "tag-retention:delete", "tag-retention:list"},
			run:   pmRetention},

		// §d: delete artifact, tag, repository (incl. /v2/ manifest DELETE). /v2/ asks for
		// repository:delete; artifact:delete covers it (rbac.covers), so the artifact row's
		// robot deletes through both with artifact:delete alone, while the tag row's robot
		// needs tag:delete for the API and repository:delete for /v2/.
		{name: "artifact-delete", roles: pmDeleters, perms: []string{"artifact:delete"}, run: pmArtifactDelete},
		{name: "tag-delete", roles: pmDeleters, perms: []string{"tag:delete", "repository:delete"}, run: pmTagDelete},
		{name: "repository-delete", roles: pmDeleters, perms: []string{"repository:delete"}, run: pmRepositoryDelete},

		// §d: immutable rules; project label CRUD.
		{name: "immutable-rule-crud", roles: pmDeleters, perms: []string{"immutable-tag:list", "immutable-tag:create", "immutable-tag:update", "immutable-tag:delete"},
			run: pmImmutableRuleCRUD},
		{name: "project-label-crud", roles: pmDeleters, perms: []string{"label:create", "label:update", "label:delete"}, run: pmLabelCRUD},

		// §d: read members, robots, labels — guests and up; labels also anyone on a public
		// project.
		{name: "member-read", roles: pmReaders, perms: []string{"member:list", "member:read"}, run: pmMemberRead},
		{name: "robot-read", roles: pmReaders, perms: []string{"robot:list", "robot:read"}, run: pmRobotRead},
		{name: "label-read", roles: pmReaders, public: true, perms: []string{"label:list", "label:read"}, run: pmLabelRead},

		// §d: read webhooks, metadata — maintainers and project admins.
		{name: "metadata-read", roles: pmDeleters, perms: []string{"metadata:list", "metadata:read"}, run: pmMetadataRead},

		// §d: manage members, robots, webhooks, preheat, metadata; update/delete project;
		// project logs; pick scanner — project admins.
		{name: "member-manage", roles: pmAdminsOnly, perms: []string{"member:create", "member:update", "member:delete"}, run: pmMemberManage},
		// A robot never gets more than its creator holds: creating one that may pull needs
		// repository:pull besides robot:create.
		{name: "robot-manage", roles: pmAdminsOnly, perms: []string{"robot:create", "robot:delete", "repository:pull"}, run: pmRobotManage},
		{name: "metadata-manage", roles: pmAdminsOnly, perms: []string{"metadata:create", "metadata:update", "metadata:delete"},
			fresh: true, freshMeta: map[string]string{"severity": "low", "reuse_sys_cve_allowlist": "true"}, run: pmMetadataManage},
		{name: "project-update", roles: pmAdminsOnly, perms: []string{"project:update"}, fresh: true, run: pmProjectUpdate},
		{name: "project-delete", roles: pmAdminsOnly, perms: []string{"project:delete"}, fresh: true, run: pmProjectDelete},
		{name: "project-logs", roles: pmAdminsOnly, perms: []string{"log:list"}, run: pmProjectLogs},
		// Picking the project's scanner (and listing the candidates) changes the project's
		// choice, so every cell has a project of its own.
		{name: "scanner-pick", roles: pmAdminsOnly, perms: []string{"scanner:create"}, fresh: true, run: pmScannerPick},

		// §d: scanner read — every role, and anyone on a public project, except that Harbor's
		// handler wants a signed-in caller (RequireAuthenticated): anonymous callers get 401
		// even on a public project.
		{name: "scanner-read", perms: []string{"scanner:read"}, run: pmScannerRead, allow: func(col pmCol) bool {
			switch col.kind {
			case pmSysAdmin, pmProjectRobot, pmSystemRobot, pmMember:
				return true
			case pmNonMember:
				return col.public
			}
			return false
		}},

		// §d: project read, quota read — every role; on a public project anyone reads the
		// project, not its quota. The summary is a project read; its quota part needs
		// quota:read besides.
		{name: "project-read", roles: pmAllRoles, public: true, perms: []string{"project:read"}, run: pmProjectRead},
		{name: "quota-read", roles: pmAllRoles, perms: []string{"project:read", "quota:read"}, run: pmQuotaRead},

		// System level.
		{name: "project-create-everyone", sysPerms: []string{"project:create"}, run: pmProjectCreate,
			// project_creation_restriction "everyone": every signed-in user; robots only
			// system robots granted project:create (project robots never create projects).
			allow: func(col pmCol) bool {
				return col.kind != pmAnonymous && col.kind != pmProjectRobot && col.kind != pmPullRobot
			}},
		{name: "project-create-adminonly", sysPerms: []string{"project:create"}, run: pmProjectCreate, allow: pmSystemAdmins,
			serial: true, around: pmAdminOnly},
		// The catalog: whole for system administrators and robots granted catalog:read
		// (allowed cells), filtered to the projects others may see (see pmCatalog).
		{name: "catalog", sysPerms: []string{"catalog:read"}, run: pmCatalog, allow: pmSystemAdmins},
		{name: "user-management", sysPerms: []string{"user:list", "user:read"}, run: pmUsersRead, allow: pmSystemAdmins},
		// /audit-logs: everything for system administrators and robots granted audit-log:list;
		// users see the entries of projects whose logs they may read (project admins); robots
		// without the system permission see none (Harbor's ListAuditLogs).
		{name: "audit-logs", sysPerms: []string{"audit-log:list"}, run: pmAuditLogs,
			allow: func(col pmCol) bool { return pmSystemAdmins(col) || col.role == meta.RoleProjectAdmin }},
		// /auditlog-exts/events: those who may read the whole audit log (Harbor's
		// RequireSystemAccess).
		{name: "audit-log-event-types", sysPerms: []string{"audit-log:list"}, run: pmAuditLogEventTypes, allow: pmSystemAdmins},
		// The job service monitor: jobservice-monitor list to look, stop to act.
		{name: "jobservice-monitor-list", sysPerms: []string{"jobservice-monitor:list"}, run: pmJobServiceList, allow: pmSystemAdmins},
		{name: "jobservice-monitor-stop", sysPerms: []string{"jobservice-monitor:stop"}, run: pmJobServiceStop, allow: pmSystemAdmins},
		// Whether schedules are paused: anyone signed in (Harbor's RequireAuthenticated).
		{name: "schedules-paused", sysPerms: []string{"jobservice-monitor:list"}, run: pmSchedulesPaused,
			allow: func(col pmCol) bool { return col.kind != pmAnonymous }},
		{name: "quota-list", sysPerms: []string{"quota:list", "quota:read"}, run: pmQuotaList, allow: pmSystemAdmins},
		{name: "scanner-registrations", sysPerms: []string{"scanner:list", "scanner:read"}, run: pmScannerRegistrations, allow: pmSystemAdmins},
	}
}

// Principals, created once per server.

type pmUser struct {
	id   int64
	name string
	auth http.Header
}

type pmUsers struct {
	byRole    map[int]pmUser
	nonMember pmUser
	// hash is one password hash shared by the throwaway users rows create (member targets),
	// which never log in: hashing costs tens of milliseconds.
	hash string
}

func pmNewUsers(t *testing.T, ts *testServer) *pmUsers {
	t.Helper()
	u := &pmUsers{byRole: map[int]pmUser{}}
	for _, role := range pmRoles {
		id, name, h := ts.mrUser(t, "pm"+strings.ReplaceAll(strings.ToLower(meta.RoleNames[role]), " ", ""))
		u.byRole[role] = pmUser{id, name, h}
	}
	id, name, h := ts.mrUser(t, "pmoutsider")
	u.nonMember = pmUser{id, name, h}
	var err error
	if u.hash, err = auth.HashPassword("Throwaway1" + uniqueSuffix()); err != nil {
		t.Fatal(err)
	}
	return u
}

// throwawayUser creates a user that never logs in and returns its id and name.
func (e *pmEnv) throwawayUser(t *testing.T, prefix string) (int64, string) {
	t.Helper()
	name := prefix + uniqueSuffix()
	id, err := e.ts.srv.db.CreateUser(context.Background(), meta.User{Username: name, PasswordHash: e.users.hash})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return id, name
}

// Fixtures of a row: its projects, robots and content, created as the system administrator.
// A row's cells run one after another, so the row's fixtures need no locking.

type pmImage struct {
	repo, tag, digest, config string
}

type pmProject struct {
	name    string
	id      int64
	public  bool
	members map[int]int64 // role → member id
	robots  map[string]robotCreated
	image   *pmImage // read-only content shared by the row's cells
	labels  []int64  // two project labels
}

type pmEnv struct {
	ts        *testServer
	users     *pmUsers
	row       *pmRow
	priv, pub *pmProject
	hidden    *pmProject // a private project nobody but administrators sees (catalog)
	sysRobot  *robotCreated
}

// newProject creates a project as admin with the five role users as members.
func (e *pmEnv) newProject(t *testing.T, public bool, md map[string]string) *pmProject {
	t.Helper()
	p := &pmProject{name: "pm" + uniqueSuffix(), public: public, members: map[int]int64{}, robots: map[string]robotCreated{}}
	metadata := map[string]string{"public": strconv.FormatBool(public)}
	for k, v := range md {
		metadata[k] = v
	}
	resp := e.ts.mrJSON(t, http.MethodPost, apiBase+"/projects", nil, map[string]any{"project_name": p.name, "metadata": metadata})
	expectStatus(t, resp, http.StatusCreated)
	p.id = mrLocationID(t, resp)
	return p
}

func (e *pmEnv) withMembers(t *testing.T, p *pmProject) *pmProject {
	t.Helper()
	for _, role := range pmRoles {
		p.members[role] = e.ts.mrAddUser(t, p.name, e.users.byRole[role].name, role)
	}
	return p
}

func (e *pmEnv) privateProject(t *testing.T) *pmProject {
	if e.priv == nil {
		e.priv = e.withMembers(t, e.newProject(t, false, nil))
	}
	return e.priv
}

func (e *pmEnv) publicProject(t *testing.T) *pmProject {
	if e.pub == nil {
		e.pub = e.withMembers(t, e.newProject(t, true, nil))
	}
	return e.pub
}

// projectRobot returns the project robot of the key ("exact", "pull"), creating it with the
// permissions in the project.
func (e *pmEnv) projectRobot(t *testing.T, p *pmProject, key string, perms []string) robotCreated {
	t.Helper()
	if r, ok := p.robots[key]; ok {
		return r
	}
	r := e.ts.mrRobot(t, nil, projectRobot(key+uniqueSuffix(), p.name, -1, perms...))
	p.robots[key] = r
	return r
}

// robotPerms is what the row's project robot holds: the row's permissions, or for a
// system-level row every permission a project robot may hold.
func (e *pmEnv) robotPerms() []string {
	if !e.row.system() {
		return e.row.perms
	}
	var out []string
	for _, p := range rbac.GrantablePermissions(meta.RobotKindProject) {
		out = append(out, string(p.Resource)+":"+string(p.Action))
	}
	return out
}

// systemRobot returns the row's system robot: the row's permissions on every project, or its
// system permissions for a system-level row.
func (e *pmEnv) systemRobot(t *testing.T) robotCreated {
	t.Helper()
	if e.sysRobot == nil {
		perm := robotPermission{Kind: "project", Namespace: "*", Access: access(e.row.perms...)}
		if e.row.system() {
			perm = robotPermission{Kind: "system", Namespace: "/", Access: access(e.row.sysPerms...)}
		}
		r := e.ts.mrRobot(t, nil, map[string]any{"name": "pmsys" + uniqueSuffix(), "level": "system", "duration": -1,
			"permissions": []robotPermission{perm}})
		e.sysRobot = &r
	}
	return *e.sysRobot
}

// pushImage pushes a fresh image to repo:tag as admin.
func (e *pmEnv) pushImage(t *testing.T, repo, tag string) pmImage {
	t.Helper()
	body, digest := e.ts.pushImage(t, repo, tag, mtOCIManifest)
	var m tManifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return pmImage{repo: repo, tag: tag, digest: digest, config: m.Config.Digest}
}

// The cell: one principal, one capability.

type pmCell struct {
	*pmEnv
	col     pmCol
	p       *pmProject
	allowed bool
	auth    http.Header // the principal's credentials; anonymous() for none
}

func (e *pmEnv) cell(t *testing.T, col pmCol) *pmCell {
	t.Helper()
	c := &pmCell{pmEnv: e, col: col, allowed: e.row.allows(col)}
	switch {
	case e.row.fresh:
		c.p = e.withMembers(t, e.newProject(t, col.public, e.row.freshMeta))
	case col.public:
		c.p = e.publicProject(t)
	default:
		c.p = e.privateProject(t)
	}
	switch col.kind {
	case pmAnonymous:
		c.auth = anonymous()
	case pmMember:
		c.auth = e.users.byRole[col.role].auth
	case pmSysAdmin:
		c.auth = basicAuth(adminUser, adminPassword)
	case pmNonMember:
		c.auth = e.users.nonMember.auth
	case pmProjectRobot:
		r := e.projectRobot(t, c.p, "exact", e.robotPerms())
		c.auth = basicAuth(r.Name, r.Secret)
	case pmPullRobot:
		r := e.projectRobot(t, c.p, "pull", []string{"repository:pull"})
		c.auth = basicAuth(r.Name, r.Secret)
	case pmSystemRobot:
		r := e.systemRobot(t)
		c.auth = basicAuth(r.Name, r.Secret)
	}
	return c
}

// sees reports whether the principal sees the cell's project at all.
func (c *pmCell) sees() bool {
	return c.p.public || (c.col.kind != pmAnonymous && c.col.kind != pmNonMember)
}

// denial is how a refusal looks on the API (see the comment of TestPermissionMatrix). System
// level capabilities have no project to hide: 403 for everyone signed in.
func (c *pmCell) denial() (int, string) {
	switch {
	case c.col.kind == pmAnonymous:
		return http.StatusUnauthorized, "UNAUTHORIZED"
	case !c.sees() && !c.row.system():
		return http.StatusNotFound, "NOT_FOUND"
	}
	return http.StatusForbidden, "FORBIDDEN"
}

// v2Denial is how a refusal looks on /v2/.
func (c *pmCell) v2Denial() (int, string) {
	switch {
	case c.col.kind == pmAnonymous:
		return http.StatusUnauthorized, "UNAUTHORIZED"
	case !c.sees():
		return http.StatusNotFound, "NAME_UNKNOWN"
	}
	return http.StatusForbidden, "DENIED"
}

// send sends an API request as the principal; body is JSON-encoded unless nil.
func (c *pmCell) send(t *testing.T, method, path string, body any) *http.Response {
	t.Helper()
	if body == nil {
		return c.ts.do(t, method, path, c.auth, nil)
	}
	return c.ts.mrJSON(t, method, path, c.auth, body)
}

// api sends an API request as the principal and checks the answer: okStatus in an allowed
// cell, the principal's denial otherwise.
func (c *pmCell) api(t *testing.T, method, path string, body any, okStatus int) *http.Response {
	t.Helper()
	resp := c.send(t, method, path, body)
	if c.allowed {
		if resp.StatusCode != okStatus {
			t.Errorf("%s %s: status %d, want %d (allowed); body %.300s", method, path, resp.StatusCode, okStatus, respBody(t, resp))
		}
		return resp
	}
	status, code := c.denial()
	assertOCIError(t, resp, status, code)
	return resp
}

// admin sends an API request as the system administrator (fixtures and effect checks).
func (c *pmCell) admin(t *testing.T, method, path string, body any) *http.Response {
	t.Helper()
	return c.ts.mrJSON(t, method, path, nil, body)
}

// adminStatus checks the status of an administrator's request: want when the cell is allowed,
// else wantDenied — how the effect of an allowed call, and the absence of any effect of a
// denied one, are observed.
func (c *pmCell) adminStatus(t *testing.T, method, path string, want, wantDenied int) {
	t.Helper()
	if !c.allowed {
		want = wantDenied
	}
	if resp := c.admin(t, method, path, nil); resp.StatusCode != want {
		t.Errorf("after the %s call: admin %s %s: status %d, want %d", c.verdict(), method, path, resp.StatusCode, want)
	}
}

func (c *pmCell) verdict() string {
	if c.allowed {
		return "allowed"
	}
	return "denied"
}

var pmV2RepoRE = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs|tags)/`)

// v2Scope is the token scope a /v2/ request needs.
func v2Scope(method, path string) string {
	p, _, _ := strings.Cut(path, "?")
	m := pmV2RepoRE.FindStringSubmatch(p)
	if m == nil {
		panic("no repository in " + path)
	}
	action := "pull,push"
	switch method {
	case http.MethodGet, http.MethodHead:
		action = "pull"
	case http.MethodDelete:
		action = "delete"
	}
	return "repository:" + m[1] + ":" + action
}

// v2 sends a /v2/ request the way registry clients do: a token for the scope from
// /service/token with the principal's credentials (none for anonymous), then the request with
// it. An anonymous request is first sent without any credentials: Harbor always challenges
// those, public repository or not.
func (c *pmCell) v2(t *testing.T, method, path, contentType string, body []byte, okStatus int) *http.Response {
	t.Helper()
	creds := c.auth
	if c.col.kind == pmAnonymous {
		resp := c.ts.do(t, method, path, hdr(anonymous(), "Content-Type", contentType), body)
		assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s %s without credentials: WWW-Authenticate %q, want a Bearer challenge", method, path, resp.Header.Get("WWW-Authenticate"))
		}
	}
	tok := c.ts.token(t, creds, v2Scope(method, path))
	return c.v2check(t, c.ts.do(t, method, path, hdr(bearer(tok), "Content-Type", contentType), body), okStatus)
}

// v2basic sends a /v2/ request with Basic credentials (anonymous: the token flow, as v2).
func (c *pmCell) v2basic(t *testing.T, method, path, contentType string, body []byte, okStatus int) *http.Response {
	t.Helper()
	if c.col.kind == pmAnonymous {
		return c.v2(t, method, path, contentType, body, okStatus)
	}
	return c.v2check(t, c.ts.do(t, method, path, hdr(c.auth, "Content-Type", contentType), body), okStatus)
}

func (c *pmCell) v2check(t *testing.T, resp *http.Response, okStatus int) *http.Response {
	t.Helper()
	if c.allowed {
		if resp.StatusCode != okStatus {
			t.Errorf("%s %s: status %d, want %d (allowed); body %.300s", resp.Request.Method, resp.Request.URL.Opaque, resp.StatusCode, okStatus, respBody(t, resp))
		}
		return resp
	}
	status, code := c.v2Denial()
	assertOCIError(t, resp, status, code)
	return resp
}

// Content of the cell's project.

// shared is the row's read-only image in the cell's project.
func (c *pmCell) shared(t *testing.T) pmImage {
	t.Helper()
	if c.p.image == nil {
		img := c.pushImage(t, c.p.name+"/shared-"+uniqueSuffix(), "v1")
		c.p.image = &img
	}
	return *c.p.image
}

// fresh pushes an image of the cell's own to a new repository of the cell's project.
func (c *pmCell) fresh(t *testing.T) pmImage {
	t.Helper()
	return c.pushImage(t, c.p.name+"/app-"+uniqueSuffix(), "v1")
}

// projectLabels returns two project labels of the cell's project.
func (c *pmCell) projectLabels(t *testing.T) []int64 {
	t.Helper()
	for len(c.p.labels) < 2 {
		c.p.labels = append(c.p.labels, labelCreate(t, c.ts, nil, map[string]any{"name": "pml" + uniqueSuffix(), "scope": "p", "project_id": c.p.id}))
	}
	return c.p.labels
}

func apiRepo(repo string) string {
	project, rest, _ := strings.Cut(repo, "/")
	return apiBase + "/projects/" + project + "/repositories/" + enc2(rest)
}

func apiArtifact(repo, ref string) string { return apiRepo(repo) + "/artifacts/" + ref }

func (c *pmCell) apiProject() string { return apiBase + "/projects/" + c.p.name }

func pmDecode[T any](t *testing.T, resp *http.Response) (T, bool) {
	t.Helper()
	var v T
	if err := json.Unmarshal(respBody(t, resp), &v); err != nil {
		t.Errorf("%s %s: decode %T: %v; body %.300s", resp.Request.Method, resp.Request.URL.Opaque, v, err, respBody(t, resp))
		return v, false
	}
	return v, true
}

// Rows: pull; artifact/tag/accessory list & read.

func pmPull(t *testing.T, c *pmCell) {
	img := c.shared(t)
	c.v2(t, http.MethodGet, "/v2/"+img.repo+"/manifests/"+img.tag, "", nil, http.StatusOK)
	c.v2(t, http.MethodHead, "/v2/"+img.repo+"/manifests/"+img.digest, "", nil, http.StatusOK)
	c.v2(t, http.MethodGet, "/v2/"+img.repo+"/blobs/"+img.config, "", nil, http.StatusOK)
	resp := c.v2(t, http.MethodGet, "/v2/"+img.repo+"/tags/list", "", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if tl, ok := pmDecode[struct{ Tags []string }](t, resp); ok && !slices.Contains(tl.Tags, img.tag) {
			t.Errorf("tags/list %v lacks %s", tl.Tags, img.tag)
		}
	}
	c.v2basic(t, http.MethodGet, "/v2/"+img.repo+"/manifests/"+img.digest, "", nil, http.StatusOK)
}

func pmArtifactRead(t *testing.T, c *pmCell) {
	img := c.shared(t)
	for _, path := range []string{apiRepo(img.repo) + "/artifacts", c.apiProject() + "/artifacts"} {
		resp := c.api(t, http.MethodGet, path, nil, http.StatusOK)
		if c.allowed && resp.StatusCode == http.StatusOK {
			arts, _ := pmDecode[[]tArtifact](t, resp)
			if !slices.ContainsFunc(arts, func(a tArtifact) bool { return a.Digest == img.digest }) {
				t.Errorf("GET %s does not list %s", path, img.digest)
			}
		}
	}
	resp := c.api(t, http.MethodGet, apiArtifact(img.repo, img.digest), nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if a, _ := pmDecode[tArtifact](t, resp); a.Digest != img.digest {
			t.Errorf("artifact %s answered as %s", img.digest, a.Digest)
		}
	}
}

func pmTagList(t *testing.T, c *pmCell) {
	img := c.shared(t)
	resp := c.api(t, http.MethodGet, apiArtifact(img.repo, img.digest)+"/tags", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		tags, _ := pmDecode[[]tTag](t, resp)
		if !slices.ContainsFunc(tags, func(tg tTag) bool { return tg.Name == img.tag }) {
			t.Errorf("tags %+v lack %s", tags, img.tag)
		}
	}
}

func pmAccessoryList(t *testing.T, c *pmCell) {
	img := c.shared(t)
	c.api(t, http.MethodGet, apiArtifact(img.repo, img.digest)+"/accessories", nil, http.StatusOK)
}

func pmRepositoryRead(t *testing.T, c *pmCell) {
	img := c.shared(t)
	resp := c.api(t, http.MethodGet, c.apiProject()+"/repositories?page_size=100", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		repos, _ := pmDecode[[]struct{ Name string }](t, resp)
		if !slices.ContainsFunc(repos, func(r struct{ Name string }) bool { return r.Name == img.repo }) {
			t.Errorf("repositories %+v lack %s", repos, img.repo)
		}
	}
	c.api(t, http.MethodGet, apiRepo(img.repo), nil, http.StatusOK)
}

// Rows: push; repository update; artifact copy; tag create; artifact labels.

func pmPush(t *testing.T, c *pmCell) {
	for _, flow := range []string{"token", "basic"} {
		send := c.v2
		if flow == "basic" {
			send = c.v2basic
		}
		repo := c.p.name + "/pushed-" + uniqueSuffix()
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"` + uniqueSuffix() + `"}`)
		layer := randomBytes(64)
		for _, b := range [][]byte{cfg, layer} {
			send(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sha256Digest(b), octet, b, http.StatusCreated)
		}
		m := mustJSON(t, tManifest{
			SchemaVersion: 2, MediaType: mtOCIManifest,
			Config: &tDescriptor{MediaType: mtOCIConfig, Digest: sha256Digest(cfg), Size: int64(len(cfg))},
			Layers: []tDescriptor{{MediaType: mtOCILayer, Digest: sha256Digest(layer), Size: int64(len(layer))}},
		})
		send(t, http.MethodPut, "/v2/"+repo+"/manifests/v1", mtOCIManifest, m, http.StatusCreated)
		// Pushed, the image pulls and the repository exists; refused, neither.
		c.adminStatus(t, http.MethodGet, "/v2/"+repo+"/manifests/v1", http.StatusOK, http.StatusNotFound)
		c.adminStatus(t, http.MethodGet, apiRepo(repo), http.StatusOK, http.StatusNotFound)
	}
}

func pmRepositoryUpdate(t *testing.T, c *pmCell) {
	img := c.fresh(t)
	desc := "described by " + c.col.name
	c.api(t, http.MethodPut, apiRepo(img.repo), map[string]any{"description": desc}, http.StatusOK)
	want := desc
	if !c.allowed {
		want = ""
	}
	if r, _ := pmDecode[struct{ Description string }](t, c.admin(t, http.MethodGet, apiRepo(img.repo), nil)); r.Description != want {
		t.Errorf("after the %s update the description is %q, want %q", c.verdict(), r.Description, want)
	}
}

func pmArtifactCopy(t *testing.T, c *pmCell) {
	img := c.shared(t)
	dst := c.p.name + "/copied-" + uniqueSuffix()
	c.api(t, http.MethodPost, apiRepo(dst)+"/artifacts?from="+url.QueryEscape(img.repo+"@"+img.digest), nil, http.StatusCreated)
	c.adminStatus(t, http.MethodGet, "/v2/"+dst+"/manifests/"+img.digest, http.StatusOK, http.StatusNotFound)
}

// pmScanStart asks for a vulnerability scan and an SBOM of a fresh image: a report exists
// afterwards exactly when the cell may scan.
func pmScanStart(t *testing.T, c *pmCell) {
	img := c.fresh(t)
	art := apiArtifact(img.repo, img.digest)
	c.api(t, http.MethodPost, art+"/scan", nil, http.StatusAccepted)
	c.api(t, http.MethodPost, art+"/scan", map[string]string{"scan_type": "sbom"}, http.StatusAccepted)
	var a struct {
		ScanOverview map[string]any `json:"scan_overview"`
		SBOMOverview map[string]any `json:"sbom_overview"`
	}
	a, _ = pmDecode[struct {
		ScanOverview map[string]any `json:"scan_overview"`
		SBOMOverview map[string]any `json:"sbom_overview"`
	}](t, c.admin(t, http.MethodGet, art+"?with_scan_overview=true&with_sbom_overview=true", nil))
	if (len(a.ScanOverview) > 0) != c.allowed || (len(a.SBOMOverview) > 0) != c.allowed {
		t.Errorf("after the %s scan requests the artifact shows %+v", c.verdict(), a)
	}
}

// pmScanRead reads the log of a scan the administrator started.
func pmScanRead(t *testing.T, c *pmCell) {
	img := c.shared(t)
	art := apiArtifact(img.repo, img.digest)
	expectStatus(t, c.admin(t, http.MethodPost, art+"/scan", nil), http.StatusAccepted)
	a, _ := pmDecode[struct {
		ScanOverview map[string]struct {
			ReportID string `json:"report_id"`
		} `json:"scan_overview"`
	}](t, c.admin(t, http.MethodGet, art+"?with_scan_overview=true", nil))
	for _, o := range a.ScanOverview {
		c.api(t, http.MethodGet, art+"/scan/"+o.ReportID+"/log", nil, http.StatusOK)
		return
	}
	t.Fatal("no scan report")
}

func pmTagCreate(t *testing.T, c *pmCell) {
	img := c.shared(t)
	tag := "t" + uniqueSuffix()
	c.api(t, http.MethodPost, apiArtifact(img.repo, img.digest)+"/tags", map[string]any{"name": tag}, http.StatusCreated)
	c.adminStatus(t, http.MethodGet, "/v2/"+img.repo+"/manifests/"+tag, http.StatusOK, http.StatusNotFound)
}

func pmArtifactLabels(t *testing.T, c *pmCell) {
	img := c.fresh(t)
	labels := c.projectLabels(t)
	add, remove := labels[0], labels[1]
	art := apiArtifact(img.repo, img.digest)
	expectStatus(t, c.admin(t, http.MethodPost, art+"/labels", map[string]any{"id": remove}), http.StatusOK)
	c.api(t, http.MethodPost, art+"/labels", map[string]any{"id": add}, http.StatusOK)
	c.api(t, http.MethodDelete, art+"/labels/"+strconv.FormatInt(remove, 10), nil, http.StatusOK)
	want := []int64{add}
	if !c.allowed {
		want = []int64{remove}
	}
	a, _ := pmDecode[tArtifact](t, c.admin(t, http.MethodGet, art+"?with_label=true", nil))
	var got []int64
	if a.Labels != nil {
		for _, l := range *a.Labels {
			got = append(got, l.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("after the %s label changes the artifact has labels %v, want %v", c.verdict(), got, want)
	}
}

// Rows: delete artifact, tag, repository.

func pmArtifactDelete(t *testing.T, c *pmCell) {
	viaAPI := c.fresh(t)
	viaV2 := c.pushImage(t, viaAPI.repo, "v2")
	c.api(t, http.MethodDelete, apiArtifact(viaAPI.repo, viaAPI.digest), nil, http.StatusOK)
	c.v2(t, http.MethodDelete, "/v2/"+viaV2.repo+"/manifests/"+viaV2.digest, "", nil, http.StatusAccepted)
	for _, img := range []pmImage{viaAPI, viaV2} {
		c.adminStatus(t, http.MethodGet, "/v2/"+img.repo+"/manifests/"+img.digest, http.StatusNotFound, http.StatusOK)
	}
}

func pmTagDelete(t *testing.T, c *pmCell) {
	img := c.fresh(t)
	expectStatus(t, c.admin(t, http.MethodPost, apiArtifact(img.repo, img.digest)+"/tags", map[string]any{"name": "v2"}), http.StatusCreated)
	c.api(t, http.MethodDelete, apiArtifact(img.repo, img.digest)+"/tags/v1", nil, http.StatusOK)
	c.v2basic(t, http.MethodDelete, "/v2/"+img.repo+"/manifests/v2", "", nil, http.StatusAccepted)
	for _, tag := range []string{"v1", "v2"} {
		c.adminStatus(t, http.MethodGet, "/v2/"+img.repo+"/manifests/"+tag, http.StatusNotFound, http.StatusOK)
	}
	// Deleting tags leaves the artifact.
	expectStatus(t, c.admin(t, http.MethodGet, "/v2/"+img.repo+"/manifests/"+img.digest, nil), http.StatusOK)
}

func pmRepositoryDelete(t *testing.T, c *pmCell) {
	img := c.fresh(t)
	c.api(t, http.MethodDelete, apiRepo(img.repo), nil, http.StatusOK)
	c.adminStatus(t, http.MethodGet, apiRepo(img.repo), http.StatusNotFound, http.StatusOK)
	c.adminStatus(t, http.MethodGet, "/v2/"+img.repo+"/manifests/"+img.digest, http.StatusNotFound, http.StatusOK)
}

// Row: project label CRUD.

func pmLabelCRUD(t *testing.T, c *pmCell) {
	u := uniqueSuffix()
	fixed := labelCreate(t, c.ts, nil, map[string]any{"name": "fix" + u, "scope": "p", "project_id": c.p.id})
	one := apiBase + "/labels/" + strconv.FormatInt(fixed, 10)

	// The project is named in the body here, not in the path: for a principal who cannot see
	// the project, the project id is as unknown as one that does not exist, which is a bad
	// request ("invalid project ID"), not a missing resource.
	resp := c.send(t, http.MethodPost, apiBase+"/labels", map[string]any{"name": "new" + u, "scope": "p", "project_id": c.p.id})
	switch status, code := c.denial(); {
	case c.allowed:
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("POST /labels: status %d, want 201 (allowed); body %.300s", resp.StatusCode, respBody(t, resp))
		}
	case status == http.StatusNotFound:
		assertOCIError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
	default:
		assertOCIError(t, resp, status, code)
	}

	c.api(t, http.MethodPut, one, map[string]any{"name": "ren" + u, "scope": "p", "project_id": c.p.id}, http.StatusOK)
	want := "ren" + u
	if !c.allowed {
		want = "fix" + u
	}
	if l, _ := pmDecode[tLabel](t, c.admin(t, http.MethodGet, one, nil)); l.Name != want {
		t.Errorf("after the %s update the label is named %q, want %q", c.verdict(), l.Name, want)
	}
	c.api(t, http.MethodDelete, one, nil, http.StatusOK)
	c.adminStatus(t, http.MethodGet, one, http.StatusNotFound, http.StatusOK)

	ls, _ := pmDecode[[]tLabel](t, c.admin(t, http.MethodGet, fmt.Sprintf("%s/labels?scope=p&project_id=%d&name=new%s", apiBase, c.p.id, u), nil))
	if created := len(ls) == 1; created != c.allowed {
		t.Errorf("after the %s creation the project's labels named new%s are %+v", c.verdict(), u, ls)
	}
}

// pmImmutableRuleCRUD lists, creates, disables and deletes immutability rules of the project.
// The cell removes what it leaves behind (a project holds at most 15 rules).
func pmImmutableRuleCRUD(t *testing.T, c *pmCell) {
	rules := c.apiProject() + "/immutabletagrules"
	u := uniqueSuffix()
	resp := c.admin(t, http.MethodPost, rules, immRule("fix"+u, "**"))
	expectStatus(t, resp, http.StatusCreated)
	fixed := rules + "/" + strconv.FormatInt(mrLocationID(t, resp), 10)

	c.api(t, http.MethodGet, rules, nil, http.StatusOK)
	c.api(t, http.MethodPost, rules, immRule("new"+u, "**"), http.StatusCreated)
	c.api(t, http.MethodPut, fixed, map[string]bool{"disabled": true}, http.StatusOK)

	all, _ := pmDecode[[]tImmutableRule](t, c.admin(t, http.MethodGet, rules+"?page_size=100", nil))
	var fix, created *tImmutableRule
	for i, r := range all {
		switch r.TagSelectors[0].Pattern {
		case "fix" + u:
			fix = &all[i]
		case "new" + u:
			created = &all[i]
		}
	}
	if fix == nil || fix.Disabled != c.allowed {
		t.Errorf("after the %s update the fixed rule is %+v", c.verdict(), fix)
	}
	if (created != nil) != c.allowed {
		t.Errorf("after the %s creation the new rule is %+v", c.verdict(), created)
	}
	c.api(t, http.MethodDelete, fixed, nil, http.StatusOK)
	c.adminStatus(t, http.MethodDelete, fixed, http.StatusNotFound, http.StatusOK)
	if created != nil {
		expectStatus(t, c.admin(t, http.MethodDelete, rules+"/"+strconv.FormatInt(created.ID, 10), nil), http.StatusOK)
	}
}

// pmRetention creates, reads, updates, runs, stops and deletes the project's retention policy.
func pmRetention(t *testing.T, c *pmCell) {
	pol := retPolicy(c.p.id, "", retRule("latestPushedK", 5, "**", "**"))
	resp := c.api(t, http.MethodPost, apiBase+"/retentions", pol, http.StatusCreated)
	if !c.allowed || resp.StatusCode != http.StatusCreated {
		resp = c.admin(t, http.MethodPost, apiBase+"/retentions", pol)
		expectStatus(t, resp, http.StatusCreated)
	}
	path := apiBase + "/retentions/" + strconv.FormatInt(mrLocationID(t, resp), 10)
	c.api(t, http.MethodGet, path, nil, http.StatusOK)
	c.api(t, http.MethodPut, path, retPolicy(c.p.id, "", retRule("latestPushedK", 3, "**", "**")), http.StatusOK)
	if got, _ := pmDecode[retentionPolicyParams](t, c.admin(t, http.MethodGet, path, nil)); (got.Rules[0].Params["latestPushedK"] == 3) != c.allowed {
		t.Errorf("after the %s update the policy is %+v", c.verdict(), got)
	}
	c.api(t, http.MethodPost, path+"/executions", map[string]bool{"dry_run": true}, http.StatusCreated)
	execs, _ := pmDecode[[]tRetExecution](t, c.admin(t, http.MethodGet, path+"/executions", nil))
	if (len(execs) == 1) != c.allowed {
		t.Errorf("after the %s run the policy has %d executions", c.verdict(), len(execs))
	}
	if len(execs) == 0 {
		resp = c.admin(t, http.MethodPost, path+"/executions", map[string]bool{"dry_run": true})
		expectStatus(t, resp, http.StatusCreated)
		execs = []tRetExecution{{ID: mrLocationID(t, resp)}}
	}
	exec := path + "/executions/" + strconv.FormatInt(execs[0].ID, 10)
	c.api(t, http.MethodGet, path+"/executions", nil, http.StatusOK)
	c.api(t, http.MethodGet, exec+"/tasks", nil, http.StatusOK)
	c.api(t, http.MethodPatch, exec, map[string]string{"action": "stop"}, http.StatusOK)
	c.api(t, http.MethodDelete, path, nil, http.StatusOK)
	c.adminStatus(t, http.MethodGet, path, http.StatusNotFound, http.StatusOK)
}

type retentionPolicyParams struct {
	Rules []struct {
		Params map[string]float64 `json:"params"`
	} `json:"rules"`
}

// Rows: read members, robots, labels; read metadata.

func pmMemberRead(t *testing.T, c *pmCell) {
	resp := c.api(t, http.MethodGet, c.apiProject()+"/members", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if ms, _ := pmDecode[[]memberEntity](t, resp); len(ms) < len(pmRoles) {
			t.Errorf("members: %+v", ms)
		}
	}
	c.api(t, http.MethodGet, c.apiProject()+"/members/"+strconv.FormatInt(c.p.members[meta.RoleGuest], 10), nil, http.StatusOK)
}

func pmRobotRead(t *testing.T, c *pmCell) {
	subject := c.projectRobot(t, c.p, "pull", []string{"repository:pull"})
	resp := c.api(t, http.MethodGet, fmt.Sprintf("%s/robots?q=Level%%3Dproject,ProjectID%%3D%d&page_size=100", apiBase, c.p.id), nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		rs, _ := pmDecode[[]robotAccount](t, resp)
		if !slices.ContainsFunc(rs, func(r robotAccount) bool { return r.ID == subject.ID }) {
			t.Errorf("project robots %+v lack %s", rs, subject.Name)
		}
	}
	c.api(t, http.MethodGet, apiBase+"/robots/"+strconv.FormatInt(subject.ID, 10), nil, http.StatusOK)
}

func pmLabelRead(t *testing.T, c *pmCell) {
	labels := c.projectLabels(t)
	resp := c.api(t, http.MethodGet, fmt.Sprintf("%s/labels?scope=p&project_id=%d", apiBase, c.p.id), nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if ls, _ := pmDecode[[]tLabel](t, resp); len(ls) != len(labels) {
			t.Errorf("project labels %+v, want ids %v", ls, labels)
		}
	}
	c.api(t, http.MethodGet, apiBase+"/labels/"+strconv.FormatInt(labels[0], 10), nil, http.StatusOK)
}

func pmMetadataRead(t *testing.T, c *pmCell) {
	c.api(t, http.MethodGet, c.apiProject()+"/metadatas/", nil, http.StatusOK)
	resp := c.api(t, http.MethodGet, c.apiProject()+"/metadatas/public", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if md, _ := pmDecode[map[string]string](t, resp); md["public"] != strconv.FormatBool(c.p.public) {
			t.Errorf("metadata public: %v", md)
		}
	}
}

// Rows: manage members, robots, metadata; update and delete the project; project logs.

func pmMemberManage(t *testing.T, c *pmCell) {
	_, target := c.throwawayUser(t, "pmtarget")
	_, newbie := c.throwawayUser(t, "pmnewbie")
	mid := c.ts.mrAddUser(t, c.p.name, target, meta.RoleGuest)
	one := c.apiProject() + "/members/" + strconv.FormatInt(mid, 10)

	c.api(t, http.MethodPost, c.apiProject()+"/members", map[string]any{"role_id": meta.RoleDeveloper, "member_user": map[string]any{"username": newbie}}, http.StatusCreated)
	c.api(t, http.MethodPut, one, map[string]any{"role_id": meta.RoleDeveloper}, http.StatusOK)
	wantRole := meta.RoleDeveloper
	if !c.allowed {
		wantRole = meta.RoleGuest
	}
	if m, _ := pmDecode[memberEntity](t, c.admin(t, http.MethodGet, one, nil)); m.RoleID != wantRole {
		t.Errorf("after the %s update the member's role is %d, want %d", c.verdict(), m.RoleID, wantRole)
	}
	c.api(t, http.MethodDelete, one, nil, http.StatusOK)
	c.adminStatus(t, http.MethodGet, one, http.StatusNotFound, http.StatusOK)
	ms, _ := pmDecode[[]memberEntity](t, c.admin(t, http.MethodGet, c.apiProject()+"/members?entityname="+newbie, nil))
	if added := len(ms) == 1; added != c.allowed {
		t.Errorf("after the %s addition the members named %s are %+v", c.verdict(), newbie, ms)
	}
}

func pmRobotManage(t *testing.T, c *pmCell) {
	victim := c.ts.mrRobot(t, nil, projectRobot("victim"+uniqueSuffix(), c.p.name, -1, "repository:pull"))
	name := "made" + uniqueSuffix()
	c.api(t, http.MethodPost, apiBase+"/robots", projectRobot(name, c.p.name, 1, "repository:pull"), http.StatusCreated)
	c.api(t, http.MethodDelete, apiBase+"/robots/"+strconv.FormatInt(victim.ID, 10), nil, http.StatusOK)
	c.adminStatus(t, http.MethodGet, apiBase+"/robots/"+strconv.FormatInt(victim.ID, 10), http.StatusNotFound, http.StatusOK)
	rs, _ := pmDecode[[]robotAccount](t, c.admin(t, http.MethodGet, fmt.Sprintf("%s/robots?q=Level%%3Dproject,ProjectID%%3D%d&page_size=100", apiBase, c.p.id), nil))
	made := slices.ContainsFunc(rs, func(r robotAccount) bool { return r.Name == "robot$"+c.p.name+"+"+name })
	if made != c.allowed {
		t.Errorf("after the %s creation robot %s exists: %v", c.verdict(), name, made)
	}
}

func pmMetadataManage(t *testing.T, c *pmCell) {
	md := c.apiProject() + "/metadatas/"
	c.api(t, http.MethodPost, md, map[string]string{"auto_scan": "true"}, http.StatusOK)
	c.api(t, http.MethodPut, md+"severity", map[string]string{"severity": "high"}, http.StatusOK)
	c.api(t, http.MethodDelete, md+"reuse_sys_cve_allowlist", nil, http.StatusOK)
	want := map[string]string{"public": strconv.FormatBool(c.p.public), "auto_scan": "true", "severity": "high"}
	if !c.allowed {
		want = map[string]string{"public": strconv.FormatBool(c.p.public), "severity": "low", "reuse_sys_cve_allowlist": "true"}
	}
	got, _ := pmDecode[map[string]string](t, c.admin(t, http.MethodGet, md, nil))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the %s metadata changes the metadata is %v, want %v", c.verdict(), got, want)
	}
}

func pmProjectUpdate(t *testing.T, c *pmCell) {
	c.api(t, http.MethodPut, c.apiProject(), map[string]any{"metadata": map[string]string{"auto_scan": "true"}}, http.StatusOK)
	p, _ := pmDecode[struct{ Metadata map[string]string }](t, c.admin(t, http.MethodGet, c.apiProject(), nil))
	if updated := p.Metadata["auto_scan"] == "true"; updated != c.allowed {
		t.Errorf("after the %s update the project's metadata is %v", c.verdict(), p.Metadata)
	}
}

func pmProjectDelete(t *testing.T, c *pmCell) {
	resp := c.api(t, http.MethodGet, c.apiProject()+"/_deletable", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if d, _ := pmDecode[struct{ Deletable bool }](t, resp); !d.Deletable {
			t.Errorf("an empty project is not deletable: %s", respBody(t, resp))
		}
	}
	c.api(t, http.MethodDelete, c.apiProject(), nil, http.StatusOK)
	c.adminStatus(t, http.MethodGet, c.apiProject(), http.StatusNotFound, http.StatusOK)
}

func pmProjectLogs(t *testing.T, c *pmCell) {
	c.api(t, http.MethodGet, c.apiProject()+"/logs", nil, http.StatusOK)
	c.api(t, http.MethodGet, c.apiProject()+"/auditlog-exts", nil, http.StatusOK)
}

// Rows: project read, quota read.

func pmProjectRead(t *testing.T, c *pmCell) {
	for _, path := range []string{c.apiProject(), apiBase + "/projects/" + strconv.FormatInt(c.p.id, 10)} {
		resp := c.api(t, http.MethodGet, path, nil, http.StatusOK)
		if c.allowed && resp.StatusCode == http.StatusOK {
			if p, _ := pmDecode[struct{ Name string }](t, resp); p.Name != c.p.name {
				t.Errorf("GET %s answered project %q", path, p.Name)
			}
		}
	}
	c.api(t, http.MethodGet, c.apiProject()+"/summary", nil, http.StatusOK)
}

// pmQuotaRead reads the quota in the project summary. The summary itself is a project read:
// a principal who may read the project but not its quota (anyone on a public project) gets the
// summary without the quota part; one who may not read the project is refused.
func pmQuotaRead(t *testing.T, c *pmCell) {
	resp := c.send(t, http.MethodGet, c.apiProject()+"/summary", nil)
	if !c.allowed && !c.p.public {
		status, code := c.denial()
		assertOCIError(t, resp, status, code)
		return
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET summary: status %d, want 200; body %.300s", resp.StatusCode, respBody(t, resp))
	}
	s, _ := pmDecode[struct {
		Quota *struct{ Hard, Used map[string]int64 }
	}](t, resp)
	if shown := s.Quota != nil; shown != c.allowed {
		t.Errorf("summary shows the quota: %v, want %v; body %s", shown, c.allowed, respBody(t, resp))
	}
}

// System-level rows.

// pmAdminOnly restricts project creation to administrators for its row and restores
// "everyone" afterwards.
func pmAdminOnly(t *testing.T, e *pmEnv) func() {
	set := func(v string) {
		resp := e.ts.mrJSON(t, http.MethodPut, apiBase+"/configurations", nil, map[string]any{"project_creation_restriction": v})
		expectStatus(t, resp, http.StatusOK)
	}
	set("adminonly")
	return func() { set("everyone") }
}

func pmProjectCreate(t *testing.T, c *pmCell) {
	name := "pmnew" + uniqueSuffix()
	resp := c.send(t, http.MethodPost, apiBase+"/projects", map[string]any{"project_name": name, "metadata": map[string]string{"public": "false"}})
	switch {
	case c.allowed:
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("POST /projects: status %d, want 201 (allowed); body %.300s", resp.StatusCode, respBody(t, resp))
		}
	case c.col.kind == pmAnonymous:
		assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
	default:
		assertOCIError(t, resp, http.StatusForbidden, "FORBIDDEN")
	}
	c.adminStatus(t, http.MethodHead, apiBase+"/projects?project_name="+name, http.StatusOK, http.StatusNotFound)
}

// pmCatalog lists /v2/_catalog. Harbor keeps the catalog to system administrators; Berth lists
// it for every signed-in principal, filtered to the projects that principal may see (docs/api.md),
// and whole for system administrators and system robots granted catalog:read — the allowed
// cells. Three repositories tell them apart: one in the row's private project (members and its
// robots see it), one in a private project nobody but administrators sees, one public.
func pmCatalog(t *testing.T, c *pmCell) {
	priv := c.shared(t)
	if c.hidden == nil {
		c.hidden = c.newProject(t, false, nil)
		c.publicProject(t)
	}
	hidden := (&pmCell{pmEnv: c.pmEnv, p: c.hidden}).shared(t)
	public := (&pmCell{pmEnv: c.pmEnv, p: c.pub}).shared(t)

	if c.col.kind == pmAnonymous {
		assertOCIError(t, c.ts.do(t, http.MethodGet, "/v2/_catalog", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		tok := c.ts.token(t, anonymous(), "registry:catalog:*")
		assertOCIError(t, c.ts.do(t, http.MethodGet, "/v2/_catalog", bearer(tok), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		return
	}
	want := map[string]bool{
		priv.repo:   c.allowed || c.col.kind != pmNonMember,
		hidden.repo: c.allowed,
		public.repo: true,
	}
	for _, flow := range []string{"basic", "token"} {
		h := c.auth
		if flow == "token" {
			h = bearer(c.ts.token(t, c.auth, "registry:catalog:*"))
		}
		resp := c.ts.do(t, http.MethodGet, "/v2/_catalog", h, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: GET /v2/_catalog: status %d; body %.300s", flow, resp.StatusCode, respBody(t, resp))
			continue
		}
		cat, _ := pmDecode[struct{ Repositories []string }](t, resp)
		for repo, listed := range want {
			if slices.Contains(cat.Repositories, repo) != listed {
				t.Errorf("%s: the catalog lists %s: %v, want %v", flow, repo, !listed, listed)
			}
		}
	}
}

func pmUsersRead(t *testing.T, c *pmCell) {
	id, name := c.throwawayUser(t, "pmsubject")
	resp := c.api(t, http.MethodGet, apiBase+"/users?username="+name, nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		us, _ := pmDecode[[]struct {
			UserID int64 `json:"user_id"`
		}](t, resp)
		if len(us) != 1 || us[0].UserID != id {
			t.Errorf("users named %s: %+v", name, us)
		}
	}
	c.api(t, http.MethodGet, apiBase+"/users/"+strconv.FormatInt(id, 10), nil, http.StatusOK)
}

// pmAuditLogs reads /audit-logs and /auditlog-exts for the entry of the private project's
// creation. Everyone signed in may list; the allowed cells see the entry, the denied ones an
// answer without it.
func pmAuditLogs(t *testing.T, c *pmCell) {
	for _, list := range []string{"/audit-logs", "/auditlog-exts"} {
		t.Run(strings.TrimPrefix(list, "/"), func(t *testing.T) { pmAuditLog(t, c, list) })
	}
}

func pmAuditLog(t *testing.T, c *pmCell, list string) {
	path := apiBase + list + "?q=" + url.QueryEscape("resource="+c.p.name)
	// The audit log is written in batches: wait until the administrator sees the entry.
	for deadline := time.Now().Add(10 * time.Second); ; {
		logs, _ := pmDecode[[]tAuditLog](t, c.admin(t, http.MethodGet, path, nil))
		if len(logs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the creation of project %s never reached the audit log", c.p.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp := c.send(t, http.MethodGet, path, nil)
	if c.col.kind == pmAnonymous {
		assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
		return
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d; body %.300s", list, resp.StatusCode, respBody(t, resp))
	}
	logs, _ := pmDecode[[]tAuditLog](t, resp)
	seen := slices.ContainsFunc(logs, func(l tAuditLog) bool {
		return l.Resource == c.p.name && l.ResourceType == "project" && l.Operation == "create"
	})
	if seen != c.allowed {
		t.Errorf("audit log shows the creation of %s: %v, want %v; entries %v", c.p.name, seen, c.allowed, logs)
	}
}

func pmAuditLogEventTypes(t *testing.T, c *pmCell) {
	c.api(t, http.MethodGet, apiBase+"/auditlog-exts/events", nil, http.StatusOK)
}

// pmJobServiceList looks at the job service: queues, pools, workers, schedules, and a job's
// log — of a job that does not exist, so an allowed cell gets past the permission to the
// lookup (404) and a denied one is refused before it.
func pmJobServiceList(t *testing.T, c *pmCell) {
	for _, path := range []string{"/jobservice/queues", "/jobservice/pools", "/jobservice/pools/all/workers", "/schedules"} {
		c.api(t, http.MethodGet, apiBase+path, nil, http.StatusOK)
	}
	c.api(t, http.MethodGet, apiBase+"/jobservice/jobs/987654321/log", nil, http.StatusNotFound)
}

// pmJobServiceStop pauses and resumes a job type no other row uses (VULNDB_IMPORT), checking
// the effect, stops its waiting jobs, and stops a job that does not exist (allowed: 404).
func pmJobServiceStop(t *testing.T, c *pmCell) {
	paused := func() bool {
		t.Helper()
		qs, _ := pmDecode[[]tJobQueue](t, c.admin(t, http.MethodGet, apiBase+"/jobservice/queues", nil))
		for _, q := range qs {
			if q.JobType == "VULNDB_IMPORT" {
				return q.Paused
			}
		}
		t.Fatalf("no VULNDB_IMPORT queue in %+v", qs)
		return false
	}
	queue := apiBase + "/jobservice/queues/VULNDB_IMPORT"
	c.api(t, http.MethodPut, queue, map[string]string{"action": "pause"}, http.StatusOK)
	if paused() != c.allowed {
		t.Errorf("after the %s pause: paused %t", c.verdict(), !c.allowed)
	}
	c.api(t, http.MethodPut, queue, map[string]string{"action": "stop"}, http.StatusOK)
	c.api(t, http.MethodPut, queue, map[string]string{"action": "resume"}, http.StatusOK)
	if c.allowed && paused() {
		t.Error("still paused after the resume")
	}
	c.admin(t, http.MethodPut, queue, map[string]string{"action": "resume"})
	c.api(t, http.MethodPut, apiBase+"/jobservice/jobs/987654321", nil, http.StatusNotFound)
}

func pmSchedulesPaused(t *testing.T, c *pmCell) {
	c.api(t, http.MethodGet, apiBase+"/schedules/all/paused", nil, http.StatusOK)
}

func pmQuotaList(t *testing.T, c *pmCell) {
	list := fmt.Sprintf("%s/quotas?reference=project&reference_id=%d", apiBase, c.p.id)
	qs, _ := pmDecode[[]struct{ ID int64 }](t, c.admin(t, http.MethodGet, list, nil))
	if len(qs) != 1 {
		t.Fatalf("quotas of project %s: %+v", c.p.name, qs)
	}
	resp := c.api(t, http.MethodGet, list, nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if got, _ := pmDecode[[]struct{ ID int64 }](t, resp); len(got) != 1 || got[0].ID != qs[0].ID {
			t.Errorf("quotas of project %s: %+v", c.p.name, got)
		}
	}
	c.api(t, http.MethodGet, apiBase+"/quotas/"+strconv.FormatInt(qs[0].ID, 10), nil, http.StatusOK)
}

// Rows: the project's scanner and the scanner registrations. The built-in registration is the
// one every project uses by default.

func pmScannerRead(t *testing.T, c *pmCell) {
	builtin := c.ts.scBuiltin(t)
	resp := c.api(t, http.MethodGet, c.apiProject()+"/scanner", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if s, _ := pmDecode[struct{ UUID string }](t, resp); s.UUID != builtin.UUID {
			t.Errorf("project scanner %s, want the built-in %s", s.UUID, builtin.UUID)
		}
	}
}

func pmScannerPick(t *testing.T, c *pmCell) {
	builtin := c.ts.scBuiltin(t)
	c.api(t, http.MethodGet, c.apiProject()+"/scanner/candidates", nil, http.StatusOK)
	c.api(t, http.MethodPut, c.apiProject()+"/scanner", map[string]string{"uuid": builtin.UUID}, http.StatusOK)
	var n int
	if err := c.ts.srv.db.QueryRowForTest(context.Background(), "SELECT COUNT(*) FROM project_scanners WHERE project_id = $1", c.p.id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if picked := n == 1; picked != c.allowed {
		t.Errorf("after the %s PUT the project has picked a scanner: %v", c.verdict(), picked)
	}
}

func pmScannerRegistrations(t *testing.T, c *pmCell) {
	builtin := c.ts.scBuiltin(t)
	resp := c.api(t, http.MethodGet, apiBase+"/scanners", nil, http.StatusOK)
	if c.allowed && resp.StatusCode == http.StatusOK {
		if list, _ := pmDecode[[]struct{ UUID string }](t, resp); !slices.ContainsFunc(list, func(s struct{ UUID string }) bool { return s.UUID == builtin.UUID }) {
			t.Errorf("GET /scanners lacks the built-in: %+v", list)
		}
	}
	c.api(t, http.MethodGet, apiBase+"/scanners/"+builtin.UUID, nil, http.StatusOK)
}
