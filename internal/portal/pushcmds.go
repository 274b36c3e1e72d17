package portal

// The push commands box of a project's summary page: the exact docker, podman, helm and oras
// lines for this registry and project, each with a copy button, shown to those who may push.
// The host is the registry's as /api/v2.0/systeminfo gives it (registry_url).

import (
	"strings"

	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// pushBox is the box's lines, and the script behind its copy buttons.
type pushBox struct {
	Lines      []pushLine
	CopyScript string
}

type pushLine struct {
	ID, Label, Command string
}

// pushCommands is the box for project v, or nil for a caller who may not push to it.
func (h *Handler) pushCommands(c *call, v project.View) (*pushBox, error) {
	ok, err := h.Projects.Can(c.ctx(), v.Project, rbac.ResRepository, rbac.ActPush)
	if err != nil || !ok || h.Origin == nil {
		return nil, err
	}
	host := h.Origin.URL(c.r)
	if _, rest, found := strings.Cut(host, "://"); found {
		host = rest
	}
	base := host + "/" + v.Project.Name
	return &pushBox{CopyScript: h.assets.url("copy.js"), Lines: []pushLine{
		{"push-docker-tag", "Tag an image for this project (Docker)", "docker tag SOURCE_IMAGE[:TAG] " + base + "/REPOSITORY[:TAG]"},
		{"push-docker", "Push an image to this project (Docker)", "docker push " + base + "/REPOSITORY[:TAG]"},
		{"push-podman", "Push an image to this project (Podman)", "podman push IMAGE_ID " + base + "/REPOSITORY[:TAG]"},
		{"push-helm", "Push a Helm chart to this project", "helm push CHART_PACKAGE oci://" + base},
		{"push-oras", "Push an artifact to this project (ORAS)", "oras push " + base + "/REPOSITORY:TAG FILE"},
	}}, nil
}
