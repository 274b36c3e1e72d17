package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/report"
)

func (h *Handler) scanRoutes(r route) {
	art := "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
	r("POST "+art+"/scan", h.startScan)
	r("POST "+art+"/scan/stop", h.stopScan)
	r("GET "+art+"/scan/{report_id}/log", h.scanLog)
	r("GET /system/scanAll/schedule", h.getScanAllSchedule)
	r("POST /system/scanAll/schedule", h.postScanAllSchedule)
	r("PUT /system/scanAll/schedule", h.putScanAllSchedule)
	r("POST /system/scanAll/stop", h.stopScanAll)
	r("GET /scans/all/metrics", h.scanAllMetrics)
	r("GET /scans/schedule/metrics", h.scheduledScanAllMetrics)
	r("GET /security/summary", h.securitySummary)
	r("GET /security/vul", h.securityVulnerabilities)
}

// scanTarget is the artifact the path names.
func scanTarget(c *call) scan.Target {
	return scan.Target{Project: pathValue(c, "project_name"), Repository: pathValue(c, "repository_name"),
		Reference: pathValue(c, "reference")}
}

// scanType reads the optional {"scan_type": "vulnerability"|"sbom"} body (Harbor's ScanType).
func scanType(c *call) (string, error) {
	var req struct {
		ScanType string `json:"scan_type"`
	}
	if err := decodeOptional(c.r, &req); err != nil {
		return "", err
	}
	return req.ScanType, nil
}

func (h *Handler) startScan(c *call) error {
	typ, err := scanType(c)
	if err != nil {
		return err
	}
	if err := h.Scan.Request(c.r.Context(), scanTarget(c), typ); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) stopScan(c *call) error {
	typ, err := scanType(c)
	if err != nil {
		return err
	}
	if err := h.Scan.Stop(c.r.Context(), scanTarget(c), typ); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) scanLog(c *call) error {
	log, err := h.Scan.ScanLog(c.r.Context(), scanTarget(c), pathValue(c, "report_id"))
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write([]byte(log))
	return nil
}

// acceptedVulnMimes is the order of report versions a client accepts (X-Accept-Vulnerabilities,
// comma-separated); by default 1.1, then 1.0.
func acceptedVulnMimes(r *http.Request) []string {
	v := r.Header.Get("X-Accept-Vulnerabilities")
	if strings.TrimSpace(v) == "" {
		return []string{report.MimeGeneric, report.MimeNative}
	}
	var out []string
	for _, m := range strings.Split(v, ",") {
		m = strings.TrimSpace(m)
		if m == report.MimeGeneric || m == report.MimeNative {
			out = append(out, m)
		}
	}
	return out
}

// overview is Harbor's NativeReportSummary of a report.
func overview(r meta.ScanReport) map[string]any {
	o := map[string]any{"report_id": r.ID, "scan_status": r.Status}
	var sc report.Scanner
	if json.Unmarshal([]byte(r.Scanner), &sc) == nil && sc.Name != "" {
		o["scanner"] = sc
	}
	if !r.StartTime.IsZero() {
		o["start_time"] = harborTime(r.StartTime)
		end := r.EndTime
		if end.IsZero() {
			end = time.Now()
		} else {
			o["end_time"] = harborTime(r.EndTime)
		}
		o["duration"] = int64(end.Sub(r.StartTime).Seconds())
	}
	pct := 0
	if r.Finished() {
		pct = 100
	}
	o["complete_percent"] = pct
	if r.Status == meta.StatusSuccess && r.MimeType != report.MimeSBOM {
		var sum scan.Summary
		if json.Unmarshal([]byte(r.Summary), &sum) == nil {
			o["severity"] = sum.Severity
			o["summary"] = map[string]any{"total": sum.Total, "fixable": sum.Fixable, "summary": sum.Counts}
		}
	}
	return o
}

// scanOverviews fills scan_overview (keyed by the report version the client accepts) and
// sbom_overview for a page of artifacts.
func (h *Handler) scanOverviews(c *call, p meta.Project, digests []string) (map[string]map[string]meta.ScanReport, error) {
	if h.Scan == nil || len(digests) == 0 {
		return map[string]map[string]meta.ScanReport{}, nil
	}
	return h.Scan.Reports(c.r.Context(), p.ID, digests)
}

func vulnOverview(c *call, reports map[string]meta.ScanReport) map[string]any {
	out := map[string]any{}
	r, ok := reports[report.MimeGeneric]
	if !ok {
		return out
	}
	for _, m := range acceptedVulnMimes(c.r) {
		out[m] = overview(r)
		break
	}
	return out
}

