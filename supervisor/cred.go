package supervisor

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/resolver"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// fsCred is what the kernel checks when a thread opens a file: fsuid, fsgid, supplementary
// groups, effective capabilities, and the umask for what it creates.
type fsCred struct {
	FSUID, FSGID uint32
	Groups       []uint32
	CapEff       uint64
	Umask        uint32
}

func (c *fsCred) equal(o *fsCred) bool {
	return c.FSUID == o.FSUID && c.FSGID == o.FSGID && c.CapEff == o.CapEff && c.Umask == o.Umask &&
		slices.Equal(c.Groups, o.Groups)
}

func fsCredOf(c shim.Cred, umask uint32) fsCred {
	return fsCred{FSUID: c.FSUID, FSGID: c.FSGID, Groups: c.Groups, CapEff: c.CapEffective, Umask: umask}
}

// statusMax bounds /proc/<tid>/status: about 1.5 KiB on Linux 6.x. A file that fills the
// buffer is read no further and its credentials are not trusted.
const statusMax = 8 << 10

// readStatus parses the credentials and umask of one thread from /proc/<tid>/status. It reads
// with one open, one read and one close: os.ReadFile makes about ten system calls of a proc
// file (a stat for its size, which proc gives as 0, reads in growing chunks, the poller's
// registration), and this runs on every mediated call once anything in the sandbox has
// changed its credentials.
func readStatus(tid int) (shim.Cred, uint32, error) {
	var c shim.Cred
	var buf [statusMax]byte
	var path [32]byte
	name := strconv.AppendInt(append(path[:0], "/proc/"...), int64(tid), 10)
	name = append(name, "/status"...)
	fd, err := unix.Open(string(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return c, 0, fmt.Errorf("read credentials of tid %d: %w", tid, err)
	}
	// One read: proc makes the whole file at the first read and copies what fits. A short
	// file (a thread that exited meanwhile) lacks fields, and the parse below refuses it.
	n, err := readOnce(fd, buf[:])
	unix.Close(fd)
	if err != nil {
		return c, 0, fmt.Errorf("read credentials of tid %d: %w", tid, err)
	}
	if n == len(buf) {
		return c, 0, fmt.Errorf("read credentials of tid %d: status larger than %d bytes", tid, statusMax)
	}
	data := buf[:n]
	umask := uint32(0o022)
	seen := 0
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		fields := bytes.Fields(val)
		switch string(key) {
		case "Umask":
			if len(fields) == 1 {
				v, err := strconv.ParseUint(string(fields[0]), 8, 32)
				if err != nil {
					return c, 0, fmt.Errorf("read credentials of tid %d: umask: %w", tid, err)
				}
				umask = uint32(v)
			}
		case "Uid", "Gid":
			if len(fields) != 4 {
				return c, 0, fmt.Errorf("read credentials of tid %d: %s has %d fields", tid, key, len(fields))
			}
			var ids [4]uint32
			for i, f := range fields {
				v, err := strconv.ParseUint(string(f), 10, 32)
				if err != nil {
					return c, 0, fmt.Errorf("read credentials of tid %d: %s: %w", tid, key, err)
				}
				ids[i] = uint32(v)
			}
			if key[0] == 'U' {
				c.UID, c.EUID, c.FSUID = ids[0], ids[1], ids[3]
			} else {
				c.GID, c.EGID, c.FSGID = ids[0], ids[1], ids[3]
			}
			seen++
		case "Groups":
			c.Groups = make([]uint32, 0, len(fields))
			for _, f := range fields {
				v, err := strconv.ParseUint(string(f), 10, 32)
				if err != nil {
					return c, 0, fmt.Errorf("read credentials of tid %d: groups: %w", tid, err)
				}
				c.Groups = append(c.Groups, uint32(v))
			}
			seen++
		case "CapEff":
			if len(fields) != 1 {
				return c, 0, fmt.Errorf("read credentials of tid %d: CapEff malformed", tid)
			}
			v, err := strconv.ParseUint(string(fields[0]), 16, 64)
			if err != nil {
				return c, 0, fmt.Errorf("read credentials of tid %d: CapEff: %w", tid, err)
			}
			c.CapEffective = v
			seen++
		}
	}
	if seen != 4 {
		// A thread that exited mid-read leaves a short file; deciding on it would guess.
		return c, 0, fmt.Errorf("read credentials of tid %d: %w", tid, unix.ESRCH)
	}
	slices.Sort(c.Groups)
	return c, umask, nil
}

