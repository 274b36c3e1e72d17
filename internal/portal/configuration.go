package portal

// A project's configuration (/projects/{project}/configuration): access, scanning on push,
// SBOM generation on push, the vulnerability gate with its severity and the CVE allowlist.
// It is read with the project (project.Service.Get) and saved with project.Service.Update,
// the calls of GET and PUT /api/v2.0/projects/{name} with metadata and cve_allowlist.

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// severityChoices are Harbor's values of the "severity" metadata, with their labels.
var severityChoices = []choice{
	{"none", "None"}, {"low", "Low"}, {"medium", "Medium"}, {"high", "High"}, {"critical", "Critical"},
}

type choice struct{ Value, Label string }

type configurationPage struct {
	Project  string
	Tabs     projectTabs
	CanEdit  bool
	Saved    bool
	Error    string
	Settings configSettings
	// Severities are the choices of the severity select.
	Severities []choice
}

// configSettings are the form's values.
type configSettings struct {
	Public, AutoScan, AutoSBOM, PreventVul, ReuseSysAllowlist bool
	Severity                                                  string
	// Allowlist is the project's CVE ids, one a line; Expires its expiry date (YYYY-MM-DD),
	// "" for never.
	Allowlist string
	Expires   string
}

// The metadata keys the page sets.
const (
	mdPublic    = "public"
	mdAutoScan  = "auto_scan"
	mdAutoSBOM  = "auto_sbom_generation"
	mdPrevent   = "prevent_vul"
	mdSeverity  = "severity"
	mdReuseList = "reuse_sys_cve_allowlist"
)

const dateLayout = "2006-01-02"

func (h *Handler) configuration(c *call) error {
	name := c.r.PathValue("project")
	v, err := h.Projects.Get(c.ctx(), name, true)
	if err != nil {
		return err
	}
	// The metadata as GET .../metadatas reads it: refused to those who may not.
	md, err := h.Projects.Metadata(c.ctx(), name, true)
	if err != nil {
		return err
	}
	pg := configurationPage{Project: v.Project.Name, Saved: c.r.URL.Query().Get("saved") != "", Severities: severityChoices}
	if pg.Tabs, err = h.projectTabs(c, v, "configuration"); err != nil {
		return err
	}
	if pg.CanEdit, err = h.Projects.Can(c.ctx(), v.Project, rbac.ResProject, rbac.ActUpdate); err != nil {
		return err
	}
	pg.Settings = configSettings{
		Public: v.Project.Public, AutoScan: md[mdAutoScan] == "true", AutoSBOM: md[mdAutoSBOM] == "true",
		PreventVul: md[mdPrevent] == "true", ReuseSysAllowlist: md[mdReuseList] == "true", Severity: md[mdSeverity],
	}
	if pg.Settings.Severity == "" {
		pg.Settings.Severity = "low" // Harbor's default when the gate is switched on
	}
	if al := v.Allowlist; al != nil {
		pg.Settings.Allowlist = strings.Join(al.Items, "\n")
		if al.ExpiresAt != nil {
			pg.Settings.Expires = time.Unix(*al.ExpiresAt, 0).UTC().Format(dateLayout)
		}
	}
	h.render(c.w, c, http.StatusOK, "configuration", pg)
	return nil
}

func (h *Handler) saveConfiguration(c *call) error {
	name := c.r.PathValue("project")
	f := c.r.PostForm
	s := configSettings{
		Public: f.Get(mdPublic) == "on", AutoScan: f.Get(mdAutoScan) == "on", AutoSBOM: f.Get(mdAutoSBOM) == "on",
		PreventVul: f.Get(mdPrevent) == "on", ReuseSysAllowlist: f.Get(mdReuseList) == "on",
		Severity: f.Get(mdSeverity), Allowlist: f.Get("allowlist"), Expires: strings.TrimSpace(f.Get("allowlist_expires")),
	}
	err := func() error {
		l := project.Allowlist{Items: cveIDs(s.Allowlist)}
		if s.Expires != "" {
			d, err := time.Parse(dateLayout, s.Expires)
			if err != nil {
				return fault.Invalidf("The allowlist's expiry %q is not a date such as 2027-01-31; leave it empty for never.", s.Expires)
			}
			// The list holds to the end of its expiry day.
			end := d.Add(24*time.Hour - time.Second).Unix()
			l.ExpiresAt = &end
		}
		md := map[string]string{
			mdPublic: bstr(s.Public), mdAutoScan: bstr(s.AutoScan), mdAutoSBOM: bstr(s.AutoSBOM),
			mdPrevent: bstr(s.PreventVul), mdReuseList: bstr(s.ReuseSysAllowlist), mdSeverity: s.Severity,
		}
		return h.Projects.Update(c.ctx(), name, true, project.Spec{Metadata: md, Allowlist: &l})
	}()
	if err == nil {
		http.Redirect(c.w, c.r, "/projects/"+url.PathEscape(name)+"/configuration?saved=1", http.StatusSeeOther)
		return nil
	}
	if fault.KindOf(err) != fault.Invalid {
		return err
	}
	// A value the service refused: the form again, with its message and what was typed.
	v, gerr := h.Projects.Get(c.ctx(), name, true)
	if gerr != nil {
		return gerr
	}
	pg := configurationPage{Project: v.Project.Name, CanEdit: true, Settings: s, Severities: severityChoices}
	if pg.Tabs, gerr = h.projectTabs(c, v, "configuration"); gerr != nil {
		return gerr
	}
	_, pg.Error, _ = refusal(err)
	h.render(c.w, c, http.StatusBadRequest, "configuration", pg)
	return nil
}

// cveIDs splits the allowlist field at line breaks, commas and spaces.
func cveIDs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' })
}

func bstr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
