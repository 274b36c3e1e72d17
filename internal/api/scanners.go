package api

// Scanner registrations (swagger tag "scanner") and each project's scanner (tag "project"):
// which adapters Berth may send scans to, which is the default, and which one a project uses.
// The rules follow Harbor's handler and controller (src/server/v2.0/handler/scanner.go,
// src/controller/scanner): a new registration is pinged before it is stored and becomes the
// default if there is none; the built-in registration cannot be changed or deleted (403); the
// access credential is never shown (a PUT without one keeps it).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/scan/adapter"
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

const (
	maxScannerName        = 128 // Harbor's column sizes
	maxScannerDescription = 1024
	// scannerPingTimeout bounds a metadata call made while answering a request.
	scannerPingTimeout = 10 * time.Second
)

// scannerHealth remembers the adapters' metadata for the listings (Harbor: 30 s).
var scannerHealth = &adapter.MetadataCache{TTL: 30 * time.Second}

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

// registration checks a request's settings and returns them as a registration.
func (req scannerReq) registration() (meta.ScannerRegistration, error) {
	r := meta.ScannerRegistration{Name: strings.TrimSpace(req.Name), Description: req.Description, URL: adapter.NormalizeURL(req.URL),
		Auth: req.Auth, AccessCredential: req.AccessCredential, SkipCertVerify: req.SkipCertVerify,
		UseInternalAddr: req.UseInternalAddr, Disabled: req.Disabled}
	switch {
	case r.Name == "":
		return r, badRequest("name is required")
	case len(r.Name) > maxScannerName:
		return r, badRequest(fmt.Sprintf("name is longer than %d characters", maxScannerName))
	case len(r.Description) > maxScannerDescription:
		return r, badRequest(fmt.Sprintf("description is longer than %d characters", maxScannerDescription))
	}
	if err := adapter.RegistrationOf(r).Validate(); err != nil {
		return r, badRequest(err.Error())
	}
	return r, nil
}

// engines gives registrations their engines; the built-in one is this Berth's scanner.
func (h *Handler) engines() *adapter.Engines {
	e := &adapter.Engines{}
	if h.Scan != nil && h.Scan.Builtin != nil {
		e.Builtin = h.Scan.Builtin
	}
	return e
}

// metadata asks a registration's adapter for its metadata now.
func (h *Handler) metadata(ctx context.Context, reg meta.ScannerRegistration) (report.Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, scannerPingTimeout)
	defer cancel()
	ar := adapter.RegistrationOf(reg)
	md, err := h.engines().Engine(ar).Metadata(ctx)
	if !reg.Immutable {
		scannerHealth.Put(ar, md, err)
	}
	return md, err
}

// pingAdapter checks that an adapter answers; a failure is the caller's 400 with the reason.
func (h *Handler) pingAdapter(ctx context.Context, reg meta.ScannerRegistration) error {
	if _, err := h.metadata(ctx, reg); err != nil {
		return badRequest("ping: " + err.Error())
	}
	return nil
}

// scannersJSON renders registrations with their adapters' health, asking the adapters the
// cache has no fresh answer for, all at once.
func (h *Handler) scannersJSON(ctx context.Context, rs []meta.ScannerRegistration) []scannerJSON {
	out := make([]scannerJSON, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		out[i] = toScannerJSON(r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, scannerPingTimeout)
			defer cancel()
			ar := adapter.RegistrationOf(r)
			e := h.engines().Engine(ar)
			var md report.Metadata
			var err error
			if r.Immutable {
				md, err = e.Metadata(ctx) // in process: nothing to save
			} else {
				md, err = scannerHealth.Metadata(ctx, ar, e)
			}
			if err != nil {
				out[i].Health = "unhealthy"
				return
			}
			out[i].Health = "healthy"
			out[i].Adapter, out[i].Vendor, out[i].Version = md.Scanner.Name, md.Scanner.Vendor, md.Scanner.Version
			out[i].Capabilities = map[string]bool{"support_vulnerability": false, "support_sbom": false}
			for _, c := range md.Capabilities {
				out[i].Capabilities["support_"+c.Type] = true
			}
		}()
	}
	wg.Wait()
	return out
}

