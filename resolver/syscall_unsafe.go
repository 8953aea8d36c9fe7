package resolver

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The resolver's paths are bytes read from the child and may hold any byte but NUL. These thin
// wrappers take NUL-terminated byte slices so that the hot path neither converts to string nor
// allocates; golang.org/x/sys/unix only offers string forms.

// cpath returns p followed by a NUL, reusing buf's storage when it is large enough.
func cpath(buf []byte, p []byte) []byte {
	buf = append(buf[:0], p...)
	return append(buf, 0)
}

func openat(dirfd int, pathz []byte, flags int, mode uint32) (int, error) {
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd),
		uintptr(unsafe.Pointer(&pathz[0])), uintptr(flags|unix.O_CLOEXEC), uintptr(mode), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func openat2(dirfd int, pathz []byte, how *unix.OpenHow) (int, error) {
	how.Flags |= unix.O_CLOEXEC
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT2, uintptr(dirfd),
		uintptr(unsafe.Pointer(&pathz[0])), uintptr(unsafe.Pointer(how)),
		unsafe.Sizeof(*how), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

var emptyz = []byte{0}

// readlinkFd reads the target of the symlink that fd (an O_PATH|O_NOFOLLOW descriptor)
// names, appending it to buf.
func readlinkFd(fd int, buf []byte) ([]byte, error) {
	return readlinkat(fd, emptyz, buf)
}

func readlinkat(dirfd int, pathz []byte, buf []byte) ([]byte, error) {
	start := len(buf)
	for size := 256; ; size *= 4 {
		if cap(buf)-start < size {
			nb := make([]byte, start, start+size)
			copy(nb, buf)
			buf = nb
		}
		room := buf[start:cap(buf)]
		n, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd),
			uintptr(unsafe.Pointer(&pathz[0])), uintptr(unsafe.Pointer(&room[0])),
			uintptr(len(room)), 0, 0)
		if e != 0 {
			return buf[:start], e
		}
		if int(n) < len(room) {
			return buf[:start+int(n)], nil
		}
		if size > unix.PathMax*4 {
			return buf[:start], unix.ENAMETOOLONG
		}
	}
}

// statFd returns the identity of the object fd refers to, symlinks included.
func statFd(fd int, st *unix.Statx_t) error {
	_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(fd), uintptr(unsafe.Pointer(&emptyz[0])),
		uintptr(unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC),
		uintptr(unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_UID|unix.STATX_INO|unix.STATX_MNT_ID),
		uintptr(unsafe.Pointer(st)), 0)
	if e != 0 {
		return e
	}
	return nil
}
