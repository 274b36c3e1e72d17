package portal

// The system configuration (/admin/configuration): read and saved through settings.Service as
// GET and PUT /api/v2.0/configurations do, and the system CVE allowlist through the project
// service as GET and PUT /api/v2.0/system/CVEAllowlist do.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

type sysConfigPage struct {
	AuthMode string
	// The configuration form's values.
	TokenExpiration, RobotNamePrefix, RobotTokenDuration, Restriction string
	ReadOnly                                                          bool
	// The allowlist form's values: CVE ids one a line, and the expiry date ("" for never).
	Allowlist, Expires        string
	CanEdit, CanEditAllowlist bool
	Notice                    string
	// Error is the configuration form's refusal, AllowlistError the allowlist form's.
	Error, AllowlistError string
}

// The configuration keys the page shows.
const (
	cfgAuthMode      = "auth_mode"
	cfgTokenExpiry   = "token_expiration"
	cfgRobotPrefix   = "robot_name_prefix"
	cfgRobotDuration = "robot_token_duration"
	cfgRestriction   = "project_creation_restriction"
	cfgReadOnly      = "read_only"
)

var sysConfigNotices = map[string]string{
	"saved":     "The configuration was saved.",
	"allowlist": "The system CVE allowlist was saved.",
}

func (h *Handler) systemConfiguration(c *call) error {
	pg := sysConfigPage{Notice: sysConfigNotices[c.r.URL.Query().Get("done")]}
	return h.renderSysConfig(c, pg, http.StatusOK, true, true)
}

// renderSysConfig shows the page; withConfig and withAllowlist fill each form from what is
// stored (false: the form keeps what was typed).
func (h *Handler) renderSysConfig(c *call, pg sysConfigPage, code int, withConfig, withAllowlist bool) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	items, err := h.Settings.Configuration(c.ctx())
	if err != nil {
		return err
	}
	val := func(k string) string { return fmt.Sprint(items[k].Value) }
	pg.AuthMode = val(cfgAuthMode)
	if withConfig {
		pg.TokenExpiration, pg.RobotNamePrefix, pg.RobotTokenDuration = val(cfgTokenExpiry), val(cfgRobotPrefix), val(cfgRobotDuration)
		pg.Restriction, pg.ReadOnly = val(cfgRestriction), items[cfgReadOnly].Value == true
	}
	if withAllowlist {
		al, err := h.Projects.SystemAllowlist(c.ctx())
		if err != nil {
			return err
		}
		pg.Allowlist, pg.Expires = strings.Join(al.Items, "\n"), ""
		if al.ExpiresAt != nil {
			pg.Expires = time.Unix(*al.ExpiresAt, 0).UTC().Format(dateLayout)
		}
	}
	if pg.CanEdit, err = h.Settings.Can(c.ctx(), rbac.ActUpdate); err != nil {
		return err
	}
	pg.CanEditAllowlist = h.Projects.CanSetSystemAllowlist(c.ctx())
	h.render(c.w, c, code, "sysconfig", pg)
	return nil
}

func (h *Handler) saveSystemConfiguration(c *call) error {
	f := c.r.PostForm
	pg := sysConfigPage{
		TokenExpiration: strings.TrimSpace(f.Get(cfgTokenExpiry)), RobotNamePrefix: strings.TrimSpace(f.Get(cfgRobotPrefix)),
		RobotTokenDuration: strings.TrimSpace(f.Get(cfgRobotDuration)), Restriction: f.Get(cfgRestriction),
		ReadOnly: f.Get(cfgReadOnly) == "on",
	}
	err := func() error {
		values := map[string]any{cfgRobotPrefix: pg.RobotNamePrefix, cfgRestriction: pg.Restriction, cfgReadOnly: pg.ReadOnly}
		for _, n := range []struct{ key, value, label string }{
			{cfgTokenExpiry, pg.TokenExpiration, "The token expiration"},
			{cfgRobotDuration, pg.RobotTokenDuration, "The robot token duration"},
		} {
			v, err := strconv.ParseInt(n.value, 10, 64)
			if err != nil {
				return fault.Invalidf("%s %q is not a whole number.", n.label, n.value)
			}
			values[n.key] = v
		}
		return h.Settings.Update(c.ctx(), values)
	}()
	if err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		pg.Error = msg
		return h.renderSysConfig(c, pg, code, false, true)
	}
	http.Redirect(c.w, c.r, "/admin/configuration?done=saved", http.StatusSeeOther)
	return nil
}

func (h *Handler) saveSystemAllowlist(c *call) error {
	f := c.r.PostForm
	pg := sysConfigPage{Allowlist: f.Get("allowlist"), Expires: strings.TrimSpace(f.Get("allowlist_expires"))}
	err := func() error {
		l := project.Allowlist{Items: cveIDs(pg.Allowlist)}
		if pg.Expires != "" {
			d, err := time.Parse(dateLayout, pg.Expires)
			if err != nil {
				return fault.Invalidf("The allowlist's expiry %q is not a date such as 2027-01-31; leave it empty for never.", pg.Expires)
			}
			end := d.Add(24*time.Hour - time.Second).Unix() // to the end of that day
			l.ExpiresAt = &end
		}
		return h.Projects.SetSystemAllowlist(c.ctx(), l)
	}()
	if err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		pg.AllowlistError = msg
		return h.renderSysConfig(c, pg, code, true, false)
	}
	http.Redirect(c.w, c.r, "/admin/configuration?done=allowlist", http.StatusSeeOther)
	return nil
}
