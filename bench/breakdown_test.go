package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSplitOpens checks the breakdown's reading of a perf trace on a made-up one: two opens
// of the loop, each answered by scrim's thread with the calls strict mode makes, and a third
// with no answer in it (cut off), which is not counted.
func TestSplitOpens(t *testing.T) {
	var b strings.Builder
	line := func(comm string, tid int, us int64, enter bool, nr int, args ...uint64) {
		ns := 1000_000_000_000 + us*1000
		if enter {
			a := make([]string, 6)
			for i := range a {
				a[i] = "0"
				if i < len(args) {
					a[i] = fmt.Sprintf("%x", args[i])
				}
			}
			fmt.Fprintf(&b, "%16s %5d %d.%09d: raw_syscalls:sys_enter: NR %d (%s)\n", comm, tid, ns/1e9, ns%1e9, nr, strings.Join(a, ", "))
		} else {
			fmt.Fprintf(&b, "%16s %5d %d.%09d:  raw_syscalls:sys_exit: NR %d = 0\n", comm, tid, ns/1e9, ns%1e9, nr)
		}
	}
	const loop, worker, other = 100, 200, 201
	open := func(at int64) {
		line("openloop", loop, at, false, unix.SYS_CLOSE)
		line("scrim", worker, at+3, false, unix.SYS_PPOLL)
		line("scrim", worker, at+4, true, unix.SYS_IOCTL, 3, unix.SECCOMP_IOCTL_NOTIF_RECV)
		line("scrim", worker, at+5, false, unix.SYS_IOCTL)
		line("scrim", worker, at+6, true, unix.SYS_PROCESS_VM_READV)
		line("scrim", worker, at+7, false, unix.SYS_PROCESS_VM_READV)
		line("scrim", worker, at+8, true, unix.SYS_OPENAT2)
		line("scrim", worker, at+9, false, unix.SYS_OPENAT2)
		line("scrim", worker, at+10, true, unix.SYS_STATX)
		line("scrim", worker, at+11, false, unix.SYS_STATX)
		line("scrim", other, at+11, true, unix.SYS_FUTEX)
		line("scrim", worker, at+13, true, unix.SYS_OPENAT, 5, 0, unix.O_RDONLY)
		line("scrim", worker, at+14, false, unix.SYS_OPENAT)
		line("scrim", worker, at+16, true, unix.SYS_IOCTL, 3, 0x40182103)
		line("scrim", worker, at+17, false, unix.SYS_IOCTL)
		line("openloop", loop, at+20, false, unix.SYS_OPENAT)
	}
	open(0)
	open(100)
	line("openloop", loop, 200, false, unix.SYS_CLOSE)
	line("openloop", loop, 230, false, unix.SYS_OPENAT)

	evs, err := parsePerfScript([]byte(b.String()))
	require.NoError(t, err)
	bd := splitOpens(evs, "openloop")
	require.Equal(t, 2, bd.Opens)
	// notify 0→5, path 5→7, resolve 7→11, decide 11→13, open 13→16, answer 16→20.
	require.Equal(t, [numStages]float64{5, 2, 4, 2, 3, 4}, bd.Stage)
	require.Equal(t, 20.0, bd.Total)
	require.Equal(t, 1.0, bd.Futex)
	require.Equal(t, 7.0, bd.Syscalls)
}
