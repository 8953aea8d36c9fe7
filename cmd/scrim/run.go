package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/supervisor/launch"
)

const runUsage = `Usage: scrim run [flags] -- CMD [ARGS...]

Runs CMD under scrim's supervisor. CMD is looked up in PATH. Its stdin, stdout, stderr and
terminal are its own (one the shell closed stays closed); signals sent to scrim are passed
on to it. scrim's log goes to stderr, and so does why scrim failed, whatever the log level,
as "scrim run: WHAT: WHY; WHAT TO DO". The exit status is CMD's own, 128+N if it died of
signal N, 125 if scrim failed (bad usage, bad configuration, missing kernel feature, inside
a scrim sandbox already), 126 if CMD could not be executed and 127 if it was not found.
`

func cmdRun(args []string, stdout, stderr io.Writer) int {
	p, err := parseFlags("run", runUsage, args, stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		return usageError(stderr, "run", err)
	}
	if len(p.args) == 0 {
		return usageError(stderr, "run", errors.New("missing CMD: scrim run [flags] -- CMD [ARGS...]"))
	}
	if p.args[0] == "" {
		// As a shell and env(1) answer an empty command name: not found, 127.
		report(stderr, "run", errors.New(`"": command not found: the command name is empty; name the program to run`))
		return 127
	}
	cfg, ok := loadConfig(p, "run", stderr)
	if !ok {
		return exitFailure
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return report(stderr, "run", err)
	}
	// First, as nothing else can work where it fails: inside a scrim sandbox.
	if err := kernel.Detect().Require(); err != nil {
		return report(stderr, "run", kernelProblem(err))
	}
	logDropIns(cfg, log)
	ctx := context.Background()
	h, err := buildHandlers(ctx, cfg, log, true)
	if err != nil {
		return report(stderr, "run", err)
	}
	defer h.close(ctx, log)

	// The audit log is created after the handlers, so a plugin that fails to load leaves no
	// empty log behind.
	var sink audit.Sink
	if cfg.Audit != "" {
		w, err := audit.Open(cfg.Audit, audit.Options{Log: log.Named("audit")})
		if err != nil {
			return report(stderr, "run", placed(cfg, "audit", err))
		}
		// Close reports a failed write and the dropped records itself, once. Before it, each
		// plugin's counters become the log's last lines.
		defer func() {
			h.auditStats(w)
			_ = w.Close()
		}()
		sink = w
	}

	lc := launchConfig(cfg, h, log)
	lc.Args, lc.Env, lc.Audit = p.args, os.Environ(), sink
	lc.Closed = closedStdio()
	sup, err := launch.New(lc)
	if err != nil {
		return report(stderr, "run", launchProblem("run", cfg, err))
	}
	log.Debug("open chain", "handlers", strings.Join(chainIDs(sup.Chain()), " "))
	status, err := sup.Run(ctx)
	var cmdErr *launch.CommandError
	switch {
	case errors.As(err, &cmdErr):
		report(stderr, "run", err)
		return status
	case err != nil:
		return report(stderr, "run", hint(err, "this is scrim's failure, not the program's; --log-level debug shows what led to it"))
	}
	log.Info("child exited", "status", status)
	return status
}

// launchConfig is the sandbox cfg describes, as run starts it and check checks it: what check
// reports rests on the two sharing it. The caller adds what only run has: the command, its
// environment and descriptors, the audit sink.
func launchConfig(cfg config.Config, h *handlers, log hclog.Logger) launch.Config {
	return launch.Config{
		Dir:               hostDir(cfg),
		Image:             image(cfg),
		Mode:              supervisorMode(cfg.Mode),
		Handlers:          h.chain,
		SyscallHandlers:   h.syscalls,
		Log:               log.Named("supervisor"),
		KillGrace:         cfg.KillGrace,
		ScopeAbstractUnix: cfg.ScopeAbstractUnix,
		SkipStat:          !cfg.MediateStat,
		Keyring:           cfg.Keyring,
	}
}

// kernelProblem adds what to do to a kernel.Features.Require error. Running inside a scrim
// sandbox, or under another supervisor, says it itself.
func kernelProblem(err error) error {
	if errors.Is(err, kernel.ErrMissing) {
		return hint(err, "scrim needs Linux 5.14 or later with seccomp user notification; 'scrim version' lists what this kernel has")
	}
	return err
}

