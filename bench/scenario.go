package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Contender is one way of running a program: natively, under scrim, or under another sandbox.
type Contender struct {
	// Key is the short name used on the command line and in charts; Name is the report's.
	Key, Name string
	// Scrim marks scrim's own contenders: their failure fails the run.
	Scrim bool
	// Supervisor marks contenders with a supervising process whose peak memory means
	// something (scrim, the floor, proot).
	Supervisor bool
	// wrap returns the command line that runs argv under the contender; cfg names the scrim
	// configuration the scenario asks for.
	wrap func(e *env, cfg string, argv []string) []string
	// Skip is why the contender is not run, or "".
	Skip string
	// Version is the first line of its --version, for the report.
	Version string
	// Workloads, when set, are the only scenarios the contender runs.
	Workloads []string
	// Container marks the runc contenders, which run the container scenarios only and have
	// their own section in the report.
	Container bool
	// Missing marks a skip for want of what the machine lacks (runc, root), which does not
	// fail the run even for scrim's own contenders.
	Missing bool
	// prepare, when set, writes what the command line of wrap needs before each run (a
	// container's config.json holding the command).
	prepare func(e *env, argv []string) error
}

func contenders() []*Contender {
	return []*Contender{
		{Key: "native", Name: "native", wrap: func(_ *env, _ string, argv []string) []string { return argv }},
		{Key: "strict", Name: "scrim strict", Scrim: true, Supervisor: true, wrap: func(e *env, cfg string, argv []string) []string {
			return append([]string{e.scrim, "run", "-c", e.scrimCfg[cfg], "--"}, argv...)
		}},
		{Key: "baseline", Name: "scrim strict, baseline", Scrim: true, Supervisor: true, wrap: func(e *env, cfg string, argv []string) []string {
			return append([]string{e.baseline, "run", "-c", e.scrimCfg[cfg], "--"}, argv...)
		}},
		// nostat is scrim strict with mediate_stat = false, on the whole programs only: what
		// mediating the stat-like calls costs (statSection).
		{Key: "nostat", Name: "scrim strict, mediate_stat off", Scrim: true, Supervisor: true, Workloads: statWorkloads, wrap: func(e *env, cfg string, argv []string) []string {
			return append([]string{e.scrim, "run", "-c", e.scrimCfg[cfg+"-nostat"], "--"}, argv...)
		}},
		{Key: "fast", Name: "scrim fast", Scrim: true, Supervisor: true, wrap: func(e *env, cfg string, argv []string) []string {
			return append([]string{e.scrim, "run", "--mode", "fast", "-c", e.scrimCfg[cfg], "--"}, argv...)
		}},
		{Key: "floor", Name: "C floor", Supervisor: true, wrap: func(e *env, _ string, argv []string) []string {
			return append([]string{e.floor, "--trap", e.trappedArg}, argv...)
		}},
		{Key: "inject", Name: "C inject floor", Supervisor: true, wrap: func(e *env, _ string, argv []string) []string {
			return append([]string{e.floor, "--inject", "--trap", e.trappedArg}, argv...)
		}},
		{Key: "proot", Name: "proot", Supervisor: true, wrap: func(e *env, _ string, argv []string) []string {
			return append([]string{"proot", "-b", e.hosts + ":/etc/hosts"}, argv...)
		}},
		{Key: "bwrap", Name: "bubblewrap", wrap: func(e *env, _ string, argv []string) []string {
			return append([]string{"bwrap", "--dev-bind", "/", "/", "--ro-bind", e.hosts, "/etc/hosts"}, argv...)
		}},
		{Key: "firejail", Name: "firejail", wrap: func(e *env, _ string, argv []string) []string {
			return append([]string{"firejail", "--quiet", "--noprofile", "--hosts-file=" + e.hosts}, argv...)
		}},
		{Key: keyRunc, Name: "runc", Container: true, Workloads: containerWorkloads,
			wrap: containerWrap(keyRunc), prepare: prepareContainer(keyRunc)},
		{Key: keyRuncAgent, Name: "runc + scrim agent", Scrim: true, Container: true, Workloads: containerWorkloads,
			wrap: containerWrap(keyRuncAgent), prepare: prepareContainer(keyRuncAgent)},
	}
}

