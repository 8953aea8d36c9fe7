package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor/agent"
)

const agentUsage = `Usage: scrim agent --socket PATH [-c FILE]

Serves containers as their runtime's seccomp agent: a runtime whose container config carries
the seccomp section 'scrim oci profile --socket PATH' prints sends each container's listener
to PATH, and scrim mediates the container's calls with the shims and plugins of FILE, as scrim
run would, resolving paths in the container's root. Containers that share an id (runc run,
then runc exec) share one state. Only containers without a user namespace of their own are
served for now (docs/containers.md).

The socket is created readable and writable by its owner only; a live one is an error, a
stale one is replaced. SIGTERM or SIGINT stops accepting containers and waits until those
served have ended; a second one ends the agent at once, and the containers' mediated calls
then fail.

Flags:
  --socket PATH       the socket to listen on (the profile's listenerPath)
  -c, --config FILE   the configuration, the same keys as scrim run's (not chroot)
`

func cmdAgent(args []string, stdout, stderr io.Writer) int {
	const cmd = "agent"
	var p parsed
	var socket string
	fs := flag.NewFlagSet("scrim "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&socket, "socket", "", "")
	fs.StringVar(&p.config, "config", "", "")
	fs.StringVar(&p.config, "c", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, agentUsage)
			return 0
		}
		return usageError(stderr, cmd, err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, cmd, fmt.Errorf("unexpected argument %s", config.Quote(fs.Arg(0))))
	}
	if socket == "" || !filepath.IsAbs(socket) {
		return usageError(stderr, cmd, errors.New("--socket: name the socket by an absolute path, as the profile's listenerPath does"))
	}
	cfg, ok := loadConfig(p, cmd, stderr)
	if !ok {
		return exitFailure
	}
	if cfg.Chroot != "" {
		return report(stderr, cmd, placed(cfg, "chroot", errors.New("the agent serves containers in their own root; remove chroot")))
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return report(stderr, cmd, err)
	}
	if err := kernel.Detect().Require(); err != nil {
		return report(stderr, cmd, kernelProblem(err))
	}
	logDropIns(cfg, log)
	// Checked once before listening, as scrim check would: a bad plugin is an error now, not
	// at the first container.
	ctx := context.Background()
	h, err := buildHandlers(ctx, cfg, log, false)
	if err != nil {
		return report(stderr, cmd, err)
	}
	h.close(ctx, hclog.NewNullLogger())

	var sink audit.Sink
	if cfg.Audit != "" {
		w, err := audit.Open(cfg.Audit, audit.Options{Log: log.Named("audit")})
		if err != nil {
			return report(stderr, cmd, placed(cfg, "audit", err))
		}
		defer w.Close()
		sink = w
	}
	a, err := agent.Listen(agent.Config{
		Socket: socket,
		Mode:   supervisorMode(cfg.Mode),
		Stat:   cfg.MediateStat,
		Log:    log.Named("agent"),
		Build: func(c agent.Container) (*agent.Handlers, error) {
			return containerHandlers(cfg, c, log, sink)
		},
	})
	if err != nil {
		return report(stderr, cmd, err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	drain, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- a.Serve(drain) }()
	log.Info("agent listening", "socket", socket)
	for {
		select {
		case err := <-served:
			if err != nil {
				return report(stderr, cmd, err)
			}
			log.Info("agent drained")
			return 0
		case s := <-sigs:
			if drain.Err() != nil {
				log.Warn("second signal: ending with containers still served; their mediated calls fail from now on", "signal", s.String(), "containers", a.Containers())
				return 128 + int(s.(syscall.Signal))
			}
			log.Info("draining", "signal", s.String(), "containers", a.Containers())
			stop()
		}
	}
}

// containerHandlers builds a container's handlers from the agent's configuration, as
// buildHandlers does for scrim run, but read in the container's root: its own /etc/hosts is
// the seed of the virtual one.
func containerHandlers(cfg config.Config, c agent.Container, log hclog.Logger, sink audit.Sink) (*agent.Handlers, error) {
	opts := builtinOptions(cfg)
	opts.ImageRoot = c.Root
	chain, syscalls, err := builtin.New(opts)
	if err != nil {
		return nil, fmt.Errorf("build built-in shims: %w", err)
	}
	ctx := context.Background()
	host, err := plugins.Load(ctx, pluginSpecs(cfg), plugins.Options{CacheDir: cfg.CacheDir, MemoryTotal: cfg.PluginMemoryTotal, Log: log.Named("plugins")})
	if err != nil {
		return nil, fmt.Errorf("load plugins: %w", err)
	}
	h := &handlers{chain: append(chain, host.Registrations()...), syscalls: syscalls, host: host}
	return &agent.Handlers{Chain: h.chain, Syscalls: h.syscalls, Audit: sink, Close: func() {
		if sink != nil {
			h.auditStats(sink)
		}
		h.close(ctx, log)
	}}, nil
}
