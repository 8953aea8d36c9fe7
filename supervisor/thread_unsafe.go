package supervisor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// capHeader and capData mirror the capget/capset structures (version 3: two 32-bit words).
type capHeader struct {
	Version uint32
	Pid     int32
}

type capData struct {
	Effective, Permitted, Inheritable uint32
}

const linuxCapabilityVersion3 = 0x20080522

// capGet reads the calling thread's capability sets.
func capGet() ([2]capData, unix.Errno) {
	h := capHeader{Version: linuxCapabilityVersion3}
	var d [2]capData
	_, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0)
	return d, e
}

// capSet sets the calling thread's capability sets; only this thread changes (the raw call,
// not a libc wrapper that would broadcast to every thread).
func capSet(d [2]capData) unix.Errno {
	h := capHeader{Version: linuxCapabilityVersion3}
	_, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0)
	return e
}

// setgroupsThread sets this thread's supplementary groups only.
func setgroupsThread(groups []uint32) unix.Errno {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	_, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0)
	return e
}

// processVMRead reads len(p) bytes at addr in pid's memory.
func processVMRead(pid int, p []byte, addr uint64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	local := []unix.Iovec{{Base: &p[0], Len: uint64(len(p))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(p)}}
	return unix.ProcessVMReadv(pid, local, remote, 0)
}

func processVMWrite(pid int, p []byte, addr uint64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	local := []unix.Iovec{{Base: &p[0], Len: uint64(len(p))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(p)}}
	return unix.ProcessVMWritev(pid, local, remote, 0)
}
