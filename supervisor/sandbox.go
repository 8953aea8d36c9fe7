package supervisor

import (
	"bytes"
	"os"
	"slices"
	"strconv"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// sandbox answers handlers' questions about the process tree. scrim is a child subreaper
// while it runs, so every process the sandbox starts, orphans included, stays a descendant
// of scrim's own process; descent is therefore the whole test.
type sandbox struct {
	self int // scrim's pid
	root string
}

var _ shim.Sandbox = (*sandbox)(nil)

// Contains reports whether pid descends from scrim and is not scrim.
func (s *sandbox) Contains(pid int) bool {
	if pid <= 0 || pid == s.self {
		return false
	}
	// A chain longer than this would be a loop, which the kernel does not make.
	for range 4096 {
		ppid, ok := parentOf(pid)
		if !ok || ppid <= 0 {
			return false
		}
		if ppid == s.self {
			return true
		}
		pid = ppid
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

// parentOf reads the PPid of pid (a process or a thread) from /proc/<pid>/stat.
func parentOf(pid int) (int, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name in parentheses may hold spaces and parentheses; the fields after
	// the last ')' are fixed: state, then ppid.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return ppid, err == nil
}
