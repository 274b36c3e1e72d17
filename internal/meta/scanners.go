package meta

// Scanner registrations (Harbor's /scanners, 0011_scanners.sql) and the scanner each project
// picked. The rules Harbor keeps in its controller live here, in the transactions that change
// the rows: at most one default, the first registration becomes it, the built-in registration
// is never changed or deleted, and deleting the default hands the role back to the built-in.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrImmutableScanner refuses changes to the built-in scanner registration.
	ErrImmutableScanner = errors.New("meta: the built-in scanner registration cannot be changed or deleted")
	// ErrScannerDisabled refuses to make a disabled registration the default, or to disable
	// the default.
	ErrScannerDisabled = errors.New("meta: the default scanner registration cannot be disabled")
)

// ScannerRegistration is a scanner adapter Berth can send scans to. AccessCredential is what
// Berth presents to the adapter: stored as given, never shown by the API, never logged.
type ScannerRegistration struct {
	ID               int64
	UUID             string
	Name             string
	Description      string
	URL              string
	Auth             string // "", "Basic", "Bearer", "X-ScannerAdapter-API-Key"
	AccessCredential string
	SkipCertVerify   bool
	UseInternalAddr  bool
	Disabled         bool
	IsDefault        bool
	// Immutable marks the built-in scanner (EnsureBuiltinScanner).
	Immutable bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

const scannerColumns = `s.id, s.uuid, s.name, s.description, s.url, s.auth, s.access_credential, s.skip_cert_verify,
	s.use_internal_addr, s.disabled, s.is_default, s.immutable, s.created_at, s.updated_at`

func scanScannerRegistration(row rowScanner) (ScannerRegistration, error) {
	var r ScannerRegistration
	var c, u int64
	err := row.Scan(&r.ID, &r.UUID, &r.Name, &r.Description, &r.URL, &r.Auth, &r.AccessCredential, &r.SkipCertVerify,
		&r.UseInternalAddr, &r.Disabled, &r.IsDefault, &r.Immutable, &c, &u)
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, notFound(err)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ScannerRegistrationByUUID returns one registration; ErrNotFound if there is none.
func (q q) ScannerRegistrationByUUID(ctx context.Context, uuid string) (ScannerRegistration, error) {
	return scanScannerRegistration(q.queryRow(ctx, "SELECT "+scannerColumns+" FROM scanner_registrations s WHERE s.uuid = $1", uuid))
}

// DefaultScannerRegistration returns the default registration; ErrNotFound if there is none.
func (q q) DefaultScannerRegistration(ctx context.Context) (ScannerRegistration, error) {
	return scanScannerRegistration(q.queryRow(ctx, "SELECT "+scannerColumns+" FROM scanner_registrations s WHERE s.is_default"))
}

var scannerListColumns = map[string]Column{
	"name":          {"s.name", ColText},
	"description":   {"s.description", ColText},
	"url":           {"s.url", ColText},
	"disabled":      {"s.disabled", ColBool},
	"is_default":    {"s.is_default", ColBool},
	"creation_time": {"s.created_at", ColTime},
	"update_time":   {"s.updated_at", ColTime},
}

// ListScannerRegistrations returns one page of registrations, the default first and then the
// newest (Harbor's order) unless sorted otherwise, and the total.
func (q q) ListScannerRegistrations(ctx context.Context, lq ListQuery) ([]ScannerRegistration, int64, error) {
	w := NewWhere(1)
	if err := w.Apply(lq, scannerListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, scannerListColumns, "s.is_default DESC, s.created_at DESC", "s.id DESC")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM scanner_registrations s"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count scanner registrations: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+scannerColumns+" FROM scanner_registrations s"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list scanner registrations: %w", err)
	}
	defer rows.Close()
	out := []ScannerRegistration{}
	for rows.Next() {
		r, err := scanScannerRegistration(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// scannerNameOrURLTaken reports whether another registration (not uuid) has the name or URL.
func (tx *Tx) scannerNameOrURLTaken(ctx context.Context, uuid, name, url string) (bool, error) {
	var n int64
	err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM scanner_registrations WHERE (name = $1 OR url = $2) AND uuid <> $3", name, url, uuid).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("scanner registration %s: %w", name, err)
	}
	return n > 0, nil
}

// CreateScannerRegistration stores a new registration with a fresh UUID and returns it. The
// first registration, or any while no default exists, becomes the default (Harbor marks the
// first one). ErrConflict if the name or URL is taken.
func (db *DB) CreateScannerRegistration(ctx context.Context, r ScannerRegistration) (ScannerRegistration, error) {
	var out ScannerRegistration
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.CreateScannerRegistration(ctx, r)
		return err
	})
	if err != nil {
		return ScannerRegistration{}, err
	}
	return out, nil
}

