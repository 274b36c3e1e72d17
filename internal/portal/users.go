package portal

// Users (/admin/users): the list, creating a local user, making or revoking a system
// administrator, resetting a password, deleting a user. The user service (internal/auth/user)
// decides, as for /api/v2.0/users.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/auth/user"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
)

var userSortKeys = []string{"username", "email", "creation_time"}

type usersPage struct {
	Users  []meta.User
	List   listing
	Self   int64 // the caller's id: no delete or revoke offered on oneself
	Notice string
}

var userNotices = map[string]string{
	"created":  "The user was created.",
	"admin":    "The user is now a system administrator.",
	"revoked":  "The user is no longer a system administrator.",
	"password": "The user's password was reset; their sessions have ended.",
	"deleted":  "The user was deleted.",
}

func (h *Handler) listUsers(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	lq, l, err := parseListing(c.r, userSortKeys)
	if err != nil {
		return err
	}
	if l.Filter != "" {
		lq.Filters = []meta.Filter{{Key: "username", Op: meta.OpFuzzy, Values: []string{l.Filter}}}
	}
	us, total, err := h.Users.List(c.ctx(), lq)
	if err != nil {
		return err
	}
	l.Total = total
	h.render(c.w, c, http.StatusOK, "users", usersPage{Users: us, List: l, Self: c.p.ID, Notice: userNotices[c.r.URL.Query().Get("done")]})
	return nil
}

type newUserPage struct {
	Username, Email, Realname string
	Error                     string
}

func (h *Handler) newUserForm(c *call) error {
	if err := h.requireUserAdmin(c); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "user_new", newUserPage{})
	return nil
}

// requireUserAdmin refuses, as the user service does, a caller who may not manage users: for
// the forms offered before the service is called.
func (h *Handler) requireUserAdmin(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	ok, err := h.Users.CanManage(c.ctx())
	if err != nil || ok {
		return err
	}
	return fault.ErrForbidden
}

func (h *Handler) createUser(c *call) error {
	f := c.r.PostForm
	pg := newUserPage{Username: strings.TrimSpace(f.Get("username")), Email: strings.TrimSpace(f.Get("email")), Realname: strings.TrimSpace(f.Get("realname"))}
	var err error
	if f.Get("password") != f.Get("repeat_password") {
		err = fault.Invalidf("The password and its repetition differ.")
	} else {
		_, err = h.Users.Create(c.ctx(), user.New{Username: pg.Username, Password: f.Get("password"),
			Profile: user.Profile{Email: pg.Email, Realname: pg.Realname}})
	}
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || (code != http.StatusBadRequest && code != http.StatusConflict) {
			return err
		}
		pg.Error = msg
		h.render(c.w, c, code, "user_new", pg)
		return nil
	}
	http.Redirect(c.w, c.r, "/admin/users?done=created", http.StatusSeeOther)
	return nil
}

// pathUser is the user with the id in the path.
func (h *Handler) pathUser(c *call) (meta.User, error) {
	if err := requireSignedIn(c); err != nil {
		return meta.User{}, err
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return meta.User{}, fault.NotFoundf("There is no user %q.", c.r.PathValue("id"))
	}
	return h.Users.Get(c.ctx(), id)
}

func (h *Handler) setUserAdmin(c *call) error {
	u, err := h.pathUser(c)
	if err != nil {
		return err
	}
	admin := c.r.PostForm.Get("admin") == "true"
	if err := h.Users.SetSysAdmin(c.ctx(), u.ID, admin); err != nil {
		return err
	}
	done := "admin"
	if !admin {
		done = "revoked"
	}
	http.Redirect(c.w, c.r, "/admin/users?done="+done, http.StatusSeeOther)
	return nil
}

type userPasswordPage struct {
	User  meta.User
	Error string
}

func (h *Handler) userPasswordForm(c *call) error {
	u, err := h.pathUser(c)
	if err != nil {
		return err
	}
	if err := h.requireUserAdmin(c); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "user_password", userPasswordPage{User: u})
	return nil
}

// resetUserPassword sets another user's password, as an administrator does through
// PUT /api/v2.0/users/{id}/password without the old one.
func (h *Handler) resetUserPassword(c *call) error {
	u, err := h.pathUser(c)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	if f.Get("new_password") != f.Get("repeat_password") {
		err = fault.Invalidf("The new password and its repetition differ.")
	} else {
		err = h.Users.ChangePassword(c.ctx(), u.ID, "", f.Get("new_password"), "")
	}
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || code != http.StatusBadRequest {
			return err
		}
		h.render(c.w, c, code, "user_password", userPasswordPage{User: u, Error: msg})
		return nil
	}
	http.Redirect(c.w, c.r, "/admin/users?done=password", http.StatusSeeOther)
	return nil
}

type deleteUserPage struct {
	User meta.User
}

func (h *Handler) deleteUserForm(c *call) error {
	u, err := h.pathUser(c)
	if err != nil {
		return err
	}
	if err := h.requireUserAdmin(c); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "user_delete", deleteUserPage{User: u})
	return nil
}

func (h *Handler) deleteUser(c *call) error {
	u, err := h.pathUser(c)
	if err != nil {
		return err
	}
	if err := h.Users.Delete(c.ctx(), u.ID); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, "/admin/users?done=deleted", http.StatusSeeOther)
	return nil
}
