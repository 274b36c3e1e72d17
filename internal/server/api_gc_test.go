package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// Online garbage collection through Harbor's GC API: exact bytes freed, dry runs, schedules and
// their validation, history and logs, on both databases.

type tGCHistory struct {
	ID               int64  `json:"id"`
	JobName          string `json:"job_name"`
	JobKind          string `json:"job_kind"`
	JobParameters    string `json:"job_parameters"`
	JobStatus        string `json:"job_status"`
	DryRun           bool   `json:"dry_run"`
	ManifestsDeleted int    `json:"manifests_deleted"`
	BlobsDeleted     int    `json:"blobs_deleted"`
	BytesFreed       int64  `json:"bytes_freed"`
	Schedule         *struct {
		Type              string `json:"type"`
		Cron              string `json:"cron"`
		NextScheduledTime string `json:"next_scheduled_time"`
	} `json:"schedule"`
}

// runGC starts a collection with the given parameters (JSON object) and waits for it to end.
func (ts *testServer) runGC(t *testing.T, params string) tGCHistory {
	t.Helper()
	resp := ts.do(t, http.MethodPost, "/api/v2.0/system/gc/schedule", nil,
		[]byte(`{"schedule":{"type":"Manual"},"parameters":`+params+`}`))
	expectStatus(t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v2.0/system/gc/") {
		t.Fatalf("Location %q", loc)
	}
	return ts.waitGC(t, loc)
}

