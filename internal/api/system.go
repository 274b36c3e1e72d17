package api

// The everyday system endpoints: /systeminfo, /systeminfo/volumes, /health, /statistics,
// /search and /configurations, answered in the shapes of Harbor's swagger (GeneralInfo,
// SystemInfo, OverallHealthStatus, Statistic, Search, ConfigurationsResponse).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// systemRoutes registers the endpoints for systeminfo, health, statistics, search and
// configurations.
func (h *Handler) systemRoutes(r route) {
	r("GET /systeminfo", h.systemInfo)
	r("GET /systeminfo/volumes", h.volumes)
	r("GET /health", h.health)
	r("GET /statistics", h.statistics)
	r("GET /search", h.search)
	r("GET /configurations", h.getConfigurations)
	r("PUT /configurations", h.putConfigurations)
}

// version is Berth's version as /systeminfo reports it in harbor_version: the module version
// of a released build, else the VCS revision.
var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "berth-unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return "berth-" + v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "berth-dev-" + s.Value[:12]
		}
	}
	return "berth-dev"
})

// generalInfo is Harbor's GeneralInfo; nil fields are left out, as Harbor leaves them out for
// anonymous callers.
type generalInfo struct {
	BannerMessage               *string `json:"banner_message,omitempty"`
	CurrentTime                 *string `json:"current_time,omitempty"`
	RegistryURL                 *string `json:"registry_url,omitempty"`
	ExternalURL                 *string `json:"external_url,omitempty"`
	AuthMode                    *string `json:"auth_mode,omitempty"`
	PrimaryAuthMode             *bool   `json:"primary_auth_mode,omitempty"`
	ProjectCreationRestriction  *string `json:"project_creation_restriction,omitempty"`
	SelfRegistration            *bool   `json:"self_registration,omitempty"`
	HasCARoot                   *bool   `json:"has_ca_root,omitempty"`
	HarborVersion               *string `json:"harbor_version,omitempty"`
	RegistryStorageProviderName *string `json:"registry_storage_provider_name,omitempty"`
	ReadOnly                    *bool   `json:"read_only,omitempty"`
	NotificationEnable          *bool   `json:"notification_enable,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// storageProvider names the blob store: drivers may name themselves; the filesystem driver,
// the only one that does not, is "filesystem".
func (h *Handler) storageProvider() string {
	if h.Reg != nil {
		if n, ok := h.Reg.Blobs.(interface{ Provider() string }); ok {
			return n.Provider()
		}
	}
	return "filesystem"
}

func (h *Handler) systemInfo(c *call) error {
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	ext := strings.TrimSuffix(h.ExternalURL, "/")
	registry := ext
	if _, rest, ok := strings.Cut(ext, "://"); ok {
		registry = rest
	}
	info := generalInfo{
		BannerMessage:    ptr(cfg.BannerMessage),
		RegistryURL:      ptr(registry),
		ExternalURL:      ptr(ext),
		AuthMode:         ptr(cfg.AuthMode),
		PrimaryAuthMode:  ptr(false),
		SelfRegistration: ptr(cfg.SelfRegistration),
		HarborVersion:    ptr(version()),
	}
	if !c.p.IsAnonymous() {
		info.CurrentTime = ptr(time.Now().UTC().Format(time.RFC3339Nano))
		info.ProjectCreationRestriction = ptr(cfg.ProjectCreationRestriction)
		info.HasCARoot = ptr(false)
		info.RegistryStorageProviderName = ptr(h.storageProvider())
		info.ReadOnly = ptr(cfg.ReadOnly)
		info.NotificationEnable = ptr(false)
	}
	writeJSON(c.w, http.StatusOK, info)
	return nil
}

func (h *Handler) volumes(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResSystemVolumes, rbac.ActRead); err != nil {
		return err
	}
	// The blob storage is what fills up; an object store has no size to report.
	u, ok := h.Reg.Blobs.(blob.UsageReporter)
	if !ok {
		return notFound("the blob storage has no size to report")
	}
	total, free, err := u.Usage(c.r.Context())
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	type storage struct {
		Total uint64 `json:"total"`
		Free  uint64 `json:"free"`
	}
	writeJSON(c.w, http.StatusOK, map[string][]storage{"storage": {{Total: total, Free: free}}})
	return nil
}

type componentHealth struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// health checks the components Berth has: core (this process, healthy if it answers), the
// metadata database and the blob storage ("registry" in Harbor's terms). It answers 200 with
// the overall status whatever the components' state, as Harbor does. Causes are logged, not
// shown: they may name hosts or credentials.
func (h *Handler) health(c *call) error {
	ctx, cancel := context.WithTimeout(c.r.Context(), 5*time.Second)
	defer cancel()
	check := func(name string, ping func(context.Context) error) componentHealth {
		if err := ping(ctx); err != nil {
			h.Log.WarnContext(ctx, "health check failed", "component", name, "err", err)
			return componentHealth{Name: name, Status: "unhealthy", Error: name + " is unreachable"}
		}
		return componentHealth{Name: name, Status: "healthy"}
	}
	comps := []componentHealth{
		{Name: "core", Status: "healthy"},
		check("database", h.DB.Ping),
		check("registry", h.Reg.Blobs.Ping),
	}
	status := "healthy"
	for _, cmp := range comps {
		if cmp.Status != "healthy" {
			status = "unhealthy"
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"status": status, "components": comps})
	return nil
}

// statistics follows Harbor: public counts for everyone signed in; system administrators get
// the totals, private counts over all projects and the storage consumption; other users the
// private projects they are members of (robots, not being members, none).
func (h *Handler) statistics(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	var member int64
	if c.p.Kind == auth.User {
		member = c.p.ID
	}
	s, err := h.DB.Statistics(c.r.Context(), c.p.SysAdmin, member)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]int64{
		"private_project_count":     s.PrivateProjects,
		"private_repo_count":        s.PrivateRepos,
		"public_project_count":      s.PublicProjects,
		"public_repo_count":         s.PublicRepos,
		"total_project_count":       s.TotalProjects,
		"total_repo_count":          s.TotalRepos,
		"total_storage_consumption": s.StorageBytes,
	})
	return nil
}

type searchRepositoryJSON struct {
	ProjectID      int64  `json:"project_id"`
	ProjectName    string `json:"project_name"`
	ProjectPublic  bool   `json:"project_public"`
	RepositoryName string `json:"repository_name"`
	PullCount      int64  `json:"pull_count"`
	ArtifactCount  int64  `json:"artifact_count"`
}

// search finds projects and repositories whose names contain q, among those the caller may
// see. The database narrows the candidates for users (public projects and their own); every
// candidate is then put to the authorizer, which is what decides.
func (h *Handler) search(c *call) error {
	term := c.r.URL.Query().Get("q")
	if term == "" {
		return badRequest("q is required")
	}
	ctx := c.r.Context()
	// Robots are not members: the database cannot narrow their candidates, the authorizer does.
	f := meta.SearchFilter{Term: term, All: c.p.SysAdmin || c.p.Kind == auth.Robot}
	if c.p.Kind == auth.User {
		f.MemberID = c.p.ID
	}
	ps, err := h.DB.SearchProjects(ctx, f)
	if err != nil {
		return err
	}
	projects := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		visible, err := h.Authz.CanSeeProject(ctx, c.p, p)
		if err != nil {
			return err
		}
		if !visible {
			continue
		}
		md, err := h.DB.ProjectMetadata(ctx, p.ID)
		if err != nil {
			return err
		}
		j, err := h.projectJSON(c, p, md, nil)
		if err != nil {
			return err
		}
		projects = append(projects, j)
	}
	rs, err := h.DB.SearchRepositories(ctx, f)
	if err != nil {
		return err
	}
	canList := map[int64]bool{}
	repos := make([]searchRepositoryJSON, 0, len(rs))
	for _, r := range rs {
		allowed, seen := canList[r.ProjectID]
		if !seen {
			p := meta.Project{ID: r.ProjectID, Name: r.ProjectName, Public: r.ProjectPublic}
			if allowed, err = h.Authz.Can(ctx, c.p, p, rbac.ResRepository, rbac.ActList); err != nil {
				return err
			}
			canList[r.ProjectID] = allowed
		}
		if allowed {
			repos = append(repos, searchRepositoryJSON{r.ProjectID, r.ProjectName, r.ProjectPublic, r.Name, r.PullCount, r.ArtifactCount})
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"project": projects, "repository": repos})
	return nil
}

// Configurations: the keys of Harbor's /configurations that Berth supports, each with how it
// reads from and writes to meta.SystemConfig. GET answers {"key": {"value": v, "editable": b}};
// PUT takes plain values for a subset of the keys.

type configKey struct {
	kind     string // "string", "bool" or "int", as Harbor's String/Bool/IntegerConfigItem
	editable bool
	get      func(*meta.SystemConfig) any
	// set validates v (already of the kind) and stores it; nil for read-only keys.
	set func(c *meta.SystemConfig, v any) error
}

func intRange(name string, lo, hi int64, store func(*meta.SystemConfig, int64)) func(*meta.SystemConfig, any) error {
	return func(c *meta.SystemConfig, v any) error {
		n := v.(int64)
		if n < lo || n > hi {
			return badRequest(fmt.Sprintf("%s must be between %d and %d, not %d", name, lo, hi, n))
		}
		store(c, n)
		return nil
	}
}

const maxInt32 = 1<<31 - 1

var configKeys = map[string]configKey{
	"auth_mode": {kind: "string", get: func(c *meta.SystemConfig) any { return c.AuthMode }},
	// Berth has no secondary authenticators, so its one mode is never "primary" over another.
	"primary_auth_mode": {kind: "bool", get: func(*meta.SystemConfig) any { return false }},
	"project_creation_restriction": {kind: "string", editable: true,
		get: func(c *meta.SystemConfig) any { return c.ProjectCreationRestriction },
		set: func(c *meta.SystemConfig, v any) error {
			s := v.(string)
			if s != "everyone" && s != "adminonly" {
				return badRequest(fmt.Sprintf("project_creation_restriction must be \"everyone\" or \"adminonly\", not %q", s))
			}
			c.ProjectCreationRestriction = s
			return nil
		}},
	"self_registration": {kind: "bool", editable: true,
		get: func(c *meta.SystemConfig) any { return c.SelfRegistration },
		set: func(c *meta.SystemConfig, v any) error { c.SelfRegistration = v.(bool); return nil }},
	"robot_token_duration": {kind: "int", editable: true,
		get: func(c *meta.SystemConfig) any { return c.RobotTokenDuration },
		set: intRange("robot_token_duration", 1, maxInt32, func(c *meta.SystemConfig, n int64) { c.RobotTokenDuration = int(n) })},
	"robot_name_prefix": {kind: "string", editable: true,
		get: func(c *meta.SystemConfig) any { return c.RobotNamePrefix },
		set: func(c *meta.SystemConfig, v any) error {
			s := v.(string)
			if s == "" || len(s) > 30 || strings.ContainsAny(s, " \t\r\n/:+") {
				return badRequest(fmt.Sprintf("robot_name_prefix %q is invalid: 1 to 30 characters without spaces, '/', ':' or '+'", s))
			}
			// Logins that start with the prefix are looked up as robots: a prefix that user
			// names may contain would hide the users whose names start with it.
			if !strings.ContainsAny(s, `,"~#%$`) {
				return badRequest(fmt.Sprintf(`robot_name_prefix %q is invalid: it must contain one of , " ~ # %% $, which user names cannot, so robots and users never share a name`, s))
			}
			c.RobotNamePrefix = s
			return nil
		}},
	"token_expiration": {kind: "int", editable: true,
		get: func(c *meta.SystemConfig) any { return c.TokenExpiration },
		set: intRange("token_expiration", 1, maxInt32, func(c *meta.SystemConfig, n int64) { c.TokenExpiration = int(n) })},
	"storage_per_project": {kind: "int", editable: true,
		get: func(c *meta.SystemConfig) any { return c.StoragePerProject },
		set: func(c *meta.SystemConfig, v any) error {
			n := v.(int64)
			if n != -1 && n <= 0 {
				return badRequest(fmt.Sprintf("storage_per_project must be -1 (unlimited) or a positive number of bytes, not %d", n))
			}
			c.StoragePerProject = n
			return nil
		}},
	"quota_per_project_enable": {kind: "bool", editable: true,
		get: func(c *meta.SystemConfig) any { return c.QuotaPerProjectEnable },
		set: func(c *meta.SystemConfig, v any) error { c.QuotaPerProjectEnable = v.(bool); return nil }},
	"read_only": {kind: "bool", editable: true,
		get: func(c *meta.SystemConfig) any { return c.ReadOnly },
		set: func(c *meta.SystemConfig, v any) error { c.ReadOnly = v.(bool); return nil }},
	"session_timeout": {kind: "int", editable: true,
		get: func(c *meta.SystemConfig) any { return c.SessionTimeout },
		set: intRange("session_timeout", 1, 525600, func(c *meta.SystemConfig, n int64) { c.SessionTimeout = int(n) })},
	"banner_message": {kind: "string", editable: true,
		get: func(c *meta.SystemConfig) any { return c.BannerMessage },
		set: func(c *meta.SystemConfig, v any) error {
			s := v.(string)
			if len(s) > 8192 {
				return badRequest("banner_message is longer than 8192 bytes")
			}
			c.BannerMessage = s
			return nil
		}},
}

