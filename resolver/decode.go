package resolver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// x86_64 numbers of the open-family calls.
const (
	nrOpen    = unix.SYS_OPEN    // 2
	nrCreat   = unix.SYS_CREAT   // 85
	nrOpenat  = unix.SYS_OPENAT  // 257
	nrOpenat2 = unix.SYS_OPENAT2 // 437
)

// Open flags the kernel spells with leading underscores in include/uapi/asm-generic/fcntl.h
// and that golang.org/x/sys/unix does not name (or names as 0 on amd64).
const (
	oLargefile = 0o100000
	oSync      = 0o4000000 // __O_SYNC; unix.O_SYNC is __O_SYNC|O_DSYNC
	oTmpfile   = 0o20000000
	oFasync    = 0o20000
)

// validOpenFlags mirrors VALID_OPEN_FLAGS in include/linux/fcntl.h for x86_64.
const validOpenFlags = unix.O_RDONLY | unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_EXCL |
	unix.O_NOCTTY | unix.O_TRUNC | unix.O_APPEND | unix.O_NONBLOCK | oSync | unix.O_DSYNC |
	oFasync | unix.O_DIRECT | oLargefile | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME |
	unix.O_CLOEXEC | unix.O_PATH | oTmpfile

// oPathFlags mirrors O_PATH_FLAGS in fs/open.c: the only flags O_PATH keeps.
const oPathFlags = unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_PATH | unix.O_CLOEXEC

// RESOLVE_* bits (include/uapi/linux/openat2.h). RESOLVE_CACHED is missing from x/sys.
const (
	resolveNoXdev       = unix.RESOLVE_NO_XDEV
	resolveNoMagiclinks = unix.RESOLVE_NO_MAGICLINKS
	resolveNoSymlinks   = unix.RESOLVE_NO_SYMLINKS
	resolveBeneath      = unix.RESOLVE_BENEATH
	resolveInRoot       = unix.RESOLVE_IN_ROOT
	resolveCached       = 0x20
	validResolveFlags   = resolveNoXdev | resolveNoMagiclinks | resolveNoSymlinks |
		resolveBeneath | resolveInRoot | resolveCached
)

const (
	sIALLUGO        = 0o7777 // S_IALLUGO: permission, setuid, setgid and sticky bits
	openHowSizeVer0 = 24     // OPEN_HOW_SIZE_VER0
	pathMax         = unix.PathMax
)

var pageSize = uint64(os.Getpagesize())

// Decode reads one open-family call from the registers of a seccomp notification and the
// caller's memory, exactly once: open(path, flags, mode), openat(dirfd, path, flags, mode),
// openat2(dirfd, path, how, size) and creat(path, mode).
//
// It checks what the kernel checks before it looks anything up, in the kernel's order
// (fs/open.c: the syscall entry, build_open_how, copy_struct_from_user, build_open_flags,
// then getname), and fails with the same errno. An error the child should get is returned
// as a bare unix.Errno (see ChildErrno); any other error means scrim could not decode the
// call (for example the notification went away) and the supervisor must fail closed. With an
// error, Input holds no more than the syscall and the paths read before it failed, if any; a
// path longer than PATH_MAX comes back as its first PATH_MAX bytes with ENAMETOOLONG, for the
// audit log (no decision may rest on it).
//
// mem errors that satisfy errors.Is(err, unix.EFAULT) or errors.Is(err, unix.EIO), and short
// reads, are taken to mean the address is not readable in the child: the child gets EFAULT.
func Decode(nr int, args [6]uint64, pid, tid int, mem shim.Memory) (Input, error) {
	in := Input{PID: pid, TID: tid, Dirfd: unix.AT_FDCWD}
	var pathAddr uint64
	switch nr {
	case nrOpen:
		in.Syscall = shim.SysOpen
		pathAddr = args[0]
		in.Flags, in.Mode = buildOpenHow(args[1], args[2])
	case nrCreat:
		in.Syscall = shim.SysCreat
		pathAddr = args[0]
		in.Flags, in.Mode = buildOpenHow(unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, args[1])
	case nrOpenat:
		in.Syscall = shim.SysOpenat
		in.Dirfd = int32(args[0])
		pathAddr = args[1]
		in.Flags, in.Mode = buildOpenHow(args[2], args[3])
	case nrOpenat2:
		in.Syscall = shim.SysOpenat2
		in.Dirfd = int32(args[0])
		pathAddr = args[1]
		how, err := readOpenHow(mem, args[2], args[3])
		if err != nil {
			return Input{}, err
		}
		in.Flags, in.Mode, in.Resolve = how.Flags, how.Mode, how.Resolve
	default:
		if f, ok := statFamily[nr]; ok {
			return decodeStat(in, f, args, mem)
		}
		if sys, ok := mutations[nr]; ok {
			return decodeMutation(in, sys, args, mem)
		}
		return Input{}, fmt.Errorf("decode syscall %d: not a mediated call", nr)
	}
	if err := buildOpenFlags(in.Flags, in.Mode, in.Resolve); err != nil {
		return Input{}, err
	}
	path, err := readPath(mem, pathAddr, false)
	if err != nil {
		return Input{Syscall: in.Syscall, Path: path}, err
	}
	in.Path = path
	in.Lookup = OpenLookup(in.Flags)
	return in, nil
}

