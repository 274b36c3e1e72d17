package portal

// A project's policies (/projects/{project}/policies): tag retention — its rules in words, a
// rule added or deleted, its schedule, dry runs and runs, and each run's tasks and logs — and
// tag immutability — its rules, added, enabled or disabled, deleted. Everything goes through
// the retention service and the immutability rule service (internal/retention), as
// /api/v2.0/retentions and /api/v2.0/projects/{project}/immutabletagrules do; a project's
// retention policy is the one its metadata's retention_id names, where Harbor's portal finds it.

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/retention"
)

func (h *Handler) policyRoutes(mux *http.ServeMux) {
	const base = "/projects/{project}/policies"
	mux.Handle("GET "+base, h.page(h.policies))
	mux.Handle("POST "+base+"/retention/rules", h.change(h.addRetentionRule))
	mux.Handle("POST "+base+"/retention/rules/{rule}/disable", h.change(h.setRetentionRuleDisabled))
	mux.Handle("GET "+base+"/retention/rules/{rule}/delete", h.page(h.deleteRetentionRuleForm))
	mux.Handle("POST "+base+"/retention/rules/{rule}/delete", h.change(h.deleteRetentionRule))
	mux.Handle("POST "+base+"/retention/schedule", h.change(h.saveRetentionSchedule))
	mux.Handle("POST "+base+"/retention/run", h.change(h.runRetention))
	mux.Handle("GET "+base+"/retention/executions/{execution}", h.page(h.retentionExecution))
	mux.Handle("GET "+base+"/retention/executions/{execution}/tasks/{task}", h.page(h.retentionTaskLog))
	mux.Handle("POST "+base+"/immutable", h.change(h.addImmutableRule))
	mux.Handle("POST "+base+"/immutable/{rule}/disable", h.change(h.setImmutableRuleDisabled))
	mux.Handle("GET "+base+"/immutable/{rule}/delete", h.page(h.deleteImmutableRuleForm))
	mux.Handle("POST "+base+"/immutable/{rule}/delete", h.change(h.deleteImmutableRule))
}

// policiesURL is the policies page, with a notice.
func policiesURL(project, done string) string {
	u := "/projects/" + url.PathEscape(project) + "/policies"
	if done != "" {
		u += "?done=" + done
	}
	return u
}

var policyNotices = map[string]string{
	"rule-added":        "The retention rule was added.",
	"rule-deleted":      "The retention rule was deleted.",
	"rule-disabled":     "The retention rule was disabled.",
	"rule-enabled":      "The retention rule was enabled.",
	"scheduled":         "The retention schedule was saved.",
	"unscheduled":       "The retention schedule was removed: the policy runs only when started here.",
	"started":           "The retention policy is running; the run appears below.",
	"dryrun":            "A dry run was started: it deletes nothing, and its tasks say what a run would delete.",
	"immutable-added":   "The immutability rule was added.",
	"immutable-deleted": "The immutability rule was deleted.",
	"immutable-off":     "The immutability rule was disabled.",
	"immutable-on":      "The immutability rule was enabled.",
}

// projectPolicy is a project with its retention policy, if it has one, and what the caller
// may do with it.
type projectPolicy struct {
	View project.View
	// Policy is nil without one.
	Policy *retention.Policy
	// CanList: the caller may read the project's retention policy and runs.
	CanList bool
	// CanEdit: the caller may add and delete rules and set the schedule (create the policy,
	// or update it); CanRun: start runs.
	CanEdit, CanRun bool
}