func (ts *testServer) waitGC(t *testing.T, loc string) tGCHistory {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var h tGCHistory
		resp := ts.do(t, http.MethodGet, loc, nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if err := json.Unmarshal(respBody(t, resp), &h); err != nil {
			t.Fatal(err)
		}
		switch h.JobStatus {
		case "Success":
			return h
		case "Error", "Stopped":
			t.Fatalf("gc %s ended %s; log:\n%s", loc, h.JobStatus, respBody(t, ts.do(t, http.MethodGet, loc+"/log", nil, nil)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("gc %s still %s after a minute", loc, h.JobStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (ts *testServer) blobFileExists(t *testing.T, d string) bool {
	t.Helper()
	_, err := os.Stat(ts.blobPath(d))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestGCFreesExactlyTheBytesNoOtherImageUses(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ts.srv.db.SetGCGrace(0)
		a := projAPI{ts}
		pid := a.create(t, map[string]any{"project_name": "gcp", "metadata": map[string]string{"public": "false"}})
		shared, onlyA, onlyB := randomBytes(3000), randomBytes(5000), randomBytes(7000)
		imgA := a.image(t, "gcp/app", shared, onlyA)
		expectStatus(t, a.putManifest(t, "gcp/app", "a", imgA), http.StatusCreated)
		imgB := a.image(t, "gcp/app", shared, onlyB)
		expectStatus(t, a.putManifest(t, "gcp/app", "b", imgB), http.StatusCreated)
		// The same layer in another project's image is still used after A goes.
		other := projAPI{ts}
		other.create(t, map[string]any{"project_name": "gcq"})
		imgC := other.image(t, "gcq/app", onlyA)
		expectStatus(t, other.putManifest(t, "gcq/app", "c", imgC), http.StatusCreated)
		usageBefore := a.usage(t, pid)

		// Nothing is unreferenced yet: a run frees nothing.
		if h := ts.runGC(t, `{"delete_untagged":true}`); h.BytesFreed != 0 || h.BlobsDeleted != 0 || h.ManifestsDeleted != 0 {
			t.Fatalf("gc with nothing to collect: %+v", h)
		}

		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/gcp/app/manifests/a", nil, nil), http.StatusAccepted)
		var cfgA tManifest
		if err := json.Unmarshal(imgA.body, &cfgA); err != nil {
			t.Fatal(err)
		}
		// A's config is the only blob no other image uses (its unique layer is in C).
		want := cfgA.Config.Size

		dry := ts.runGC(t, `{"delete_untagged":true,"dry_run":true}`)
		if !dry.DryRun || dry.BytesFreed != want || dry.BlobsDeleted != 1 || dry.ManifestsDeleted != 1 {
			t.Fatalf("dry run reports %+v; want 1 manifest, 1 blob, %d bytes", dry, want)
		}
		if !ts.blobFileExists(t, cfgA.Config.Digest) {
			t.Fatal("a dry run deleted a blob")
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/gcp/app/manifests/"+imgA.digest, nil, nil), http.StatusOK)
		if got := a.usage(t, pid); got != usageBefore {
			t.Fatalf("a dry run changed usage: %d, was %d", got, usageBefore)
		}

		h := ts.runGC(t, `{"delete_untagged":true}`)
		if h.BytesFreed != want || h.BlobsDeleted != 1 || h.ManifestsDeleted != 1 {
			t.Fatalf("gc reports %+v; want 1 manifest, 1 blob, %d bytes", h, want)
		}
		if h.JobName != "GARBAGE_COLLECTION" || h.JobKind != "MANUAL" || !strings.Contains(h.JobParameters, `"delete_untagged":true`) {
			t.Errorf("history entry %+v", h)
		}
		if ts.blobFileExists(t, cfgA.Config.Digest) {
			t.Error("A's config is still stored")
		}
		var mB, mC tManifest
		json.Unmarshal(imgB.body, &mB)
		json.Unmarshal(imgC.body, &mC)
		for _, d := range []string{mB.Config.Digest, mB.Layers[0].Digest, mB.Layers[1].Digest, mC.Layers[0].Digest} {
			if !ts.blobFileExists(t, d) {
				t.Errorf("blob %s still in use was deleted", d)
			}
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/gcp/app/manifests/"+imgA.digest, nil, nil), http.StatusNotFound)
		for _, repoRef := range []string{"gcp/app/manifests/b", "gcq/app/manifests/c"} {
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repoRef, nil, nil), http.StatusOK)
		}
		for _, d := range []string{mB.Layers[0].Digest, mB.Layers[1].Digest} {
			resp := ts.do(t, http.MethodGet, "/v2/gcp/app/blobs/"+d, nil, nil)
			expectStatus(t, resp, http.StatusOK)
			if got := sha256Digest(respBody(t, resp)); got != d {
				t.Errorf("blob %s reads back as %s", d, got)
			}
		}
		// A's config was only linked in gcp/app; the link went with it.
		expectStatus(t, ts.do(t, http.MethodHead, "/v2/gcp/app/blobs/"+cfgA.Config.Digest, nil, nil), http.StatusNotFound)
		if got := a.usage(t, pid); got >= usageBefore {
			t.Errorf("usage %d after deleting A, was %d", got, usageBefore)
		}

		// The history lists the runs newest first; the log says what went.
		var hist []tGCHistory
		resp := ts.do(t, http.MethodGet, "/api/v2.0/system/gc?page=1&page_size=2", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if err := json.Unmarshal(respBody(t, resp), &hist); err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("X-Total-Count") != "3" || len(hist) != 2 || hist[0].ID != h.ID || hist[1].ID != dry.ID {
			t.Fatalf("history %+v (total %s)", hist, resp.Header.Get("X-Total-Count"))
		}
		resp = ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/system/gc/%d/log", h.ID), nil, nil)
		expectStatus(t, resp, http.StatusOK)
		log := string(respBody(t, resp))
		for _, s := range []string{"deleted manifest gcp/app@" + imgA.digest, "deleted blob " + cfgA.Config.Digest, fmt.Sprintf("%d bytes) freed", want)} {
			if !strings.Contains(log, s) {
				t.Errorf("log lacks %q:\n%s", s, log)
			}
		}

		// Again: nothing left to free.
		if h := ts.runGC(t, `{}`); h.BytesFreed != 0 {
			t.Fatalf("second run freed %d bytes", h.BytesFreed)
		}
	})
}

func TestGCUntaggedAndOrphans(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ts.srv.db.SetGCGrace(0)
		// A blob uploaded and never used goes, link and all.
		stray := randomBytes(1234)
		d := ts.pushBlob(t, "library/gcu", stray)
		// An untagged manifest stays unless untagged artifacts are collected.
		_, byDigest := ts.pushImage(t, "library/gcu", "t1", mtOCIManifest)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/library/gcu/manifests/t1", nil, nil), http.StatusAccepted)

		h := ts.runGC(t, `{"delete_untagged":false}`)
		if h.BlobsDeleted != 1 || h.BytesFreed != int64(len(stray)) || h.ManifestsDeleted != 0 {
			t.Fatalf("gc without untagged: %+v", h)
		}
		expectStatus(t, ts.do(t, http.MethodHead, "/v2/library/gcu/blobs/"+d, nil, nil), http.StatusNotFound)
		if ts.blobFileExists(t, d) {
			t.Fatal("stray blob still stored")
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/library/gcu/manifests/"+byDigest, nil, nil), http.StatusOK)

		// An index and a signature of it: deleting the index takes its untagged children and
		// its referrers with it.
		child1, d1 := ts.pushImage(t, "library/gci", "c1", mtOCIManifest)
		_, d2 := ts.pushImage(t, "library/gci", "c2", mtOCIManifest)
		idx := tManifest{SchemaVersion: 2, MediaType: mtOCIIndex, Manifests: []tDescriptor{
			{MediaType: mtOCIManifest, Digest: d1, Size: int64(len(child1))},
			{MediaType: mtOCIManifest, Digest: d2, Size: 100},
		}}
		idx.Manifests[1].Size = int64(len(respBody(t, ts.do(t, http.MethodGet, "/v2/library/gci/manifests/"+d2, hdr(nil, "Accept", mtOCIManifest), nil))))
		idxBody := mustJSON(t, idx)
		idxDigest := ts.pushManifest(t, "library/gci", "multi", mtOCIIndex, idxBody)
		for _, tag := range []string{"c1", "c2"} {
			expectStatus(t, ts.do(t, http.MethodDelete, "/v2/library/gci/manifests/"+tag, nil, nil), http.StatusAccepted)
		}
		empty := []byte("{}")
		sig := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest, ArtifactType: "application/vnd.example.sig",
			Config:  &tDescriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: ts.pushBlob(t, "library/gci", empty), Size: 2},
			Layers:  []tDescriptor{{MediaType: "application/octet-stream", Digest: ts.pushBlob(t, "library/gci", randomBytes(99)), Size: 99}},
			Subject: &tDescriptor{MediaType: mtOCIIndex, Digest: idxDigest, Size: int64(len(idxBody))}}
		sigDigest := ts.pushManifest(t, "library/gci", sha256Digest(mustJSON(t, sig)), mtOCIManifest, mustJSON(t, sig))

		// Children and the signature are kept while the index is there.
		if h := ts.runGC(t, `{"delete_untagged":true}`); h.ManifestsDeleted != 1 { // the untagged image of library/gcu
			t.Fatalf("gc: %+v", h)
		}
		for _, dd := range []string{d1, d2, sigDigest} {
			expectStatus(t, ts.do(t, http.MethodHead, "/v2/library/gci/manifests/"+dd, nil, nil), http.StatusOK)
		}
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/library/gci/manifests/"+idxDigest, nil, nil), http.StatusAccepted)
		// Orphans go even when untagged artifacts are kept.
		h = ts.runGC(t, `{"delete_untagged":false}`)
		if h.ManifestsDeleted != 3 {
			t.Fatalf("gc after deleting the index: %+v", h)
		}
		for _, dd := range []string{d1, d2, sigDigest} {
			expectStatus(t, ts.do(t, http.MethodHead, "/v2/library/gci/manifests/"+dd, nil, nil), http.StatusNotFound)
		}
	})
}

func TestGCSchedule(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		// The call exactly as Harbor's users make it.
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/system/gc/schedule", hdr(nil, "Content-Type", "application/json"),
			[]byte(`{"schedule":{"type":"Daily","cron":"0 0 2 * * *"}}`)), http.StatusCreated)
		var s tGCHistory
		resp := ts.do(t, http.MethodGet, "/api/v2.0/system/gc/schedule", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if err := json.Unmarshal(respBody(t, resp), &s); err != nil {
			t.Fatal(err)
		}
		if s.Schedule == nil || s.Schedule.Type != "Daily" || s.Schedule.Cron != "0 0 2 * * *" {
			t.Fatalf("schedule %+v", s)
		}
		next, err := time.Parse(time.RFC3339, s.Schedule.NextScheduledTime)
		if err != nil || next.Hour() != 2 || next.Minute() != 0 || next.Before(time.Now()) || next.After(time.Now().Add(25*time.Hour)) {
			t.Fatalf("next_scheduled_time %q (%v)", s.Schedule.NextScheduledTime, err)
		}
		// PUT replaces it, with parameters.
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/gc/schedule", nil,
			[]byte(`{"schedule":{"type":"Custom","cron":"0 30 * * * *"},"parameters":{"delete_untagged":false,"workers":3}}`)), http.StatusOK)
		resp = ts.do(t, http.MethodGet, "/api/v2.0/system/gc/schedule", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		s = tGCHistory{}
		json.Unmarshal(respBody(t, resp), &s)
		if s.Schedule == nil || s.Schedule.Type != "Custom" || s.Schedule.Cron != "0 30 * * * *" ||
			!strings.Contains(s.JobParameters, `"delete_untagged":false`) || !strings.Contains(s.JobParameters, `"workers":3`) {
			t.Fatalf("replaced schedule %+v", s)
		}

		for _, c := range []struct{ name, body string }{
			{"five-field cron", `{"schedule":{"type":"Custom","cron":"0 2 * * *"}}`},
			{"bad cron", `{"schedule":{"type":"Daily","cron":"0 0 25 * * *"}}`},
			{"custom without cron", `{"schedule":{"type":"Custom"}}`},
			{"unknown type", `{"schedule":{"type":"Fortnightly","cron":"0 0 2 * * *"}}`},
			{"no type", `{"schedule":{}}`},
			{"workers out of range", `{"schedule":{"type":"Manual"},"parameters":{"workers":11}}`},
			{"dry_run not a bool", `{"schedule":{"type":"Manual"},"parameters":{"dry_run":"yes"}}`},
			{"not JSON", `{"schedule":`},
		} {
			resp := ts.do(t, http.MethodPut, "/api/v2.0/system/gc/schedule", nil, []byte(c.body))
			expectAPIError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
		}
		// The valid schedule survived the refused updates.
		resp = ts.do(t, http.MethodGet, "/api/v2.0/system/gc/schedule", nil, nil)
		s = tGCHistory{}
		json.Unmarshal(respBody(t, resp), &s)
		if s.Schedule == nil || s.Schedule.Cron != "0 30 * * * *" {
			t.Fatalf("schedule after refused updates: %+v", s)
		}

		// Only system administrators manage GC.
		a := projAPI{ts}
		_, user := a.user(t, "gcuser")
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/system/gc/schedule", user, nil), http.StatusForbidden)
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/system/gc/schedule", user, []byte(`{"schedule":{"type":"Manual"}}`)), http.StatusForbidden)
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/system/gc", anonymous(), nil), http.StatusUnauthorized)

		// None removes the schedule.
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/gc/schedule", nil, []byte(`{"schedule":{"type":"None"}}`)), http.StatusOK)
		resp = ts.do(t, http.MethodGet, "/api/v2.0/system/gc/schedule", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if got := strings.TrimSpace(string(respBody(t, resp))); got != "{}" {
			t.Fatalf("schedule after None: %s", got)
		}

		// Unknown and malformed ids; stopping a finished run is harmless.
		expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/system/gc/999999", nil, nil), http.StatusNotFound, "NOT_FOUND")
		expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/system/gc/abc/log", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		h := ts.runGC(t, `{}`)
		expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/system/gc/%d", h.ID), nil, nil), http.StatusOK)
		if got := ts.waitGC(t, fmt.Sprintf("/api/v2.0/system/gc/%d", h.ID)); got.JobStatus != "Success" {
			t.Fatalf("stopping a finished run changed it: %+v", got)
		}
	})
}

