//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// berth runs the berth binary itself (not serve) with a timeout.
func berth(t *testing.T, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("$ berth %s  (%s)", strings.Join(args, " "), exitStatus(err))
	return string(out), err
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	out, err := berth(t, nil, "", "version")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("berth version: %v, output %q; want exit 0 and a version", err, out)
	}
	t.Logf("berth version: %s", strings.TrimSpace(out))
}

// TestAdminPasswd changes the admin's password with `berth admin passwd`
// while the server is stopped: after a restart only the new one works.
func TestAdminPasswd(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		old := srv.Password
		newPass := newPassword("Changed")
		srv.stop(t)

		// BERTH_ADMIN_PASSWORD is still set (as for serve): it must not win over
		// the changed password on the next start.
		out, err := berth(t, srv.env, newPass+"\n", "admin", "passwd", "--data-dir", srv.DataDir, adminUser)
		if err != nil {
			t.Fatalf("berth admin passwd admin --data-dir %s (%s): %v\n%s", srv.DataDir, db, err, out)
		}
		srv.start(t)

		if _, tok := fetchToken(t, srv, adminUser, newPass, "repository:library/x:pull,push"); tok == "" {
			t.Errorf("token request with the new password: refused")
		}
		if r, _ := fetchToken(t, srv, adminUser, old, "repository:library/x:pull,push"); r.Status != http.StatusUnauthorized {
			t.Errorf("token request with the old password after berth admin passwd: want 401, got %s", r)
		}
		srv.Password = newPass
		mustPushImage(t, srv.admin(), "library/after-passwd", "v1", randomImage(t, 1024))
	})
}
