package builtin

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// getdents runs the call nr (getdents64 or getdents) on f into buf.
func getdents(nr int, f *os.File, buf []byte) (int, unix.Errno) {
	var p unsafe.Pointer
	var one byte
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	} else {
		p = unsafe.Pointer(&one) // the kernel answers EINVAL for a zero count
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, unix.EBADF
	}
	var n uintptr
	var errno unix.Errno
	cerr := rc.Control(func(fd uintptr) {
		for {
			n, _, errno = unix.Syscall(uintptr(nr), fd, uintptr(p), uintptr(len(buf)))
			if errno != unix.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		return 0, unix.EBADF
	}
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// schedGetaffinityRaw is sched_getaffinity returning the kernel's answer, the length of its
// cpumask, which unix.SchedGetaffinity hides.
func schedGetaffinityRaw(pid int, set *unix.CPUSet) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, uintptr(pid),
		unsafe.Sizeof(*set), uintptr(unsafe.Pointer(set)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
