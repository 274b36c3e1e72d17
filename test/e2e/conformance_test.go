//go:build e2e

package e2e

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConformance runs the OCI distribution-spec conformance suite (all API
// groups: pull, push, content discovery, content management) through
// ../shared/tools/run-conformance.sh with admin credentials. The two checks that spec 1.1
// leaves off by default (upload cancel, ?tag= on a push by digest) are switched on too, so
// every test of the suite runs and none may be skipped.
func TestConformance(t *testing.T) {
	const maxTraces = 15
	t.Parallel()
	script := filepath.Join(sharedToolsDir(t), "run-conformance.sh")
	bin := conformanceBinary(t)
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		out := t.TempDir()
		r := runWith(t, runOpts{
			Timeout: 10 * time.Minute,
			Env: []string{"CONFORMANCE_BIN=" + bin,
				"OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_API_MANIFESTS_TAG_PARAM=true"},
		}, "bash", script,
			"-u", srv.User, "-p", srv.Password,
			"-n", "library/conformance", "-m", "library/conformance2",
			"-o", out, srv.URL)

		last := lastLine(r.Stdout)
		t.Logf("%s", last)
		if r.Err == nil && strings.Contains(last, " 0 failed, 0 skipped") {
			return
		}
		t.Errorf("conformance suite against %s (%s): %v; last line %q, want exit 0 and \"0 failed, 0 skipped\"", srv.URL, db, exitStatus(r.Err), last)
		if strings.TrimSpace(r.Stderr) != "" {
			t.Logf("stderr of run-conformance.sh:\n%s", clip(r.Stderr, 4000))
		}
		t.Logf("summary from %s/output.txt:\n%s", out, conformanceSummary(filepath.Join(out, "output.txt")))
		failed, err := junitFailures(filepath.Join(out, "junit.xml"))
		if err != nil {
			t.Logf("junit.xml: %v", err)
		}
		t.Logf("%d failed conformance test cases (junit leaves); the last HTTP exchange is shown for the first %d:", len(failed), maxTraces)
		for i, f := range failed {
			msg := "  FAILED " + f.Name + ": " + clipHead(f.Message, 600)
			if i < maxTraces && f.Trace != "" {
				msg += "\n    " + strings.ReplaceAll(clipHead(f.Trace, 2000), "\n", "\n    ")
			}
			t.Log(msg)
		}
	})
}

// sharedToolsDir finds the shared tools folder: $BERTH_SHARED_TOOLS, else the
// first shared/tools beside the repository root or any of its ancestors.
func sharedToolsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("BERTH_SHARED_TOOLS"); d != "" {
		return d
	}
	for dir := repoRoot; ; dir = filepath.Dir(dir) {
		for _, cand := range []string{
			filepath.Join(filepath.Dir(dir), "shared", "tools"),
			filepath.Join(dir, "shared", "tools"),
		} {
			if _, err := os.Stat(filepath.Join(cand, "run-conformance.sh")); err == nil {
				return cand
			}
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	skipOrFail(t, "cannot find shared/tools/run-conformance.sh beside %s or its ancestors (set BERTH_SHARED_TOOLS)", repoRoot)
	return ""
}

// conformanceBinary finds the conformance binary installed by `make clients`
// (in $BERTH_TOOLS_BIN, default ~/.cache/berth-tools/bin, where the script
// looks) so that parallel runs never race to build it.
func conformanceBinary(t *testing.T) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("CONFORMANCE_BIN"); p != "" {
		cands = append(cands, p)
	}
	if d := os.Getenv("BERTH_TOOLS_BIN"); d != "" {
		cands = append(cands, filepath.Join(d, "conformance"))
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	cands = append(cands, filepath.Join(cache, "berth-tools", "bin", "conformance"))
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	if p, ok := clientPath("conformance"); ok {
		return p
	}
	skipOrFail(t, "the conformance binary is not installed (looked at %s): run `make clients`", strings.Join(cands, ", "))
	return ""
}

// conformanceSummary is the suite's result table at the end of output.txt
// (from "OCI Conformance Result:" on), or the last lines of it.
func conformanceSummary(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if i := strings.LastIndex(string(b), "OCI Conformance Result:"); i >= 0 {
		return string(b[i:])
	}
	return tailFile(path, 80)
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// junitFailure is one failed test case of a JUnit XML report.
type junitFailure struct {
	Name    string // classname: name
	Message string // the failure message (the suite writes it to system-out)
	Trace   string // the last HTTP exchange the suite logged for the case
}

// junitFailures lists every failed or errored test case in a JUnit XML
// report, however its suites are nested.
func junitFailures(path string) ([]junitFailure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type problem struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Status    string   `xml:"status,attr"`
		Failure   *problem `xml:"failure"`
		Error     *problem `xml:"error"`
		SystemOut string   `xml:"system-out"`
		SystemErr string   `xml:"system-err"`
	}
	var out []junitFailure
	dec := xml.NewDecoder(f)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "testcase" {
			continue
		}
		var tc testcase
		if err := dec.DecodeElement(&tc, &se); err != nil {
			return out, err
		}
		p := tc.Failure
		if p == nil {
			p = tc.Error
		}
		if p == nil && tc.Status != "failure" && tc.Status != "error" {
			continue
		}
		var msg []string
		if p != nil {
			msg = append(msg, p.Message, p.Text)
		}
		msg = append(msg, tc.SystemOut)
		jf := junitFailure{Name: tc.Name, Message: strings.TrimSpace(strings.Join(msg, "\n"))}
		if tc.Classname != "" {
			jf.Name = tc.Classname + ": " + jf.Name
		}
		const sep = "~~~ REQUEST ~~~"
		if i := strings.LastIndex(tc.SystemErr, sep); i >= 0 {
			jf.Trace = strings.TrimSpace(tc.SystemErr[i:])
		}
		out = append(out, jf)
	}
}
