package seccomp

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestBlockAsyncSignals checks the mask a worker thread keeps for life: the signals that can
// come at any time (the runtime's preemption signal, a child's exit, a terminal's) are
// blocked, and those the thread's own faults raise are not, so a nil dereference stays a Go
// panic.
func TestBlockAsyncSignals(t *testing.T) {
	done := make(chan struct{})
	var blocked uint64
	var err error
	go func() {
		defer close(done)
		// Locked and never unlocked: the runtime ends the thread with the goroutine, so its
		// mask reaches no other goroutine.
		runtime.LockOSThread()
		if err = BlockAsyncSignals(); err != nil {
			return
		}
		var status []byte
		status, err = os.ReadFile("/proc/thread-self/status")
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
				blocked, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			}
		}
	}()
	<-done
	require.NoError(t, err)
	bit := func(s unix.Signal) bool { return blocked&(1<<(uint(s)-1)) != 0 }
	for _, s := range []unix.Signal{unix.SIGURG, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGWINCH, unix.SIGPROF, unix.SIGUSR1} {
		require.True(t, bit(s), "%v not blocked (SigBlk %x)", s, blocked)
	}
	for _, s := range []unix.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS} {
		require.False(t, bit(s), "%v blocked (SigBlk %x)", s, blocked)
	}
}
