package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is one measurement of one scenario for one contender.
type Sample struct {
	// Value is nanoseconds per open (KindOpen), seconds (KindWall) or MiB (KindRSS).
	Value float64
	// Rate is opens per second (KindOpen only).
	Rate float64
	// CPU is the user and system time, in seconds, of the contender's whole process tree
	// (KindWall only): less disturbed than wall time by other work on the machine.
	CPU float64 `json:",omitempty"`
	// Failed counts opens that failed although the file should have opened (KindOpen only).
	Failed int64 `json:",omitempty"`
}

// Results holds every sample of a run, by scenario key then contender key.
type Results struct {
	Samples map[string]map[string][]Sample
	// Failed holds why a contender failed a scenario; a failed pair is not run again.
	Failed map[string]map[string]string
	// Start and End bound the measurement.
	Start, End time.Time
	// Breakdowns splits the opens of the first table into stages, by row name ("strict,
	// passthrough"); BreakdownSkip says why there are none. Counts holds the system calls per
	// passthrough open by mode.
	Breakdowns    map[string]Breakdown
	Counts        map[string]syscallCount
	BreakdownSkip string
	// PluginCallMicros holds the C SDK probe plugin's mean call time in each of a few runs,
	// as the audit log's counters report it (pluginCalls); PluginCallSkip says why not.
	PluginCallMicros []float64 `json:",omitempty"`
	PluginCallSkip   string    `json:",omitempty"`
}

func (r *Results) add(s, c string, v Sample) {
	if r.Samples[s] == nil {
		r.Samples[s] = map[string][]Sample{}
	}
	r.Samples[s][c] = append(r.Samples[s][c], v)
}

func (r *Results) fail(s, c, why string) {
	if r.Failed[s] == nil {
		r.Failed[s] = map[string]string{}
	}
	r.Failed[s][c] = why
}

// Median returns the median sample value and rate of a scenario for a contender, and false if
// there is none.
func (r *Results) Median(s, c string) (Sample, bool) {
	xs := r.Samples[s][c]
	if len(xs) == 0 || r.Failed[s][c] != "" {
		return Sample{}, false
	}
	return Sample{Value: median(xs, func(x Sample) float64 { return x.Value }),
		Rate: median(xs, func(x Sample) float64 { return x.Rate }),
		CPU:  median(xs, func(x Sample) float64 { return x.CPU })}, true
}

