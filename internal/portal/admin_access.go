package portal

// The administration's user groups, system robot accounts and interrogation services
// (scanners, the vulnerability database and scan-all): their routes, and their links on the
// administration index for those the services let open them.

import (
	"net/http"

	"github.com/berthreg/berth/internal/rbac"
)

func (h *Handler) accessAdminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin/groups", h.page(h.listGroups))
	mux.Handle("POST /admin/groups", h.change(h.createGroup))
	mux.Handle("GET /admin/groups/{id}/edit", h.page(h.editGroupForm))
	mux.Handle("POST /admin/groups/{id}/edit", h.change(h.renameGroup))
	mux.Handle("GET /admin/groups/{id}/delete", h.page(h.deleteGroupForm))
	mux.Handle("POST /admin/groups/{id}/delete", h.change(h.deleteGroup))

	mux.Handle("GET /admin/robots", h.page(h.listSystemRobots))
	mux.Handle("GET /admin/robots/new", h.page(h.newSystemRobotForm))
	mux.Handle("POST /admin/robots", h.change(h.createSystemRobot))
	mux.Handle("POST /admin/robots/{robot}/disable", h.change(h.setSystemRobotDisabled))
	mux.Handle("POST /admin/robots/{robot}/secret", h.change(h.refreshSystemRobotSecret))
	mux.Handle("GET /admin/robots/{robot}/delete", h.page(h.deleteSystemRobotForm))
	mux.Handle("POST /admin/robots/{robot}/delete", h.change(h.deleteSystemRobot))

	mux.Handle("GET /admin/scanners", h.page(h.scannersPage))
	mux.Handle("GET /admin/scanners/new", h.page(h.newScannerForm))
	mux.Handle("POST /admin/scanners", h.change(h.createScanner))
	mux.Handle("POST /admin/scanners/{uuid}/default", h.change(h.setDefaultScanner))
	mux.Handle("POST /admin/scanners/{uuid}/disable", h.change(h.setScannerDisabled))
	mux.Handle("GET /admin/scanners/{uuid}/delete", h.page(h.deleteScannerForm))
	mux.Handle("POST /admin/scanners/{uuid}/delete", h.change(h.deleteScanner))
	mux.Handle("POST /admin/scan-all", h.change(h.runScanAll))
	mux.Handle("POST /admin/scan-all/schedule", h.change(h.saveScanAllSchedule))
	mux.Handle("POST /admin/scan-all/stop", h.change(h.stopScanAll))
}

// accessAdminLinks are the links to these pages the caller may open.
func (h *Handler) accessAdminLinks(c *call) ([]adminLink, error) {
	type entry struct {
		link adminLink
		can  func() (bool, error)
	}
	var entries []entry
	if h.Groups != nil {
		entries = append(entries, entry{adminLink{"/admin/groups", "User groups", "Create, rename and delete the user groups that projects admit as members."},
			func() (bool, error) { return h.Groups.Can(c.ctx(), rbac.ActList) }})
	}
	if h.Robots != nil {
		entries = append(entries, entry{adminLink{"/admin/robots", "System robot accounts", "Robot accounts with system permissions, or permissions in every project or in several."},
			func() (bool, error) { return h.Robots.CanSystem(c.ctx(), rbac.ActList) }})
	}
	if h.Scan != nil {
		entries = append(entries, entry{adminLink{"/admin/scanners", "Interrogation services", "Scanners, the vulnerability database, and scanning every artifact now or on a schedule."},
			func() (bool, error) { return h.Scan.CanScanners(c.ctx(), rbac.ActList) }})
	}
	var out []adminLink
	for _, e := range entries {
		ok, err := e.can()
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e.link)
		}
	}
	return out, nil
}
