package resolver

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
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
		// Read by scrim, these would name scrim.
		switch req.Object.Ino {
		case res.t.r.selfIno:
			return copy(buf, strconv.AppendInt(nil, int64(req.PID), 10)), nil
		case res.t.r.threadSelfIno:
			text := strconv.AppendInt(nil, int64(req.PID), 10)
			text = strconv.AppendInt(append(text, "/task/"...), int64(req.TID), 10)
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
