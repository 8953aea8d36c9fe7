package supervisor

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// bpfRun interprets the subset of classic BPF the filter uses, over a struct seccomp_data, the
// way the kernel's seccomp checker and interpreter would. Any other instruction fails the test.
func bpfRun(t *testing.T, prog []unix.SockFilter, nr int32, arch uint32, args [6]uint64) uint32 {
	t.Helper()
	var data [64]byte
	binary.LittleEndian.PutUint32(data[0:], uint32(nr))
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			require.Less(t, int(in.K)+4, len(data)+1, "load out of seccomp_data at %d", pc)
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += jump(acc == in.K, in)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += jump(acc&in.K != 0, in)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += jump(acc >= in.K, in)
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: opcode %#x not interpreted", pc, in.Code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

func jump(cond bool, in unix.SockFilter) int {
	if cond {
		return int(in.Jt)
	}
	return int(in.Jf)
}

const auditArchI386 = 0x40000003

func TestFilter(t *testing.T) {
	const getrandom = unix.SYS_GETRANDOM
	prog, err := buildFilter([]int{getrandom}, filterOptions{})
	require.NoError(t, err)
	require.NoError(t, validateFilter(prog))

	type tc struct {
		name string
		nr   int32
		arch uint32
		args [6]uint64
		want uint32
	}
	x := uint32(auditArchX86_64)
	cases := []tc{
		{"open notified", unix.SYS_OPEN, x, [6]uint64{}, retNotify},
		{"openat notified", unix.SYS_OPENAT, x, [6]uint64{}, retNotify},
		{"openat2 notified", unix.SYS_OPENAT2, x, [6]uint64{}, retNotify},
		{"creat notified", unix.SYS_CREAT, x, [6]uint64{}, retNotify},
		{"handler syscall notified", getrandom, x, [6]uint64{}, retNotify},
		{"read allowed", unix.SYS_READ, x, [6]uint64{}, retAllow},
		{"stat allowed", unix.SYS_NEWFSTATAT, x, [6]uint64{}, retAllow},
		{"execve allowed", unix.SYS_EXECVE, x, [6]uint64{}, retAllow},
		{"i386 open refused", 5, auditArchI386, [6]uint64{}, retErrno(unix.ENOSYS)},
		{"i386 getpid refused", 20, auditArchI386, [6]uint64{}, retErrno(unix.ENOSYS)},
		{"x32 open refused", x32SyscallBit | unix.SYS_OPEN, x, [6]uint64{}, retErrno(unix.ENOSYS)},
		{"x32 openat refused", x32SyscallBit | unix.SYS_OPENAT, x, [6]uint64{}, retErrno(unix.ENOSYS)},
		{"x32 read refused", x32SyscallBit | unix.SYS_READ, x, [6]uint64{}, retErrno(unix.ENOSYS)},
		{"clone thread allowed", unix.SYS_CLONE, x, [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, retAllow},
		{"clone fork allowed", unix.SYS_CLONE, x, [6]uint64{uint64(unix.SIGCHLD)}, retAllow},
		{"clone with exit signal 0x80 bits allowed", unix.SYS_CLONE, x, [6]uint64{0x80 | uint64(unix.SIGCHLD)}, retAllow},
		{"clone NEWUSER denied", unix.SYS_CLONE, x, [6]uint64{unix.CLONE_NEWUSER}, retErrno(unix.EPERM)},
		{"clone NEWNS denied", unix.SYS_CLONE, x, [6]uint64{unix.CLONE_NEWNS | uint64(unix.SIGCHLD)}, retErrno(unix.EPERM)},
		{"clone NEWPID in high word ignored like the kernel", unix.SYS_CLONE, x, [6]uint64{1 << 40}, retAllow},
		{"clone3 ENOSYS", unix.SYS_CLONE3, x, [6]uint64{}, retErrno(unix.ENOSYS)},
		{"unshare FILES allowed", unix.SYS_UNSHARE, x, [6]uint64{unix.CLONE_FILES}, retAllow},
		{"unshare NEWUSER denied", unix.SYS_UNSHARE, x, [6]uint64{unix.CLONE_NEWUSER}, retErrno(unix.EPERM)},
		{"unshare NEWTIME denied", unix.SYS_UNSHARE, x, [6]uint64{unix.CLONE_NEWTIME}, retErrno(unix.EPERM)},
		{"unshare NEWNET denied", unix.SYS_UNSHARE, x, [6]uint64{unix.CLONE_NEWNET}, retErrno(unix.EPERM)},
		{"seccomp plain filter allowed", unix.SYS_SECCOMP, x, [6]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC}, retAllow},
		{"seccomp listener denied", unix.SYS_SECCOMP, x, [6]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER}, retErrno(unix.EPERM)},
		{"seccomp get action allowed", unix.SYS_SECCOMP, x, [6]uint64{unix.SECCOMP_GET_ACTION_AVAIL, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER}, retAllow},
		{"prctl set name allowed", unix.SYS_PRCTL, x, [6]uint64{unix.PR_SET_NAME}, retAllow},
		{"prctl capbset drop notified", unix.SYS_PRCTL, x, [6]uint64{unix.PR_CAPBSET_DROP}, retNotify},
		{"prctl ambient notified", unix.SYS_PRCTL, x, [6]uint64{unix.PR_CAP_AMBIENT}, retNotify},
		{"setuid notified", unix.SYS_SETUID, x, [6]uint64{}, retNotify},
		{"umask notified", unix.SYS_UMASK, x, [6]uint64{}, retNotify},
		{"capset notified", unix.SYS_CAPSET, x, [6]uint64{}, retNotify},
		{"ioctl TCGETS allowed", unix.SYS_IOCTL, x, [6]uint64{0, unix.TCGETS}, retAllow},
		{"ioctl TIOCSTI denied", unix.SYS_IOCTL, x, [6]uint64{0, unix.TIOCSTI}, retErrno(unix.EPERM)},
		{"ioctl TIOCSTI with high bits denied like the kernel reads it", unix.SYS_IOCTL, x, [6]uint64{0, 1<<32 | unix.TIOCSTI}, retErrno(unix.EPERM)},
		{"ioctl TIOCLINUX denied", unix.SYS_IOCTL, x, [6]uint64{0, unix.TIOCLINUX}, retErrno(unix.EPERM)},
		{"mknod fifo allowed", unix.SYS_MKNOD, x, [6]uint64{0, unix.S_IFIFO | 0o600}, retAllow},
		{"mknod regular allowed", unix.SYS_MKNOD, x, [6]uint64{0, 0o600}, retAllow},
		{"mknod socket allowed", unix.SYS_MKNOD, x, [6]uint64{0, unix.S_IFSOCK | 0o600}, retAllow},
		{"mknod char denied", unix.SYS_MKNOD, x, [6]uint64{0, unix.S_IFCHR | 0o600, 1<<8 | 11}, retErrno(unix.EPERM)},
		{"mknod block denied", unix.SYS_MKNOD, x, [6]uint64{0, unix.S_IFBLK | 0o600}, retErrno(unix.EPERM)},
		{"mknodat char denied", unix.SYS_MKNODAT, x, [6]uint64{0xffffff9c, 0, unix.S_IFCHR}, retErrno(unix.EPERM)},
		{"mknodat fifo allowed", unix.SYS_MKNODAT, x, [6]uint64{0xffffff9c, 0, unix.S_IFIFO}, retAllow},
	}
	for _, d := range refused(filterOptions{}) {
		cases = append(cases, tc{fmt.Sprintf("denied %d", d.nr), int32(d.nr), x, [6]uint64{}, retErrno(d.errno)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, fmt.Sprintf("%#x", c.want), fmt.Sprintf("%#x", bpfRun(t, prog, c.nr, c.arch, c.args)))
		})
	}

	t.Run("every syscall number has one answer", func(t *testing.T) {
		notified := map[int32]bool{}
		for nr := int32(0); nr < 600; nr++ {
			if bpfRun(t, prog, nr, x, [6]uint64{}) == retNotify {
				notified[nr] = true
			}
		}
		want := map[int32]bool{unix.SYS_OPEN: true, unix.SYS_OPENAT: true, unix.SYS_OPENAT2: true, unix.SYS_CREAT: true, getrandom: true}
		for _, nr := range credCalls {
			want[int32(nr)] = true
		}
		require.Equal(t, want, notified)
	})
}

