package scan

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/audit"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan/adapter"
	"github.com/berthreg/berth/internal/scan/report"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// fakeEngine is an external scanner that describes itself and never scans.
type fakeEngine struct{}

func (fakeEngine) Metadata(context.Context) (report.Metadata, error) {
	return report.Metadata{Scanner: report.Scanner{Name: "Fake", Vendor: "Berth tests", Version: "1"},
		Capabilities: []report.Capability{{Type: "vulnerability", ConsumesMimeTypes: []string{"application/vnd.oci.image.manifest.v1+json"},
			ProducesMimeTypes: []string{report.MimeGeneric}}}}, nil
}

func (fakeEngine) Scan(context.Context, report.Request) (report.Result, error) {
	return report.Result{}, io.ErrUnexpectedEOF
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// testService is a scan service over db whose external adapter (adapterURL) answers in
// process.
func testService(t *testing.T, db *meta.DB) (s *Service, adapterURL string) {
	t.Helper()
	ctx := context.Background()
	q, err := jobs.New(ctx, db, jobs.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnsureBuiltinScanner(ctx, BuiltinUUID, "Berth", adapter.BuiltinURL); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adapter.NewServer(fakeEngine{}, func(*http.Request) bool { return true }, discard))
	t.Cleanup(srv.Close)
	authz := &rbac.Authorizer{Members: db, Robots: db}
	engines := &adapter.Engines{}
	reg := &registry.Service{DB: db, Log: discard}
	projects := &project.Service{Store: db, Authz: authz}
	s = &Service{Store: db, Jobs: q, VulnDB: vulndb.New(db), Log: discard, Registry: reg, Authz: authz, Projects: projects,
		Artifacts: &registry.Artifacts{Registry: reg, Store: db, Projects: projects}, Engines: engines,
		Scanners: &Registrations{Store: db, Engines: engines}}
	Register(q, s)
	return s, srv.URL
}

// emitted returns the events committed so far, in order.
func emitted(t *testing.T, db *meta.DB) []meta.Event {
	t.Helper()
	return metatest.NewEvents(t, db).Next()
}

// auditOf is what the audit log makes of events: "user operation resource_type resource
// project_id" per entry, in order.
func auditOf(t *testing.T, db *meta.DB, evs []meta.Event) []string {
	t.Helper()
	ctx := context.Background()
	if err := audit.Subscriber(db, discard)(ctx, evs); err != nil {
		t.Fatal(err)
	}
	entries, _, err := db.ListAudit(ctx, meta.ListQuery{Limit: 100, Sort: []meta.SortKey{{Key: "id"}}}, meta.AuditScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, strings.Join([]string{e.Username, e.Operation, e.ResourceType, e.Resource, itoa(e.ProjectID)}, " "))
	}
	return out
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// pushImage stores an image manifest (nothing else is needed to queue a scan of it) and
// returns its digest.
func pushImage(t *testing.T, db *meta.DB, projectID int64, repo, tag string) string {
	t.Helper()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` +
		strings.Repeat("c", 64) + `","size":2},"layers":[],"annotations":{"tag":"` + tag + `"}}`)
	d := digest.FromBytes(body).String()
	if _, err := db.PutManifest(context.Background(), meta.PutManifestParams{ProjectID: projectID, Repository: repo, Digest: d,
		MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: body, Tags: []string{tag}}); err != nil {
		t.Fatal(err)
	}
	return d
}

var admin = auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})

