package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The container contenders run the container scenarios in a runc container: "runc" with no
// seccomp section in its config.json, "runc-agent" with the section `scrim oci profile` prints
// and `scrim agent` serving it, both with the scrim configuration the scrim run rows use.
const (
	keyRunc      = "runc"
	keyRuncAgent = "runc-agent"
)

// containerWorkloads are the scenarios the container contenders run; native and scrim strict
// run them too, in the same rounds, so that every ratio of the containers section is taken side
// by side.
var containerWorkloads = []string{"ctr-open", "ctr-python", "ctr-true"}

// containers is what the container contenders share: one root file system, one bundle per
// contender, runc's state directory and the agent.
type containers struct {
	runc string
	// state is runc's --root: the containers of this run only, so cleanup finds its own.
	state  string
	rootfs string
	// bundle and spec are each contender's bundle directory and parsed config.json.
	bundle map[string]string
	spec   map[string]map[string]any
	// agent is `scrim agent`, started by the first probe of runc-agent.
	agent    *exec.Cmd
	agentLog *syncBuffer
	exited   chan error
	// sock is the agent's socket; audit its audit log, when Config.AgentAudit asks for one.
	sock, audit string
}

// syncBuffer is a bytes.Buffer that the agent's stderr copier and the harness share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// containerID names contender key's container: unique on the machine, since runc names the
// container's cgroup after it, and constant within a run, since runs follow one another and
// `runc run` deletes the container when it exits.
func containerID(key string) string { return fmt.Sprintf("scrim-bench-%d-%s", os.Getpid(), key) }

// containerWrap returns the wrap of contender key: `runc run` of its bundle, whose config.json
// prepareContainer wrote with the command.
func containerWrap(key string) func(e *env, _ string, _ []string) []string {
	return func(e *env, _ string, _ []string) []string {
		return []string{e.ctr.runc, "--root", e.ctr.state, "run", "--bundle", e.ctr.bundle[key], containerID(key)}
	}
}

// prepareContainer writes contender key's config.json with argv as the container's command,
// and deletes a container left behind by a run that was killed.
func prepareContainer(key string) func(e *env, argv []string) error {
	return func(e *env, argv []string) error {
		spec := e.ctr.spec[key]
		spec["process"].(map[string]any)["args"] = argv
		b, err := json.MarshalIndent(spec, "", "  ")
		if err != nil {
			return fmt.Errorf("encode %s config.json: %w", key, err)
		}
		if err := os.WriteFile(filepath.Join(e.ctr.bundle[key], "config.json"), b, 0o644); err != nil {
			return fmt.Errorf("write %s config.json: %w", key, err)
		}
		if _, err := os.Stat(filepath.Join(e.ctr.state, containerID(key))); err == nil {
			if err := exec.Command(e.ctr.runc, "--root", e.ctr.state, "delete", "-f", containerID(key)).Run(); err != nil {
				return fmt.Errorf("delete left-over container %s: %w", containerID(key), err)
			}
		}
		return nil
	}
}

// probeContainer prepares what contender c needs: root, runc, the bundles and, for runc-agent,
// a running agent. It sets c.Skip, and c.Missing when the machine lacks root or runc.
func (c *Contender) probeContainer(ctx context.Context, e *env) {
	if os.Geteuid() != 0 {
		c.Skip, c.Missing = "runc runs containers as root only", true
		return
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		c.Skip, c.Missing = "runc is not installed (Debian package runc)", true
		return
	}
	if e.ctr == nil {
		ctr, err := newContainers(ctx, e, runc)
		if err != nil {
			c.Skip = err.Error()
			return
		}
		e.ctr = ctr
	}
	if c.Key == keyRuncAgent && e.ctr.agent == nil {
		if err := e.ctr.startAgent(ctx, e); err != nil {
			c.Skip = err.Error()
		}
	}
}

