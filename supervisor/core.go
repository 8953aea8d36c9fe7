package supervisor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/resolver"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Mode chooses how opens that no handler claims are answered.
type Mode int

// The mediation modes.
const (
	// ModeStrict performs every mediated open in the supervisor and injects the descriptor.
	ModeStrict Mode = iota
	// ModeFast lets the kernel perform opens no handler claims (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
	// It is not race-proof: another thread can change the path after scrim looked at it.
	ModeFast
)

// Listener is a seccomp user-notification listener and what the filter behind it promises.
// scrim's launcher makes listeners from scrim's own filter (Filter); a container runtime's
// filter promises less, and the core then does more per call.
type Listener struct {
	// Fd is the listener. The core owns it from New on, also when New fails.
	Fd int
	// Killable is set when the filter was installed with WAIT_KILLABLE_RECV: a received call
	// can then only be interrupted by a fatal signal.
	Killable bool
	// NotifiesCredCalls is set when the filter notifies every call that can change a thread's
	// credentials or umask (setuid and the rest of the family, setgroups, capset, umask and the
	// prctls of credPrctls), as scrim's own filter does. Only then may the core read the
	// credentials once and reuse them until such a call comes; otherwise it reads them for
	// every call, since they can change without the core hearing of it.
	NotifiesCredCalls bool
}

// Members says which processes a sandbox holds: scrim's own process tree below its keeper
// (package launch), or a container's pid namespace or cgroup.
type Members interface {
	// Contains reports whether pid (a thread group id or a thread id) belongs to the sandbox.
	Contains(pid int) bool
	// Pids lists the thread group ids of the sandbox's processes in ascending order.
	Pids() []int
}

// ProcNumbering is implemented by a membership whose processes live in a pid namespace of
// their own (a container's): ProcIDs maps a caller's pid and tid, as the core receives them,
// to the numbers the sandbox's procfs knows them by, which /proc/self and /proc/thread-self
// mean.
type ProcNumbering interface {
	ProcIDs(pid, tid int) (int, int)
}

// Config is everything one core needs to mediate one sandbox.
type Config struct {
	Listener Listener
	Members  Members
	// Root is the sandbox's root directory as scrim reaches it: "/", or "/proc/<pid>/root"
	// for a child in a mount namespace of its own.
	Root            string
	Mode            Mode
	Handlers        []shim.Registration
	SyscallHandlers []shim.SyscallHandler
	// Stat resolves and answers the stat-like calls (stat, access, readlink, chdir) the filter
	// notifies as it does opens; without it they go to SyscallHandlers.
	Stat bool
	// Changes resolves and decides the calls that change names and objects (rename, link,
	// unlink, mkdir, chmod, ...) and exec, which the filter notifies.
	Changes bool
	// Signals checks the kill family and fcntl(F_SETOWN) against Members: the filter notifies
	// them where the kernel cannot keep the sandbox's signals in (signal.go).
	Signals bool
	Log     hclog.Logger
	// Audit receives one record per mediated call; nil writes none.
	Audit audit.Sink
}

// Core mediates one sandbox: it receives the notifications of one listener and answers each
// through the handler chain. Everything it knows of its sandbox lives in the value, so one
// process can run many cores at once (scrim's tests, a container agent); the one process-wide
// thing it changes is GOMAXPROCS, by a share it gives back (procShare).
type Core struct {
	cfg      Config
	log      hclog.Logger
	listener int
	// procMem reads child memory through /proc/<pid>/mem: process_vm_readv is unavailable.
	procMem     bool
	chain       *chain
	resolver    *resolver.Resolver
	sysHandlers map[int]shim.SyscallHandler
	self        fsCred
	loop        *loop
	// rootPath is the sandbox's root as scrim's own /proc/self/fd links print it ("/" or an
	// image directory), "" when it cannot tell.
	rootPath string

	tgids  tgidCache
	memfds memfdCache
	// credDirty is set forever once any sandboxed thread makes a call that can change its
	// credentials, umaskDirty once any calls umask(2); until then baseCred describes every
	// thread. The umask matters only to calls that create, so only those read it again. Used
	// only when the listener's filter notifies those calls (Listener.NotifiesCredCalls).
	credDirty  atomic.Bool
	umaskDirty atomic.Bool
	baseCred   atomic.Pointer[credSnapshot]
	started    atomic.Bool
	stopped    atomic.Bool
	// auditSeq is the last audit record's Seq.
	auditSeq atomic.Uint64
}

