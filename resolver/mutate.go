package resolver

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The calls that change names and objects: their numbers, how Decode reads each, and what
// the kernel refuses before it looks anything up.

// mutations maps the x86_64 numbers of the calls that change names and objects to their
// names in the contract.
var mutations = map[int]shim.Syscall{
	unix.SYS_UNLINK: shim.SysUnlink, unix.SYS_UNLINKAT: shim.SysUnlinkat, unix.SYS_RMDIR: shim.SysRmdir,
	unix.SYS_RENAME: shim.SysRename, unix.SYS_RENAMEAT: shim.SysRenameat, unix.SYS_RENAMEAT2: shim.SysRenameat2,
	unix.SYS_LINK: shim.SysLink, unix.SYS_LINKAT: shim.SysLinkat,
	unix.SYS_SYMLINK: shim.SysSymlink, unix.SYS_SYMLINKAT: shim.SysSymlinkat,
	unix.SYS_MKDIR: shim.SysMkdir, unix.SYS_MKDIRAT: shim.SysMkdirat,
	unix.SYS_MKNOD: shim.SysMknod, unix.SYS_MKNODAT: shim.SysMknodat,
	unix.SYS_TRUNCATE: shim.SysTruncate,
	unix.SYS_CHMOD:    shim.SysChmod, unix.SYS_FCHMODAT: shim.SysFchmodat, sysFchmodat2: shim.SysFchmodat2,
	unix.SYS_CHOWN: shim.SysChown, unix.SYS_LCHOWN: shim.SysLchown, unix.SYS_FCHOWNAT: shim.SysFchownat,
	unix.SYS_UTIME: shim.SysUtime, unix.SYS_UTIMES: shim.SysUtimes, unix.SYS_FUTIMESAT: shim.SysFutimesat,
	unix.SYS_UTIMENSAT: shim.SysUtimensat,
	unix.SYS_SETXATTR:  shim.SysSetxattr, unix.SYS_LSETXATTR: shim.SysLsetxattr,
	unix.SYS_REMOVEXATTR: shim.SysRemovexattr, unix.SYS_LREMOVEXATTR: shim.SysLremovexattr,
	unix.SYS_EXECVE: shim.SysExecve, unix.SYS_EXECVEAT: shim.SysExecveat,
}

// sysFchmodat2 is fchmodat2(2), Linux 6.6; x/sys v0.50.0 names it, but spelled here so the
// table reads as one.
const sysFchmodat2 = 452

// MutationFamily lists the x86_64 numbers of the calls that change names and objects.
func MutationFamily() []int {
	nrs := make([]int, 0, len(mutations))
	for nr := range mutations {
		nrs = append(nrs, nr)
	}
	return nrs
}

// ErrNoPath is Decode's answer for a call of a mediated family that names no path this time
// (utimensat and futimesat on a descriptor, with a NULL path): it acts on a descriptor the
// caller already holds, and the kernel may run it.
var ErrNoPath = errors.New("decode: the call names a descriptor, not a path")

// Limits the kernel applies to xattr arguments (include/uapi/linux/limits.h).
const (
	xattrNameMax = 255
	xattrSizeMax = 65536
)