// readOnce is one read of fd into b, retried if a signal interrupts it.
func readOnce(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// thread is a worker's OS thread with the credentials it currently carries. A worker goroutine
// locks itself to the thread and never unlocks, so the runtime destroys the thread with the
// goroutine instead of handing its changed credentials to other code.
type thread struct {
	self fsCred // the supervisor's own
	cur  fsCred
	perm uint64 // permitted capabilities, the ceiling for the effective set
	// caps are the thread's capability sets as capset takes them. Only the effective set ever
	// changes (by setCapEff, or by the kernel when fsuid crosses 0), so one capset of these
	// with a new effective set changes it without a capget first.
	caps [2]capData
	// resign hands the loop's receiving to another worker if the call that started at
	// leading still holds it; leading is 0 when the thread is not answering as the leader.
	resign  func(leading int64)
	leading int64
	// call is the scratch of the open-family call the thread is answering (handleOpen).
	call callScratch
}

// callScratch holds what answering one open-family call needs, kept per worker thread so
// that a call allocates none of it.
type callScratch struct {
	op    opCall
	in    resolver.Input
	mem   memory
	child child
	res   resolver.Resolution
	// res2 is a rename's or link's second path.
	res2 resolver.Resolution
}

// mayBlock hands the loop's receiving to another worker before the thread blocks, so other
// calls are not stalled behind this one.
func (t *thread) mayBlock() {
	if t.resign != nil && t.leading != 0 {
		t.resign(t.leading)
	}
}

// newThread must run on the locked thread it describes. It gives the thread its own fs_struct
// so umask changes stay on it.
func newThread(self fsCred) (*thread, error) {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("unshare(CLONE_FS) worker thread: %w", err)
	}
	d, e := capGet()
	if e != 0 {
		return nil, fmt.Errorf("capget worker thread: %w", e)
	}
	t := &thread{self: self, cur: self, perm: uint64(d[0].Permitted) | uint64(d[1].Permitted)<<32, caps: d}
	return t, nil
}

// supervisorCred reads the calling process's own credentials; scrim never changes them
// process-wide, so this is also what every fresh thread carries.
func supervisorCred() (fsCred, error) {
	c, umask, err := readStatus(unix.Gettid())
	if err != nil {
		return fsCred{}, err
	}
	return fsCredOf(c, umask), nil
}

// become switches this thread to c. Each step is the raw per-thread system call: the libc and
// Go wrappers (syscall.Setuid and friends) would change every thread of scrim. On failure the
// thread is put back to the supervisor's credentials and the caller fails closed.
func (t *thread) become(c *fsCred) error {
	if t.cur.equal(c) {
		return nil
	}
	if err := t.apply(c); err != nil {
		if rerr := t.apply(&t.self); rerr != nil {
			// A thread whose identity is unknown must not serve another call.
			panic(fmt.Sprintf("supervisor: restore worker credentials: %v (after %v)", rerr, err))
		}
		return err
	}
	return nil
}

