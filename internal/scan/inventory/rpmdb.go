package inventory

// Berth reads rpm databases itself, in place of osv-scalibr's os/rpm extractor, which reads
// them with github.com/erikvarga/go-rpmdb. That library keeps every header it parses,
// file lists included, until the last one is read; trusts lengths and page numbers from the
// file (a Berkeley DB page index past its page panics in a goroutine, which no recover can
// catch, and an overflow page of the wrong type loops for five minutes; an NDB blob length
// allocates up to 4 GiB); and, when it stops at an error, leaves the goroutine reading the
// database blocked for ever, holding its entry and, for SQLite, the open file.
//
// This reader walks the three formats rpm has used with every length and page number
// checked against the file, hands on one header at a time, keeps of each package only the
// fields the inventory uses, and stops at MaxFilePackages. The formats:
//
//   - SQLite (rpm 4.16 and later, rpmdb.sqlite): table Packages, column blob.
//   - NDB (SUSE, Packages.db): rpm's lib/backend/ndb/rpmpkg.c. A 32-byte header ("RpmP",
//     version 0, generation, slot page count), slot pages of 4 KiB holding 16-byte slots
//     ("Slot", package index, block offset, block count), blobs at block offsets of 16
//     bytes, each a 16-byte header ("BlbS", package index, checksum, length) and the rpm
//     header.
//   - Berkeley DB hash (rpm before 4.16, Packages): a metadata page giving the page size and
//     last page, hash pages whose item index points at off-page items, and chains of
//     overflow pages holding the headers (libdb's dbinc/db_page.h).
//
// A header (rpm's lib/header.c) is an index length il and data length dl (big-endian), il
// entries of tag, type, offset and count, then dl bytes of data.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/os/osrelease"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	scalibrinv "github.com/google/osv-scalibr/inventory"
	"github.com/google/osv-scalibr/purl"
)

// rpmExtractor is osv-scalibr's os/rpm extractor (its name and the files it reads) with
// Berth's reader.
type rpmExtractor struct {
	filesystem.Extractor
	lim Limits
}

var errNotRPMDB = errors.New("not an rpm database (SQLite, NDB or Berkeley DB hash)")

// rpmPackage is what the inventory keeps of an rpm header.
type rpmPackage struct {
	name, version, release, arch, sourceRPM, license, vendor string
	epoch                                                    int
}

// Extract reads the rpm database input.Path, under input.Root on disk.
func (e rpmExtractor) Extract(ctx context.Context, input *filesystem.ScanInput) (scalibrinv.Inventory, error) {
	ra, ok := input.Reader.(io.ReaderAt)
	if !ok || input.Info == nil {
		return scalibrinv.Inventory{}, errors.New("rpm database: no random access to the file")
	}
	maxPackages := e.lim.MaxFilePackages
	if maxPackages <= 0 {
		maxPackages = 1<<63 - 1
	}
	var (
		found []rpmPackage
		kept  int64 // bytes of the fields kept
	)
	err := readRPMDB(ctx, filepath.Join(input.Root, input.Path), ra, input.Info.Size(), func(h []byte) error {
		if int64(len(found)) >= maxPackages {
			return limitErr("MaxFilePackages", maxPackages, input.Path, "holds more than %d packages", maxPackages)
		}
		p, err := parseRPMHeader(h)
		if err != nil {
			return fmt.Errorf("package %d: %w", len(found)+1, err)
		}
		kept += int64(len(p.name) + len(p.version) + len(p.release) + len(p.arch) + len(p.sourceRPM) + len(p.license) + len(p.vendor))
		if max := e.lim.MaxDatabaseBytes; max > 0 && kept > max {
			return limitErr("MaxDatabaseBytes", max, input.Path, "lists more than %d bytes of package names, versions and licenses", max)
		}
		found = append(found, p)
		return nil
	})
	if le := (*LimitError)(nil); errors.As(err, &le) && le.Path == "" {
		le.Path = "/" + input.Path
	}
	if err != nil {
		return scalibrinv.Inventory{}, err
	}
	m, _ := osrelease.GetOSRelease(input.FS)
	pkgs := make([]*extractor.Package, 0, len(found))
	for _, p := range found {
		pkgs = append(pkgs, &extractor.Package{
			Name:     p.name,
			Version:  p.version + "-" + p.release,
			PURLType: purl.TypeRPM,
			Location: extractor.LocationFromPath(input.Path),
			Metadata: &rpmmeta.Metadata{
				PackageName:  p.name,
				SourceRPM:    p.sourceRPM,
				Epoch:        p.epoch,
				OSName:       m["NAME"],
				OSPrettyName: m["PRETTY_NAME"],
				OSID:         m["ID"],
				OSVersionID:  m["VERSION_ID"],
				OSBuildID:    m["BUILD_ID"],
				Vendor:       p.vendor,
				Architecture: p.arch,
			},
			Licenses: []string{p.license},
		})
	}
	return scalibrinv.Inventory{Packages: pkgs}, nil
}

