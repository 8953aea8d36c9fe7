package shim

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// syscallNames names the x86_64 system calls scrim mediates or lets handlers take over: the
// open family, the calls SyscallHandlers claim, and the stat-like calls shims may answer. The
// audit log and `scrim check` both print from it.
var syscallNames = map[int]string{
	unix.SYS_OPEN: "open", unix.SYS_OPENAT: "openat", unix.SYS_OPENAT2: "openat2", unix.SYS_CREAT: "creat",
	unix.SYS_READ: "read", unix.SYS_PREAD64: "pread64", unix.SYS_MMAP: "mmap", unix.SYS_CLONE: "clone",
	unix.SYS_GETDENTS: "getdents", unix.SYS_GETDENTS64: "getdents64",
	unix.SYS_UNAME: "uname", unix.SYS_SETHOSTNAME: "sethostname", unix.SYS_SETDOMAINNAME: "setdomainname",
	unix.SYS_SYSINFO: "sysinfo", unix.SYS_GETRANDOM: "getrandom", unix.SYS_GETCPU: "getcpu",
	unix.SYS_SCHED_GETAFFINITY: "sched_getaffinity", unix.SYS_SCHED_SETAFFINITY: "sched_setaffinity",
	unix.SYS_STAT: "stat", unix.SYS_LSTAT: "lstat", unix.SYS_NEWFSTATAT: "newfstatat", unix.SYS_STATX: "statx",
	unix.SYS_STATFS: "statfs", unix.SYS_FSTATFS: "fstatfs",
	unix.SYS_READLINK: "readlink", unix.SYS_READLINKAT: "readlinkat",
	unix.SYS_ACCESS: "access", unix.SYS_FACCESSAT: "faccessat", unix.SYS_FACCESSAT2: "faccessat2",
}

// SyscallName returns the kernel's name for the x86_64 system call nr, or "syscall(N)" for one
// scrim has no name for.
func SyscallName(nr int) string {
	if name, ok := syscallNames[nr]; ok {
		return name
	}
	return "syscall(" + strconv.Itoa(nr) + ")"
}