func (h *Handler) projectPolicy(c *call) (projectPolicy, error) {
	v, err := h.Projects.Get(c.ctx(), c.r.PathValue("project"), true)
	if err != nil {
		return projectPolicy{}, err
	}
	pp := projectPolicy{View: v}
	can := map[rbac.Action]bool{}
	for _, act := range []rbac.Action{rbac.ActList, rbac.ActCreate, rbac.ActUpdate} {
		if can[act], err = h.Projects.Can(c.ctx(), v.Project, rbac.ResTagRetention, act); err != nil {
			return pp, err
		}
	}
	pp.CanList = can[rbac.ActList]
	if id, err := strconv.ParseInt(v.Metadata["retention_id"], 10, 64); err == nil && id > 0 && pp.CanList {
		pol, err := h.Retention.Get(c.ctx(), id)
		if err != nil && !fault.Is(err, fault.NotFound) {
			return pp, err
		}
		if err == nil {
			pp.Policy = &pol
		}
	}
	pp.CanEdit = pp.Policy == nil && can[rbac.ActCreate] || pp.Policy != nil && can[rbac.ActUpdate]
	pp.CanRun = pp.Policy != nil && can[rbac.ActUpdate]
	return pp, nil
}

// requirePolicy is the project's policy, for the actions that need one.
func (pp projectPolicy) requirePolicy() (retention.Policy, error) {
	if pp.Policy == nil {
		return retention.Policy{}, fault.NotFoundf("Project %s has no retention policy yet: add a rule first.", pp.View.Project.Name)
	}
	return *pp.Policy, nil
}

// ruleRow is a retention rule in words.
type ruleRow struct {
	ID       int
	Words    string
	Disabled bool
}

type immutableRow struct {
	ID       int64
	Words    string
	Disabled bool
}

type executionRow struct {
	meta.Execution
	Duration string
}

type policiesPage struct {
	Project string
	Tabs    projectTabs
	Notice  string
	// Retention; shown when ShowRetention.
	ShowRetention bool
	HasPolicy     bool
	Rules         []ruleRow
	CanEdit       bool
	CanRun        bool
	Templates     []choice
	Schedule      scheduleForm
	Current       string // the schedule in words
	Executions    []executionRow
	List          listing
	RuleForm      retentionRuleForm
	RuleError     string
	ScheduleError string
	// Immutability; shown when ShowImmutable.
	ShowImmutable   bool
	Immutable       []immutableRow
	CanAddImmutable bool
	CanToggle       bool
	CanDeleteRule   bool
	ImmutableForm   selectorForm
	ImmutableError  string
}

// selectorForm is a rule's repository and tag selectors as the forms hold them.
type selectorForm struct {
	// ID prefixes the ids of the form's controls.
	ID                          string
	RepoDecoration, RepoPattern string
	TagDecoration, TagPattern   string
}

type retentionRuleForm struct {
	Template, Param string
	Untagged        bool
	Sel             selectorForm
}

var executionSortKeys = []string{"id", "status", "start_time", "end_time"}

func (h *Handler) policies(c *call) error {
	pg := policiesPage{Notice: policyNotices[c.r.URL.Query().Get("done")],
		RuleForm:      retentionRuleForm{Template: "latestPushedK", Param: "10", Untagged: true, Sel: defaultSelectors("rule")},
		ImmutableForm: defaultSelectors("imm")}
	return h.renderPolicies(c, pg, http.StatusOK, true)
}

func defaultSelectors(id string) selectorForm {
	return selectorForm{ID: id, RepoDecoration: retention.RepoMatches, RepoPattern: "**", TagDecoration: retention.Matches, TagPattern: "**"}
}