// New builds the core for one sandbox. It answers nothing until Start.
func New(cfg Config) (*Core, error) {
	fd := cfg.Listener.Fd
	fail := func(err error) (*Core, error) {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	switch {
	case fd < 0:
		return fail(errors.New("no listener"))
	case cfg.Members == nil:
		return fail(errors.New("no membership"))
	case cfg.Root == "":
		return fail(errors.New("no root"))
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	c := &Core{cfg: cfg, log: log, listener: fd}
	var err error
	if c.sysHandlers, _, err = syscallTable(cfg.SyscallHandlers); err != nil {
		return fail(err)
	}
	if c.chain, err = newChain(cfg.Handlers, log); err != nil {
		return fail(err)
	}
	if c.self, err = supervisorCred(); err != nil {
		return fail(err)
	}
	features := kernel.Detect()
	c.procMem = !features.ProcessVMReadv
	if features.SyncWakeUp {
		if e := seccomp.SetSyncWakeUp(fd); e != 0 {
			log.Warn("cannot set SYNC_WAKE_UP on the listener", "error", e)
		}
	}
	c.rootPath = cfg.Root
	if cfg.Root != "/" {
		if p, err := filepath.EvalSymlinks(cfg.Root); err == nil {
			c.rootPath = p
		} else {
			c.rootPath = ""
		}
	}
	ropts := resolver.Options{Root: cfg.Root, Log: log.Named("resolver"), Visible: cfg.Members.Contains}
	if pn, ok := cfg.Members.(ProcNumbering); ok {
		ropts.ProcIDs = pn.ProcIDs
	}
	if c.resolver, err = resolver.New(ropts); err != nil {
		return fail(err)
	}
	if c.loop, err = newLoop(c, fd); err != nil {
		c.resolver.Close()
		return fail(fmt.Errorf("start notification loop: %w", err))
	}
	return c, nil
}

// Start starts answering notifications; ctx reaches the handlers.
func (s *Core) Start(ctx context.Context) {
	if !s.stopped.Load() && s.started.CompareAndSwap(false, true) {
		s.loop.start(ctx)
	}
}

// Stop stops answering and releases the listener, at once or, when a worker is still blocked
// in a call, once that worker is done (loop.stop).
func (s *Core) Stop() {
	if s.stopped.CompareAndSwap(false, true) {
		s.loop.stop()
	}
}

// Forget drops what the core knows of pid, which has exited and is about to be reaped: a pid
// the kernel hands out again must not inherit it.
func (s *Core) Forget(pid int) { s.tgids.forget(pid) }

// syscallTable maps each syscall a SyscallHandler claims to it, and lists the numbers in
// claim order.
func syscallTable(hs []shim.SyscallHandler) (map[int]shim.SyscallHandler, []int, error) {
	m := map[int]shim.SyscallHandler{}
	var nrs []int
	for _, h := range hs {
		if h == nil {
			return nil, nil, errors.New("nil syscall handler")
		}
		for _, nr := range h.Syscalls() {
			if prev, ok := m[nr]; ok {
				return nil, nil, fmt.Errorf("syscall %d claimed by both %s and %s", nr, prev.ID(), h.ID())
			}
			m[nr] = h
			nrs = append(nrs, nr)
		}
	}
	return m, nrs, nil
}
