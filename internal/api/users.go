package api

// Users: Harbor's /users endpoints for local (db_auth) accounts. Behaviour and error texts
// follow Harbor's user handler: only system administrators list, create (unless
// self-registration is on), delete and promote users; users read and edit their own profile
// and password; the default administrator (user 1) cannot be deleted and is left out of
// listings and searches.

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// userRoutes registers the endpoints for users.
func (h *Handler) userRoutes(r route) {
	r("GET /users", h.listUsers)
	r("POST /users", h.createUser)
	r("GET /users/current", h.currentUser)
	r("GET /users/current/permissions", h.currentPermissions)
	r("GET /users/search", h.searchUsers)
	r("GET /users/{user_id}", h.getUser)
	r("PUT /users/{user_id}", h.updateUser)
	r("DELETE /users/{user_id}", h.deleteUser)
	r("PUT /users/{user_id}/sysadmin", h.setSysAdmin)
	r("PUT /users/{user_id}/password", h.setPassword)
	r("PUT /users/{user_id}/cli_secret", h.setCLISecret)
}

type userJSON struct {
	Email           string `json:"email"`
	Realname        string `json:"realname"`
	Comment         string `json:"comment"`
	UserID          int64  `json:"user_id"`
	Username        string `json:"username"`
	SysadminFlag    bool   `json:"sysadmin_flag"`
	AdminRoleInAuth bool   `json:"admin_role_in_auth"`
	CreationTime    string `json:"creation_time"`
	UpdateTime      string `json:"update_time"`
}

// toUserJSON never carries the password hash: UserResp has no field for it.
func toUserJSON(u meta.User) userJSON {
	return userJSON{
		Email: u.Email, Realname: u.Realname, Comment: u.Comment, UserID: u.ID, Username: u.Username,
		SysadminFlag: u.SysAdmin, CreationTime: harborTime(u.CreatedAt), UpdateTime: harborTime(u.UpdatedAt),
	}
}

const (
	msgPasswordRules = "the password or secret must be longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number"
	maxUsernameLen   = 255
)

// Harbor's e-mail pattern (validateUserProfile).
var emailRE = regexp.MustCompile(`^(([^<>()[\]\\.,;:\s@\"]+(\.[^<>()[\]\\.,;:\s@\"]+)*)|(\".+\"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$`)

// checkUsername applies HARBOR-NOTES §l: 1 to 255 characters, none of , " ~ # % $. Control
// characters are refused too: they cannot be typed at a login prompt.
func checkUsername(name string) error {
	if len(name) == 0 || len(name) > maxUsernameLen {
		return badRequest("username with illegal length: it must be 1 to 255 characters")
	}
	if strings.ContainsAny(name, `,"~#%$`) {
		return badRequest(`username contains illegal characters: it cannot contain , " ~ # % $`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return badRequest("username contains illegal characters: control characters are not allowed")
		}
	}
	return nil
}

// checkPassword applies auth.CheckPasswordRules with Harbor's error text.
func checkPassword(pw string) error {
	if err := auth.CheckPasswordRules(pw); err != nil {
		if len(pw) > 128 {
			return badRequest(err.Error())
		}
		return badRequest(msgPasswordRules)
	}
	return nil
}

// checkProfile is Harbor's validateUserProfile.
func checkProfile(email, realname, comment string) error {
	switch {
	case email == "":
		return badRequest("email can't be empty")
	case len(email) > 255 || !emailRE.MatchString(email):
		return badRequest("email with illegal format")
	case len(realname) < 1 || len(realname) > 255:
		return badRequest("realname with illegal length")
	case strings.ContainsAny(realname, ",~#$%"):
		return badRequest("realname contains illegal characters")
	case len(comment) > 30:
		return badRequest("comment with illegal length")
	}
	return nil
}

// isSelf reports whether the caller is the local user with this id (robots never are).
func isSelf(c *call, id int64) bool { return c.p.Kind == auth.User && c.p.ID == id }

// lookupUser returns a live user or Harbor's 404.
func (h *Handler) lookupUser(c *call, id int64) (meta.User, error) {
	u, err := h.DB.UserByID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return u, notFound(fmt.Sprintf("user %d not found", id))
	}
	return u, err
}

