package supervisor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// statBytes is st as the kernel writes a struct stat into the caller (x86_64: unix.Stat_t has
// the kernel's layout).
func statBytes(st *unix.Stat_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(st)), unsafe.Sizeof(*st))
}

// statfsBytes is st as the kernel writes a struct statfs into the caller.
func statfsBytes(st *unix.Statfs_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(st)), unsafe.Sizeof(*st))
}

// statxBytes is st as the kernel writes a struct statx into the caller.
func statxBytes(st *unix.Statx_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(st)), unsafe.Sizeof(*st))
}
