package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// The vulnerability database without an import: scans report the package inventory and say
// what to do, /systeminfo and the scanner's metadata say so, and the scheduled update fills the
// database from a local stand-in for osv.dev's bucket.

// localOSV serves OSV archives at /<ecosystem>/all.zip with an ETag, as osv.dev's bucket does,
// and counts the requests.
type localOSV struct {
	*httptest.Server
	mu       sync.Mutex
	archives map[string][]byte
	requests int
}

func newLocalOSV(t *testing.T) *localOSV {
	t.Helper()
	o := &localOSV{archives: map[string][]byte{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.requests++
		body, ok := o.archives[r.URL.Path]
		o.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
		http.ServeContent(w, r, "all.zip", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(body))
	}))
	t.Cleanup(o.Close)
	return o
}

// serveRecords serves the OSV records as the ecosystem's all.zip.
func (o *localOSV) serveRecords(t *testing.T, ecosystem string, records ...string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, r := range records {
		w, err := zw.Create(strings.Repeat("r", i+1) + ".json")
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(r))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.archives["/"+ecosystem+"/all.zip"] = buf.Bytes()
}

func (o *localOSV) requestCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests
}

// updatingConfig is a test server's configuration with scheduled updates from osv every
// interval, Debian only.
func updatingConfig(t *testing.T, dialect string, osv *localOSV, interval time.Duration) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = adminPassword
	cfg.VulnDBUpdateURL = osv.URL
	cfg.VulnDBUpdateEcosystems = "Debian"
	cfg.VulnDBUpdateInterval = interval
	if dialect == "postgres" {
		cfg.DatabaseURL = metatest.NewDatabase(t)
	}
	return cfg
}

// waitUpdated waits until the server's first vulnerability database update has ended, and
// returns the database's status then.
func waitUpdated(t *testing.T, srv *Server) vulndb.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := srv.scan.VulnDB.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if u := st.LastUpdate; u != nil && (u.Status == meta.StatusSuccess || u.Status == meta.StatusError) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("no update ended; last update %+v", st.LastUpdate)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitImported waits for the first update and checks that it imported generation 1.
func waitImported(t *testing.T, srv *Server) {
	t.Helper()
	if st := waitUpdated(t, srv); st.LastUpdate.Status != meta.StatusSuccess || st.Generation != 1 {
		t.Fatalf("first update: %+v, generation %d", st.LastUpdate, st.Generation)
	}
}

type tVulnDBInfo struct {
	VulnerabilityDatabase *struct {
		Status          string `json:"status"`
		Message         string `json:"message"`
		Generation      int64  `json:"generation"`
		UpdatedAt       string `json:"updated_at"`
		Vulnerabilities int64  `json:"vulnerabilities"`
		Update          struct {
			Scheduled bool   `json:"scheduled"`
			AirGapped bool   `json:"air_gapped"`
			Interval  string `json:"interval"`
			URL       string `json:"url"`
			NextTime  string `json:"next_time"`
			Last      *struct {
				Trigger, Status, Message string
			} `json:"last"`
		} `json:"update"`
	} `json:"vulnerability_database"`
}

func (ts *testServer) vulnDBInfo(t *testing.T, headers http.Header) tVulnDBInfo {
	t.Helper()
	resp := ts.do(t, http.MethodGet, "/api/v2.0/systeminfo", headers, nil)
	expectStatus(t, resp, http.StatusOK)
	return decodeJSON[tVulnDBInfo](t, resp)
}

