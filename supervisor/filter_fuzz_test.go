package supervisor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
)

// cbpf is a classic BPF interpreter for seccomp programs, written from the kernel's own
// definition (net/core/filter.c, bpf_check_classic and seccomp_check_filter in
// kernel/seccomp.c) rather than from what buildFilter happens to emit: it knows every ALU,
// jump, load and store instruction seccomp accepts, so a change to the assembler that emits
// something new is still interpreted, and one that emits something seccomp refuses is an
// error here too.
type cbpf struct {
	prog []unix.SockFilter
}

var errCBPF = errors.New("cbpf")

// check is seccomp_check_filter plus the generic checks of bpf_check_classic.
func (c cbpf) check() error {
	n := len(c.prog)
	if n == 0 || n > seccomp.MaxInsns {
		return fmt.Errorf("%w: length %d", errCBPF, n)
	}
	for pc, in := range c.prog {
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			// seccomp: only aligned 32-bit loads inside struct seccomp_data.
			if in.K >= 64 || in.K&3 != 0 {
				return fmt.Errorf("%w: %d: load at %d", errCBPF, pc, in.K)
			}
		case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN, unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN,
			unix.BPF_RET | unix.BPF_K, unix.BPF_RET | unix.BPF_A,
			unix.BPF_LD | unix.BPF_IMM, unix.BPF_LDX | unix.BPF_IMM,
			unix.BPF_MISC | unix.BPF_TAX, unix.BPF_MISC | unix.BPF_TXA:
		case unix.BPF_LD | unix.BPF_MEM, unix.BPF_LDX | unix.BPF_MEM, unix.BPF_ST, unix.BPF_STX:
			if in.K >= 16 {
				return fmt.Errorf("%w: %d: scratch slot %d", errCBPF, pc, in.K)
			}
		case unix.BPF_JMP | unix.BPF_JA:
			if uint64(pc)+1+uint64(in.K) >= uint64(n) {
				return fmt.Errorf("%w: %d: ja out of the program", errCBPF, pc)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_X,
			unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X,
			unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_X:
			if pc+1+int(in.Jt) >= n || pc+1+int(in.Jf) >= n {
				return fmt.Errorf("%w: %d: conditional jump out of the program", errCBPF, pc)
			}
		default:
			if in.Code&0x07 == unix.BPF_ALU {
				op := in.Code & 0xf0
				if (op == unix.BPF_DIV || op == unix.BPF_MOD) && in.Code&0x08 == unix.BPF_K && in.K == 0 {
					return fmt.Errorf("%w: %d: division by constant zero", errCBPF, pc)
				}
				continue
			}
			return fmt.Errorf("%w: %d: opcode %#x refused by seccomp", errCBPF, pc, in.Code)
		}
	}
	switch c.prog[n-1].Code {
	case unix.BPF_RET | unix.BPF_K, unix.BPF_RET | unix.BPF_A:
	default:
		return fmt.Errorf("%w: does not end in a return", errCBPF)
	}
	return nil
}