// newContainers builds the root file system the container contenders share and a bundle for
// each. The root is an empty directory with read-only bind mounts of the host's /usr, /etc and
// the top-level directories of libraries and programs (symbolic links where the host has
// merged them into /usr), so the container runs the host's Python and C library, as native
// does. The open loop, timeit and the passthrough file are bound at their host paths, and the
// loopback-only hosts file over /etc/hosts, as the other sandboxes bind it.
func newContainers(ctx context.Context, e *env, runc string) (*containers, error) {
	dir := filepath.Join(e.work, "containers")
	c := &containers{runc: runc, state: filepath.Join(dir, "state"), rootfs: filepath.Join(dir, "rootfs"),
		bundle: map[string]string{}, spec: map[string]map[string]any{}}
	if err := os.MkdirAll(c.rootfs, 0o755); err != nil {
		return nil, fmt.Errorf("create container root: %w", err)
	}
	var mounts []any
	bind := func(src, dst string) {
		mounts = append(mounts, map[string]any{"type": "bind", "source": src, "destination": dst, "options": []string{"bind", "ro"}})
	}
	for _, d := range []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"} {
		host := "/" + d
		fi, err := os.Lstat(host)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("container root: %w", err)
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err != nil {
				return nil, fmt.Errorf("container root: %w", err)
			}
			if err := os.Symlink(target, filepath.Join(c.rootfs, d)); err != nil {
				return nil, fmt.Errorf("container root: %w", err)
			}
		default:
			if err := os.Mkdir(filepath.Join(c.rootfs, d), 0o755); err != nil {
				return nil, fmt.Errorf("container root: %w", err)
			}
			bind(host, host)
		}
	}
	bind(e.hosts, hostsPath)
	for _, f := range []string{e.openloop, e.timeit, e.passthrough} {
		bind(f, f)
	}

	cmd := exec.CommandContext(ctx, runc, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %w: %s", err, oneLine(out))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read runc spec: %w", err)
	}
	for _, key := range []string{keyRunc, keyRuncAgent} {
		var spec map[string]any
		if err := json.Unmarshal(raw, &spec); err != nil {
			return nil, fmt.Errorf("decode runc spec: %w", err)
		}
		spec["process"].(map[string]any)["terminal"] = false
		spec["root"] = map[string]any{"path": c.rootfs, "readonly": true}
		spec["mounts"] = append(spec["mounts"].([]any), mounts...)
		c.spec[key] = spec
		c.bundle[key] = filepath.Join(dir, key)
		if err := os.MkdirAll(c.bundle[key], 0o755); err != nil {
			return nil, fmt.Errorf("create bundle: %w", err)
		}
	}
	return c, nil
}

// startAgent starts `scrim agent` with the scrim run rows' configuration (and an audit log
// when Config.AgentAudit names one) and puts the section `scrim oci profile` prints for the
// same configuration into runc-agent's config.json.
func (c *containers) startAgent(ctx context.Context, e *env) error {
	text, err := os.ReadFile(e.scrimCfg["p0"])
	if err != nil {
		return fmt.Errorf("read scrim config: %w", err)
	}
	if e.cfg.AgentAudit != "" {
		c.audit = e.cfg.AgentAudit
		text = append([]byte(fmt.Sprintf("audit = %q\n", c.audit)), text...)
	}
	cfg := filepath.Join(e.work, "agent.toml")
	if err := os.WriteFile(cfg, text, 0o644); err != nil {
		return fmt.Errorf("write agent config: %w", err)
	}
	c.sock = filepath.Join(e.work, "agent.sock")
	prof, err := exec.CommandContext(ctx, e.scrim, "oci", "profile", "--socket", c.sock, "-c", cfg).Output()
	if err != nil {
		return fmt.Errorf("scrim oci profile: %w", err)
	}
	var seccomp map[string]any
	if err := json.Unmarshal(prof, &seccomp); err != nil {
		return fmt.Errorf("decode scrim oci profile: %w", err)
	}
	c.spec[keyRuncAgent]["linux"].(map[string]any)["seccomp"] = seccomp

	// Not tied to ctx: cleanup ends it with SIGTERM, so that it drains as it would in use.
	c.agent = exec.Command(e.scrim, "agent", "--socket", c.sock, "-c", cfg)
	c.agentLog = &syncBuffer{}
	c.agent.Stderr = c.agentLog
	if err := c.agent.Start(); err != nil {
		c.agent = nil
		return fmt.Errorf("start scrim agent: %w", err)
	}
	c.exited = make(chan error, 1)
	go func() { c.exited <- c.agent.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(c.sock); err == nil {
			return nil
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			return fmt.Errorf("scrim agent exited: %v: %s", err, oneLine([]byte(c.agentLog.String())))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scrim agent: no socket after 20 s: %s", oneLine([]byte(c.agentLog.String())))
		}
	}
}

// close deletes the containers a killed run left behind and stops the agent as a user would,
// with SIGTERM, which waits for the containers it serves; it returns the agent's failure.
func (c *containers) close() error {
	if out, err := exec.Command(c.runc, "--root", c.state, "list", "-q").Output(); err == nil {
		for _, id := range strings.Fields(string(out)) {
			exec.Command(c.runc, "--root", c.state, "delete", "-f", id).Run()
		}
	}
	if c.agent == nil {
		return nil
	}
	c.agent.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		if err != nil {
			return fmt.Errorf("scrim agent: %w: %s", err, oneLine([]byte(c.agentLog.String())))
		}
		return nil
	case <-time.After(30 * time.Second):
		c.agent.Process.Kill()
		<-c.exited
		return fmt.Errorf("scrim agent did not drain within 30 s of SIGTERM: %s", oneLine([]byte(c.agentLog.String())))
	}
}

