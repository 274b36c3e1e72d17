package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The offline vulnerability database's storage (internal/scan/vulndb reads and writes it).
//
// An import is a generation: BeginVulnImport records it as running, AddVulnBatch writes its rows
// a batch per transaction (and advances its heartbeat), FinishVulnImport makes it current in one
// transaction, and PurgeVulnGenerations deletes the rows of replaced and failed generations a
// batch per statement. Readers ask CurrentVulnGeneration once and pass the generation to every
// read, so they never see an import half-written or half-deleted.

// Statuses of a vulnerability database import.
const (
	VulnImportRunning  = "running"
	VulnImportCurrent  = "current"
	VulnImportReplaced = "replaced"
	VulnImportFailed   = "failed"
)

var (
	// ErrVulnImportRunning refuses to start an import while another one is writing.
	ErrVulnImportRunning = errors.New("meta: another vulnerability database import is running")
	// ErrVulnImportAbandoned means an import is no longer running: it made no progress for
	// longer than the stale limit and a later import marked it failed.
	ErrVulnImportAbandoned = errors.New("meta: the vulnerability database import was abandoned (no progress for too long)")
)

// VulnImport is one import of the vulnerability database. Its ID is the generation number its
// rows carry.
type VulnImport struct {
	ID         int64
	Status     string
	Purged     bool   // the generation's rows are deleted
	Vulns      int64  // vulnerabilities written
	Affected   int64  // affected-package rows written
	Error      string // why it failed
	Report     string // JSON report of the import
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time // zero while running
}

// Vuln is one vulnerability of a generation.
type Vuln struct {
	ID          string
	Modified    time.Time
	Published   time.Time
	Summary     string
	Details     string
	Aliases     []string
	Upstream    []string
	CVE         string // the CVE id shown for it; "" if it has none
	Severity    string
	CVSS3Vector string
	CVSS3Score  float64 // meaningful when CVSS3Vector is set
	CVSS2Vector string
	CVSS2Score  float64
	CVSS4Vector string
	CVSS4Score  float64
	References  []string // URLs
	CWEIDs      []string
}

// VulnAffected is one package a vulnerability affects, in an ecosystem release.
type VulnAffected struct {
	VulnID    string
	Ecosystem string // base ecosystem: "Debian", "Go", "PyPI"
	Suffix    string // what followed the ecosystem's first ':' ("12", "v3.19"); "" for all
	Name      string // normalised package name
	Ranges    string // JSON, opaque to the store
}

const vulnImportColumns = `id, status, purged, vulns, affected, error, report, started_at, updated_at, finished_at`

func scanVulnImport(row rowScanner) (VulnImport, error) {
	var im VulnImport
	var s, u int64
	var f sql.NullInt64
	err := row.Scan(&im.ID, &im.Status, &im.Purged, &im.Vulns, &im.Affected, &im.Error, &im.Report, &s, &u, &f)
	im.StartedAt, im.UpdatedAt, im.FinishedAt = fromMicros(s), fromMicros(u), fromNullMicros(f)
	return im, notFound(err)
}

// BeginVulnImport records a new running import and returns its generation. A running import
// whose heartbeat is older than staleAfter is taken for dead (its process ended without
// finishing) and marked failed; a live one makes this fail with ErrVulnImportRunning.
func (db *DB) BeginVulnImport(ctx context.Context, staleAfter time.Duration) (int64, error) {
	var gen int64
	err := db.Tx(ctx, func(tx *Tx) error {
		// The one row of vulndb_current serialises imports starting on several replicas.
		var cur int64
		if err := tx.queryRowW(ctx, "SELECT generation FROM vulndb_current WHERE id = 1"+tx.d.lockUpdate()).Scan(&cur); err != nil {
			return fmt.Errorf("begin vulnerability database import: %w", err)
		}
		t := now()
		if _, err := tx.exec(ctx, `UPDATE vulndb_imports SET status = $1, error = $2, finished_at = $3
			WHERE status = $4 AND updated_at < $5`,
			VulnImportFailed, "interrupted: no progress for "+staleAfter.String(), t, VulnImportRunning, t-staleAfter.Microseconds()); err != nil {
			return fmt.Errorf("begin vulnerability database import: %w", err)
		}
		var running int64
		err := tx.queryRowW(ctx, "SELECT id FROM vulndb_imports WHERE status = $1 ORDER BY id LIMIT 1", VulnImportRunning).Scan(&running)
		if err == nil {
			return fmt.Errorf("%w (import %d)", ErrVulnImportRunning, running)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("begin vulnerability database import: %w", err)
		}
		if err := tx.queryRowW(ctx, `INSERT INTO vulndb_imports (status, started_at, updated_at) VALUES ($1, $2, $2) RETURNING id`,
			VulnImportRunning, t).Scan(&gen); err != nil {
			return fmt.Errorf("begin vulnerability database import: %w", err)
		}
		return nil
	})
	return gen, err
}

