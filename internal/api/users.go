package api

// Users: Harbor's /users endpoints for local (db_auth) accounts, over the user service
// (internal/auth/user), which holds their rules.

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/auth/user"
	"github.com/berthreg/berth/internal/meta"
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

func (h *Handler) listUsers(c *call) error {
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
	us, total, err := h.Users.List(c.r.Context(), lq)
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

func (h *Handler) createUser(c *call) error {
	var req userCreationReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	id, err := h.Users.Create(c.r.Context(), user.New{Username: req.Username, Password: req.Password,
		Profile: user.Profile{Email: req.Email, Realname: req.Realname, Comment: req.Comment}})
	if err != nil {
		return err
	}
	return created(c, base+"/users/"+strconv.FormatInt(id, 10))
}

func (h *Handler) currentUser(c *call) error {
	u, err := h.Users.Current(c.r.Context())
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
	u, err := h.Users.Get(c.r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toUserJSON(u))
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
	var req userProfileReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Users.UpdateProfile(c.r.Context(), id, user.Profile{Email: req.Email, Realname: req.Realname, Comment: req.Comment}); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteUser(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	if err := h.Users.Delete(c.r.Context(), id); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) setSysAdmin(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	// A flag left out is false, as Harbor reads it: its generated client leaves a false flag
	// out of the body.
	var req struct {
		SysadminFlag bool `json:"sysadmin_flag"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Users.SetSysAdmin(c.r.Context(), id, req.SysadminFlag); err != nil {
		return err
	}
	return ok(c)
}

type passwordReq struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// setPassword changes a password; the session the request comes with, if any, stays open.
func (h *Handler) setPassword(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	var req passwordReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Users.ChangePassword(c.r.Context(), id, req.OldPassword, req.NewPassword, sessionID(c.r)); err != nil {
		return err
	}
	return ok(c)
}

// setCLISecret answers the user service's refusal; the body is not read.
func (h *Handler) setCLISecret(c *call) error {
	id, err := pathID(c, "user_id", "user")
	if err != nil {
		return err
	}
	return h.Users.SetCLISecret(c.r.Context(), id)
}

func (h *Handler) searchUsers(c *call) error {
	q := c.r.URL.Query()
	page, size, err := pagination(q)
	if err != nil {
		return err
	}
	us, total, err := h.Users.Search(c.r.Context(), q.Get("username"), (page-1)*size, size)
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

type permissionJSON struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

func (h *Handler) currentPermissions(c *call) error {
	q := c.r.URL.Query()
	relative := false
	if s := q.Get("relative"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return badRequest(fmt.Sprintf("relative %q must be true or false", s))
		}
		relative = b
	}
	perms, err := h.Users.Permissions(c.r.Context(), q.Get("scope"), relative)
	if err != nil {
		return err
	}
	out := make([]permissionJSON, 0, len(perms))
	for _, p := range perms {
		out = append(out, permissionJSON{p.Resource, p.Action})
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
