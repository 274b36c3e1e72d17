// Package user holds the rules of local (db_auth) user accounts, as Harbor's user handler has
// them: only system administrators list, create (unless self-registration is on), delete and
// promote users; users read and edit their own profile and password; the default administrator
// (user 1) cannot be deleted and is left out of listings and searches. Creating and deleting a
// user are events (events.UserCreated, events.UserDeleted), written with the change.
package user

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/session"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the user rules read and write.
type Store interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	SystemConfig(ctx context.Context) (meta.SystemConfig, error)
	UserByID(ctx context.Context, id int64) (meta.User, error)
	ListUsers(ctx context.Context, lq meta.ListQuery) ([]meta.User, int64, error)
	UpdateUserProfile(ctx context.Context, id int64, email, realname, comment string) error
	SetSysAdmin(ctx context.Context, id int64, admin bool) error
	ChangePassword(ctx context.Context, id int64, hash, keep string) error
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
}

// Service is the user rules over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer
	// Auth checks passwords: it bounds the concurrent argon2 work.
	Auth *auth.Authenticator
}

// New is what a user is created with.
type New struct {
	Username string
	Password string
	Profile
}

// Profile is what users may change about themselves.
type Profile struct {
	Email    string
	Realname string
	Comment  string
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
		return fault.Invalidf("username with illegal length: it must be 1 to 255 characters")
	}
	if strings.ContainsAny(name, `,"~#%$`) {
		return fault.Invalidf(`username contains illegal characters: it cannot contain , " ~ # %% $`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fault.Invalidf("username contains illegal characters: control characters are not allowed")
		}
	}
	return nil
}

// checkPassword applies auth.CheckPasswordRules with Harbor's error text.
func checkPassword(pw string) error {
	if err := auth.CheckPasswordRules(pw); err != nil {
		if len(pw) > 128 {
			return fault.Invalidf("%s", err.Error())
		}
		return fault.Invalidf(msgPasswordRules)
	}
	return nil
}

// check is Harbor's validateUserProfile.
func (p Profile) check() error {
	switch {
	case p.Email == "":
		return fault.Invalidf("email can't be empty")
	case len(p.Email) > 255 || !emailRE.MatchString(p.Email):
		return fault.Invalidf("email with illegal format")
	case len(p.Realname) < 1 || len(p.Realname) > 255:
		return fault.Invalidf("realname with illegal length")
	case strings.ContainsAny(p.Realname, ",~#$%"):
		return fault.Invalidf("realname contains illegal characters")
	case len(p.Comment) > 30:
		return fault.Invalidf("comment with illegal length")
	}
	return nil
}

func notFound(id int64) error { return fault.NotFoundf("user %d not found", id) }

// isSelf reports whether the caller is the local user with this id (robots never are).
func isSelf(ctx context.Context, id int64) bool {
	p := auth.PrincipalFrom(ctx)
	return p.Kind == auth.User && p.ID == id
}

// user returns a live user.
func (s *Service) user(ctx context.Context, id int64) (meta.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return u, notFound(id)
	}
	if err != nil {
		return u, fmt.Errorf("look up user %d: %w", id, err)
	}
	return u, nil
}

// CanManage reports whether the caller in ctx may list and manage users, by the rule List
// checks: for pages that offer user administration before it is asked for.
func (s *Service) CanManage(ctx context.Context) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResUser, rbac.ActList)
}

// List returns one page of users, filtered and sorted by lq.
func (s *Service) List(ctx context.Context, lq meta.ListQuery) ([]meta.User, int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResUser, rbac.ActList); err != nil {
		return nil, 0, err
	}
	return s.Store.ListUsers(ctx, lq)
}

// Search returns one page of the users whose name contains name, for any signed-in caller
// (to add one as a project member).
func (s *Service) Search(ctx context.Context, name string, offset, limit int) ([]meta.User, int64, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return nil, 0, err
	}
	if name == "" {
		return nil, 0, fault.Invalidf("username is required")
	}
	return s.Store.ListUsers(ctx, meta.ListQuery{
		Filters: []meta.Filter{{Key: "username", Op: meta.OpFuzzy, Values: []string{name}}},
		Offset:  offset, Limit: limit,
	})
}

// Create adds a local user and returns its id: system administrators may, and anyone while
// self-registration is on.
func (s *Service) Create(ctx context.Context, n New) (int64, error) {
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return 0, err
	}
	if cfg.AuthMode != "db_auth" {
		return 0, fault.Forbiddenf("creating local user is not allowed under auth mode: %s", cfg.AuthMode)
	}
	if !cfg.SelfRegistration {
		if err := s.Authz.RequireSystem(ctx, rbac.ResUser, rbac.ActCreate); err != nil {
			return 0, err
		}
	}
	if err := checkUsername(n.Username); err != nil {
		return 0, err
	}
	if err := checkPassword(n.Password); err != nil {
		return 0, err
	}
	if err := n.Profile.check(); err != nil {
		return 0, err
	}
	hash, err := auth.HashPassword(n.Password)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		id, err = tx.CreateUser(ctx, meta.User{
			Username: n.Username, Email: n.Email, Realname: n.Realname, Comment: n.Comment, PasswordHash: hash,
		})
		if err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.UserCreated, n.Username, nil))
		return nil
	})
	if errors.Is(err, meta.ErrConflict) {
		return 0, fault.Conflictf("user %s or email %s already exists", n.Username, n.Email)
	}
	return id, err
}

