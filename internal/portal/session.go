package portal

// Sessions in the portal are internal/auth/session's, in the same HTTP-only cookie "sid" as
// /c/login's, so one login serves the portal and the REST API in the browser. A form that
// changes something carries the session's CSRF token in its csrf field. The login form, which
// has no session yet, carries a token of its own that a cookie set with the form must match
// (a double-submit token), so another site cannot sign a browser in to an account of its
// choosing.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/input"
)

const (
	sessionCookie = "sid"
	loginCookie   = "login_csrf"
	csrfField     = "csrf"
)

// resume identifies a request that reads: its session's user, or anonymous.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request) *call {
	c := &call{w: w, r: r}
	sid := cookie(r, sessionCookie)
	p, token, err := h.Sessions.Resume(r.Context(), sid, "", false)
	if err != nil {
		// A session that cannot be read now (the database is away) reads as anonymous; a
		// page that needs the user sends them to the login page, which says what is wrong.
		h.Log.WarnContext(r.Context(), "portal: resume session", "err", err)
	} else if token != "" {
		c.p, c.sid, c.csrf = p, sid, token
	}
	c.r = r.WithContext(auth.WithPrincipal(r.Context(), c.p))
	return c
}

// resumeForChange identifies a form post: it needs a live session and its CSRF token.
func (h *Handler) resumeForChange(w http.ResponseWriter, r *http.Request) (*call, error) {
	c := &call{w: w, r: r}
	sid := cookie(r, sessionCookie)
	p, token, err := h.Sessions.Resume(r.Context(), sid, unmaskToken(r.PostForm.Get(csrfField)), true)
	if token != "" {
		c.sid, c.csrf = sid, token
	}
	if err != nil {
		if fault.KindOf(err) == fault.Forbidden {
			// The session stays open: show the page as the user's, without acting.
			c.p, _, _ = h.Sessions.Resume(r.Context(), sid, "", false)
			c.r = r.WithContext(auth.WithPrincipal(r.Context(), c.p))
			return c, errStaleForm
		}
		return c, err
	}
	if token == "" {
		// No live session: whatever the form was, it cannot act for anyone.
		return c, errNoSession
	}
	c.p = p
	c.r = r.WithContext(auth.WithPrincipal(r.Context(), p))
	return c, nil
}

var (
	errStaleForm = fault.Forbiddenf("This form is out of date or did not come from this site, so nothing was changed. Reload the page and try again.")
	errNoSession = fault.Forbiddenf("Your session has ended, so nothing was changed. Log in and try again.")
)

func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie sets an HTTP-only, SameSite=Lax cookie for the whole site, Secure under TLS;
// maxAge < 0 deletes it, 0 makes it last the browser session.
func (h *Handler) setCookie(c *call, name, value string, maxAge int) {
	http.SetCookie(c.w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.Origin.SecureCookie(c.r), SameSite: http.SameSiteLaxMode})
}

// localPath returns next when it is a path on this site ("/projects?page=2"), else "": a login
// must never send the browser to another site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

type loginPage struct {
	Username string
	Next     string
	Token    string
	Error    string
}

func (h *Handler) home(c *call) error {
	if c.p.IsAnonymous() {
		http.Redirect(c.w, c.r, "/login", http.StatusSeeOther)
		return nil
	}
	http.Redirect(c.w, c.r, "/projects", http.StatusSeeOther)
	return nil
}

func (h *Handler) loginForm(c *call) error {
	next := localPath(c.r.URL.Query().Get("next"))
	if !c.p.IsAnonymous() {
		http.Redirect(c.w, c.r, or(next, "/projects"), http.StatusSeeOther)
		return nil
	}
	h.renderLogin(c, http.StatusOK, loginPage{Next: next})
	return nil
}

// renderLogin shows the login form with a fresh login token.
func (h *Handler) renderLogin(c *call, code int, pg loginPage) {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	pg.Token = base64.RawURLEncoding.EncodeToString(raw)
	h.setCookie(c, loginCookie, pg.Token, 0)
	h.render(c.w, c, code, "login", pg)
}

// login checks the form's credentials with the session service, through the same password
// checks, throttling and lockout records as /c/login and Basic authentication.
func (h *Handler) login(c *call) error {
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, maxForm)
	if err := c.r.ParseForm(); err != nil {
		return fault.Invalidf("The login form could not be read.")
	}
	form := c.r.PostForm
	pg := loginPage{Username: form.Get("principal"), Next: localPath(form.Get("next"))}
	want := cookie(c.r, loginCookie)
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(form.Get(csrfField))) != 1 {
		pg.Error = "The login form was out of date. Please try again."
		h.renderLogin(c, http.StatusForbidden, pg)
		return nil
	}
	if p := input.Values(form); p != nil {
		pg.Error = "The login form could not be read: " + p.Error() + "."
		h.renderLogin(c, http.StatusBadRequest, pg)
		return nil
	}
	id, err := h.Sessions.Login(c.ctx(), form.Get("principal"), form.Get("password"))
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok {
			return err
		}
		if code == http.StatusUnauthorized {
			msg = "Invalid user name, e-mail address or password."
		}
		retryAfter(c.w, err)
		pg.Error = msg
		h.renderLogin(c, code, pg)
		return nil
	}
	h.setCookie(c, loginCookie, "", -1)
	h.setCookie(c, sessionCookie, id, 0)
	http.Redirect(c.w, c.r, or(pg.Next, "/projects"), http.StatusSeeOther)
	return nil
}

func (h *Handler) logout(c *call) error {
	if err := h.Sessions.Logout(c.ctx(), c.sid); err != nil {
		return err
	}
	h.setCookie(c, sessionCookie, "", -1)
	http.Redirect(c.w, c.r, "/login", http.StatusSeeOther)
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maskToken writes the CSRF token differently on every page: a random pad, then the token
// XORed with it. Pages are compressed, and a secret that is the same in every response
// beside text an attacker chooses (a filter box's value) could be guessed from the compressed
// sizes (BREACH); a token that never repeats cannot.
func maskToken(token string) string {
	if token == "" {
		return ""
	}
	pad := make([]byte, len(token))
	_, _ = rand.Read(pad)
	out := make([]byte, 2*len(token))
	copy(out, pad)
	for i := range len(token) {
		out[len(token)+i] = token[i] ^ pad[i]
	}
	return base64.RawURLEncoding.EncodeToString(out)
}

// unmaskToken undoes maskToken; what is not a masked token comes back as "", which no session
// accepts.
func unmaskToken(masked string) string {
	raw, err := base64.RawURLEncoding.DecodeString(masked)
	if err != nil || len(raw) == 0 || len(raw)%2 != 0 {
		return ""
	}
	n := len(raw) / 2
	out := make([]byte, n)
	for i := range n {
		out[i] = raw[n+i] ^ raw[i]
	}
	return string(out)
}
