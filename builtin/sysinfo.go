package builtin

import (
	"context"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Syscalls is sysinfo.
func (m *memoryView) Syscalls() []int { return []int{unix.SYS_SYSINFO} }

// Syscall answers sysinfo(2) in the view (kernel/sys.c do_sysinfo): scrim performs the call
// for the host's uptime and loads, replaces the memory figures with the view's, the same that
// /proc/meminfo shows, and writes the struct into the caller. glibc's sysconf(_SC_PHYS_PAGES)
// and _SC_AVPHYS_PAGES, and the runtimes built on them (the JVM's physical memory, Python's
// os.sysconf), read it.
func (m *memoryView) Syscall(_ context.Context, call *shim.Call) (shim.SyscallResult, error) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return shim.Fail(errnoOf(err)), nil
	}
	used := min(m.used(), m.total)
	si.Totalram = m.total
	si.Freeram = m.total - used
	si.Sharedram, si.Bufferram = 0, 0
	si.Totalswap, si.Freeswap = 0, 0
	si.Totalhigh, si.Freehigh = 0, 0
	si.Unit = 1
	if m.sandbox != nil {
		si.Procs = uint16(min(len(m.sandbox.Pids()), 1<<16-1))
	}
	if _, err := call.Mem.WriteAt(encodeSysinfo(&si), call.Args[0]); err != nil {
		return shim.Fail(unix.EFAULT), nil
	}
	return shim.Return(0), nil
}

// encodeSysinfo lays out struct sysinfo as x86_64 does (include/uapi/linux/sysinfo.h).
func encodeSysinfo(si *unix.Sysinfo_t) []byte {
	b := make([]byte, 112)
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(si.Uptime))
	for i, l := range si.Loads {
		le.PutUint64(b[8+8*i:], l)
	}
	le.PutUint64(b[32:], si.Totalram)
	le.PutUint64(b[40:], si.Freeram)
	le.PutUint64(b[48:], si.Sharedram)
	le.PutUint64(b[56:], si.Bufferram)
	le.PutUint64(b[64:], si.Totalswap)
	le.PutUint64(b[72:], si.Freeswap)
	le.PutUint16(b[80:], si.Procs)
	le.PutUint64(b[88:], si.Totalhigh)
	le.PutUint64(b[96:], si.Freehigh)
	le.PutUint32(b[104:], si.Unit)
	return b
}