// OpenLookup is the lookup an open with flags makes. O_CREAT|O_EXCL never follows a final
// symlink: the call must create the name itself.
func OpenLookup(flags uint64) Lookup {
	return Lookup{
		NoFollow: flags&unix.O_NOFOLLOW != 0 || flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL,
		Create:   flags&unix.O_CREAT != 0,
	}
}

// statCall describes one stat-like call's arguments: which register holds what, -1 for an
// argument the call does not take.
type statCall struct {
	sys                          shim.Syscall
	dirfd, path, flags, arg, out int
	outLen                       int
	// name holds the xattr name the call reads (getxattr), into Input.Data.
	name int
	// flags0 are the AT_* flags the call implies (lstat's AT_SYMLINK_NOFOLLOW).
	flags0 int
}

// statFamily are the stat-like calls by x86_64 number.
var statFamily = map[int]statCall{
	unix.SYS_STAT:              {sys: shim.SysStat, dirfd: -1, path: 0, flags: -1, arg: -1, out: 1, name: -1, outLen: -1},
	unix.SYS_LSTAT:             {sys: shim.SysLstat, dirfd: -1, path: 0, flags: -1, arg: -1, out: 1, name: -1, outLen: -1, flags0: unix.AT_SYMLINK_NOFOLLOW},
	unix.SYS_NEWFSTATAT:        {sys: shim.SysNewfstatat, dirfd: 0, path: 1, flags: 3, arg: -1, out: 2, name: -1, outLen: -1},
	unix.SYS_STATX:             {sys: shim.SysStatx, dirfd: 0, path: 1, flags: 2, arg: 3, out: 4, name: -1, outLen: -1},
	unix.SYS_ACCESS:            {sys: shim.SysAccess, dirfd: -1, path: 0, flags: -1, arg: 1, out: -1, name: -1, outLen: -1},
	unix.SYS_FACCESSAT:         {sys: shim.SysFaccessat, dirfd: 0, path: 1, flags: -1, arg: 2, out: -1, name: -1, outLen: -1},
	unix.SYS_FACCESSAT2:        {sys: shim.SysFaccessat2, dirfd: 0, path: 1, flags: 3, arg: 2, out: -1, name: -1, outLen: -1},
	unix.SYS_READLINK:          {sys: shim.SysReadlink, dirfd: -1, path: 0, flags: -1, arg: -1, out: 1, name: -1, outLen: 2},
	unix.SYS_READLINKAT:        {sys: shim.SysReadlinkat, dirfd: 0, path: 1, flags: -1, arg: -1, out: 2, name: -1, outLen: 3},
	unix.SYS_CHDIR:             {sys: shim.SysChdir, dirfd: -1, path: 0, flags: -1, arg: -1, out: -1, name: -1, outLen: -1},
	unix.SYS_GETXATTR:          {sys: shim.SysGetxattr, dirfd: -1, path: 0, flags: -1, arg: -1, out: 2, name: 1, outLen: 3},
	unix.SYS_LGETXATTR:         {sys: shim.SysLgetxattr, dirfd: -1, path: 0, flags: -1, arg: -1, out: 2, name: 1, outLen: 3, flags0: unix.AT_SYMLINK_NOFOLLOW},
	unix.SYS_LISTXATTR:         {sys: shim.SysListxattr, dirfd: -1, path: 0, flags: -1, arg: -1, out: 1, name: -1, outLen: 2},
	unix.SYS_LLISTXATTR:        {sys: shim.SysLlistxattr, dirfd: -1, path: 0, flags: -1, arg: -1, out: 1, name: -1, outLen: 2, flags0: unix.AT_SYMLINK_NOFOLLOW},
	unix.SYS_STATFS:            {sys: shim.SysStatfs, dirfd: -1, path: 0, flags: -1, arg: -1, out: 1, name: -1, outLen: -1},
	unix.SYS_INOTIFY_ADD_WATCH: {sys: shim.SysInotifyAddWatch, dirfd: -1, path: 1, flags: -1, arg: 2, out: -1, name: -1, outLen: -1},
}

