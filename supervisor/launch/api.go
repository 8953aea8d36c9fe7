package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
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
	// Closed lists the standard descriptors (0, 1, 2) the program starts without, as a
	// program started with `<&-` does. The keeper and the stub keep a descriptor there while
	// they start it (Stdin, Stdout, Stderr or scrim's own), so that nothing they open takes
	// its place; only the program's exec closes it.
	Closed          []int
	Mode            supervisor.Mode
	Handlers        []shim.Registration
	SyscallHandlers []shim.SyscallHandler
	Log             hclog.Logger
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

// Supervisor runs one sandboxed program: it starts the keeper and the stub, takes the listener
// they hand over, and has a supervisor.Core mediate it until the program ends.
type Supervisor struct {
	cfg      Config
	log      hclog.Logger
	features kernel.Features
	sandbox  *sandbox
	// chain is the open chain as the core will order it (supervisor.Order).
	chain  []shim.Registration
	filter []unix.SockFilter
	// domain is the Landlock domain the program runs in (kernel.PlanDomain).
	domain kernel.Domain
	// keepSignals is set where the domain cannot keep the sandbox's signals in: the filter
	// notifies the kill family and F_SETOWN, and the core decides (supervisor.Config.Signals).
	keepSignals bool
	// mediateStat is set when the stat-like calls (stat, access, readlink, chdir) go
	// through the resolver and the chain like opens.
	mediateStat bool
	// cpus are the host CPUs the program starts confined to (shim.CPUConfiner); nil leaves
	// its affinity alone.
	cpus []int

	// core mediates the sandbox once the listener has arrived; nil before.
	core atomic.Pointer[supervisor.Core]
	ran  atomic.Bool
}

// New checks cfg, provisions and validates every handler, and prepares the sandbox.
func New(cfg Config) (*Supervisor, error) {
	if len(cfg.Args) == 0 || cfg.Args[0] == "" {
		return nil, errors.New("new supervisor: no command to run")
	}
	return prepare(cfg)
}

// Check makes every check New makes before a program is named: the kernel's features, the
// working directory, the image, the filter, and the provisioning and validation of every
// handler (which resolves --net-allow's names), whose resources it then releases. It starts
// nothing. `scrim check` calls it, so that it fails wherever `scrim run` would before the
// program starts.
func Check(cfg Config) error {
	s, err := prepare(cfg)
	if err != nil {
		return err
	}
	s.cleanup()
	return nil
}

// prepare is New for a command that may not be named yet.
func prepare(cfg Config) (*Supervisor, error) {
	if !dispatched.Load() {
		return nil, errors.New("new supervisor: this binary never called launch.Dispatch: call it first thing in main, and in TestMain of every test that starts a sandbox")
	}
	if cfg.Image == nil && cfg.Dir != "" {
		// Checked here, where it can be named: the keeper's start would only say that
		// /proc/self/exe could not be executed.
		if err := checkDir(cfg.Dir); err != nil {
			return nil, fmt.Errorf("new supervisor: %w %s: %w", ErrNoCwd, cfg.Dir, err)
		}
	}
	for _, fd := range cfg.Closed {
		if fd < 0 || fd > 2 {
			return nil, fmt.Errorf("new supervisor: closed descriptor %d: only 0, 1 and 2 can be", fd)
		}
	}
	if err := prepareImage(&cfg); err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Supervisor{cfg: cfg, log: log}
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
	s.sandbox = &sandbox{self: os.Getpid(), root: imageRootDir(&cfg)}
	s.keepSignals = !s.domain.ScopesSignals()
	s.mediateStat = !cfg.SkipStat
	prog, err := supervisor.Filter(filterOptions(cfg, s.keepSignals))
	if err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	s.filter = prog
	if s.chain, err = supervisor.Order(cfg.Handlers); err != nil {
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
	if s.cpus, err = s.confineCPUs(); err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
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

// Chain returns the handlers of the open chain, in the order the core asks them.
func (s *Supervisor) Chain() []shim.Registration { return slices.Clone(s.chain) }

// Chain returns the handlers of cfg's open chain in the order a supervisor built from cfg asks
// them: cfg.Handlers, and in image mode the shims the supervisor adds itself. It checks
// nothing else of cfg and starts nothing, so `scrim check` lists what `scrim run` uses.
func Chain(cfg Config) ([]shim.Registration, error) {
	regs := cfg.Handlers
	if cfg.Image != nil {
		regs = withImageShims(regs)
	}
	return supervisor.Order(regs)
}

// filterOptions are the choices the program's filter is built with; keepSignals is set where
// the Landlock domain cannot keep the sandbox's signals in.
func filterOptions(cfg Config, keepSignals bool) supervisor.FilterOptions {
	return supervisor.FilterOptions{SyscallHandlers: cfg.SyscallHandlers, Stat: !cfg.SkipStat,
		Signals: keepSignals, Keyring: cfg.Keyring, Changes: true}
}

// Notified lists the system calls a sandbox started with cfg on this kernel sends to the
// supervisor, as supervisor.Notified does: always, and for some arguments only.
func Notified(cfg Config) (always, sometimes []int, err error) {
	keepSignals := true
	if !cfg.NoLandlock {
		keepSignals = !kernel.PlanDomain(kernel.Detect().Landlock, cfg.ScopeAbstractUnix).ScopesSignals()
	}
	return supervisor.Notified(filterOptions(cfg, keepSignals))
}

// Run starts the program, supervises it until it ends and returns scrim's exit status
// (README.md, "Exit status"). A non-nil error comes with status 125, scrim itself failed, or
// is a *CommandError with status 126 or 127: the command could not be executed.
func (s *Supervisor) Run(ctx context.Context) (int, error) {
	if !s.ran.CompareAndSwap(false, true) {
		return 125, errors.New("run supervisor: already ran")
	}
	status, err := s.run(ctx)
	s.cleanup()
	var cmdErr *CommandError
	if err != nil && !errors.As(err, &cmdErr) {
		return 125, err
	}
	return status, err
}

// ErrNoCwd is wrapped by New's and Check's error for a working directory (Config.Dir, or the
// image's cwd) that does not exist or is no directory.
var ErrNoCwd = errors.New("working directory")

// checkDir reports whether dir is a directory, with the operating system's reason when not.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return unwrapPathError(err)
	}
	if !fi.IsDir() {
		return unix.ENOTDIR
	}
	return nil
}

// CommandError is why the command could not be executed, with the shell's status for it: 127
// when it was not found, 126 when it was found but could not be executed. Its message names
// the command, says what is wrong and what to do ("NAME: ...; ...").
type CommandError struct {
	Status int
	Msg    string
}

func (e *CommandError) Error() string { return e.Msg }

// cleanup ends the lifecycle of every handler that needs it.
func (s *Supervisor) cleanup() {
	for _, x := range s.lifecycle() {
		if c, ok := x.h.(shim.Cleaner); ok {
			if cerr := c.Cleanup(); cerr != nil {
				s.log.Error("cleanup failed", "shim", x.id, "error", cerr)
			}
		}
	}
}

// forget drops what the core knows of pid, which the keeper or scrim is about to reap. Before
// the core exists it has nothing to forget.
func (s *Supervisor) forget(pid int) {
	if c := s.core.Load(); c != nil {
		c.Forget(pid)
	}
}
