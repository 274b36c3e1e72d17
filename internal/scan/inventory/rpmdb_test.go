package inventory

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	rpmdb "github.com/erikvarga/go-rpmdb/pkg"
)

// moduleDir is where the go command keeps module path (a dependency of Berth, so in the
// module cache); the test is skipped without it.
func moduleDir(t *testing.T, path string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not available")
	}
	cmd := exec.Command(goCmd, "list", "-m", "-json", path)
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list -m %s: %v", path, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Skipf("module %s not in the module cache", path)
	}
	return m.Dir
}

// Berth's rpm reader finds what go-rpmdb (which osv-scalibr's os/rpm extractor uses) finds in
// the real databases of go-rpmdb's and osv-scalibr's tests: CentOS 5 to 8 and RHEL (Berkeley
// DB), SUSE (NDB), Fedora and CBL-Mariner (SQLite).
func TestRPMReaderAgreesWithGoRPMDB(t *testing.T) {
	t.Parallel()
	var dbs []string
	for _, pattern := range []string{
		filepath.Join(moduleDir(t, "github.com/erikvarga/go-rpmdb"), "pkg", "testdata", "*", "*"),
		filepath.Join(moduleDir(t, "github.com/google/osv-scalibr"), "extractor", "filesystem", "os", "rpm", "testdata", "Packages*"),
		filepath.Join(moduleDir(t, "github.com/google/osv-scalibr"), "extractor", "filesystem", "os", "rpm", "testdata", "rpmdb.sqlite"),
	} {
		m, _ := filepath.Glob(pattern)
		dbs = append(dbs, m...)
	}
	if len(dbs) < 10 {
		t.Skipf("test databases not found: %v", dbs)
	}
	for _, path := range dbs {
		name := strings.TrimPrefix(path, filepath.Dir(filepath.Dir(path))+"/")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// SQLite may write next to the database (its journal): work on a copy.
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			local := filepath.Join(t.TempDir(), filepath.Base(path))
			if err := os.WriteFile(local, b, 0o600); err != nil {
				t.Fatal(err)
			}
			var want []string
			db, err := rpmdb.Open(local)
			if err != nil {
				t.Skipf("go-rpmdb cannot open it: %v", err)
			}
			pkgs, err := db.ListPackages()
			db.Close()
			if err != nil {
				t.Skipf("go-rpmdb cannot read it: %v", err)
			}
			for _, p := range pkgs {
				want = append(want, rpmSummary(rpmPackage{name: p.Name, version: p.Version, release: p.Release, arch: p.Arch,
					sourceRPM: p.SourceRpm, license: p.License, vendor: p.Vendor, epoch: p.EpochNum()}))
			}
			f, err := os.Open(local)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []string
			err = readRPMDB(context.Background(), local, f, int64(len(b)), func(h []byte) error {
				p, err := parseRPMHeader(h)
				got = append(got, rpmSummary(p))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%d packages, go-rpmdb %d\n got %.300q\nwant %.300q", len(got), len(want), got, want)
			}
			t.Logf("%d packages in %d bytes", len(got), len(b))
		})
	}
}

func rpmSummary(p rpmPackage) string {
	return strings.Join([]string{p.name, p.version, p.release, p.arch, p.sourceRPM, p.license, p.vendor, strconv.Itoa(p.epoch)}, "|")
}

// rpmHeader is a header blob holding the string tags given, in tag order, as rpm writes them
// (without the region tag, which the reader does not need).
func rpmHeader(tags map[uint32]string) []byte {
	keys := slices.Sorted(maps.Keys(tags))
	var index, data []byte
	for _, tag := range keys {
		index = binary.BigEndian.AppendUint32(index, tag)
		index = binary.BigEndian.AppendUint32(index, rpmString)
		index = binary.BigEndian.AppendUint32(index, uint32(len(data)))
		index = binary.BigEndian.AppendUint32(index, 1)
		data = append(append(data, tags[tag]...), 0)
	}
	h := binary.BigEndian.AppendUint32(nil, uint32(len(keys)))
	h = binary.BigEndian.AppendUint32(h, uint32(len(data)))
	return append(append(h, index...), data...)
}

func nevra(name, version string) []byte {
	return rpmHeader(map[uint32]string{rpmTagName: name, rpmTagVersion: version, rpmTagRelease: "1.el9", rpmTagArch: "x86_64"})
}

// ndbFile is an NDB database of the headers; mutate may change a blob header (16 bytes).
func ndbFile(headers [][]byte, mutate func(i int, blobHeader []byte)) []byte {
	le := binary.LittleEndian
	f := make([]byte, ndbSlotPage)
	le.PutUint32(f, ndbHeaderMagic)
	le.PutUint32(f[12:], 1) // one slot page
	for off := 32; off+16 <= ndbSlotPage; off += 16 {
		le.PutUint32(f[off:], ndbSlotMagic)
	}
	for i, h := range headers {
		slot := f[32+16*i:]
		le.PutUint32(slot[4:], uint32(i+1))
		le.PutUint32(slot[8:], uint32(len(f)/16))
		bh := make([]byte, 16)
		le.PutUint32(bh, ndbBlobMagic)
		le.PutUint32(bh[4:], uint32(i+1))
		le.PutUint32(bh[12:], uint32(len(h)))
		if mutate != nil {
			mutate(i, bh)
		}
		f = append(append(f, bh...), h...)
		for len(f)%16 != 0 {
			f = append(f, 0)
		}
	}
	return f
}

