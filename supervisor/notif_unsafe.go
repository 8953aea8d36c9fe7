package supervisor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompData mirrors struct seccomp_data.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// notif mirrors struct seccomp_notif (80 bytes).
type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

// notifResp mirrors struct seccomp_notif_resp (24 bytes).
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// notifAddfd mirrors struct seccomp_notif_addfd (24 bytes).
type notifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// Ioctl numbers x/sys lacks, _IOW('!', nr, size) as in linux/seccomp.h.
const (
	ioctlNotifIDValid  = 0x40082102
	ioctlNotifAddfd    = 0x40182103
	ioctlNotifSetFlags = 0x40082104
)

func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) unix.Errno {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
		if e != unix.EINTR {
			return e
		}
	}
}

// notifRecv receives one notification. The kernel wants the buffer zeroed (EINVAL otherwise).
func notifRecv(fd int, n *notif) unix.Errno {
	*n = notif{}
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

func notifSend(fd int, r *notifResp) unix.Errno {
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(r))
}

// notifIDValid reports whether the notification id still waits for an answer: the thread has
// not been interrupted, and so its pid and memory still belong to the call.
func notifIDValid(fd int, id uint64) bool {
	return ioctlPtr(fd, ioctlNotifIDValid, unsafe.Pointer(&id)) == 0
}

// notifAddfdSend installs src in the target and answers the call with the new fd number.
func notifAddfdSend(fd int, id uint64, src int, cloexec bool) (int, unix.Errno) {
	a := notifAddfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(src)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	// With SEND the kernel marks the call answered before the child takes the descriptor. A
	// signal that interrupts the wait in between withdraws the descriptor but not the answer:
	// the child's call returns 0, a descriptor it never opened, and the retry fails with
	// EINPROGRESS (seccomp_notify_addfd in kernel/seccomp.c). So no signal may interrupt it:
	// they wait on this thread, a worker locked to it, for the length of the ioctl.
	var old unix.Sigset_t
	unix.PthreadSigmask(unix.SIG_BLOCK, &blockAll, &old)
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifAddfd, uintptr(unsafe.Pointer(&a)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// blockAll is every signal; the kernel ignores SIGKILL and SIGSTOP in a mask.
var blockAll = unix.Sigset_t{Val: [16]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0),
	^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}}

// notifAddfdRaw installs a descriptor as a describes, returning its number in the target.
func notifAddfdRaw(fd int, a *notifAddfd) (int, unix.Errno) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifAddfd, uintptr(unsafe.Pointer(a)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

func notifSetSyncWakeUp(fd int) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifSetFlags, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	return e
}

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