// CreateScannerRegistration is DB.CreateScannerRegistration in the transaction.
func (tx *Tx) CreateScannerRegistration(ctx context.Context, r ScannerRegistration) (ScannerRegistration, error) {
	r.UUID = newUUID()
	r.Immutable = false
	taken, err := tx.scannerNameOrURLTaken(ctx, r.UUID, r.Name, r.URL)
	if err != nil {
		return r, err
	}
	if taken {
		return r, ErrConflict
	}
	if !r.IsDefault {
		_, err := tx.DefaultScannerRegistration(ctx)
		if errors.Is(err, ErrNotFound) {
			r.IsDefault = true
		} else if err != nil {
			return r, err
		}
	}
	if r.IsDefault {
		if _, err := tx.exec(ctx, "UPDATE scanner_registrations SET is_default = FALSE WHERE is_default"); err != nil {
			return r, fmt.Errorf("create scanner registration %s: %w", r.Name, err)
		}
	}
	t := now()
	err = tx.queryRowW(ctx, `INSERT INTO scanner_registrations (uuid, name, description, url, auth, access_credential,
		skip_cert_verify, use_internal_addr, disabled, is_default, immutable, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $11) RETURNING id`,
		r.UUID, r.Name, r.Description, r.URL, r.Auth, r.AccessCredential, r.SkipCertVerify, r.UseInternalAddr,
		r.Disabled, r.IsDefault, t).Scan(&r.ID)
	if err != nil {
		if tx.d.isUniqueViolation(err) {
			// A concurrent creation (PostgreSQL) took the name, URL or default role: run
			// the transaction again and see it.
			return r, errRaced
		}
		return r, fmt.Errorf("create scanner registration %s: %w", r.Name, err)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(t), fromMicros(t)
	return r, nil
}

// UpdateScannerRegistration changes a registration's settings (name, description, URL,
// authentication, TLS, internal address, disabled); its UUID, default role and times stay.
// ErrNotFound, ErrImmutableScanner for the built-in, ErrScannerDisabled when disabling the
// default, ErrConflict when the name or URL is another registration's.
func (db *DB) UpdateScannerRegistration(ctx context.Context, r ScannerRegistration) error {
	return db.Tx(ctx, func(tx *Tx) error { return tx.UpdateScannerRegistration(ctx, r) })
}

// UpdateScannerRegistration is DB.UpdateScannerRegistration in the transaction.
func (tx *Tx) UpdateScannerRegistration(ctx context.Context, r ScannerRegistration) error {
	cur, err := tx.ScannerRegistrationByUUID(ctx, r.UUID)
	if err != nil {
		return err
	}
	switch {
	case cur.Immutable:
		return ErrImmutableScanner
	case cur.IsDefault && r.Disabled:
		return ErrScannerDisabled
	}
	taken, err := tx.scannerNameOrURLTaken(ctx, r.UUID, r.Name, r.URL)
	if err != nil {
		return err
	}
	if taken {
		return ErrConflict
	}
	_, err = tx.exec(ctx, `UPDATE scanner_registrations SET name = $2, description = $3, url = $4, auth = $5,
		access_credential = $6, skip_cert_verify = $7, use_internal_addr = $8, disabled = $9, updated_at = $10
		WHERE uuid = $1`, r.UUID, r.Name, r.Description, r.URL, r.Auth, r.AccessCredential, r.SkipCertVerify,
		r.UseInternalAddr, r.Disabled, now())
	if err != nil {
		if tx.d.isUniqueViolation(err) {
			return errRaced
		}
		return fmt.Errorf("update scanner registration %s: %w", r.UUID, err)
	}
	return nil
}

// DeleteScannerRegistration removes a registration and the projects' choices of it, and
// returns what it was. Deleting the default makes the built-in registration the default.
// ErrNotFound, or ErrImmutableScanner for the built-in.
func (db *DB) DeleteScannerRegistration(ctx context.Context, uuid string) (ScannerRegistration, error) {
	var r ScannerRegistration
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		r, err = tx.DeleteScannerRegistration(ctx, uuid)
		return err
	})
	return r, err
}

// DeleteScannerRegistration is DB.DeleteScannerRegistration in the transaction.
func (tx *Tx) DeleteScannerRegistration(ctx context.Context, uuid string) (ScannerRegistration, error) {
	r, err := tx.ScannerRegistrationByUUID(ctx, uuid)
	if err != nil {
		return r, err
	}
	if r.Immutable {
		return r, ErrImmutableScanner
	}
	// project_scanners rows go with it (ON DELETE CASCADE).
	if _, err := tx.exec(ctx, "DELETE FROM scanner_registrations WHERE uuid = $1", uuid); err != nil {
		return r, fmt.Errorf("delete scanner registration %s: %w", uuid, err)
	}
	if r.IsDefault {
		if _, err := tx.exec(ctx, "UPDATE scanner_registrations SET is_default = TRUE, updated_at = $1 WHERE immutable AND NOT disabled", now()); err != nil {
			return r, fmt.Errorf("delete scanner registration %s: default to the built-in: %w", uuid, err)
		}
	}
	return r, nil
}

