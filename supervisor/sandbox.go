package supervisor

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"

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
		st, ok := readStat(proc, strconv.Itoa(pid))
		if !ok || st.ppid <= 0 {
			return false
		}
		if st.ppid == ancestor {
			return true
		}
		pid = st.ppid
	}
	return false
}

// Pids lists the sandbox's processes.
func (s *sandbox) Pids() []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if s.Contains(pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// Root is the child's root directory on the host.
func (s *sandbox) Root() string { return s.root }

// procStat is what scrim reads of /proc/<pid>/stat.
type procStat struct {
	state   byte // R, S, D, Z, ...
	ppid    int
	pgrp    int
	session int
}

// readStat reads the state, parent, process group and session of pid (a process or a thread, named by its decimal
// pid) from its stat file, through the /proc descriptor proc, or from "/proc" when proc is
// AT_FDCWD.
func readStat(proc int, pid string) (procStat, bool) {
	name := pid + "/stat"
	if proc == unix.AT_FDCWD {
		name = "/proc/" + name
	}
	fd, err := unix.Openat(proc, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return procStat{}, false
	}
	// The parent is among the first fields; the command name before them is at most 64
	// bytes in parentheses.
	var buf [256]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || n <= 0 {
		return procStat{}, false
	}
	data := buf[:n]
	// The command name in parentheses may hold spaces and parentheses; the fields after
	// the last ')' are fixed: state, then ppid.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	session, err3 := strconv.Atoi(string(f[3]))
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp, session: session}, err1 == nil && err2 == nil && err3 == nil
}