// probe decides whether a contender can run here: it must be installed, and must run a
// program that reads the hosts file and see the loopback-only content.
func (c *Contender) probe(ctx context.Context, e *env) {
	if c.Container {
		if c.probeContainer(ctx, e); c.Skip != "" {
			return
		}
	}
	probe := []string{"cat", "/etc/hosts"}
	argv := c.wrap(e, "p0", probe)
	if _, err := exec.LookPath(argv[0]); err != nil {
		c.Skip = fmt.Sprintf("%s is not installed", argv[0])
		return
	}
	if c.prepare != nil {
		if err := c.prepare(e, probe); err != nil {
			c.Skip = err.Error()
			return
		}
	}
	if !c.Scrim && c.Key != "native" && !c.isFloor() {
		c.Version = version(ctx, argv[0])
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.Skip = fmt.Sprintf("refuses to run here: %v: %s", err, oneLine(out))
		return
	}
	if c.Key != "native" && !c.isFloor() && !strings.Contains(string(out), "127.0.0.1 localhost") {
		c.Skip = fmt.Sprintf("does not show the bound hosts file: %s", oneLine(out))
	}
}

// isFloor reports whether c is one of the C floors, which bind no hosts file.
func (c *Contender) isFloor() bool { return c.Key == "floor" || c.Key == "inject" }

// version returns the first line of `name --version` that holds a version number, as
// "name 1.2.3" when the line is a banner rather than words (proot draws its name in ASCII art).
func version(ctx context.Context, name string) string {
	out, _ := exec.CommandContext(ctx, name, "--version").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if !versionRE.MatchString(l) {
			continue
		}
		l = strings.TrimSpace(l)
		if r := l[0]; (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			f := strings.Fields(l)
			return name + " " + f[len(f)-1]
		}
		return l
	}
	return ""
}

var versionRE = regexp.MustCompile(`\d+\.\d+`)

func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Kind says what a scenario measures.
type Kind uint8

const (
	// KindOpen runs the open loop; the value is nanoseconds per open and opens per second.
	KindOpen Kind = iota + 1
	// KindWall times a whole command, start to exit.
	KindWall
	// KindRSS runs a command and records the contender's supervisor's peak resident memory.
	KindRSS
	// KindTimed runs a command under timeit, which times it from fork to exit inside the
	// sandbox, so that the sandbox's own start-up is not counted; the value is seconds.
	KindTimed
)

// Scenario is one thing measured for every contender it applies to.
type Scenario struct {
	Key, Title string
	Kind       Kind
	// Group puts related scenarios in one table and one chart.
	Group string
	// File and Threads describe an open loop.
	File    string
	Threads int
	// ScrimCfg names the scrim configuration to use (see writeScrimConfigs).
	ScrimCfg string
	// Only, when not empty, lists the contender keys the scenario applies to.
	Only []string
	// CPU0 confines the contender and everything it starts to CPU 0 (taskset -c 0), which
	// takes the cross-CPU wake-ups out of a comparison of supervisors.
	CPU0 bool
	// argv is the command; env adds to the environment; before runs before each measurement.
	argv   func(e *env) []string
	env    []string
	before func(e *env) error
}

// appliesTo reports whether the scenario runs for contender c.
func (s *Scenario) appliesTo(c *Contender) bool {
	if len(c.Workloads) > 0 && !slices.Contains(c.Workloads, s.Key) {
		return false
	}
	if len(s.Only) == 0 {
		return true
	}
	for _, k := range s.Only {
		if k == c.Key {
			return true
		}
	}
	return false
}

// Open-loop file names, as the report shows them.
const (
	filePass   = "passthrough"
	fileHosts  = "builtin (/etc/hosts)"
	filePlugin = "plugin (/etc/motd)"
	fileDenied = "denied (/proc/kcore)"
	// filePass10 is the passthrough file with ten plugins loaded that do not claim it.
	filePass10 = "passthrough, 10 plugins loaded"
	// filePassCPU0 is the passthrough file with the supervisor and the loop on CPU 0 alone.
	filePassCPU0 = "passthrough, everything on CPU 0"
	// fileCtrPass is the passthrough file in the container scenarios.
	fileCtrPass = "passthrough, container scenarios"
)

// Scenario groups.
const (
	groupOpen    = "open"
	groupMacro   = "macro"
	groupStartup = "startup"
	groupRSS     = "rss"
	// groupContainers are the container scenarios (containerSection).
	groupContainers = "containers"
)

