package inventory

// Checks of executables before the go/binary and rust/cargoauditable extractors read them.
//
// Both read what the executable says, as long as the executable says: debug/buildinfo reads
// the Go version and module strings whole, at the lengths their headers give (up to the end
// of the segment holding them, hundreds of megabytes in a large file), and go-rustaudit reads
// the cargo-auditable section whole and decompresses it with no bound. The checks find the
// same data the same way, with the same standard packages (debug/elf, debug/pe, debug/macho),
// and measure it without reading it whole: the strings must stay within MaxManifestBytes, and
// their lines (one per Go module) or JSON objects (one per crate) within MaxFilePackages.

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Go build information (debug/buildinfo): a 32-byte header starting with the magic, aligned
// to 16 bytes in the executable's data, then (Go 1.18 and later) the version and module
// strings inline, each after its length as a varint, or (earlier) pointers to Go strings.
var goBuildInfoMagic = []byte("\xff Go buildinf:")

const (
	goBuildInfoAlign      = 16
	goBuildInfoHeaderSize = 32
	goSearchChunk         = 1 << 20 // debug/buildinfo's searchChunkSize
)

// goExe is an executable as debug/buildinfo sees it: where its build information can be,
// and its data by virtual address.
type goExe interface {
	dataStart() (addr, size uint64)
	// dataReader reads from addr to the end of the segment or section holding it.
	dataReader(addr uint64) (*io.SectionReader, error)
}

var errUnsupportedExe = errors.New("executable format not inspected (only ELF, PE and Mach-O are)")

// openGoExe opens r as debug/buildinfo does. It returns nil, nil for what debug/buildinfo does
// not recognize either (it then reads nothing more of it).
func openGoExe(r io.ReaderAt) (goExe, error) {
	ident := make([]byte, 16)
	if n, err := r.ReadAt(ident, 0); n < len(ident) || err != nil {
		return nil, nil
	}
	switch {
	case bytes.HasPrefix(ident, []byte("\x7FELF")):
		f, err := elf.NewFile(r)
		if err != nil {
			return nil, nil
		}
		return elfGoExe{f}, nil
	case bytes.HasPrefix(ident, []byte("MZ")):
		f, err := pe.NewFile(r)
		if err != nil {
			return nil, nil
		}
		return peGoExe{f}, nil
	case bytes.HasPrefix(ident, []byte("\xFE\xED\xFA")) || bytes.HasPrefix(ident[1:], []byte("\xFA\xED\xFE")):
		f, err := macho.NewFile(r)
		if err != nil {
			return nil, nil
		}
		return machoGoExe{f}, nil
	case bytes.HasPrefix(ident, []byte("\xCA\xFE\xBA\xBE")) || bytes.HasPrefix(ident, []byte("\xCA\xFE\xBA\xBF")):
		f, err := macho.NewFatFile(r)
		if err != nil || len(f.Arches) == 0 {
			return nil, nil
		}
		return machoGoExe{f.Arches[0].File}, nil
	case bytes.HasPrefix(ident, []byte{0x01, 0xDF}) || bytes.HasPrefix(ident, []byte{0x01, 0xF7}),
		bytes.HasPrefix(ident, []byte{0x00, 0x00, 0x01, 0xEB}), bytes.HasPrefix(ident, []byte{0x00, 0x00, 0x8A, 0x97}),
		bytes.HasPrefix(ident, []byte{0x00, 0x00, 0x06, 0x47}):
		// XCOFF (AIX) and Plan 9 a.out, which debug/buildinfo reads too.
		return nil, errUnsupportedExe
	}
	return nil, nil
}

