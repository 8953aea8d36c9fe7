package supervisor

import (
	"fmt"
	"slices"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/resolver"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The filter is built as data: a list of rules turned into classic BPF by a tiny assembler
// whose every jump is short and forward, so the program can be checked (and interpreted in
// tests) without a kernel.

// auditArchX86_64 is AUDIT_ARCH_X86_64: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
const auditArchX86_64 = 0xc000003e

// x32SyscallBit marks x32 system call numbers on x86_64 (__X32_SYSCALL_BIT).
const x32SyscallBit = 0x40000000

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
)

// retErrno is the filter's answer for a denied call.
func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA }

const (
	retAllow  = unix.SECCOMP_RET_ALLOW
	retNotify = unix.SECCOMP_RET_USER_NOTIF
)

// x86_64 syscall numbers the filter names. x/sys has them all, but naming them here keeps the
// filter readable as one table.
const (
	sysOpen            = unix.SYS_OPEN
	sysOpenat          = unix.SYS_OPENAT
	sysOpenat2         = unix.SYS_OPENAT2
	sysCreat           = unix.SYS_CREAT
	sysClone           = unix.SYS_CLONE
	sysClone3          = unix.SYS_CLONE3
	sysUnshare         = unix.SYS_UNSHARE
	sysSeccomp         = unix.SYS_SECCOMP
	sysPrctl           = unix.SYS_PRCTL
	sysIoctl           = unix.SYS_IOCTL
	sysFcntl           = unix.SYS_FCNTL
	sysMknod           = unix.SYS_MKNOD
	sysMknodat         = unix.SYS_MKNODAT
	sysOpenTreeAttr    = 467 // open_tree_attr(2), Linux 6.15; not in x/sys v0.50.0
	cloneNamespaceMask = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
	// unshareNamespaceMask adds CLONE_NEWTIME, which for clone(2) would be part of the exit
	// signal byte (CSIGNAL) and is only a namespace flag for unshare and clone3.
	unshareNamespaceMask = cloneNamespaceMask | unix.CLONE_NEWTIME
)

// denied lists the calls that would bypass mediation and the errno each gets. ENOSYS goes
// to calls programs probe and fall back from (io_uring to read/write, clone3 to clone, the
// newest xattr calls to the older ones); the
// rest get EPERM, what an unprivileged process would see, except name_to_handle_at, whose
// callers already handle EOPNOTSUPP from filesystems without handles.
var denied = []struct {
	nr    int
	errno unix.Errno
}{
	{unix.SYS_IO_URING_SETUP, unix.ENOSYS},
	{unix.SYS_IO_URING_ENTER, unix.ENOSYS},
	{unix.SYS_IO_URING_REGISTER, unix.ENOSYS},
	{sysClone3, unix.ENOSYS},
	{unix.SYS_OPEN_BY_HANDLE_AT, unix.EPERM},
	{unix.SYS_NAME_TO_HANDLE_AT, unix.EOPNOTSUPP},
	{unix.SYS_MOUNT, unix.EPERM},
	{unix.SYS_UMOUNT2, unix.EPERM},
	{unix.SYS_FSOPEN, unix.EPERM},
	{unix.SYS_FSCONFIG, unix.EPERM},
	{unix.SYS_FSMOUNT, unix.EPERM},
	{unix.SYS_FSPICK, unix.EPERM},
	{unix.SYS_MOVE_MOUNT, unix.EPERM},
	{unix.SYS_OPEN_TREE, unix.EPERM},
	{sysOpenTreeAttr, unix.EPERM},
	{unix.SYS_MOUNT_SETATTR, unix.EPERM},
	{unix.SYS_PIVOT_ROOT, unix.EPERM},
	{unix.SYS_CHROOT, unix.EPERM},
	{unix.SYS_SETNS, unix.EPERM},
	{unix.SYS_PTRACE, unix.EPERM},
	{unix.SYS_PROCESS_VM_READV, unix.EPERM},
	{unix.SYS_PROCESS_VM_WRITEV, unix.EPERM},
	{unix.SYS_BPF, unix.EPERM},
	{unix.SYS_USERFAULTFD, unix.EPERM},
	{unix.SYS_PERF_EVENT_OPEN, unix.EPERM},
	{unix.SYS_KEXEC_LOAD, unix.EPERM},
	{unix.SYS_KEXEC_FILE_LOAD, unix.EPERM},
	{unix.SYS_INIT_MODULE, unix.EPERM},
	{unix.SYS_FINIT_MODULE, unix.EPERM},
	{unix.SYS_DELETE_MODULE, unix.EPERM},
	{unix.SYS_USELIB, unix.EPERM},
	// The *at forms of the xattr calls (Linux 6.13) and file_getattr and file_setattr (6.17)
	// reach an object by a path scrim does not read, so a denied object's attributes could
	// be changed through them: refused as on a kernel without them, so that programs use the
	// older calls, which scrim mediates.
	{unix.SYS_SETXATTRAT, unix.ENOSYS},
	{unix.SYS_GETXATTRAT, unix.ENOSYS},
	{unix.SYS_LISTXATTRAT, unix.ENOSYS},
	{unix.SYS_REMOVEXATTRAT, unix.ENOSYS},
	{unix.SYS_FILE_GETATTR, unix.ENOSYS},
	{unix.SYS_FILE_SETATTR, unix.ENOSYS},
	// Channels to what lies outside the sandbox (docs/security.md): another process's
	// descriptors, the kernel log, kernel-opened descriptors of watched files, and accounting
	// written to any file.
	{unix.SYS_PIDFD_GETFD, unix.EPERM},
	{unix.SYS_SYSLOG, unix.EPERM},
	{unix.SYS_FANOTIFY_INIT, unix.EPERM},
	{unix.SYS_ACCT, unix.EPERM},
	// Calls that make the kernel use a file given by path (a swap area, a quota file),
	// which scrim does not see: root could turn a denied file into either.
	{unix.SYS_SWAPON, unix.EPERM},
	{unix.SYS_SWAPOFF, unix.EPERM},
	{unix.SYS_QUOTACTL, unix.EPERM},
	{unix.SYS_QUOTACTL_FD, unix.EPERM},
}

