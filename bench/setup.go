package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Config is one benchmark run's settings.
type Config struct {
	// Smoke marks the tiny run CI uses to keep the harness alive; its numbers mean nothing.
	Smoke bool
	// Rounds is the number of measured rounds; one warm-up round runs before them.
	Rounds int
	// Ops is the number of opens one open-loop run makes, split across its threads.
	Ops int
	// TarDir is the directory the tar workload archives.
	TarDir string
	// Root is the scrim module's directory; Out receives docs/benchmarks.md and the charts.
	Root, Out string
	// Only, when not empty, is a comma-separated list of contender keys to run.
	Only string
	// Baseline, when not empty, is a git revision whose scrim is measured too, as the
	// contender "baseline": a change's before and after, side by side in one run.
	Baseline string
	// Group, when not empty, is the one scenario group to run ("containers"): a partial run,
	// whose report holds that group's section only.
	Group string
	// AgentAudit, when not empty, is where scrim agent writes its audit log: the container
	// test reads it to check that the agent served the opens.
	AgentAudit string
	// Progress receives one status line per measurement.
	Progress io.Writer
}

func fullConfig() Config {
	return Config{Rounds: 7, Ops: 20000, TarDir: "/usr/include"}
}

func smokeConfig() Config {
	return Config{Smoke: true, Rounds: 1, Ops: 200, TarDir: "/usr/include/linux"}
}

// env is what setup built and found: helper binaries, files and scrim configurations.
type env struct {
	cfg  Config
	work string
	// Binaries built by the harness.
	scrim, floor, openloop, timeit string
	// baseline is scrim built at Config.Baseline, or "".
	baseline string
	// Programs the workloads need, resolved once.
	python, goTool, sh, tar string
	// Files the scenarios use.
	passthrough, hosts, script, gomod string
	// scrim configurations by name (see scrimConfigs).
	scrimCfg map[string]string
	// Cache directories: warm is filled by the warm-up, cold is emptied before each run.
	warmCache, coldCache string
	// tools holds `NAME --version` first lines for the report.
	tools map[string]string
	// load is /proc/loadavg's first three fields before measuring starts.
	load string
	// ctr is what the container contenders share, once one of them was probed.
	ctr *containers
	// trapped are the calls scrim's default configuration sends to its supervisor, beyond the
	// open family, by name and as the C floors' --trap argument.
	trapped    []string
	trappedArg string
}

// The paths the open loops use that are not in the work directory.
const (
	hostsPath  = "/etc/hosts"
	motdPath   = "/etc/motd"
	deniedPath = "/proc/kcore"
)

// pythonImports is the Python workload: the standard library's heavy modules.
const pythonImports = "import json,email,http.client,sqlite3,decimal,asyncio"

// setup builds the helpers into a fresh work directory and writes the files the scenarios use.
func setup(ctx context.Context, cfg Config) (*env, error) {
	work, err := os.MkdirTemp("", "scrim-bench-")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	e := &env{cfg: cfg, work: work, scrimCfg: map[string]string{}, tools: map[string]string{}}

	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return nil, fmt.Errorf("find gcc: %w", err)
	}
	e.floor = filepath.Join(work, "floor")
	e.openloop = filepath.Join(work, "openloop")
	e.timeit = filepath.Join(work, "timeit")
	for _, b := range []struct{ out, src string }{
		{e.floor, "bench/cfloor/floor.c"},
		{e.openloop, "bench/workload/openloop.c"},
		{e.timeit, "bench/workload/timeit.c"},
	} {
		if err := run(ctx, cfg.Root, gcc, "-O2", "-Wall", "-pthread", "-o", b.out, filepath.Join(cfg.Root, b.src)); err != nil {
			return nil, fmt.Errorf("build %s: %w", b.src, err)
		}
	}
	if e.goTool, err = exec.LookPath("go"); err != nil {
		return nil, fmt.Errorf("find go: %w", err)
	}
	e.scrim = filepath.Join(work, "scrim")
	// Static, as README.md recommends: each run starts scrim twice (scrim and its keeper), and
	// a binary that needs no dynamic loader starts about a millisecond sooner each time.
	if err := runEnv(ctx, cfg.Root, []string{"CGO_ENABLED=0"}, e.goTool, "build", "-buildvcs=false", "-o", e.scrim, "./cmd/scrim"); err != nil {
		return nil, fmt.Errorf("build scrim: %w", err)
	}
	if cfg.Baseline != "" {
		if err := e.buildBaseline(ctx, cfg); err != nil {
			return nil, err
		}
	}

	// The system interpreter, not a version manager's shim: a shim is a shell script that
	// would add its own start-up to every contender.
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if e.python, err = exec.LookPath(p); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("find python3: %w", err)
	}
	if e.sh, err = exec.LookPath("sh"); err != nil {
		return nil, fmt.Errorf("find sh: %w", err)
	}
	if e.tar, err = exec.LookPath("tar"); err != nil {
		return nil, fmt.Errorf("find tar: %w", err)
	}

	e.passthrough = filepath.Join(work, "passthrough.txt")
	if err := os.WriteFile(e.passthrough, []byte("an ordinary file nobody claims\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write passthrough file: %w", err)
	}
	// The hosts file the other sandboxes bind over /etc/hosts: what scrim's hosts shim serves
	// by default, loopback only.
	e.hosts = filepath.Join(work, "hosts")
	if err := os.WriteFile(e.hosts, []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write hosts file: %w", err)
	}
	e.script = filepath.Join(work, "commands.sh")
	if err := os.WriteFile(e.script, []byte(shellScript()), 0o755); err != nil {
		return nil, fmt.Errorf("write shell script: %w", err)
	}
	if err := e.writeGoModule(); err != nil {
		return nil, err
	}
	e.warmCache = filepath.Join(work, "cache-warm")
	e.coldCache = filepath.Join(work, "cache-cold")
	if err := e.writeScrimConfigs(); err != nil {
		return nil, err
	}
	if err := e.findTrapped(ctx); err != nil {
		return nil, err
	}
	e.tools["gcc"] = firstLine(ctx, gcc, "--version")
	e.tools["go"] = firstLine(ctx, e.goTool, "version")
	e.tools["python3"] = firstLine(ctx, e.python, "--version")
	e.tools["scrim"] = firstLine(ctx, e.scrim, "version")
	e.load = loadavg()
	return e, nil
}