// containerSection is the report's section on the container scenarios: each workload natively,
// under scrim run, in a runc container and in one served by scrim's agent, with the ratios of
// each sandbox to what it sandboxes. Empty when no container contender was selected.
func containerSection(res *Results, scs []*Scenario, cs []*Contender) string {
	byKey := map[string]*Contender{}
	for _, c := range cs {
		byKey[c.Key] = c
	}
	plain, agent := byKey[keyRunc], byKey[keyRuncAgent]
	if plain == nil && agent == nil {
		return ""
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## Containers\n\n")
	p("The open loop, the Python workload and start-up in a runc container: **runc** runs a " +
		"config.json without a seccomp section; **runc + scrim agent** runs one that carries the " +
		"section `scrim oci profile` prints, with `scrim agent` serving the container in strict " +
		"mode and the configuration of the scrim run rows (docs/containers.md). The container's " +
		"root is an empty directory with read-only bind mounts of the host's /usr, /etc and " +
		"library directories, so it runs the same Python and C library as native, and the " +
		"loopback-only hosts file is bound over /etc/hosts. Native and scrim run strict run the " +
		"same commands in the same rounds. The open loop is timed inside the program, as in the " +
		"first table; Python is timed from fork to exit by a small C program started in the " +
		"sandbox (bench/workload/timeit.c), so neither the container's start nor scrim's is " +
		"counted. Start-up is the whole `runc run` (or `scrim run`) of `true`: for a container, " +
		"its namespaces, mounts and cgroup, and with the agent the listener sent to it and the " +
		"container's state built there.\n\n")
	p("| workload | native | scrim run strict | scrim run / native | runc | runc + scrim agent | agent / runc |\n")
	p("|---|---|---|---|---|---|---|\n")
	rows := []struct {
		key, format string
		scale       float64
	}{{"ctr-open", "%.2f", 1e-3}, {"ctr-python", "%.3f", 1}, {"ctr-true", "%.1f", 1e3}}
	// median is a scenario's median for a contender that ran.
	median := func(s, key string) (Sample, bool) {
		if c := byKey[key]; c == nil || c.Skip != "" {
			return Sample{}, false
		}
		return res.Median(s, key)
	}
	for _, r := range rows {
		val := func(key string) string {
			c := byKey[key]
			if c == nil {
				return "–"
			}
			return cell(res, r.key, c, func(m Sample) string { return fmt.Sprintf(r.format, m.Value*r.scale) })
		}
		ratio := func(a, b string) string {
			x, ok1 := median(r.key, a)
			y, ok2 := median(r.key, b)
			if !ok1 || !ok2 || y.Value <= 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f×", x.Value/y.Value)
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", find(scs, r.key).Title, val("native"), val("strict"), ratio("strict", "native"),
			val(keyRunc), val(keyRuncAgent), ratio(keyRuncAgent, keyRunc))
	}
	p("\n")
	a, ok1 := median("ctr-open", keyRuncAgent)
	r, ok2 := median("ctr-open", keyRunc)
	s, ok3 := median("ctr-open", "strict")
	n, ok4 := median("ctr-open", "native")
	if ok1 && ok2 && ok3 && ok4 {
		p("Per open, the agent added %.2f µs to the container and scrim run %.2f µs to the native "+
			"program in this run: the same strict-mode work, with the agent reaching the container's "+
			"files through its root (/proc/PID/root).\n\n", (a.Value-r.Value)/1e3, (s.Value-n.Value)/1e3)
	}
	p("What the agent does beyond scrim run's work, per open: runc's init changed its credentials " +
		"before the container's program started, and scrim trusts its one cached copy of the " +
		"sandbox's credentials only while nothing has changed them, so each call reads the caller's " +
		"/proc/<tid>/status (an open, a read and a close). Counted by hand with `perf stat` over " +
		"10,000 opens under scrim run, scrim and the program together: 12.2 system calls per open " +
		"for a program that changed nothing, 16.3 for one that dropped CAP_SYS_PTRACE after a " +
		"credential change, down from 27.5 before the status file was read in one go and the worker " +
		"stopped switching capabilities to read a caller's memory that needs none.\n\n")
	var skipped []*Contender
	for _, c := range []*Contender{plain, agent} {
		if c != nil && c.Skip != "" {
			skipped = append(skipped, c)
		}
	}
	if list := skippedList(skipped); list != "" {
		p("Not measured: %s\n\n", list)
	}
	return b.String()
}

// partialReport renders a partial run's page (Config.Group): the head and the group's section.
func partialReport(e *env, cs []*Contender, scs []*Scenario, res *Results) string {
	var b strings.Builder
	head(&b, e, cs, res)
	b.WriteString(containerSection(res, scs, cs))
	if fails := failures(cs, scs, res); fails != "" {
		fmt.Fprintf(&b, "## Failures\n\n%s\n", fails)
	}
	return b.String()
}
