package agent

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/procfs"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// members is a container's processes, by the agent's pid numbers: those in the container's
// pid namespace when it has one of its own; otherwise the processes the runtime named (the
// first process and each `runc exec`'s, or the children of the crun that sent a `crun exec`'s
// listener) and their descendants.
type members struct {
	// pidns is the inode of the container's pid namespace, 0 when it is the agent's.
	pidns uint64
	mu    sync.Mutex
	roots []int
}

func newMembers(pid int) (*members, error) {
	ns, err := nsInode(strconv.Itoa(pid), "pid")
	if err != nil {
		return nil, err
	}
	self, err := nsInode("self", "pid")
	if err != nil {
		return nil, err
	}
	m := &members{roots: []int{pid}}
	if ns != self {
		m.pidns = ns
	}
	return m, nil
}

// nsInode returns the inode of /proc/<pid>/ns/<kind>.
func nsInode(pid, kind string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+pid+"/ns/"+kind, &st); err != nil {
		return 0, fmt.Errorf("%s namespace of %s: %w", kind, pid, err)
	}
	return st.Ino, nil
}

// sameUserNamespace refuses a process in a user namespace other than the agent's: its
// credentials and capabilities mean nothing here, and a Go process cannot join it to open
// files as it (docs/containers.md).
func sameUserNamespace(pid int) error {
	ns, err := nsInode(strconv.Itoa(pid), "user")
	if err != nil {
		return err
	}
	self, err := nsInode("self", "user")
	if err != nil {
		return err
	}
	if ns != self {
		return errors.New("runs in a user namespace of its own, which the agent does not serve yet")
	}
	return nil
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	return procfs.Pids(func(p int) bool {
		st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(p))
		return ok && st.PPID == pid
	})
}

// add names another process the runtime started in the container.
func (m *members) add(pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.roots, pid) {
		m.roots = append(m.roots, pid)
	}
}

// Contains reports whether pid is one of the container's processes. In a pid namespace of
// the container's own, pids are asked as the container numbers them (the names in its /proc,
// the targets of its calls), and every one it can name is its own: the namespace hides the
// rest.
func (m *members) Contains(pid int) bool {
	if m.pidns != 0 {
		return pid > 0
	}
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	m.mu.Lock()
	roots := slices.Clone(m.roots)
	m.mu.Unlock()
	if slices.Contains(roots, pid) {
		return true
	}
	// A chain longer than this would be a loop, which the kernel does not make.
	p := pid
	for range 4096 {
		st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(p))
		if !ok || st.PPID <= 1 {
			return false
		}
		if slices.Contains(roots, st.PPID) {
			return true
		}
		p = st.PPID
	}
	return false
}

// ProcIDs maps a caller's pid and tid to the numbers the container's procfs knows them by:
// the last NSpid entries of their status files (supervisor.ProcNumbering). A number that
// cannot be read maps to 0, which names no process.
func (m *members) ProcIDs(pid, tid int) (int, int) {
	if m.pidns == 0 {
		return pid, tid
	}
	return nsPid(pid), nsPid(tid)
}

// nsPid returns pid as its innermost pid namespace numbers it, 0 when it cannot tell.
func nsPid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return 0
}

// host reports whether pid, as the agent numbers it, is one of the container's processes.
func (m *members) host(pid int) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	if m.pidns != 0 {
		ns, err := nsInode(strconv.Itoa(pid), "pid")
		return err == nil && ns == m.pidns
	}
	return m.Contains(pid)
}

// Pids lists the container's processes as the agent numbers them.
func (m *members) Pids() []int { return procfs.Pids(m.host) }

// sandbox describes a container to its handlers.
type sandbox struct {
	members *members
	root    string
}

var _ shim.Sandbox = (*sandbox)(nil)

func (s *sandbox) Contains(pid int) bool { return s.members.Contains(pid) }
func (s *sandbox) Pids() []int           { return s.members.Pids() }
func (s *sandbox) Root() string          { return s.root }
