package portal

// The signed-in user's own account: the profile (/account) and "change my password"
// (/account/password), through the user service, as /api/v2.0/users/current and
// PUT /api/v2.0/users/{id}/password.

import (
	"net/http"

	"github.com/berthreg/berth/internal/meta"
)

type accountPage struct {
	User meta.User
	// Changed says the password was just changed.
	Changed bool
}

func (h *Handler) account(c *call) error {
	u, err := h.Users.Current(c.ctx())
	if err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "account", accountPage{User: u, Changed: c.r.URL.Query().Get("changed") == "password"})
	return nil
}

type passwordPage struct {
	Error string
}

func (h *Handler) passwordForm(c *call) error {
	if _, err := h.Users.Current(c.ctx()); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "password", passwordPage{})
	return nil
}

// changePassword changes the caller's password; the user's other sessions end, this one stays.
func (h *Handler) changePassword(c *call) error {
	u, err := h.Users.Current(c.ctx())
	if err != nil {
		return err
	}
	f := c.r.PostForm
	if f.Get("new_password") != f.Get("repeat_password") {
		h.render(c.w, c, http.StatusBadRequest, "password", passwordPage{Error: "The new password and its repetition differ."})
		return nil
	}
	if err := h.Users.ChangePassword(c.ctx(), u.ID, f.Get("old_password"), f.Get("new_password"), c.sid); err != nil {
		code, msg, ok := refusal(err)
		if !ok {
			return err
		}
		retryAfter(c.w, err)
		h.render(c.w, c, code, "password", passwordPage{Error: msg})
		return nil
	}
	http.Redirect(c.w, c.r, "/account?changed=password", http.StatusSeeOther)
	return nil
}
