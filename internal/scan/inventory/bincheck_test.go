package inventory

import (
	"bytes"
	"compress/zlib"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// goBuildInfoSection returns the offset and address of the .go.buildinfo section of an ELF
// Go executable.
func goBuildInfoSection(t *testing.T, bin []byte) (offset, addr uint64) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".go.buildinfo")
	if s == nil || s.Size < 64 {
		t.Fatal("no .go.buildinfo section")
	}
	return s.Offset, s.Addr
}

// The build information of Go executables is measured before debug/buildinfo reads it:
// lengths over MaxManifestBytes, inline (Go 1.18 and later) or through pointers (earlier), and
// module lists over MaxFilePackages end the scan.
func TestGoBuildInfoBounds(t *testing.T) {
	t.Parallel()
	bin, _ := buildGoBinary(t)
	// The build information with pointers to a Go string of a terabyte, as a Go 1.17 binary
	// would have them.
	pointers := bytes.Clone(bin)
	off, addr := goBuildInfoSection(t, pointers)
	h := pointers[off:]
	h[14], h[15] = 8, 0 // pointer size, little-endian pointers
	binary.LittleEndian.PutUint64(h[16:], addr+32)
	binary.LittleEndian.PutUint64(h[24:], addr+32)
	binary.LittleEndian.PutUint64(h[32:], addr)
	binary.LittleEndian.PutUint64(h[40:], 1<<40)

	tests := []struct {
		name  string
		bin   []byte
		lim   Limits
		limit string // the LimitError expected; none: the binary is read
	}{
		{name: "a Go executable", bin: bin},
		{name: "build information longer than MaxManifestBytes", bin: bin, lim: Limits{MaxManifestBytes: 100}, limit: "MaxManifestBytes"},
		{name: "more modules than MaxFilePackages", bin: bin, lim: Limits{MaxFilePackages: 3}, limit: "MaxFilePackages"},
		{name: "pointers to a string of a terabyte", bin: pointers, limit: "MaxManifestBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim, clean := scratch(t, tt.lim)
			inv, err := Extract(context.Background(), []Layer{gzLayer(t, executable("usr/local/bin/hello", tt.bin))}, lim)
			clean()
			if tt.limit == "" {
				if err != nil {
					t.Fatal(err)
				}
				pkgIn(t, inv, "Go", "github.com/package-url/packageurl-go")
				return
			}
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tt.limit || le.Path != "/usr/local/bin/hello" {
				t.Fatalf("err = %v, want limit %s of /usr/local/bin/hello", err, tt.limit)
			}
		})
	}
}

// elfWithSection is a minimal 64-bit little-endian ELF file holding one section.
func elfWithSection(name string, data []byte) []byte {
	le := binary.LittleEndian
	shstrtab := append(append([]byte{0}, name...), append([]byte{0}, ".shstrtab\x00"...)...)
	const ehsize, shentsize = 64, 64
	dataOff := uint64(ehsize)
	strOff := dataOff + uint64(len(data))
	shOff := strOff + uint64(len(shstrtab))
	f := make([]byte, ehsize)
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], uint16(elf.ET_EXEC))
	le.PutUint16(f[18:], uint16(elf.EM_X86_64))
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[40:], shOff)
	le.PutUint16(f[52:], ehsize)
	le.PutUint16(f[58:], shentsize)
	le.PutUint16(f[60:], 3) // sections: null, name, .shstrtab
	le.PutUint16(f[62:], 2)
	f = append(append(f, data...), shstrtab...)
	section := func(nameAt uint32, typ elf.SectionType, off, size uint64) []byte {
		s := make([]byte, shentsize)
		le.PutUint32(s, nameAt)
		le.PutUint32(s[4:], uint32(typ))
		le.PutUint64(s[24:], off)
		le.PutUint64(s[32:], size)
		le.PutUint64(s[48:], 1)
		return s
	}
	f = append(f, make([]byte, shentsize)...)
	f = append(f, section(1, elf.SHT_PROGBITS, dataOff, uint64(len(data)))...)
	f = append(f, section(uint32(2+len(name)), elf.SHT_STRTAB, strOff, uint64(len(shstrtab)))...)
	return f
}