// renderPolicies shows the page; fromSchedule fills the schedule form from the policy.
func (h *Handler) renderPolicies(c *call, pg policiesPage, code int, fromSchedule bool) error {
	pp, err := h.projectPolicy(c)
	if err != nil {
		return err
	}
	v := pp.View
	pg.Project = v.Project.Name
	if pg.Tabs, err = h.projectTabs(c, v, "policies"); err != nil {
		return err
	}
	canImm, err := h.Projects.Can(c.ctx(), v.Project, rbac.ResImmutableTag, rbac.ActList)
	if err != nil {
		return err
	}
	if !pp.CanList && !canImm {
		// Neither part: the immutability rule service refuses as it would through the API.
		if _, _, err := h.Immutable.List(c.ctx(), v.Project.Name, true, meta.ListQuery{Limit: 1}); err != nil {
			return err
		}
		return fault.ErrForbidden
	}
	if pp.CanList {
		if err := h.fillRetention(c, &pg, pp, fromSchedule); err != nil {
			return err
		}
	}
	if canImm {
		pg.ShowImmutable = true
		rules, _, err := h.Immutable.List(c.ctx(), v.Project.Name, true, meta.ListQuery{Limit: retention.MaxImmutableRules})
		if err != nil {
			return err
		}
		for _, r := range rules {
			pg.Immutable = append(pg.Immutable, immutableRow{ID: r.ID, Words: selectorWords(r.Selectors), Disabled: r.Disabled})
		}
		can := map[rbac.Action]bool{}
		for _, act := range []rbac.Action{rbac.ActCreate, rbac.ActUpdate, rbac.ActDelete} {
			if can[act], err = h.Projects.Can(c.ctx(), v.Project, rbac.ResImmutableTag, act); err != nil {
				return err
			}
		}
		pg.CanAddImmutable, pg.CanToggle, pg.CanDeleteRule = can[rbac.ActCreate], can[rbac.ActUpdate], can[rbac.ActDelete]
	}
	h.render(c.w, c, code, "policies", pg)
	return nil
}

func (h *Handler) fillRetention(c *call, pg *policiesPage, pp projectPolicy, fromSchedule bool) error {
	pg.ShowRetention, pg.CanEdit, pg.CanRun = true, pp.CanEdit, pp.CanRun
	md, err := h.Retention.Metadatas(c.ctx())
	if err != nil {
		return err
	}
	for _, t := range md.Templates {
		pg.Templates = append(pg.Templates, choice{t.RuleTemplate, templateLabel(t)})
	}
	lq, l, err := parseListing(c.r, executionSortKeys)
	if err != nil {
		return err
	}
	lq.Filters, l.Filter = nil, ""
	if fromSchedule {
		pg.Schedule = storedSchedule("ret", "", "")
	}
	if pp.Policy == nil {
		pg.List = l
		return nil
	}
	pol := *pp.Policy
	pg.HasPolicy = true
	for _, r := range pol.Rules {
		pg.Rules = append(pg.Rules, ruleRow{ID: r.ID, Words: ruleWords(r, md), Disabled: r.Disabled})
	}
	cron := pol.Cron()
	pg.Current = "None: the policy runs only when started here."
	if cron != "" {
		pg.Current = scheduleType(cron) + " (cron " + cron + ")"
	}
	if fromSchedule && cron != "" {
		pg.Schedule = storedSchedule("ret", "", cron)
	}
	es, total, err := h.Retention.Executions(c.ctx(), pol.ID, lq)
	if err != nil {
		return err
	}
	l.Total = total
	pg.List = l
	for _, e := range es {
		pg.Executions = append(pg.Executions, executionRow{Execution: e, Duration: duration(e.StartedAt, e.EndedAt)})
	}
	return nil
}

// templateLabel is a rule template as the form offers it: "the most recently pushed #
// artifacts" reads "Retain the most recently pushed # artifacts".
func templateLabel(t retention.TemplateMetadata) string {
	return "Retain " + t.DisplayText
}

// ruleWords is a retention rule in words, as Harbor's portal shows it: "Retain the most
// recently pushed 3 artifacts, repositories matching **, tags matching **".
func ruleWords(r retention.Rule, md retention.Metadata) string {
	what := r.Template
	param := strconv.FormatInt(ruleParam(r), 10)
	for _, t := range md.Templates {
		if t.RuleTemplate == r.Template {
			what = strings.ReplaceAll(t.DisplayText, "#", param)
		}
	}
	if what == r.Template && len(r.Params) > 0 {
		what += " " + param
	}
	s := "Retain " + what + ", " + selectorWords(r.Selectors)
	for _, t := range r.Tags {
		if t.Extras.Untagged {
			return s + ", including untagged artifacts"
		}
	}
	return s
}

// ruleParam is a stored rule's parameter (0 for none).
func ruleParam(r retention.Rule) int64 {
	switch v := r.Params[r.Template].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}

