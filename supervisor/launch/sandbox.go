package launch

import (
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/procfs"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// sandbox answers handlers' questions about the process tree. The keeper is the sandbox's
// subreaper, and scrim is the keeper's: every process the sandbox starts, orphans included,
// stays a descendant of the keeper while it lives, and of scrim's own process once a killed
// keeper left them to it. Descent is therefore the whole test; descent from scrim alone is
// not, while the keeper lives, since scrim may have other children (another sandbox's keeper,
// a test's helper processes).
type sandbox struct {
	self int // scrim's pid
	// keeper is the keeper's pid, set before the child starts and not changed while it runs.
	// The keeper is scrim's child, not part of the sandbox.
	keeper int
	// keeperGone is set once scrim reaped the keeper: its orphans are scrim's children now.
	keeperGone atomic.Bool
	root       string
}

var _ shim.Sandbox = (*sandbox)(nil)

// Contains reports whether pid descends from the keeper (from scrim, once the keeper is gone)
// and is neither scrim nor the keeper.
func (s *sandbox) Contains(pid int) bool {
	if pid <= 0 || pid == s.self || s.keeper == 0 || pid == s.keeper {
		return false
	}
	if descends(unix.AT_FDCWD, pid, s.keeper) {
		return true
	}
	return s.keeperGone.Load() && descends(unix.AT_FDCWD, pid, s.self)
}

// descends reports whether pid descends from ancestor, reading /proc/<pid>/stat through the
// /proc descriptor proc (or the path "/proc" when proc is AT_FDCWD).
func descends(proc, pid, ancestor int) bool {
	// A chain longer than this would be a loop, which the kernel does not make.
	for range 4096 {
		st, ok := procfs.ReadStat(proc, strconv.Itoa(pid))
		if !ok || st.PPID <= 0 {
			return false
		}
		if st.PPID == ancestor {
			return true
		}
		pid = st.PPID
	}
	return false
}

// Pids lists the sandbox's processes.
func (s *sandbox) Pids() []int { return procfs.Pids(s.Contains) }

// Root is the child's root directory on the host.
func (s *sandbox) Root() string { return s.root }