// decodeMutation reads a call that changes names or objects. The Lookup says how each path
// is walked: the name a call creates, removes or renames is a parent lookup; the object a
// call changes or executes is looked up like a stat, following the last symlink unless the
// call says otherwise.
func decodeMutation(in Input, sys shim.Syscall, args [6]uint64, mem shim.Memory) (Input, error) {
	in.Syscall = sys
	fd := func(i int) int32 { return int32(args[i]) }
	parent := Lookup{Parent: true}
	follow := Lookup{}
	nofollow := Lookup{NoFollow: true}
	var pathAt, path2At uint64
	var err error
	switch sys {
	case shim.SysUnlink, shim.SysRmdir:
		pathAt, in.Lookup = args[0], parent
		if sys == shim.SysRmdir {
			in.AtFlags = unix.AT_REMOVEDIR
		}
	case shim.SysUnlinkat:
		in.Dirfd, pathAt, in.AtFlags, in.Lookup = fd(0), args[1], int(int32(args[2])), parent
		if in.AtFlags&^unix.AT_REMOVEDIR != 0 {
			return Input{}, unix.EINVAL
		}
	case shim.SysRename, shim.SysRenameat, shim.SysRenameat2:
		if sys == shim.SysRename {
			pathAt, path2At = args[0], args[1]
		} else {
			in.Dirfd, pathAt, in.Dirfd2, path2At = fd(0), args[1], fd(2), args[3]
		}
		if sys == shim.SysRenameat2 {
			in.Arg = uint64(uint32(args[4]))
			const valid = unix.RENAME_NOREPLACE | unix.RENAME_EXCHANGE | unix.RENAME_WHITEOUT
			if in.Arg&^valid != 0 || in.Arg&unix.RENAME_EXCHANGE != 0 && in.Arg&(unix.RENAME_NOREPLACE|unix.RENAME_WHITEOUT) != 0 {
				return Input{}, unix.EINVAL
			}
		}
		in.Lookup, in.Lookup2 = parent, parent
	case shim.SysLink, shim.SysLinkat:
		if sys == shim.SysLink {
			pathAt, path2At = args[0], args[1]
			in.Lookup = nofollow
		} else {
			in.Dirfd, pathAt, in.Dirfd2, path2At = fd(0), args[1], fd(2), args[3]
			in.AtFlags = int(int32(args[4]))
			if in.AtFlags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
				return Input{}, unix.EINVAL
			}
			in.Lookup = Lookup{NoFollow: in.AtFlags&unix.AT_SYMLINK_FOLLOW == 0, EmptyPath: in.AtFlags&unix.AT_EMPTY_PATH != 0}
		}
		in.Lookup2 = parent
	case shim.SysSymlink, shim.SysSymlinkat:
		target := args[0]
		if sys == shim.SysSymlink {
			pathAt = args[1]
		} else {
			in.Dirfd, pathAt = fd(1), args[2]
		}
		if in.Data, err = readPath(mem, target, false); err != nil {
			return Input{}, err
		}
		in.Lookup = parent
	case shim.SysMkdir, shim.SysMknod:
		pathAt, in.Arg, in.Arg2, in.Lookup = args[0], uint64(uint16(args[1])), args[2], parent
	case shim.SysMkdirat, shim.SysMknodat:
		in.Dirfd, pathAt, in.Arg, in.Arg2, in.Lookup = fd(0), args[1], uint64(uint16(args[2])), args[3], parent
	case shim.SysTruncate:
		pathAt, in.Arg, in.Lookup = args[0], args[1], follow
		if int64(in.Arg) < 0 {
			return Input{}, unix.EINVAL
		}
	case shim.SysChmod:
		pathAt, in.Arg, in.Lookup = args[0], uint64(uint16(args[1])), follow
	case shim.SysFchmodat, shim.SysFchmodat2:
		in.Dirfd, pathAt, in.Arg = fd(0), args[1], uint64(uint16(args[2]))
		if sys == shim.SysFchmodat2 {
			in.AtFlags = int(int32(args[3]))
			if in.AtFlags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
				return Input{}, unix.EINVAL
			}
		}
		in.Lookup = Lookup{NoFollow: in.AtFlags&unix.AT_SYMLINK_NOFOLLOW != 0, EmptyPath: in.AtFlags&unix.AT_EMPTY_PATH != 0}
	case shim.SysChown, shim.SysLchown:
		pathAt, in.Arg, in.Arg2, in.Lookup = args[0], uint64(uint32(args[1])), uint64(uint32(args[2])), follow
		if sys == shim.SysLchown {
			in.Lookup, in.AtFlags = nofollow, unix.AT_SYMLINK_NOFOLLOW
		}
	case shim.SysFchownat:
		in.Dirfd, pathAt, in.Arg, in.Arg2, in.AtFlags = fd(0), args[1], uint64(uint32(args[2])), uint64(uint32(args[3])), int(int32(args[4]))
		if in.AtFlags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return Input{}, unix.EINVAL
		}
		in.Lookup = Lookup{NoFollow: in.AtFlags&unix.AT_SYMLINK_NOFOLLOW != 0, EmptyPath: in.AtFlags&unix.AT_EMPTY_PATH != 0}
	case shim.SysUtime, shim.SysUtimes, shim.SysFutimesat, shim.SysUtimensat:
		return decodeTimes(in, args, mem)
	case shim.SysSetxattr, shim.SysLsetxattr, shim.SysRemovexattr, shim.SysLremovexattr:
		return decodeXattr(in, args, mem)
	case shim.SysExecve:
		pathAt, in.Lookup = args[0], follow
	case shim.SysExecveat:
		in.Dirfd, pathAt, in.AtFlags = fd(0), args[1], int(int32(args[4]))
		if in.AtFlags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return Input{}, unix.EINVAL
		}
		in.Lookup = Lookup{NoFollow: in.AtFlags&unix.AT_SYMLINK_NOFOLLOW != 0, EmptyPath: in.AtFlags&unix.AT_EMPTY_PATH != 0}
	default:
		return Input{}, fmt.Errorf("decode %s: not a mutation", sys)
	}
	if in.Path, err = readPath(mem, pathAt, in.Lookup.EmptyPath); err != nil {
		return Input{Syscall: in.Syscall, Path: in.Path}, err
	}
	if sys == shim.SysRename || sys == shim.SysRenameat || sys == shim.SysRenameat2 || sys == shim.SysLink || sys == shim.SysLinkat {
		if sys == shim.SysRename || sys == shim.SysLink {
			in.Dirfd2 = unix.AT_FDCWD
		}
		if in.Path2, err = readPath(mem, path2At, false); err != nil {
			return Input{Syscall: in.Syscall, Path: in.Path, Path2: in.Path2}, err
		}
	}
	return in, nil
}