// bdbFile is a Berkeley DB hash database of the headers, little-endian, pages of 512 bytes:
// the metadata page, one hash page, and each header in a chain of overflow pages. mutate may
// change the pages before the metadata is written.
func bdbFile(headers [][]byte, mutate func(pages [][]byte)) []byte {
	const size = 512
	le := binary.LittleEndian
	page := func(typ byte) []byte { p := make([]byte, size); p[25] = typ; return p }
	pages := [][]byte{page(bdbHashMeta), page(bdbHash)}
	hash := pages[1]
	le.PutUint16(hash[20:], uint16(2*len(headers)))
	itemAt := size
	for i, h := range headers {
		// The key item, then the off-page data item.
		itemAt -= 4
		hash[itemAt] = 1 // H_KEYDATA
		le.PutUint16(hash[bdbPageHeader+4*i:], uint16(itemAt))
		itemAt -= bdbOffPageLength
		le.PutUint16(hash[bdbPageHeader+4*i+2:], uint16(itemAt))
		item := hash[itemAt:]
		item[0] = bdbHashOffPage
		le.PutUint32(item[4:], uint32(len(pages)))
		le.PutUint32(item[8:], uint32(len(h)))
		for rest := h; ; {
			p := page(bdbOverflow)
			n := copy(p[bdbPageHeader:], rest)
			rest = rest[n:]
			pages = append(pages, p)
			if len(rest) == 0 {
				le.PutUint16(p[22:], uint16(n))
				break
			}
			le.PutUint32(p[16:], uint32(len(pages)))
		}
	}
	if mutate != nil {
		mutate(pages)
	}
	meta := pages[0]
	le.PutUint32(meta[12:], bdbHashMagic)
	le.PutUint32(meta[20:], size)
	le.PutUint32(meta[32:], uint32(len(pages)-1))
	return bytes.Join(pages, nil)
}

