package portal

// Interrogation services (/admin/scanners): the scanner registrations (add, set default,
// enable or disable, delete), the vulnerability database's state, and scan-all (run now, its
// schedule with the presets garbage collection has, stop, and the latest run's progress). All
// through the scan service (internal/scan), as /api/v2.0/scanners, /systeminfo and
// /system/scanAll do; its rules decide.

import (
	"net/http"
	"slices"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/adapter"
)

var scannerSortKeys = []string{"name", "url", "creation_time"}

type scannerRow struct {
	scan.RegistrationStatus
	// Scanner is what the adapter says it is ("Trivy 0.50"); "" when it did not answer.
	Scanner string
}

type countRow struct {
	Name  string
	Count int64
}

type scannersPage struct {
	Rows      []scannerRow
	List      listing
	CanCreate bool
	CanUpdate bool
	CanDelete bool

	// The vulnerability database; DBError is why it could not be read.
	DB         scan.VulnDBState
	DBError    string
	Ecosystems []countRow
	Interval   string

	// Scan all: the latest run (HasRun), its progress, and the schedule.
	ScanAll     bool // the caller may read scan-all
	CanRunAll   bool
	CanStopAll  bool
	CanSchedule bool
	HasRun      bool
	Run         meta.Execution
	Ongoing     bool
	Progress    scan.Progress
	ByStatus    []countRow
	Schedule    scheduleForm
	Current     string
	NextAt      string

	Notice, Error string
}

var scannerNotices = map[string]string{
	"created":     "The scanner was added.",
	"default":     "The scanner is now the default.",
	"enabled":     "The scanner was enabled.",
	"disabled":    "The scanner was disabled.",
	"deleted":     "The scanner was deleted.",
	"started":     "Scanning every artifact was started; its progress is below.",
	"stopped":     "Scanning every artifact is stopping.",
	"scheduled":   "The scan-all schedule was saved.",
	"unscheduled": "The scan-all schedule was removed: every artifact is scanned only when started here.",
}

func (h *Handler) scannersPage(c *call) error {
	return h.renderScanners(c, scannersPage{Notice: scannerNotices[c.r.URL.Query().Get("done")]}, http.StatusOK, true)
}

// renderScanners shows the page; fromSchedule fills the schedule form from the stored schedule.
func (h *Handler) renderScanners(c *call, pg scannersPage, code int, fromSchedule bool) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	lq, l, err := parseListing(c.r, scannerSortKeys)
	if err != nil {
		return err
	}
	rs, total, err := h.Scan.ListRegistrations(c.ctx(), lq)
	if err != nil {
		return err
	}
	l.Total = total
	pg.List = l
	for _, r := range rs {
		row := scannerRow{RegistrationStatus: r}
		if r.Healthy {
			row.Scanner = strings.TrimSpace(r.Metadata.Scanner.Name + " " + r.Metadata.Scanner.Version)
		}
		pg.Rows = append(pg.Rows, row)
	}
	for act, can := range map[rbac.Action]*bool{rbac.ActCreate: &pg.CanCreate, rbac.ActUpdate: &pg.CanUpdate, rbac.ActDelete: &pg.CanDelete} {
		if *can, err = h.Scan.CanScanners(c.ctx(), act); err != nil {
			return err
		}
	}
	if err := h.fillVulnDB(c, &pg); err != nil {
		return err
	}
	if err := h.fillScanAll(c, &pg, fromSchedule); err != nil {
		return err
	}
	h.render(c.w, c, code, "scanners", pg)
	return nil
}

// fillVulnDB adds the database's state as /api/v2.0/systeminfo reports it.
func (h *Handler) fillVulnDB(c *call, pg *scannersPage) error {
	st, err := h.Scan.VulnDBState(c.ctx())
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || code == http.StatusForbidden || code == http.StatusUnauthorized {
			return err
		}
		pg.DBError = msg
		return nil
	}
	pg.DB = st
	for name, n := range st.Ecosystems {
		pg.Ecosystems = append(pg.Ecosystems, countRow{name, int64(n)})
	}
	slices.SortFunc(pg.Ecosystems, func(a, b countRow) int { return strings.Compare(a.Name, b.Name) })
	if st.Interval > 0 {
		pg.Interval = st.Interval.String()
	}
	return nil
}

