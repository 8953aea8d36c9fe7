package launch

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitExited waits until a child of the keeper has exited and returns its pid, leaving the
// child a zombie (waitid with WNOWAIT): its pid stays taken until the keeper reaps it.
func waitExited() (int, error) {
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		return 0, err
	}
	// siginfo_t for SIGCHLD: si_signo, si_errno, si_code, padding, then si_pid.
	sig := (*struct {
		signo, errno, code, _ int32
		pid                   int32
	})(unsafe.Pointer(&info))
	return int(sig.pid), nil
}