// selectorWords are a rule's selectors in words: "repositories matching **, tags excluding
// v1.*".
func selectorWords(s retention.Selectors) string {
	words := func(kind string, sels []retention.Selector) string {
		var parts []string
		for _, sel := range sels {
			verb := "matching"
			if sel.Decoration == retention.Excludes || sel.Decoration == retention.RepoExcludes {
				verb = "excluding"
			}
			parts = append(parts, verb+" "+sel.Pattern)
		}
		if len(parts) == 0 {
			return kind + " (any)"
		}
		return kind + " " + strings.Join(parts, " and ")
	}
	return words("repositories", s.Repositories()) + ", " + words("tags", s.Tags)
}

// scheduleType is the preset a cron is: Hourly "0 0 * * * *", Daily at a time, Weekly on a day
// at a time, else Custom.
func scheduleType(cron string) string {
	if cron == "" {
		return jobs.TypeNone
	}
	if cron == "0 0 * * * *" {
		return jobs.TypeHourly
	}
	if _, _, ok := cronTime(cron); ok {
		f := strings.Fields(cron)
		if f[3] == "*" && f[4] == "*" {
			if f[5] == "*" {
				return jobs.TypeDaily
			}
			if d, err := strconv.Atoi(f[5]); err == nil && d >= 0 && d <= 6 {
				return jobs.TypeWeekly
			}
		}
	}
	return jobs.TypeCustom
}

// duration is how long a run took, or "running" for one still going.
func duration(start, end time.Time) string {
	switch {
	case start.IsZero():
		return "—"
	case end.IsZero():
		return "running"
	}
	return end.Sub(start).Round(time.Second).String()
}

// formSelectors reads the selectors of a rule form.
func formSelectors(f url.Values, id string) selectorForm {
	return selectorForm{ID: id, RepoDecoration: f.Get("repo_decoration"), RepoPattern: strings.TrimSpace(f.Get("repo_pattern")),
		TagDecoration: f.Get("tag_decoration"), TagPattern: strings.TrimSpace(f.Get("tag_pattern"))}
}

// selectors are the form's selectors as a rule holds them; the service checks them.
func (s selectorForm) selectors(untagged bool) retention.Selectors {
	return retention.Selectors{
		Tags:  []retention.Selector{{Kind: retention.KindDoublestar, Decoration: s.TagDecoration, Pattern: s.TagPattern, Extras: retention.Extras{Untagged: untagged}}},
		Scope: map[string][]retention.Selector{retention.ScopeRepository: {{Kind: retention.KindDoublestar, Decoration: s.RepoDecoration, Pattern: s.RepoPattern}}},
	}
}

// changePolicy stores pol, creating the project's policy when it has none.
func (h *Handler) changePolicy(c *call, pp projectPolicy, pol retention.Policy) error {
	if pp.Policy == nil {
		pol.Scope = &retention.Scope{Level: retention.ScopeLevelProject, Ref: pp.View.Project.ID}
		_, err := h.Retention.Create(c.ctx(), pol)
		return err
	}
	return h.Retention.Update(c.ctx(), pp.Policy.ID, pol)
}

func (h *Handler) addRetentionRule(c *call) error {
	pp, err := h.projectPolicy(c)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	form := retentionRuleForm{Template: f.Get("template"), Param: strings.TrimSpace(f.Get("param")), Untagged: f.Get("untagged") == "on", Sel: formSelectors(f, "rule")}
	rule := retention.Rule{Action: retention.ActionRetain, Template: form.Template, Params: map[string]any{}, Selectors: form.Sel.selectors(form.Untagged)}
	if form.Param != "" {
		rule.Params[form.Template] = form.Param
	}
	var pol retention.Policy
	if pp.Policy != nil {
		pol = *pp.Policy
		pol.Rules = slices.Clone(pol.Rules)
	}
	pol.Rules = append(pol.Rules, rule)
	if err := h.changePolicy(c, pp, pol); err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		return h.renderPolicies(c, policiesPage{RuleForm: form, RuleError: msg, ImmutableForm: defaultSelectors("imm")}, code, true)
	}
	http.Redirect(c.w, c.r, policiesURL(pp.View.Project.Name, "rule-added"), http.StatusSeeOther)
	return nil
}

