package seccomp

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// elfEnv names the i386 probe program a child runs.
const elfEnv = "BOTBOTTLE_SECCOMP_ELF"

// archCases check that calls through another ABI of the kernel are killed.
var archCases = []childCase{
	{"i386_int80", func() string { return run(exec.Command(os.Getenv(elfEnv)), 0) }, "SIGSYS"},
}

// caseSetup prepares cases in the parent and returns environment for the
// child. It runs before t.Parallel, so files it writes are closed before
// other children fork (which would make exec fail with ETXTBSY).
var caseSetup = map[string]func(t *testing.T) []string{"i386_int80": writeInt80}

// int80 is a static amd64 program that makes the i386 getpid call through
// int 0x80 and then exits 0 through the amd64 ABI:
//
//	mov eax, 20; int 0x80; mov eax, 60; xor edi, edi; syscall
var int80 = []byte{
	0xb8, 0x14, 0x00, 0x00, 0x00, 0xcd, 0x80,
	0xb8, 0x3c, 0x00, 0x00, 0x00, 0x31, 0xff, 0x0f, 0x05,
}

// writeInt80 writes int80 as an ELF file, checks that it runs without the
// filter, and returns the environment that names it to the child.
func writeInt80(t *testing.T) []string {
	t.Helper()
	const base, hdrs = 0x400000, 64 + 56
	size := uint64(hdrs + len(int80))
	var b bytes.Buffer
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	binary.Write(&b, binary.LittleEndian, elf.Header64{
		Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64),
		Version: uint32(elf.EV_CURRENT), Entry: base + hdrs, Phoff: 64,
		Ehsize: 64, Phentsize: 56, Phnum: 1,
	})
	binary.Write(&b, binary.LittleEndian, elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Align: 0x1000,
	})
	b.Write(int80)
	path := filepath.Join(t.TempDir(), "int80")
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := run(exec.CommandContext(t.Context(), path), 0); got != "ok" {
		t.Skipf("running i386 calls without a filter: %s (kernel without IA32 emulation?)", got)
	}
	return []string{elfEnv + "=" + path}
}
