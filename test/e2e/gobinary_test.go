//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goTextAdvisory is GitHub's advisory for CVE-2022-32149 in golang.org/x/text (fixed in
// 0.3.8), as the OSV database serves it: unlike the Go database's own record of the flaw
// (GO-2022-1059), it carries a CVSS vector, so a project's gate on High refuses it.
const goTextAdvisory = `{"schema_version":"1.4.0","id":"GHSA-69ch-w2m2-3vjp","modified":"2023-11-08T04:09:30Z","published":"2022-10-14T19:00:24Z",
"aliases":["CVE-2022-32149"],"summary":"golang.org/x/text/language Denial of service via crafted Accept-Language header",
"details":"The BCP 47 tag parser has quadratic time complexity due to inherent aspects of its design. Since the parser is, by design, exposed to untrusted user input, this can be leveraged to force a program to consume significant time parsing Accept-Language headers.",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
"affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/text"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.8"}]}]}],
"references":[{"type":"ADVISORY","url":"https://nvd.nist.gov/vuln/detail/CVE-2022-32149"}]}`

// goTextImage is a linux/amd64 image whose one layer holds a Go program built here against
// golang.org/x/text v0.3.7 (fetched through the Go module proxy the machine is set up with):
// a Go binary with the known advisory goTextAdvisory.
func goTextImage(t *testing.T) testImage {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/greeter\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.7\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.Make(\"en-US\")) }\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "greeter", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOSUMDB=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of a program using golang.org/x/text v0.3.7: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(src, "greeter"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "usr/local/bin/greeter", Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bin), "golang.org/x/text") {
		t.Fatal("the built program does not name golang.org/x/text")
	}
	return newImage(t, "linux/amd64", newLayer(t, buf.Bytes()))
}