// keyringCalls read and change the kernel keyrings, which /proc/keys is denied for; refused
// (ENOSYS, as on a kernel without keys) unless filterOptions.keyring.
var keyringCalls = []int{unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY}

// FilterOptions are the choices scrim's own filter is built with, beyond what it always
// notifies (the open family) and refuses.
type FilterOptions struct {
	// SyscallHandlers take over the calls they claim: the filter notifies them.
	SyscallHandlers []shim.SyscallHandler
	// Stat notifies the stat-like calls (Config.Stat).
	Stat bool
	// Signals notifies the kill family and F_SETOWN (Config.Signals).
	Signals bool
	// Keyring lets the keyring calls through.
	Keyring bool
	// Changes notifies the calls that change names and objects, and exec (Config.Changes).
	Changes bool
}

// Filter builds scrim's seccomp program. A listener it makes notifies every call that can
// change credentials (Listener.NotifiesCredCalls).
func Filter(o FilterOptions) ([]unix.SockFilter, error) {
	notify, err := handledCalls(o)
	if err != nil {
		return nil, err
	}
	return buildFilter(notify, o.internal())
}

// internal is what buildFilter needs of o besides the calls it notifies.
func (o FilterOptions) internal() filterOptions {
	opts := filterOptions{signals: o.Signals, keyring: o.Keyring, changes: o.Changes, statNull: o.Stat}
	for _, h := range o.SyscallHandlers {
		if r, ok := h.(shim.FilterRefuser); ok {
			opts.argRefusals = append(opts.argRefusals, r.FilterRefusals()...)
		}
	}
	return opts
}

// handledCalls lists the calls Filter notifies for o beyond the open family, the credential
// calls and the kill family, whatever their arguments.
func handledCalls(o FilterOptions) ([]int, error) {
	_, notify, err := syscallTable(o.SyscallHandlers)
	if err != nil {
		return nil, fmt.Errorf("build filter: %w", err)
	}
	if o.Stat {
		notify = append(notify, resolver.StatFamily()...)
	}
	if o.Changes {
		for _, nr := range resolver.MutationFamily() {
			// mknod and mknodat are argument-checked: devices refused, the rest notified.
			if nr != sysMknod && nr != sysMknodat {
				notify = append(notify, nr)
			}
		}
	}
	return notify, nil
}