// TestFilterStatNullPath: with the stat-like calls mediated, no flag lets one skip the
// supervisor: statx and newfstatat with AT_EMPTY_PATH and any non-NULL path (an empty string
// and "/proc/1" are the same pointer to BPF) are notified, and so is every other stat-like
// call with a NULL path; only newfstatat and statx with a NULL path, which look nothing up,
// are let through.
func TestFilterStatNullPath(t *testing.T) {
	prog, err := Filter(FilterOptions{Stat: true})
	require.NoError(t, err)
	x := uint32(auditArchX86_64)
	const fdcwd = uint64(0xffffff9c) // AT_FDCWD as the kernel reads the int
	const ptr = 0x7ffd1234
	empty := uint64(unix.AT_EMPTY_PATH)
	cases := []struct {
		name string
		nr   int32
		args [6]uint64
		want uint32
	}{
		{"statx AT_EMPTY_PATH with a path", unix.SYS_STATX, [6]uint64{fdcwd, ptr, empty, unix.STATX_BASIC_STATS, ptr}, retNotify},
		{"newfstatat AT_EMPTY_PATH with a path", unix.SYS_NEWFSTATAT, [6]uint64{3, ptr, ptr, empty}, retNotify},
		{"newfstatat AT_EMPTY_PATH and every flag", unix.SYS_NEWFSTATAT, [6]uint64{3, ptr, ptr, 0xffffffff}, retNotify},
		{"statx pointer with a zero low word", unix.SYS_STATX, [6]uint64{3, 1 << 32, empty}, retNotify},
		{"statx pointer with a zero high word", unix.SYS_STATX, [6]uint64{3, 0x1000, empty}, retNotify},
		{"statx NULL path", unix.SYS_STATX, [6]uint64{3, 0, empty, unix.STATX_BASIC_STATS, ptr}, retAllow},
		{"newfstatat NULL path", unix.SYS_NEWFSTATAT, [6]uint64{3, 0, ptr, empty}, retAllow},
		{"newfstatat NULL path without the flag (EFAULT)", unix.SYS_NEWFSTATAT, [6]uint64{fdcwd, 0, ptr, 0}, retAllow},
		{"faccessat2 NULL path", unix.SYS_FACCESSAT2, [6]uint64{3, 0, 0, empty}, retNotify},
		{"readlinkat NULL path", unix.SYS_READLINKAT, [6]uint64{3, 0, ptr, 64}, retNotify},
		{"stat NULL path", unix.SYS_STAT, [6]uint64{0, ptr}, retNotify},
		{"lstat", unix.SYS_LSTAT, [6]uint64{ptr, ptr}, retNotify},
		{"fstat is not a path call", unix.SYS_FSTAT, [6]uint64{3, ptr}, retAllow},
		{"openat still notified", unix.SYS_OPENAT, [6]uint64{fdcwd, 0}, retNotify},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, fmt.Sprintf("%#x", c.want), fmt.Sprintf("%#x", bpfRun(t, prog, c.nr, x, c.args)))
		})
	}
	t.Run("without stat mediation nothing of the kind is notified", func(t *testing.T) {
		prog, err := Filter(FilterOptions{})
		require.NoError(t, err)
		require.Equal(t, uint32(retAllow), bpfRun(t, prog, unix.SYS_STATX, x, [6]uint64{fdcwd, ptr, empty}))
	})
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		name   string
		notify []int
	}{
		{"a handler claims open", []int{unix.SYS_OPEN}},
		{"a handler claims a denied call", []int{unix.SYS_MOUNT}},
		{"a handler claims the same call twice", []int{unix.SYS_UNAME, unix.SYS_UNAME}},
		{"an x32 number", []int{x32SyscallBit | 1}},
		{"a negative number", []int{-1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildFilter(tt.notify, filterOptions{})
			require.Error(t, err)
		})
	}
}

