package supervisor

// This file is a stand-in for package resolver's decoding and resolution until that package
// provides them; it will be deleted then. It keeps the real open sound (the object is opened
// once by path, then re-opened through its own descriptor), but its canonical path is only
// what the kernel reports for the opened object.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/resolver"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const (
	openHowSizeVer0 = 24
	pathMax         = 4096
)

// interimDecode reads the call's arguments, each byte of child memory once.
func interimDecode(sys shim.Syscall, args [6]uint64, tid, tgid int, mem shim.Memory) (resolver.Input, unix.Errno) {
	in := resolver.Input{Syscall: sys, PID: tgid, TID: tid, Dirfd: unix.AT_FDCWD}
	var pathAddr uint64
	switch sys {
	case shim.SysOpen:
		pathAddr, in.Flags, in.Mode = args[0], uint64(uint32(args[1])), uint64(uint32(args[2]))
	case shim.SysCreat:
		pathAddr, in.Flags, in.Mode = args[0], unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint64(uint32(args[1]))
	case shim.SysOpenat:
		in.Dirfd = int32(args[0])
		pathAddr, in.Flags, in.Mode = args[1], uint64(uint32(args[2])), uint64(uint32(args[3]))
	case shim.SysOpenat2:
		in.Dirfd = int32(args[0])
		pathAddr = args[1]
		size := args[3]
		if size < openHowSizeVer0 {
			return in, unix.EINVAL
		}
		if size > pageSize {
			return in, unix.E2BIG
		}
		how := make([]byte, size)
		if _, err := mem.ReadAt(how, args[2]); err != nil {
			return in, errnoOf(err)
		}
		for _, b := range how[openHowSizeVer0:] {
			if b != 0 {
				return in, unix.E2BIG
			}
		}
		in.Flags = binary.LittleEndian.Uint64(how[0:])
		in.Mode = binary.LittleEndian.Uint64(how[8:])
		in.Resolve = binary.LittleEndian.Uint64(how[16:])
	}
	path, errno := readPath(mem, pathAddr)
	if errno != 0 {
		return in, errno
	}
	in.Path = path
	return in, 0
}

// readPath reads a NUL-terminated path page by page, as strncpy_from_user would.
func readPath(mem shim.Memory, addr uint64) ([]byte, unix.Errno) {
	if addr == 0 {
		return nil, unix.EFAULT
	}
	buf := make([]byte, pathMax)
	got := 0
	for got < pathMax {
		chunk := min(pageSize-int((addr+uint64(got))%pageSize), pathMax-got)
		n, err := mem.ReadAt(buf[got:got+chunk], addr+uint64(got))
		if i := bytes.IndexByte(buf[got:got+n], 0); i >= 0 {
			return buf[:got+i], 0
		}
		got += n
		if err != nil {
			return nil, errnoOf(err)
		}
	}
	return nil, unix.ENAMETOOLONG
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// interimResolve opens the path the child named with the child's base directory, as the
// child (the thread carries its credentials), and describes what it found.
func interimResolve(in resolver.Input, c resolver.Child) (*shim.Request, unix.Errno) {
	req := &shim.Request{
		Syscall: in.Syscall, PID: in.PID, TID: in.TID, Spelled: in.Path, Dirfd: in.Dirfd,
		Flags: int(in.Flags), Mode: uint32(in.Mode), Resolve: in.Resolve,
	}
	if len(in.Path) == 0 {
		return req, unix.ENOENT
	}
	cred, umask, err := c.Cred()
	if err != nil {
		return req, unix.EIO
	}
	req.Cred, req.Umask = cred, umask
	path := selfPath(in.Path, in.PID, in.TID)
	var base *os.File
	switch {
	case path[0] == '/':
		base, err = c.Root()
	case in.Dirfd == unix.AT_FDCWD:
		base, err = c.Cwd()
	default:
		base, err = c.Fd(int(in.Dirfd))
	}
	if err != nil {
		return req, errnoOf(err)
	}
	t := &interimTarget{base: base, path: string(path), resolve: in.Resolve, openat2: in.Syscall == shim.SysOpenat2}
	req.Target = t
	// Probe the object without following a final symlink when the call would not.
	probe := unix.O_PATH | unix.O_CLOEXEC
	if in.Flags&unix.O_NOFOLLOW != 0 || in.Flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
		probe |= unix.O_NOFOLLOW
	}
	fd, perr := unix.Openat2(int(base.Fd()), t.path, &unix.OpenHow{Flags: uint64(probe), Resolve: in.Resolve})
	if perr == nil {
		t.obj = os.NewFile(uintptr(fd), "object")
		var st unix.Stat_t
		var sfs unix.Statfs_t
		if unix.Fstat(fd, &st) == nil && unix.Fstatfs(fd, &sfs) == nil {
			req.Object = shim.Object{Exists: true, Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Rdev: st.Rdev, FsType: sfs.Type}
		}
		if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil {
			req.Path = []byte(link)
		}
	} else if perr == unix.ENOENT && in.Flags&unix.O_CREAT != 0 {
		req.Path = path
	} else {
		// Let the real open report the kernel's own errno.
		req.Path = path
	}
	return req, 0
}

func selfPath(p []byte, pid, tid int) []byte {
	for _, sub := range []struct{ from, to string }{
		{"/proc/thread-self", fmt.Sprintf("/proc/%d/task/%d", pid, tid)},
		{"/proc/self", "/proc/" + strconv.Itoa(pid)},
		{"/dev/fd", fmt.Sprintf("/proc/%d/fd", pid)},
		{"/dev/stdin", fmt.Sprintf("/proc/%d/fd/0", pid)},
		{"/dev/stdout", fmt.Sprintf("/proc/%d/fd/1", pid)},
		{"/dev/stderr", fmt.Sprintf("/proc/%d/fd/2", pid)},
	} {
		if bytes.HasPrefix(p, []byte(sub.from)) && (len(p) == len(sub.from) || p[len(sub.from)] == '/') {
			return append([]byte(sub.to), p[len(sub.from):]...)
		}
	}
	return p
}

type interimTarget struct {
	base    *os.File
	obj     *os.File
	path    string
	resolve uint64
	openat2 bool
}

func (t *interimTarget) Open(flags int, mode uint32) (*os.File, error) {
	flags |= unix.O_CLOEXEC
	var fd int
	var err error
	if t.openat2 {
		fd, err = unix.Openat2(int(t.base.Fd()), t.path, &unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: t.resolve})
	} else {
		fd, err = unix.Openat(int(t.base.Fd()), t.path, flags, mode)
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), t.path), nil
}

func (t *interimTarget) close() {
	t.base.Close()
	if t.obj != nil {
		t.obj.Close()
	}
}