// TestScanWithoutVulnDBReportsInventory: with no database, a scan ends with the package
// inventory and what to do instead of a bare error, /systeminfo and the built-in scanner's
// metadata say the database is missing, and the database's arrival completes the scan.
func TestScanWithoutVulnDBReportsInventory(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		const msg = "no vulnerability database: run berth vulndb update or import"
		info := ts.vulnDBInfo(t, nil).VulnerabilityDatabase
		if info == nil || info.Status != "missing" || info.Message != msg || info.Generation != 0 || info.Update.Scheduled {
			t.Fatalf("systeminfo's vulnerability database: %+v", info)
		}
		if anon := ts.vulnDBInfo(t, anonymous()); anon.VulnerabilityDatabase != nil {
			t.Fatalf("anonymous systeminfo shows the vulnerability database: %+v", anon.VulnerabilityDatabase)
		}
		metadata := func() map[string]string {
			t.Helper()
			resp := ts.do(t, http.MethodGet, "/api/v2.0/scanners/"+scan.BuiltinUUID+"/metadata", nil, nil)
			expectStatus(t, resp, http.StatusOK)
			return decodeJSON[struct {
				Properties map[string]string `json:"properties"`
			}](t, resp).Properties
		}
		if p := metadata(); p[scan.PropVulnDBStatus] != "missing" || p[scan.PropVulnDBMessage] != msg {
			t.Fatalf("built-in scanner properties: %v", p)
		}

		projAPI{ts}.create(t, map[string]any{"project_name": "nodb"})
		ts.pushDebianImage(t, "nodb/app", "v1", "openssl 3.0.11-1~deb12u1", "bash 5.2.15-2")
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/nodb/repositories/app/artifacts/v1/scan", nil, nil), http.StatusAccepted)
		o := ts.waitScan(t, "nodb", "app", "v1")
		if o.Status != "Error" {
			t.Fatalf("scan without a database: %+v", o)
		}
		resp := ts.do(t, http.MethodGet, "/api/v2.0/projects/nodb/repositories/app/artifacts/v1/scan/"+o.ReportID+"/log", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		log := string(respBody(t, resp))
		for _, want := range []string{msg, "Debian GNU/Linux 12 (bookworm), 2 packages", "  Debian:12 openssl 3.0.11-1~deb12u1", "  Debian:12 bash 5.2.15-2",
			"scan ended: " + msg} {
			if !strings.Contains(log, want) {
				t.Errorf("scan log lacks %q:\n%s", want, log)
			}
		}
		resp = ts.do(t, http.MethodGet, "/api/v2.0/projects/nodb/repositories/app/artifacts/v1/additions/vulnerabilities", nil, nil)
		if got := strings.TrimSpace(string(respBody(t, resp))); got != "{}" {
			t.Fatalf("vulnerabilities without a database: %s", got)
		}

		// A database arrives: the scan completes from the stored inventory, unasked.
		ts.importVulnDB(t, osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
		deadline := time.Now().Add(time.Minute)
		for {
			o = ts.waitScan(t, "nodb", "app", "v1")
			if o.Status == "Success" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the scan that waited for a database: %+v", o)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if o.Severity != "Critical" || o.Summary.Total != 1 {
			t.Fatalf("the scan after the database came: %+v", o)
		}
		resp = ts.do(t, http.MethodGet, "/api/v2.0/projects/nodb/repositories/app/artifacts/v1/scan/"+o.ReportID+"/log", nil, nil)
		if log := string(respBody(t, resp)); !strings.Contains(log, "inventory of 2 packages") || !strings.Contains(log, "1 vulnerabilities") {
			t.Errorf("log of the scan run again:\n%s", log)
		}
		info = ts.vulnDBInfo(t, nil).VulnerabilityDatabase
		if info.Status != "ready" || info.Message != "" || info.Generation != 1 || info.Vulnerabilities != 1 || info.UpdatedAt == "" {
			t.Fatalf("systeminfo after the import: %+v", info)
		}
		if p := metadata(); p[scan.PropVulnDBStatus] != "ready" || p[scan.PropVulnDBMessage] != "" {
			t.Fatalf("built-in scanner properties after the import: %v", p)
		}
	})
}