func (h *Handler) listUsers(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResUser, rbac.ActList); err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	// Harbor also takes username= and email= as fuzzy filters beside q=.
	for _, k := range []string{"username", "email"} {
		if v := c.r.URL.Query().Get(k); v != "" {
			lq.Filters = append(lq.Filters, meta.Filter{Key: k, Op: meta.OpFuzzy, Values: []string{v}})
		}
	}
	us, total, err := h.DB.ListUsers(c.r.Context(), lq)
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, toUserJSON(u))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

type userCreationReq struct {
	Email    string `json:"email"`
	Realname string `json:"realname"`
	Comment  string `json:"comment"`
	Password string `json:"password"`
	Username string `json:"username"`
}

// createUser: system administrators, and anyone while self-registration is on.
func (h *Handler) createUser(c *call) error {
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	if cfg.AuthMode != "db_auth" {
		return &Error{http.StatusForbidden, "FORBIDDEN", "creating local user is not allowed under auth mode: " + cfg.AuthMode}
	}
	if !cfg.SelfRegistration {
		if err := h.authorizeSystem(c, rbac.ResUser, rbac.ActCreate); err != nil {
			return err
		}
	}
	var req userCreationReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := checkUsername(req.Username); err != nil {
		return err
	}
	if err := checkPassword(req.Password); err != nil {
		return err
	}
	if err := checkProfile(req.Email, req.Realname, req.Comment); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	id, err := h.DB.CreateUser(c.r.Context(), meta.User{
		Username: req.Username, Email: req.Email, Realname: req.Realname, Comment: req.Comment, PasswordHash: hash,
	})
	if errors.Is(err, meta.ErrConflict) {
		return conflict(fmt.Sprintf("user %s or email %s already exists", req.Username, req.Email))
	}
	if err != nil {
		return err
	}
	h.audit(c, 0, "create", "user", req.Username)
	return created(c, base+"/users/"+strconv.FormatInt(id, 10))
}

func (h *Handler) currentUser(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	if c.p.Kind != auth.User {
		return precondition("get current user not available for security context: " + c.p.Kind.String())
	}
	u, err := h.lookupUser(c, c.p.ID)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toUserJSON(u))
	return nil
}

func (h *Handler) getUser(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	if !isSelf(c, id) {
		// Others' profiles: system administrators and system robots granted user:read.
		if ok, err := h.Authz.CanSystem(c.r.Context(), c.p, rbac.ResUser, rbac.ActRead); err != nil {
			return err
		} else if !ok {
			return &Error{http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("Not authorized to read user: %d", id)}
		}
	}
	u, err := h.lookupUser(c, id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toUserJSON(u))
	return nil
}

// requireModifiable: system administrators may change anyone, users themselves (db_auth).
func (h *Handler) requireModifiable(c *call, id int64) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	if !isSelf(c, id) && !c.p.SysAdmin {
		return &Error{http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("User with ID %d can't be updated", id)}
	}
	return nil
}

type userProfileReq struct {
	Email    string `json:"email"`
	Realname string `json:"realname"`
	Comment  string `json:"comment"`
}

func (h *Handler) updateUser(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	if err := h.requireModifiable(c, id); err != nil {
		return err
	}
	var req userProfileReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := checkProfile(req.Email, req.Realname, req.Comment); err != nil {
		return err
	}
	err = h.DB.UpdateUserProfile(c.r.Context(), id, req.Email, req.Realname, req.Comment)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("user %d not found", id))
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("email %s already exists", req.Email))
	case err != nil:
		return err
	}
	return ok(c)
}

func (h *Handler) deleteUser(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	if !c.p.SysAdmin {
		return &Error{http.StatusForbidden, "FORBIDDEN", "Not authorized to delete users"}
	}
	if isSelf(c, id) || id == meta.DefaultAdminID {
		return &Error{http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("User with ID %d cannot be deleted", id)}
	}
	u, err := h.DB.DeleteUser(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("user %d not found", id))
	}
	if err != nil {
		return err
	}
	h.audit(c, 0, "delete", "user", u.Username)
	return ok(c)
}