// Current returns the caller's own account; only users have one.
func (s *Service) Current(ctx context.Context) (meta.User, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return meta.User{}, err
	}
	p := auth.PrincipalFrom(ctx)
	if p.Kind != auth.User {
		return meta.User{}, fault.Preconditionf("get current user not available for security context: %s", p.Kind)
	}
	return s.user(ctx, p.ID)
}

// Get returns a user: their own to users, anyone's to system administrators and system robots
// granted user:read.
func (s *Service) Get(ctx context.Context, id int64) (meta.User, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return meta.User{}, err
	}
	if !isSelf(ctx, id) {
		if ok, err := s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResUser, rbac.ActRead); err != nil {
			return meta.User{}, err
		} else if !ok {
			return meta.User{}, fault.Forbiddenf("Not authorized to read user: %d", id)
		}
	}
	return s.user(ctx, id)
}

// requireModifiable: system administrators may change anyone, users themselves.
func requireModifiable(ctx context.Context, id int64) error {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return err
	}
	if !isSelf(ctx, id) && !auth.PrincipalFrom(ctx).SysAdmin {
		return fault.Forbiddenf("User with ID %d can't be updated", id)
	}
	return nil
}

// UpdateProfile replaces a user's profile.
func (s *Service) UpdateProfile(ctx context.Context, id int64, p Profile) error {
	if err := requireModifiable(ctx, id); err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return err
	}
	err := s.Store.UpdateUserProfile(ctx, id, p.Email, p.Realname, p.Comment)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return notFound(id)
	case errors.Is(err, meta.ErrConflict):
		return fault.Conflictf("email %s already exists", p.Email)
	}
	return err
}

// Delete deletes a user (see meta.Tx.DeleteUser). System administrators may, but neither
// themselves nor the default administrator.
func (s *Service) Delete(ctx context.Context, id int64) error {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return err
	}
	if !auth.PrincipalFrom(ctx).SysAdmin {
		return fault.Forbiddenf("Not authorized to delete users")
	}
	if isSelf(ctx, id) || id == meta.DefaultAdminID {
		return fault.Forbiddenf("User with ID %d cannot be deleted", id)
	}
	err := s.Store.Tx(ctx, func(tx *meta.Tx) error {
		u, err := tx.DeleteUser(ctx, id)
		if err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.UserDeleted, u.Username, nil))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// SetSysAdmin grants or revokes system administration; system administrators only.
func (s *Service) SetSysAdmin(ctx context.Context, id int64, admin bool) error {
	if err := rbac.RequireSysAdmin(ctx); err != nil {
		return err
	}
	// Harbor's portal never offers this; refusing it here keeps at least one administrator.
	if id == meta.DefaultAdminID && !admin {
		return fault.Forbiddenf("the system administrator role of user %d cannot be revoked", id)
	}
	err := s.Store.SetSysAdmin(ctx, id, admin)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// ChangePassword follows Harbor: users changing their own password (administrators included)
// prove the current one (old); administrators reset others' without it. The next password must
// follow the rules and differ from the current one. The user's sessions end, except the one
// the change is made through (keepSession, a session id; "" for none), and so do its refresh
// tokens (they are bound to the password, see auth.TokenService.IssueRefresh).
func (s *Service) ChangePassword(ctx context.Context, id int64, old, next, keepSession string) error {
	if err := requireModifiable(ctx, id); err != nil {
		return err
	}
	u, err := s.user(ctx, id)
	if err != nil {
		return err
	}
	// Passwords are checked through the authenticator, which bounds concurrent argon2 work.
	// The current password is a login: guessing it is throttled like any other (a client
	// locked out gets the authenticator's *auth.ThrottledError).
	if isSelf(ctx, id) {
		_, err := s.Auth.Basic(ctx, u.Username, old)
		if errors.Is(err, auth.ErrBadCredentials) {
			return fault.Forbiddenf("Current password is incorrect")
		}
		if err != nil {
			return err
		}
	}
	if err := checkPassword(next); err != nil {
		return err
	}
	// Whether the new password is the current one is no login attempt: not throttled.
	same, err := s.Auth.PasswordMatches(ctx, u.Username, next)
	if err != nil {
		return err
	}
	if same {
		return fault.Invalidf("New password is identical to old password")
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return err
	}
	keep := ""
	if keepSession != "" {
		keep = session.Hash(keepSession)
	}
	err = s.Store.ChangePassword(ctx, id, hash, keep)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// SetCLISecret would give a user a new CLI secret, but CLI secrets exist only for OIDC users and
// Berth authenticates against its own database: it answers Harbor's precondition error, before
// anything else (Harbor checks the mode first, so the user is not even looked up).
func (s *Service) SetCLISecret(ctx context.Context, _ int64) error {
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return err
	}
	return fault.Preconditionf("unable to update CLI secret under authmode: %s", cfg.AuthMode)
}
