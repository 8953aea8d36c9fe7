package resolver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The ops other than open, performed on the object a Resolution found: the kernel's own call
// on the walk's O_PATH descriptor, with an empty path, so the answer is about exactly that
// object whatever happened to the names since. Each runs on the calling OS thread's
// credentials, which the supervisor has set to the caller's; an error the caller should get
// is a bare unix.Errno.

// object returns the descriptor of the resolved object, or ENOENT when it does not exist.
func (res *Resolution) object() (int, error) {
	t := &res.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return -1, unix.EBADF
	}
	if !t.obj.Exists || t.h.fd < 0 {
		return -1, unix.ENOENT
	}
	return t.h.fd, nil
}

// Stat fills st as fstatat would for the object (stat, lstat, newfstatat).
func (res *Resolution) Stat(st *unix.Stat_t) error {
	fd, err := res.object()
	if err != nil {
		return err
	}
	return unix.Fstatat(fd, "", st, unix.AT_EMPTY_PATH)
}

// Statx fills st as statx would for the object, with the caller's sync flags and mask.
func (res *Resolution) Statx(flags int, mask uint32, st *unix.Statx_t) error {
	fd, err := res.object()
	if err != nil {
		return err
	}
	return unix.Statx(fd, "", unix.AT_EMPTY_PATH|flags&atStatxSyncType, int(mask), st)
}

// Statfs fills st as statfs would for the object's filesystem.
func (res *Resolution) Statfs(st *unix.Statfs_t) error {
	fd, err := res.object()
	if err != nil {
		return err
	}
	return unix.Fstatfs(fd, st)
}

// Access checks mode on the object as faccessat2 with AT_EACCESS would: against the calling
// thread's fsuid, fsgid and effective capabilities. access(2)'s use of the real ids is the
// supervisor's to set up.
func (res *Resolution) Access(mode uint32) error {
	fd, err := res.object()
	if err != nil {
		return err
	}
	return unix.Faccessat2(fd, "", mode, unix.AT_EMPTY_PATH|unix.AT_EACCESS)
}

// Readlink reads the symbolic link the walk stopped on into buf and returns its length,
// truncated to buf as readlink(2) does. Anything else is EINVAL. A procfs magic link's text
// names its target as the caller sees it from its root, which the kernel would have printed
// from the supervisor's.
func (res *Resolution) Readlink(buf []byte) (int, error) {
	fd, err := res.object()
	if err != nil {
		return 0, err
	}
	if res.Request.Object.Mode&unix.S_IFMT != unix.S_IFLNK {
		// do_readlinkat: an empty path names a descriptor that is no link: ENOENT.
		if len(res.Request.Spelled) == 0 {
			return 0, unix.ENOENT
		}
		return 0, unix.EINVAL
	}
	req := &res.Request
	if req.Object.FsType == unix.PROC_SUPER_MAGIC && req.Object.Ino != 0 {
		// Read by scrim, these would name scrim; the caller is meant, by the numbers its
		// procfs knows it by (a container's own pid namespace), as the walk follows them.
		pid, tid := res.t.r.procNumbers(req.PID, req.TID)
		switch req.Object.Ino {
		case res.t.r.selfIno:
			return copy(buf, strconv.AppendInt(nil, int64(pid), 10)), nil
		case res.t.r.threadSelfIno:
			text := strconv.AppendInt(nil, int64(pid), 10)
			text = strconv.AppendInt(append(text, "/task/"...), int64(tid), 10)
			return copy(buf, text), nil
		}
	}
	var full [unix.PathMax]byte
	n, err := unix.Readlinkat(fd, "", full[:])
	if err != nil {
		return 0, err
	}
	text := full[:n]
	if res.Request.Object.FsType == unix.PROC_SUPER_MAGIC && !res.t.r.shared && len(text) > 0 && text[0] == '/' {
		rp := res.t.r.rootPath
		if bytes.Equal(text, rp) {
			text = []byte{'/'}
		} else if bytes.HasPrefix(text, rp) && text[len(rp)] == '/' {
			text = text[len(rp):]
		}
	}
	return copy(buf, text), nil
}

// Chdir checks what chdir(2) checks of the object before it becomes the working directory: a
// directory (ENOTDIR) the caller may search (EACCES).
func (res *Resolution) Chdir() error {
	fd, err := res.object()
	if err != nil {
		return err
	}
	if res.Request.Object.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	return unix.Faccessat2(fd, "", unix.X_OK, unix.AT_EMPTY_PATH|unix.AT_EACCESS)
}