// SyscallOf names the mediated call nr, an open or a stat-like call, or reports that Decode
// does not read it.
func SyscallOf(nr int) (shim.Syscall, bool) {
	switch nr {
	case nrOpen:
		return shim.SysOpen, true
	case nrOpenat:
		return shim.SysOpenat, true
	case nrOpenat2:
		return shim.SysOpenat2, true
	case nrCreat:
		return shim.SysCreat, true
	}
	if c, ok := statFamily[nr]; ok {
		return c.sys, true
	}
	sys, ok := mutations[nr]
	return sys, ok
}

// StatFamily lists the x86_64 numbers of the stat-like calls Decode reads.
func StatFamily() []int {
	nrs := make([]int, 0, len(statFamily))
	for nr := range statFamily {
		nrs = append(nrs, nr)
	}
	return nrs
}

// allInotifyBits are the mask bits inotify_add_watch knows (ALL_INOTIFY_BITS): a mask with
// none of them is EINVAL.
const allInotifyBits = unix.IN_ALL_EVENTS | unix.IN_UNMOUNT | unix.IN_Q_OVERFLOW | unix.IN_IGNORED |
	unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK | unix.IN_MASK_CREATE | unix.IN_MASK_ADD |
	unix.IN_ISDIR | unix.IN_ONESHOT

// AT_* flags the stat-like calls accept (fs/stat.c, fs/open.c).
const (
	atStatxSyncType = 0x6000 // AT_STATX_SYNC_TYPE
	atNoAutomount   = unix.AT_NO_AUTOMOUNT
	statxReserved   = 0x80000000 // STATX__RESERVED
	sIRWXO          = 0o7
)

// decodeStat reads a stat-like call in the kernel's order: faccessat's and readlink's
// argument checks, then getname (an empty path only with AT_EMPTY_PATH, or always for readlinkat,
// and a NULL one with AT_EMPTY_PATH for the stat calls, as since Linux 6.11), then
// statx's and vfs_statx's flag checks.
func decodeStat(in Input, c statCall, args [6]uint64, mem shim.Memory) (Input, error) {
	in.Syscall = c.sys
	if c.dirfd >= 0 {
		in.Dirfd = int32(args[c.dirfd])
	}
	flags := c.flags0
	if c.flags >= 0 {
		flags |= int(int32(args[c.flags]))
	}
	in.AtFlags = flags
	if c.arg >= 0 {
		in.Arg = uint64(uint32(args[c.arg]))
	}
	if c.out >= 0 {
		in.Out = args[c.out]
	}
	if c.outLen >= 0 {
		in.OutLen = args[c.outLen]
	}
	op := c.sys.Op()
	emptyOK := flags&unix.AT_EMPTY_PATH != 0
	switch op {
	case shim.OpAccess:
		if in.Arg&^sIRWXO != 0 || flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return Input{}, unix.EINVAL
		}
	case shim.OpReadlink:
		if int32(in.OutLen) <= 0 {
			return Input{}, unix.EINVAL
		}
		emptyOK = true
	case shim.OpWatch:
		// inotify_add_watch's own checks; the descriptor's, which come before the path in
		// the kernel, are the supervisor's, when it fetches the descriptor to add the watch
		// to. Arg2 is that descriptor's number.
		if in.Arg&unix.IN_MASK_ADD != 0 && in.Arg&unix.IN_MASK_CREATE != 0 || in.Arg&allInotifyBits == 0 {
			return Input{}, unix.EINVAL
		}
		in.Arg2 = uint64(int32(args[0]))
	case shim.OpXattr:
		// The name is read before the path, and must be 1 to 255 bytes (import_xattr_name).
		if c.name >= 0 {
			name, err := readPath(mem, args[c.name], true)
			if errors.Is(err, unix.ENAMETOOLONG) || err == nil && (len(name) == 0 || len(name) > xattrNameMax) {
				return Input{}, unix.ERANGE
			}
			if err != nil {
				return Input{}, err
			}
			in.Data = name
		}
	}
	pathAddr := args[c.path]
	var path []byte
	if !(pathAddr == 0 && op == shim.OpStat && emptyOK) {
		p, err := readPath(mem, pathAddr, emptyOK)
		if err != nil {
			return Input{Syscall: in.Syscall, Path: p}, err
		}
		path = p
	}
	if c.sys == shim.SysStatx && (in.Arg&statxReserved != 0 || flags&atStatxSyncType == atStatxSyncType) {
		return Input{}, unix.EINVAL
	}
	if op == shim.OpStat && flags&^(unix.AT_SYMLINK_NOFOLLOW|atNoAutomount|unix.AT_EMPTY_PATH|atStatxSyncType) != 0 {
		return Input{}, unix.EINVAL
	}
	in.Path = path
	in.Lookup = Lookup{
		NoFollow:  flags&unix.AT_SYMLINK_NOFOLLOW != 0 || op == shim.OpReadlink || op == shim.OpWatch && in.Arg&unix.IN_DONT_FOLLOW != 0,
		EmptyPath: emptyOK,
	}
	return in, nil
}