// policyRule is the project's policy and the index of the rule with the id in the path.
func (h *Handler) policyRule(c *call) (projectPolicy, retention.Policy, int, error) {
	pp, err := h.projectPolicy(c)
	if err != nil {
		return pp, retention.Policy{}, 0, err
	}
	if !pp.CanList {
		// The service's refusal, as the API gives it.
		if id, perr := strconv.ParseInt(pp.View.Metadata["retention_id"], 10, 64); perr == nil {
			if _, err := h.Retention.Get(c.ctx(), id); err != nil {
				return pp, retention.Policy{}, 0, err
			}
		}
		return pp, retention.Policy{}, 0, fault.ErrForbidden
	}
	pol, err := pp.requirePolicy()
	if err != nil {
		return pp, pol, 0, err
	}
	raw := c.r.PathValue("rule")
	for i, r := range pol.Rules {
		if strconv.Itoa(r.ID) == raw {
			return pp, pol, i, nil
		}
	}
	return pp, pol, 0, fault.NotFoundf("Project %s's retention policy has no rule %q.", pp.View.Project.Name, raw)
}

func (h *Handler) setRetentionRuleDisabled(c *call) error {
	pp, pol, i, err := h.policyRule(c)
	if err != nil {
		return err
	}
	disable := c.r.PostForm.Get("disable") == "true"
	pol.Rules = slices.Clone(pol.Rules)
	pol.Rules[i].Disabled = disable
	if err := h.Retention.Update(c.ctx(), pol.ID, pol); err != nil {
		return err
	}
	done := "rule-enabled"
	if disable {
		done = "rule-disabled"
	}
	http.Redirect(c.w, c.r, policiesURL(pp.View.Project.Name, done), http.StatusSeeOther)
	return nil
}

// confirmPage asks to confirm a deletion on the policies page.
type confirmPage struct {
	Project string
	Title   string
	What    string
	Action  string
	Button  string
	Cancel  string
}

func (h *Handler) deleteRetentionRuleForm(c *call) error {
	pp, pol, i, err := h.policyRule(c)
	if err != nil {
		return err
	}
	if !pp.CanEdit {
		return fault.ErrForbidden
	}
	md, err := h.Retention.Metadatas(c.ctx())
	if err != nil {
		return err
	}
	name := pp.View.Project.Name
	h.render(c.w, c, http.StatusOK, "policy_delete", confirmPage{Project: name, Title: "Delete retention rule " + strconv.Itoa(pol.Rules[i].ID),
		What:   "“" + ruleWords(pol.Rules[i], md) + "” will no longer keep artifacts: those only it retains are deleted by the next run.",
		Action: c.r.URL.Path, Button: "Delete the rule", Cancel: policiesURL(name, "")})
	return nil
}

func (h *Handler) deleteRetentionRule(c *call) error {
	pp, pol, i, err := h.policyRule(c)
	if err != nil {
		return err
	}
	pol.Rules = slices.Delete(slices.Clone(pol.Rules), i, i+1)
	if err := h.Retention.Update(c.ctx(), pol.ID, pol); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, policiesURL(pp.View.Project.Name, "rule-deleted"), http.StatusSeeOther)
	return nil
}

// retentionCron is the cron a schedule preset stores: Hourly at the top of every hour, Daily
// and Weekly at the chosen time, Custom as typed, None none.
func retentionCron(s scheduleForm) (string, error) {
	if s.Type == jobs.TypeHourly {
		return "0 0 * * * *", nil
	}
	return s.cron()
}

