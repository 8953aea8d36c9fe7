package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/kernel"
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

// Config is everything Run needs to start and supervise one program.
type Config struct {
	// Args is the command and its arguments; Args[0] is looked up in PATH as execvp does.
	Args []string
	// Env is the child's environment; nil means scrim's own.
	Env []string
	// Dir is the child's working directory; empty means scrim's own.
	Dir string
	// Stdin, Stdout and Stderr are the child's; nil means scrim's own.
	Stdin, Stdout, Stderr *os.File
	Mode                  Mode
	Handlers              []shim.Registration
	SyscallHandlers       []shim.SyscallHandler
	Log                   hclog.Logger
	// Audit receives one record per mediated call; nil writes none.
	Audit audit.Sink
	// Image runs the child inside a root filesystem image (image.go); nil runs it on the
	// host's root.
	Image *ImageConfig
	// KillGrace is how long the sandbox has to end once scrim forwarded it SIGTERM; then scrim
	// kills it and Run returns 143. 0 means DefaultKillGrace.
	KillGrace time.Duration
	// ScopeAbstractUnix also keeps the program from abstract unix sockets bound outside the
	// sandbox, where the kernel can (Landlock ABI 6). Off by default: X11, D-Bus and systemd
	// listen on abstract addresses.
	ScopeAbstractUnix bool
	// Keyring lets the program use the kernel keyrings (keyctl, add_key, request_key), which
	// are otherwise refused: they read what /proc/keys is denied for.
	Keyring bool
	// SkipStat leaves the stat-like calls (stat, access, readlink, chdir) to the kernel:
	// faster where a program stats a lot, but those calls then see denied objects and
	// processes outside the sandbox.
	SkipStat bool
	// NoLandlock keeps the program out of a Landlock domain even where the kernel has one,
	// as on a kernel without Landlock. Tests of that fallback set it; the CLI never does.
	NoLandlock bool
}

// Supervisor runs one sandboxed program.
type Supervisor struct {
	cfg         Config
	log         hclog.Logger
	features    kernel.Features
	sandbox     *sandbox
	chain       *chain
	resolver    *resolver.Resolver
	sysHandlers map[int]shim.SyscallHandler
	filter      []unix.SockFilter
	self        fsCred
	// domain is the Landlock domain the program runs in (kernel.PlanDomain).
	domain kernel.Domain
	// keepSignals is set where the domain cannot keep the sandbox's signals in: the filter
	// notifies the kill family and F_SETOWN, and signal.go decides (buildFilter).
	keepSignals bool
	// mediateStat is set when the stat-like calls (stat, access, readlink, chdir) go
	// through the resolver and the chain like opens.
	mediateStat bool

	listener int
	// killable is true when the filter has WAIT_KILLABLE_RECV: a received call can only be
	// interrupted by a fatal signal.
	killable bool
	tgids    tgidCache
	memfds   memfdCache
	// credDirty is set forever once any sandboxed thread makes a call that can change its
	// credentials, umaskDirty once any calls umask(2); until then baseCred describes every
	// thread. The umask matters only to calls that create, so only those read it again.
	credDirty  atomic.Bool
	umaskDirty atomic.Bool
	baseCred   atomic.Pointer[credSnapshot]
	ran        atomic.Bool
}

