package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/logging"
	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// loadConfig reads the config file named by the flags, applies the flags on top and checks the
// result. Problems are printed to stderr, one per line, and reported as ok == false.
func loadConfig(p parsed, cmd string, stderr io.Writer) (config.Config, bool) {
	cfg, err := config.Load(p.config)
	if err == nil {
		for _, s := range p.settings {
			if err = cfg.Flag(s.name, s.value); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = cfg.Check()
	}
	var pe *fs.PathError
	if abs, _ := filepath.Abs(p.config); err != nil && p.config != "" && errors.As(err, &pe) && pe.Path == abs {
		err = fmt.Errorf("-c %s: %w; name an existing file (config.toml.example documents every key)", p.config, pe.Err)
	}
	if err != nil {
		report(stderr, cmd, err)
		return config.Config{}, false
	}
	return cfg, true
}

func newLogger(cfg config.Config, stderr io.Writer) (hclog.Logger, error) {
	return logging.New(stderr, cfg.Log.Level, cfg.Log.Format)
}

func builtinOptions(cfg config.Config) builtin.Options {
	return builtin.Options{
		Hostname:    cfg.Hostname,
		CPUs:        cfg.CPUs,
		MemoryBytes: cfg.Memory,
		RandomSeed:  cfg.RandomSeed,
		NetAllow:    cfg.NetAllow,
		ExtraHosts:  cfg.ExtraHosts,
		Deny:        cfg.Deny,
		ImageRoot:   cfg.Chroot,
		State:       stateOf(cfg),
	}
}

// stateOf lists scrim's own files that a sandbox must not change, because a later run trusts
// them: the config file, every plugin's .wasm and drop-in file, the plugin directories
// (existing or not: a drop-in planted there would load next time), the compile cache, whose
// key the sandbox must not even read (it would let it forge cache entries), and the audit log.
func stateOf(cfg config.Config) builtin.State {
	var st builtin.State
	add := func(p string) {
		if p == "" {
			return
		}
		if abs, err := filepath.Abs(p); err == nil {
			st.Paths = append(st.Paths, abs)
		}
	}
	add(cfg.File)
	for _, d := range cfg.PluginDirs {
		add(d)
	}
	for _, p := range cfg.Plugins {
		add(p.Path)
		if p.DropIn != "" {
			add(sourceFile(p.Source))
		}
	}
	if cfg.CacheDir != "" {
		add(cfg.CacheDir)
		if abs, err := filepath.Abs(plugins.CacheKeyFile(cfg.CacheDir)); err == nil {
			st.Secret = append(st.Secret, abs)
		}
	}
	add(cfg.Audit)
	return st
}

// sourceFile returns the file of a plugin's Source, "FILE:LINE".
func sourceFile(source string) string {
	i := strings.LastIndexByte(source, ':')
	if i < 0 {
		return ""
	}
	if _, err := strconv.Atoi(source[i+1:]); err != nil {
		return ""
	}
	return source[:i]
}

func pluginSpecs(cfg config.Config) []plugins.Spec {
	specs := make([]plugins.Spec, 0, len(cfg.Plugins))
	for _, p := range cfg.Plugins {
		specs = append(specs, plugins.Spec{
			Name:        p.Name,
			Path:        p.Path,
			Priority:    p.Priority,
			Paths:       p.Paths,
			Timeout:     p.Timeout,
			MemoryBytes: p.Memory,
			Instances:   p.Instances,
			OnError:     p.OnError,
			BreakAfter:  p.BreakAfter,
			BreakFor:    p.BreakFor,
			SHA256:      p.SHA256,
			Config:      p.Config,
			Source:      p.Source,
		})
	}
	return specs
}

func supervisorMode(mode string) supervisor.Mode {
	if mode == "fast" {
		return supervisor.ModeFast
	}
	return supervisor.ModeStrict
}

// logDropIns logs, once per run, every drop-in plugin loaded and from where, and every
// drop-in kept behind the built-in shims. It logs at warn, the default level: a drop-in is
// code from outside the config file and the command line, and a run must never take one in
// unseen (listing it in the config file as a [[plugin]] table quiets the line).
func logDropIns(cfg config.Config, log hclog.Logger) {
	for _, p := range cfg.Plugins {
		if p.DropIn == "" {
			continue
		}
		log.Warn("drop-in plugin loaded", "plugin", p.Name, "dir", p.DropIn, "file", p.Source, "wasm", p.Path, "priority", p.Priority)
		if p.Demoted != nil {
			log.Warn("drop-in plugin kept behind the built-in shims; name it in allow_outrank in the config file to let it run first",
				"plugin", p.Name, "priority", *p.Demoted, "now", p.Priority)
		}
	}
}

// handlers holds everything built from a config that needs releasing.
type handlers struct {
	chain    []shim.Registration
	syscalls []shim.SyscallHandler
	host     *plugins.Host
}

// buildHandlers builds the built-in shims and loads the plugins. deferred lets plugins seen
// before finish loading in the background (plugins.Options.Deferred); check passes false so
// that it loads and validates every plugin.
func buildHandlers(ctx context.Context, cfg config.Config, log hclog.Logger, deferred bool) (*handlers, error) {
	chain, syscalls, err := builtin.New(builtinOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("build built-in shims: %w", err)
	}
	host, err := plugins.Load(ctx, pluginSpecs(cfg), plugins.Options{CacheDir: cfg.CacheDir, MemoryTotal: cfg.PluginMemoryTotal, Log: log.Named("plugins"), Deferred: deferred})
	if err != nil {
		return nil, hint(fmt.Errorf("load plugins: %w", err), "fix or remove the plugin; 'scrim plugin inspect FILE.wasm' says what is wrong with a module")
	}
	h := &handlers{chain: chain, syscalls: syscalls, host: host}
	h.chain = append(h.chain, host.Registrations()...)
	return h, nil
}

// auditStats writes each plugin's counters for the run to the audit log.
func (h *handlers) auditStats(sink audit.Sink) {
	now := time.Now()
	for _, s := range h.host.Stats() {
		var mean time.Duration
		if s.Calls > 0 {
			mean = s.Latency / time.Duration(s.Calls)
		}
		sink.Record(audit.Record{Time: now, Plugin: &audit.PluginStats{
			Name: s.Name, Calls: s.Calls, Faults: s.Faults, Traps: s.Traps, Timeouts: s.Timeouts,
			Broken: s.Broken, Replaced: s.Replaced,
			MeanMicros: mean.Microseconds(), MaxMicros: s.MaxLatency.Microseconds(),
		}})
	}
}

func (h *handlers) close(ctx context.Context, log hclog.Logger) {
	if err := h.host.Close(ctx); err != nil {
		log.Warn("closing plugins failed", "error", err)
	}
}

// chainIDs names the handlers of an open chain in order, as `scrim check` lists them and `scrim
// run` logs them.
func chainIDs(regs []shim.Registration) []string {
	ids := make([]string, len(regs))
	for i, r := range regs {
		ids[i] = r.Handler.ID()
	}
	return ids
}