func (h *Handler) saveRetentionSchedule(c *call) error {
	pp, err := h.projectPolicy(c)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	form := postedSchedule("ret", f)
	cron, err := retentionCron(form)
	if err == nil {
		var pol retention.Policy
		if pp.Policy != nil {
			pol = *pp.Policy
		}
		pol.Trigger = &retention.Trigger{Kind: retention.TriggerKindSchedule, Settings: map[string]any{"cron": cron}}
		err = h.changePolicy(c, pp, pol)
	}
	if err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		return h.renderPolicies(c, policiesPage{Schedule: form, ScheduleError: msg,
			RuleForm: retentionRuleForm{Template: "latestPushedK", Param: "10", Untagged: true, Sel: defaultSelectors("rule")}, ImmutableForm: defaultSelectors("imm")}, code, false)
	}
	done := "scheduled"
	if cron == "" {
		done = "unscheduled"
	}
	http.Redirect(c.w, c.r, policiesURL(pp.View.Project.Name, done), http.StatusSeeOther)
	return nil
}

func (h *Handler) runRetention(c *call) error {
	pp, err := h.projectPolicy(c)
	if err != nil {
		return err
	}
	if !pp.CanList {
		return h.refuseRetention(c, pp)
	}
	pol, err := pp.requirePolicy()
	if err != nil {
		return err
	}
	dry := c.r.PostForm.Get("dry_run") == "true"
	if _, err := h.Retention.Trigger(c.ctx(), pol.ID, dry); err != nil {
		return err
	}
	done := "started"
	if dry {
		done = "dryrun"
	}
	http.Redirect(c.w, c.r, policiesURL(pp.View.Project.Name, done), http.StatusSeeOther)
	return nil
}

// refuseRetention is the retention service's refusal of a caller who may not read the
// project's policy.
func (h *Handler) refuseRetention(c *call, pp projectPolicy) error {
	if id, err := strconv.ParseInt(pp.View.Metadata["retention_id"], 10, 64); err == nil {
		if _, err := h.Retention.Get(c.ctx(), id); err != nil {
			return err
		}
	}
	return fault.ErrForbidden
}

type executionPage struct {
	Project   string
	Tabs      projectTabs
	Execution executionRow
	Tasks     []taskRow
	List      listing
}

type taskRow struct {
	meta.Task
	Result   retention.TaskResult
	Duration string
}

var taskSortKeys = []string{"name", "status", "start_time", "end_time"}

// policyExecution is the project's policy and the run with the id in the path.
func (h *Handler) policyExecution(c *call) (projectPolicy, retention.Policy, meta.Execution, error) {
	pp, err := h.projectPolicy(c)
	if err != nil {
		return pp, retention.Policy{}, meta.Execution{}, err
	}
	if !pp.CanList {
		return pp, retention.Policy{}, meta.Execution{}, h.refuseRetention(c, pp)
	}
	pol, err := pp.requirePolicy()
	if err != nil {
		return pp, pol, meta.Execution{}, err
	}
	raw := c.r.PathValue("execution")
	missing := fault.NotFoundf("Project %s's retention policy has no run %q.", pp.View.Project.Name, raw)
	eid, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || eid <= 0 {
		return pp, pol, meta.Execution{}, missing
	}
	es, _, err := h.Retention.Executions(c.ctx(), pol.ID, meta.ListQuery{Limit: 1,
		Filters: []meta.Filter{{Key: "id", Op: meta.OpExact, Values: []string{strconv.FormatInt(eid, 10)}}}})
	if err != nil {
		return pp, pol, meta.Execution{}, err
	}
	if len(es) == 0 {
		return pp, pol, meta.Execution{}, missing
	}
	return pp, pol, es[0], nil
}

func (h *Handler) retentionExecution(c *call) error {
	lq, l, err := parseListing(c.r, taskSortKeys)
	if err != nil {
		return err
	}
	pp, pol, e, err := h.policyExecution(c)
	if err != nil {
		return err
	}
	tasks, total, err := h.Retention.Tasks(c.ctx(), pol.ID, e.ID, lq)
	if err != nil {
		return err
	}
	l.Total = total
	pg := executionPage{Project: pp.View.Project.Name, Execution: executionRow{Execution: e, Duration: duration(e.StartedAt, e.EndedAt)}, List: l}
	if pg.Tabs, err = h.projectTabs(c, pp.View, "policies"); err != nil {
		return err
	}
	for _, t := range tasks {
		pg.Tasks = append(pg.Tasks, taskRow{Task: t, Result: retention.ResultOf(t), Duration: duration(t.StartedAt, t.EndedAt)})
	}
	h.render(c.w, c, http.StatusOK, "retention_run", pg)
	return nil
}

