package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/agent"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const agentUsage = `Usage: scrim agent --socket PATH [-c FILE] [--log-level LEVEL] [--log-format FORMAT]

Serves containers as their runtime's seccomp agent: a runtime whose container config carries
the seccomp section 'scrim oci profile --socket PATH' prints sends each container's listener
to PATH, and scrim mediates the container's calls with the shims and plugins of FILE, as scrim
run would, resolving paths in the container's root. Containers that share an id (runc run,
then runc exec) share one state. Only containers without a user namespace of their own are
served for now (docs/containers.md).

A container gets the profile [profiles.NAME] of FILE that its listenerMetadata names
("profile=NAME", from 'scrim oci profile --metadata profile=NAME'), else the one its
annotation run.scrim.profile names, else FILE's top level. A container naming a profile FILE
does not have is refused. Its host name is the profile's hostname if FILE sets one, else the
hostname of its bundle's config.json.

The socket is created readable and writable by its owner only; a live one is an error, a
stale one is replaced. SIGTERM or SIGINT stops accepting containers and waits until those
served have ended; a second one ends the agent at once, and the containers' mediated calls
then fail.

Flags:
  --socket PATH       the socket to listen on (the profile's listenerPath)
  -c, --config FILE   the configuration, the same keys as scrim run's (not chroot), and
                      the profiles (docs/config.md)
  --log-level LEVEL   trace, debug, info, warn, error or off, over the log.level key
                      (default: warn)
  --log-format FORMAT text or json, over the log.format key (default: text)
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
	for _, name := range []string{"log-level", "log-format"} {
		fs.Var(&recorder{name: name, into: &p.settings}, name, "")
	}
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
	profiles, err := agentProfiles(ctx, cfg, log)
	if err != nil {
		return report(stderr, cmd, err)
	}

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
		Log:    log.Named("agent"),
		Build: func(c agent.Container) (*agent.Handlers, error) {
			return profiles.handlers(c, log, sink)
		},
	})
	if err != nil {
		return report(stderr, cmd, hint(err, "give --socket a path in an existing directory scrim may write, where no other agent listens"))
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

// profileAnnotation is the container annotation that names a container's profile, for a
// runtime whose seccomp profile carries no listenerMetadata (one profile file for every pod).
const profileAnnotation = "run.scrim.profile"

// agentProfile is one configuration the agent serves containers with: the top level or a
// [profiles.NAME] table.
type agentProfile struct {
	cfg config.Config
	// rules are its filter's, as 'scrim oci profile' prints them.
	rules []supervisor.Rule
	// notified are the calls its filter notifies, for any arguments.
	notified map[int]bool
}

// agentConfig is every profile of the agent's configuration, by name ("" for the top level).
type agentConfig struct {
	byName map[string]*agentProfile
	// notified are the calls the filter of any profile notifies.
	notified map[int]bool
	// state is scrim's own files of every profile: a container of one profile must not
	// change the plugins another profile loads.
	state builtin.State
}

// agentProfiles builds every profile's handlers once, so that a bad plugin in any profile is
// an error at start-up, and learns the filter each profile's containers run under.
func agentProfiles(ctx context.Context, cfg config.Config, log hclog.Logger) (*agentConfig, error) {
	ac := &agentConfig{byName: map[string]*agentProfile{}, notified: map[int]bool{}}
	addNew := func(to *[]string, paths []string) {
		for _, p := range paths {
			if !slices.Contains(*to, p) {
				*to = append(*to, p)
			}
		}
	}
	for _, name := range append([]string{""}, cfg.ProfileNames()...) {
		pc, _ := cfg.ForProfile(name)
		st := stateOf(pc)
		addNew(&ac.state.Paths, st.Paths)
		addNew(&ac.state.Secret, st.Secret)
		h, err := buildHandlers(ctx, pc, log, false)
		if err != nil {
			return nil, inProfile(name, err)
		}
		rules, err := supervisor.Rules(containerFilter(pc, h))
		h.close(ctx, hclog.NewNullLogger())
		if err != nil {
			return nil, inProfile(name, err)
		}
		p := &agentProfile{cfg: pc, rules: rules, notified: map[int]bool{}}
		for _, r := range rules {
			if r.Action == supervisor.RuleNotify {
				p.notified[r.Nr] = true
				ac.notified[r.Nr] = true
			}
		}
		ac.byName[name] = p
	}
	return ac, nil
}

// describeProfiles prints the agent's profiles for scrim check, after loading each one's
// plugins as the agent does at start-up.
func describeProfiles(ctx context.Context, w io.Writer, cfg config.Config, log hclog.Logger) error {
	names := cfg.ProfileNames()
	if len(names) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nprofiles (scrim agent), each the top level with its own keys over it:")
	for _, name := range names {
		pc := cfg.Profiles[name]
		h, err := buildHandlers(ctx, pc, log, false)
		if err != nil {
			return inProfile(name, err)
		}
		h.close(ctx, hclog.NewNullLogger())
		cpus := "the host's"
		if pc.CPUs > 0 {
			cpus = strconv.Itoa(pc.CPUs)
		}
		plugins := make([]string, 0, len(pc.Plugins))
		for _, p := range pc.Plugins {
			plugins = append(plugins, p.Name)
		}
		host := pc.Hostname
		if !pc.Sets("hostname") {
			host = "the bundle's, else " + host
		}
		fmt.Fprintf(w, "     %-16s mode %s, hostname %s, cpus %s, mediate_stat %t, plugins %s\n",
			name, pc.Mode, host, cpus, pc.MediateStat, orDefault(strings.Join(plugins, " "), "none"))
	}
	return nil
}

func inProfile(name string, err error) error {
	if name == "" {
		return err
	}
	return fmt.Errorf("profile %s: %w", name, err)
}

// handlers builds the handlers of container c from the profile it names.
func (ac *agentConfig) handlers(c agent.Container, log hclog.Logger, sink audit.Sink) (*agent.Handlers, error) {
	name, from, err := containerProfile(c, log)
	if err != nil {
		return nil, err
	}
	p, ok := ac.byName[name]
	if !ok {
		have := "none"
		if names := slices.Sorted(maps.Keys(ac.byName)); len(names) > 1 {
			have = strings.Join(names[1:], ", ")
		}
		return nil, fmt.Errorf("the %s names profile %s, which the agent's configuration does not have (it has: %s)", from, config.Quote(name), have)
	}
	cfg := p.cfg
	hostFrom := "config"
	switch {
	case cfg.Sets("hostname") || c.Hostname == "":
	case config.CheckHostname(c.Hostname) != nil:
		log.Warn("the bundle's host name is not one scrim serves; the container gets the configured one", "container", c.ID,
			"bundle", c.Bundle, "error", config.CheckHostname(c.Hostname))
	default:
		cfg.Hostname, hostFrom = c.Hostname, "bundle"
	}
	log.Info("container profile", "container", c.ID, "profile", orDefault(name, "(top level)"), "chosen_by", from,
		"hostname", cfg.Hostname, "hostname_from", hostFrom)
	h, err := containerHandlers(cfg, c, ac.state, log, sink)
	if err != nil {
		return nil, err
	}
	// Another profile's filter may notify calls this one leaves to the kernel (an
	// annotation chose a profile other than the one the filter was made for).
	var extra []int
	for nr := range ac.notified {
		if !p.notified[nr] {
			extra = append(extra, nr)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		h.Syscalls = append(h.Syscalls, &unnotified{nrs: extra, rules: p.rules})
	}
	return h, nil
}

// containerProfile returns the name of the profile container c asks for, "" for the top
// level, and what named it. listenerMetadata wins over the annotation: it is the profile the
// container's filter was made for.
func containerProfile(c agent.Container, log hclog.Logger) (name, from string, err error) {
	meta, err := metadataProfile(c.Metadata)
	if err != nil {
		return "", "", err
	}
	ann, annotated := c.Annotations[profileAnnotation]
	switch {
	case meta != "":
		if annotated && ann != meta {
			log.Warn("the container's annotation names another profile than its listenerMetadata; the metadata's is used",
				"container", c.ID, "metadata", c.Metadata, "annotation", ann)
		}
		return meta, "listenerMetadata", nil
	case annotated:
		if ann == "" {
			return "", "", fmt.Errorf("the annotation %s is empty; name a profile or leave the annotation out", profileAnnotation)
		}
		return ann, "annotation " + profileAnnotation, nil
	}
	return "", "default", nil
}

// metadataProfile reads the profile a listenerMetadata string names: KEY=VALUE fields
// separated by commas or white space, of which scrim knows one, profile. Anything else is an
// error, so that a mistyped key refuses the container rather than serve it with the top
// level's configuration.
func metadataProfile(meta string) (string, error) {
	var profile string
	seen := false
	for _, f := range strings.FieldsFunc(meta, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return "", fmt.Errorf("listenerMetadata %s: field %s is not KEY=VALUE", config.Quote(meta), config.Quote(f))
		case k != "profile":
			return "", fmt.Errorf("listenerMetadata %s: unknown key %s; scrim reads profile=NAME", config.Quote(meta), config.Quote(k))
		case seen:
			return "", fmt.Errorf("listenerMetadata %s: profile is named twice", config.Quote(meta))
		case v == "":
			return "", fmt.Errorf("listenerMetadata %s: profile= names no profile", config.Quote(meta))
		}
		profile, seen = v, true
	}
	return profile, nil
}

// unnotified answers the calls another profile's filter notifies and the container's own
// profile does not, as its own filter would have: the errno of its rule that refuses the
// call, or the kernel's answer. Registers decide, never memory, so CONTINUE is sound.
type unnotified struct {
	nrs   []int
	rules []supervisor.Rule
}

var _ shim.SyscallHandler = (*unnotified)(nil)

func (u *unnotified) ID() string      { return "agent.profile" }
func (u *unnotified) Syscalls() []int { return u.nrs }
func (u *unnotified) Syscall(_ context.Context, call *shim.Call) (shim.SyscallResult, error) {
	for _, r := range u.rules {
		if r.Nr == call.Nr && r.Action == supervisor.RuleErrno && r.Match(call.Args) {
			return shim.Fail(r.Errno), nil
		}
	}
	return shim.Continue(), nil
}

// containerHandlers builds a container's handlers from its profile's configuration, as
// buildHandlers does for scrim run, but read in the container's root: its own /etc/hosts is
// the seed of the virtual one. state is what builtin.state protects: the agent's own files,
// those of every profile.
func containerHandlers(cfg config.Config, c agent.Container, state builtin.State, log hclog.Logger, sink audit.Sink) (*agent.Handlers, error) {
	opts := builtinOptions(cfg)
	opts.ImageRoot = c.Root
	opts.State = state
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
	return &agent.Handlers{Chain: h.chain, Syscalls: h.syscalls, Mode: supervisorMode(cfg.Mode), Stat: cfg.MediateStat, Audit: sink, Close: func() {
		if sink != nil {
			h.auditStats(sink)
		}
		h.close(ctx, log)
	}}, nil
}
