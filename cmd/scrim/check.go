package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/supervisor/launch"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const checkUsage = `Usage: scrim check [-c FILE] [flags]

Checks a configuration (the file, the drop-in plugins and any flags given, exactly as
scrim run would combine them) and makes every check scrim run makes before it starts the
program: the kernel's features, the working directory, the audit log, the shims (the names
of --net-allow resolve) and the plugins. Then it prints what would run. Nothing is started.
Exits 0 when everything is valid, 125 otherwise, naming the flag or key at fault.
`

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	p, err := parseFlags("check", checkUsage, args, stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		return usageError(stderr, "check", err)
	}
	if len(p.args) > 0 {
		return usageError(stderr, "check", fmt.Errorf("unexpected argument %s: check runs nothing", config.Quote(p.args[0])))
	}
	cfg, ok := loadConfig(p, "check", stderr)
	if !ok {
		return exitFailure
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return report(stderr, "check", err)
	}
	if err := kernel.Detect().Require(); err != nil {
		return report(stderr, "check", kernelProblem(err))
	}
	ctx := context.Background()
	h, err := buildHandlers(ctx, cfg, log, false)
	if err != nil {
		return report(stderr, "check", err)
	}
	defer h.close(ctx, hclog.NewNullLogger())
	// What scrim run checks before it starts the program, from the same launch.Config.
	if err := launch.Check(launchConfig(cfg, h, hclog.NewNullLogger())); err != nil {
		return report(stderr, "check", launchProblem("check", cfg, err))
	}
	if err := checkAudit(cfg.Audit); err != nil {
		return report(stderr, "check", placed(cfg, "audit", err))
	}
	// The chain as launch.New will order it, with what it adds itself in image mode.
	chain, err := launch.Chain(launch.Config{Handlers: h.chain, Image: image(cfg)})
	if err != nil {
		return report(stderr, "check", err)
	}
	describe(stdout, cfg, h, chain)
	if err := describeNotified(stdout, cfg, h); err != nil {
		return report(stderr, "check", err)
	}
	if err := describeProfiles(ctx, stdout, cfg, log); err != nil {
		return report(stderr, "check", err)
	}
	for _, o := range overlaps(chain) {
		fmt.Fprintf(stderr, "scrim check: warning: %s\n", o)
	}
	for _, p := range cfg.Plugins {
		if p.Demoted != nil {
			fmt.Fprintf(stderr, "scrim check: warning: drop-in plugin %q (%s) asks for priority %d, before the built-in shims; it runs at %d, behind them, unless allow_outrank in the config file names it\n",
				p.Name, p.Source, *p.Demoted, p.Priority)
		}
		if cfg.Chroot == "" {
			for _, c := range h.host.Claims(p.Name) {
				if n := symlinkedClaim(c); n != "" {
					fmt.Fprintf(stderr, "scrim check: warning: plugin.%s %s\n", p.Name, n)
				}
			}
		}
	}
	return 0
}

// checkAudit checks, without creating or changing anything, that scrim run could append to the
// audit log at path, as audit.Open checks it: a file that exists must be scrim's audit log.
func checkAudit(path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || err == nil && !st.Mode().IsRegular() {
		// run creates it (config checked that its directory exists), or writes to the FIFO
		// or device as it is: opening one here could wait for a writer.
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open audit log %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return err
	}
	if err := audit.Check(f, st.Size()); err != nil {
		return fmt.Errorf("open audit log %s: %w; scrim appends only to a log it wrote and left the file as it was", path, err)
	}
	return nil
}

// claimed is what one handler of the virtual band decides on.
type claimed struct {
	id       string
	priority int
	exact    []string
	patterns []shim.PathPattern
}

// overlaps describes every pair of handlers in the virtual band of chain (in chain order)
// that claim a path in common, and which of the two decides it, but for two built-in shims.
// Built-in shims are described by builtin.Served, plugins by their claims. Two patterns that
// may match a common path count as an overlap: the warning errs on the side of saying too much.
func overlaps(chain []shim.Registration) []string {
	var hs []claimed
	for _, r := range chain {
		if r.Band != shim.BandVirtual {
			continue
		}
		c := claimed{id: r.Handler.ID(), priority: r.Priority}
		if cl, ok := r.Handler.(shim.Claimer); ok {
			c.exact, c.patterns = cl.Claims()
		} else {
			c.exact, c.patterns = builtin.Served(c.id)
		}
		slices.Sort(c.exact)
		hs = append(hs, c)
	}
	var out []string
	for i, a := range hs {
		for _, b := range hs[i+1:] {
			if strings.HasPrefix(a.id, "builtin.") && strings.HasPrefix(b.id, "builtin.") {
				// scrim's own shims share some files by design (a cgroup's files, a NUMA
				// node's), each deciding only its own; nothing a user configured is at stake.
				continue
			}
			common := sharedClaims(a, b)
			if len(common) == 0 {
				continue
			}
			order := fmt.Sprintf("priority %d before %d", a.priority, b.priority)
			if a.priority == b.priority {
				order = fmt.Sprintf("equal priority %d, so the order they were configured in (built-in shims first)", a.priority)
			}
			out = append(out, fmt.Sprintf("%s and %s both claim %s; %s decides them (%s), %s sees only what %s passes on",
				a.id, b.id, strings.Join(common, ", "), a.id, order, b.id, a.id))
		}
	}
	return out
}

// sharedClaims lists the paths, or descriptions of paths, that a and b both claim.
func sharedClaims(a, b claimed) []string {
	var common []string
	covered := func(p string, pats []shim.PathPattern) bool {
		for _, pt := range pats {
			if len(p) > len(pt.Prefix) && strings.HasPrefix(p, pt.Prefix) && strings.HasSuffix(p, pt.Suffix) && strings.Contains(p, pt.Contains) {
				return true
			}
		}
		return false
	}
	for _, p := range a.exact {
		if slices.Contains(b.exact, p) || covered(p, b.patterns) {
			common = append(common, p)
		}
	}
	for _, p := range b.exact {
		if !slices.Contains(a.exact, p) && covered(p, a.patterns) {
			common = append(common, p)
		}
	}
	for _, pa := range a.patterns {
		for _, pb := range b.patterns {
			if !strings.HasPrefix(pa.Prefix, pb.Prefix) && !strings.HasPrefix(pb.Prefix, pa.Prefix) ||
				!strings.HasSuffix(pa.Suffix, pb.Suffix) && !strings.HasSuffix(pb.Suffix, pa.Suffix) {
				continue
			}
			prefix := max(pa.Prefix, pb.Prefix) // the longer, as one starts the other
			if d := "paths under " + prefix; !slices.Contains(common, d) {
				common = append(common, d)
			}
		}
	}
	return common
}

// describe prints what scrim run would do with cfg; chain is its open chain in order.
func describe(w io.Writer, cfg config.Config, h *handlers, chain []shim.Registration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("config", orDefault(cfg.File, "none (built-in defaults)"))
	row("mode", cfg.Mode)
	row("hostname", cfg.Hostname)
	cpus, memory := "the host's count", "the host's"
	if cfg.CPUs > 0 {
		cpus = strconv.Itoa(cfg.CPUs)
	}
	if cfg.Memory > 0 {
		memory = config.FormatSize(cfg.Memory)
	}
	row("cpus", cpus)
	row("memory", memory)
	if cfg.RandomSeed != nil {
		row("random", fmt.Sprintf("deterministic, seed %d", *cfg.RandomSeed))
	} else {
		row("random", "real")
	}
	row("net_allow", orDefault(strings.Join(cfg.NetAllow, ", "), "none (loopback only)"))
	row("extra_hosts", orDefault(strings.Join(cfg.ExtraHosts, "; "), "none"))
	row("deny", orDefault(strings.Join(cfg.Deny, ", "), "built-in list only"))
	root := "the host's /"
	if cfg.Chroot != "" {
		root = cfg.Chroot
		if cfg.ChrootReadonly {
			root += " (read-only)"
		}
	}
	row("root", root)
	for _, m := range cfg.Mounts {
		ro := ""
		if m.ReadOnly {
			ro = " (read-only)"
		}
		row("mount", fmt.Sprintf("%s at %s%s", m.Host, m.Inside, ro))
	}
	row("cwd", orDefault(cfg.Cwd, "scrim's own"))
	row("audit", orDefault(cfg.Audit, "none"))
	row("log", cfg.Log.Level+", "+cfg.Log.Format)
	row("plugin_dirs", orDefault(strings.Join(cfg.PluginDirs, ", "), "none"))
	row("cache_dir", orDefault(cfg.CacheDir, "none (no compile cache)"))
	if len(cfg.Plugins) > 0 {
		row("plugin_memory_total", config.FormatSize(cfg.PluginMemoryTotal)+" for every plugin instance together")
	}
	tw.Flush()

	fmt.Fprintln(w, "\nopen chain, first decision wins:")
	sources := map[string]config.Plugin{}
	for _, p := range cfg.Plugins {
		sources["plugin."+p.Name] = p
	}
	for i, r := range chain {
		id := r.Handler.ID()
		line := fmt.Sprintf("%3d  %-24s %-8s", i+1, id, bandName(r.Band))
		if r.Band != shim.BandSecurity {
			line += fmt.Sprintf(" priority %d", r.Priority)
		}
		if p, ok := sources[id]; ok {
			if p.Demoted != nil {
				line += fmt.Sprintf(" (asked for %d: a drop-in runs behind the built-in shims unless allow_outrank names it)", *p.Demoted)
			}
			line += fmt.Sprintf("  %s (from %s)", p.Path, p.Source)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	last := "the real file under the host's /"
	if cfg.Chroot != "" {
		last = "the real file under " + cfg.Chroot
	}
	fmt.Fprintf(w, "last  %s\n", last)

	if len(h.syscalls) > 0 {
		fmt.Fprintln(w, "\nother system calls taken over:")
		for _, s := range h.syscalls {
			names := make([]string, 0, len(s.Syscalls()))
			for _, nr := range s.Syscalls() {
				names = append(names, shim.SyscallName(nr))
			}
			fmt.Fprintf(w, "     %-24s %s\n", s.ID(), strings.Join(names, ", "))
		}
	}
	if len(cfg.Plugins) > 0 {
		fmt.Fprintln(w, "\nplugins:")
		for _, p := range cfg.Plugins {
			fmt.Fprintf(w, "     %-16s %s  priority %d, timeout %s, memory %s, instances %d, on_error %s  (from %s)\n",
				p.Name, p.Path, p.Priority, p.Timeout, config.FormatSize(p.Memory), p.Instances, p.OnError, p.Source)
			fmt.Fprintf(w, "     %-16s %s\n", "", "claims  "+orDefault(strings.Join(h.host.Claims(p.Name), " "), "none"))
		}
	}
}

func bandName(b shim.Band) string {
	switch b {
	case shim.BandSecurity:
		return "security"
	case shim.BandVirtual:
		return "virtual"
	}
	return fmt.Sprintf("band(%d)", b)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