func (h *Handler) getConfigurations(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResConfiguration, rbac.ActRead); err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	type item struct {
		Value    any  `json:"value"`
		Editable bool `json:"editable"`
	}
	out := make(map[string]item, len(configKeys))
	for k, ck := range configKeys {
		out[k] = item{ck.get(&cfg), ck.editable}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// putConfigurations validates every key before storing any, then applies them in one update.
// Read-only keys are accepted when they repeat the current value, so a configuration read
// with GET and sent back unchanged is not refused.
func (h *Handler) putConfigurations(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResConfiguration, rbac.ActUpdate); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return badRequest("invalid request body: " + err.Error())
	}
	if dec.More() {
		return badRequest("invalid request body: data after the JSON document")
	}
	if raw == nil {
		return badRequest("invalid request body: want a JSON object of configuration values")
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error reported is the same every time
	values := make(map[string]any, len(raw))
	for _, k := range keys {
		ck, known := configKeys[k]
		if !known {
			return badRequest(fmt.Sprintf("unknown or unsupported configuration key %q", k))
		}
		v, err := configValue(ck.kind, raw[k])
		if err != nil {
			return badRequest(fmt.Sprintf("configuration %s: %v", k, err))
		}
		values[k] = v
	}
	_, err := h.DB.UpdateSystemConfig(c.r.Context(), func(cfg *meta.SystemConfig) error {
		for _, k := range keys {
			ck, v := configKeys[k], values[k]
			if ck.set == nil {
				if cur := ck.get(cfg); fmt.Sprint(cur) != fmt.Sprint(v) {
					return badRequest(fmt.Sprintf("configuration %s is read-only: it is %v", k, cur))
				}
				continue
			}
			if err := ck.set(cfg, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return ok(c)
}

// configValue decodes one value strictly as the key's kind: int64 for "int", bool, string.
func configValue(kind string, raw json.RawMessage) (any, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, errors.New("null is not a value")
	}
	switch kind {
	case "bool":
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, errors.New("want true or false")
		}
		return b, nil
	case "int":
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, errors.New("want an integer")
		}
		return n, nil
	default:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errors.New("want a string")
		}
		return s, nil
	}
}

// Version is Berth's version as /systeminfo reports it.
func Version() string { return version() }
