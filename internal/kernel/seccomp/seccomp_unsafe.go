// Package seccomp is scrim's interface to the kernel's seccomp user notification: the structs
// and ioctls of linux/seccomp.h that golang.org/x/sys lacks, and installing a filter. It is the
// one package that uses unsafe for seccomp. It holds mechanism, not policy: which calls a
// filter notifies and what an answer says belong to the callers (supervisor's filter.go and
// handle.go), so a listener whose filter someone else wrote is served through the same calls.
package seccomp

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxInsns is BPF_MAXINSNS, the longest filter the kernel accepts.
const MaxInsns = 4096

// Data mirrors struct seccomp_data.
type Data struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// Notif mirrors struct seccomp_notif (80 bytes).
type Notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  Data
}

// NotifResp mirrors struct seccomp_notif_resp (24 bytes).
type NotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// NotifAddfd mirrors struct seccomp_notif_addfd (24 bytes).
type NotifAddfd struct {
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

// SetModeFilter installs prog on the calling thread with seccomp(SECCOMP_SET_MODE_FILTER,
// flags) and returns what the kernel returned: a listener with
// SECCOMP_FILTER_FLAG_NEW_LISTENER. The caller has set no_new_privs (or holds
// CAP_SYS_ADMIN) and, since the filter is the thread's, has locked it to its goroutine.
func SetModeFilter(prog []unix.SockFilter, flags uintptr) (int, unix.Errno) {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	return int(r), e
}

func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) unix.Errno {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
		if e != unix.EINTR {
			return e
		}
	}
}

// Recv receives one notification. The kernel wants the buffer zeroed (EINVAL otherwise).
func Recv(fd int, n *Notif) unix.Errno {
	*n = Notif{}
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// Send answers a notification.
func Send(fd int, r *NotifResp) unix.Errno {
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(r))
}

// IDValid reports whether the notification id still waits for an answer: the thread has
// not been interrupted, and so its pid and memory still belong to the call.
func IDValid(fd int, id uint64) bool {
	return ioctlPtr(fd, ioctlNotifIDValid, unsafe.Pointer(&id)) == 0
}

// AddfdSend installs src in the target and answers the call with the new fd number. The
// caller must run on a goroutine locked to its thread that blocked the asynchronous signals
// (BlockAsyncSignals).
//
// With SEND the kernel marks the call answered before the child takes the descriptor. A signal
// that interrupts the wait in between withdraws the descriptor but not the answer: the child's
// call returns 0, a descriptor it never opened, and the retry fails with EINPROGRESS
// (seccomp_notify_addfd in kernel/seccomp.c). So no signal may interrupt it.
func AddfdSend(fd int, id uint64, src int, cloexec bool) (int, unix.Errno) {
	a := NotifAddfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(src)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifAddfd, uintptr(unsafe.Pointer(&a)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// BlockAsyncSignals blocks every signal on the calling thread but those the thread's own
// faults raise (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), which the kernel delivers
// even when blocked, by resetting their handler: blocking them would turn a Go panic into a
// crash. It is for a thread locked for life to a goroutine that answers notifications: no
// signal can then interrupt ADDFD with SEND (AddfdSend), and the mask costs no system call per
// answer. Signals meant for the process go to its other threads; the runtime's preemption
// signal for this thread waits, and the goroutine is preempted at its next function call.
func BlockAsyncSignals() error {
	mask := blockAll
	for _, sig := range []unix.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS} {
		n := uint(sig) - 1
		mask.Val[n/64] &^= 1 << (n % 64)
	}
	return unix.PthreadSigmask(unix.SIG_SETMASK, &mask, nil)
}

// blockAll is every signal; the kernel ignores SIGKILL and SIGSTOP in a mask.
var blockAll = unix.Sigset_t{Val: [16]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0),
	^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}}

// Addfd installs a descriptor as a describes, returning its number in the target.
func Addfd(fd int, a *NotifAddfd) (int, unix.Errno) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifAddfd, uintptr(unsafe.Pointer(a)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// SetSyncWakeUp sets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on the listener (6.6): an answer
// wakes the child on the answering CPU.
func SetSyncWakeUp(fd int) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifSetFlags, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	return e
}
