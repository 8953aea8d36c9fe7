package launch

import (
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// dispatched is set once Dispatch has run in this process.
var dispatched atomic.Bool

// Dispatch makes this process the keeper, the stub or the user-namespace probe when scrim
// started it as one (argv[0] says which: keeperArg0, stubArg0, userNSProbeArg0), and then never
// returns; otherwise it returns at once. scrim starts each of them by executing /proc/self/exe,
// so every binary that starts sandboxes calls Dispatch first thing in main, and every test
// binary that does so calls it in TestMain. New refuses to start a sandbox in a process that
// has not called it, and internal/archtest fails a package whose tests import launch without
// a TestMain that does. RATIONALE.md, "Why one explicit Dispatch instead of init functions?",
// has the reasons.
func Dispatch() {
	dispatched.Store(true)
	switch args := os.Args; {
	case len(args) >= 5 && args[0] == keeperArg0:
		// The child's parent-death signal follows the thread that forked it, and without an
		// image the filter is on this thread: this one, for life.
		runtime.LockOSThread()
		os.Exit(keep(args[1], args[2], args[3], args[4:]))
	case len(args) >= 4 && args[0] == stubArg0:
		// The filter and the Landlock domain belong to one thread, and execve must run on
		// that same thread.
		runtime.LockOSThread()
		status, err := stub(args[1], args[2], args[3:])
		msg := append([]byte{msgFailed, byte(status)}, err.Error()...)
		unix.Write(stubFd, msg)
		os.Exit(status)
	case len(args) == 1 && args[0] == userNSProbeArg0:
		os.Exit(0)
	}
}