// Getxattr reads the object's extended attribute name into buf, or reports its size when buf
// is empty, as getxattr(2) and lgetxattr(2) would: through scrim's /proc/self/fd of the walk's
// descriptor, which reaches exactly that inode, a symbolic link itself included.
func (res *Resolution) Getxattr(name, buf []byte) (int, error) {
	_, n, err := res.procName()
	if err != nil {
		return 0, err
	}
	return unix.Getxattr("/proc/self/fd/"+n, string(name), buf)
}

// Listxattr reads the names of the object's extended attributes into buf, or reports their
// size when buf is empty, as listxattr(2) and llistxattr(2) would.
func (res *Resolution) Listxattr(buf []byte) (int, error) {
	_, n, err := res.procName()
	if err != nil {
		return 0, err
	}
	return unix.Listxattr("/proc/self/fd/"+n, buf)
}

// Watch adds a watch for mask on the object to the inotify instance ifd and returns its
// number, as inotify_add_watch(2) would: through scrim's /proc/self/fd of the walk's
// descriptor, which reaches exactly that inode, a symbolic link itself included (the caller's
// IN_DONT_FOLLOW was the walk's to follow).
func (res *Resolution) Watch(ifd int, mask uint32) (int, error) {
	_, n, err := res.procName()
	if err != nil {
		return 0, err
	}
	return unix.InotifyAddWatch(ifd, "/proc/self/fd/"+n, mask&^unix.IN_DONT_FOLLOW)
}

// The calls that change names and objects. Those that act on a name do it in the directory
// the walk found (a parent lookup keeps it open), so a rename of the directory since changes
// nothing; those that act on an object do it on the walk's descriptor of it, or through
// scrim's /proc/self/fd of that descriptor, which reaches exactly that inode.

// nameAt returns the directory and the name a parent lookup ended on, with the trailing slash
// the caller wrote (the kernel's answer to "unlink f/" depends on it).
func (res *Resolution) nameAt() (int, string, error) {
	t := &res.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return -1, "", unix.EBADF
	}
	if t.parent.fd < 0 {
		if t.missingDir {
			return -1, "", unix.ENOENT
		}
		return -1, "", fmt.Errorf("resolution of %q has no directory", res.Request.Path)
	}
	if t.missingDir {
		return -1, "", unix.ENOENT
	}
	name := string(t.name)
	if t.trailing {
		name += "/"
	}
	return t.parent.fd, name, nil
}

// procName is the name of the object's descriptor in scrim's /proc/self/fd.
func (res *Resolution) procName() (int, string, error) {
	fd, err := res.object()
	if err != nil {
		return -1, "", err
	}
	return res.t.r.procFd, strconv.Itoa(fd), nil
}

// Remove unlinks the name, or removes the directory with AT_REMOVEDIR.
func (res *Resolution) Remove(flags int) error {
	dir, name, err := res.nameAt()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dir, name, flags)
}

// Mkdir makes a directory at the name.
func (res *Resolution) Mkdir(mode uint32) error {
	dir, name, err := res.nameAt()
	if err != nil {
		return err
	}
	return unix.Mkdirat(dir, name, mode)
}

// Mknod makes a node at the name (the filter refuses devices before this).
func (res *Resolution) Mknod(mode uint32, dev int) error {
	dir, name, err := res.nameAt()
	if err != nil {
		return err
	}
	return unix.Mknodat(dir, name, mode, dev)
}

// Symlink makes a symbolic link holding target at the name.
func (res *Resolution) Symlink(target []byte) error {
	dir, name, err := res.nameAt()
	if err != nil {
		return err
	}
	return unix.Symlinkat(string(target), dir, name)
}

// Rename moves the name to the name dst ended on, with renameat2's flags.
func (res *Resolution) Rename(dst *Resolution, flags uint) error {
	dir, name, err := res.nameAt()
	if err != nil {
		return err
	}
	dir2, name2, err := dst.nameAt()
	if err != nil {
		return err
	}
	return unix.Renameat2(dir, name, dir2, name2, flags)
}

// Link gives the object a second name, the one dst ended on. It links scrim's
// /proc/self/fd/N of the object (AT_SYMLINK_FOLLOW reaches exactly that inode), since a link
// from an O_PATH descriptor with AT_EMPTY_PATH takes CAP_DAC_READ_SEARCH.
func (res *Resolution) Link(dst *Resolution) error {
	proc, n, err := res.procName()
	if err != nil {
		return err
	}
	dir2, name2, err := dst.nameAt()
	if err != nil {
		return err
	}
	return unix.Linkat(proc, n, dir2, name2, unix.AT_SYMLINK_FOLLOW)
}