// readRPMDB calls fn with each package header of the database at path (ra, of size bytes).
func readRPMDB(ctx context.Context, path string, ra io.ReaderAt, size int64, fn func([]byte) error) error {
	head := make([]byte, 32)
	n, _ := ra.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		return readSQLiteRPMDB(ctx, path, fn)
	case len(head) == 32 && binary.LittleEndian.Uint32(head) == ndbHeaderMagic:
		return readNDB(ctx, ra, size, fn)
	}
	return readBDB(ctx, ra, size, fn)
}

func readSQLiteRPMDB(ctx context.Context, path string, fn func([]byte) error) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("open SQLite rpm database: %w", err)
	}
	defer db.Close()
	// Each blob is read whole: they are measured first.
	var count, notBlobs int64
	var largest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT count(*), max(length(blob)), count(*) FILTER (WHERE typeof(blob) != 'blob') FROM Packages`).
		Scan(&count, &largest, &notBlobs); err != nil {
		return fmt.Errorf("SQLite rpm database: %w", err)
	}
	if notBlobs > 0 {
		return fmt.Errorf("SQLite rpm database: %d rows of Packages are not headers", notBlobs)
	}
	if largest.Int64 > maxEntryBytes {
		return limitErr("maxEntryBytes", maxEntryBytes, "", "has an rpm header of more than %d bytes", maxEntryBytes)
	}
	rows, err := db.QueryContext(ctx, `SELECT blob FROM Packages`)
	if err != nil {
		return fmt.Errorf("SQLite rpm database: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return fmt.Errorf("SQLite rpm database: %w", err)
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return rows.Err()
}

// NDB, rpm's lib/backend/ndb/rpmpkg.c.
const (
	ndbHeaderMagic  = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic    = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic    = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbSlotPage     = 4096
	ndbMaxSlotPages = 2048
)

func readNDB(ctx context.Context, ra io.ReaderAt, size int64, fn func([]byte) error) error {
	var hdr [32]byte
	if _, err := ra.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("NDB rpm database: %w", err)
	}
	le := binary.LittleEndian
	version, slotPages := le.Uint32(hdr[4:]), le.Uint32(hdr[12:])
	if version != 0 || slotPages == 0 || slotPages > ndbMaxSlotPages || int64(slotPages)*ndbSlotPage > size {
		return fmt.Errorf("NDB rpm database: version %d with %d slot pages in %d bytes", version, slotPages, size)
	}
	// The slots follow the header, to the end of the slot pages (the header takes the
	// place of the first two slots).
	slots := make([]byte, int64(slotPages)*ndbSlotPage-32)
	if _, err := ra.ReadAt(slots, 32); err != nil {
		return fmt.Errorf("NDB rpm database: slots: %w", err)
	}
	// Blobs do not overlap, so together they are no larger than the file after the slot
	// pages: slots naming the same blob again and again cannot make the reading longer.
	var read int64
	for off := 0; off+16 <= len(slots); off += 16 {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := slots[off : off+16]
		if le.Uint32(s) != ndbSlotMagic {
			return fmt.Errorf("NDB rpm database: slot %d: bad magic", off/16)
		}
		pkg, blk := le.Uint32(s[4:]), int64(le.Uint32(s[8:]))*16
		if pkg == 0 {
			continue // free
		}
		var bh [16]byte
		if blk+16 > size {
			return fmt.Errorf("NDB rpm database: package %d: block past the end of the file", pkg)
		}
		if _, err := ra.ReadAt(bh[:], blk); err != nil {
			return fmt.Errorf("NDB rpm database: package %d: %w", pkg, err)
		}
		if le.Uint32(bh[:]) != ndbBlobMagic || le.Uint32(bh[4:]) != pkg {
			return fmt.Errorf("NDB rpm database: package %d: bad blob header", pkg)
		}
		n := int64(le.Uint32(bh[12:]))
		if n > maxEntryBytes {
			return limitErr("maxEntryBytes", maxEntryBytes, "", "has an rpm header of more than %d bytes", maxEntryBytes)
		}
		if blk+16+n > size {
			return fmt.Errorf("NDB rpm database: package %d: blob past the end of the file", pkg)
		}
		if read += 16 + n; read > size-int64(slotPages)*ndbSlotPage {
			return fmt.Errorf("NDB rpm database: package %d: blobs overlap", pkg)
		}
		h := make([]byte, n)
		if _, err := ra.ReadAt(h, blk+16); err != nil {
			return fmt.Errorf("NDB rpm database: package %d: %w", pkg, err)
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

// Berkeley DB hash databases, libdb's dbinc/db_page.h.
const (
	bdbHashMagic     = 0x00061561
	bdbPageHeader    = 26
	bdbHashUnsorted  = 2  // P_HASH_UNSORTED
	bdbHashOffPage   = 3  // H_OFFPAGE item
	bdbOverflow      = 7  // P_OVERFLOW
	bdbHashMeta      = 8  // P_HASHMETA
	bdbHash          = 13 // P_HASH
	bdbOffPageLength = 12 // H_OFFPAGE item: type, 3 unused, page number, length
)

func readBDB(ctx context.Context, ra io.ReaderAt, size int64, fn func([]byte) error) error {
	meta := make([]byte, 512)
	if n, _ := ra.ReadAt(meta, 0); n < 72 {
		return errNotRPMDB
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch bo.Uint32(meta[12:]) {
	case bdbHashMagic:
	case 0x61150600:
		bo = binary.BigEndian
	default:
		return errNotRPMDB
	}
	pageSize, lastPage := int64(bo.Uint32(meta[20:])), int64(bo.Uint32(meta[32:]))
	if meta[24] != 0 || meta[25] != bdbHashMeta || pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return errNotRPMDB
	}
	if (lastPage+1)*pageSize > size {
		return fmt.Errorf("Berkeley DB rpm database: %d pages of %d bytes in %d bytes", lastPage+1, pageSize, size)
	}
	pages := lastPage + 1
	page := make([]byte, pageSize)
	readPage := func(n int64, p []byte) (typ byte, next int64, free int, err error) {
		if n < 0 || n >= pages {
			return 0, 0, 0, fmt.Errorf("Berkeley DB rpm database: page %d out of %d", n, pages)
		}
		if _, err := ra.ReadAt(p, n*pageSize); err != nil {
			return 0, 0, 0, fmt.Errorf("Berkeley DB rpm database: page %d: %w", n, err)
		}
		return p[25], int64(bo.Uint32(p[16:])), int(bo.Uint16(p[22:])), nil
	}
	overflow := make([]byte, pageSize)
	// An overflow page belongs to one item: a page met twice is a loop or two items sharing
	// it, either of which could make the reading quadratic in the pages.
	used := make([]bool, pages)
	for pn := int64(0); pn < pages; pn++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		typ, _, _, err := readPage(pn, page)
		if err != nil {
			return err
		}
		if typ != bdbHash && typ != bdbHashUnsorted {
			continue
		}
		entries := int64(bo.Uint16(page[20:]))
		if entries%2 != 0 || bdbPageHeader+2*entries > pageSize {
			return fmt.Errorf("Berkeley DB rpm database: page %d: bad item index", pn)
		}
		// Items come in key and data pairs; the data items are the headers.
		for i := int64(1); i < entries; i += 2 {
			at := int64(bo.Uint16(page[bdbPageHeader+2*i:]))
			if at >= pageSize || page[at] != bdbHashOffPage {
				continue
			}
			if at+bdbOffPageLength > pageSize {
				return fmt.Errorf("Berkeley DB rpm database: page %d: item past the page", pn)
			}
			// Follow the chain of overflow pages.
			var h []byte
			next := int64(bo.Uint32(page[at+4:]))
			for next != 0 {
				if next < 0 || next >= pages || used[next] {
					return fmt.Errorf("Berkeley DB rpm database: page %d: overflow page %d out of range or met twice", pn, next)
				}
				used[next] = true
				typ, after, free, err := readPage(next, overflow)
				if err != nil {
					return err
				}
				if typ != bdbOverflow {
					return fmt.Errorf("Berkeley DB rpm database: page %d: not an overflow page", next)
				}
				data := overflow[bdbPageHeader:]
				if after == 0 {
					if free > len(data) {
						return fmt.Errorf("Berkeley DB rpm database: page %d: length past the page", next)
					}
					data = data[:free]
				}
				if int64(len(h)+len(data)) > maxEntryBytes {
					return limitErr("maxEntryBytes", maxEntryBytes, "", "has an rpm header of more than %d bytes", maxEntryBytes)
				}
				h = append(h, data...)
				next = after
			}
			if err := fn(h); err != nil {
				return err
			}
		}
	}
	return nil
}

// rpm header tags and types (rpm's rpmtag.h).
const (
	rpmTagName      = 1000
	rpmTagVersion   = 1001
	rpmTagRelease   = 1002
	rpmTagEpoch     = 1003
	rpmTagVendor    = 1011
	rpmTagLicense   = 1014
	rpmTagArch      = 1022
	rpmTagSourceRPM = 1044

	rpmInt32  = 4
	rpmString = 6
)

// parseRPMHeader reads the fields the inventory keeps from a header blob.
func parseRPMHeader(h []byte) (rpmPackage, error) {
	var p rpmPackage
	if len(h) < 8 {
		return p, errors.New("header shorter than 8 bytes")
	}
	be := binary.BigEndian
	il, dl := int64(be.Uint32(h)), int64(be.Uint32(h[4:]))
	dataStart := 8 + 16*il
	if il < 1 || dataStart > int64(len(h)) || dl > int64(len(h))-dataStart {
		return p, fmt.Errorf("header of %d entries and %d bytes of data does not fit in %d bytes", il, dl, len(h))
	}
	data := h[dataStart : dataStart+dl]
	for i := int64(0); i < il; i++ {
		e := h[8+16*i:]
		tag, typ, off := be.Uint32(e), be.Uint32(e[4:]), int64(be.Uint32(e[8:]))
		var field *string
		switch tag {
		case rpmTagName:
			field = &p.name
		case rpmTagVersion:
			field = &p.version
		case rpmTagRelease:
			field = &p.release
		case rpmTagArch:
			field = &p.arch
		case rpmTagSourceRPM:
			field = &p.sourceRPM
		case rpmTagLicense:
			field = &p.license
		case rpmTagVendor:
			field = &p.vendor
		case rpmTagEpoch:
			if typ != rpmInt32 || off+4 > dl {
				return p, fmt.Errorf("tag %d: not a 32-bit integer within the data", tag)
			}
			p.epoch = int(int32(be.Uint32(data[off:])))
			continue
		default:
			continue
		}
		if typ != rpmString || off >= dl {
			return p, fmt.Errorf("tag %d: not a string within the data", tag)
		}
		end := bytes.IndexByte(data[off:], 0)
		if end < 0 {
			return p, fmt.Errorf("tag %d: string without its end", tag)
		}
		*field = string(data[off : off+int64(end)])
	}
	for _, f := range []*string{&p.sourceRPM, &p.license, &p.vendor} {
		if *f == "(none)" {
			*f = ""
		}
	}
	return p, nil
}