// Notified lists the calls the filter Filter(o) builds sends to the supervisor: always, whatever
// their arguments, and sometimes, for some arguments only (prctl's credential options, fcntl's
// F_SETOWN, mknod of what is not a device, newfstatat and statx with a path). Both are sorted.
// `scrim check` prints them, and the benchmark's C floors trap the same calls so that a ratio
// compares the cost per call.
func Notified(o FilterOptions) (always, sometimes []int, err error) {
	handled, err := handledCalls(o)
	if err != nil {
		return nil, nil, err
	}
	always = append(append(append([]int{}, openFamily...), handled...), credCalls...)
	sometimes = []int{sysPrctl}
	if o.Stat {
		// Not with a NULL path (nullPathCalls).
		always = slices.DeleteFunc(always, func(nr int) bool { return slices.Contains(nullPathCalls, nr) })
		sometimes = append(sometimes, nullPathCalls...)
	}
	if o.Signals {
		always = append(always, killFamily...)
		sometimes = append(sometimes, sysFcntl)
	}
	if o.Changes {
		sometimes = append(sometimes, sysMknod, sysMknodat)
	}
	sort.Ints(always)
	sort.Ints(sometimes)
	return always, sometimes, nil
}

// filterOptions are the choices a filter is built with.
type filterOptions struct {
	// signals asks the filter to keep the sandbox's signals in itself: the kill family and
	// F_SETOWN are notified, the owner calls that take a pointer refused.
	signals bool
	// keyring lets the keyring calls through.
	keyring bool
	// changes notifies mknod and mknodat of what is not a device (the other calls that change
	// names and objects come in the notify list).
	changes bool
	// statNull lets newfstatat and statx through when their path pointer is NULL (nullPathCalls),
	// where they are in the notify list.
	statNull bool
	// argRefusals are the calls handlers have the filter refuse by one argument.
	argRefusals []shim.FilterRefusal
}

// nullPathCalls are the stat calls that, since Linux 6.11, take a NULL path with AT_EMPTY_PATH
// to mean the descriptor itself (and fail with EFAULT before it, or without the flag): with a
// NULL path they look nothing up, so the filter need not notify them. Their path is the second
// argument. Nothing else about a call can be exempted in BPF: AT_EMPTY_PATH means "the
// descriptor" only when the path is empty, and an empty string and "/proc/1" are both just a
// pointer to the filter (RATIONALE.md, "Why does the filter exempt only a NULL path?").
var nullPathCalls = []int{unix.SYS_NEWFSTATAT, unix.SYS_STATX}

// refused lists the calls the filter refuses under opts, with their errnos.
func refused(opts filterOptions) []struct {
	nr    int
	errno unix.Errno
} {
	out := append([]struct {
		nr    int
		errno unix.Errno
	}{}, denied...)
	if !opts.keyring {
		for _, nr := range keyringCalls {
			out = append(out, struct {
				nr    int
				errno unix.Errno
			}{nr, unix.ENOSYS})
		}
	}
	return out
}

// deniedIoctls are the terminal ioctls refused whatever the descriptor: TIOCSTI types into the
// terminal as if the user had (and so into the user's shell once the sandbox ends, or a Ctrl-Z
// that stops scrim), TIOCLINUX can do the same on a virtual console.
var deniedIoctls = []uint32{unix.TIOCSTI, unix.TIOCLINUX}

// Bits of a mknod mode: S_IFCHR and S_IFBLK both have bit 13 set, and of the other types
// mknod accepts (S_IFREG or 0, S_IFIFO, S_IFSOCK) only S_IFSOCK shares a bit with them, bit
// 14, while every other type with bit 13 (S_IFLNK) also has bit 15, which the kernel refuses.
// So "bit 13 set and bit 15 clear" is exactly a character or block device, or a type the kernel
// rejects anyway.
const (
	modeDevBit    = 0o020000
	modeNotDevBit = 0o100000
)

// openFamily are the calls every mode mediates.
var openFamily = []int{sysOpen, sysOpenat, sysOpenat2, sysCreat}

// credCalls change a thread's credentials or umask. They are notified only so the supervisor
// learns that its cached credentials may be stale; it answers CONTINUE, deciding nothing.
var credCalls = []int{
	unix.SYS_SETUID, unix.SYS_SETGID, unix.SYS_SETREUID, unix.SYS_SETREGID,
	unix.SYS_SETRESUID, unix.SYS_SETRESGID, unix.SYS_SETFSUID, unix.SYS_SETFSGID,
	unix.SYS_SETGROUPS, unix.SYS_CAPSET, unix.SYS_UMASK,
}

// credPrctls are the prctl options that change what the next execve grants.
var credPrctls = []uint32{unix.PR_SET_KEEPCAPS, unix.PR_CAPBSET_DROP, unix.PR_SET_SECUREBITS, unix.PR_CAP_AMBIENT}