// run interprets the program over one struct seccomp_data (native byte order, as seccomp
// presents it).
func (c cbpf) run(data *[64]byte) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(c.prog); pc++ {
		in := c.prog[pc]
		src := in.K
		if in.Code&0x08 == unix.BPF_X {
			src = x
		}
		switch in.Code & 0x07 {
		case unix.BPF_LD:
			switch in.Code & 0xe0 {
			case unix.BPF_ABS:
				a = binary.LittleEndian.Uint32(data[in.K:])
			case unix.BPF_LEN:
				a = 64
			case unix.BPF_IMM:
				a = in.K
			case unix.BPF_MEM:
				a = mem[in.K]
			}
		case unix.BPF_LDX:
			switch in.Code & 0xe0 {
			case unix.BPF_LEN:
				x = 64
			case unix.BPF_IMM:
				x = in.K
			case unix.BPF_MEM:
				x = mem[in.K]
			}
		case unix.BPF_ST:
			mem[in.K] = a
		case unix.BPF_STX:
			mem[in.K] = x
		case unix.BPF_ALU:
			switch in.Code & 0xf0 {
			case unix.BPF_ADD:
				a += src
			case unix.BPF_SUB:
				a -= src
			case unix.BPF_MUL:
				a *= src
			case unix.BPF_DIV:
				if src == 0 {
					return 0, nil // the kernel's cBPF returns 0 (kill) on division by zero
				}
				a /= src
			case unix.BPF_MOD:
				if src == 0 {
					return 0, nil
				}
				a %= src
			case unix.BPF_AND:
				a &= src
			case unix.BPF_OR:
				a |= src
			case unix.BPF_XOR:
				a ^= src
			case unix.BPF_LSH:
				a <<= src & 31
			case unix.BPF_RSH:
				a >>= src & 31
			case unix.BPF_NEG:
				a = -a
			}
		case unix.BPF_JMP:
			var cond bool
			switch in.Code & 0xf0 {
			case unix.BPF_JA:
				pc += int(in.K)
				continue
			case unix.BPF_JEQ:
				cond = a == src
			case unix.BPF_JGT:
				cond = a > src
			case unix.BPF_JGE:
				cond = a >= src
			case unix.BPF_JSET:
				cond = a&src != 0
			}
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET:
			if in.Code&0x18 == unix.BPF_A {
				return a, nil
			}
			return in.K, nil
		case unix.BPF_MISC:
			if in.Code&0xf8 == unix.BPF_TAX {
				x = a
			} else {
				a = x
			}
		}
	}
	return 0, fmt.Errorf("%w: ran off the end", errCBPF)
}

// fuzzSeccompData lays out struct seccomp_data for x86_64.
func fuzzSeccompData(nr int32, arch uint32, ip uint64, args [6]uint64) *[64]byte {
	var d [64]byte
	binary.LittleEndian.PutUint32(d[0:], uint32(nr))
	binary.LittleEndian.PutUint32(d[4:], arch)
	binary.LittleEndian.PutUint64(d[8:], ip)
	for i, v := range args {
		binary.LittleEndian.PutUint64(d[16+8*i:], v)
	}
	return &d
}

// designDenied are the bypass calls scrim denies by design, spelled here independently of
// filter.go's table: each must be refused whatever errno the table picks.
var designDenied = []int{
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT,
	unix.SYS_FSPICK, unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_MOUNT_SETATTR,
	unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT, unix.SYS_SETNS, unix.SYS_PTRACE,
	unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_BPF, unix.SYS_USERFAULTFD,
	unix.SYS_PERF_EVENT_OPEN, unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	// The channels out of the sandbox that docs/security.md lists.
	unix.SYS_PIDFD_GETFD, unix.SYS_SYSLOG, unix.SYS_FANOTIFY_INIT, unix.SYS_ACCT,
}

// specKeyring are the keyring calls, refused unless the filter allows them.
var specKeyring = []int{250 /* keyctl */, 248 /* add_key */, 249 /* request_key */}

// The calls that signal a process by number, spelled independently of filter.go.
var specKillFamily = []int{62 /* kill */, 200 /* tkill */, 234 /* tgkill */, 129 /* rt_sigqueueinfo */, 297 /* rt_tgsigqueueinfo */, 434 /* pidfd_open */}

// Terminal requests, owner requests and device types, spelled independently of filter.go.
const (
	specFSETOWN   = 8
	specFSETOWNEX = 15
	specFIOSETOWN = 0x8901
	specSIOCSPGRP = 0x8902
	specTIOCSTI   = 0x5412
	specTIOCLINUX = 0x541c
	specIFMT      = 0o170000
	specIFCHR     = 0o020000
	specIFBLK     = 0o060000
)

// The namespace flags, spelled independently of filter.go: clone(2) reads only the low 32
// bits of its flags, where CLONE_NEWTIME's bit is part of the exit signal byte.
const (
	specCloneNS = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
	specUnshareNS = specCloneNS | unix.CLONE_NEWTIME
)

// verdictEither is wantVerdict's answer where the filter may allow the call or refuse it with
// EPERM: the kernel refuses it anyway.
const verdictEither = ^uint32(0)

// verdictEitherNotify is verdictEither where the filter notifies what it does not refuse.
const verdictEitherNotify = ^uint32(1)

// verdictOK reports whether got is what want specifies.
func verdictOK(got, want uint32) bool {
	switch want {
	case verdictEither:
		return got == retAllow || got == retErrno(unix.EPERM)
	case verdictEitherNotify:
		return got == retNotify || got == retErrno(unix.EPERM)
	}
	return got == want
}