// wasmWithSection is a WebAssembly module holding one custom section.
func wasmWithSection(name string, data []byte) []byte {
	body := binary.AppendUvarint(nil, uint64(len(name)))
	body = append(append(body, name...), data...)
	m := append([]byte("\x00asm\x01\x00\x00\x00"), 0)
	m = binary.AppendUvarint(m, uint64(len(body)))
	return append(m, body...)
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func crates(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"packages":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"crate%d","version":"1.0.%d","source":"crates.io"}`, i, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// The dependency list cargo-auditable embeds is measured before go-rustaudit decompresses it
// whole: in ELF executables and WebAssembly modules, compressed or decompressed over
// MaxManifestBytes, or listing more crates than MaxFilePackages, it ends the scan.
func TestCargoAuditableBounds(t *testing.T) {
	t.Parallel()
	bomb := zlibbed(append(append([]byte(`{"packages":[`), bytes.Repeat([]byte(" "), 8<<20)...), `]}`...))
	tests := []struct {
		name    string
		file    []byte
		lim     Limits
		limit   string // the LimitError expected
		problem string // or the problem
		crates  int    // or the crates found
	}{
		{name: "ELF", file: elfWithSection(".dep-v0", zlibbed(crates(3))), crates: 3},
		{name: "WebAssembly", file: wasmWithSection(".dep-v0", zlibbed(crates(3))), crates: 3},
		{name: "ELF, decompression bomb", file: elfWithSection(".dep-v0", bomb), limit: "MaxManifestBytes"},
		{name: "WebAssembly, decompression bomb", file: wasmWithSection(".dep-v0", bomb), limit: "MaxManifestBytes"},
		{name: "ELF, too many crates", file: elfWithSection(".dep-v0", zlibbed(crates(20))), lim: Limits{MaxFilePackages: 10}, limit: "MaxFilePackages"},
		{name: "ELF, section over the limit", file: elfWithSection(".dep-v0", zlibbed(crates(100))), lim: Limits{MaxManifestBytes: 100}, limit: "MaxManifestBytes"},
		{
			// The longest a four-byte varint says: go-rustaudit would allocate 256 MiB.
			name: "WebAssembly, custom section name of 256 MiB",
			file: func() []byte {
				m := []byte("\x00asm\x01\x00\x00\x00\x00\x10")
				m = binary.AppendUvarint(m, 1<<28-1)
				return append(m, ".dep-v0"...)
			}(),
			problem: "WebAssembly custom section name of 268435455 bytes",
		},
		{
			// Found by FuzzCargoAuditable: go-rustaudit panics, allocating a negative length.
			name:    "WebAssembly, section shorter than its name",
			file:    []byte("\x00asm\x01\x00\x00\x00\x00\x01\a.dep-v0"),
			problem: "WebAssembly custom section .dep-v0 shorter than its name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim, clean := scratch(t, tt.lim)
			inv, err := Extract(context.Background(), []Layer{gzLayer(t, executable("usr/local/bin/tool", tt.file))}, lim)
			clean()
			switch {
			case tt.limit != "":
				var le *LimitError
				if !errors.As(err, &le) || le.Limit != tt.limit || le.Path != "/usr/local/bin/tool" {
					t.Fatalf("err = %v, want limit %s of /usr/local/bin/tool", err, tt.limit)
				}
			case err != nil:
				t.Fatal(err)
			case tt.problem != "":
				if len(inv.Problems) != 1 || !strings.Contains(inv.Problems[0].Message, tt.problem) {
					t.Fatalf("problems %+v, want one saying %q", inv.Problems, tt.problem)
				}
			default:
				if len(inv.Packages) != tt.crates || len(inv.Problems) != 0 {
					t.Fatalf("packages %s, problems %+v; want %d crates", describe(inv), inv.Problems, tt.crates)
				}
			}
		})
	}
}

// elfGo is a minimal ELF executable whose .go.buildinfo section, loaded writable at 0x1000,
// holds info: what the Go linker writes there.
func elfGo(info []byte) []byte {
	le := binary.LittleEndian
	const ehsize, phentsize, shentsize, vaddr = 64, 56, 64, 0x1000
	name := ".go.buildinfo"
	shstrtab := append(append([]byte{0}, name...), append([]byte{0}, ".shstrtab\x00"...)...)
	dataOff := uint64(ehsize + phentsize)
	strOff := dataOff + uint64(len(info))
	shOff := strOff + uint64(len(shstrtab))
	f := make([]byte, ehsize)
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], uint16(elf.ET_EXEC))
	le.PutUint16(f[18:], uint16(elf.EM_X86_64))
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[32:], ehsize) // program headers
	le.PutUint64(f[40:], shOff)
	le.PutUint16(f[52:], ehsize)
	le.PutUint16(f[54:], phentsize)
	le.PutUint16(f[56:], 1)
	le.PutUint16(f[58:], shentsize)
	le.PutUint16(f[60:], 3)
	le.PutUint16(f[62:], 2)
	ph := make([]byte, phentsize)
	le.PutUint32(ph, uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_W))
	le.PutUint64(ph[8:], dataOff)
	le.PutUint64(ph[16:], vaddr)
	le.PutUint64(ph[24:], vaddr)
	le.PutUint64(ph[32:], uint64(len(info)))
	le.PutUint64(ph[40:], uint64(len(info)))
	f = append(append(append(f, ph...), info...), shstrtab...)
	section := func(nameAt uint32, typ elf.SectionType, addr, off, size uint64) []byte {
		s := make([]byte, shentsize)
		le.PutUint32(s, nameAt)
		le.PutUint32(s[4:], uint32(typ))
		le.PutUint64(s[16:], addr)
		le.PutUint64(s[24:], off)
		le.PutUint64(s[32:], size)
		le.PutUint64(s[48:], 16)
		return s
	}
	f = append(f, make([]byte, shentsize)...)
	f = append(f, section(1, elf.SHT_PROGBITS, vaddr, dataOff, uint64(len(info)))...)
	f = append(f, section(uint32(2+len(name)), elf.SHT_STRTAB, 0, strOff, uint64(len(shstrtab)))...)
	return f
}

// goBuildInfo is the build information Go 1.18 and later write: the header, then the version
// and the module information (framed by 16-byte sentinels), each after its varint length.
func goBuildInfo(version string, modules ...string) []byte {
	h := make([]byte, goBuildInfoHeaderSize)
	copy(h, goBuildInfoMagic)
	h[14], h[15] = 8, 2
	mod := "path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\n"
	for _, m := range modules {
		mod += "dep\t" + m + "\tv1.0.0\th1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	}
	mod = "0123456789abcdef" + mod + "0123456789abcde\n"
	h = binary.AppendUvarint(h, uint64(len(version)))
	h = append(h, version...)
	h = binary.AppendUvarint(h, uint64(len(mod)))
	return append(h, mod...)
}

// The check finds the build information where debug/buildinfo does, and counts its modules.
func TestGoBuildInfoCheckOfAMinimalExecutable(t *testing.T) {
	t.Parallel()
	bin := elfGo(goBuildInfo("go1.22.1", "golang.org/x/text", "golang.org/x/net"))
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil || len(bi.Deps) != 2 {
		t.Fatalf("debug/buildinfo: %v %+v", err, bi)
	}
	in := checkInput{ctx: context.Background(), path: "bin", f: bytes.NewReader(bin), info: sizeInfo(len(bin)),
		lim: Limits{MaxManifestBytes: 1 << 20}, maxPackages: 100}
	if n, err := checkGoBinary(in); err != nil || n != 7 { // five lines, the toolchain, the main module
		t.Fatalf("checkGoBinary = %d, %v; want 7", n, err)
	}
	in.lim.MaxManifestBytes = 100
	if _, err := checkGoBinary(in); err == nil {
		t.Fatal("module information over MaxManifestBytes let through")
	}
}