// checkGoBinary bounds what debug/buildinfo reads of a Go executable.
func checkGoBinary(in checkInput) (int64, error) {
	x, err := openGoExe(in.f)
	if x == nil {
		return 0, err
	}
	addr, ok, err := searchGoBuildInfo(x)
	if err != nil || !ok {
		return 0, err
	}
	header, err := readGoData(x, addr, goBuildInfoHeaderSize)
	if err != nil || len(header) < goBuildInfoHeaderSize {
		return 0, nil // debug/buildinfo stops there too
	}
	maxBytes := in.lim.MaxManifestBytes
	if maxBytes <= 0 {
		maxBytes = 1<<63 - 1
	}
	tooLong := func() error {
		return limitErr("MaxManifestBytes", maxBytes, in.path, "has Go build information of more than %d bytes", maxBytes)
	}
	// The strings: where each starts and how long it says it is.
	var strs [2]struct{ addr, n uint64 }
	flags := header[15]
	if flags&2 != 0 { // inline, Go 1.18 and later
		at := addr + goBuildInfoHeaderSize
		for i := range strs {
			b, err := readGoData(x, at, binary.MaxVarintLen64)
			if err != nil {
				return 0, nil
			}
			n, k := binary.Uvarint(b)
			if k <= 0 {
				return 0, nil
			}
			if n > uint64(maxBytes) {
				return 0, tooLong()
			}
			strs[i].addr, strs[i].n = at+uint64(k), n
			at += uint64(k) + n
		}
	} else { // pointers to Go strings
		ptrSize := int(header[14])
		var bo binary.ByteOrder = binary.LittleEndian
		if flags&1 != 0 {
			bo = binary.BigEndian
		}
		ptr := func(b []byte) uint64 {
			if ptrSize == 4 {
				return uint64(bo.Uint32(b))
			}
			return bo.Uint64(b)
		}
		if ptrSize != 4 && ptrSize != 8 {
			return 0, nil
		}
		for i := range strs {
			hdr, err := readGoData(x, ptr(header[16+i*ptrSize:]), uint64(2*ptrSize))
			if err != nil || len(hdr) < 2*ptrSize {
				continue // debug/buildinfo reads an empty string
			}
			strs[i].addr, strs[i].n = ptr(hdr), ptr(hdr[ptrSize:])
			if strs[i].n > uint64(maxBytes) {
				return 0, tooLong()
			}
		}
	}
	// One package per line of the module information (a dependency, a replacement), plus the
	// toolchain and the main module.
	r, err := x.dataReader(strs[1].addr)
	if err != nil || strs[1].n == 0 {
		return 1, nil
	}
	lines, err := countByte(io.NewSectionReader(r, 0, int64(strs[1].n)), '\n', in.maxPackages)
	if err != nil {
		return 0, nil
	}
	return lines + 2, nil
}

// searchGoBuildInfo finds the build information header as debug/buildinfo's searchMagic does:
// the first occurrence of the magic aligned to 16 bytes in the data start range. It mirrors
// that function line for line, down to the address it returns after passing over a misaligned
// occurrence (the match's index in what is left of the chunk), so that the header checked is
// the one debug/buildinfo reads.
func searchGoBuildInfo(x goExe) (uint64, bool, error) {
	start, size := x.dataStart()
	if size == 0 {
		return 0, false, nil
	}
	end := start + size
	if end < start {
		return 0, false, nil
	}
	start = (start + goBuildInfoAlign - 1) &^ (goBuildInfoAlign - 1)
	if start >= end {
		return 0, false, nil
	}
	var buf []byte
	for start < end {
		remaining := end - start
		chunk := min(uint64(goSearchChunk), remaining)
		if buf == nil {
			buf = make([]byte, chunk)
		} else {
			buf = buf[:chunk]
			clear(buf)
		}
		r, err := x.dataReader(start)
		if err != nil {
			return 0, false, nil
		}
		n, err := r.ReadAt(buf, 0)
		if n == 0 || err != nil && !errors.Is(err, io.EOF) {
			return 0, false, nil
		}
		data := buf[:n]
		for len(data) > 0 {
			i := bytes.Index(data, goBuildInfoMagic)
			if i < 0 {
				break
			}
			if remaining-uint64(i) < goBuildInfoHeaderSize {
				return 0, false, nil
			}
			if i%goBuildInfoAlign != 0 {
				next := (i + goBuildInfoAlign - 1) &^ (goBuildInfoAlign - 1)
				if next > len(data) {
					return 0, false, nil
				}
				data = data[next:]
				continue
			}
			return start + uint64(i), true, nil
		}
		start += chunk
	}
	return 0, false, nil
}

// readGoData reads up to n bytes at addr, within the segment or section holding it.
func readGoData(x goExe, addr, n uint64) ([]byte, error) {
	r, err := x.dataReader(addr)
	if err != nil {
		return nil, err
	}
	b := make([]byte, min(n, uint64(r.Size())))
	k, err := r.ReadAt(b, 0)
	if k > 0 && err == io.EOF {
		err = nil
	}
	return b[:k], err
}

