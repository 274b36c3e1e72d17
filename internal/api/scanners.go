package api

// Scanner registrations (swagger tag "scanner") and each project's scanner (tag "project"),
// answered from the scan service, which holds their rules.

import (
	"net/http"
	"strings"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/report"
)

func (h *Handler) scannerRoutes(r route) {
	r("GET /scanners", h.listScanners)
	r("POST /scanners", h.createScanner)
	r("POST /scanners/ping", h.pingScanner)
	r("GET /scanners/{registration_id}", h.getScanner)
	r("PUT /scanners/{registration_id}", h.updateScanner)
	r("DELETE /scanners/{registration_id}", h.deleteScanner)
	r("PATCH /scanners/{registration_id}", h.setDefaultScanner)
	r("GET /scanners/{registration_id}/metadata", h.scannerMetadata)
	r("GET /projects/{project_name_or_id}/scanner", h.getProjectScanner)
	r("PUT /projects/{project_name_or_id}/scanner", h.setProjectScanner)
	r("GET /projects/{project_name_or_id}/scanner/candidates", h.listScannerCandidates)
}

// scannerJSON is Harbor's ScannerRegistration, without access_credential: Harbor stopped
// returning it, and Berth never did.
type scannerJSON struct {
	UUID            string          `json:"uuid"`
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	URL             string          `json:"url"`
	Disabled        bool            `json:"disabled"`
	IsDefault       bool            `json:"is_default"`
	Auth            string          `json:"auth"`
	SkipCertVerify  bool            `json:"skip_certVerify"`
	UseInternalAddr bool            `json:"use_internal_addr"`
	CreateTime      string          `json:"create_time"`
	UpdateTime      string          `json:"update_time"`
	Adapter         string          `json:"adapter,omitempty"`
	Vendor          string          `json:"vendor,omitempty"`
	Version         string          `json:"version,omitempty"`
	Health          string          `json:"health,omitempty"`
	Capabilities    map[string]bool `json:"capabilities,omitempty"`
}

// scannerReq is ScannerRegistrationReq, and ScannerRegistrationSettings for a ping. The
// portal sends back what it read, so the read-only fields of a registration are accepted and
// ignored.
type scannerReq struct {
	Name             string `json:"name"`
	Description      string `json:"description"`
	URL              string `json:"url"`
	Auth             string `json:"auth"`
	AccessCredential string `json:"access_credential"`
	SkipCertVerify   bool   `json:"skip_certVerify"`
	UseInternalAddr  bool   `json:"use_internal_addr"`
	Disabled         bool   `json:"disabled"`

	UUID         any `json:"uuid"`
	IsDefault    any `json:"is_default"`
	CreateTime   any `json:"create_time"`
	UpdateTime   any `json:"update_time"`
	Adapter      any `json:"adapter"`
	Vendor       any `json:"vendor"`
	Version      any `json:"version"`
	Health       any `json:"health"`
	Capabilities any `json:"capabilities"`
}

// decodeRegistration reads a registration's settings from the request body.
func decodeRegistration(c *call) (meta.ScannerRegistration, error) {
	var req scannerReq
	if err := decode(c.r, &req); err != nil {
		return meta.ScannerRegistration{}, err
	}
	return meta.ScannerRegistration{Name: req.Name, Description: req.Description, URL: req.URL, Auth: req.Auth,
		AccessCredential: req.AccessCredential, SkipCertVerify: req.SkipCertVerify, UseInternalAddr: req.UseInternalAddr,
		Disabled: req.Disabled}, nil
}

// toScannerJSON renders a registration without its adapter's answers.
func toScannerJSON(r meta.ScannerRegistration) scannerJSON {
	return scannerJSON{UUID: r.UUID, Name: r.Name, Description: r.Description, URL: r.URL, Disabled: r.Disabled,
		IsDefault: r.IsDefault, Auth: r.Auth, SkipCertVerify: r.SkipCertVerify, UseInternalAddr: r.UseInternalAddr,
		CreateTime: harborTime(r.CreatedAt), UpdateTime: harborTime(r.UpdatedAt)}
}

// statusJSON renders a registration with what its adapter said of itself.
func statusJSON(s scan.RegistrationStatus) scannerJSON {
	out := toScannerJSON(s.ScannerRegistration)
	if !s.Healthy {
		out.Health = "unhealthy"
		return out
	}
	md := s.Metadata
	out.Health = "healthy"
	out.Adapter, out.Vendor, out.Version = md.Scanner.Name, md.Scanner.Vendor, md.Scanner.Version
	out.Capabilities = map[string]bool{"support_vulnerability": false, "support_sbom": false}
	for _, c := range md.Capabilities {
		out.Capabilities["support_"+c.Type] = true
	}
	return out
}

