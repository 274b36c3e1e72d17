package meta

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Inventory is an image's stored package inventory (JSON of inventory.Inventory).
type Inventory struct {
	Digest    string
	JSON      string
	Extractor string
	CreatedAt time.Time
}

// PutInventory stores (or replaces) the inventory of an image manifest.
func (q q) PutInventory(ctx context.Context, inv Inventory) error {
	_, err := q.exec(ctx, `INSERT INTO scan_inventories (digest, inventory, extractor, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (digest) DO UPDATE SET inventory = excluded.inventory, extractor = excluded.extractor, created_at = excluded.created_at`,
		inv.Digest, inv.JSON, inv.Extractor, now())
	if err != nil {
		return fmt.Errorf("store inventory of %s: %w", inv.Digest, err)
	}
	return nil
}

// InventoryOf returns an image's stored inventory; ErrNotFound if it was never extracted.
func (q q) InventoryOf(ctx context.Context, digest string) (Inventory, error) {
	var inv Inventory
	var c int64
	err := q.queryRow(ctx, "SELECT digest, inventory, extractor, created_at FROM scan_inventories WHERE digest = $1", digest).
		Scan(&inv.Digest, &inv.JSON, &inv.Extractor, &c)
	inv.CreatedAt = fromMicros(c)
	return inv, notFound(err)
}