type taskLogPage struct {
	Project   string
	Execution int64
	Task      int64
	Log       string
}

func (h *Handler) retentionTaskLog(c *call) error {
	pp, pol, e, err := h.policyExecution(c)
	if err != nil {
		return err
	}
	tid, err := strconv.ParseInt(c.r.PathValue("task"), 10, 64)
	if err != nil || tid <= 0 {
		return fault.NotFoundf("Run %d has no task %q.", e.ID, c.r.PathValue("task"))
	}
	text, err := h.Retention.TaskLog(c.ctx(), pol.ID, e.ID, tid)
	if err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "retention_log", taskLogPage{Project: pp.View.Project.Name, Execution: e.ID, Task: tid, Log: text})
	return nil
}

func (h *Handler) addImmutableRule(c *call) error {
	name := c.r.PathValue("project")
	form := formSelectors(c.r.PostForm, "imm")
	_, err := h.Immutable.Create(c.ctx(), name, true, retention.ImmutableRule{Selectors: form.selectors(false)})
	if err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		return h.renderPolicies(c, policiesPage{ImmutableForm: form, ImmutableError: msg,
			RuleForm: retentionRuleForm{Template: "latestPushedK", Param: "10", Untagged: true, Sel: defaultSelectors("rule")}}, code, true)
	}
	http.Redirect(c.w, c.r, policiesURL(name, "immutable-added"), http.StatusSeeOther)
	return nil
}

// immutableRuleID reads the rule id in the path.
func immutableRuleID(c *call) (int64, error) {
	raw := c.r.PathValue("rule")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.NotFoundf("There is no immutability rule %q in project %s.", raw, c.r.PathValue("project"))
	}
	return id, nil
}

func (h *Handler) setImmutableRuleDisabled(c *call) error {
	name := c.r.PathValue("project")
	id, err := immutableRuleID(c)
	if err != nil {
		return err
	}
	disable := c.r.PostForm.Get("disable") == "true"
	if err := h.Immutable.Update(c.ctx(), name, true, id, retention.ImmutableRule{Disabled: disable}); err != nil {
		return err
	}
	done := "immutable-on"
	if disable {
		done = "immutable-off"
	}
	http.Redirect(c.w, c.r, policiesURL(name, done), http.StatusSeeOther)
	return nil
}

func (h *Handler) deleteImmutableRuleForm(c *call) error {
	name := c.r.PathValue("project")
	id, err := immutableRuleID(c)
	if err != nil {
		return err
	}
	v, err := h.Projects.Get(c.ctx(), name, true)
	if err != nil {
		return err
	}
	if err := h.requireProject(c, v, rbac.ResImmutableTag, rbac.ActDelete); err != nil {
		return err
	}
	rules, _, err := h.Immutable.List(c.ctx(), name, true, meta.ListQuery{Limit: retention.MaxImmutableRules})
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.ID == id {
			h.render(c.w, c, http.StatusOK, "policy_delete", confirmPage{Project: v.Project.Name, Title: "Delete immutability rule " + strconv.FormatInt(id, 10),
				What:   "Tags of " + selectorWords(r.Selectors) + " will no longer be protected: they can be pushed over and deleted again.",
				Action: c.r.URL.Path, Button: "Delete the rule", Cancel: policiesURL(v.Project.Name, "")})
			return nil
		}
	}
	return fault.NotFoundf("There is no immutability rule %d in project %s.", id, v.Project.Name)
}

func (h *Handler) deleteImmutableRule(c *call) error {
	name := c.r.PathValue("project")
	id, err := immutableRuleID(c)
	if err != nil {
		return err
	}
	if err := h.Immutable.Delete(c.ctx(), name, true, id); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, policiesURL(name, "immutable-deleted"), http.StatusSeeOther)
	return nil
}