// decodeTimes reads utime, utimes, futimesat and utimensat, turning their times into the two
// struct timespec of utimensat in Data (none for "now"). A NULL path of futimesat and
// utimensat names the descriptor: ErrNoPath.
func decodeTimes(in Input, args [6]uint64, mem shim.Memory) (Input, error) {
	var pathAt, timesAt uint64
	switch in.Syscall {
	case shim.SysUtime, shim.SysUtimes:
		pathAt, timesAt = args[0], args[1]
	case shim.SysFutimesat:
		in.Dirfd, pathAt, timesAt = int32(args[0]), args[1], args[2]
	case shim.SysUtimensat:
		in.Dirfd, pathAt, timesAt, in.AtFlags = int32(args[0]), args[1], args[2], int(int32(args[3]))
		if in.AtFlags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
			return Input{}, unix.EINVAL
		}
	}
	in.Lookup = Lookup{NoFollow: in.AtFlags&unix.AT_SYMLINK_NOFOLLOW != 0, EmptyPath: in.AtFlags&unix.AT_EMPTY_PATH != 0}
	if timesAt != 0 {
		var raw [32]byte
		size := 32
		if in.Syscall == shim.SysUtime {
			size = 16 // struct utimbuf: actime, modtime
		}
		if n, err := mem.ReadAt(raw[:size], timesAt); err != nil || n < size {
			if err != nil && !unreadable(err) {
				return Input{}, fmt.Errorf("read times at %#x: %w", timesAt, err)
			}
			return Input{}, unix.EFAULT
		}
		ts := make([]byte, 32)
		for i := range 2 {
			var sec, nsec int64
			switch in.Syscall {
			case shim.SysUtime:
				sec = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			case shim.SysUtimensat:
				sec = int64(binary.LittleEndian.Uint64(raw[16*i:]))
				nsec = int64(binary.LittleEndian.Uint64(raw[16*i+8:]))
				if nsec != unix.UTIME_NOW && nsec != unix.UTIME_OMIT && (nsec < 0 || nsec > 999999999) {
					return Input{}, unix.EINVAL
				}
			default: // struct timeval
				sec = int64(binary.LittleEndian.Uint64(raw[16*i:]))
				usec := int64(binary.LittleEndian.Uint64(raw[16*i+8:]))
				if usec < 0 || usec >= 1000000 {
					return Input{}, unix.EINVAL
				}
				nsec = usec * 1000
			}
			binary.LittleEndian.PutUint64(ts[16*i:], uint64(sec))
			binary.LittleEndian.PutUint64(ts[16*i+8:], uint64(nsec))
		}
		in.Data = ts
	}
	if pathAt == 0 && (in.Syscall == shim.SysUtimensat || in.Syscall == shim.SysFutimesat) {
		if in.AtFlags&unix.AT_SYMLINK_NOFOLLOW != 0 {
			return Input{}, unix.EINVAL
		}
		return Input{}, ErrNoPath
	}
	var err error
	if in.Path, err = readPath(mem, pathAt, in.Lookup.EmptyPath); err != nil {
		return Input{}, err
	}
	return in, nil
}

// decodeXattr reads setxattr, lsetxattr, removexattr and lremovexattr: the name into Data,
// the value into Data2, the flags into Arg.
func decodeXattr(in Input, args [6]uint64, mem shim.Memory) (Input, error) {
	set := in.Syscall == shim.SysSetxattr || in.Syscall == shim.SysLsetxattr
	if in.Syscall == shim.SysLsetxattr || in.Syscall == shim.SysLremovexattr {
		in.Lookup = Lookup{NoFollow: true}
	}
	if set {
		in.Arg = uint64(uint32(args[4]))
		if in.Arg&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
			return Input{}, unix.EINVAL
		}
	}
	var err error
	if in.Path, err = readPath(mem, args[0], false); err != nil {
		return Input{}, err
	}
	name, err := readPath(mem, args[1], true)
	if err != nil {
		return Input{}, err
	}
	if len(name) == 0 || len(name) > xattrNameMax {
		return Input{}, unix.ERANGE
	}
	in.Data = name
	if set {
		size := args[3]
		if size > xattrSizeMax {
			return Input{}, unix.E2BIG
		}
		value := make([]byte, size)
		if size > 0 {
			if n, err := mem.ReadAt(value, args[2]); err != nil || uint64(n) < size {
				if err != nil && !unreadable(err) {
					return Input{}, fmt.Errorf("read xattr value at %#x: %w", args[2], err)
				}
				return Input{}, unix.EFAULT
			}
		}
		in.Data2 = value
	}
	return in, nil
}