// wantVerdict is the filter's specification written out as plain Go, from scrim's design
// rules (the open family, the bypass calls, the namespace flags, the arch rules, all spelled
// here) and, for what is scrim's own choice, filter.go's tables (each denied call's errno,
// the credential calls): the oracle the program is checked against.
//
// signals is buildFilter's: the sandbox's signals are kept in by the filter, not the kernel.
func wantVerdict(extra []int, opts filterOptions, nr int32, arch uint32, args [6]uint64) uint32 {
	signals := opts.signals
	if arch != auditArchX86_64 || uint32(nr)&x32SyscallBit != 0 {
		return retErrno(unix.ENOSYS)
	}
	n := int(uint32(nr))
	// Design rule 7: only a NULL path may skip the supervisor, and only for the stat calls
	// that read NULL as "the descriptor" (Linux 6.11); never on flags.
	if opts.statNull && (n == unix.SYS_NEWFSTATAT || n == unix.SYS_STATX) && slices.Contains(extra, n) && args[1] == 0 {
		return retAllow
	}
	if slices.Contains([]int{unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_CREAT}, n) || slices.Contains(extra, n) {
		return retNotify
	}
	for _, d := range refused(opts) {
		if d.nr == n {
			return retErrno(d.errno)
		}
	}
	if !opts.keyring && slices.Contains(specKeyring, n) {
		return retErrno(unix.EPERM) // missing from the table
	}
	if slices.Contains(designDenied, n) {
		return retErrno(unix.EPERM) // missing from the table: any errno would do, none is there
	}
	if slices.Contains(credCalls, n) {
		return retNotify
	}
	lo0, lo1 := uint32(args[0]), uint32(args[1])
	if signals {
		if slices.Contains(specKillFamily, n) {
			return retNotify
		}
		switch {
		case n == unix.SYS_FCNTL && lo1 == specFSETOWN:
			return retNotify
		case n == unix.SYS_FCNTL && lo1 == specFSETOWNEX:
			return retErrno(unix.EPERM)
		case n == unix.SYS_IOCTL && (lo1 == specFIOSETOWN || lo1 == specSIOCSPGRP):
			return retErrno(unix.EPERM)
		}
	}
	switch n {
	case unix.SYS_CLONE:
		if lo0&specCloneNS != 0 {
			return retErrno(unix.EPERM)
		}
	case unix.SYS_UNSHARE:
		if lo0&specUnshareNS != 0 {
			return retErrno(unix.EPERM)
		}
	case unix.SYS_SECCOMP:
		if lo0 == unix.SECCOMP_SET_MODE_FILTER && lo1&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
			return retErrno(unix.EPERM)
		}
	case unix.SYS_IOCTL:
		if lo1 == specTIOCSTI || lo1 == specTIOCLINUX {
			return retErrno(unix.EPERM)
		}
	case unix.SYS_MKNOD, unix.SYS_MKNODAT:
		mode := lo1
		if n == unix.SYS_MKNODAT {
			mode = uint32(args[2])
		}
		// The kernel refuses every type but these five (and 0, a regular file) with EINVAL;
		// the filter may refuse the invalid ones with EPERM instead.
		switch t := mode & specIFMT; t {
		case specIFCHR, specIFBLK:
			return retErrno(unix.EPERM)
		case 0, unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
			if opts.changes {
				return retNotify // a change scrim decides
			}
		default:
			if opts.changes {
				return verdictEitherNotify
			}
			return verdictEither
		}
	case unix.SYS_PRCTL:
		if slices.Contains(credPrctls, lo0) {
			return retNotify
		}
	}
	return retAllow
}

// notifyList turns fuzz bytes into the syscall numbers handlers claim: two bytes each, with
// the top values standing for the invalid numbers buildFilter must refuse.
func notifyList(b []byte) []int {
	var out []int
	for len(b) >= 2 && len(out) < 32 {
		v := binary.LittleEndian.Uint16(b)
		b = b[2:]
		switch {
		case v == 0xffff:
			out = append(out, -1)
		case v == 0xfffe:
			out = append(out, x32SyscallBit|unix.SYS_OPEN)
		default:
			out = append(out, int(v%1024))
		}
	}
	return out
}