// sqliteRPMDB is an SQLite rpm database whose Packages rows are blobs (nil: NULL).
func sqliteRPMDB(t *testing.T, blobs [][]byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL DEFAULT x'')`); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		var v any = b
		if b == nil {
			v = "not a header"
		}
		if _, err := db.Exec(`INSERT INTO Packages (blob) VALUES (?)`, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Malformed and hostile rpm databases end in an error, in bounded time and memory, where
// go-rpmdb would panic in a goroutine (taking the process down), loop, or allocate gigabytes.
func TestRPMReaderHostileDatabases(t *testing.T) {
	t.Parallel()
	two := [][]byte{nevra("bash", "5.1.8"), nevra("zlib", "1.2.11")}
	tests := []struct {
		name  string
		db    func(t *testing.T) []byte
		want  []string // packages, when it reads
		err   string   // error text expected otherwise
		limit string   // or the LimitError
		lim   Limits
	}{
		{name: "NDB", db: func(*testing.T) []byte { return ndbFile(two, nil) }, want: []string{"bash", "zlib"}},
		{name: "Berkeley DB", db: func(*testing.T) []byte { return bdbFile(two, nil) }, want: []string{"bash", "zlib"}},
		{name: "SQLite", db: func(t *testing.T) []byte { return sqliteRPMDB(t, two) }, want: []string{"bash", "zlib"}},
		{
			name: "NDB blob length of 4 GiB",
			db: func(*testing.T) []byte {
				return ndbFile(two, func(i int, bh []byte) { binary.LittleEndian.PutUint32(bh[12:], 0xffffffff) })
			},
			limit: "maxEntryBytes",
		},
		{
			name: "NDB blob past the end of the file",
			db: func(*testing.T) []byte {
				return ndbFile(two[:1], func(i int, bh []byte) { binary.LittleEndian.PutUint32(bh[12:], 1<<20) })
			},
			err: "blob past the end of the file",
		},
		{
			name: "NDB blob of another package",
			db: func(*testing.T) []byte {
				return ndbFile(two, func(i int, bh []byte) { binary.LittleEndian.PutUint32(bh[4:], 7) })
			},
			err: "bad blob header",
		},
		{
			name: "Berkeley DB overflow pages in a loop",
			db: func(*testing.T) []byte {
				return bdbFile(two, func(pages [][]byte) { binary.LittleEndian.PutUint32(pages[2][16:], 2) })
			},
			err: "overflow page 2 out of range or met twice",
		},
		{
			name: "Berkeley DB items sharing overflow pages",
			db: func(*testing.T) []byte {
				return bdbFile(two, func(pages [][]byte) {
					// The second item's chain is the first one's.
					binary.LittleEndian.PutUint32(pages[1][512-4-bdbOffPageLength-4-bdbOffPageLength+4:], 2)
				})
			},
			err: "overflow page 2 out of range or met twice",
		},
		{
			name: "NDB slots naming the same blob",
			db: func(*testing.T) []byte {
				f := ndbFile(two, nil)
				for off := 32 + 16; off+16 <= ndbSlotPage; off += 16 {
					copy(f[off:off+16], f[32:48]) // every slot is the first one
				}
				return f
			},
			err: "blobs overlap",
		},
		{
			name: "Berkeley DB chain through a page that is not an overflow page",
			db: func(*testing.T) []byte {
				return bdbFile(two, func(pages [][]byte) { binary.LittleEndian.PutUint32(pages[2][16:], 1) })
			},
			err: "page 1: not an overflow page",
		},
		{
			name: "Berkeley DB item past its page",
			db: func(*testing.T) []byte {
				return bdbFile(two, func(pages [][]byte) {
					binary.LittleEndian.PutUint16(pages[1][bdbPageHeader+2:], 510)
					pages[1][510] = bdbHashOffPage
				})
			},
			err: "item past the page",
		},
		{
			name: "Berkeley DB item index past its page",
			db: func(*testing.T) []byte {
				return bdbFile(two, func(pages [][]byte) { binary.LittleEndian.PutUint16(pages[1][20:], 1000) })
			},
			err: "bad item index",
		},
		{
			name: "Berkeley DB last page past the end of the file",
			db: func(*testing.T) []byte {
				b := bdbFile(two, nil)
				return b[:len(b)-512]
			},
			err: "pages of 512 bytes in",
		},
		{
			name: "Berkeley DB length past the last overflow page",
			db: func(*testing.T) []byte {
				return bdbFile(two, func(pages [][]byte) { binary.LittleEndian.PutUint16(pages[2][22:], 600) })
			},
			err: "length past the page",
		},
		{
			name: "header claiming two billion entries",
			db: func(*testing.T) []byte {
				h := nevra("bash", "5.1.8")
				binary.BigEndian.PutUint32(h, 0x7fffffff)
				return ndbFile([][]byte{h}, nil)
			},
			err: "header of 2147483647 entries",
		},
		{
			name: "header string without its end",
			db: func(*testing.T) []byte {
				h := nevra("bash", "5.1.8")
				h[len(h)-1] = 'x'
				return ndbFile([][]byte{h}, nil)
			},
			err: "string without its end",
		},
		{
			name: "header data past its blob",
			db: func(*testing.T) []byte {
				h := nevra("bash", "5.1.8")
				return ndbFile([][]byte{h[:len(h)-1]}, nil)
			},
			err: "header of 4 entries and 24 bytes of data does not fit in 95 bytes",
		},
		{
			name: "SQLite row that is not a header",
			db:   func(t *testing.T) []byte { return sqliteRPMDB(t, [][]byte{nevra("bash", "5.1.8"), nil}) },
			err:  "1 rows of Packages are not headers",
		},
		{
			name: "not an rpm database",
			db:   func(*testing.T) []byte { return bytes.Repeat([]byte("x"), 4096) },
			err:  "not an rpm database",
		},
		{
			name:  "more packages than a file may list",
			lim:   Limits{MaxFilePackages: 1},
			db:    func(t *testing.T) []byte { return sqliteRPMDB(t, two) },
			limit: "MaxFilePackages",
		},
		{
			name: "names, versions and licenses over MaxDatabaseBytes",
			lim:  Limits{MaxDatabaseBytes: 1000},
			db: func(*testing.T) []byte {
				return ndbFile([][]byte{rpmHeader(map[uint32]string{rpmTagName: "a", rpmTagLicense: strings.Repeat("GPL ", 300)})}, nil)
			},
			limit: "MaxDatabaseBytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim, clean := scratch(t, tt.lim)
			inv, err := Extract(context.Background(), []Layer{gzLayer(t,
				reg("etc/os-release", "rocky/os-release"),
				ent{name: "var/lib/rpm/Packages", body: tt.db(t)},
			)}, lim)
			clean()
			switch {
			case tt.limit != "":
				var le *LimitError
				if !errors.As(err, &le) || le.Limit != tt.limit || le.Path != "/var/lib/rpm/Packages" {
					t.Fatalf("err = %v, want limit %s of /var/lib/rpm/Packages", err, tt.limit)
				}
			case err != nil:
				t.Fatal(err)
			case tt.err != "":
				if len(inv.Problems) != 1 || inv.Problems[0].Extractor != "os/rpm" || !strings.Contains(inv.Problems[0].Message, tt.err) {
					t.Fatalf("problems %+v, want one of os/rpm saying %q", inv.Problems, tt.err)
				}
			default:
				var got []string
				for _, p := range inv.Packages {
					got = append(got, p.Name)
				}
				if !slices.Equal(got, tt.want) || len(inv.Problems) != 0 {
					t.Fatalf("packages %v, problems %+v; want %v", got, inv.Problems, tt.want)
				}
			}
		})
	}
}