// SetDefaultScannerRegistration makes a registration the default, and no other. ErrNotFound,
// or ErrScannerDisabled for a disabled registration (Harbor only promotes enabled ones).
func (db *DB) SetDefaultScannerRegistration(ctx context.Context, uuid string) error {
	return db.Tx(ctx, func(tx *Tx) error { return tx.SetDefaultScannerRegistration(ctx, uuid) })
}

// SetDefaultScannerRegistration is DB.SetDefaultScannerRegistration in the transaction.
func (tx *Tx) SetDefaultScannerRegistration(ctx context.Context, uuid string) error {
	r, err := tx.ScannerRegistrationByUUID(ctx, uuid)
	if err != nil {
		return err
	}
	if r.IsDefault {
		return nil
	}
	if r.Disabled {
		return ErrScannerDisabled
	}
	t := now()
	if _, err := tx.exec(ctx, "UPDATE scanner_registrations SET is_default = FALSE, updated_at = $1 WHERE is_default", t); err != nil {
		return fmt.Errorf("set default scanner %s: %w", uuid, err)
	}
	if _, err := tx.exec(ctx, "UPDATE scanner_registrations SET is_default = TRUE, updated_at = $2 WHERE uuid = $1", uuid, t); err != nil {
		if tx.d.isUniqueViolation(err) {
			return errRaced // a concurrent change made another one the default (PostgreSQL)
		}
		return fmt.Errorf("set default scanner %s: %w", uuid, err)
	}
	return nil
}

// EnsureBuiltinScanner creates the built-in scanner's registration (immutable, with the
// given fixed uuid: stored reports name their scanner by it) or brings its name and URL up to
// date, makes it the default when there is no default, and returns it. The server calls it at
// every start; replicas starting together are safe.
func (db *DB) EnsureBuiltinScanner(ctx context.Context, uuid, name, url string) (ScannerRegistration, error) {
	var r ScannerRegistration
	err := db.Tx(ctx, func(tx *Tx) error {
		var noDefault bool
		if _, err := tx.DefaultScannerRegistration(ctx); errors.Is(err, ErrNotFound) {
			noDefault = true
		} else if err != nil {
			return err
		}
		taken, err := tx.scannerNameOrURLTaken(ctx, uuid, name, url)
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("built-in scanner registration: another registration is named %s or has url %s: rename it", name, url)
		}
		t := now()
		cur, err := scanScannerRegistration(tx.queryRowW(ctx, "SELECT "+scannerColumns+" FROM scanner_registrations s WHERE s.immutable"))
		switch {
		case errors.Is(err, ErrNotFound):
			err = tx.queryRowW(ctx, `INSERT INTO scanner_registrations (uuid, name, description, url, is_default, immutable,
				created_at, updated_at) VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) RETURNING id`,
				uuid, name, "Berth's built-in scanner: the image's packages matched against the offline vulnerability database",
				url, noDefault, t).Scan(&cur.ID)
		case err != nil:
			return err
		case cur.UUID != uuid:
			return fmt.Errorf("built-in scanner registration: it has uuid %s, not %s", cur.UUID, uuid)
		case cur.Name != name || cur.URL != url || noDefault:
			_, err = tx.exec(ctx, `UPDATE scanner_registrations SET name = $2, url = $3, is_default = is_default OR $4,
				updated_at = $5 WHERE id = $1`, cur.ID, name, url, noDefault, t)
		}
		if err != nil {
			if tx.d.isUniqueViolation(err) {
				// Another replica created it (or took the default role) first: run again.
				return errRaced
			}
			return fmt.Errorf("built-in scanner registration: %w", err)
		}
		r, err = scanScannerRegistration(tx.queryRowW(ctx, "SELECT "+scannerColumns+" FROM scanner_registrations s WHERE s.immutable"))
		return err
	})
	return r, err
}

// SetProjectScanner records the registration a project uses; ErrNotFound if there is no such
// registration.
func (q q) SetProjectScanner(ctx context.Context, projectID int64, uuid string) error {
	res, err := q.exec(ctx, `INSERT INTO project_scanners (project_id, registration_uuid, updated_at)
		SELECT $1, uuid, $3 FROM scanner_registrations WHERE uuid = $2
		ON CONFLICT (project_id) DO UPDATE SET registration_uuid = excluded.registration_uuid, updated_at = excluded.updated_at`,
		projectID, uuid, now())
	if err != nil {
		return fmt.Errorf("set scanner of project %d: %w", projectID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ScannerForProject returns the registration a project scans with: the one it picked, else
// the default. ErrNotFound when neither exists. The registration may be disabled: callers
// that scan check Disabled.
func (q q) ScannerForProject(ctx context.Context, projectID int64) (ScannerRegistration, error) {
	r, err := scanScannerRegistration(q.queryRow(ctx, "SELECT "+scannerColumns+` FROM scanner_registrations s
		JOIN project_scanners ps ON ps.registration_uuid = s.uuid WHERE ps.project_id = $1`, projectID))
	if errors.Is(err, ErrNotFound) {
		return q.DefaultScannerRegistration(ctx)
	}
	return r, err
}