func (h *Handler) setSysAdmin(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	if err := h.requireSysAdmin(c); err != nil {
		return err
	}
	var req struct {
		SysadminFlag *bool `json:"sysadmin_flag"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.SysadminFlag == nil {
		return badRequest("sysadmin_flag is required")
	}
	// Harbor's portal never offers this; refusing it here keeps at least one administrator.
	if id == meta.DefaultAdminID && !*req.SysadminFlag {
		return &Error{http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("the system administrator role of user %d cannot be revoked", id)}
	}
	err = h.DB.SetSysAdmin(c.r.Context(), id, *req.SysadminFlag)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("user %d not found", id))
	}
	if err != nil {
		return err
	}
	return ok(c)
}

type passwordReq struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// setPassword follows Harbor: users changing their own password (administrators included)
// prove the current one; administrators reset others' without it. The new password must
// follow the rules and differ from the current one. The user's other sessions end.
func (h *Handler) setPassword(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	if err := h.requireModifiable(c, id); err != nil {
		return err
	}
	var req passwordReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	u, err := h.lookupUser(c, id)
	if err != nil {
		return err
	}
	// Passwords are checked through the authenticator, which bounds concurrent argon2 work.
	matches := func(pw string) (bool, error) {
		_, err := h.Auth.Basic(c.r.Context(), u.Username, pw)
		if errors.Is(err, auth.ErrBadCredentials) {
			return false, nil
		}
		return err == nil, err
	}
	if isSelf(c, id) {
		okOld, err := matches(req.OldPassword)
		if err != nil {
			return err
		}
		if !okOld {
			return &Error{http.StatusForbidden, "FORBIDDEN", "Current password is incorrect"}
		}
	}
	if err := checkPassword(req.NewPassword); err != nil {
		return err
	}
	same, err := matches(req.NewPassword)
	if err != nil {
		return err
	}
	if same {
		return badRequest("New password is identical to old password")
	}
	hash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	err = h.DB.ChangePassword(c.r.Context(), id, hash, currentSessionHash(c.r))
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("user %d not found", id))
	}
	if err != nil {
		return err
	}
	return ok(c)
}

// setCLISecret: CLI secrets exist only for OIDC users, and Berth authenticates against its
// own database, so this answers Harbor's precondition error (checked first, as Harbor does).
func (h *Handler) setCLISecret(c *call) error {
	if _, err := pathID(c, "user_id", "user"); err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	return precondition("unable to update CLI secret under authmode: " + cfg.AuthMode)
}

func (h *Handler) searchUsers(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	q := c.r.URL.Query()
	page, size, err := pagination(q)
	if err != nil {
		return err
	}
	name := q.Get("username")
	if name == "" {
		return badRequest("username is required")
	}
	lq := meta.ListQuery{
		Filters: []meta.Filter{{Key: "username", Op: meta.OpFuzzy, Values: []string{name}}},
		Offset:  (page - 1) * size, Limit: size,
	}
	us, total, err := h.DB.ListUsers(c.r.Context(), lq)
	if err != nil {
		return err
	}
	type item struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
	}
	out := make([]item, 0, len(us))
	for _, u := range us {
		out = append(out, item{u.ID, u.Username})
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// Permission listing (/users/current/permissions). Resources are named as Harbor names them:
// "/project/<id>/<resource>" with the project itself as "/project/<id>" ("." relative to the
// scope), and "/system/<resource>" for system-level permissions.

type permissionJSON struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

var projectScopeRE = regexp.MustCompile(`^/project/([0-9]+)(/|$)`)

// systemPermissions are Harbor's system-level policies (rbac/system/policies.go).
var systemPermissions = []rbac.Permission{
	{Resource: "audit-log", Action: rbac.ActList},
	{Resource: "catalog", Action: rbac.ActRead},
	{Resource: "configuration", Action: rbac.ActRead}, {Resource: "configuration", Action: rbac.ActUpdate},
	{Resource: "garbage-collection", Action: rbac.ActCreate}, {Resource: "garbage-collection", Action: rbac.ActRead},
	{Resource: "garbage-collection", Action: rbac.ActUpdate}, {Resource: "garbage-collection", Action: rbac.ActDelete},
	{Resource: "garbage-collection", Action: rbac.ActList},
	{Resource: "ldap-user", Action: rbac.ActCreate}, {Resource: "ldap-user", Action: rbac.ActList},
	{Resource: "project", Action: rbac.ActCreate}, {Resource: "project", Action: rbac.ActRead},
	{Resource: "project", Action: rbac.ActUpdate}, {Resource: "project", Action: rbac.ActDelete},
	{Resource: "project", Action: rbac.ActList},
	{Resource: "registry", Action: rbac.ActCreate}, {Resource: "registry", Action: rbac.ActRead},
	{Resource: "registry", Action: rbac.ActUpdate}, {Resource: "registry", Action: rbac.ActDelete},
	{Resource: "registry", Action: rbac.ActList},
	{Resource: "replication", Action: rbac.ActCreate}, {Resource: "replication", Action: rbac.ActRead},
	{Resource: "replication", Action: rbac.ActUpdate}, {Resource: "replication", Action: rbac.ActDelete},
	{Resource: "replication", Action: rbac.ActList},
	{Resource: "robot", Action: rbac.ActCreate}, {Resource: "robot", Action: rbac.ActRead},
	{Resource: "robot", Action: rbac.ActUpdate}, {Resource: "robot", Action: rbac.ActDelete},
	{Resource: "robot", Action: rbac.ActList},
	{Resource: "scan-all", Action: rbac.ActCreate}, {Resource: "scan-all", Action: rbac.ActRead},
	{Resource: "scan-all", Action: rbac.ActUpdate}, {Resource: "scan-all", Action: rbac.ActStop},
	{Resource: "scan-all", Action: rbac.ActList},
	{Resource: "system-volumes", Action: rbac.ActRead},
	{Resource: "user", Action: rbac.ActCreate}, {Resource: "user", Action: rbac.ActRead},
	{Resource: "user", Action: rbac.ActUpdate}, {Resource: "user", Action: rbac.ActDelete},
	{Resource: "user", Action: rbac.ActList},
	{Resource: "user-group", Action: rbac.ActCreate}, {Resource: "user-group", Action: rbac.ActRead},
	{Resource: "user-group", Action: rbac.ActUpdate}, {Resource: "user-group", Action: rbac.ActDelete},
	{Resource: "user-group", Action: rbac.ActList},
}

func (h *Handler) currentPermissions(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	q := c.r.URL.Query()
	scope := q.Get("scope")
	relative := false
	if s := q.Get("relative"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return badRequest(fmt.Sprintf("relative %q must be true or false", s))
		}
		relative = b
	}
	var perms []permissionJSON
	switch m := projectScopeRE.FindStringSubmatch(scope); {
	case m != nil:
		var err error
		if perms, err = h.projectPermissions(c, m[1]); err != nil {
			return err
		}
	case scope == "/system" || strings.HasPrefix(scope, "/system/") || scope == "/":
		var err error
		if perms, err = h.systemPermissionList(c); err != nil {
			return err
		}
		if scope == "/" {
			scope = "/system"
		}
	}
	out := make([]permissionJSON, 0, len(perms))
	for _, p := range perms {
		if relative {
			// Harbor's Resource.RelativeTo: resources outside the scope are left out.
			if !strings.HasPrefix(p.Resource, scope) {
				continue
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(p.Resource, scope), "/")
			if rel == "" {
				rel = "."
			}
			p.Resource = rel
		}
		out = append(out, p)
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// projectPermissions asks the authorizer about every project permission. An unknown or
// invisible project yields none, so the answer does not reveal which projects exist.
func (h *Handler) projectPermissions(c *call, idStr string) ([]permissionJSON, error) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return nil, nil
	}
	p, err := h.DB.ProjectByID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	prefix := "/project/" + strconv.FormatInt(p.ID, 10)
	var out []permissionJSON
	for _, perm := range rbac.ProjectPermissions() {
		allowed, err := h.Authz.Can(c.r.Context(), c.p, p, perm.Resource, perm.Action)
		if err != nil {
			return nil, err
		}
		if !allowed {
			continue
		}
		res := prefix + "/" + string(perm.Resource)
		if perm.Resource == rbac.ResProject {
			res = prefix // Harbor's "self" resource: the project itself
		}
		out = append(out, permissionJSON{res, string(perm.Action)})
	}
	return out, nil
}

// systemPermissionList: system administrators hold every system permission; other users may
// create projects unless creation is restricted to administrators.
func (h *Handler) systemPermissionList(c *call) ([]permissionJSON, error) {
	var out []permissionJSON
	if c.p.SysAdmin {
		for _, p := range systemPermissions {
			out = append(out, permissionJSON{"/system/" + string(p.Resource), string(p.Action)})
		}
		return out, nil
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return nil, err
	}
	if ok, err := h.Authz.CanCreateProject(c.r.Context(), c.p, cfg.ProjectCreationRestriction == "adminonly"); err != nil {
		return nil, err
	} else if ok {
		out = append(out, permissionJSON{"/system/project", string(rbac.ActCreate)})
	}
	return out, nil
}
