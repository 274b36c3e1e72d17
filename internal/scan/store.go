package scan

import (
	"context"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
)

// Store is what scanning reads and writes; *meta.DB satisfies it. Writes that come with an
// event (a scan requested or ended, a registration changed) go through Tx.
type Store interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	// WatchChanges tells what the store's commits changed: the projects' policies are
	// remembered until a project changes.
	WatchChanges(fn func(meta.Changes))

	// Reports.
	ScanReportByID(ctx context.Context, id string) (meta.ScanReport, error)
	ScanReportOf(ctx context.Context, digest, registration, mime string) (meta.ScanReport, error)
	ScanReportsOf(ctx context.Context, registration string, digests []string) (map[string]map[string]meta.ScanReport, error)
	StartScanReport(ctx context.Context, id string) (bool, error)
	StopScanReport(ctx context.Context, id string) (bool, error)
	ScanStopRequested(ctx context.Context, id string) (bool, error)
	RematchScanReport(ctx context.Context, r meta.ScanReport, previousGeneration int64) error
	AppendScanLog(ctx context.Context, id, text string) error
	ScanLog(ctx context.Context, id string) (string, error)
	StaleBuiltinReports(ctx context.Context, registration string, gen int64, after string, limit int) ([]meta.ScanReport, error)
	ScanReportsEndedWith(ctx context.Context, registration, mime, status, text, after string, limit int) ([]meta.ScanReport, error)
	ScanSummaries(ctx context.Context, registration, mime, after string, limit int) ([]meta.ScanReport, error)

	// Scan-all runs.
	jobs.Executions
	ListExecutions(ctx context.Context, kind string, refID int64, lq meta.ListQuery) ([]meta.Execution, int64, error)
	SetExecutionStatus(ctx context.Context, id int64, status, text string) error
	SetExecutionResult(ctx context.Context, id int64, result string) error
	ExecutionLog(ctx context.Context, id int64) (string, error)
	RequestExecutionStop(ctx context.Context, id int64) (bool, error)
	StopRequested(ctx context.Context, id int64) (bool, error)

	// Registrations.
	ScannerRegistrationByUUID(ctx context.Context, uuid string) (meta.ScannerRegistration, error)
	ScannerForProject(ctx context.Context, projectID int64) (meta.ScannerRegistration, error)
	ListScannerRegistrations(ctx context.Context, lq meta.ListQuery) ([]meta.ScannerRegistration, int64, error)

	// What is scanned, and the projects' policies.
	ManifestByDigest(ctx context.Context, repo, digest string) (meta.Manifest, error)
	TagsOfManifests(ctx context.Context, ids []int64) (map[int64][]meta.Tag, error)
	ScannableArtifacts(ctx context.Context, afterID int64, limit int) ([]meta.ArtifactRef, error)
	CountScannableArtifacts(ctx context.Context) (int64, error)
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
	LookupProject(ctx context.Context, name string) (meta.Project, error)
	ProjectMetadata(ctx context.Context, projectID int64) (map[string]string, error)
	CVEAllowlist(ctx context.Context, projectID int64) (meta.CVEAllowlist, error)
}