// countByte counts c in r, stopping once over max.
func countByte(r io.Reader, c byte, max int64) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var n int64
	for {
		_, err := br.ReadSlice(c)
		switch {
		case err == nil:
			if n++; n > max {
				return n, nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return n, nil
		default:
			return n, err
		}
	}
}

type elfGoExe struct{ f *elf.File }

func (x elfGoExe) dataReader(addr uint64) (*io.SectionReader, error) {
	for _, p := range x.f.Progs {
		if p.Vaddr <= addr && addr <= p.Vaddr+p.Filesz-1 {
			return io.NewSectionReader(p, int64(addr-p.Vaddr), int64(p.Vaddr+p.Filesz-addr)), nil
		}
	}
	return nil, errUnsupportedExe
}

func (x elfGoExe) dataStart() (uint64, uint64) {
	for _, s := range x.f.Sections {
		if s.Name == ".go.buildinfo" {
			return s.Addr, s.Size
		}
	}
	for _, p := range x.f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&(elf.PF_X|elf.PF_W) == elf.PF_W {
			return p.Vaddr, p.Memsz
		}
	}
	return 0, 0
}

type peGoExe struct{ f *pe.File }

func (x peGoExe) imageBase() uint64 {
	switch oh := x.f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		return uint64(oh.ImageBase)
	case *pe.OptionalHeader64:
		return oh.ImageBase
	}
	return 0
}

func (x peGoExe) dataReader(addr uint64) (*io.SectionReader, error) {
	addr -= x.imageBase()
	for _, s := range x.f.Sections {
		if uint64(s.VirtualAddress) <= addr && addr <= uint64(s.VirtualAddress+s.Size-1) {
			return io.NewSectionReader(s, int64(addr-uint64(s.VirtualAddress)), int64(uint64(s.VirtualAddress+s.Size)-addr)), nil
		}
	}
	return nil, errUnsupportedExe
}

func (x peGoExe) dataStart() (uint64, uint64) {
	const data = 0x00000040 | 0x40000000 | 0x80000000 // initialized data, read, write
	for _, s := range x.f.Sections {
		if s.VirtualAddress != 0 && s.Size != 0 && s.Characteristics&^0x600000 == data {
			return uint64(s.VirtualAddress) + x.imageBase(), uint64(s.VirtualSize)
		}
	}
	return 0, 0
}

type machoGoExe struct{ f *macho.File }

func (x machoGoExe) dataReader(addr uint64) (*io.SectionReader, error) {
	for _, l := range x.f.Loads {
		seg, ok := l.(*macho.Segment)
		if !ok || seg.Name == "__PAGEZERO" {
			continue
		}
		if seg.Addr <= addr && addr <= seg.Addr+seg.Filesz-1 {
			return io.NewSectionReader(seg, int64(addr-seg.Addr), int64(seg.Addr+seg.Filesz-addr)), nil
		}
	}
	return nil, errUnsupportedExe
}

func (x machoGoExe) dataStart() (uint64, uint64) {
	for _, s := range x.f.Sections {
		if s.Name == "__go_buildinfo" {
			return s.Addr, s.Size
		}
	}
	const rw = 3
	for _, l := range x.f.Loads {
		if seg, ok := l.(*macho.Segment); ok && seg.Addr != 0 && seg.Filesz != 0 && seg.Prot == rw && seg.Maxprot == rw {
			return seg.Addr, seg.Memsz
		}
	}
	return 0, 0
}

// checkCargoAuditable bounds what go-rustaudit reads of an executable: the section
// cargo-auditable writes (.dep-v0, or rust-audit's older names), zlib-compressed JSON listing
// the crates. The section must be within MaxManifestBytes, and so must its JSON, whose
// objects (at least one per crate) must be within MaxFilePackages.
func checkCargoAuditable(in checkInput) (int64, error) {
	max := in.lim.MaxManifestBytes
	if max <= 0 {
		max = 1<<63 - 1
	}
	r, size, err := rustDepSection(in.f, in.info.Size(), max)
	if err != nil || r == nil {
		return 0, err
	}
	if size > max {
		return 0, limitErr("MaxManifestBytes", max, in.path, "has a cargo-auditable section of more than %d bytes", max)
	}
	zr, err := zlib.NewReader(r)
	if err != nil {
		return 0, nil // go-rustaudit stops there too
	}
	defer zr.Close()
	lim := &io.LimitedReader{R: zr, N: max + 1}
	n, err := countOpeners(in.ctx, lim, in.maxPackages)
	if lim.N <= 0 {
		return 0, limitErr("MaxManifestBytes", max, in.path, "has a cargo-auditable dependency list of more than %d bytes, decompressed", max)
	}
	if err != nil {
		return 0, nil
	}
	return n, nil
}