// gcLog reads the log of collection id.
func (ts *testServer) gcLog(t *testing.T, id int64) string {
	t.Helper()
	resp := ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/system/gc/%d/log", id), nil, nil)
	expectStatus(t, resp, http.StatusOK)
	return string(respBody(t, resp))
}

// TestGCLogShowsWhatTheGracePeriodHoldsBack: content unreferenced a moment ago waits for the
// grace period, Harbor's 2 hours by default; a run's log says how many blobs and bytes (and
// manifests) it held back, so an operator sees why no space was freed yet and when it will be.
func TestGCLogShowsWhatTheGracePeriodHoldsBack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		grace  time.Duration // -1: the configured default
		params string
		// What the run frees, and the line its log ends with; held is a format taking the
		// unreferenced bytes.
		freedBlobs, freedManifests int
		held                       string
	}{
		{"default grace", -1, `{"delete_untagged":true}`, 0, 0,
			"held back by the grace period (2h0m0s): 3 blobs that nothing references, %s (%d bytes), and 1 manifests; the first is due at "},
		{"default grace, dry run", -1, `{"delete_untagged":true,"dry_run":true}`, 0, 0,
			"held back by the grace period (2h0m0s): 3 blobs that nothing references, %s (%d bytes), and 1 manifests; the first is due at "},
		{"default grace, untagged kept", -1, `{"delete_untagged":false}`, 0, 0,
			"held back by the grace period (2h0m0s): 3 blobs that nothing references, %s (%d bytes), and 0 manifests; the first is due at "},
		{"no grace", 0, `{"delete_untagged":true}`, 5, 1, "held back by the grace period (0s): nothing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, d := range metatest.Dialects {
				t.Run(d, func(t *testing.T) {
					ts := newTestServer(t, d)
					if got := ts.srv.db.GCGrace(); got != 2*time.Hour {
						t.Fatalf("default grace period %s, want Harbor's 2h", got)
					}
					if c.grace >= 0 {
						ts.srv.db.SetGCGrace(c.grace)
					}
					repo := newRepo("held")
					// A blob never used, an image deleted (its two blobs unreferenced at once)
					// and an image that lost its tag (the manifest waits; its blobs are still
					// referenced by it).
					stray := randomBytes(1500)
					ts.pushBlob(t, repo, stray)
					deleted := ts.imageManifest(t, repo, mtOCIManifest)
					ts.pushManifest(t, repo, "deleted", mtOCIManifest, mustJSON(t, deleted))
					expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+sha256Digest(mustJSON(t, deleted)), nil, nil), http.StatusAccepted)
					ts.pushImage(t, repo, "untagged", mtOCIManifest)
					expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/untagged", nil, nil), http.StatusAccepted)
					unreferenced := int64(len(stray)) + deleted.Config.Size + deleted.Layers[0].Size

					h := ts.runGC(t, c.params)
					if h.BlobsDeleted != c.freedBlobs || h.ManifestsDeleted != c.freedManifests {
						t.Errorf("run %+v: want %d blobs and %d manifests deleted", h, c.freedBlobs, c.freedManifests)
					}
					want := c.held
					if strings.Contains(want, "%") {
						want = fmt.Sprintf(want, meta.FormatStorage(unreferenced), unreferenced)
					}
					if log := ts.gcLog(t, h.ID); !strings.Contains(log, want) {
						t.Errorf("log lacks %q:\n%s", want, log)
					}
				})
			}
		})
	}
}