// AddVulnBatch writes vulnerabilities and the packages they affect into a running import's
// generation, in one transaction. A vulnerability already in the generation (the same record in
// two sources, as osv.dev's per-ecosystem archives repeat records that span ecosystems) keeps
// its first copy: its affected rows in this batch are dropped too. It returns the ids written.
// ErrVulnImportAbandoned if the import is no longer running.
func (db *DB) AddVulnBatch(ctx context.Context, generation int64, vulns []Vuln, affected []VulnAffected) ([]string, error) {
	var added []string
	err := db.Tx(ctx, func(tx *Tx) error {
		added = added[:0]
		ids, err := tx.insertVulns(ctx, generation, vulns)
		if err != nil {
			return err
		}
		added = ids
		isNew := make(map[string]bool, len(ids))
		for _, id := range ids {
			isNew[id] = true
		}
		rows := make([]VulnAffected, 0, len(affected))
		for _, a := range affected {
			if isNew[a.VulnID] {
				rows = append(rows, a)
			}
		}
		if err := tx.insertVulnAffected(ctx, generation, rows); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE vulndb_imports SET vulns = vulns + $2, affected = affected + $3, updated_at = $4
			WHERE id = $1 AND status = $5`, generation, len(ids), len(rows), now(), VulnImportRunning)
		if err != nil {
			return fmt.Errorf("vulnerability database import %d: %w", generation, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("vulnerability database import %d: %w", generation, ErrVulnImportAbandoned)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// Rows per INSERT statement: a few thousand bound values, well under both databases' limits.
const vulnInsertRows = 100

func (tx *Tx) insertVulns(ctx context.Context, generation int64, vulns []Vuln) ([]string, error) {
	var ids []string
	seen := make(map[string]bool, len(vulns))
	for start := 0; start < len(vulns); start += vulnInsertRows {
		chunk := vulns[start:min(start+vulnInsertRows, len(vulns))]
		const cols = 18
		var b strings.Builder
		b.WriteString(`INSERT INTO vulndb_vulns (generation, id, modified, published, summary, details, aliases, upstream, cve,
			severity, cvss3_vector, cvss3_score, cvss2_vector, cvss2_score, cvss4_vector, cvss4_score, refs, cwe_ids) VALUES `)
		args := make([]any, 0, len(chunk)*cols)
		n := 0
		for _, v := range chunk {
			if seen[v.ID] {
				continue // PostgreSQL refuses a statement that inserts one key twice
			}
			seen[v.ID] = true
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(" + placeholders(n*cols+1, cols) + ")")
			n++
			args = append(args, generation, v.ID, microsOrZero(v.Modified), microsOrZero(v.Published), v.Summary, v.Details,
				jsonStrings(v.Aliases), jsonStrings(v.Upstream), v.CVE, v.Severity,
				v.CVSS3Vector, nullScore(v.CVSS3Vector, v.CVSS3Score), v.CVSS2Vector, nullScore(v.CVSS2Vector, v.CVSS2Score),
				v.CVSS4Vector, nullScore(v.CVSS4Vector, v.CVSS4Score), jsonStrings(v.References), jsonStrings(v.CWEIDs))
		}
		if n == 0 {
			continue
		}
		b.WriteString(" ON CONFLICT (generation, id) DO NOTHING RETURNING id")
		rows, err := tx.queryUncached(ctx, b.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("insert vulnerabilities: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("insert vulnerabilities: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("insert vulnerabilities: %w", err)
		}
	}
	return ids, nil
}

func (tx *Tx) insertVulnAffected(ctx context.Context, generation int64, affected []VulnAffected) error {
	for start := 0; start < len(affected); start += vulnInsertRows {
		chunk := affected[start:min(start+vulnInsertRows, len(affected))]
		const cols = 6
		var b strings.Builder
		b.WriteString("INSERT INTO vulndb_affected (generation, ecosystem, suffix, name, vuln_id, ranges) VALUES ")
		args := make([]any, 0, len(chunk)*cols)
		for i, a := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(" + placeholders(i*cols+1, cols) + ")")
			args = append(args, generation, a.Ecosystem, a.Suffix, a.Name, a.VulnID, a.Ranges)
		}
		if _, err := tx.execUncached(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert affected packages: %w", err)
		}
	}
	return nil
}

// FinishVulnImport makes a running import's generation the current one and marks the one it
// replaces, in one transaction; it returns the replaced generation (0 if there was none).
// ErrVulnImportAbandoned if the import is no longer running.
func (db *DB) FinishVulnImport(ctx context.Context, generation int64, report string) (int64, error) {
	var prev int64
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.queryRowW(ctx, "SELECT generation FROM vulndb_current WHERE id = 1"+tx.d.lockUpdate()).Scan(&prev); err != nil {
			return fmt.Errorf("switch vulnerability database: %w", err)
		}
		t := now()
		res, err := tx.exec(ctx, `UPDATE vulndb_imports SET status = $2, report = $3, updated_at = $4, finished_at = $4
			WHERE id = $1 AND status = $5`, generation, VulnImportCurrent, report, t, VulnImportRunning)
		if err != nil {
			return fmt.Errorf("switch vulnerability database: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("vulnerability database import %d: %w", generation, ErrVulnImportAbandoned)
		}
		if _, err := tx.exec(ctx, "UPDATE vulndb_current SET generation = $1, updated_at = $2 WHERE id = 1", generation, t); err != nil {
			return fmt.Errorf("switch vulnerability database: %w", err)
		}
		if _, err := tx.exec(ctx, "UPDATE vulndb_imports SET status = $1, updated_at = $2 WHERE status = $3 AND id <> $4",
			VulnImportReplaced, t, VulnImportCurrent, generation); err != nil {
			return fmt.Errorf("switch vulnerability database: %w", err)
		}
		return nil
	})
	return prev, err
}

// FailVulnImport marks a running import failed, with why and its report; its rows stay until
// PurgeVulnGenerations deletes them.
func (q q) FailVulnImport(ctx context.Context, generation int64, reason, report string) error {
	t := now()
	if _, err := q.exec(ctx, `UPDATE vulndb_imports SET status = $2, error = $3, report = $4, updated_at = $5, finished_at = $5
		WHERE id = $1 AND status = $6`, generation, VulnImportFailed, reason, report, t, VulnImportRunning); err != nil {
		return fmt.Errorf("record failed vulnerability database import %d: %w", generation, err)
	}
	return nil
}

// PurgeVulnGenerations deletes the rows of every replaced or failed generation, at most batch
// rows per statement so that no statement holds the database for long, and returns how many
// rows it deleted. Readers that still use a replaced generation should start over with the
// current one (see CurrentVulnGeneration).
func (q q) PurgeVulnGenerations(ctx context.Context, batch int) (int64, error) {
	if batch <= 0 {
		batch = 2000
	}
	rows, err := q.queryW(ctx, "SELECT id FROM vulndb_imports WHERE status IN ($1, $2) AND purged = $3 ORDER BY id",
		VulnImportReplaced, VulnImportFailed, false)
	if err != nil {
		return 0, fmt.Errorf("purge vulnerability database: %w", err)
	}
	var gens []int64
	for rows.Next() {
		var g int64
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return 0, fmt.Errorf("purge vulnerability database: %w", err)
		}
		gens = append(gens, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("purge vulnerability database: %w", err)
	}
	var total int64
	for _, g := range gens {
		n, err := q.purgeVulnGeneration(ctx, g, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("purge vulnerability database generation %d: %w", g, err)
		}
		if _, err := q.exec(ctx, "UPDATE vulndb_imports SET purged = $2 WHERE id = $1", g, true); err != nil {
			return total, fmt.Errorf("purge vulnerability database generation %d: %w", g, err)
		}
	}
	return total, nil
}

// purgeVulnGeneration deletes a generation's rows in key order, each statement starting where
// the previous one ended: a statement that looked for "any batch of rows of the generation"
// would walk past the index entries of every row deleted before it (PostgreSQL keeps them until
// vacuum), making the purge quadratic.
func (q q) purgeVulnGeneration(ctx context.Context, gen int64, batch int) (int64, error) {
	var total int64
	var lo, hi sql.NullInt64
	if err := q.queryRowW(ctx, "SELECT MIN(id), MAX(id) FROM vulndb_affected WHERE generation = $1", gen).Scan(&lo, &hi); err != nil {
		return 0, err
	}
	for from := lo.Int64; lo.Valid && from <= hi.Int64; from += int64(batch) {
		res, err := q.exec(ctx, "DELETE FROM vulndb_affected WHERE generation = $1 AND id >= $2 AND id < $3", gen, from, from+int64(batch))
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	after := ""
	for {
		var last sql.NullString
		if err := q.queryRowW(ctx, `SELECT MAX(id) FROM (SELECT id FROM vulndb_vulns WHERE generation = $1 AND id > $2 ORDER BY id LIMIT $3) b`,
			gen, after, batch).Scan(&last); err != nil {
			return total, err
		}
		if !last.Valid {
			return total, nil
		}
		res, err := q.exec(ctx, "DELETE FROM vulndb_vulns WHERE generation = $1 AND id > $2 AND id <= $3", gen, after, last.String)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		after = last.String
	}
}

// CurrentVulnGeneration returns the generation readers use; 0 before the first import.
func (q q) CurrentVulnGeneration(ctx context.Context) (int64, error) {
	var g int64
	if err := q.queryRow(ctx, "SELECT generation FROM vulndb_current WHERE id = 1").Scan(&g); err != nil {
		return 0, fmt.Errorf("current vulnerability database: %w", err)
	}
	return g, nil
}

// VulnImport returns one import; ErrNotFound if there is none.
func (q q) VulnImport(ctx context.Context, id int64) (VulnImport, error) {
	return scanVulnImport(q.queryRow(ctx, "SELECT "+vulnImportColumns+" FROM vulndb_imports WHERE id = $1", id))
}

// RecentVulnImports returns the latest imports, newest first.
func (q q) RecentVulnImports(ctx context.Context, limit int) ([]VulnImport, error) {
	rows, err := q.query(ctx, "SELECT "+vulnImportColumns+" FROM vulndb_imports ORDER BY id DESC LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("list vulnerability database imports: %w", err)
	}
	defer rows.Close()
	var out []VulnImport
	for rows.Next() {
		im, err := scanVulnImport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, rows.Err()
}

// lookupChunk is the number of values in the IN lists of lookups. Every lookup uses exactly
// this many placeholders (repeating a value to fill them), so there is one statement text to
// prepare and cache however many values are asked for.
const lookupChunk = 64

// VulnAffectedByNames returns the affected-package rows of a generation for the given
// (normalised) package names of a base ecosystem, in insertion order. With suffixes, only rows
// with one of them (at most four; "" is the rows for every release) are returned.
func (q q) VulnAffectedByNames(ctx context.Context, generation int64, ecosystem string, suffixes, names []string) ([]VulnAffected, error) {
	const maxSuffixes = 4
	if len(suffixes) > maxSuffixes {
		return nil, fmt.Errorf("look up affected packages: %d suffixes, at most %d", len(suffixes), maxSuffixes)
	}
	query := "SELECT vuln_id, ecosystem, suffix, name, ranges FROM vulndb_affected WHERE generation = $1 AND ecosystem = $2"
	next := 3
	if len(suffixes) > 0 {
		query += " AND suffix IN (" + placeholders(next, maxSuffixes) + ")"
		next += maxSuffixes
	}
	query += " AND name IN (" + placeholders(next, lookupChunk) + ") ORDER BY id"
	var out []VulnAffected
	for start := 0; start < len(names); start += lookupChunk {
		args := []any{generation, ecosystem}
		if len(suffixes) > 0 {
			args = append(args, paddedLookup(suffixes, maxSuffixes)...)
		}
		args = append(args, paddedLookup(names[start:min(start+lookupChunk, len(names))], lookupChunk)...)
		rows, err := q.query(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("look up affected packages: %w", err)
		}
		for rows.Next() {
			var a VulnAffected
			if err := rows.Scan(&a.VulnID, &a.Ecosystem, &a.Suffix, &a.Name, &a.Ranges); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up affected packages: %w", err)
			}
			out = append(out, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up affected packages: %w", err)
		}
	}
	return out, nil
}

// VulnsByID returns the vulnerabilities of a generation with the given ids, by id.
func (q q) VulnsByID(ctx context.Context, generation int64, ids []string) (map[string]Vuln, error) {
	query := `SELECT id, modified, published, summary, details, aliases, upstream, cve, severity,
		cvss3_vector, cvss3_score, cvss2_vector, cvss2_score, cvss4_vector, cvss4_score, refs, cwe_ids
		FROM vulndb_vulns WHERE generation = $1 AND id IN (` + placeholders(2, lookupChunk) + ")"
	out := make(map[string]Vuln, len(ids))
	for start := 0; start < len(ids); start += lookupChunk {
		args := append([]any{generation}, paddedLookup(ids[start:min(start+lookupChunk, len(ids))], lookupChunk)...)
		rows, err := q.query(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("read vulnerabilities: %w", err)
		}
		for rows.Next() {
			var v Vuln
			var m, p int64
			var aliases, upstream, refs, cwes string
			var s3, s2, s4 sql.NullFloat64
			if err := rows.Scan(&v.ID, &m, &p, &v.Summary, &v.Details, &aliases, &upstream, &v.CVE, &v.Severity,
				&v.CVSS3Vector, &s3, &v.CVSS2Vector, &s2, &v.CVSS4Vector, &s4, &refs, &cwes); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read vulnerabilities: %w", err)
			}
			v.Modified, v.Published = fromMicros(m), fromMicros(p)
			v.CVSS3Score, v.CVSS2Score, v.CVSS4Score = s3.Float64, s2.Float64, s4.Float64
			v.Aliases, v.Upstream = parseStrings(aliases), parseStrings(upstream)
			v.References, v.CWEIDs = parseStrings(refs), parseStrings(cwes)
			out[v.ID] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read vulnerabilities: %w", err)
		}
	}
	return out, nil
}

// paddedLookup returns the values as n arguments, repeating the last one to fill them.
func paddedLookup(values []string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = values[min(i, len(values)-1)]
	}
	return out
}

func jsonStrings(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func parseStrings(s string) []string {
	var out []string
	json.Unmarshal([]byte(s), &out)
	return out
}

func nullScore(vector string, score float64) any {
	if vector == "" {
		return nil
	}
	return score
}

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// execUncached and queryUncached run statements whose text varies with the number of rows
// (multi-row INSERTs) without putting them in the prepared-statement cache, which they would
// fill with one-off entries.
func (q q) execUncached(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query, args = q.d.rebind(query, args)
	return q.db.ExecContext(ctx, query, args...)
}

func (q q) queryUncached(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query, args = q.d.rebind(query, args)
	return q.db.QueryContext(ctx, query, args...)
}
