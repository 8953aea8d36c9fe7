// Package kernel detects the kernel features scrim relies on by trying them, never by reading
// the version number: distributions backport, and a feature can be compiled out.
package kernel

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
)

// Features is what the running kernel offers scrim.
type Features struct {
	// AddfdSend is SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND (5.14): inject a
	// descriptor and answer in one step. Required.
	AddfdSend bool
	// WaitKillableRecv is SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19): once a notification
	// is received, non-fatal signals no longer interrupt the call.
	WaitKillableRecv bool
	// SyncWakeUp is SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6): the answer wakes the child on
	// the supervisor's CPU.
	SyncWakeUp bool
	// PidfdGetfd is pidfd_getfd(2) (5.6): duplicate a child's descriptor. Required.
	PidfdGetfd bool
	// Openat2 is openat2(2) with RESOLVE_* (5.6). Required.
	Openat2 bool
	// ProcessVMReadv is process_vm_readv(2); without it child memory is read through
	// /proc/<pid>/mem.
	ProcessVMReadv bool
	// Landlock is the Landlock ABI version, 0 when Landlock is absent or disabled.
	Landlock int
	// Supervised is set when a seccomp filter already on this process keeps scrim from making
	// a listener, and so from probing the seccomp features above: scrim must not run here.
	Supervised Supervision
}

// Supervision says whose seccomp filter keeps scrim from making a listener.
type Supervision int

const (
	// SupervisedByScrim: a filter refuses new listeners (EPERM) and allows other filters,
	// which is what scrim's filter does inside a scrim sandbox.
	SupervisedByScrim Supervision = 1 + iota
	// SupervisedByOther: the kernel refuses a second listener (EBUSY), because a filter of
	// another supervisor on this process has one.
	SupervisedByOther
)

// ErrInsideScrim and ErrSupervised are Require's errors for a process whose seccomp filter
// keeps scrim from supervising it. Scrim's own filter refuses a second listener inside its
// sandbox: where two filters' answers tie, the kernel asks the newest, so an inner supervisor's
// answer to continue would skip the outer one.
var (
	ErrInsideScrim = errors.New("already inside a scrim sandbox, whose filter refuses a second supervisor (its answers would overrule the first's); run the program without scrim, it is sandboxed already, or run this scrim outside the sandbox")
	ErrSupervised  = errors.New("already under another seccomp supervisor (a container runtime's or a tracer's), and the kernel allows one per process; run scrim outside it")
)

// Feature is one row of the feature table.
type Feature struct {
	Name     string
	Since    string
	Required bool
	Present  bool
	// Value is set for features that have a level rather than a yes or no.
	Value string
}

// Table lists every feature with the kernel version that introduced it.
func (f Features) Table() []Feature {
	ll := "absent"
	if f.Landlock > 0 {
		ll = fmt.Sprintf("ABI %d", f.Landlock)
	}
	return []Feature{
		{Name: "seccomp ADDFD+SEND", Since: "5.14", Required: true, Present: f.AddfdSend},
		{Name: "pidfd_getfd", Since: "5.6", Required: true, Present: f.PidfdGetfd},
		{Name: "openat2", Since: "5.6", Required: true, Present: f.Openat2},
		{Name: "seccomp WAIT_KILLABLE_RECV", Since: "5.19", Present: f.WaitKillableRecv},
		{Name: "seccomp SYNC_WAKE_UP", Since: "6.6", Present: f.SyncWakeUp},
		{Name: "process_vm_readv", Since: "3.2", Present: f.ProcessVMReadv},
		{Name: "landlock", Since: "5.13", Present: f.Landlock > 0, Value: ll},
	}
}

// String renders the table for `scrim version`, one feature a line.
func (f Features) String() string {
	var b strings.Builder
	for _, r := range f.Table() {
		state := "no"
		if r.Present {
			state = "yes"
		}
		if r.Value != "" {
			state = r.Value
		}
		req := ""
		if r.Required {
			req = " (required)"
		}
		fmt.Fprintf(&b, "%-28s %-8s since %s%s\n", r.Name, state, r.Since, req)
	}
	return b.String()
}

// ErrMissing is wrapped by Require's error.
var ErrMissing = errors.New("required kernel feature missing")

// Require returns an error naming every required feature the kernel lacks.
func (f Features) Require() error {
	switch f.Supervised {
	case SupervisedByScrim:
		return ErrInsideScrim
	case SupervisedByOther:
		return ErrSupervised
	}
	var missing []string
	for _, r := range f.Table() {
		if r.Required && !r.Present {
			missing = append(missing, fmt.Sprintf("%s (Linux %s)", r.Name, r.Since))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("check kernel: %w: %s", ErrMissing, strings.Join(missing, ", "))
}

var (
	once     sync.Once
	detected Features
)

// Detect probes the kernel once per process and returns what it found.
func Detect() Features {
	once.Do(func() { detected = probe() })
	return detected
}

func probe() Features {
	var f Features
	f.PidfdGetfd = probePidfdGetfd()
	f.Openat2 = probeOpenat2()
	f.ProcessVMReadv = probeProcessVMReadv()
	if v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */); errno == 0 {
		f.Landlock = int(v)
	}
	// The seccomp probes install a filter, which cannot be undone, so they run on a thread
	// that is thrown away afterwards: a goroutine that exits while locked takes its thread.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		probeSeccomp(&f)
	}()
	<-done
	return f
}

func probePidfdGetfd() bool {
	pidfd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		return false
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, 0, 0)
	if err != nil {
		return !errors.Is(err, unix.ENOSYS)
	}
	unix.Close(fd)
	return true
}

func probeOpenat2() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// supervision tells from the errno of a refused listener whether a filter already on this
// thread is the reason (Features.Supervised). A filter that refuses listeners with EPERM but
// lets a plain filter in is scrim's; one that refuses seccomp altogether is some other
// sandbox's, and so is an older kernel's EINVAL: those leave the features missing.
func supervision(e unix.Errno, allow []unix.SockFilter) Supervision {
	switch e {
	case unix.EBUSY:
		return SupervisedByOther
	case unix.EPERM:
		if _, plain := seccomp.SetModeFilter(allow, 0); plain == 0 {
			return SupervisedByScrim
		}
	}
	return 0
}

func probeSeccomp(f *Features) {
	// no_new_privs is a per-thread flag, so setting it here leaves the rest of scrim alone.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return
	}
	allow := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	fd, e := seccomp.SetModeFilter(allow, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	if e == 0 {
		f.WaitKillableRecv = true
	} else {
		// A thread may hold only one listener, so a failed first try leaves room for this one.
		fd, e = seccomp.SetModeFilter(allow, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
		if e != 0 {
			f.Supervised = supervision(e, allow)
			return
		}
	}
	defer unix.Close(fd)
	// With no notification pending, a kernel that knows FLAG_SEND looks the id up and says
	// ENOENT; an older one rejects the flag with EINVAL first.
	_, e = seccomp.Addfd(fd, &seccomp.NotifAddfd{ID: ^uint64(0), Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(fd)})
	f.AddfdSend = e == unix.ENOENT
	f.SyncWakeUp = seccomp.SetSyncWakeUp(fd) == 0
}