// fillScanAll adds the latest scan-all run and its schedule, for those who may read them.
func (h *Handler) fillScanAll(c *call, pg *scannersPage, fromSchedule bool) error {
	var err error
	if pg.ScanAll, err = h.Scan.CanScanAll(c.ctx(), rbac.ActRead); err != nil || !pg.ScanAll {
		return err
	}
	for act, can := range map[rbac.Action]*bool{rbac.ActCreate: &pg.CanRunAll, rbac.ActStop: &pg.CanStopAll, rbac.ActUpdate: &pg.CanSchedule} {
		if *can, err = h.Scan.CanScanAll(c.ctx(), act); err != nil {
			return err
		}
	}
	e, p, found, err := h.Scan.LatestScanAll(c.ctx(), "")
	if err != nil {
		return err
	}
	pg.HasRun, pg.Run, pg.Progress, pg.Ongoing = found, e, p, found && !e.Finished()
	for status, n := range p.Metrics {
		pg.ByStatus = append(pg.ByStatus, countRow{status, int64(n)})
	}
	slices.SortFunc(pg.ByStatus, func(a, b countRow) int { return strings.Compare(a.Name, b.Name) })
	s, scheduled, err := h.Scan.ScanAllSchedule(c.ctx())
	if err != nil {
		return err
	}
	if scheduled {
		pg.Current = s.Type + " (cron " + s.Cron + ")"
		pg.NextAt = formatTime(s.NextAt)
	}
	if fromSchedule {
		pg.Schedule = storedSchedule("scan", "", "")
		if scheduled {
			pg.Schedule = storedSchedule("scan", s.Type, s.Cron)
		}
	}
	return nil
}

// scannersError shows a refusal a person can correct (a bad cron, a run already going, a
// default that cannot be disabled) on the page; others become the error page.
func (h *Handler) scannersError(c *call, pg scannersPage, err error, fromSchedule bool) error {
	code, msg, ok := refusal(err)
	if !ok || (code != http.StatusBadRequest && code != http.StatusConflict) {
		return err
	}
	pg.Error = msg
	return h.renderScanners(c, pg, code, fromSchedule)
}

func (h *Handler) scannersDone(c *call, done string) error {
	http.Redirect(c.w, c.r, "/admin/scanners?done="+done, http.StatusSeeOther)
	return nil
}

// scannerAuths are the authentication types an adapter may take, as Harbor's form offers them.
var scannerAuths = []struct{ Value, Label string }{
	{adapter.AuthNone, "None"}, {adapter.AuthBasic, "Basic"}, {adapter.AuthBearer, "Bearer"}, {adapter.AuthAPIKey, "API key (X-ScannerAdapter-API-Key)"},
}

type newScannerPage struct {
	Name, Description, URL, Auth string
	SkipCertVerify               bool
	UseInternalAddr              bool
	Auths                        []struct{ Value, Label string }
	Error                        string
}

func (h *Handler) newScannerForm(c *call) error {
	return h.renderScannerForm(c, newScannerPage{}, http.StatusOK)
}

func (h *Handler) renderScannerForm(c *call, pg newScannerPage, code int) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	ok, err := h.Scan.CanScanners(c.ctx(), rbac.ActCreate)
	if err != nil {
		return err
	}
	if !ok {
		return fault.ErrForbidden
	}
	pg.Auths = scannerAuths
	h.render(c.w, c, code, "scanner_new", pg)
	return nil
}

// createScanner adds a registration as POST /api/v2.0/scanners does: the service pings the
// adapter first, and its refusal is shown on the form.
func (h *Handler) createScanner(c *call) error {
	f := c.r.PostForm
	pg := newScannerPage{Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description")),
		URL: strings.TrimSpace(f.Get("url")), Auth: f.Get("auth"), SkipCertVerify: f.Get("skip_cert_verify") == "on",
		UseInternalAddr: f.Get("use_internal_addr") == "on"}
	_, err := h.Scan.CreateRegistration(c.ctx(), meta.ScannerRegistration{Name: pg.Name, Description: pg.Description, URL: pg.URL,
		Auth: pg.Auth, AccessCredential: f.Get("access_credential"), SkipCertVerify: pg.SkipCertVerify, UseInternalAddr: pg.UseInternalAddr})
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || (code != http.StatusBadRequest && code != http.StatusConflict) {
			return err
		}
		pg.Error = msg
		return h.renderScannerForm(c, pg, code)
	}
	return h.scannersDone(c, "created")
}

