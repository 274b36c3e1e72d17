package portal

// Quotas (/admin/quotas): every project's storage limit and use, largest use first, and a
// form to change one project's limit, through project.Service's Quotas, Quota and SetQuota as
// GET /api/v2.0/quotas and GET and PUT /api/v2.0/quotas/{id} do.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

var quotaSortKeys = []string{"name", "used.storage", "hard.storage"}

// quotaDefaultSort lists the largest use first.
const quotaDefaultSort = "-used.storage"

type quotasPage struct {
	Quotas  []meta.Quota
	List    listing
	CanEdit bool
	Notice  string
}

func (h *Handler) listQuotas(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	lq, l, err := parseListing(c.r, quotaSortKeys)
	if err != nil {
		return err
	}
	if l.Sort == "" {
		l.Sort, lq.Sort = quotaDefaultSort, []meta.SortKey{{Key: "used.storage", Desc: true}}
	}
	qs, total, err := h.Projects.Quotas(c.ctx(), lq, "", "")
	if err != nil {
		return err
	}
	l.Total = total
	pg := quotasPage{Quotas: qs, List: l}
	if c.r.URL.Query().Get("done") == "saved" {
		pg.Notice = "The quota was saved."
	}
	if pg.CanEdit, err = h.Projects.CanQuotas(c.ctx(), rbac.ActUpdate); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "quotas", pg)
	return nil
}

type quotaPage struct {
	Quota       meta.Quota
	Limit, Unit string
	Units       []string
	Error       string
}

var quotaUnits = []string{"MiB", "GiB", "TiB"}

// pathQuota is the quota with the id in the path.
func (h *Handler) pathQuota(c *call) (meta.Quota, error) {
	if err := requireSignedIn(c); err != nil {
		return meta.Quota{}, err
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return meta.Quota{}, fault.NotFoundf("There is no quota %q.", c.r.PathValue("id"))
	}
	return h.Projects.Quota(c.ctx(), id)
}

func (h *Handler) quotaForm(c *call) error {
	q, err := h.pathQuota(c)
	if err != nil {
		return err
	}
	ok, err := h.Projects.CanQuotas(c.ctx(), rbac.ActUpdate)
	if err := requireCan(c, ok, err); err != nil {
		return err
	}
	limit, unit := limitInUnits(q.Hard)
	h.render(c.w, c, http.StatusOK, "quota", quotaPage{Quota: q, Limit: limit, Unit: unit, Units: quotaUnits})
	return nil
}

// limitInUnits is a hard limit as the form shows it: -1, or a whole number of the largest
// unit that divides it (MiB, rounded up, when none does).
func limitInUnits(hard int64) (string, string) {
	if hard < 0 {
		return "-1", "GiB"
	}
	for i := len(quotaUnits) - 1; i >= 0; i-- {
		size := storageUnits[quotaUnits[i]]
		if hard%size == 0 && hard >= size {
			return strconv.FormatInt(hard/size, 10), quotaUnits[i]
		}
	}
	mib := storageUnits["MiB"]
	return strconv.FormatInt((hard+mib-1)/mib, 10), "MiB"
}

func (h *Handler) saveQuota(c *call) error {
	q, err := h.pathQuota(c)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	pg := quotaPage{Quota: q, Limit: strings.TrimSpace(f.Get("storage_limit")), Unit: f.Get("storage_unit"), Units: quotaUnits}
	limit, err := storageLimit(pg.Limit, pg.Unit)
	if err == nil {
		err = h.Projects.SetQuota(c.ctx(), q.ID, map[string]int64{"storage": limit})
	}
	if err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		pg.Error = msg
		h.render(c.w, c, code, "quota", pg)
		return nil
	}
	http.Redirect(c.w, c.r, "/admin/quotas?done=saved", http.StatusSeeOther)
	return nil
}
