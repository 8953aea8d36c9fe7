package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const pageSize = 4096

// errGone reports that the notification is no longer valid: the thread was interrupted or
// died, and its memory or pid may now belong to someone else.
var errGone = fmt.Errorf("notification no longer valid: %w", unix.ENOENT)

// memory is shim.Memory for one notification. Every read is followed by an ID_VALID check
// before its bytes are returned (seccomp_unotify(2), "Caveats regarding the use of
// /proc/[tid]/mem").
type memory struct {
	listener int
	id       uint64
	tid      int
	procMem  bool // process_vm_readv is unavailable; use /proc/<tid>/mem
	// t, when set, is the worker thread reading: a read the kernel refuses for want of
	// CAP_SYS_PTRACE, which the thread may have dropped for its previous caller, is retried
	// once the thread has taken the supervisor's capabilities back.
	t *thread
}

var _ shim.Memory = (*memory)(nil)

// ReadAt reads up to len(p) bytes at addr. It stops at the first unreadable page and returns
// what it read with EFAULT, so a string that ends before an unmapped page still reads.
func (m *memory) ReadAt(p []byte, addr uint64) (int, error) {
	n, err := m.read(p, addr)
	if !seccomp.IDValid(m.listener, m.id) {
		return 0, errGone
	}
	return n, err
}

func (m *memory) read(p []byte, addr uint64) (int, error) {
	total := 0
	for len(p) > 0 {
		chunk := pageSize - int(addr%pageSize)
		chunk = min(chunk, len(p))
		var n int
		var err error
		if m.procMem {
			n, err = m.procRead(p[:chunk], addr)
		} else {
			n, err = processVMRead(m.tid, p[:chunk], addr)
		}
		if (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) && m.t != nil && m.t.mayRaiseTrace() {
			// Another user's memory, or an undumpable program's, takes CAP_SYS_PTRACE.
			if err := m.t.canTrace(); err != nil {
				return total, err
			}
			continue
		}
		n = max(n, 0)
		total += n
		if err != nil {
			if errors.Is(err, unix.ESRCH) {
				return total, errGone
			}
			return total, fmt.Errorf("read memory of tid %d at %#x: %w", m.tid, addr, unix.EFAULT)
		}
		if n < chunk {
			return total, fmt.Errorf("read memory of tid %d at %#x: %w", m.tid, addr+uint64(n), unix.EFAULT)
		}
		p, addr = p[chunk:], addr+uint64(chunk)
	}
	return total, nil
}

func (m *memory) procRead(p []byte, addr uint64) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(m.tid) + "/mem")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// The opened file is the right process only if the notification is still live now.
	if !seccomp.IDValid(m.listener, m.id) {
		return 0, errGone
	}
	return f.ReadAt(p, int64(addr))
}

// WriteAt writes p into the child. seccomp_unotify(2) warns that such a write can never be
// considered safe; handlers that emulate a call (uname, getrandom) write only into the
// caller's own output buffer, which the caller can corrupt anyway.
func (m *memory) WriteAt(p []byte, addr uint64) (int, error) {
	if !seccomp.IDValid(m.listener, m.id) {
		return 0, errGone
	}
	if m.procMem {
		f, err := os.OpenFile("/proc/"+strconv.Itoa(m.tid)+"/mem", os.O_WRONLY, 0)
		if err != nil {
			return 0, fmt.Errorf("write memory of tid %d: %w", m.tid, err)
		}
		defer f.Close()
		if !seccomp.IDValid(m.listener, m.id) {
			return 0, errGone
		}
		return f.WriteAt(p, int64(addr))
	}
	n, err := processVMWrite(m.tid, p, addr)
	if err != nil {
		return n, fmt.Errorf("write memory of tid %d at %#x: %w", m.tid, addr, unix.EFAULT)
	}
	return n, nil
}

// tgidCache finds the thread group of a tid, once per tid: the tid itself for a group leader,
// otherwise the Tgid line of /proc/<tid>/status. A cached answer is checked before use (a
// leader with tgkill, a thread with one stat of /proc/<tgid>/task/<tid>), since a tid can die
// and be reused by another process. Its size is bounded: it is a cache.
type tgidCache struct {
	mu sync.Mutex
	m  map[int]int
}

const tgidCacheMax = 1 << 16

func (c *tgidCache) tgid(tid int) (int, error) {
	c.mu.Lock()
	tgid, ok := c.m[tid]
	c.mu.Unlock()
	if ok && tgid == tid {
		// The stat below cannot tell a leader from a thread (/proc/T/task/T exists for every
		// thread T), and a leader's entry outlives its process when a parent inside the
		// sandbox reaps it, so its tid may since name a thread of another process.
		if isLeader(tid) {
			return tgid, nil
		}
	} else if ok && inGroup(tgid, tid) {
		return tgid, nil
	}
	if isLeader(tid) {
		// Most callers lead their own group (every single-threaded process does): one
		// system call instead of generating and parsing /proc/<tid>/status.
		tgid = tid
	} else {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
		if err != nil {
			return 0, fmt.Errorf("read thread group of tid %d: %w", tid, err)
		}
		tgid = parseTgid(data)
		if tgid <= 0 {
			return 0, fmt.Errorf("read thread group of tid %d: %w", tid, unix.ESRCH)
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= tgidCacheMax {
		c.m = map[int]int{}
	}
	c.m[tid] = tgid
	c.mu.Unlock()
	return tgid, nil
}

// isLeader reports whether tid leads its own thread group: tgkill(T, T, 0) finds the thread
// only then. EPERM means it found it (the worker may carry the child's credentials, without
// CAP_KILL).
func isLeader(tid int) bool {
	err := unix.Tgkill(tid, tid, 0)
	return err == nil || err == unix.EPERM
}

// inGroup reports whether thread tid still belongs to thread group tgid: tgkill(tgid, tid, 0)
// finds the thread only then (EPERM too, as in isLeader). It asks what a stat of
// /proc/<tgid>/task/<tid> did, without building a path per call.
func inGroup(tgid, tid int) bool {
	err := unix.Tgkill(tgid, tid, 0)
	return err == nil || err == unix.EPERM
}

func (c *tgidCache) forget(pid int) {
	c.mu.Lock()
	delete(c.m, pid)
	c.mu.Unlock()
}

func parseTgid(status []byte) int {
	const key = "\nTgid:"
	s := string(status)
	for i := 0; i+len(key) <= len(s); i++ {
		if s[i:i+len(key)] == key {
			j := i + len(key)
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			k := j
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			v, _ := strconv.Atoi(s[j:k])
			return v
		}
	}
	return 0
}

// pidfdGetfd duplicates descriptor n of thread tid (whose fd table may differ from its
// leader's after unshare(CLONE_FILES)) into the supervisor.
func pidfdGetfd(tid, tgid, n int) (*os.File, error) {
	if n < 0 {
		return nil, fmt.Errorf("get fd %d of tid %d: %w", n, tid, unix.EBADF)
	}
	pidfd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	if errors.Is(err, unix.EINVAL) {
		// Before Linux 6.9 there is no PIDFD_THREAD; the leader's table is the answer.
		pidfd, err = unix.PidfdOpen(tgid, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open tid %d: %w", tid, err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, n, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_getfd fd %d of tid %d: %w", n, tid, err)
	}
	return os.NewFile(uintptr(fd), "fd:"+strconv.Itoa(n)), nil
}