// pathScanner is the registration with the uuid in the path.
func (h *Handler) pathScanner(c *call) (scan.RegistrationStatus, error) {
	if err := requireSignedIn(c); err != nil {
		return scan.RegistrationStatus{}, err
	}
	return h.Scan.Registration(c.ctx(), c.r.PathValue("uuid"))
}

func (h *Handler) setDefaultScanner(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	if err := h.Scan.SetDefaultRegistration(c.ctx(), c.r.PathValue("uuid"), true); err != nil {
		return h.scannersError(c, scannersPage{}, err, true)
	}
	return h.scannersDone(c, "default")
}

// setScannerDisabled disables or enables a registration: its settings as they are, with
// disabled changed, as a client of PUT /api/v2.0/scanners/{id} sends them (the service keeps
// the credential it is not sent).
func (h *Handler) setScannerDisabled(c *call) error {
	r, err := h.pathScanner(c)
	if err != nil {
		return err
	}
	disable := c.r.PostForm.Get("disable") == "true"
	err = h.Scan.UpdateRegistration(c.ctx(), r.UUID, meta.ScannerRegistration{Name: r.Name, Description: r.Description, URL: r.URL,
		Auth: r.Auth, SkipCertVerify: r.SkipCertVerify, UseInternalAddr: r.UseInternalAddr, Disabled: disable})
	if err != nil {
		return h.scannersError(c, scannersPage{}, err, true)
	}
	if disable {
		return h.scannersDone(c, "disabled")
	}
	return h.scannersDone(c, "enabled")
}

type deleteScannerPage struct {
	Scanner scan.RegistrationStatus
}

func (h *Handler) deleteScannerForm(c *call) error {
	r, err := h.pathScanner(c)
	if err != nil {
		return err
	}
	ok, err := h.Scan.CanScanners(c.ctx(), rbac.ActDelete)
	if err != nil {
		return err
	}
	if !ok {
		return fault.ErrForbidden
	}
	h.render(c.w, c, http.StatusOK, "scanner_delete", deleteScannerPage{Scanner: r})
	return nil
}

func (h *Handler) deleteScanner(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	if _, err := h.Scan.DeleteRegistration(c.ctx(), c.r.PathValue("uuid")); err != nil {
		return err
	}
	return h.scannersDone(c, "deleted")
}

// runScanAll scans every artifact now, as a Manual schedule request to the API does.
func (h *Handler) runScanAll(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	if _, err := h.Scan.CreateScanAllSchedule(c.ctx(), jobs.TypeManual, ""); err != nil {
		return h.scannersError(c, scannersPage{}, err, true)
	}
	return h.scannersDone(c, "started")
}

func (h *Handler) stopScanAll(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	if err := h.Scan.StopScanAll(c.ctx()); err != nil {
		return h.scannersError(c, scannersPage{}, err, true)
	}
	return h.scannersDone(c, "stopped")
}

// saveScanAllSchedule stores the schedule the form chose, with the cron the API would store
// (see scheduleCron), as PUT /api/v2.0/system/scanAll/schedule does.
func (h *Handler) saveScanAllSchedule(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	pg := scannersPage{Schedule: postedSchedule("scan", c.r.PostForm)}
	cron, err := pg.Schedule.cron()
	if err == nil {
		_, err = h.Scan.UpdateScanAllSchedule(c.ctx(), pg.Schedule.Type, cron)
	}
	if err != nil {
		return h.scannersError(c, pg, err, false)
	}
	if pg.Schedule.Type == jobs.TypeNone {
		return h.scannersDone(c, "unscheduled")
	}
	return h.scannersDone(c, "scheduled")
}