// ScanReport is one stored report.
type ScanReport struct {
	ID               string
	Digest           string
	RegistrationUUID string
	MimeType         string
	Repository       string // where the scan was asked for (a scanner pulls from there)
	Status           string
	StatusText       string
	Severity         string
	Summary          string // JSON, see the migration
	Report           string // raw report JSON; "" until it succeeds
	Scanner          string // JSON {name, vendor, version}
	Generation       int64
	StopRequested    bool
	StartTime        time.Time
	EndTime          time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Finished reports whether the report's scan has ended.
func (r ScanReport) Finished() bool {
	return r.Status == StatusSuccess || r.Status == StatusError || r.Status == StatusStopped
}

const scanReportColumns = `id, digest, registration_uuid, mime_type, repository, status, status_text, severity, summary,
	COALESCE(report, ''), scanner, generation, stop_requested, start_time, end_time, created_at, updated_at`

// scanReportHead is scanReportColumns without the report body, for listings.
const scanReportHead = `id, digest, registration_uuid, mime_type, repository, status, status_text, severity, summary,
	'', scanner, generation, stop_requested, start_time, end_time, created_at, updated_at`

func scanReport(row rowScanner) (ScanReport, error) {
	var r ScanReport
	var s, e sql.NullInt64
	var c, u int64
	err := row.Scan(&r.ID, &r.Digest, &r.RegistrationUUID, &r.MimeType, &r.Repository, &r.Status, &r.StatusText, &r.Severity,
		&r.Summary, &r.Report, &r.Scanner, &r.Generation, &r.StopRequested, &s, &e, &c, &u)
	if s.Valid {
		r.StartTime = fromMicros(s.Int64)
	}
	if e.Valid {
		r.EndTime = fromMicros(e.Int64)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, notFound(err)
}

// QueueScanReport creates the report row of a scan about to be queued, or resets an existing
// one (same digest, scanner and MIME type) to Pending, keeping its id. It returns the report
// and false when a scan of it is already pending or running (nothing changed).
func (q q) QueueScanReport(ctx context.Context, r ScanReport) (ScanReport, bool, error) {
	t := now()
	cur, err := scanReport(q.queryRowW(ctx, "SELECT "+scanReportColumns+` FROM scan_reports
		WHERE digest = $1 AND registration_uuid = $2 AND mime_type = $3`+q.d.lockUpdate(), r.Digest, r.RegistrationUUID, r.MimeType))
	switch {
	case err == ErrNotFound:
		if _, err := q.exec(ctx, `INSERT INTO scan_reports (id, digest, registration_uuid, mime_type, repository, status, scanner, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'Pending', $6, $7, $7)`, r.ID, r.Digest, r.RegistrationUUID, r.MimeType, r.Repository, r.Scanner, t); err != nil {
			if q.d.isUniqueViolation(err) {
				return r, false, errRaced
			}
			return r, false, fmt.Errorf("queue scan of %s: %w", r.Digest, err)
		}
		r.Status = StatusPending
		return r, true, nil
	case err != nil:
		return r, false, err
	}
	if cur.Status == StatusPending || cur.Status == StatusRunning {
		return cur, false, nil
	}
	if _, err := q.exec(ctx, `UPDATE scan_reports SET status = 'Pending', status_text = '', repository = $2, scanner = $3,
		stop_requested = FALSE, log = '', start_time = NULL, end_time = NULL, updated_at = $4 WHERE id = $1`,
		cur.ID, r.Repository, r.Scanner, t); err != nil {
		return cur, false, fmt.Errorf("queue scan of %s: %w", r.Digest, err)
	}
	cur.Status, cur.Repository = StatusPending, r.Repository
	return cur, true, nil
}

// ScanReportByID returns a report; ErrNotFound if there is none.
func (q q) ScanReportByID(ctx context.Context, id string) (ScanReport, error) {
	return scanReport(q.queryRow(ctx, "SELECT "+scanReportColumns+" FROM scan_reports WHERE id = $1", id))
}

// ScanReportOf returns the report of a digest by a scanner in a MIME type; ErrNotFound if
// none.
func (q q) ScanReportOf(ctx context.Context, digest, registration, mime string) (ScanReport, error) {
	return scanReport(q.queryRow(ctx, "SELECT "+scanReportColumns+` FROM scan_reports
		WHERE digest = $1 AND registration_uuid = $2 AND mime_type = $3`, digest, registration, mime))
}

// ScanReportsOf returns the reports (without their bodies) of the digests by a scanner,
// keyed by digest then MIME type.
func (q q) ScanReportsOf(ctx context.Context, registration string, digests []string) (map[string]map[string]ScanReport, error) {
	out := map[string]map[string]ScanReport{}
	if len(digests) == 0 {
		return out, nil
	}
	args := []any{registration}
	for _, d := range digests {
		args = append(args, d)
	}
	rows, err := q.query(ctx, "SELECT "+scanReportHead+" FROM scan_reports WHERE registration_uuid = $1 AND digest IN ("+
		placeholders(2, len(digests))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("scan reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, err
		}
		if out[r.Digest] == nil {
			out[r.Digest] = map[string]ScanReport{}
		}
		out[r.Digest][r.MimeType] = r
	}
	return out, rows.Err()
}

// StartScanReport marks a report Running; false if it was stopped (or finished) meanwhile.
func (q q) StartScanReport(ctx context.Context, id string) (bool, error) {
	t := now()
	res, err := q.exec(ctx, `UPDATE scan_reports SET status = 'Running', start_time = $2, updated_at = $2
		WHERE id = $1 AND status IN ('Pending', 'Running') AND NOT stop_requested`, id, t)
	if err != nil {
		return false, fmt.Errorf("start scan %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// FinishScanReport ends a scan: Success with the report, its summary and severity, or Error /
// Stopped with a reason. A report already stopped stays stopped; false then.
func (q q) FinishScanReport(ctx context.Context, r ScanReport) (bool, error) {
	t := now()
	var report any
	if r.Report != "" {
		report = r.Report
	}
	if r.Summary == "" {
		r.Summary = "{}"
	}
	res, err := q.exec(ctx, `UPDATE scan_reports SET status = $2, status_text = $3, severity = $4, summary = $5, report = COALESCE($6, report),
		generation = $7, scanner = $8, end_time = $9, updated_at = $9, start_time = COALESCE(start_time, $9)
		WHERE id = $1 AND status <> 'Stopped'`,
		r.ID, r.Status, r.StatusText, r.Severity, r.Summary, report, r.Generation, r.Scanner, t)
	if err != nil {
		return false, fmt.Errorf("finish scan %s: %w", r.ID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// RematchScanReport replaces a successful built-in report's findings after a new
// vulnerability database, unless the report changed meanwhile.
func (q q) RematchScanReport(ctx context.Context, r ScanReport, previousGeneration int64) error {
	_, err := q.exec(ctx, `UPDATE scan_reports SET severity = $2, summary = $3, report = $4, generation = $5, updated_at = $6
		WHERE id = $1 AND status = 'Success' AND generation = $7`,
		r.ID, r.Severity, r.Summary, r.Report, r.Generation, now(), previousGeneration)
	return err
}

// AppendScanLog adds text to a report's scan log.
func (q q) AppendScanLog(ctx context.Context, id, text string) error {
	if text == "" {
		return nil
	}
	_, err := q.exec(ctx, "UPDATE scan_reports SET log = log || $2 WHERE id = $1", id, text)
	return err
}

// ScanLog returns a report's scan log.
func (q q) ScanLog(ctx context.Context, id string) (string, error) {
	var s string
	err := q.queryRow(ctx, "SELECT log FROM scan_reports WHERE id = $1", id).Scan(&s)
	return s, notFound(err)
}

// StopScanReport asks a pending or running scan to stop; a pending one ends at once. It
// reports whether there was a scan to stop.
func (q q) StopScanReport(ctx context.Context, id string) (bool, error) {
	t := now()
	res, err := q.exec(ctx, `UPDATE scan_reports SET stop_requested = TRUE, updated_at = $2,
		status = CASE WHEN status = 'Pending' THEN 'Stopped' ELSE status END,
		end_time = CASE WHEN status = 'Pending' THEN $2 ELSE end_time END
		WHERE id = $1 AND status IN ('Pending', 'Running')`, id, t)
	if err != nil {
		return false, fmt.Errorf("stop scan %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ScanStopRequested reports whether someone asked the scan to stop.
func (q q) ScanStopRequested(ctx context.Context, id string) (bool, error) {
	var b bool
	err := q.queryRow(ctx, "SELECT stop_requested FROM scan_reports WHERE id = $1", id).Scan(&b)
	return b, notFound(err)
}

// scanReports reads the rows of a report query.
func scanReports(rows *sql.Rows, err error) ([]ScanReport, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ScanReport
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// StaleBuiltinReports returns up to limit successful reports of a scanner matched against a
// generation older than gen (to re-match), after the given id.
func (q q) StaleBuiltinReports(ctx context.Context, registration string, gen int64, after string, limit int) ([]ScanReport, error) {
	rows, err := q.query(ctx, "SELECT "+scanReportHead+` FROM scan_reports
		WHERE registration_uuid = $1 AND status = 'Success' AND generation < $2 AND id > $3 ORDER BY id LIMIT $4`,
		registration, gen, after, limit)
	if err != nil {
		err = fmt.Errorf("stale reports: %w", err)
	}
	return scanReports(rows, err)
}

// ScanReportsEndedWith returns up to limit reports of a scanner in a MIME type that ended with
// the given status and status text, after the given id: scans that failed for a reason since
// removed, to run again.
func (q q) ScanReportsEndedWith(ctx context.Context, registration, mime, status, text, after string, limit int) ([]ScanReport, error) {
	rows, err := q.query(ctx, "SELECT "+scanReportHead+` FROM scan_reports
		WHERE registration_uuid = $1 AND mime_type = $2 AND status = $3 AND status_text = $4 AND id > $5 ORDER BY id LIMIT $6`,
		registration, mime, status, text, after, limit)
	if err != nil {
		err = fmt.Errorf("reports ended with %s: %w", status, err)
	}
	return scanReports(rows, err)
}

// ScanSummaries returns the summaries of every successful report of a scanner in a MIME type
// for artifacts that still exist (for /security/summary and /security/vul), in pages after
// the given id.
func (q q) ScanSummaries(ctx context.Context, registration, mime, after string, limit int) ([]ScanReport, error) {
	rows, err := q.query(ctx, "SELECT "+scanReportHead+` FROM scan_reports sr
		WHERE registration_uuid = $1 AND mime_type = $2 AND status = 'Success' AND id > $3
		AND EXISTS (SELECT 1 FROM manifests m WHERE m.digest = sr.digest) ORDER BY id LIMIT $4`,
		registration, mime, after, limit)
	if err != nil {
		err = fmt.Errorf("scan summaries: %w", err)
	}
	return scanReports(rows, err)
}

// ArtifactRef names a stored manifest for scan-all.
type ArtifactRef struct {
	ID         int64
	ProjectID  int64
	Repository string
	Digest     string
	MediaType  string
}

// ScannableArtifacts returns up to limit manifests after the given id that are artifacts of
// their own (not an index's child, not a referrer) — what scan-all scans.
func (q q) ScannableArtifacts(ctx context.Context, afterID int64, limit int) ([]ArtifactRef, error) {
	rows, err := q.query(ctx, `SELECT m.id, r.project_id, r.name, m.digest, m.media_type FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		WHERE m.id > $1 AND m.subject_digest IS NULL
		AND NOT EXISTS (SELECT 1 FROM manifest_children c WHERE c.child_id = m.id)
		ORDER BY m.id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("scannable artifacts: %w", err)
	}
	defer rows.Close()
	var out []ArtifactRef
	for rows.Next() {
		var a ArtifactRef
		if err := rows.Scan(&a.ID, &a.ProjectID, &a.Repository, &a.Digest, &a.MediaType); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountScannableArtifacts counts what ScannableArtifacts pages through.
func (q q) CountScannableArtifacts(ctx context.Context) (int64, error) {
	var n int64
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM manifests m WHERE m.subject_digest IS NULL
		AND NOT EXISTS (SELECT 1 FROM manifest_children c WHERE c.child_id = m.id)`).Scan(&n)
	return n, err
}