// rustDepSection finds the section go-rustaudit reads, as it does; nil if it finds none.
func rustDepSection(r io.ReaderAt, fileSize, max int64) (io.Reader, int64, error) {
	header := make([]byte, 16)
	if n, err := r.ReadAt(header, 0); n < len(header) || err != nil {
		return nil, 0, nil
	}
	var names []string
	var section func(name string) (io.Reader, int64)
	switch {
	case bytes.HasPrefix(header, []byte("\x7fELF")):
		f, err := elf.NewFile(r)
		if err != nil {
			return nil, 0, nil
		}
		names = []string{".dep-v0", ".rust-deps-v0"}
		section = func(name string) (io.Reader, int64) {
			if s := f.Section(name); s != nil {
				return s.Open(), int64(s.Size)
			}
			return nil, 0
		}
	case bytes.HasPrefix(header, []byte("MZ")):
		f, err := pe.NewFile(r)
		if err != nil {
			return nil, 0, nil
		}
		names = []string{".dep-v0", "rdep-v0"}
		section = func(name string) (io.Reader, int64) {
			if s := f.Section(name); s != nil {
				return s.Open(), int64(s.Size)
			}
			return nil, 0
		}
	case bytes.HasPrefix(header, []byte("\xFE\xED\xFA")) || bytes.HasPrefix(header[1:], []byte("\xFA\xED\xFE")) ||
		bytes.HasPrefix(header, []byte("\xCA\xFE\xBA\xBE")):
		f, err := macho.NewFile(r)
		if err != nil {
			return nil, 0, nil
		}
		names = []string{".dep-v0", "rust-deps-v0"}
		section = func(name string) (io.Reader, int64) {
			if s := f.Section(name); s != nil {
				return s.Open(), int64(s.Size)
			}
			return nil, 0
		}
	case bytes.HasPrefix(header, []byte("\x00asm\x01\x00\x00\x00")):
		return wasmDepSection(r, fileSize, max)
	default:
		return nil, 0, nil
	}
	for _, name := range names {
		if s, n := section(name); s != nil {
			return s, n, nil
		}
	}
	return nil, 0, nil
}

// wasmDepSection walks the sections of a WebAssembly module as go-rustaudit does, to its
// custom section .dep-v0.
func wasmDepSection(r io.ReaderAt, fileSize, max int64) (io.Reader, int64, error) {
	readU32 := func(off int64) (uint32, int64, bool) {
		buf := make([]byte, 4)
		if _, err := r.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, false
		}
		v, n := binary.Uvarint(buf)
		if n <= 0 || v > 1<<32-1 {
			return 0, 0, false
		}
		return uint32(v), int64(n), true
	}
	for off := int64(8); off < fileSize; {
		id := make([]byte, 1)
		if _, err := r.ReadAt(id, off); err != nil {
			return nil, 0, nil
		}
		off++
		size, n, ok := readU32(off)
		if !ok {
			return nil, 0, nil
		}
		off += n
		next := off + int64(size)
		if id[0] != 0 {
			off = next
			continue
		}
		nameSize, n, ok := readU32(off)
		if !ok {
			return nil, 0, nil
		}
		off += n
		if int64(nameSize) > min(fileSize-off, max) {
			// go-rustaudit would allocate the name whole (up to 256 MiB).
			return nil, 0, fmt.Errorf("WebAssembly custom section name of %d bytes", nameSize)
		}
		if nameSize != uint32(len(".dep-v0")) {
			off = next
			continue
		}
		name := make([]byte, nameSize)
		if _, err := r.ReadAt(name, off); err != nil {
			return nil, 0, nil
		}
		off += int64(nameSize)
		if string(name) != ".dep-v0" {
			off = next
			continue
		}
		if next < off {
			// go-rustaudit would allocate a negative length, and panic.
			return nil, 0, errors.New("WebAssembly custom section .dep-v0 shorter than its name")
		}
		if next-off > max {
			return nil, next - off, nil
		}
		return io.NewSectionReader(r, off, next-off), next - off, nil
	}
	return nil, 0, nil
}