var threadCounts = []int{1, 2, 4, 8}

func scenarios(cfg Config) []*Scenario {
	var out []*Scenario
	files := []struct {
		name, key, cfg string
		path           func(e *env) string
	}{
		{filePass, "pass", "p0", func(e *env) string { return e.passthrough }},
		{fileHosts, "hosts", "p0", func(*env) string { return hostsPath }},
		{filePlugin, "plugin", "p1", func(*env) string { return motdPath }},
		{fileDenied, "denied", "p0", func(*env) string { return deniedPath }},
	}
	for _, f := range files {
		for _, n := range threadCounts {
			f, n := f, n
			out = append(out, &Scenario{
				Key: fmt.Sprintf("open-%s-%d", f.key, n), Title: fmt.Sprintf("open+close %s, %d thread(s)", f.name, n),
				Kind: KindOpen, Group: groupOpen, File: f.name, Threads: n, ScrimCfg: f.cfg,
				argv: func(e *env) []string {
					loop := []string{e.openloop, f.path(e), fmt.Sprint(cfg.Ops), fmt.Sprint(n)}
					if f.key == "plugin" {
						// With a warm cache the plugin finishes loading in the background and
						// the first open of its file waits for it: one open before the loop
						// does, so that the loop times opens (a 100 ms load would add 5 µs to
						// each of 20,000), not the load, which the start-up rows measure.
						return []string{e.sh, "-c", fmt.Sprintf("cat %s >/dev/null 2>&1; exec %s", f.path(e), strings.Join(loop, " "))}
					}
					return loop
				},
			})
		}
	}
	out = append(out, &Scenario{
		Key: "open-pass10-1", Title: "open+close " + filePass10 + ", 1 thread(s)",
		Kind: KindOpen, Group: groupOpen, File: filePass10, Threads: 1, ScrimCfg: "p10", Only: []string{"strict"},
		// The loop starts after a pause, so that it measures what routing costs once the
		// plugins have finished loading in the background, not their loading.
		argv: func(e *env) []string {
			return []string{e.sh, "-c", fmt.Sprintf("sleep 2; exec %s %s %d 1", e.openloop, e.passthrough, cfg.Ops)}
		},
	})
	out = append(out, &Scenario{
		Key: "open-pass-cpu0-1", Title: "open+close " + filePassCPU0 + ", 1 thread(s)",
		Kind: KindOpen, Group: groupOpen, File: filePassCPU0, Threads: 1, ScrimCfg: "p0", CPU0: true,
		Only: []string{"strict", "fast", "floor", "inject"},
		argv: func(e *env) []string {
			return []string{e.openloop, e.passthrough, fmt.Sprint(cfg.Ops), "1"}
		},
	})
	out = append(out,
		&Scenario{Key: "python", Title: "Python: " + pythonImports, Kind: KindWall, Group: groupMacro, ScrimCfg: "p0",
			argv: func(e *env) []string { return []string{e.python, "-c", pythonImports} }},
		&Scenario{Key: "shell", Title: "shell script, 200 small commands", Kind: KindWall, Group: groupMacro, ScrimCfg: "p0",
			argv: func(e *env) []string { return []string{e.sh, e.script} }},
		// GNU tar skips reading the files when its archive is /dev/null itself, so the
		// archive goes through a pipe to /dev/null.
		&Scenario{Key: "tar", Title: "tar c " + cfg.TarDir + " > /dev/null", Kind: KindWall, Group: groupMacro, ScrimCfg: "p0",
			argv: func(e *env) []string {
				return []string{e.sh, "-c", fmt.Sprintf("%s cf - %s 2>/dev/null | cat >/dev/null", e.tar, cfg.TarDir)}
			}},
		&Scenario{Key: "gobuild", Title: "go build, small module, warm cache", Kind: KindWall, Group: groupMacro, ScrimCfg: "p0",
			env: []string{"GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=-buildvcs=false"},
			argv: func(e *env) []string {
				return []string{e.sh, "-c", fmt.Sprintf("cd %s && %s build -o bin .", e.gomod, e.goTool)}
			}},
		&Scenario{Key: "true", Title: "start-up: true", Kind: KindWall, Group: groupStartup, ScrimCfg: "p0",
			argv: func(*env) []string { return []string{"true"} }},
		&Scenario{Key: "start-p1-warm", Title: "scrim start-up, 1 plugin, warm cache", Kind: KindWall, Group: groupStartup,
			ScrimCfg: "p1", Only: []string{"strict"}, argv: func(*env) []string { return []string{"true"} }},
		&Scenario{Key: "start-p1-cold", Title: "scrim start-up, 1 plugin, cold cache", Kind: KindWall, Group: groupStartup,
			ScrimCfg: "p1-cold", Only: []string{"strict"}, before: emptyColdCache, argv: func(*env) []string { return []string{"true"} }},
		&Scenario{Key: "start-p5-warm", Title: "scrim start-up, 5 plugins, warm cache", Kind: KindWall, Group: groupStartup,
			ScrimCfg: "p5", Only: []string{"strict"}, argv: func(*env) []string { return []string{"true"} }},
		&Scenario{Key: "start-p5-cold", Title: "scrim start-up, 5 plugins, cold cache", Kind: KindWall, Group: groupStartup,
			ScrimCfg: "p5-cold", Only: []string{"strict"}, before: emptyColdCache, argv: func(*env) []string { return []string{"true"} }},
		// Peak memory: the Python workload, every plugin's file, then eight threads opening
		// the plugin's file at once so that the plugin's instance pool is in use. The same
		// run with no plugin and with one shows what the plugins themselves cost.
		&Scenario{Key: "rss", Title: "supervisor peak RSS, 5 plugins", Kind: KindRSS, Group: groupRSS, ScrimCfg: "p5",
			Only: []string{"strict", "fast", "floor", "proot"}, argv: rssWorkload(cfg)},
		&Scenario{Key: "rss-p1", Title: "scrim strict, 1 plugin", Kind: KindRSS, Group: groupRSS, ScrimCfg: "p1",
			Only: []string{"strict"}, argv: rssWorkload(cfg)},
		&Scenario{Key: "rss-p0", Title: "scrim strict, no plugin", Kind: KindRSS, Group: groupRSS, ScrimCfg: "p0",
			Only: []string{"strict"}, argv: rssWorkload(cfg)},
		&Scenario{Key: "rss-probes", Title: "scrim strict, the C, Rust and AssemblyScript probe plugins", Kind: KindRSS,
			Group: groupRSS, ScrimCfg: "probes", Only: []string{"strict"}, argv: rssWorkload(cfg)},
	)
	// The container scenarios: the open loop, the Python workload and start-up, in a runc
	// container with and without scrim's agent, and natively and under scrim run in the same
	// rounds. Python times itself inside (KindTimed), so that a container's start-up, which
	// ctr-true measures, is not counted in it.
	ctr := []string{"native", "strict", keyRunc, keyRuncAgent}
	out = append(out,
		&Scenario{Key: "ctr-open", Title: "open+close passthrough, 1 thread (µs)", Kind: KindOpen, Group: groupContainers,
			File: fileCtrPass, Threads: 1, ScrimCfg: "p0", Only: ctr,
			argv: func(e *env) []string { return []string{e.openloop, e.passthrough, fmt.Sprint(cfg.Ops), "1"} }},
		&Scenario{Key: "ctr-python", Title: "Python: " + pythonImports + " (s)", Kind: KindTimed, Group: groupContainers,
			ScrimCfg: "p0", Only: ctr,
			argv: func(e *env) []string { return []string{e.timeit, e.python, "-c", pythonImports} }},
		&Scenario{Key: "ctr-true", Title: "start-up: `true` (ms)", Kind: KindWall, Group: groupContainers,
			ScrimCfg: "p0", Only: ctr, argv: func(*env) []string { return []string{"true"} }},
	)
	return out
}

// rssWorkload is the memory scenarios' command. Without the plugins /run/scrim/info does not
// exist, so that cat's failure is ignored; /etc/motd exists on the host either way.
func rssWorkload(cfg Config) func(e *env) []string {
	return func(e *env) []string {
		return []string{e.sh, "-c", fmt.Sprintf("%s -c '%s' && cat %s /run/scrim/info /etc/passwd /etc/hosts >/dev/null 2>&1; %s %s %d 8 >/dev/null",
			e.python, pythonImports, motdPath, e.openloop, motdPath, cfg.Ops)}
	}
}

func emptyColdCache(e *env) error {
	if err := os.RemoveAll(e.coldCache); err != nil {
		return fmt.Errorf("empty cold cache: %w", err)
	}
	return nil
}
