// Package settings holds the system configuration's rules: who may read and change it, which
// of Harbor's /configurations keys Berth supports and what values each takes, what /systeminfo
// shows to whom, and how fresh the copy read on hot paths is.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the configuration service reads and writes; *meta.DB satisfies it.
type Store interface {
	SystemConfig(ctx context.Context) (meta.SystemConfig, error)
	UpdateSystemConfig(ctx context.Context, fn func(*meta.SystemConfig) error) (meta.SystemConfig, error)
	// WatchChanges announces this process's changes of the configuration, whoever makes them.
	WatchChanges(fn func(meta.Changes))
}

// Service is the system configuration's rules over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer

	cache cache
	watch sync.Once
}

// Item is one configuration key as callers read it.
type Item struct {
	Value    any
	Editable bool
}

// Configuration returns every supported key with its value and whether it can be changed.
func (s *Service) Configuration(ctx context.Context) (map[string]Item, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResConfiguration, rbac.ActRead); err != nil {
		return nil, err
	}
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Item, len(keys))
	for k, ck := range keys {
		out[k] = Item{ck.get(&cfg), ck.editable}
	}
	return out, nil
}

// Can reports whether the caller in ctx may read (rbac.ActRead) or change (rbac.ActUpdate) the
// configuration, by the rule Configuration and Update check: for pages that offer it before
// it is asked for.
func (s *Service) Can(ctx context.Context, act rbac.Action) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResConfiguration, act)
}