// isCredCall reports whether nr is one of the calls that only mark credentials stale.
func isCredCall(nr int) bool {
	if nr == sysPrctl {
		return true
	}
	for _, c := range credCalls {
		if c == nr {
			return true
		}
	}
	return false
}

// asm builds a BPF program.
type asm struct{ prog []unix.SockFilter }

func (a *asm) ldAbs(off uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off})
}

func (a *asm) jmp(op uint16, k uint32, jt, jf int) {
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k, Jt: uint8(jt), Jf: uint8(jf)})
}

func (a *asm) and(k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: k})
}

func (a *asm) ret(k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k})
}

// killFamily are the calls that signal a process named by number, or open a pidfd of one.
// Where the kernel cannot keep the sandbox's signals in (no Landlock signal scope), the filter
// notifies them and scrim lets each through only when it reaches no process outside
// (signal.go). pidfd_send_signal is not among them: its target is a pidfd, and the sandbox
// can only come by pidfds of its own processes (pidfd_open is here, pidfd_getfd denied, /proc
// of outsiders hidden).
var killFamily = []int{
	unix.SYS_KILL, unix.SYS_TKILL, unix.SYS_TGKILL, unix.SYS_RT_SIGQUEUEINFO,
	unix.SYS_RT_TGSIGQUEUEINFO, unix.SYS_PIDFD_OPEN,
}

// ownerIoctls name, through memory scrim cannot decide on, a process or group to signal when
// I/O is possible: refused where the kill family is mediated. F_SETOWN_EX is their fcntl.
var ownerIoctls = []uint32{ioctlFIOSETOWN, unix.SIOCSPGRP}

// ioctlFIOSETOWN is FIOSETOWN (include/uapi/asm-generic/sockios.h); x/sys lacks it.
const ioctlFIOSETOWN = 0x8901

