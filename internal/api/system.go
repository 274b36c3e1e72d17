package api

// The everyday system endpoints: /systeminfo, /systeminfo/volumes, /health, /statistics,
// /search and /configurations, answered in the shapes of Harbor's swagger (GeneralInfo,
// SystemInfo, OverallHealthStatus, Statistic, Search, ConfigurationsResponse). GeneralInfo
// has one field of Berth's own: vulnerability_database, the built-in scanner's database.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/scan"
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
	// VulnerabilityDatabase is Berth's: the built-in scanner's database and its updates.
	VulnerabilityDatabase *vulnDBJSON `json:"vulnerability_database,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func (h *Handler) systemInfo(c *call) error {
	cfg, err := h.Settings.Info(c.r.Context())
	if err != nil {
		return err
	}
	ext := h.Origin.URL(c.r)
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
	if d := cfg.Detail; d != nil {
		info.CurrentTime = ptr(time.Now().UTC().Format(time.RFC3339Nano))
		info.ProjectCreationRestriction = ptr(d.ProjectCreationRestriction)
		info.HasCARoot = ptr(false)
		info.RegistryStorageProviderName = ptr(h.Catalog.StorageProvider())
		info.ReadOnly = ptr(d.ReadOnly)
		info.NotificationEnable = ptr(false)
		if h.Scan != nil {
			st, err := h.Scan.VulnDBState(c.r.Context())
			if err != nil {
				return err
			}
			info.VulnerabilityDatabase = toVulnDBJSON(st)
		}
	}
	writeJSON(c.w, http.StatusOK, info)
	return nil
}

type vulnDBJSON struct {
	Status          string           `json:"status"` // ready, missing
	Message         string           `json:"message,omitempty"`
	Generation      int64            `json:"generation"`
	UpdatedAt       string           `json:"updated_at,omitempty"`
	Vulnerabilities int64            `json:"vulnerabilities"`
	Update          vulnDBUpdateJSON `json:"update"`
}

type vulnDBUpdateJSON struct {
	Scheduled bool   `json:"scheduled"`
	AirGapped bool   `json:"air_gapped"`
	Interval  string `json:"interval,omitempty"`
	URL       string `json:"url,omitempty"`
	NextTime  string `json:"next_time,omitempty"`
	// Last is the latest update run, scheduled or by hand (berth vulndb update).
	Last *vulnDBLastUpdateJSON `json:"last,omitempty"`
}

type vulnDBLastUpdateJSON struct {
	Trigger   string `json:"trigger"`
	Status    string `json:"status"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time,omitempty"`
	Message   string `json:"message,omitempty"`
}

func toVulnDBJSON(st scan.VulnDBState) *vulnDBJSON {
	out := &vulnDBJSON{Status: st.State, Message: st.Message, Generation: st.Generation, Vulnerabilities: st.Vulnerabilities,
		Update: vulnDBUpdateJSON{Scheduled: st.Scheduled, AirGapped: st.AirGapped, URL: st.URL}}
	if !st.ImportedAt.IsZero() {
		out.UpdatedAt = harborTime(st.ImportedAt)
	}
	if st.Interval > 0 {
		out.Update.Interval = st.Interval.String()
	}
	if !st.NextUpdate.IsZero() {
		out.Update.NextTime = harborTime(st.NextUpdate)
	}
	if l := st.LastUpdate; l != nil {
		out.Update.Last = &vulnDBLastUpdateJSON{Trigger: l.Trigger, Status: l.Status, StartTime: harborTime(l.StartedAt), Message: l.Message}
		if !l.FinishedAt.IsZero() {
			out.Update.Last.EndTime = harborTime(l.FinishedAt)
		}
	}
	return out
}

func (h *Handler) volumes(c *call) error {
	total, free, err := h.Catalog.Volumes(c.r.Context())
	if err != nil {
		return err
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

// health answers 200 with the overall status whatever the components' state, as Harbor does.
func (h *Handler) health(c *call) error {
	r := h.Health.Check(c.r.Context())
	comps := make([]componentHealth, len(r.Components))
	for i, cmp := range r.Components {
		comps[i] = componentHealth{Name: cmp.Name, Status: cmp.Status, Error: cmp.Error}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"status": r.Status, "components": comps})
	return nil
}

func (h *Handler) statistics(c *call) error {
	s, err := h.Catalog.Statistics(c.r.Context())
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
// see.
func (h *Handler) search(c *call) error {
	found, err := h.Catalog.Search(c.r.Context(), c.r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	projects := make([]projectJSON, 0, len(found.Projects))
	for _, p := range found.Projects {
		j, err := h.projectJSON(c, p.Project, p.Metadata, nil)
		if err != nil {
			return err
		}
		projects = append(projects, j)
	}
	repos := make([]searchRepositoryJSON, 0, len(found.Repositories))
	for _, r := range found.Repositories {
		repos = append(repos, searchRepositoryJSON{r.ProjectID, r.ProjectName, r.ProjectPublic, r.Name, r.PullCount, r.ArtifactCount})
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"project": projects, "repository": repos})
	return nil
}

// getConfigurations answers {"key": {"value": v, "editable": b}} for every supported key.
func (h *Handler) getConfigurations(c *call) error {
	items, err := h.Settings.Configuration(c.r.Context())
	if err != nil {
		return err
	}
	type item struct {
		Value    any  `json:"value"`
		Editable bool `json:"editable"`
	}
	out := make(map[string]item, len(items))
	for k, it := range items {
		out[k] = item{it.Value, it.Editable}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// putConfigurations takes plain values for some of the keys (see settings.Service.Update).
func (h *Handler) putConfigurations(c *call) error {
	b, err := readBody(c.r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
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
	values := make(map[string]any, len(raw))
	for k, r := range raw {
		// Numbers stay as written, so the service can tell 30 from 30.0 and from 3e1.
		vd := json.NewDecoder(bytes.NewReader(r))
		vd.UseNumber()
		var v any
		if err := vd.Decode(&v); err != nil {
			return badRequest("invalid request body: " + err.Error())
		}
		values[k] = v
	}
	if err := h.Settings.Update(c.r.Context(), values); err != nil {
		return err
	}
	return ok(c)
}

// Version is Berth's version as /systeminfo reports it.
func Version() string { return version() }