// TestScansAreEventsOfTheirTransactions: a caller's scan request is a ScanRequested event (the
// audit log's "create scan" in the project), scan-on-push requests are not; a scan that ends
// in Success or Error is a ScanCompleted or ScanFailed event, a stopped one none.
func TestScansAreEventsOfTheirTransactions(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s, url := testService(t, db)
		ctx := context.Background()
		fake, err := db.CreateScannerRegistration(ctx, meta.ScannerRegistration{Name: "Fake", URL: url, IsDefault: true})
		if err != nil {
			t.Fatal(err)
		}
		pid := metatest.NewProject(t, db, "owner", "proj")
		if err := db.Tx(ctx, func(tx *meta.Tx) error {
			return tx.AddProjectMetadata(ctx, pid, map[string]string{"auto_scan": "true"})
		}); err != nil {
			t.Fatal(err)
		}
		asked := pushImage(t, db, pid, "proj/app", "v1")
		pushed := pushImage(t, db, pid, "proj/app", "v2")

		target := Target{Project: "proj", Repository: "app", Reference: "v1"}
		for _, c := range []struct {
			name string
			ctx  context.Context
			t    Target
			typ  string
			want fault.Kind
		}{
			{"anonymous", ctx, target, "", fault.Unauthorized},
			{"unknown type", admin, target, "malware", fault.Invalid},
			{"unknown repository", admin, Target{"proj", "nothing", "v1"}, "", fault.NotFound},
			{"unknown tag", admin, Target{"proj", "app", "v9"}, "", fault.NotFound},
			{"invalid digest", admin, Target{"proj", "app", "sha256:xyz"}, "", fault.Invalid},
		} {
			if err := s.Request(c.ctx, c.t, c.typ); fault.KindOf(err) != c.want {
				t.Errorf("%s: %v, want a refusal of kind %d", c.name, err, c.want)
			}
		}
		if err := s.Request(admin, target, ""); err != nil {
			t.Fatal(err)
		}
		// Scan on push queues its scan without a request of anyone's.
		if err := s.HandlePushes(ctx, []meta.Event{events.OfRepository(ctx, events.ArtifactPushed, pid, "proj/app", "proj/app:v2",
			events.Artifact{Repository: "proj/app", Digest: pushed, Created: true})}); err != nil {
			t.Fatal(err)
		}
		reports, err := db.ScanReportsOf(ctx, fake.UUID, []string{asked, pushed})
		if err != nil || len(reports) != 2 {
			t.Fatalf("reports %+v, %v", reports, err)
		}
		evs := emitted(t, db)
		if len(evs) != 1 || evs[0].Type != events.ScanRequested || evs[0].Stream != "repository:proj/app" {
			t.Fatalf("events %+v, want one scan request", evs)
		}
		if got, want := auditOf(t, db, evs), []string{"admin create scan proj/app@" + asked + " " + itoa(pid)}; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit entries %q, want %q", got, want)
		}

		// The ends of the scans.
		ok := reports[asked][report.MimeGeneric]
		ok.Status = meta.StatusRunning
		if err := s.finish(ctx, ok, report.Result{Reports: map[string][]byte{report.MimeGeneric: []byte(`{"vulnerabilities":[]}`)}}, nil); err != nil {
			t.Fatal(err)
		}
		failed := reports[pushed][report.MimeGeneric]
		if err := s.finish(ctx, failed, report.Result{}, io.ErrUnexpectedEOF); err != nil {
			t.Fatal(err)
		}
		// A scan stopped meanwhile stays stopped, and says nothing.
		d := pushImage(t, db, pid, "proj/app", "v3")
		stopped, err := s.request(ctx, meta.Project{ID: pid, Name: "proj"}, "proj/app", meta.Manifest{Digest: d}, TypeVulnerability)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.StopScanReport(ctx, stopped.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.finish(ctx, stopped, report.Result{Reports: map[string][]byte{report.MimeGeneric: []byte(`{"vulnerabilities":[]}`)}}, nil); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range emitted(t, db)[1:] {
			var sc events.Scan
			if err := events.Decode(e, &sc); err != nil {
				t.Fatal(err)
			}
			if e.ProjectID != pid || e.Resource != sc.Repository+"@"+sc.Digest {
				t.Errorf("event %+v", e)
			}
			got = append(got, e.Type+" "+sc.Digest+" "+sc.Status+" "+sc.Severity)
		}
		want := []string{
			events.ScanCompleted + " " + asked + " Success None",
			events.ScanFailed + " " + pushed + " Error ",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("end events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestRegistrationChangesAreEvents: creating, changing, promoting and deleting registrations
// and a project's pick are events of their transactions, which the audit log records as it
// always has; refused changes say nothing.
func TestRegistrationChangesAreEvents(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s, url := testService(t, db)
		pid := metatest.NewProject(t, db, "owner", "proj")
		r, err := s.CreateRegistration(admin, meta.ScannerRegistration{Name: " Fake ", URL: url + "/"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteRegistration(admin, BuiltinUUID); !fault.Is(err, fault.Forbidden) {
			t.Fatalf("deleting the built-in registration: %v", err)
		}
		user := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 2, Name: "alice"})
		if _, err := s.CreateRegistration(user, meta.ScannerRegistration{Name: "Other", URL: url + "/other"}); !fault.Is(err, fault.Forbidden) {
			t.Fatalf("a user registering a scanner: %v", err)
		}
		if err := s.UpdateRegistration(admin, r.UUID, meta.ScannerRegistration{Name: "Fake2", URL: url}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDefaultRegistration(admin, BuiltinUUID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetProjectScanner(admin, "proj", true, r.UUID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteRegistration(admin, r.UUID); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"admin create scanner Fake 0",
			"admin update scanner Fake2 0",
			"admin update scanner Berth 0",
			"admin update project_scanner proj:Fake2 " + itoa(pid),
			"admin delete scanner Fake2 0",
		}
		evs := emitted(t, db)
		if got := auditOf(t, db, evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, e := range evs {
			if strings.Contains(string(e.Payload), "credential") {
				t.Errorf("event %s carries a credential: %s", e.Type, e.Payload)
			}
		}
	})
}
