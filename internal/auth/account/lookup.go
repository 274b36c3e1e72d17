// Package account finds the accounts that log in with a name and a password — local users and
// robot accounts — by that name: what the Authenticator checks every Basic credential against,
// and what the token service checks a refresh token against. It also records the lockouts of
// login throttling in the audit log (Lockouts).
package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// Store is what the lookup reads.
type Store interface {
	UserByName(ctx context.Context, name string) (meta.User, error)
	RobotByName(ctx context.Context, name string) (meta.Robot, error)
}

// Config reads the system configuration from a cache (*settings.Service): every Basic
// credential check (each /v2/ request that sends one) reads the robot name prefix.
type Config interface {
	CachedSystemConfig(ctx context.Context) (meta.SystemConfig, error)
}

// Lookup finds accounts by login name.
type Lookup struct {
	Store  Store
	Config Config
}

// Account is an auth.AccountLookup: a name with the configured robot prefix ("robot$") is a
// robot account, any other a local user. Unknown names, and robots that are disabled or
// expired, are auth.ErrNoAccount, so they fail to log in alike.
func (l *Lookup) Account(ctx context.Context, name string) (auth.Account, error) {
	cfg, err := l.Config.CachedSystemConfig(ctx)
	if err != nil {
		return auth.Account{}, err
	}
	if cfg.RobotNamePrefix != "" && strings.HasPrefix(name, cfg.RobotNamePrefix) {
		return l.robot(ctx, name, strings.TrimPrefix(name, cfg.RobotNamePrefix))
	}
	u, err := l.Store.UserByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return auth.Account{}, auth.ErrNoAccount
	}
	if err != nil {
		return auth.Account{}, fmt.Errorf("look up user %s: %w", name, err)
	}
	return auth.Account{ID: u.ID, Name: u.Username, PasswordHash: u.PasswordHash, SysAdmin: u.SysAdmin}, nil
}

// robot finds a robot account by its login (prefix included) and stored name.
func (l *Lookup) robot(ctx context.Context, login, name string) (auth.Account, error) {
	r, err := l.Store.RobotByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return auth.Account{}, auth.ErrNoAccount
	}
	if err != nil {
		return auth.Account{}, fmt.Errorf("look up robot %s: %w", login, err)
	}
	if r.Disabled || r.Expired(time.Now()) {
		return auth.Account{}, auth.ErrNoAccount
	}
	return auth.Account{ID: r.ID, Name: login, PasswordHash: r.SecretHash, Robot: true}, nil
}