// buildFilter assembles scrim's seccomp program. notify lists the extra syscall numbers that
// SyscallHandlers take over.
func buildFilter(notify []int, opts filterOptions) ([]unix.SockFilter, error) {
	signals := opts.signals
	denied := refused(opts)
	seen := map[int]string{}
	claim := func(nr int, what string) error {
		if prev, ok := seen[nr]; ok {
			return fmt.Errorf("build filter: syscall %d is both %s and %s", nr, prev, what)
		}
		seen[nr] = what
		return nil
	}
	for _, d := range denied {
		if err := claim(d.nr, "denied"); err != nil {
			return nil, err
		}
	}
	argChecked := []int{sysClone, sysUnshare, sysSeccomp, sysIoctl, sysMknod, sysMknodat}
	if signals {
		argChecked = append(argChecked, sysFcntl)
	}
	for _, nr := range argChecked {
		if err := claim(nr, "argument-checked"); err != nil {
			return nil, err
		}
	}
	for _, r := range opts.argRefusals {
		if err := checkRefusal(r); err != nil {
			return nil, err
		}
		if err := claim(r.Nr, "refused by a handler"); err != nil {
			return nil, err
		}
	}
	for _, nr := range openFamily {
		if err := claim(nr, "the open family"); err != nil {
			return nil, err
		}
	}
	for _, nr := range append(append([]int{}, credCalls...), sysPrctl) {
		if err := claim(nr, "a credential change"); err != nil {
			return nil, err
		}
	}
	var kills []int
	if signals {
		kills = killFamily
	}
	for _, nr := range kills {
		if err := claim(nr, "the kill family"); err != nil {
			return nil, err
		}
	}
	extra := append([]int{}, notify...)
	sort.Ints(extra)
	for _, nr := range extra {
		if nr < 0 || nr >= x32SyscallBit {
			return nil, fmt.Errorf("build filter: syscall %d: not an x86_64 syscall number", nr)
		}
		if err := claim(nr, "handled"); err != nil {
			return nil, err
		}
	}

	var a asm
	// Anything but x86_64 (i386 through int 0x80, a 32-bit binary) is refused whole: the
	// numbers differ per arch, so one table cannot describe two.
	a.ldAbs(offArch)
	a.jmp(unix.BPF_JEQ, auditArchX86_64, 1, 0)
	a.ret(retErrno(unix.ENOSYS))
	a.ldAbs(offNr)
	a.jmp(unix.BPF_JSET, x32SyscallBit, 0, 1)
	a.ret(retErrno(unix.ENOSYS))

	// The open family first: it is by far the most frequent notified call.
	for _, nr := range openFamily {
		a.jmp(unix.BPF_JEQ, uint32(nr), 0, 1)
		a.ret(retNotify)
	}
	for _, nr := range extra {
		if opts.statNull && slices.Contains(nullPathCalls, nr) {
			// Both words of the path pointer zero: let through; anything else: notify.
			a.jmp(unix.BPF_JEQ, uint32(nr), 0, 6)
			a.ldAbs(offArg0 + 8)
			a.jmp(unix.BPF_JEQ, 0, 0, 3)
			a.ldAbs(offArg0 + 12)
			a.jmp(unix.BPF_JEQ, 0, 0, 1)
			a.ret(retAllow)
			a.ret(retNotify)
			continue
		}
		a.jmp(unix.BPF_JEQ, uint32(nr), 0, 1)
		a.ret(retNotify)
	}
	for _, d := range denied {
		a.jmp(unix.BPF_JEQ, uint32(d.nr), 0, 1)
		a.ret(retErrno(d.errno))
	}
	for _, nr := range append(append([]int{}, credCalls...), kills...) {
		a.jmp(unix.BPF_JEQ, uint32(nr), 0, 1)
		a.ret(retNotify)
	}
	// Argument checks load A with an argument and end in returns, so they come last and
	// never fall through to a rule that expects A to hold the number.
	//
	// clone(2) and unshare(2) with a namespace flag. The kernel reads only the low 32 bits of
	// clone's flags (lower_32_bits in kernel_clone), and unshare rejects high bits itself.
	a.jmp(unix.BPF_JEQ, sysClone, 0, 4)
	a.ldAbs(offArg0)
	a.jmp(unix.BPF_JSET, cloneNamespaceMask, 0, 1)
	a.ret(retErrno(unix.EPERM))
	a.ret(retAllow)
	a.jmp(unix.BPF_JEQ, sysUnshare, 0, 4)
	a.ldAbs(offArg0)
	a.jmp(unix.BPF_JSET, unshareNamespaceMask, 0, 1)
	a.ret(retErrno(unix.EPERM))
	a.ret(retAllow)
	// seccomp(SECCOMP_SET_MODE_FILTER, flags with NEW_LISTENER): a second listener could answer
	// CONTINUE for calls scrim must decide. Plain filters stay allowed: they can only add
	// restrictions, and programs that sandbox themselves need them.
	a.jmp(unix.BPF_JEQ, sysSeccomp, 0, 6)
	a.ldAbs(offArg0)
	a.jmp(unix.BPF_JEQ, unix.SECCOMP_SET_MODE_FILTER, 0, 3)
	a.ldAbs(offArg0 + 8)
	a.jmp(unix.BPF_JSET, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 1)
	a.ret(retErrno(unix.EPERM))
	a.ret(retAllow)
	// ioctl(fd, TIOCSTI or TIOCLINUX, ...): the kernel reads the request as an unsigned int.
	ioctls := deniedIoctls
	if signals {
		ioctls = append(append([]uint32{}, deniedIoctls...), ownerIoctls...)
	}
	n := len(ioctls)
	a.jmp(unix.BPF_JEQ, sysIoctl, 0, n+3)
	a.ldAbs(offArg0 + 8)
	for i, req := range ioctls {
		a.jmp(unix.BPF_JEQ, req, n-i, 0)
	}
	a.ret(retAllow)
	a.ret(retErrno(unix.EPERM))
	if signals {
		// fcntl(fd, F_SETOWN, pid) names its target in a register: notified and checked like
		// kill. F_SETOWN_EX names it in memory: refused.
		a.jmp(unix.BPF_JEQ, sysFcntl, 0, 6)
		a.ldAbs(offArg0 + 8)
		a.jmp(unix.BPF_JEQ, unix.F_SETOWN, 0, 1)
		a.ret(retNotify)
		a.jmp(unix.BPF_JEQ, unix.F_SETOWN_EX, 0, 1)
		a.ret(retErrno(unix.EPERM))
		a.ret(retAllow)
	}
	// mknod(path, mode, dev) and mknodat(dirfd, path, mode, dev) of a device node: a fresh node
	// of a denied device would not be the denied node (mode is a umode_t, in the low word).
	for _, c := range []struct {
		nr  int
		arg uint32
	}{{sysMknod, 1}, {sysMknodat, 2}} {
		a.jmp(unix.BPF_JEQ, uint32(c.nr), 0, 5)
		a.ldAbs(offArg0 + 8*c.arg)
		a.jmp(unix.BPF_JSET, modeDevBit, 0, 2)
		a.jmp(unix.BPF_JSET, modeNotDevBit, 1, 0)
		a.ret(retErrno(unix.EPERM))
		if opts.changes {
			a.ret(retNotify)
		} else {
			a.ret(retAllow)
		}
	}
	// Handlers' refusals: (arg & mask) == value, the low word and then, where the mask has
	// any, the high word; a call that does not match is allowed.
	for _, r := range opts.argRefusals {
		lo, hi := uint32(r.Mask), uint32(r.Mask>>32)
		n := 3 + 2
		if hi != 0 {
			n += 3
		}
		a.jmp(unix.BPF_JEQ, uint32(r.Nr), 0, n)
		a.ldAbs(offArg0 + 8*uint32(r.Arg))
		a.and(lo)
		if hi != 0 {
			a.jmp(unix.BPF_JEQ, uint32(r.Value), 0, 4)
			a.ldAbs(offArg0 + 8*uint32(r.Arg) + 4)
			a.and(hi)
			a.jmp(unix.BPF_JEQ, uint32(r.Value>>32), 0, 1)
		} else {
			a.jmp(unix.BPF_JEQ, uint32(r.Value), 0, 1)
		}
		a.ret(retErrno(r.Errno))
		a.ret(retAllow)
	}
	// prctl options that change the credentials a later execve grants.
	n = len(credPrctls)
	a.jmp(unix.BPF_JEQ, sysPrctl, 0, n+3)
	a.ldAbs(offArg0)
	for i, opt := range credPrctls {
		a.jmp(unix.BPF_JEQ, opt, n-i, 0)
	}
	a.ret(retAllow)
	a.ret(retNotify)
	a.ret(retAllow)

	if err := validateFilter(a.prog); err != nil {
		return nil, err
	}
	return a.prog, nil
}