// scannerListQuery reads a listing's parameters, with Harbor's older ones: name,
// description, url (contains); ex_name, ex_url (exact).
func scannerListQuery(c *call) (meta.ListQuery, int, error) {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return lq, page, err
	}
	params := c.r.URL.Query()
	for _, k := range []string{"name", "description", "url"} {
		if v := params.Get(k); v != "" {
			lq.Filters = append(lq.Filters, meta.Filter{Key: k, Op: meta.OpFuzzy, Values: []string{v}})
		}
	}
	for _, k := range []string{"ex_name", "ex_url"} {
		if v := params.Get(k); v != "" {
			lq.Filters = append(lq.Filters, meta.Filter{Key: strings.TrimPrefix(k, "ex_"), Op: meta.OpExact, Values: []string{v}})
		}
	}
	return lq, page, nil
}

func writeScannerList(c *call, rs []scan.RegistrationStatus, total int64, page, limit int) error {
	out := make([]scannerJSON, len(rs))
	for i, r := range rs {
		out[i] = statusJSON(r)
	}
	setPageHeaders(c.w, c.r, page, limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) listScanners(c *call) error {
	lq, page, err := scannerListQuery(c)
	if err != nil {
		return err
	}
	rs, total, err := h.Scan.ListRegistrations(c.r.Context(), lq)
	if err != nil {
		return err
	}
	return writeScannerList(c, rs, total, page, lq.Limit)
}

func (h *Handler) createScanner(c *call) error {
	r, err := decodeRegistration(c)
	if err != nil {
		return err
	}
	reg, err := h.Scan.CreateRegistration(c.r.Context(), r)
	if err != nil {
		return err
	}
	return created(c, base+"/scanners/"+reg.UUID)
}

func (h *Handler) pingScanner(c *call) error {
	r, err := decodeRegistration(c)
	if err != nil {
		return err
	}
	if err := h.Scan.PingRegistration(c.r.Context(), r); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) getScanner(c *call) error {
	r, err := h.Scan.Registration(c.r.Context(), c.r.PathValue("registration_id"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, statusJSON(r))
	return nil
}

func (h *Handler) updateScanner(c *call) error {
	r, err := decodeRegistration(c)
	if err != nil {
		return err
	}
	if err := h.Scan.UpdateRegistration(c.r.Context(), c.r.PathValue("registration_id"), r); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteScanner(c *call) error {
	deleted, err := h.Scan.DeleteRegistration(c.r.Context(), c.r.PathValue("registration_id"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toScannerJSON(deleted))
	return nil
}

// setDefaultScanner is PATCH {is_default}; is_default left out is false, as Harbor reads it.
func (h *Handler) setDefaultScanner(c *call) error {
	var req struct {
		IsDefault bool `json:"is_default"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Scan.SetDefaultRegistration(c.r.Context(), c.r.PathValue("registration_id"), req.IsDefault); err != nil {
		return err
	}
	return ok(c)
}

// scannerMetadataJSON is Harbor's ScannerAdapterMetadata.
type scannerMetadataJSON struct {
	Scanner      report.Scanner          `json:"scanner"`
	Capabilities []scannerCapabilityJSON `json:"capabilities"`
	Properties   map[string]string       `json:"properties"`
}

type scannerCapabilityJSON struct {
	Type              string   `json:"type"`
	ConsumesMimeTypes []string `json:"consumes_mime_types"`
	ProducesMimeTypes []string `json:"produces_mime_types"`
}

func (h *Handler) scannerMetadata(c *call) error {
	md, err := h.Scan.RegistrationMetadata(c.r.Context(), c.r.PathValue("registration_id"))
	if err != nil {
		return err
	}
	out := scannerMetadataJSON{Scanner: md.Scanner, Properties: md.Properties, Capabilities: []scannerCapabilityJSON{}}
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	for _, cp := range md.Capabilities {
		out.Capabilities = append(out.Capabilities, scannerCapabilityJSON{Type: cp.Type,
			ConsumesMimeTypes: cp.ConsumesMimeTypes, ProducesMimeTypes: cp.ProducesMimeTypes})
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) getProjectScanner(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	r, err := h.Scan.ProjectScanner(c.r.Context(), ref, byName)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, statusJSON(r))
	return nil
}

func (h *Handler) setProjectScanner(c *call) error {
	var req struct {
		UUID string `json:"uuid"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Scan.SetProjectScanner(c.r.Context(), ref, byName, req.UUID); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) listScannerCandidates(c *call) error {
	lq, page, err := scannerListQuery(c)
	if err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	rs, total, err := h.Scan.ScannerCandidates(c.r.Context(), ref, byName, lq)
	if err != nil {
		return err
	}
	return writeScannerList(c, rs, total, page, lq.Limit)
}
