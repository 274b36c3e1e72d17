package vulndb

import (
	"encoding/json"
	"testing"
)

// FuzzOSVRecord parses any document as an OSV record, as an import does (parseProtected),
// and matches a version of any text against what it stores, as a scan does: the import
// must answer with a record or an error, never a panic, and a stored record must be
// readable back and evaluate any version a scanned image may list without a panic. Its seed
// corpus is in testdata/fuzz/FuzzOSVRecord; go test runs it as an ordinary test.
func FuzzOSVRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc []byte, version string) {
		c, err := parseProtected(doc)
		if err != nil {
			return
		}
		if c.vuln.ID == "" {
			t.Fatal("a record without an id was accepted")
		}
		for _, a := range c.affected {
			var s storedAffected
			if err := json.Unmarshal([]byte(a.Ranges), &s); err != nil {
				t.Fatalf("stored ranges %q: %v", a.Ranges, err)
			}
			s.compile(a.Ecosystem).includes(version)
		}
	})
}