// ChildErrno reports whether err is an answer for the child rather than a failure of scrim:
// Decode and Resolve return those as bare unix.Errno values.
func ChildErrno(err error) (unix.Errno, bool) {
	e, ok := err.(unix.Errno)
	return e, ok
}

// buildOpenHow mirrors build_open_how in fs/open.c for open, openat and creat, which take
// flags as int and mode as umode_t and silently drop what they do not know.
func buildOpenHow(flags, mode uint64) (uint64, uint64) {
	f := uint64(uint32(flags)) & validOpenFlags
	m := uint64(uint16(mode)) & sIALLUGO
	if f&unix.O_PATH != 0 {
		f &= oPathFlags
	}
	if !willCreate(f) {
		m = 0
	}
	return f, m
}

func willCreate(flags uint64) bool { return flags&(unix.O_CREAT|oTmpfile) != 0 }

// buildOpenFlags mirrors the checks of build_open_flags in fs/open.c (Linux 6.4 and later,
// which refuse O_DIRECTORY|O_CREAT). For open, openat and creat, buildOpenHow has already
// removed what openat2 would refuse.
func buildOpenFlags(flags, mode, resolve uint64) error {
	flags &^= unix.O_CLOEXEC
	if flags&^validOpenFlags != 0 {
		return unix.EINVAL
	}
	if resolve&^validResolveFlags != 0 {
		return unix.EINVAL
	}
	if resolve&resolveBeneath != 0 && resolve&resolveInRoot != 0 {
		return unix.EINVAL
	}
	if willCreate(flags) {
		if mode&^sIALLUGO != 0 {
			return unix.EINVAL
		}
	} else if mode != 0 {
		return unix.EINVAL
	}
	if flags&(unix.O_DIRECTORY|unix.O_CREAT) == unix.O_DIRECTORY|unix.O_CREAT {
		return unix.EINVAL
	}
	if flags&oTmpfile != 0 {
		if flags&unix.O_DIRECTORY == 0 {
			return unix.EINVAL
		}
		// The kernel asks for MAY_WRITE in ACC_MODE, which access mode 3 (O_WRONLY|O_RDWR)
		// includes: only a read-only O_TMPFILE is refused.
		if flags&unix.O_ACCMODE == unix.O_RDONLY {
			return unix.EINVAL
		}
	}
	if flags&unix.O_PATH != 0 && flags&^oPathFlags != 0 {
		return unix.EINVAL
	}
	if resolve&resolveCached != 0 && flags&(unix.O_TRUNC|unix.O_CREAT|oTmpfile) != 0 {
		return unix.EAGAIN
	}
	return nil
}

