//go:build e2e

package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite driver berth itself uses, to age a robot in the test's database
)

// TestRobot is the CI robot flow with a real client: an admin creates project myproject and a
// robot ci-pipeline that may push and pull there for 365 days; crane logs in as
// robot$myproject+ci-pipeline, pushes and pulls; it cannot push to another project; after the
// secret is refreshed the old one fails and the new one works; a disabled robot fails, and so
// does one whose expiry has passed.
func TestRobot(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		requireClient(t, "crane")
		srv := startServer(t, serverOptions{DB: db})
		createProject(t, srv, "myproject", false)
		createProject(t, srv, "otherproject", false)
		admin := srv.admin()
		env := envFor(t)
		h := srv.Host

		body, _ := json.Marshal(map[string]any{
			"name": "ci-pipeline", "level": "project", "duration": 365, "description": "CI pushes",
			"permissions": []any{map[string]any{"kind": "project", "namespace": "myproject", "access": []any{
				map[string]string{"resource": "repository", "action": "pull"},
				map[string]string{"resource": "repository", "action": "push"},
			}}},
		})
		res := admin.do(t, http.MethodPost, "/api/v2.0/robots", body, "Content-Type", "application/json")
		if res.Status != http.StatusCreated {
			t.Fatalf("POST /api/v2.0/robots: want 201, got %s", res)
		}
		var robot struct {
			ID        int64  `json:"id"`
			Name      string `json:"name"`
			Secret    string `json:"secret"`
			ExpiresAt int64  `json:"expires_at"`
		}
		if err := json.Unmarshal(res.Body, &robot); err != nil {
			t.Fatalf("RobotCreated: %v: %s", err, res.Body)
		}
		if robot.Name != "robot$myproject+ci-pipeline" || robot.Secret == "" {
			t.Fatalf("RobotCreated name %q (secret set: %v), want robot$myproject+ci-pipeline with a secret", robot.Name, robot.Secret != "")
		}
		if want := time.Now().AddDate(0, 0, 365).Unix(); robot.ExpiresAt < want-60 || robot.ExpiresAt > want+60 {
			t.Errorf("expires_at %d, want about %d (365 days from now)", robot.ExpiresAt, want)
		}
		robotURL := fmt.Sprintf("/api/v2.0/robots/%d", robot.ID)
		// refused runs crane where it must fail because its login is refused.
		refused := func(why string, args ...string) {
			t.Helper()
			r := mustFail(t, runOpts{}, "crane", args...)
			if out := strings.ToLower(r.Stderr); !strings.Contains(out, "401") && !strings.Contains(out, "unauthorized") {
				t.Errorf("crane %s as %s failed, but not for authentication:\n%s", args[0], why, r.Stderr)
			}
		}

		// crane logs in as the robot and pushes an image made from a generated layer.
		run(t, "crane", "auth", "login", h, "-u", robot.Name, "-p", robot.Secret)
		tarPath := filepath.Join(env.Dir, "layer.tar")
		if err := os.WriteFile(tarPath, tarBytes(t, map[string][]byte{"build/output.bin": randomBytes(t, 256<<10)}), 0o644); err != nil {
			t.Fatal(err)
		}
		ref := h + "/myproject/app:v1"
		run(t, "crane", "append", "--insecure", "-f", tarPath, "-t", ref)
		digest := strings.TrimSpace(run(t, "crane", "digest", "--insecure", ref))
		if got := manifestDigest(t, admin, "myproject/app", "v1"); got != digest {
			t.Fatalf("crane digest %s, registry serves %s", digest, got)
		}
		layout := filepath.Join(env.Dir, "pulled")
		run(t, "crane", "pull", "--insecure", "--format=oci", ref, layout)
		if got := readOCILayoutDigest(t, layout, ""); got != digest {
			t.Fatalf("crane pull as the robot wrote manifest %s, want %s", got, digest)
		}

		// Another project is out of reach, and nothing lands there.
		r := mustFail(t, runOpts{}, "crane", "append", "--insecure", "-f", tarPath, "-t", h+"/otherproject/app:v1")
		if out := r.Stderr; !strings.Contains(out, "NAME_UNKNOWN") && !strings.Contains(out, "DENIED") && !strings.Contains(out, "UNAUTHORIZED") {
			t.Errorf("crane push to otherproject as the robot failed, but not because it was refused:\n%s", out)
		}
		if r := admin.do(t, http.MethodGet, "/v2/otherproject/app/manifests/v1", nil, "Accept", manifestAccept); r.Status != http.StatusNotFound {
			t.Errorf("after the robot's refused push to otherproject: GET manifest as admin: want 404, got %s", r)
		}

		// Refreshing the secret retires the old one at once.
		res = admin.do(t, http.MethodPatch, robotURL, []byte(`{}`), "Content-Type", "application/json")
		var sec struct {
			Secret string `json:"secret"`
		}
		if res.Status != http.StatusOK || json.Unmarshal(res.Body, &sec) != nil || sec.Secret == "" || sec.Secret == robot.Secret {
			t.Fatalf("PATCH %s: want 200 with a new secret, got %s", robotURL, res)
		}
		refused("a robot with a retired secret", "digest", "--insecure", ref)
		run(t, "crane", "auth", "login", h, "-u", robot.Name, "-p", sec.Secret)
		if got := strings.TrimSpace(run(t, "crane", "digest", "--insecure", ref)); got != digest {
			t.Fatalf("crane digest with the new secret: %s, want %s", got, digest)
		}

		// A disabled robot fails; enabled again it works.
		setDisabled := func(disabled bool) {
			t.Helper()
			r := admin.do(t, http.MethodGet, robotURL, nil)
			var cur map[string]any
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &cur) != nil {
				t.Fatalf("GET %s: %s", robotURL, r)
			}
			cur["disable"] = disabled
			b, _ := json.Marshal(cur)
			if r := admin.do(t, http.MethodPut, robotURL, b, "Content-Type", "application/json"); r.Status != http.StatusOK {
				t.Fatalf("PUT %s disable=%v: want 200, got %s", robotURL, disabled, r)
			}
		}
		setDisabled(true)
		refused("a disabled robot", "digest", "--insecure", ref)
		setDisabled(false)
		run(t, "crane", "digest", "--insecure", ref)

		// A robot whose expiry has passed fails. Nobody waits a year: the expiry is moved into
		// the past in the test's own database.
		expireRobot(t, srv, robot.ID)
		refused("an expired robot", "digest", "--insecure", ref)
	})
}

// expireRobot sets a robot's expires_at to a minute ago directly in the server's database.
func expireRobot(t *testing.T, srv *server, id int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	past := time.Now().Add(-time.Minute).Unix()
	if srv.DatabaseURL != "" {
		conn, err := pgx.Connect(ctx, srv.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "UPDATE robots SET expires_at = $1 WHERE id = $2", past, id); err != nil {
			t.Fatalf("expire robot %d: %v", id, err)
		}
		return
	}
	// The server holds the file open in WAL mode; a second writer waits for its lock.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "berth.db")+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "UPDATE robots SET expires_at = ?1 WHERE id = ?2", past, id); err != nil {
		t.Fatalf("expire robot %d: %v", id, err)
	}
}