func TestValidateFilter(t *testing.T) {
	ret := unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: retAllow}
	tests := []struct {
		name string
		prog []unix.SockFilter
	}{
		{"empty", nil},
		{"jump past the end", []unix.SockFilter{{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 5}, ret}},
		{"no final return", []unix.SockFilter{ret, {Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS}}},
		{"load past seccomp_data", []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 64}, ret}},
		{"unaligned load", []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 2}, ret}},
		{"too long", make([]unix.SockFilter, seccomp.MaxInsns+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, validateFilter(tt.prog))
		})
	}
}

// TestNotifiedMatchesFilter checks Notified against the program Filter builds: every call it
// lists as always notified is notified whatever the arguments, every call it lists as sometimes
// notified is for some arguments and not for others, and no other call is ever notified.
func TestNotifiedMatchesFilter(t *testing.T) {
	probes := [][6]uint64{
		{},
		{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)},
		{unix.PR_SET_KEEPCAPS, unix.F_SETOWN},
		{0, unix.F_SETOWN, unix.S_IFCHR},
		{unix.PR_CAP_AMBIENT, unix.F_SETOWN_EX, unix.S_IFREG, unix.S_IFREG},
		{0, unix.S_IFBLK, unix.S_IFBLK},
	}
	for _, o := range []FilterOptions{
		{},
		{Stat: true, Changes: true},
		{Stat: true, Changes: true, Signals: true},
		{Signals: true, SyscallHandlers: []shim.SyscallHandler{fakeSyscalls{unix.SYS_UNAME, unix.SYS_GETDENTS64}}},
		{Stat: true, SyscallHandlers: []shim.SyscallHandler{fakeSyscalls{unix.SYS_GETRANDOM}, fakeRefuser{mmapDroppable}}},
	} {
		prog, err := Filter(o)
		require.NoError(t, err)
		always, sometimes, err := Notified(o)
		require.NoError(t, err)
		kind := map[int]string{}
		for _, nr := range always {
			kind[nr] = "always"
		}
		for _, nr := range sometimes {
			require.Empty(t, kind[nr], "syscall %d listed twice", nr)
			kind[nr] = "sometimes"
		}
		for nr := 0; nr < 512; nr++ {
			notified := 0
			for _, args := range probes {
				if bpfRun(t, prog, int32(nr), auditArchX86_64, args) == retNotify {
					notified++
				}
			}
			switch kind[nr] {
			case "always":
				require.Equal(t, len(probes), notified, "%+v: %s listed as always notified", o, shim.SyscallName(nr))
			case "sometimes":
				require.True(t, notified > 0 && notified < len(probes), "%+v: %s listed as sometimes notified, notified for %d of %d probes",
					o, shim.SyscallName(nr), notified, len(probes))
			default:
				require.Zero(t, notified, "%+v: %s notified but not listed", o, shim.SyscallName(nr))
			}
		}
	}
}

