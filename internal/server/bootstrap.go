package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// AdminPasswordFile is where a generated first-start password is written.
const AdminPasswordFile = "initial-admin-password"

// bootstrap creates, once, the system administrator "admin" and the public project "library".
// Without BERTH_ADMIN_PASSWORD a random password is generated, logged once and written to
// <data-dir>/initial-admin-password (0600). Replicas starting together are safe: the unique
// constraints decide, and the loser reads what the winner stored.
func (s *Server) bootstrap(ctx context.Context) error {
	admin, err := s.db.UserByName(ctx, "admin")
	if errors.Is(err, meta.ErrNotFound) {
		password, generated := s.cfg.AdminPassword, false
		if password == "" {
			password, generated = auth.RandomPassword(), true
		}
		hash, err := auth.HashPassword(password)
		if err != nil {
			return err
		}
		id, err := s.db.CreateUser(ctx, meta.User{Username: "admin", Realname: "system admin", Comment: "system administrator", PasswordHash: hash, SysAdmin: true})
		switch {
		case errors.Is(err, meta.ErrConflict):
			// another replica created it first
		case err != nil:
			return fmt.Errorf("create admin user: %w", err)
		default:
			admin.ID = id
			if generated {
				path := filepath.Join(s.cfg.DataDir, AdminPasswordFile)
				if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
					return fmt.Errorf("write %s: %w", path, err)
				}
				// Logged exactly once, on the start that created the account.
				s.log.Warn("created user admin with a generated password; change it with `berth admin passwd admin`",
					"password", password, "file", path)
			} else {
				s.log.Info("created user admin with the password from BERTH_ADMIN_PASSWORD")
			}
		}
		if admin, err = s.db.UserByName(ctx, "admin"); err != nil {
			return fmt.Errorf("read admin user: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read admin user: %w", err)
	}
	if _, err := s.db.ProjectByName(ctx, "library"); errors.Is(err, meta.ErrNotFound) {
		_, err := s.db.CreateProject(ctx, meta.Project{Name: "library", OwnerID: admin.ID, Public: true})
		if err != nil && !errors.Is(err, meta.ErrConflict) {
			return fmt.Errorf("create project library: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read project library: %w", err)
	}
	return nil
}