// launchProblem says what launch.New or launch.Check found wrong, placed at the flag or key at
// fault where one is. cmd is the command that asked: check's advice cannot be to run check.
func launchProblem(cmd string, cfg config.Config, err error) error {
	var entry *builtin.EntryError
	var errno unix.Errno
	switch {
	case errors.As(err, &entry):
		e := cfg.Locate(entry.Key, entry.Index)
		e.Msg = fmt.Sprintf("%s: %v; pin its address (%s=IP) or correct the name", config.Quote(entry.Entry), entry.Err, entry.Entry)
		return e
	case errors.Is(err, launch.ErrMountPoint):
		// The image's fault: placed at chroot, the message after launch's "new supervisor: ".
		e := cfg.Locate("chroot", -1)
		_, e.Msg, _ = strings.Cut(err.Error(), launch.ErrMountPoint.Error()+" ")
		e.Msg = "mount point " + e.Msg
		return e
	case errors.Is(err, launch.ErrNoCwd) && errors.As(err, &errno) && cfg.Chroot != "":
		e := cfg.Locate("cwd", -1)
		e.Msg = fmt.Sprintf("%s: %v in the image %s; allowed: a directory of the image or of a mount, or none for the image's root", cfg.Cwd, errno, cfg.Chroot)
		return e
	}
	if cmd == "check" {
		return hint(err, "correct the configuration; --log-level debug shows what led to it")
	}
	return hint(err, "check the configuration ('scrim check' with the same flags), or run again with --log-level debug")
}

// placed places err, a problem with the value of key, at the flag or the file's line that gave
// it.
func placed(cfg config.Config, key string, err error) error {
	e := cfg.Locate(key, -1)
	e.Msg = err.Error()
	return e
}

// hostDir is the child's working directory when it runs on the host's root.
func hostDir(cfg config.Config) string {
	if cfg.Chroot != "" {
		return "" // the image's cwd is inside the image: ImageConfig.Cwd
	}
	return cfg.Cwd
}

// image turns the chroot settings into the supervisor's image config, nil without chroot.
func image(cfg config.Config) *launch.ImageConfig {
	if cfg.Chroot == "" {
		return nil
	}
	img := &launch.ImageConfig{Dir: cfg.Chroot, ReadOnly: cfg.ChrootReadonly, Cwd: cfg.Cwd}
	for _, m := range cfg.Mounts {
		img.Mounts = append(img.Mounts, launch.ImageMount{Host: m.Host, Inside: m.Inside, ReadOnly: m.ReadOnly})
	}
	return img
}

// closedStdio lists the standard descriptors that the shell starting scrim closed for it
// (scrim run -- cat <&-), which stay closed for the program. Go's runtime opens /dev/null,
// read-write, on every standard descriptor it finds closed, before main runs (golang/go#60641),
// so a closed one looks like a /dev/null. scrim takes such a /dev/null for a closed descriptor
// only where nothing else explains it: its parent is a shell, the one kind of program that
// closes a descriptor for a command it starts, and holds no read-write /dev/null it could
// have passed on. Python's subprocess.DEVNULL and node's "ignore" pass a read-write /dev/null
// too, and stay a /dev/null: RATIONALE.md, "Why does scrim guess which standard descriptors
// were closed?"
func closedStdio() []int {
	var closed []int
	for fd := 0; fd <= 2; fd++ {
		if readWriteNull(fd) {
			closed = append(closed, fd)
		}
	}
	if len(closed) == 0 || !shellWithoutNull(os.Getppid()) {
		return nil
	}
	return closed
}

// shells are the programs that close a descriptor for a command they start (<&-, >&-), by
// the name the kernel gives their process (/proc/PID/comm).
var shells = []string{"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "ash", "yash", "posh", "fish", "tcsh", "csh", "busybox"}

// shellWithoutNull reports whether pid is a shell holding no read-write /dev/null.
func shellWithoutNull(pid int) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	comm, err := os.ReadFile(proc + "/comm")
	if err != nil || !slices.Contains(shells, strings.TrimSpace(string(comm))) {
		return false
	}
	fds, err := os.ReadDir(proc + "/fd")
	if err != nil {
		return false
	}
	for _, e := range fds {
		var st unix.Stat_t
		if unix.Stat(proc+"/fd/"+e.Name(), &st) != nil || !isNull(st) {
			continue
		}
		info, err := os.ReadFile(proc + "/fdinfo/" + e.Name())
		if err != nil {
			return false
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				if flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err != nil || flags&unix.O_ACCMODE == unix.O_RDWR {
					return false
				}
			}
		}
	}
	return true
}

// readWriteNull reports whether fd is /dev/null opened read-write, what Go's runtime puts on a
// standard descriptor that was closed.
func readWriteNull(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || !isNull(st) {
		return false
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && flags&unix.O_ACCMODE == unix.O_RDWR
}

// isNull reports whether st is the character device 1:3, /dev/null.
func isNull(st unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
}
