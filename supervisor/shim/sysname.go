package shim

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// syscallNames names the x86_64 system calls scrim mediates or lets handlers take over: every
// call its filter may notify and the calls SyscallHandlers claim. The audit log and `scrim
// check` both print from it.
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
	unix.SYS_GETXATTR: "getxattr", unix.SYS_LGETXATTR: "lgetxattr",
	unix.SYS_LISTXATTR: "listxattr", unix.SYS_LLISTXATTR: "llistxattr",
	unix.SYS_INOTIFY_ADD_WATCH: "inotify_add_watch",
	// The calls that change names and objects, credentials and signals, which the filter
	// notifies too (supervisor.Notified).
	unix.SYS_EXECVE: "execve", unix.SYS_KILL: "kill", unix.SYS_TRUNCATE: "truncate",
	unix.SYS_CHDIR: "chdir", unix.SYS_RENAME: "rename", unix.SYS_MKDIR: "mkdir",
	unix.SYS_RMDIR: "rmdir", unix.SYS_LINK: "link", unix.SYS_UNLINK: "unlink",
	unix.SYS_SYMLINK: "symlink", unix.SYS_CHMOD: "chmod", unix.SYS_CHOWN: "chown",
	unix.SYS_LCHOWN: "lchown", unix.SYS_UMASK: "umask", unix.SYS_SETUID: "setuid",
	unix.SYS_SETGID: "setgid", unix.SYS_SETREUID: "setreuid", unix.SYS_SETREGID: "setregid",
	unix.SYS_SETGROUPS: "setgroups", unix.SYS_SETRESUID: "setresuid", unix.SYS_SETRESGID: "setresgid",
	unix.SYS_SETFSUID: "setfsuid", unix.SYS_SETFSGID: "setfsgid", unix.SYS_CAPSET: "capset",
	unix.SYS_RT_SIGQUEUEINFO: "rt_sigqueueinfo", unix.SYS_UTIME: "utime",
	unix.SYS_SETXATTR: "setxattr", unix.SYS_LSETXATTR: "lsetxattr",
	unix.SYS_REMOVEXATTR: "removexattr", unix.SYS_LREMOVEXATTR: "lremovexattr",
	unix.SYS_TKILL: "tkill", unix.SYS_TGKILL: "tgkill", unix.SYS_UTIMES: "utimes",
	unix.SYS_MKDIRAT: "mkdirat", unix.SYS_FCHOWNAT: "fchownat", unix.SYS_FUTIMESAT: "futimesat",
	unix.SYS_UNLINKAT: "unlinkat", unix.SYS_RENAMEAT: "renameat", unix.SYS_LINKAT: "linkat",
	unix.SYS_SYMLINKAT: "symlinkat", unix.SYS_FCHMODAT: "fchmodat", unix.SYS_UTIMENSAT: "utimensat",
	unix.SYS_RT_TGSIGQUEUEINFO: "rt_tgsigqueueinfo", unix.SYS_RENAMEAT2: "renameat2",
	unix.SYS_EXECVEAT: "execveat", unix.SYS_PIDFD_OPEN: "pidfd_open", unix.SYS_FCHMODAT2: "fchmodat2",
	unix.SYS_FCNTL: "fcntl", unix.SYS_MKNOD: "mknod", unix.SYS_PRCTL: "prctl",
	unix.SYS_MKNODAT: "mknodat",
	// The calls the filter refuses, whole or for some arguments: a container runtime's seccomp
	// profile names them (supervisor.Rules, scrim oci profile).
	unix.SYS_IO_URING_SETUP: "io_uring_setup", unix.SYS_IO_URING_ENTER: "io_uring_enter",
	unix.SYS_IO_URING_REGISTER: "io_uring_register", unix.SYS_CLONE3: "clone3",
	unix.SYS_OPEN_BY_HANDLE_AT: "open_by_handle_at", unix.SYS_NAME_TO_HANDLE_AT: "name_to_handle_at",
	unix.SYS_MOUNT: "mount", unix.SYS_UMOUNT2: "umount2", unix.SYS_FSOPEN: "fsopen",
	unix.SYS_FSCONFIG: "fsconfig", unix.SYS_FSMOUNT: "fsmount", unix.SYS_FSPICK: "fspick",
	unix.SYS_MOVE_MOUNT: "move_mount", unix.SYS_OPEN_TREE: "open_tree", 467: "open_tree_attr",
	unix.SYS_MOUNT_SETATTR: "mount_setattr", unix.SYS_PIVOT_ROOT: "pivot_root", unix.SYS_CHROOT: "chroot",
	unix.SYS_SETNS: "setns", unix.SYS_PTRACE: "ptrace", unix.SYS_PROCESS_VM_READV: "process_vm_readv",
	unix.SYS_PROCESS_VM_WRITEV: "process_vm_writev", unix.SYS_BPF: "bpf", unix.SYS_USERFAULTFD: "userfaultfd",
	unix.SYS_PERF_EVENT_OPEN: "perf_event_open", unix.SYS_KEXEC_LOAD: "kexec_load",
	unix.SYS_KEXEC_FILE_LOAD: "kexec_file_load", unix.SYS_INIT_MODULE: "init_module",
	unix.SYS_FINIT_MODULE: "finit_module", unix.SYS_DELETE_MODULE: "delete_module", unix.SYS_USELIB: "uselib",
	unix.SYS_PIDFD_GETFD: "pidfd_getfd", unix.SYS_SYSLOG: "syslog", unix.SYS_FANOTIFY_INIT: "fanotify_init",
	unix.SYS_ACCT: "acct", unix.SYS_KEYCTL: "keyctl", unix.SYS_ADD_KEY: "add_key",
	unix.SYS_REQUEST_KEY: "request_key", unix.SYS_UNSHARE: "unshare", unix.SYS_SECCOMP: "seccomp",
	unix.SYS_IOCTL:      "ioctl",
	unix.SYS_SETXATTRAT: "setxattrat", unix.SYS_GETXATTRAT: "getxattrat",
	unix.SYS_LISTXATTRAT: "listxattrat", unix.SYS_REMOVEXATTRAT: "removexattrat",
	unix.SYS_FILE_GETATTR: "file_getattr", unix.SYS_FILE_SETATTR: "file_setattr",
	unix.SYS_SWAPON: "swapon", unix.SYS_SWAPOFF: "swapoff", unix.SYS_QUOTACTL: "quotactl",
	unix.SYS_QUOTACTL_FD: "quotactl_fd",
}

// SyscallName returns the kernel's name for the x86_64 system call nr, or "syscall(N)" for one
// scrim has no name for.
func SyscallName(nr int) string {
	if name, ok := syscallNames[nr]; ok {
		return name
	}
	return "syscall(" + strconv.Itoa(nr) + ")"
}

// SyscallNumber is SyscallName's inverse: the x86_64 number of a call scrim names.
func SyscallNumber(name string) (int, bool) {
	for nr, n := range syscallNames {
		if n == name {
			return nr, true
		}
	}
	return 0, false
}
