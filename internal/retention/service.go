package retention

// The rules of retention policies and their runs, for the REST API, the portal and the CLI. As
// in Harbor, every operation needs a signed-in caller, and a policy is authorised as the
// tag-retention resource of its project (HARBOR-NOTES §d: project admins, maintainers and
// developers).

import (
	"context"
	"errors"
	"strconv"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the retention service reads and writes.
type Store interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
	CreateRetentionPolicy(ctx context.Context, projectID int64, policy string) (int64, error)
	RetentionPolicy(ctx context.Context, id int64) (meta.RetentionPolicy, error)
	RetentionPolicyOfProject(ctx context.Context, projectID int64) (meta.RetentionPolicy, error)
	UpdateRetentionPolicy(ctx context.Context, id int64, policy string) error
	DeleteRetentionPolicy(ctx context.Context, id int64) error
	ListExecutions(ctx context.Context, kind string, refID int64, lq meta.ListQuery) ([]meta.Execution, int64, error)
	Execution(ctx context.Context, id int64) (meta.Execution, error)
	RequestExecutionStop(ctx context.Context, id int64) (bool, error)
	ListTasks(ctx context.Context, executionID int64, lq meta.ListQuery) ([]meta.Task, int64, error)
	Task(ctx context.Context, id int64) (meta.Task, error)
	TaskLog(ctx context.Context, id int64) (string, error)
}

// Service holds the rules of retention policies and their runs.
type Service struct {
	Store    Store
	Jobs     *jobs.Queue
	Projects *project.Service
}

// Metadatas describes the rule templates and selectors policies may use.
func (s *Service) Metadatas(ctx context.Context) (Metadata, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return Metadata{}, err
	}
	return Metadatas(), nil
}

// policyError refuses a policy that fails validation: Harbor's 409 for a rule given twice, 400
// for the rest.
func policyError(err error) error {
	if errors.Is(err, ErrRuleConflict) {
		return fault.Conflictf("%v", err)
	}
	return fault.Invalidf("%v", err)
}

// Create stores a policy for the project its scope names, sets its schedule, and returns its
// id. A project has one policy at most.
func (s *Service) Create(ctx context.Context, pol Policy) (int64, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return 0, err
	}
	if pol.Scope == nil || pol.Scope.Level != ScopeLevelProject || pol.Scope.Ref <= 0 {
		// Normalize names what is wrong with the scope.
		return 0, policyError(pol.Normalize())
	}
	if _, err := s.Store.ProjectByID(ctx, pol.Scope.Ref); errors.Is(err, meta.ErrNotFound) {
		return 0, fault.Invalidf("scope.ref: invalid project id %d", pol.Scope.Ref)
	} else if err != nil {
		return 0, err
	}
	p, err := s.Projects.FindFor(ctx, strconv.FormatInt(pol.Scope.Ref, 10), false, rbac.ResTagRetention, rbac.ActCreate)
	if err != nil {
		return 0, err
	}
	if err := pol.Normalize(); err != nil {
		return 0, policyError(err)
	}
	row, err := pol.Row()
	if err != nil {
		return 0, err
	}
	id, err := s.Store.CreateRetentionPolicy(ctx, p.ID, row)
	switch {
	case errors.Is(err, meta.ErrConflict):
		existing, err := s.Store.RetentionPolicyOfProject(ctx, p.ID)
		if errors.Is(err, meta.ErrNotFound) {
			return 0, fault.Conflictf("project %d was getting or losing a retention policy at the same time: try again", p.ID)
		} else if err != nil {
			return 0, err
		}
		return 0, fault.Invalidf("project %d already has retention policy %d: update it with PUT /retentions/%d", p.ID, existing.ID, existing.ID)
	case errors.Is(err, meta.ErrNotFound):
		return 0, fault.Invalidf("scope.ref: invalid project id %d", p.ID)
	case err != nil:
		return 0, err
	}
	pol.ID = id
	if err := ApplySchedule(ctx, s.Jobs, pol); err != nil {
		return 0, err
	}
	return id, nil
}

// policy resolves a policy and checks the permission in its project. A policy of a project the
// caller cannot see is not found, as a missing one is.
func (s *Service) policy(ctx context.Context, id int64, act rbac.Action) (Policy, meta.Project, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return Policy{}, meta.Project{}, err
	}
	missing := fault.NotFoundf("retention policy %d not found", id)
	row, err := s.Store.RetentionPolicy(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return Policy{}, meta.Project{}, missing
	}
	if err != nil {
		return Policy{}, meta.Project{}, err
	}
	p, err := s.Projects.Find(ctx, strconv.FormatInt(row.ProjectID, 10), false)
	if fault.Is(err, fault.NotFound) {
		return Policy{}, meta.Project{}, missing
	}
	if err != nil {
		return Policy{}, meta.Project{}, err
	}
	if err := s.Projects.Authz.Require(ctx, p, rbac.ResTagRetention, act); err != nil {
		return Policy{}, meta.Project{}, err
	}
	pol, err := PolicyOf(row)
	return pol, p, err
}