// TestGCLeavesPushesInProgressAlone: an upload session is never garbage, whatever the grace
// period — even none — and layers uploaded for a manifest not pushed yet wait for the grace
// period, which is what keeps a push in progress whole (with none, they go).
func TestGCLeavesPushesInProgressAlone(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		grace time.Duration // -1: the configured default
		run   func(t *testing.T, ts *testServer, repo string)
	}{
		{"an upload session between its chunks, no grace", 0, func(t *testing.T, ts *testServer, repo string) {
			data := randomBytes(3000)
			path, _ := ts.startUpload(t, repo)
			expectUploadState(t, ts, ts.patchChunk(t, path, 0, data[:1000]), http.StatusAccepted, path, "0-999")
			ts.runGC(t, `{"delete_untagged":true}`)
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-999")
			expectUploadState(t, ts, ts.patchChunk(t, path, 1000, data[1000:2000]), http.StatusAccepted, path, "0-1999")
			ts.runGC(t, `{"delete_untagged":true}`)
			resp := ts.do(t, http.MethodPut, path+"?digest="+sha256Digest(data), hdr(nil, "Content-Type", octet, "Content-Range", "2000-2999"), data[2000:])
			expectStatus(t, resp, http.StatusCreated)
			expectBlob(t, ts, repo, sha256Digest(data), data)
		}},
		{"layers uploaded, manifest not yet, default grace", -1, func(t *testing.T, ts *testServer, repo string) {
			m := ts.imageManifest(t, repo, mtOCIManifest)
			if h := ts.runGC(t, `{"delete_untagged":true}`); h.BlobsDeleted != 0 {
				t.Fatalf("a run deleted the layers of a push in progress: %+v", h)
			}
			ts.pushManifest(t, repo, "v1", mtOCIManifest, mustJSON(t, m))
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+m.Layers[0].Digest, nil, nil), http.StatusOK)
		}},
		{"layers uploaded, manifest not yet, no grace", 0, func(t *testing.T, ts *testServer, repo string) {
			m := ts.imageManifest(t, repo, mtOCIManifest)
			if h := ts.runGC(t, `{"delete_untagged":true}`); h.BlobsDeleted != 2 {
				t.Fatalf("run %+v: want the two unreferenced blobs deleted", h)
			}
			resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/v1", hdr(nil, "Content-Type", mtOCIManifest), mustJSON(t, m))
			assertOCIError(t, resp, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, d := range metatest.Dialects {
				t.Run(d, func(t *testing.T) {
					ts := newTestServer(t, d)
					if c.grace >= 0 {
						ts.srv.db.SetGCGrace(c.grace)
					}
					c.run(t, ts, newRepo("inflight"))
				})
			}
		})
	}
}