func (t *thread) apply(c *fsCred) error {
	if c.CapEff&^t.perm != 0 {
		return fmt.Errorf("capset worker thread: child has capabilities %#x scrim lacks: %w", c.CapEff&^t.perm, unix.EPERM)
	}
	ids := !slices.Equal(t.cur.Groups, c.Groups) || t.cur.FSGID != c.FSGID || t.cur.FSUID != c.FSUID
	// setgroups, setfsgid and setfsuid to another id need CAP_SETGID and CAP_SETUID: raise the
	// effective set to everything permitted first, when it lacks them.
	if ids && t.cur.CapEff&capSetIDs != capSetIDs {
		if err := t.setCapEff(t.perm); err != nil {
			return err
		}
	}
	if !slices.Equal(t.cur.Groups, c.Groups) {
		if e := setgroupsThread(c.Groups); e != 0 {
			return fmt.Errorf("setgroups worker thread: %w", e)
		}
		t.cur.Groups = c.Groups
	}
	if t.cur.FSGID != c.FSGID {
		unix.RawSyscall(unix.SYS_SETFSGID, uintptr(c.FSGID), 0, 0)
		// setfsgid reports the previous value, never an error; ask again with an invalid id.
		if got, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0); uint32(got) != c.FSGID {
			return fmt.Errorf("setfsgid worker thread to %d: %w", c.FSGID, unix.EPERM)
		}
		t.cur.FSGID = c.FSGID
	}
	fsuidChanged := t.cur.FSUID != c.FSUID
	if fsuidChanged {
		unix.RawSyscall(unix.SYS_SETFSUID, uintptr(c.FSUID), 0, 0)
		if got, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0); uint32(got) != c.FSUID {
			return fmt.Errorf("setfsuid worker thread to %d: %w", c.FSUID, unix.EPERM)
		}
		t.cur.FSUID = c.FSUID
	}
	// Changing fsuid to or from 0 also changes the file capabilities in the effective set, so
	// after it the set is written whatever it held, to exactly the child's (what it has,
	// within what we may); otherwise only when it differs.
	if want := c.CapEff & t.perm; fsuidChanged || t.cur.CapEff != want {
		if err := t.setCapEff(want); err != nil {
			return err
		}
	}
	if t.cur.Umask != c.Umask {
		unix.Umask(int(c.Umask))
		t.cur.Umask = c.Umask
	}
	return nil
}

// capSetIDs are the capabilities apply needs to change ids.
const capSetIDs = 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID

// setCapEff sets the thread's effective capabilities to eff, with one capset.
func (t *thread) setCapEff(eff uint64) error {
	d := t.caps
	d[0].Effective, d[1].Effective = uint32(eff), uint32(eff>>32)
	if e := capSet(d); e != 0 {
		return fmt.Errorf("capset worker thread: %w", e)
	}
	t.caps = d
	t.cur.CapEff = eff
	return nil
}

// capSysPtrace is CAP_SYS_PTRACE's bit: reading a child's memory and descriptors needs it
// when the child runs as another user.
const capSysPtrace = 1 << unix.CAP_SYS_PTRACE

// mayRaiseTrace reports whether canTrace would change the thread: it lacks CAP_SYS_PTRACE
// and the supervisor holds it.
func (t *thread) mayRaiseTrace() bool {
	return t.cur.CapEff&capSysPtrace == 0 && t.self.CapEff&capSysPtrace != 0
}

// canTrace makes sure the thread may read any child's memory: if scrim holds CAP_SYS_PTRACE
// but the thread dropped it for the previous caller, the thread becomes scrim again.
func (t *thread) canTrace() error {
	if t.cur.CapEff&capSysPtrace == 0 && t.self.CapEff&capSysPtrace != 0 {
		return t.become(&t.self)
	}
	return nil
}

// asSupervisor runs f with the supervisor's own credentials (for what only scrim may do:
// reading /proc/<tid>/cwd, pidfd_getfd) and then puts the child's back.
func (t *thread) asSupervisor(f func() error) error {
	if t.cur.equal(&t.self) {
		return f()
	}
	child := t.cur
	child.Groups = slices.Clone(child.Groups)
	if err := t.become(&t.self); err != nil {
		return err
	}
	ferr := f()
	if err := t.become(&child); err != nil {
		return err
	}
	return ferr
}