// toScannerJSON renders a registration without asking its adapter anything.
func toScannerJSON(r meta.ScannerRegistration) scannerJSON {
	return scannerJSON{UUID: r.UUID, Name: r.Name, Description: r.Description, URL: r.URL, Disabled: r.Disabled,
		IsDefault: r.IsDefault, Auth: r.Auth, SkipCertVerify: r.SkipCertVerify, UseInternalAddr: r.UseInternalAddr,
		CreateTime: harborTime(r.CreatedAt), UpdateTime: harborTime(r.UpdatedAt)}
}

// scanner reads the path's registration.
func (h *Handler) scanner(c *call) (meta.ScannerRegistration, error) {
	id := c.r.PathValue("registration_id")
	r, err := h.DB.ScannerRegistrationByUUID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return r, notFound(fmt.Sprintf("scanner %s not found", id))
	}
	return r, err
}

// scannerError answers the store's refusals.
func scannerError(err error, r meta.ScannerRegistration, op string) error {
	switch {
	case errors.Is(err, meta.ErrImmutableScanner):
		// Harbor's words (403).
		return &Error{http.StatusForbidden, "FORBIDDEN",
			fmt.Sprintf("registration %s is not allowed to %s as it is immutable: scanner API: %s", r.Name, op, op)}
	case errors.Is(err, meta.ErrScannerDisabled) && op == "update":
		return badRequest(fmt.Sprintf("default registration %s can not be marked to deactivated", r.UUID))
	case errors.Is(err, meta.ErrScannerDisabled):
		return badRequest(fmt.Sprintf("registration %s is deactivated and can not be the default", r.UUID))
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("a scanner registration named %s or with url %s already exists", r.Name, r.URL))
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("scanner %s not found", r.UUID))
	}
	return err
}

func (h *Handler) listScanners(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResScanner, rbac.ActList); err != nil {
		return err
	}
	return h.writeScannerList(c)
}

func (h *Handler) writeScannerList(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	// Harbor's older parameters: name, description, url (contains); ex_name, ex_url (exact).
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
	rs, total, err := h.DB.ListScannerRegistrations(c.r.Context(), lq)
	if err != nil {
		return err
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, h.scannersJSON(c.r.Context(), rs))
	return nil
}

// pingedRegistration authorizes act on scanners, decodes the registration in the request body
// and checks that its adapter answers.
func (h *Handler) pingedRegistration(c *call, act rbac.Action) (meta.ScannerRegistration, error) {
	if err := h.authorizeSystem(c, rbac.ResScanner, act); err != nil {
		return meta.ScannerRegistration{}, err
	}
	var req scannerReq
	if err := decode(c.r, &req); err != nil {
		return meta.ScannerRegistration{}, err
	}
	r, err := req.registration()
	if err != nil {
		return r, err
	}
	return r, h.pingAdapter(c.r.Context(), r)
}

func (h *Handler) createScanner(c *call) error {
	r, err := h.pingedRegistration(c, rbac.ActCreate)
	if err != nil {
		return err
	}
	reg, err := h.DB.CreateScannerRegistration(c.r.Context(), r)
	if err != nil {
		return scannerError(err, r, "create")
	}
	h.audit(c, 0, "create", "scanner", r.Name)
	return created(c, base+"/scanners/"+reg.UUID)
}

func (h *Handler) pingScanner(c *call) error {
	if _, err := h.pingedRegistration(c, rbac.ActRead); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) getScanner(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResScanner, rbac.ActRead); err != nil {
		return err
	}
	r, err := h.scanner(c)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, h.scannersJSON(c.r.Context(), []meta.ScannerRegistration{r})[0])
	return nil
}

func (h *Handler) updateScanner(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResScanner, rbac.ActUpdate); err != nil {
		return err
	}
	cur, err := h.scanner(c)
	if err != nil {
		return err
	}
	if cur.Immutable {
		return scannerError(meta.ErrImmutableScanner, cur, "update")
	}
	var req scannerReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	// The API never shows the credential, so a client sending back what it read sends none:
	// that keeps the stored one while the auth type still needs one (Harbor does the same).
	if req.AccessCredential == "" && req.Auth != adapter.AuthNone && req.Auth == cur.Auth {
		req.AccessCredential = cur.AccessCredential
	}
	r, err := req.registration()
	if err != nil {
		return err
	}
	r.UUID = cur.UUID
	if err := h.DB.UpdateScannerRegistration(c.r.Context(), r); err != nil {
		return scannerError(err, r, "update")
	}
	h.audit(c, 0, "update", "scanner", r.Name)
	return ok(c)
}