func median(xs []Sample, f func(Sample) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

// Run builds the helpers, measures every scenario for every contender present, and writes
// docs/benchmarks.md and the charts into cfg.Out. It fails when scrim could not run a scenario;
// other contenders that fail are reported, not fatal.
func Run(ctx context.Context, cfg Config) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", args...) }
	scs := scenarios(cfg)
	if cfg.Group != "" {
		scs = slices.DeleteFunc(scs, func(s *Scenario) bool { return s.Group != cfg.Group })
		if len(scs) == 0 {
			return fmt.Errorf("no scenario group %q", cfg.Group)
		}
	}
	say("building helpers and scrim")
	e, err := setup(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := e.cleanup(); err == nil && cerr != nil {
			err = cerr
		}
	}()

	var cs []*Contender
	for _, c := range contenders() {
		if cfg.Only != "" && !contains(strings.Split(cfg.Only, ","), c.Key) {
			continue
		}
		if c.Key == "baseline" && e.baseline == "" {
			continue
		}
		if !slices.ContainsFunc(scs, func(s *Scenario) bool { return s.appliesTo(c) }) {
			continue
		}
		c.probe(ctx, e)
		if c.Skip != "" {
			if c.Scrim && !c.Missing {
				return fmt.Errorf("probe %s: %s", c.Name, c.Skip)
			}
			say("skipping %s: %s", c.Name, c.Skip)
		}
		cs = append(cs, c)
	}
	res := &Results{Samples: map[string]map[string][]Sample{}, Failed: map[string]map[string]string{}}

	perRound, cold := 0, 0
	for _, s := range scs {
		for _, c := range cs {
			if c.Skip == "" && s.appliesTo(c) {
				perRound++
				if s.before != nil {
					cold++
				}
			}
		}
	}
	total := perRound*(cfg.Rounds+1) - cold
	done := 0
	res.Start = time.Now()
	for round := 0; round <= cfg.Rounds; round++ {
		label := fmt.Sprintf("round %d/%d", round, cfg.Rounds)
		if round == 0 {
			label = "warm-up"
		}
		for _, s := range scs {
			for i := range cs {
				// Rotate the order each round so no contender always runs right after
				// the same neighbour.
				c := cs[(i+round)%len(cs)]
				// A cold scenario starts from nothing each time: warming it up is waste.
				if c.Skip != "" || !s.appliesTo(c) || (round == 0 && s.before != nil) {
					continue
				}
				done++
				if res.Failed[s.Key][c.Key] != "" {
					continue
				}
				v, err := measure(ctx, e, s, c)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				status := ""
				if err != nil {
					res.fail(s.Key, c.Key, err.Error())
					status = "FAILED: " + err.Error()
				} else {
					status = format(s, v)
					if v.Failed > 0 {
						status += fmt.Sprintf(" (%d opens failed)", v.Failed)
					}
					if round > 0 {
						res.add(s.Key, c.Key, v)
					}
				}
				say("[%s] %d/%d %s · %s: %s (elapsed %s)", label, done, total, s.Key, c.Name, status,
					time.Since(res.Start).Round(time.Second))
			}
		}
	}
	res.End = time.Now()
	if cfg.Group == "" {
		say("splitting opens into stages with perf")
		res.breakdowns(ctx, e)
	}
	if cfg.Group == "" && (cfg.Only == "" || contains(strings.Split(cfg.Only, ","), "strict")) {
		say("timing the C probe plugin's calls from the audit log")
		res.pluginCalls(ctx, e)
	}

	if err := os.MkdirAll(filepath.Join(cfg.Out, chartDir), 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	md := ""
	if cfg.Group == "" {
		md = report(e, cs, scs, res)
		if err := charts(filepath.Join(cfg.Out, chartDir), cs, scs, res); err != nil {
			return err
		}
	} else {
		md = partialReport(e, cs, scs, res)
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "benchmarks.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	// Every sample, not only the medians, for whoever wants to look at the spread.
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode samples: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, chartDir, "samples.json"), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	var bad []string
	for _, s := range scs {
		for _, c := range cs {
			if why := res.Failed[s.Key][c.Key]; c.Scrim && why != "" {
				bad = append(bad, fmt.Sprintf("%s under %s: %s", s.Key, c.Name, why))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("scrim failed %d scenario(s): %s", len(bad), strings.Join(bad, "; "))
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if strings.TrimSpace(y) == x {
			return true
		}
	}
	return false
}

func format(s *Scenario, v Sample) string {
	switch s.Kind {
	case KindOpen:
		return fmt.Sprintf("%.2f µs/open, %.0f opens/s", v.Value/1e3, v.Rate)
	case KindRSS:
		return fmt.Sprintf("%.1f MiB", v.Value)
	case KindTimed:
		return fmt.Sprintf("%.3f s inside", v.Value)
	}
	return fmt.Sprintf("%.3f s", v.Value)
}

// measure runs scenario s once under contender c.
func measure(ctx context.Context, e *env, s *Scenario, c *Contender) (Sample, error) {
	if s.before != nil {
		if err := s.before(e); err != nil {
			return Sample{}, err
		}
	}
	timeout := 10 * time.Minute
	if e.cfg.Smoke {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := c.wrap(e, s.ScrimCfg, s.argv(e))
	if c.prepare != nil {
		if err := c.prepare(e, s.argv(e)); err != nil {
			return Sample{}, err
		}
	}
	if s.CPU0 {
		argv = append([]string{"taskset", "-c", "0"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), s.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Kill the whole group on timeout: a sandbox's children must not outlive the run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Sample{}, fmt.Errorf("start %s: %w", argv[0], err)
	}
	var peak chan float64
	stop := make(chan struct{})
	if s.Kind == KindRSS {
		peak = make(chan float64, 1)
		go sampleHWM(cmd.Process.Pid, stop, peak)
	}
	err := cmd.Wait()
	elapsed := time.Since(start)
	close(stop)
	if err != nil {
		return Sample{}, fmt.Errorf("%w: %s", err, oneLine(stderr.Bytes()))
	}
	switch s.Kind {
	case KindOpen:
		v, failed, err := parseOpenLoop(stdout.Bytes())
		if err != nil {
			return Sample{}, err
		}
		// A loop that measured the wrong outcome measured nothing: a passthrough or served
		// file must open, and scrim must deny the denied one every time. A few failures are
		// kept and reported rather than fatal: on a loaded machine a plugin's instance pool
		// can time out (fail closed, EIO), and that is a result worth showing.
		ops := int64(e.cfg.Ops / s.Threads * s.Threads)
		switch {
		case s.File != fileDenied && failed*100 > ops:
			return Sample{}, fmt.Errorf("%d of %d opens of %s failed", failed, ops, s.File)
		case s.File != fileDenied:
			v.Failed = failed
		case c.Scrim && failed != ops:
			return Sample{}, fmt.Errorf("only %d of %d opens of %s were denied", failed, ops, s.File)
		}
		return v, nil
	case KindTimed:
		ns, err := parseTimed(stdout.Bytes())
		if err != nil {
			return Sample{}, err
		}
		return Sample{Value: float64(ns) / 1e9}, nil
	case KindRSS:
		mib := <-peak
		if mib <= 0 {
			return Sample{}, errors.New("read VmHWM: no sample before the supervisor exited")
		}
		return Sample{Value: mib}, nil
	}
	v := Sample{Value: elapsed.Seconds()}
	// wait4's usage counts the process and every descendant it waited for: the sandbox, the
	// supervisor's threads and the program's whole tree.
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		v.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return v, nil
}

// sampleHWM reads the VmHWM (peak resident set) of pid every few milliseconds until the
// process is gone, and sends the largest value seen, in MiB. VmHWM only grows, so the last
// read before exit is the peak up to a few milliseconds.
func sampleHWM(pid int, stop <-chan struct{}, out chan<- float64) {
	status := fmt.Sprintf("/proc/%d/status", pid)
	best := 0.0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if kib, ok := readHWM(status); ok && float64(kib)/1024 > best {
			best = float64(kib) / 1024
		}
		select {
		case <-stop:
			out <- best
			return
		case <-tick.C:
		}
	}
}

func readHWM(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// parseTimed reads timeit's "ns=N" line.
func parseTimed(out []byte) (int64, error) {
	for _, line := range strings.Split(string(out), "\n") {
		var ns int64
		if n, _ := fmt.Sscanf(line, "ns=%d", &ns); n == 1 && ns > 0 {
			return ns, nil
		}
	}
	return 0, fmt.Errorf("parse timeit output %q", oneLine(out))
}

// parseOpenLoop reads openloop's "ops=N ns=N failed=N" line.
func parseOpenLoop(out []byte) (Sample, int64, error) {
	for _, line := range strings.Split(string(out), "\n") {
		var ops, ns, failed int64
		if n, _ := fmt.Sscanf(line, "ops=%d ns=%d failed=%d", &ops, &ns, &failed); n == 3 && ops > 0 && ns > 0 {
			return Sample{Value: float64(ns) / float64(ops), Rate: float64(ops) / (float64(ns) / 1e9)}, failed, nil
		}
	}
	return Sample{}, 0, fmt.Errorf("parse open loop output %q", oneLine(out))
}