// checkRefusal refuses a handler's refusal the filter could not apply as written.
func checkRefusal(r shim.FilterRefusal) error {
	switch {
	case r.Nr < 0 || r.Nr >= x32SyscallBit:
		return fmt.Errorf("build filter: refusal of syscall %d: not an x86_64 syscall number", r.Nr)
	case r.Arg < 0 || r.Arg > 5:
		return fmt.Errorf("build filter: refusal of %s: argument %d: a call has arguments 0 to 5", shim.SyscallName(r.Nr), r.Arg)
	case r.Mask == 0 || r.Value&^r.Mask != 0:
		return fmt.Errorf("build filter: refusal of %s: value %#x outside mask %#x", shim.SyscallName(r.Nr), r.Value, r.Mask)
	case r.Errno == 0 || uint32(r.Errno) > unix.SECCOMP_RET_DATA:
		return fmt.Errorf("build filter: refusal of %s: errno %d", shim.SyscallName(r.Nr), int(r.Errno))
	}
	return nil
}

// validateFilter checks what the kernel's checker would: length, jump targets inside the
// program, and that the program cannot run off its end.
func validateFilter(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > seccomp.MaxInsns {
		return fmt.Errorf("validate filter: %d instructions, want 1..%d", len(prog), seccomp.MaxInsns)
	}
	for pc, in := range prog {
		switch in.Code & 0x07 {
		case unix.BPF_JMP:
			if in.Code&0xf0 == unix.BPF_JA {
				return fmt.Errorf("validate filter: instruction %d: unconditional jump not used", pc)
			}
			for _, off := range []uint8{in.Jt, in.Jf} {
				if pc+1+int(off) >= len(prog) {
					return fmt.Errorf("validate filter: instruction %d: jump by %d leaves the program", pc, off)
				}
			}
		case unix.BPF_RET:
		case unix.BPF_ALU:
			if in.Code != unix.BPF_ALU|unix.BPF_AND|unix.BPF_K {
				return fmt.Errorf("validate filter: instruction %d: opcode %#x not used", pc, in.Code)
			}
		case unix.BPF_LD:
			if in.Code != unix.BPF_LD|unix.BPF_W|unix.BPF_ABS || in.K%4 != 0 || in.K >= 64 {
				return fmt.Errorf("validate filter: instruction %d: bad load %#x of %d", pc, in.Code, in.K)
			}
		default:
			return fmt.Errorf("validate filter: instruction %d: opcode %#x not used", pc, in.Code)
		}
	}
	if last := prog[len(prog)-1]; last.Code&0x07 != unix.BPF_RET {
		return fmt.Errorf("validate filter: program does not end in a return")
	}
	return nil
}