// fakeSyscalls is a syscall handler that only claims numbers.
type fakeSyscalls []int

func (f fakeSyscalls) ID() string      { return "fake" }
func (f fakeSyscalls) Syscalls() []int { return f }
func (f fakeSyscalls) Syscall(context.Context, *shim.Call) (shim.SyscallResult, error) {
	return shim.Continue(), nil
}

// fakeRefuser claims nothing and has the filter refuse by argument.
type fakeRefuser []shim.FilterRefusal

func (f fakeRefuser) ID() string                           { return "fake.refuser" }
func (f fakeRefuser) Syscalls() []int                      { return nil }
func (f fakeRefuser) FilterRefusals() []shim.FilterRefusal { return f }
func (f fakeRefuser) Syscall(context.Context, *shim.Call) (shim.SyscallResult, error) {
	return shim.Continue(), nil
}

// mmapDroppable is the randomness shim's refusal: mmap with MAP_DROPPABLE (type 0x08).
var mmapDroppable = shim.FilterRefusal{Nr: unix.SYS_MMAP, Arg: 3, Mask: 0x0f, Value: 0x08, Errno: unix.ENOMEM}

// TestFilterRefusals: a handler's refusal fails exactly the calls whose argument matches, in
// the filter, on the low word or both words as its mask says; the rest are let through.
func TestFilterRefusals(t *testing.T) {
	wide := shim.FilterRefusal{Nr: unix.SYS_MADVISE, Arg: 2, Mask: 1<<40 | 1, Value: 1 << 40, Errno: unix.EPERM}
	prog, err := Filter(FilterOptions{SyscallHandlers: []shim.SyscallHandler{fakeRefuser{mmapDroppable, wide}}})
	require.NoError(t, err)
	for _, c := range []struct {
		nr   int
		args [6]uint64
		want uint32
	}{
		{unix.SYS_MMAP, [6]uint64{3: 0x08 | unix.MAP_ANONYMOUS}, retErrno(unix.ENOMEM)},
		{unix.SYS_MMAP, [6]uint64{3: 0x08 | 1<<40}, retErrno(unix.ENOMEM)},
		{unix.SYS_MMAP, [6]uint64{3: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}, retAllow},
		{unix.SYS_MMAP, [6]uint64{3: unix.MAP_SHARED_VALIDATE}, retAllow},
		{unix.SYS_MMAP, [6]uint64{2: 0x08}, retAllow},
		{unix.SYS_MADVISE, [6]uint64{2: 1 << 40}, retErrno(unix.EPERM)},
		{unix.SYS_MADVISE, [6]uint64{2: 1<<40 | 1}, retAllow},
		{unix.SYS_MADVISE, [6]uint64{2: 0}, retAllow},
		{unix.SYS_MADVISE, [6]uint64{2: 1<<40 | 2}, retErrno(unix.EPERM)},
		{unix.SYS_OPENAT, [6]uint64{}, retNotify},
	} {
		require.Equal(t, c.want, bpfRun(t, prog, int32(c.nr), auditArchX86_64, c.args), "%s %#x", shim.SyscallName(c.nr), c.args)
	}
	for _, bad := range []shim.FilterRefusal{
		{Nr: unix.SYS_MMAP, Arg: 6, Mask: 1, Value: 1, Errno: unix.EPERM},
		{Nr: unix.SYS_MMAP, Arg: 3, Mask: 1, Value: 2, Errno: unix.EPERM},
		{Nr: unix.SYS_MMAP, Arg: 3, Mask: 0, Value: 0, Errno: unix.EPERM},
		{Nr: unix.SYS_MMAP, Arg: 3, Mask: 1, Value: 1},
		{Nr: unix.SYS_OPENAT, Arg: 3, Mask: 1, Value: 1, Errno: unix.EPERM},
		{Nr: unix.SYS_CLONE, Arg: 3, Mask: 1, Value: 1, Errno: unix.EPERM},
	} {
		_, err := Filter(FilterOptions{SyscallHandlers: []shim.SyscallHandler{fakeRefuser{bad}}})
		require.Error(t, err, "%+v", bad)
		_, err = Rules(FilterOptions{SyscallHandlers: []shim.SyscallHandler{fakeRefuser{bad}}})
		if bad.Nr != unix.SYS_OPENAT && bad.Nr != unix.SYS_CLONE {
			require.Error(t, err, "%+v", bad)
		}
	}
	_, err = Filter(FilterOptions{SyscallHandlers: []shim.SyscallHandler{fakeRefuser{mmapDroppable}, fakeSyscalls{unix.SYS_MMAP}}})
	require.ErrorContains(t, err, "both")
}