// TestScheduledVulnDBUpdate: a registry without a database downloads one at start, as a job;
// the schedule runs every interval from then on, and survives another replica's start unchanged.
func TestScheduledVulnDBUpdate(t *testing.T) {
	t.Parallel()
	for _, dialect := range metatest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			osv := newLocalOSV(t)
			osv.serveRecords(t, "Debian", osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
			before := time.Now()
			ts := startTestServer(t, updatingConfig(t, dialect, osv, 6*time.Hour), dialect, slog.DiscardHandler)
			after := time.Now()
			waitImported(t, ts.srv)
			ctx := context.Background()

			sch, ok, err := ts.srv.jobs.GetSchedule(ctx, scan.VulnDBUpdateScheduleName)
			if err != nil || !ok || sch.Type != jobs.TypeInterval || sch.Cron != "@every 6h0m0s" ||
				sch.NextAt.Before(before.Add(6*time.Hour).Truncate(time.Millisecond)) || sch.NextAt.After(after.Add(6*time.Hour)) {
				t.Fatalf("update schedule %+v, %v, %v: want its next run 6h after the start (%v)", sch, ok, err, before)
			}
			es, total, err := ts.srv.db.ListExecutions(ctx, vulndb.UpdateKind, 0, meta.ListQuery{Limit: 10})
			if err != nil || total != 1 || es[0].Status != meta.StatusSuccess || es[0].Trigger != "SCHEDULE" {
				t.Fatalf("update executions %+v (%d), %v", es, total, err)
			}
			info := ts.vulnDBInfo(t, nil).VulnerabilityDatabase
			if info.Status != "ready" || !info.Update.Scheduled || info.Update.Interval != "6h0m0s" || info.Update.URL != osv.URL ||
				info.Update.NextTime != harborTimeForTest(sch.NextAt) || info.Update.Last == nil || info.Update.Last.Status != "Success" ||
				info.Update.Last.Trigger != "SCHEDULE" || !strings.Contains(info.Update.Last.Message, "imported generation 1") {
				t.Fatalf("systeminfo after the first update: %+v (last %+v)", info, info.Update.Last)
			}

			// Scans use what was downloaded.
			projAPI{ts}.create(t, map[string]any{"project_name": "upd"})
			ts.pushDebianImage(t, "upd/app", "v1", "openssl 3.0.11-1~deb12u1")
			expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/upd/repositories/app/artifacts/v1/scan", nil, nil), http.StatusAccepted)
			if o := ts.waitScan(t, "upd", "app", "v1"); o.Status != "Success" || o.Summary.Total != 1 {
				t.Fatalf("scan with the downloaded database: %+v", o)
			}

			if dialect != "postgres" {
				return
			}
			// Another replica with the same configuration: the schedule stays as it was, and
			// with a database there, no update is queued at its start.
			ts.replica(t)
			if again, _, _ := ts.srv.jobs.GetSchedule(ctx, scan.VulnDBUpdateScheduleName); !again.NextAt.Equal(sch.NextAt) || !again.Updated.Equal(sch.Updated) {
				t.Fatalf("a replica's start moved the schedule: %+v, was %+v", again, sch)
			}
			var queued int
			if err := ts.srv.db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM river_job WHERE kind = 'vulndb_update'").Scan(&queued); err != nil || queued != 1 {
				t.Fatalf("%d update jobs (%v), want the first one only", queued, err)
			}
		})
	}
}

func harborTimeForTest(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// TestScheduledVulnDBUpdateRunsOnceAcrossReplicas: two replicas share the schedule; each of its
// runs is worked once, by one of them.
func TestScheduledVulnDBUpdateRunsOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	osv := newLocalOSV(t)
	osv.serveRecords(t, "Debian", osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
	// An interval no configuration may set (at least 10m), so that the test sees several runs.
	cfg := updatingConfig(t, "postgres", osv, time.Second)
	first := startTestServer(t, cfg, "postgres", slog.DiscardHandler)
	first.replica(t)
	ctx := context.Background()

	scheduled := map[time.Time]int{}
	succeeded := 0
	deadline := time.Now().Add(2 * time.Minute)
	for len(scheduled) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("scheduled runs seen: %v", scheduled)
		}
		time.Sleep(200 * time.Millisecond)
		es, _, err := first.srv.db.ListExecutions(ctx, vulndb.UpdateKind, 0, meta.ListQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		clear(scheduled)
		succeeded = 0
		for _, e := range es {
			if e.Status == meta.StatusSuccess {
				succeeded++
			}
			var p struct {
				ScheduledAt time.Time `json:"scheduled_at"`
			}
			if err := json.Unmarshal([]byte(e.Params), &p); err != nil {
				t.Fatal(err)
			}
			if !p.ScheduledAt.IsZero() {
				scheduled[p.ScheduledAt]++
			}
		}
	}
	for at, n := range scheduled {
		if n != 1 {
			t.Errorf("the run due at %v was worked %d times", at, n)
		}
	}
	// Every run that succeeded asked the archive server (the first downloaded, the others got
	// 304). Runs still going, or refused because another was (on a slow machine a run can
	// outlast the one-second interval), need not have asked yet.
	if n := osv.requestCount(); n < succeeded {
		t.Errorf("%d requests for %d successful runs", n, succeeded)
	}
}