// New checks cfg, provisions and validates every handler, and prepares the sandbox.
func New(cfg Config) (*Supervisor, error) {
	if len(cfg.Args) == 0 || cfg.Args[0] == "" {
		return nil, errors.New("new supervisor: no command to run")
	}
	if err := prepareImage(&cfg); err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Supervisor{cfg: cfg, log: log, sysHandlers: map[int]shim.SyscallHandler{}}
	s.features = kernel.Detect()
	if err := s.features.Require(); err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	if !s.features.WaitKillableRecv {
		log.Warn("kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19): signals can interrupt mediated calls, which then restart")
	}
	if !s.features.SyncWakeUp {
		log.Warn("kernel lacks SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6): each answer costs a cross-CPU wake-up")
	}
	if !s.features.ProcessVMReadv {
		log.Warn("process_vm_readv unavailable: reading child memory through /proc/<pid>/mem")
	}
	if !cfg.NoLandlock {
		s.domain = kernel.PlanDomain(s.features.Landlock, cfg.ScopeAbstractUnix)
	}
	if cfg.Image != nil && os.Geteuid() == 0 && !s.domain.Active() {
		// As root, only the domain keeps the program from the keeper's /proc/PID/root, which
		// is the host's: image mode as root would not be a jail.
		return nil, fmt.Errorf("new supervisor: image mode as root needs Landlock ABI 2 (Linux 5.19): %s", s.domain.Mechanism())
	}
	if !s.domain.ScopesSignals() {
		log.Warn("the kernel cannot keep the sandbox's signals from scrim (Landlock ABI 6)", "boundary", s.domain.Mechanism())
	}
	self, err := supervisorCred()
	if err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	s.self = self
	s.sandbox = &sandbox{self: os.Getpid(), root: imageRootDir(&cfg)}

	var notify []int
	for _, h := range cfg.SyscallHandlers {
		if h == nil {
			return nil, errors.New("new supervisor: nil syscall handler")
		}
		for _, nr := range h.Syscalls() {
			if prev, ok := s.sysHandlers[nr]; ok {
				return nil, fmt.Errorf("new supervisor: syscall %d claimed by both %s and %s", nr, prev.ID(), h.ID())
			}
			s.sysHandlers[nr] = h
			notify = append(notify, nr)
		}
	}
	s.keepSignals = !s.domain.ScopesSignals()
	s.mediateStat = !cfg.SkipStat
	if s.mediateStat {
		notify = append(notify, resolver.StatFamily()...)
	}
	prog, err := buildFilter(notify, filterOptions{signals: s.keepSignals, keyring: cfg.Keyring})
	if err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	s.filter = prog
	if s.chain, err = newChain(cfg.Handlers, log); err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	for _, x := range s.lifecycle() {
		if p, ok := x.h.(shim.Provisioner); ok {
			env := shim.Env{Log: log.Named("shim").Named(x.id), Sandbox: s.sandbox}
			if err := p.Provision(env); err != nil {
				return nil, fmt.Errorf("new supervisor: provision %s: %w", x.id, err)
			}
		}
		if v, ok := x.h.(shim.Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("new supervisor: validate %s: %w", x.id, err)
			}
		}
	}
	return s, nil
}

type lifecycleItem struct {
	id string
	h  any
}

// lifecycle lists every handler once, open handlers first, in registration order.
func (s *Supervisor) lifecycle() []lifecycleItem {
	var out []lifecycleItem
	seen := map[any]bool{}
	add := func(id string, h any) {
		if !isComparable(h) {
			out = append(out, lifecycleItem{id, h})
			return
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, lifecycleItem{id, h})
		}
	}
	for _, r := range s.cfg.Handlers {
		add(r.Handler.ID(), r.Handler)
	}
	for _, h := range s.cfg.SyscallHandlers {
		add(h.ID(), h)
	}
	return out
}

func isComparable(h any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = map[any]bool{h: true}
	return true
}

// Sandbox describes the sandbox to handlers.
func (s *Supervisor) Sandbox() shim.Sandbox { return s.sandbox }

// Boundary says what keeps the sandbox away from scrim on this kernel.
func (s *Supervisor) Boundary() string { return s.domain.Mechanism() }

// Features reports the kernel features the supervisor detected.
func (s *Supervisor) Features() kernel.Features { return s.features }

// Run starts the program, supervises it until it ends and returns scrim's exit status
// (README.md, "Exit status"). A non-nil error comes with status 125: scrim itself failed.
func (s *Supervisor) Run(ctx context.Context) (int, error) {
	if !s.ran.CompareAndSwap(false, true) {
		return 125, errors.New("run supervisor: already ran")
	}
	r, err := resolver.New(resolver.Options{Root: s.sandbox.root, Log: s.log.Named("resolver"), Visible: s.sandbox.Contains})
	if err != nil {
		return 125, fmt.Errorf("run supervisor: %w", err)
	}
	s.resolver = r
	status, err := s.run(ctx)
	// Image mode replaces the resolver once the child is in its image (image.go).
	s.resolver.Close()
	for _, x := range s.lifecycle() {
		if c, ok := x.h.(shim.Cleaner); ok {
			if cerr := c.Cleanup(); cerr != nil {
				s.log.Error("cleanup failed", "shim", x.id, "error", cerr)
			}
		}
	}
	if err != nil {
		return 125, err
	}
	return status, nil
}