// readOpenHow mirrors the openat2 syscall entry and copy_struct_from_user: size below
// OPEN_HOW_SIZE_VER0 is EINVAL, above a page E2BIG. Bytes past the struct the kernel knows
// are checked first, in order (check_zeroed_user): a non-zero byte is E2BIG, an unreadable
// one EFAULT, whichever comes first; then the known struct must be readable (EFAULT). The
// memory is read once, one page at a time, and every decision is made on that copy.
func readOpenHow(mem shim.Memory, addr, size uint64) (unix.OpenHow, error) {
	if size < openHowSizeVer0 {
		return unix.OpenHow{}, unix.EINVAL
	}
	if size > pageSize {
		return unix.OpenHow{}, unix.E2BIG
	}
	if addr == 0 || addr+size < addr {
		return unix.OpenHow{}, unix.EFAULT
	}
	buf := make([]byte, size)
	// A struct of at most a page spans at most two pages; holes are the unreadable ranges.
	var holes [2][2]uint64
	nholes := 0
	for off := uint64(0); off < size; {
		n := min(pageSize-(addr+off)%pageSize, size-off)
		r, err := mem.ReadAt(buf[off:off+n], addr+off)
		if err != nil && !unreadable(err) {
			return unix.OpenHow{}, fmt.Errorf("read child memory at %#x: %w", addr+off, err)
		}
		if got := uint64(max(r, 0)); got < n {
			holes[nholes] = [2]uint64{off + got, off + n}
			nholes++
		}
		off += n
	}
	// firstHole is where the first unreadable byte at or after from lies (size if none).
	firstHole := func(from uint64) uint64 {
		at := size
		for _, h := range holes[:nholes] {
			if h[1] > from && max(h[0], from) < at {
				at = max(h[0], from)
			}
		}
		return at
	}
	tailFault := firstHole(openHowSizeVer0)
	for _, b := range buf[openHowSizeVer0:tailFault] {
		if b != 0 {
			return unix.OpenHow{}, unix.E2BIG
		}
	}
	if tailFault < size || firstHole(0) < openHowSizeVer0 {
		return unix.OpenHow{}, unix.EFAULT
	}
	return unix.OpenHow{
		Flags:   binary.LittleEndian.Uint64(buf[0:]),
		Mode:    binary.LittleEndian.Uint64(buf[8:]),
		Resolve: binary.LittleEndian.Uint64(buf[16:]),
	}, nil
}

func unreadable(err error) bool {
	return errors.Is(err, unix.EFAULT) || errors.Is(err, unix.EIO)
}

// readPath mirrors getname (fs/namei.c) for open's path argument: it reads up to PATH_MAX
// bytes up to the first NUL, one page at a time so that a string ending just before an
// unmapped page is read whole, and never reads past the NUL's page. NULL or unreadable
// before the NUL is EFAULT, no NUL within PATH_MAX bytes is ENAMETOOLONG, and an empty
// path is ENOENT.
// pathBufs holds readPath's scratch buffers.
var pathBufs = sync.Pool{New: func() any { return new([pathMax]byte) }}

// emptyOK returns an empty path (a zero-length, non-nil slice) where getname with LOOKUP_EMPTY
// would accept it.
func readPath(mem shim.Memory, addr uint64, emptyOK bool) ([]byte, error) {
	if addr == 0 {
		return nil, unix.EFAULT
	}
	// The buffer goes to an interface method, so it would escape: a fresh 4 KiB zeroed on
	// the heap per open was two thirds of what an open allocated.
	buf := pathBufs.Get().(*[pathMax]byte)
	defer pathBufs.Put(buf)
	got := 0
	for got < pathMax {
		at := addr + uint64(got)
		if at < addr {
			return nil, unix.EFAULT
		}
		n := int(pageSize - at%pageSize)
		if n > pathMax-got {
			n = pathMax - got
		}
		chunk := buf[got : got+n]
		r, err := mem.ReadAt(chunk, at)
		if err != nil && !unreadable(err) {
			return nil, fmt.Errorf("read child memory at %#x: %w", at, err)
		}
		if r > n {
			r = n
		}
		for i, b := range chunk[:r] {
			if b == 0 {
				if got+i == 0 {
					if emptyOK {
						return []byte{}, nil
					}
					return nil, unix.ENOENT
				}
				out := make([]byte, got+i)
				copy(out, buf[:got+i])
				return out, nil
			}
		}
		if r < n {
			return nil, unix.EFAULT
		}
		got += n
	}
	// What was read goes with the error, for the audit log: the kernel read as far, and
	// refused.
	return append([]byte(nil), buf[:]...), unix.ENAMETOOLONG
}