// shellScript is the shell workload: 200 small external commands, as a build or CI script
// runs them, each reading a file or two.
func shellScript() string {
	cmds := []string{
		"cat /etc/hosts", "ls /", "grep root /etc/passwd", "wc -l /etc/passwd",
		"date", "uname -a", "head -n 1 /etc/os-release", "basename /a/b/c",
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# 200 small commands, for scrim's benchmarks.\n")
	for i := range 200 {
		fmt.Fprintf(&b, "%s >/dev/null\n", cmds[i%len(cmds)])
	}
	return b.String()
}

// writeGoModule writes the small module the go build workload compiles.
func (e *env) writeGoModule() error {
	e.gomod = filepath.Join(e.work, "gomod")
	files := map[string]string{
		"go.mod": "module example.com/benchmod\n\ngo 1.22\n",
		"main.go": `package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
)

func main() {
	b, _ := json.Marshal(map[string]string{"status": http.StatusText(200)})
	fmt.Fprintln(os.Stdout, strings.ToUpper(string(b)))
}
`,
	}
	if err := os.MkdirAll(e.gomod, 0o755); err != nil {
		return fmt.Errorf("create go module: %w", err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(e.gomod, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("write go module %s: %w", name, err)
		}
	}
	return nil
}

// plugin is one of the example plugins the scrim configurations load.
type plugin struct{ name, wasm, extra string }

// fivePlugins are the five plugins of the peak-memory and start-up scenarios: the four Go
// examples, and motd a second time under another name, so that five modules are instantiated.
// Go plugins are the heaviest the SDKs make (about 10 MiB of compiled code each), so this is
// the costly end of five plugins.
var fivePlugins = []plugin{
	{"motd", "examples/motd/motd.wasm", ""},
	{"info", "examples/info/info.wasm", ""},
	{"passwd", "examples/passwd/passwd.wasm", ""},
	{"denykeys", "examples/denykeys/denykeys.wasm", ""},
	{"motd2", "examples/motd/motd.wasm", `paths = ["/etc/issue.net"]` + "\n"},
}

// tenPlugins are the plugins of the unclaimed-open scenario: every example, the C, Rust and
// AssemblyScript ones beside the Go ones, some twice under another name and configuration. None
// claims the passthrough file, so each open asks all ten and is declined by their claims alone.
var tenPlugins = append(append([]plugin(nil), fivePlugins...),
	plugin{"banner", "examples/banner/banner.wasm", `paths = ["/etc/issue"]` + "\n"},
	plugin{"secrets", "examples/secrets/secrets.wasm", ""},
	plugin{"users", "examples/users/users.wasm", ""},
	plugin{"secrets2", "examples/secrets/secrets.wasm", "[plugin.config]\nerrno = \"ENOENT\"\n"},
	plugin{"info2", "examples/info/info.wasm", `paths = ["/run/scrim/info2"]` + "\n"},
)

// probePlugins are the SDK probes of the languages that make small modules: the peak memory
// of a sandbox with plugins that are not Go programs.
var probePlugins = []plugin{
	{"cprobe", "sdk/c/probe/probe.wasm", ""},
	{"rustprobe", "sdk/rust/probe/probe.wasm", ""},
	{"asprobe", "sdk/assemblyscript/probe/probe.wasm", ""},
}

// writeScrimConfigs writes one configuration per plugin set and cache state. Every one sets
// plugin_dirs empty and its own cache_dir, so that nothing installed on the machine changes
// what is measured.
func (e *env) writeScrimConfigs() error {
	for _, c := range []struct {
		name    string
		plugins []plugin
		cache   string
	}{
		{"p0", nil, e.warmCache},
		{"p1", fivePlugins[:1], e.warmCache},
		{"p1-cold", fivePlugins[:1], e.coldCache},
		{"p5", fivePlugins, e.warmCache},
		{"p5-cold", fivePlugins, e.coldCache},
		{"p10", tenPlugins, e.warmCache},
		{"probes", probePlugins, e.warmCache},
	} {
		var b strings.Builder
		fmt.Fprintf(&b, "plugin_dirs = []\ncache_dir = %q\n", c.cache)
		for _, p := range c.plugins {
			fmt.Fprintf(&b, "\n[[plugin]]\nname = %q\npath = %q\n%s", p.name, filepath.Join(e.cfg.Root, p.wasm), p.extra)
		}
		path := filepath.Join(e.work, c.name+".toml")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write scrim config %s: %w", c.name, err)
		}
		e.scrimCfg[c.name] = path
		// The same with the stat-like calls left to the kernel (contender nostat).
		path = filepath.Join(e.work, c.name+"-nostat.toml")
		if err := os.WriteFile(path, []byte("mediate_stat = false\n"+b.String()), 0o644); err != nil {
			return fmt.Errorf("write scrim config %s: %w", c.name, err)
		}
		e.scrimCfg[c.name+"-nostat"] = path
	}
	return nil
}

// cleanup stops what the container contenders started and removes the work directory. It
// returns the agent's failure, which is scrim's.
func (e *env) cleanup() error {
	var err error
	if e.ctr != nil {
		err = e.ctr.close()
	}
	os.RemoveAll(e.work)
	return err
}

// run runs a build step and returns its output in the error when it fails.
func run(ctx context.Context, dir, name string, args ...string) error {
	return runEnv(ctx, dir, nil, name, args...)
}

// runEnv is run with env added to the environment.
func runEnv(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// firstLine returns the first line a tool prints about its version, or "" if it prints none.
func firstLine(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// buildBaseline builds scrim as it was at cfg.Baseline, from a temporary git worktree.
func (e *env) buildBaseline(ctx context.Context, cfg Config) error {
	src := filepath.Join(e.work, "baseline-src")
	if err := run(ctx, cfg.Root, "git", "worktree", "add", "--detach", "--quiet", src, cfg.Baseline); err != nil {
		return fmt.Errorf("check out baseline %s: %w", cfg.Baseline, err)
	}
	defer run(ctx, cfg.Root, "git", "worktree", "remove", "--force", src)
	e.baseline = filepath.Join(e.work, "scrim-baseline")
	if err := runEnv(ctx, src, []string{"CGO_ENABLED=0"}, e.goTool, "build", "-buildvcs=false", "-o", e.baseline, "./cmd/scrim"); err != nil {
		return fmt.Errorf("build scrim at baseline %s: %w", cfg.Baseline, err)
	}
	e.tools["scrim baseline"] = cfg.Baseline + ": " + firstLine(ctx, e.baseline, "version")
	return nil
}

// findTrapped asks scrim which calls its sandbox sends to the supervisor with the scenarios'
// plain configuration, so that the C floors trap the same ones (`scrim check` lists them). Of
// the calls scrim notifies only for some arguments, the floors trap newfstatat and statx (scrim
// lets only a NULL path through, which C libraries never pass) and leave prctl, fcntl and mknod
// to the kernel: scrim sees only their rare credential, owner and non-device forms, and
// trapping every prctl would charge the floors for calls scrim never sees.
func (e *env) findTrapped(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, e.scrim, "check", "-c", e.scrimCfg["p0"]).Output()
	if err != nil {
		return fmt.Errorf("scrim check: %w", err)
	}
	var names []string
	for _, kind := range []string{"always", "sometimes"} {
		m := regexp.MustCompile(`(?m)^\s+` + kind + `\s+(.*)$`).FindSubmatch(out)
		if m == nil {
			return fmt.Errorf("scrim check lists no calls sent to the supervisor %s:\n%s", kind, out)
		}
		for _, name := range strings.Fields(string(m[1])) {
			switch name {
			case "prctl", "fcntl", "mknod", "mknodat":
				if kind == "sometimes" {
					continue
				}
			}
			names = append(names, name)
		}
	}
	var nrs []string
	for _, name := range names {
		nr, ok := shim.SyscallNumber(name)
		if !ok {
			return fmt.Errorf("scrim check: unknown system call %q", name)
		}
		e.trapped = append(e.trapped, name)
		nrs = append(nrs, strconv.Itoa(nr))
	}
	e.trappedArg = strings.Join(nrs, ",")
	return nil
}