// isLink reports whether the object is a symbolic link: the calls below then act on the link
// itself through its descriptor, never on what it points to.
func (res *Resolution) isLink() bool {
	return res.Request.Object.Exists && res.Request.Object.Mode&unix.S_IFMT == unix.S_IFLNK
}

// Truncate sets the object's length.
func (res *Resolution) Truncate(length int64) error {
	if res.isLink() {
		return unix.ELOOP
	}
	_, n, err := res.procName()
	if err != nil {
		return err
	}
	return unix.Truncate("/proc/self/fd/"+n, length)
}

// Chmod changes the object's mode. A symbolic link's mode cannot be changed (EOPNOTSUPP).
func (res *Resolution) Chmod(mode uint32) error {
	if res.isLink() {
		return unix.EOPNOTSUPP
	}
	proc, n, err := res.procName()
	if err != nil {
		return err
	}
	return unix.Fchmodat(proc, n, mode, 0)
}

// Chown changes the object's owner and group (-1 keeps one), the link itself for a link.
func (res *Resolution) Chown(uid, gid int) error {
	fd, err := res.object()
	if err != nil {
		return err
	}
	return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
}

// Utimes sets the object's times: times holds utimensat's two struct timespec, or is empty
// for "now".
func (res *Resolution) Utimes(times []byte) error {
	var ts []unix.Timespec
	if len(times) == 32 {
		ts = make([]unix.Timespec, 2)
		for i := range ts {
			ts[i].Sec = int64(binary.LittleEndian.Uint64(times[16*i:]))
			ts[i].Nsec = int64(binary.LittleEndian.Uint64(times[16*i+8:]))
		}
	}
	if res.isLink() {
		fd, err := res.object()
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	}
	proc, n, err := res.procName()
	if err != nil {
		return err
	}
	return unix.UtimesNanoAt(proc, n, ts, 0)
}

// Setxattr sets the xattr name of the object; Removexattr removes it. A symbolic link takes
// no user xattrs (EPERM) and scrim does not set others on one.
func (res *Resolution) Setxattr(name, value []byte, flags int) error {
	if res.isLink() {
		return unix.EPERM
	}
	_, n, err := res.procName()
	if err != nil {
		return err
	}
	return unix.Setxattr("/proc/self/fd/"+n, string(name), value, flags)
}

// Removexattr removes the xattr name of the object.
func (res *Resolution) Removexattr(name []byte) error {
	if res.isLink() {
		return unix.EPERM
	}
	_, n, err := res.procName()
	if err != nil {
		return err
	}
	return unix.Removexattr("/proc/self/fd/"+n, string(name))
}

// Change performs a call that changes names or objects (shim.Op.Changes()) as Decode read
// it, on res and, for rename and link, dst (the second path's Resolution). It runs on the
// calling OS thread's credentials; an error the caller should get is a bare unix.Errno.
func Change(in *Input, res, dst *Resolution) error {
	switch in.Syscall {
	case shim.SysUnlink, shim.SysUnlinkat, shim.SysRmdir:
		return res.Remove(in.AtFlags & unix.AT_REMOVEDIR)
	case shim.SysRename, shim.SysRenameat, shim.SysRenameat2:
		return res.Rename(dst, uint(in.Arg))
	case shim.SysLink, shim.SysLinkat:
		return res.Link(dst)
	case shim.SysSymlink, shim.SysSymlinkat:
		return res.Symlink(in.Data)
	case shim.SysMkdir, shim.SysMkdirat:
		return res.Mkdir(uint32(in.Arg))
	case shim.SysMknod, shim.SysMknodat:
		return res.Mknod(uint32(in.Arg), int(in.Arg2))
	case shim.SysTruncate:
		return res.Truncate(int64(in.Arg))
	case shim.SysChmod, shim.SysFchmodat, shim.SysFchmodat2:
		return res.Chmod(uint32(in.Arg))
	case shim.SysChown, shim.SysLchown, shim.SysFchownat:
		return res.Chown(int(int32(in.Arg)), int(int32(in.Arg2)))
	case shim.SysUtime, shim.SysUtimes, shim.SysFutimesat, shim.SysUtimensat:
		return res.Utimes(in.Data)
	case shim.SysSetxattr, shim.SysLsetxattr:
		return res.Setxattr(in.Data, in.Data2, int(in.Arg))
	case shim.SysRemovexattr, shim.SysLremovexattr:
		return res.Removexattr(in.Data)
	}
	return fmt.Errorf("change %s: not a call that changes names or objects", in.Syscall)
}
