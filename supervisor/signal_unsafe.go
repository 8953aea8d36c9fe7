package supervisor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// queuedSiginfo is the siginfo_t of a signal queued (SI_QUEUE) by process pid of user uid.
func queuedSiginfo(sig, pid int, uid uint32) unix.Siginfo {
	var info unix.Siginfo
	// si_signo, si_errno, si_code, padding, then si_pid and si_uid.
	raw := (*struct {
		signo, errno, code, _ int32
		pid                   int32
		uid                   uint32
	})(unsafe.Pointer(&info))
	raw.signo, raw.code, raw.pid, raw.uid = int32(sig), -1 /* SI_QUEUE */, int32(pid), uid
	return info
}