func (h *Handler) deleteScanner(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResScanner, rbac.ActDelete); err != nil {
		return err
	}
	cur, err := h.scanner(c)
	if err != nil {
		return err
	}
	deleted, err := h.DB.DeleteScannerRegistration(c.r.Context(), cur.UUID)
	if err != nil {
		return scannerError(err, cur, "delete")
	}
	h.audit(c, 0, "delete", "scanner", deleted.Name)
	writeJSON(c.w, http.StatusOK, toScannerJSON(deleted))
	return nil
}

// setDefaultScanner is PATCH {is_default}: true makes the registration the default; false
// changes nothing (Harbor's behaviour: the default role only moves to another registration).
func (h *Handler) setDefaultScanner(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResScanner, rbac.ActUpdate); err != nil {
		return err
	}
	cur, err := h.scanner(c)
	if err != nil {
		return err
	}
	var req struct {
		IsDefault *bool `json:"is_default"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.IsDefault == nil {
		return badRequest("is_default is required")
	}
	if *req.IsDefault {
		if err := h.DB.SetDefaultScannerRegistration(c.r.Context(), cur.UUID); err != nil {
			return scannerError(err, cur, "set as default")
		}
		h.audit(c, 0, "update", "scanner", cur.Name)
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

// scannerMetadata asks the adapter now (the built-in scanner answers in process).
func (h *Handler) scannerMetadata(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResScanner, rbac.ActRead); err != nil {
		return err
	}
	r, err := h.scanner(c)
	if err != nil {
		return err
	}
	md, err := h.metadata(c.r.Context(), r)
	switch {
	case r.Immutable && err != nil:
		return &Error{http.StatusServiceUnavailable, "UNAVAILABLE", "the built-in scanner: " + err.Error()}
	case err != nil:
		// The request was fine; the adapter was not.
		return &Error{http.StatusBadGateway, "BAD_GATEWAY", err.Error()}
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

// Project scanners: reading needs scanner:read in the project (every role; Harbor also
// requires a signed-in caller), choosing needs scanner:create (project administrators).

func (h *Handler) getProjectScanner(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	p, err := h.projectAndAuthorize(c, rbac.ResScanner, rbac.ActRead)
	if err != nil {
		return err
	}
	r, err := h.DB.ScannerForProject(c.r.Context(), p.ID)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("no scanner is configured for project %s, and there is no default scanner", p.Name))
	}
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, h.scannersJSON(c.r.Context(), []meta.ScannerRegistration{r})[0])
	return nil
}

func (h *Handler) setProjectScanner(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	p, err := h.projectAndAuthorize(c, rbac.ResScanner, rbac.ActCreate)
	if err != nil {
		return err
	}
	var req struct {
		UUID string `json:"uuid"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.UUID == "" {
		return badRequest("uuid is required")
	}
	r, err := h.DB.ScannerRegistrationByUUID(c.r.Context(), req.UUID)
	if errors.Is(err, meta.ErrNotFound) {
		return badRequest(fmt.Sprintf("scanner registration %s not found", req.UUID))
	}
	if err != nil {
		return err
	}
	if r.Disabled {
		return badRequest(fmt.Sprintf("scanner registration %s is deactivated", r.Name))
	}
	if err := h.DB.SetProjectScanner(c.r.Context(), p.ID, r.UUID); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return badRequest(fmt.Sprintf("scanner registration %s not found", req.UUID))
		}
		return err
	}
	h.audit(c, p.ID, "update", "project_scanner", p.Name+":"+r.Name)
	return ok(c)
}

func (h *Handler) listScannerCandidates(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	if _, err := h.projectAndAuthorize(c, rbac.ResScanner, rbac.ActCreate); err != nil {
		return err
	}
	return h.writeScannerList(c)
}