// wantBuildError reports whether buildFilter must refuse extra: a number that is not an
// x86_64 syscall, one claimed twice, or one the filter already gives another meaning.
func wantBuildError(extra []int, opts filterOptions) bool {
	signals := opts.signals
	taken := map[int]bool{sysClone: true, sysUnshare: true, sysSeccomp: true, sysPrctl: true, unix.SYS_IOCTL: true, unix.SYS_MKNOD: true, unix.SYS_MKNODAT: true}
	if signals {
		taken[unix.SYS_FCNTL] = true
		for _, nr := range specKillFamily {
			taken[nr] = true
		}
	}
	for _, d := range refused(opts) {
		taken[d.nr] = true
	}
	for _, nr := range append(append([]int{}, openFamily...), credCalls...) {
		taken[nr] = true
	}
	for _, nr := range extra {
		if nr < 0 || nr >= x32SyscallBit || taken[nr] {
			return true
		}
		taken[nr] = true
	}
	return false
}

// FuzzFilter builds the seccomp program for fuzzed handler claims, checks it as seccomp's own
// checker would, and runs it in cbpf over fuzzed struct seccomp_data: every verdict must be
// the one wantVerdict specifies.
//
//	go test ./supervisor -run '^$' -fuzz '^FuzzFilter$' -fuzztime 10m
func FuzzFilter(f *testing.F) {
	le := func(nrs ...uint16) []byte {
		var b []byte
		for _, n := range nrs {
			b = binary.LittleEndian.AppendUint16(b, n)
		}
		return b
	}
	x := uint32(auditArchX86_64)
	f.Add([]byte(nil), int32(unix.SYS_OPENAT), x, uint64(0), uint64(0))
	f.Add(le(unix.SYS_GETRANDOM, unix.SYS_UNAME), int32(unix.SYS_UNAME), x, uint64(0), uint64(0))
	f.Add(le(unix.SYS_GETDENTS64), int32(unix.SYS_CLONE), x, uint64(unix.CLONE_NEWUSER|1<<40), uint64(0))
	f.Add([]byte(nil), int32(unix.SYS_CLONE), x, uint64(1<<40|unix.SIGCHLD), uint64(0))
	f.Add([]byte(nil), int32(unix.SYS_UNSHARE), x, uint64(unix.CLONE_NEWTIME), uint64(0))
	f.Add([]byte(nil), int32(unix.SYS_SECCOMP), x, uint64(unix.SECCOMP_SET_MODE_FILTER), uint64(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|1<<33))
	f.Add([]byte(nil), int32(unix.SYS_PRCTL), x, uint64(unix.PR_CAP_AMBIENT|1<<32), uint64(0))
	f.Add([]byte(nil), int32(x32SyscallBit|unix.SYS_OPENAT), x, uint64(0), uint64(0))
	f.Add([]byte(nil), int32(5), uint32(auditArchI386), uint64(0), uint64(0))
	f.Add(le(unix.SYS_OPEN), int32(0), x, uint64(0), uint64(0))
	f.Add(le(0xffff), int32(0), x, uint64(0), uint64(0))
	f.Add(le(unix.SYS_UNAME, unix.SYS_UNAME), int32(0), x, uint64(0), uint64(0))
	f.Add([]byte(nil), int32(-1), x, uint64(0), uint64(0))
	f.Add([]byte{0}, int32(unix.SYS_KILL), x, uint64(1), uint64(0))
	f.Add([]byte{1}, int32(unix.SYS_KEYCTL), x, uint64(0), uint64(0))
	f.Add([]byte{2}, int32(unix.SYS_MKNOD), x, uint64(0), uint64(unix.S_IFIFO|0o600))
	f.Add([]byte{2}, int32(unix.SYS_MKNODAT), x, uint64(unix.S_IFCHR), uint64(0))
	f.Add([]byte{0}, int32(unix.SYS_KEYCTL), x, uint64(0), uint64(0))
	f.Add([]byte{0}, int32(unix.SYS_FCNTL), x, uint64(1), uint64(specFSETOWN))
	f.Add([]byte{0}, int32(unix.SYS_FCNTL), x, uint64(1), uint64(specFSETOWNEX|1<<32))
	f.Add([]byte{0}, int32(unix.SYS_IOCTL), x, uint64(1), uint64(specSIOCSPGRP))
	f.Add(le(unix.SYS_KILL), int32(unix.SYS_KILL), x, uint64(1), uint64(0))
	f.Add(append(le(unix.SYS_KILL), 0), int32(unix.SYS_KILL), x, uint64(1), uint64(0))
	f.Add([]byte(nil), int32(unix.SYS_IOCTL), x, uint64(0), uint64(specTIOCSTI|1<<32))
	f.Add([]byte(nil), int32(unix.SYS_IOCTL), x, uint64(1), uint64(unix.TCGETS))
	f.Add([]byte(nil), int32(unix.SYS_MKNOD), x, uint64(0), uint64(specIFCHR|0o600))
	f.Add([]byte(nil), int32(unix.SYS_MKNOD), x, uint64(0), uint64(unix.S_IFIFO|0o600))
	f.Add([]byte(nil), int32(unix.SYS_MKNODAT), x, uint64(specIFBLK), uint64(0))
	f.Add(append(le(unix.SYS_NEWFSTATAT, unix.SYS_STATX), 4), int32(unix.SYS_STATX), x, uint64(3), uint64(0))
	f.Add(append(le(unix.SYS_NEWFSTATAT, unix.SYS_STATX), 4), int32(unix.SYS_NEWFSTATAT), x, uint64(3), uint64(1<<32))
	f.Add(le(unix.SYS_NEWFSTATAT), int32(unix.SYS_NEWFSTATAT), x, uint64(3), uint64(0))

	f.Fuzz(func(t *testing.T, claims []byte, nr int32, arch uint32, a0, a1 uint64) {
		extra := notifyList(claims)
		// An odd byte at the end, which notifyList ignores, asks for the filter that keeps
		// the sandbox's signals in; its low bit, for the one that allows the keyrings.
		opts := filterOptions{signals: len(claims)%2 == 1}
		opts.keyring = opts.signals && claims[len(claims)-1]&1 == 1
		opts.changes = opts.signals && claims[len(claims)-1]&2 == 2
		opts.statNull = opts.signals && claims[len(claims)-1]&4 == 4
		prog, err := buildFilter(extra, opts)
		if wantBuildError(extra, opts) {
			if err == nil {
				t.Fatalf("buildFilter(%v) accepted claims it must refuse", extra)
			}
			return
		}
		if err != nil {
			t.Fatalf("buildFilter(%v): %v", extra, err)
		}
		vm := cbpf{prog}
		if err := vm.check(); err != nil {
			t.Fatalf("buildFilter(%v): seccomp would refuse the program: %v", extra, err)
		}
		// The argument checks look at the low words; the high words and the other
		// arguments are fuzzed through the same values to show they are ignored.
		// Each single bit of the first two arguments is tried as well: the argument rules
		// are flag tests, and one flag alone is what a mask that lost a bit gets wrong.
		variants := [][6]uint64{{a0, a1, a0 ^ a1, a1, a0, ^a0}}
		for i := range 64 {
			variants = append(variants, [6]uint64{1 << i, a1}, [6]uint64{a0, 1 << i})
		}
		// And every syscall number in use, with these arguments.
		for n := int32(0); n < 512; n++ {
			got, err := vm.run(fuzzSeccompData(n, auditArchX86_64, a0, variants[0]))
			if err != nil {
				t.Fatalf("claims %v, nr %d: %v", extra, n, err)
			}
			if want := wantVerdict(extra, opts, n, auditArchX86_64, variants[0]); !verdictOK(got, want) {
				t.Fatalf("claims %v, nr %d, args %#x: verdict %#x, want %#x", extra, n, variants[0], got, want)
			}
		}
		for _, ar := range []uint32{arch, auditArchX86_64} {
			for _, args := range variants {
				got, err := vm.run(fuzzSeccompData(nr, ar, a0, args))
				if err != nil {
					t.Fatalf("claims %v, nr %d, arch %#x: %v", extra, nr, ar, err)
				}
				if want := wantVerdict(extra, opts, nr, ar, args); !verdictOK(got, want) {
					t.Fatalf("claims %v, nr %d, arch %#x, args %#x: verdict %#x, want %#x", extra, nr, ar, args, got, want)
				}
			}
		}
	})
}