func sbomOverview(reports map[string]meta.ScanReport) map[string]any {
	r, ok := reports[report.MimeSBOM]
	if !ok {
		return nil
	}
	o := overview(r)
	delete(o, "complete_percent")
	var sum struct {
		Digest string `json:"sbom_digest"`
	}
	if json.Unmarshal([]byte(r.Summary), &sum) == nil && sum.Digest != "" {
		o["sbom_digest"] = sum.Digest
	}
	return o
}

// vulnerabilitiesAddition answers …/additions/vulnerabilities: {"<mime>": report} in the
// version the client accepts, or {} when the artifact has no report.
func (h *Handler) vulnerabilitiesAddition(c *call, p meta.Project, m meta.Manifest) error {
	out := map[string]json.RawMessage{}
	if h.Scan != nil {
		r, err := h.Scan.Report(c.r.Context(), p.ID, m.Digest, scan.TypeVulnerability)
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		if err == nil && r.Status == meta.StatusSuccess && r.Report != "" {
			for _, mime := range acceptedVulnMimes(c.r) {
				out[mime] = json.RawMessage(r.Report)
				break
			}
		}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// sbomAddition answers …/additions/sbom: the SBOM document itself.
func (h *Handler) sbomAddition(c *call, p meta.Project, m meta.Manifest, notAvailable error) error {
	if h.Scan == nil {
		return notAvailable
	}
	r, err := h.Scan.Report(c.r.Context(), p.ID, m.Digest, scan.TypeSBOM)
	if errors.Is(err, meta.ErrNotFound) || err == nil && (r.Status != meta.StatusSuccess || r.Report == "") {
		return notAvailable
	}
	if err != nil {
		return err
	}
	media := ""
	if strings.Contains(c.r.Header.Get("Accept"), report.MediaCDX) {
		media = report.MediaCDX
	}
	rep, err := h.Scan.SBOMDocument(c.r.Context(), r, m, media)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", rep.MediaType)
	c.w.WriteHeader(http.StatusOK)
	return json.NewEncoder(c.w).Encode(rep.SBOM)
}

// Scan all.

func (h *Handler) getScanAllSchedule(c *call) error {
	s, found, err := h.Scan.ScanAllSchedule(c.r.Context())
	if err != nil {
		return err
	}
	if !found {
		writeJSON(c.w, http.StatusOK, map[string]any{"schedule": map[string]any{"type": jobs.TypeNone}})
		return nil
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"schedule":      map[string]any{"type": s.Type, "cron": s.Cron, "next_scheduled_time": harborTime(s.NextAt)},
		"creation_time": harborTime(s.Created), "update_time": harborTime(s.Updated),
	})
	return nil
}

func (h *Handler) postScanAllSchedule(c *call) error {
	req, err := decodeSchedule(c)
	if err != nil {
		return err
	}
	id, err := h.Scan.CreateScanAllSchedule(c.r.Context(), req.Schedule.Type, req.Schedule.Cron)
	if err != nil {
		return err
	}
	return scheduleCreated(c, id, base+"/scans/all/metrics")
}

func (h *Handler) putScanAllSchedule(c *call) error {
	req, err := decodeSchedule(c)
	if err != nil {
		return err
	}
	if _, err := h.Scan.UpdateScanAllSchedule(c.r.Context(), req.Schedule.Type, req.Schedule.Cron); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) stopScanAll(c *call) error {
	if err := h.Scan.StopScanAll(c.r.Context()); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) scanAllMetrics(c *call) error { return h.writeScanAllMetrics(c, "") }

func (h *Handler) scheduledScanAllMetrics(c *call) error { return h.writeScanAllMetrics(c, "SCHEDULE") }

func (h *Handler) writeScanAllMetrics(c *call, trigger string) error {
	e, p, found, err := h.Scan.LatestScanAll(c.r.Context(), trigger)
	if err != nil {
		return err
	}
	out := map[string]any{"total": p.Total, "completed": p.Completed, "metrics": p.Metrics, "ongoing": false}
	if found {
		out["ongoing"] = !e.Finished()
		out["trigger"] = map[string]string{"MANUAL": "Manual", "SCHEDULE": "Schedule"}[e.Trigger]
		if out["trigger"] == "" {
			out["trigger"] = "Manual"
		}
	} else {
		out["metrics"] = map[string]int{}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