// TestVulnDBUpdatesOff: an interval of 0s or air-gapped mode means no schedule and no download,
// and turning updates off removes a schedule set before.
func TestVulnDBUpdatesOff(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		set  func(*config.Config)
	}{
		{"interval 0s", func(c *config.Config) { c.VulnDBUpdateInterval = 0 }},
		{"air-gapped", func(c *config.Config) { c.AirGapped = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			osv := newLocalOSV(t)
			osv.serveRecords(t, "Debian", osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
			ctx := context.Background()

			// Updates on: the first start downloads, and sets the schedule.
			cfg := updatingConfig(t, "sqlite", osv, time.Hour)
			on, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			waitImported(t, on)
			if _, ok, _ := on.jobs.GetSchedule(ctx, scan.VulnDBUpdateScheduleName); !ok {
				t.Fatal("no update schedule with updates on")
			}
			if err := on.Close(); err != nil {
				t.Fatal(err)
			}

			// Off: the schedule goes, and nothing is downloaded.
			c.set(&cfg)
			requests := osv.requestCount()
			off := startTestServer(t, cfg, "sqlite", slog.DiscardHandler)
			if _, ok, _ := off.srv.jobs.GetSchedule(ctx, scan.VulnDBUpdateScheduleName); ok {
				t.Fatal("the update schedule survived turning updates off")
			}
			var queued int
			if err := off.srv.db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM river_job WHERE kind = 'vulndb_update' AND state <> 'completed'").Scan(&queued); err != nil || queued != 0 {
				t.Fatalf("%d update jobs queued with updates off (%v)", queued, err)
			}
			info := off.vulnDBInfo(t, nil).VulnerabilityDatabase
			if info.Update.Scheduled || info.Update.NextTime != "" || info.Update.AirGapped != cfg.AirGapped {
				t.Fatalf("systeminfo with updates off: %+v", info.Update)
			}
			if n := osv.requestCount(); n != requests {
				t.Fatalf("%d downloads with updates off", n-requests)
			}

			// Off from the first start: no schedule, no download, even without a database.
			fresh := updatingConfig(t, "sqlite", osv, time.Hour)
			c.set(&fresh)
			empty := startTestServer(t, fresh, "sqlite", slog.DiscardHandler)
			if _, ok, _ := empty.srv.jobs.GetSchedule(ctx, scan.VulnDBUpdateScheduleName); ok {
				t.Fatal("an update schedule with updates off")
			}
			if err := empty.srv.db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM river_job WHERE kind = 'vulndb_update'").Scan(&queued); err != nil || queued != 0 {
				t.Fatalf("%d update jobs queued with updates off (%v)", queued, err)
			}
		})
	}
}

// TestFailingVulnDBUpdateOnlyLogs: an archive server that fails does not stop the registry;
// the failure shows in /systeminfo.
func TestFailingVulnDBUpdateOnlyLogs(t *testing.T) {
	t.Parallel()
	osv := newLocalOSV(t)
	osv.Close() // nothing answers
	ts := startTestServer(t, updatingConfig(t, "sqlite", osv, time.Hour), "sqlite", slog.DiscardHandler)
	if st := waitUpdated(t, ts.srv); st.LastUpdate.Status != meta.StatusError || st.Generation != 0 {
		t.Fatalf("update from a server that is gone: %+v, generation %d", st.LastUpdate, st.Generation)
	}
	info := ts.vulnDBInfo(t, nil).VulnerabilityDatabase
	if info.Status != "missing" || info.Update.Last == nil || info.Update.Last.Status != "Error" ||
		!strings.Contains(info.Update.Last.Message, `nothing imported: Debian: Get "`+osv.URL+`/Debian/all.zip"`) || !info.Update.Scheduled || info.Update.NextTime == "" {
		t.Fatalf("systeminfo after a failed update: %+v (last %+v)", info, info.Update.Last)
	}
}
