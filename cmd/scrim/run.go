package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/supervisor/launch"
)

const runUsage = `Usage: scrim run [flags] -- CMD [ARGS...]

Runs CMD under scrim's supervisor. CMD is looked up in PATH. Its stdin, stdout, stderr and
terminal are its own; signals sent to scrim are passed on to it. scrim's diagnostics go to
stderr. The exit status is CMD's own, 128+N if it died of signal N, 125 if scrim failed
(bad usage, bad configuration, missing kernel feature), 126 if CMD could not be executed
and 127 if it was not found.
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
	cfg, ok := loadConfig(p, "run", stderr)
	if !ok {
		return exitFailure
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "scrim run: %s\n", err)
		return exitFailure
	}
	fail := func(msg string, err error) int {
		log.Error(msg, "error", err)
		if !log.IsError() {
			fmt.Fprintf(stderr, "scrim run: %s\n", err)
		}
		return exitFailure
	}
	logDropIns(cfg, log)
	ctx := context.Background()
	h, err := buildHandlers(ctx, cfg, log, true)
	if err != nil {
		return fail("cannot build handlers", err)
	}
	defer h.close(ctx, log)

	// The audit log is created after the handlers, so a plugin that fails to load leaves no
	// empty log behind.
	var sink audit.Sink
	if cfg.Audit != "" {
		w, err := audit.Open(cfg.Audit, audit.Options{Log: log.Named("audit")})
		if err != nil {
			return fail("cannot open audit log", err)
		}
		// Close reports a failed write and the dropped records itself, once. Before it, each
		// plugin's counters become the log's last lines.
		defer func() {
			h.auditStats(w)
			_ = w.Close()
		}()
		sink = w
	}

	sup, err := launch.New(launch.Config{
		Args:              p.args,
		Env:               os.Environ(),
		Dir:               hostDir(cfg),
		Image:             image(cfg),
		Mode:              supervisorMode(cfg.Mode),
		Handlers:          h.chain,
		SyscallHandlers:   h.syscalls,
		Log:               log.Named("supervisor"),
		Audit:             sink,
		KillGrace:         cfg.KillGrace,
		ScopeAbstractUnix: cfg.ScopeAbstractUnix,
		SkipStat:          !cfg.MediateStat,
		Keyring:           cfg.Keyring,
	})
	if err != nil {
		return fail("cannot prepare sandbox", err)
	}
	log.Debug("open chain", "handlers", strings.Join(chainIDs(sup.Chain()), " "))
	status, err := sup.Run(ctx)
	if err != nil {
		return fail("sandbox failed", err)
	}
	log.Info("child exited", "status", status)
	return status
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
