package kernel

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func probeProcessVMReadv() bool {
	src := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	var dst [8]byte
	local := []unix.Iovec{{Base: &dst[0], Len: 8}}
	remote := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&src[0])), Len: 8}}
	n, err := unix.ProcessVMReadv(unix.Getpid(), local, remote, 0)
	return err == nil && n == 8 && dst == src
}