// Get returns a policy.
func (s *Service) Get(ctx context.Context, id int64) (Policy, error) {
	pol, _, err := s.policy(ctx, id, rbac.ActRead)
	return pol, err
}

// Update replaces a policy's algorithm, rules and trigger, and follows its schedule; its scope
// cannot change.
func (s *Service) Update(ctx context.Context, id int64, pol Policy) error {
	old, p, err := s.policy(ctx, id, rbac.ActUpdate)
	if err != nil {
		return err
	}
	if pol.ID != 0 && pol.ID != old.ID {
		return fault.Invalidf("id %d in the body does not match retention policy %d of the path", pol.ID, old.ID)
	}
	if pol.Scope == nil {
		pol.Scope = old.Scope
	} else if pol.Scope.Ref != p.ID || pol.Scope.Level != ScopeLevelProject {
		return fault.Invalidf("scope: retention policy %d belongs to project %d (level %q); its scope cannot change",
			old.ID, p.ID, ScopeLevelProject)
	}
	if err := pol.Normalize(); err != nil {
		return policyError(err)
	}
	pol.ID = old.ID
	row, err := pol.Row()
	if err != nil {
		return err
	}
	if err := s.Store.UpdateRetentionPolicy(ctx, pol.ID, row); errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("retention policy %d not found", pol.ID)
	} else if err != nil {
		return err
	}
	return ApplySchedule(ctx, s.Jobs, pol)
}

// Delete removes a policy, its schedule and its runs.
func (s *Service) Delete(ctx context.Context, id int64) error {
	pol, _, err := s.policy(ctx, id, rbac.ActDelete)
	if err != nil {
		return err
	}
	if err := DropSchedule(ctx, s.Jobs, pol.ID); err != nil {
		return err
	}
	if err := s.Store.DeleteRetentionPolicy(ctx, pol.ID); errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("retention policy %d not found", pol.ID)
	} else if err != nil {
		return err
	}
	return nil
}

// Executions returns one page of a policy's runs and their total.
func (s *Service) Executions(ctx context.Context, id int64, lq meta.ListQuery) ([]meta.Execution, int64, error) {
	pol, _, err := s.policy(ctx, id, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListExecutions(ctx, meta.ExecutionKindRetention, pol.ID, lq)
}

// Trigger starts a run of a policy by hand and returns its execution's id. The caller is the
// run's operator: the audit log names them for what the run deletes.
func (s *Service) Trigger(ctx context.Context, id int64, dryRun bool) (int64, error) {
	pol, _, err := s.policy(ctx, id, rbac.ActUpdate)
	if err != nil {
		return 0, err
	}
	var eid int64
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		eid, err = start(ctx, tx, s.Jobs, pol.ID, TriggerManual, dryRun, auth.PrincipalFrom(ctx).Name)
		return err
	})
	return eid, err
}

// execution resolves a run of the policy.
func (s *Service) execution(ctx context.Context, pol Policy, eid int64) (meta.Execution, error) {
	e, err := s.Store.Execution(ctx, eid)
	if errors.Is(err, meta.ErrNotFound) || err == nil && (e.Kind != meta.ExecutionKindRetention || e.RefID != pol.ID) {
		return meta.Execution{}, fault.NotFoundf("execution %d of retention policy %d not found", eid, pol.ID)
	}
	return e, err
}

// Stop asks a run of a policy to stop (action "stop", the only one there is). Stopping one
// that has ended already changes nothing, as in Harbor.
func (s *Service) Stop(ctx context.Context, id, eid int64, action string) error {
	pol, _, err := s.policy(ctx, id, rbac.ActUpdate)
	if err != nil {
		return err
	}
	if action != "stop" {
		return fault.Invalidf("action %q: only \"stop\" is supported", action)
	}
	e, err := s.execution(ctx, pol, eid)
	if err != nil {
		return err
	}
	if _, err := s.Store.RequestExecutionStop(ctx, e.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	return nil
}

// Tasks returns one page of the tasks (one per repository) of a run of a policy and their
// total.
func (s *Service) Tasks(ctx context.Context, id, eid int64, lq meta.ListQuery) ([]meta.Task, int64, error) {
	pol, _, err := s.policy(ctx, id, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	e, err := s.execution(ctx, pol, eid)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListTasks(ctx, e.ID, lq)
}

// TaskLog returns the log of a task of a run: the table of the repository's artifacts, what
// became of each and why.
func (s *Service) TaskLog(ctx context.Context, id, eid, tid int64) (string, error) {
	pol, _, err := s.policy(ctx, id, rbac.ActRead)
	if err != nil {
		return "", err
	}
	e, err := s.execution(ctx, pol, eid)
	if err != nil {
		return "", err
	}
	t, err := s.Store.Task(ctx, tid)
	if errors.Is(err, meta.ErrNotFound) || err == nil && t.ExecutionID != e.ID {
		return "", fault.NotFoundf("task %d of retention execution %d not found", tid, e.ID)
	}
	if err != nil {
		return "", err
	}
	return s.Store.TaskLog(ctx, t.ID)
}