// Update validates every value before storing any, then applies them in one update. Values
// are strings, booleans and integers (int, int64, or json.Number as a JSON decoder that uses
// numbers gives them), by key. Read-only keys are accepted when they repeat the current
// value, so a configuration read and sent back unchanged is not refused. This process sees
// the change at once.
func (s *Service) Update(ctx context.Context, values map[string]any) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResConfiguration, rbac.ActUpdate); err != nil {
		return err
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names) // the first refusal is the same every time
	typed := make(map[string]any, len(values))
	for _, k := range names {
		ck, known := keys[k]
		if !known {
			return fault.Invalidf("unknown or unsupported configuration key %q", k)
		}
		v, err := valueOf(ck.kind, values[k])
		if err != nil {
			return fault.Invalidf("configuration %s: %v", k, err)
		}
		typed[k] = v
	}
	defer s.cache.forget()
	_, err := s.Store.UpdateSystemConfig(ctx, func(cfg *meta.SystemConfig) error {
		for _, k := range names {
			ck, v := keys[k], typed[k]
			if ck.set == nil {
				if cur := ck.get(cfg); fmt.Sprint(cur) != fmt.Sprint(v) {
					return fault.Invalidf("configuration %s is read-only: it is %v", k, cur)
				}
				continue
			}
			if err := ck.set(cfg, v); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// Info is what /systeminfo tells a caller about the registry's configuration. Detail is for
// signed-in callers only (nil for anonymous ones), as Harbor shows it.
type Info struct {
	BannerMessage    string
	AuthMode         string
	SelfRegistration bool
	Detail           *InfoDetail
}

// InfoDetail is the part of Info that signed-in callers see.
type InfoDetail struct {
	ProjectCreationRestriction string
	ReadOnly                   bool
}

// Info reads what the caller in ctx may know of the configuration.
func (s *Service) Info(ctx context.Context) (Info, error) {
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return Info{}, err
	}
	info := Info{BannerMessage: cfg.BannerMessage, AuthMode: cfg.AuthMode, SelfRegistration: cfg.SelfRegistration}
	if !auth.PrincipalFrom(ctx).IsAnonymous() {
		info.Detail = &InfoDetail{ProjectCreationRestriction: cfg.ProjectCreationRestriction, ReadOnly: cfg.ReadOnly}
	}
	return info, nil
}

// CachedSystemConfig is the configuration for hot paths (every write checks read-only mode,
// every Basic login the robot name prefix, every upload the quota setting): the stored document
// is re-read at most once a second, so other replicas' changes show within a second; this
// process's changes, whoever makes them, show at once (the store announces them).
func (s *Service) CachedSystemConfig(ctx context.Context) (meta.SystemConfig, error) {
	s.watch.Do(func() {
		s.Store.WatchChanges(func(c meta.Changes) {
			if c.SystemConfig {
				s.cache.forget()
			}
		})
	})
	return s.cache.get(ctx, s.Store)
}

// cache is the last configuration read and when. A read that started before a change (gen
// moved on) is not kept, so a change is never hidden behind an older read.
type cache struct {
	mu  sync.Mutex
	c   meta.SystemConfig
	at  time.Time
	gen uint64
}

// maxAge is how long a read configuration is trusted.
const maxAge = time.Second

func (c *cache) get(ctx context.Context, store Store) (meta.SystemConfig, error) {
	c.mu.Lock()
	if !c.at.IsZero() && time.Since(c.at) < maxAge {
		defer c.mu.Unlock()
		return c.c, nil
	}
	gen := c.gen
	c.mu.Unlock()
	cfg, err := store.SystemConfig(ctx)
	if err != nil {
		return cfg, err
	}
	c.mu.Lock()
	if gen == c.gen {
		c.c, c.at = cfg, time.Now()
	}
	c.mu.Unlock()
	return cfg, nil
}

func (c *cache) forget() {
	c.mu.Lock()
	c.at = time.Time{}
	c.gen++
	c.mu.Unlock()
}

// The keys of Harbor's /configurations that Berth supports, each with how it reads from and
// writes to meta.SystemConfig.

type kind int

const (
	kindString kind = iota // Harbor's StringConfigItem
	kindBool               // BoolConfigItem
	kindInt                // IntegerConfigItem
)

type key struct {
	kind     kind
	editable bool
	get      func(*meta.SystemConfig) any
	// set validates v (already of the kind) and stores it; nil for read-only keys.
	set func(c *meta.SystemConfig, v any) error
}

func intRange(name string, lo, hi int64, store func(*meta.SystemConfig, int64)) func(*meta.SystemConfig, any) error {
	return func(c *meta.SystemConfig, v any) error {
		n := v.(int64)
		if n < lo || n > hi {
			return fault.Invalidf("%s must be between %d and %d, not %d", name, lo, hi, n)
		}
		store(c, n)
		return nil
	}
}

const maxInt32 = 1<<31 - 1

var keys = map[string]key{
	"auth_mode": {kind: kindString, get: func(c *meta.SystemConfig) any { return c.AuthMode }},
	// Berth has no secondary authenticators, so its one mode is never "primary" over another.
	"primary_auth_mode": {kind: kindBool, get: func(*meta.SystemConfig) any { return false }},
	"project_creation_restriction": {kind: kindString, editable: true,
		get: func(c *meta.SystemConfig) any { return c.ProjectCreationRestriction },
		set: func(c *meta.SystemConfig, v any) error {
			s := v.(string)
			if s != "everyone" && s != "adminonly" {
				return fault.Invalidf("project_creation_restriction must be \"everyone\" or \"adminonly\", not %q", s)
			}
			c.ProjectCreationRestriction = s
			return nil
		}},
	"self_registration": {kind: kindBool, editable: true,
		get: func(c *meta.SystemConfig) any { return c.SelfRegistration },
		set: func(c *meta.SystemConfig, v any) error { c.SelfRegistration = v.(bool); return nil }},
	"robot_token_duration": {kind: kindInt, editable: true,
		get: func(c *meta.SystemConfig) any { return c.RobotTokenDuration },
		set: intRange("robot_token_duration", 1, maxInt32, func(c *meta.SystemConfig, n int64) { c.RobotTokenDuration = int(n) })},
	"robot_name_prefix": {kind: kindString, editable: true,
		get: func(c *meta.SystemConfig) any { return c.RobotNamePrefix },
		set: func(c *meta.SystemConfig, v any) error {
			s := v.(string)
			if s == "" || len(s) > 30 || strings.ContainsAny(s, " \t\r\n/:+") {
				return fault.Invalidf("robot_name_prefix %q is invalid: 1 to 30 characters without spaces, '/', ':' or '+'", s)
			}
			// Logins that start with the prefix are looked up as robots: a prefix that user
			// names may contain would hide the users whose names start with it.
			if !strings.ContainsAny(s, `,"~#%$`) {
				return fault.Invalidf(`robot_name_prefix %q is invalid: it must contain one of , " ~ # %% $, which user names cannot, so robots and users never share a name`, s)
			}
			c.RobotNamePrefix = s
			return nil
		}},
	"token_expiration": {kind: kindInt, editable: true,
		get: func(c *meta.SystemConfig) any { return c.TokenExpiration },
		set: intRange("token_expiration", 1, maxInt32, func(c *meta.SystemConfig, n int64) { c.TokenExpiration = int(n) })},
	"storage_per_project": {kind: kindInt, editable: true,
		get: func(c *meta.SystemConfig) any { return c.StoragePerProject },
		set: func(c *meta.SystemConfig, v any) error {
			n := v.(int64)
			if n != -1 && n <= 0 {
				return fault.Invalidf("storage_per_project must be -1 (unlimited) or a positive number of bytes, not %d", n)
			}
			c.StoragePerProject = n
			return nil
		}},
	"quota_per_project_enable": {kind: kindBool, editable: true,
		get: func(c *meta.SystemConfig) any { return c.QuotaPerProjectEnable },
		set: func(c *meta.SystemConfig, v any) error { c.QuotaPerProjectEnable = v.(bool); return nil }},
	"read_only": {kind: kindBool, editable: true,
		get: func(c *meta.SystemConfig) any { return c.ReadOnly },
		set: func(c *meta.SystemConfig, v any) error { c.ReadOnly = v.(bool); return nil }},
	"session_timeout": {kind: kindInt, editable: true,
		get: func(c *meta.SystemConfig) any { return c.SessionTimeout },
		set: intRange("session_timeout", 1, 525600, func(c *meta.SystemConfig, n int64) { c.SessionTimeout = int(n) })},
	"banner_message": {kind: kindString, editable: true,
		get: func(c *meta.SystemConfig) any { return c.BannerMessage },
		set: func(c *meta.SystemConfig, v any) error {
			s := v.(string)
			if len(s) > 8192 {
				return fault.Invalidf("banner_message is longer than 8192 bytes")
			}
			c.BannerMessage = s
			return nil
		}},
}

// valueOf checks a value strictly against a key's kind: int64 for integers, bool, string.
func valueOf(k kind, v any) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("null is not a value")
	}
	switch k {
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false")
	case kindInt:
		switch n := v.(type) {
		case int:
			return int64(n), nil
		case int64:
			return n, nil
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
		}
		return nil, fmt.Errorf("want an integer")
	default:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("want a string")
	}
}
