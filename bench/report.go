package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Target is one of scrim's performance targets, checked against one run.
type Target struct {
	Name, Goal string
	// Measured describes the numbers the ratio comes from; Ratio is the ratio itself.
	Measured string
	Ratio    float64
	// Have is false when a number the target needs is missing (a contender failed).
	Have, Pass bool
	// Limit says what limits the result when the target is missed.
	Limit string
	// Peer names the contender other than scrim whose number is missing (it did not run
	// here), or "".
	Peer string
}

func (t Target) verdict() string {
	switch {
	case !t.Have && t.Peer != "":
		return "NOT MEASURED (" + t.Peer + " did not run)"
	case !t.Have:
		return "NO DATA"
	case t.Pass:
		return "PASS"
	}
	return "MISS"
}

// targets evaluates scrim's performance targets on the medians of res.
func targets(res *Results) []Target {
	val := func(s, c string) (float64, bool) {
		m, ok := res.Median(s, c)
		return m.Value, ok
	}
	rate := func(s, c string) (float64, bool) {
		m, ok := res.Median(s, c)
		return m.Rate, ok
	}
	// openRatio sets t from the ratio of two open-loop medians (nanoseconds per open), passing
	// at most goal, and returns both medians.
	openRatio := func(t *Target, numScenario, numContender, denScenario, denContender string, goal float64) (num, den float64) {
		num, ok1 := val(numScenario, numContender)
		den, ok2 := val(denScenario, denContender)
		if t.Have = ok1 && ok2 && den > 0; t.Have {
			t.Ratio = num / den
			t.Pass = t.Ratio <= goal
			t.Measured = fmt.Sprintf("%.2f µs vs %.2f µs", num/1e3, den/1e3)
		}
		return num, den
	}
	var ts []Target

	{
		t := Target{Name: "strict passthrough open vs the C floor", Goal: "≤ 1.5×",
			Limit: "Strict mode never answers CONTINUE: for every open the supervisor reads the path " +
				"from the child's memory, resolves it as the child, opens the file itself with the " +
				"child's credentials and injects the descriptor with SECCOMP_IOCTL_NOTIF_ADDFD and " +
				"SEND. The floor only answers CONTINUE and lets the kernel open. The extra hand-off " +
				"(the child installs the descriptor while the supervisor waits) costs wake-ups that " +
				"SYNC_WAKE_UP does not cover; on this VM, whose idle CPUs halt, a wake-up that crosses " +
				"CPUs costs several microseconds. Throwaway prototypes measured the same gap on this kind of " +
				"machine before scrim existed (7.4 µs CONTINUE against 25–31 µs open-and-inject, unpinned)."}
		s, f := openRatio(&t, "open-pass-1", "strict", "open-pass-1", "floor", 1.5)
		if in, ok := val("open-pass-1", "inject"); ok && t.Have {
			t.Limit += fmt.Sprintf(" The C inject floor, the same minimal program made to open the file and "+
				"inject it as strict mode does (no resolution, no credentials), took %.2f µs in this "+
				"run, %.1f× the CONTINUE floor: no design that opens for the child can meet this goal "+
				"on this machine. Against the inject floor scrim strict is at %.2f×.", in/1e3, in/f, s/in)
		}
		if t.Have {
			if fa, ok := val("open-pass-1", "fast"); ok {
				t.Limit += fmt.Sprintf(" In this run scrim fast, which also answers CONTINUE for this "+
					"unclaimed file, took %.2f µs: %.2f µs over the floor are spent before the answer "+
					"(receiving, reading the path, resolving it, the chain) and %.2f µs on opening "+
					"as the child and injecting.", fa/1e3, (fa-f)/1e3, (s-fa)/1e3)
			}
		}
		ts = append(ts, t)
	}
	{
		t := Target{Name: "strict builtin-served open (/etc/hosts) vs strict passthrough open", Goal: "≤ 1.0×",
			Limit: "A served file costs what a passthrough open costs (the same notification, path " +
				"read, resolution and injection) plus building its content and sealing it in a " +
				"memfd per open, where a passthrough open ends in one openat by the supervisor."}
		openRatio(&t, "open-hosts-1", "strict", "open-pass-1", "strict", 1.0)
		ts = append(ts, t)
	}
	{
		t := Target{Name: "strict unclaimed open, 10 plugins loaded vs none", Goal: "≤ 1.05×",
			Limit: "The chain keeps one index of every plugin's claims (literal paths in a map, " +
				"wildcard claims by the prefix, suffix and inner component every match has), so an " +
				"unclaimed open asks no plugin, at the cost of one map lookup and a few byte " +
				"comparisons. Before the index each plugin matched its own claims, about 0.2 µs in " +
				"all in a Go benchmark but 2–4 µs per open in the sandbox, where the supervisor's " +
				"caches are cold at every notification and the wildcard claims' data was spread " +
				"over ten plugins. What is left is the plugins' memory: by hand, 40 MB of inert " +
				"data in scrim's heap, about what ten plugins hold, added 1–2.5 µs to each open, " +
				"and the gap between two runs of the same scenario on this machine is of that size."}
		openRatio(&t, "open-pass10-1", "strict", "open-pass-1", "strict", 1.05)
		ts = append(ts, t)
	}
	{
		t := Target{Name: "start-up, 5 plugins with a warm cache, added over none", Goal: "≤ 50 ms",
			Limit: "A plugin loaded before starts from its stored describe document and loads in " +
				"the background; what remains is reading and hashing each module and, on a " +
				"busy machine, the background loads competing with start-up for the CPU."}
		p5, ok1 := val("start-p5-warm", "strict")
		p0, ok2 := val("true", "strict")
		if t.Have = ok1 && ok2; t.Have {
			t.Ratio = (p5 - p0) * 1e3
			t.Pass = t.Ratio <= 50
			t.Measured = fmt.Sprintf("%.1f ms vs %.1f ms", p5*1e3, p0*1e3)
		}
		ts = append(ts, t)
	}
	{
		t := Target{Name: "Python import workload, strict vs native", Goal: "≤ 1.15×",
			Limit: "These imports make about 160 opens, most of them of cached bytecode, 40 directory " +
				"listings, which the /proc listing shim answers itself, and several hundred stat calls " +
				"along sys.path, which scrim mediates too (mediate_stat; RATIONALE.md, \"Why are the " +
				"stat-like calls mediated by default?\"). Each costs at least the round trip in the first table, and about one " +
				"in twenty takes 0.3–3 ms, most of it in the injection, waiting for the child to run " +
				"and take the descriptor; those few make up about half of the mediated time. scrim's " +
				"own start-up (the start-up table) is paid once on top. The workload is short (under " +
				"a tenth of a second natively on an idle machine), so both weigh heavily."}
		s, ok1 := val("python", "strict")
		n, ok2 := val("python", "native")
		if t.Have = ok1 && ok2 && n > 0; t.Have {
			t.Ratio = s / n
			t.Pass = t.Ratio <= 1.15
			t.Measured = fmt.Sprintf("%.1f ms vs %.1f ms", s*1e3, n*1e3) + cpuRatio(res, "python", "strict", "native")
			st, ok3 := val("true", "strict")
			nt, ok4 := val("true", "native")
			if ok3 && ok4 {
				t.Limit += fmt.Sprintf(" In this run scrim's start-up added %.1f ms (`true`: %.1f ms "+
					"against %.1f ms native) and the rest, %.1f ms, went to mediated calls; 1.15× "+
					"allows %.1f ms in all.", (st-nt)*1e3, st*1e3, nt*1e3, (s-n-(st-nt))*1e3, 0.15*n*1e3)
			}
			t.Limit += injectFloorNote(val, "python", n)
		}
		ts = append(ts, t)
	}
	for _, w := range []struct{ key, name string }{
		{"python", "Python import"}, {"shell", "shell script"}, {"tar", "tar"}, {"gobuild", "go build"},
	} {
		t := Target{Name: "scrim strict faster than proot: " + w.name, Goal: "≥ 5×",
			Limit: "proot stops the child with ptrace on every system call; scrim stops it only on " +
				"the calls it mediates (opens, the stat-like calls, the calls that change names and " +
				"objects, listings and a few others). A workload whose time goes mostly to computing, or to calls " +
				"neither sandbox intercepts cheaply, leaves little for scrim to win: the ratio is " +
				"bounded by proot's own overhead on that workload (proot vs native in the table " +
				"below), and scrim's per-open cost eats into it."}
		s, ok1 := val(w.key, "strict")
		p, ok2 := val(w.key, "proot")
		if t.Have = ok1 && ok2 && s > 0; t.Have {
			t.Ratio = p / s
			t.Pass = t.Ratio >= 5
			t.Measured = fmt.Sprintf("proot %.3f s vs scrim %.3f s", p, s) + cpuRatio(res, w.key, "proot", "strict")
			if n, ok := val(w.key, "native"); ok && n > 0 {
				t.Limit += fmt.Sprintf(" Here proot takes %.2f× native and scrim strict %.2f× native;", p/n, s/n)
				if p/n < 5 {
					t.Limit += fmt.Sprintf(" 5× faster than proot would mean %.2f× native, faster than "+
						"running without any sandbox.", p/n/5)
				} else {
					t.Limit += fmt.Sprintf(" meeting it would need scrim at %.2f× native or better.", p/n/5)
				}
				if in, ok := val(w.key, "inject"); ok && in > 0 {
					t.Limit += fmt.Sprintf(" The C inject floor, which opens every file for the child "+
						"as strict mode does but checks nothing, took %.2f× native: %.2f× faster than proot.",
						in/n, p/in)
				}
			}
		}
		ts = append(ts, t)
	}
	{
		t := Target{Name: "strict open throughput, 8 threads vs 1 thread (passthrough)", Goal: "≥ 1.5×",
			Limit: "With two CPUs, the child's threads and scrim's supervisor threads share the same " +
				"two cores: every open needs both a child thread and a supervisor thread to run, " +
				"so more child threads can at best keep both CPUs busy. Measured by hand with " +
				"openloop and 100,000 opens, the CPU time of the whole run (user and system) per " +
				"open rises from 26 µs with one thread to 35 µs with eight, all of the rise in the " +
				"kernel: the notifications of one filter share one lock for receiving, answering " +
				"and installing descriptors, and each injection wakes a thread that waits for it."}
		r8, ok1 := rate("open-pass-8", "strict")
		r1, ok2 := rate("open-pass-1", "strict")
		if t.Have = ok1 && ok2 && r1 > 0; t.Have {
			t.Ratio = r8 / r1
			t.Pass = t.Ratio >= 1.5
			t.Measured = fmt.Sprintf("%.0f vs %.0f opens/s", r8, r1)
			f8, ok3 := rate("open-pass-8", "floor")
			f1, ok4 := rate("open-pass-1", "floor")
			if ok3 && ok4 && f1 > 0 {
				t.Limit += fmt.Sprintf(" The C floor, which only answers, went from %.0f to %.0f "+
					"opens/s in this run, %.2f×.", f1, f8, f8/f1)
			}
		}
		ts = append(ts, t)
	}
	{
		t := Target{Name: "supervisor peak RSS, five plugins", Goal: "≤ 40 MiB",
			Limit: "Four of the five plugins are Go programs of about 2 MB of WebAssembly each. " +
				"Measured in-process, each such module holds about 10 MiB of native code from " +
				"wazero's compiler outside the Go heap and 4-5 MiB of decoded module (its data " +
				"and function bodies) in it, and each running instance 2-3 MiB of linear memory " +
				"after the Go runtime inside it has started; the pool grows to two instances per " +
				"plugin when the eight threads open at once. Plugins with the same memory cap " +
				"share one runtime, so motd loaded twice holds its code once, and linear memories " +
				"live outside the Go heap, each in a mapping grown in place. The C, Rust and " +
				"AssemblyScript examples cost well under 1 MiB each; five Go plugins cannot fit " +
				"in 40 MiB with compiled code.",
		}
		m, ok := val("rss", "strict")
		if t.Have = ok; ok {
			t.Ratio = m
			t.Pass = m <= 40
			t.Measured = fmt.Sprintf("%.1f MiB", m)
			m0, ok0 := val("rss-p0", "strict")
			m1, ok1 := val("rss-p1", "strict")
			if ok0 && ok1 {
				t.Limit += fmt.Sprintf(" In this run the same workload peaked at %.1f MiB with no plugin "+
					"and %.1f MiB with one.", m0, m1)
			}
		}
		ts = append(ts, t)
	}
	ts = append(ts, perCallTargets(val)...)
	{
		t := Target{Name: "C SDK probe plugin's own call (the audit log's mean_us)", Goal: "≤ 5 µs",
			Limit: "The counters time each call from taking an instance to the verdict: the request " +
				"copied in, the plugin's code, its content copied out. A call the machine " +
				"deschedules counts whole, so on a busy machine a few slow calls weigh on the mean " +
				"(whole microseconds, as the audit log gives them)."}
		if n := len(res.PluginCallMicros); n > 0 {
			m := medianOf(res.PluginCallMicros)
			t.Have, t.Ratio, t.Pass = true, m, m <= 5
			t.Measured = fmt.Sprintf("%.0f µs (median of %d runs of %s under scrim strict)", m, n, probePath)
		}
		ts = append(ts, t)
	}
	return ts
}

// perCallTargets are the targets for scrim's own work per call: each of its modes against the
// C floor that does the same kind of answer, trapping the same calls, so that what is left
// over is scrim's work.
func perCallTargets(val func(s, c string) (float64, bool)) []Target {
	var ts []Target
	ratio := func(name, goal string, max float64, s1, c1, s2, c2, unit string, scale float64, limit string) {
		t := Target{Name: name, Goal: goal, Limit: limit}
		a, ok1 := val(s1, c1)
		b, ok2 := val(s2, c2)
		if t.Have = ok1 && ok2 && b > 0; t.Have {
			t.Ratio = a / b
			t.Pass = t.Ratio <= max
			t.Measured = fmt.Sprintf("%.2f %s vs %.2f %s", a*scale, unit, b*scale, unit)
		} else if ok1 && !ok2 {
			t.Peer = c2
		}
		ts = append(ts, t)
	}
	const before = "Before the answer scrim receives the notification, reads the path from the " +
		"program's memory, resolves it as the kernel would (openat2 and statx), checks the " +
		"credentials and asks the chain; the floor reads nothing. \"Where an open's time goes\" " +
		"below splits scrim's side of the open into these stages."
	ratio("fast passthrough open vs the C CONTINUE floor", "≤ 1.5×", 1.5,
		"open-pass-1", "fast", "open-pass-1", "floor", "µs", 1e-3, before)
	ratio("strict passthrough open vs the C inject floor", "≤ 1.0×", 1.0,
		"open-pass-1", "strict", "open-pass-1", "inject", "µs", 1e-3,
		"Both open the file for the program and inject it; the inject floor checks nothing. "+before)
	ratio("strict passthrough open vs the C inject floor, both on CPU 0", "≤ 1.3×", 1.3,
		"open-pass-cpu0-1", "strict", "open-pass-cpu0-1", "inject", "µs", 1e-3,
		"On one CPU no wake-up crosses CPUs, so what is left is each supervisor's own work; "+
			"scrim's is more there than unpinned, because its answering thread, the Go runtime's "+
			"threads and the program take turns on the one CPU. "+before)
	ratio("fast passthrough open vs the C CONTINUE floor, both on CPU 0", "≤ 1.3×", 1.3,
		"open-pass-cpu0-1", "fast", "open-pass-cpu0-1", "floor", "µs", 1e-3,
		"On one CPU no wake-up crosses CPUs, so what is left is each supervisor's own work; "+
			"scrim's is more there than unpinned, because its answering thread, the Go runtime's "+
			"threads and the program take turns on the one CPU. "+before)
	for _, w := range []struct{ key, name string }{{"shell", "shell script"}, {"tar", "tar"}, {"gobuild", "go build"}} {
		const why = "Each trapped call costs scrim what the first table's opens cost (reading the " +
			"path, resolving it, the chain), where the floor pays its round trip alone; stat-like " +
			"calls, which tar and go build make many of, are answered by scrim itself, as " +
			"\"The stat-like calls\" below measures."
		ratio("strict vs the C inject floor: "+w.name, "≤ 1.25×", 1.25, w.key, "strict", w.key, "inject", "s", 1, why)
		ratio("fast vs the C CONTINUE floor: "+w.name, "≤ 1.25×", 1.25, w.key, "fast", w.key, "floor", "s", 1, why)
	}
	ratio("strict plugin-served open (/etc/motd) vs builtin-served (/etc/hosts)", "≤ 1.5×", 1.5,
		"open-plugin-1", "strict", "open-hosts-1", "strict", "µs", 1e-3,
		"Beyond a built-in's work, a plugin-served open pays one call into the plugin: copying "+
			"the request in, the plugin's own code (for examples/motd, a Go program, with the Go "+
			"runtime's entry and exit) and the content out. scrim's stop checks in the plugin's "+
			"code cost a count per loop iteration, where wazero's left the native code at every "+
			"iteration and started a goroutine per call (RATIONALE.md, \"What does a plugin call "+
			"cost, and what do the counters measure?\").")
	ratio("start-up (`true`), scrim strict vs bubblewrap", "≤ 2×", 2,
		"true", "strict", "true", "bwrap", "ms", 1e3,
		"scrim starts three Go processes: itself, a keeper that stays outside the sandbox, and "+
			"a stub that enters the Landlock domain, installs the filter and becomes the program "+
			"(the domain must hold no thread of the keeper's, or the program could signal it). "+
			"Each costs about 2.4 ms to start here (`scrim version`: the Go runtime and every "+
			"package's initialisation); bubblewrap is one small C program.")
	ratio("Python import workload, strict vs the C inject floor", "≤ 1.1×", 1.1,
		"python", "strict", "python", "inject", "ms", 1e3,
		"Both trap the same calls; the floor answers each with the least any supervisor can.")
	for _, r := range []struct {
		key, name string
		max       float64
	}{{"rss-p0", "no plugin", 12}, {"rss-probes", "the C, Rust and AssemblyScript probe plugins", 24}} {
		t := Target{Name: "supervisor peak RSS, " + r.name, Goal: fmt.Sprintf("≤ %.0f MiB", r.max),
			Limit: "The Go runtime and scrim's own code and data; each plugin adds its compiled code " +
				"(outside the Go heap) and its instances' linear memory."}
		if m, ok := val(r.key, "strict"); ok {
			t.Have, t.Ratio, t.Pass, t.Measured = true, m, m <= r.max, fmt.Sprintf("%.1f MiB", m)
		}
		ts = append(ts, t)
	}
	return ts
}

// cpuRatio returns "; CPU time a/b: r×" for a scenario, or "" without CPU numbers. It sits next
// to a wall-time ratio as a check that is less disturbed by other work on the machine.
func cpuRatio(res *Results, s, a, b string) string {
	x, ok1 := res.Median(s, a)
	y, ok2 := res.Median(s, b)
	if !ok1 || !ok2 || x.CPU <= 0 || y.CPU <= 0 {
		return ""
	}
	return fmt.Sprintf("; in CPU time %.2f×", x.CPU/y.CPU)
}

// report renders docs/benchmarks.md.
func report(e *env, cs []*Contender, scs []*Scenario, res *Results) string {
	statCs := cs
	all := slices.DeleteFunc(slices.Clone(cs), func(c *Contender) bool { return c.Key == "nostat" })
	// The container contenders have their own section, with native and scrim strict beside
	// them; in the other tables they would be columns of dashes.
	cs = slices.DeleteFunc(slices.Clone(all), func(c *Contender) bool { return c.Container })
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	head(&b, e, all, res)

	p("## Targets\n\n")
	p("scrim's performance targets, each as a ratio of medians from this run.\n\n")
	p("| target | goal | measured | ratio | result |\n|---|---|---|---|---|\n")
	ts := targets(res)
	for _, t := range ts {
		ratio := ""
		if t.Have {
			ratio = fmt.Sprintf("%.2f×", t.Ratio)
			if strings.Contains(t.Goal, "MiB") {
				ratio = fmt.Sprintf("%.1f MiB", t.Ratio)
			}
			if strings.Contains(t.Goal, " ms") {
				ratio = fmt.Sprintf("+%.1f ms", t.Ratio)
			}
		}
		p("| %s | %s | %s | %s | **%s** |\n", t.Name, t.Goal, t.Measured, ratio, t.verdict())
	}
	p("\n")
	var misses []Target
	for _, t := range ts {
		if t.Have && !t.Pass {
			misses = append(misses, t)
		}
	}
	if len(misses) > 0 {
		p("What limits the misses:\n\n")
		for _, t := range misses {
			p("- **%s** (%.2f, goal %s). %s\n", t.Name, t.Ratio, t.Goal, t.Limit)
		}
		p("\n")
	}

	p("## Open and close, one thread\n\n")
	p("Microseconds per `open`+`close` of one file, in a loop in one thread of a C program " +
		"(bench/workload/openloop.c), timed inside the program so that start-up is not counted; " +
		"in parentheses, the ratio to native. Under scrim /etc/hosts is served by the built-in " +
		"hosts shim, /etc/motd by the example plugin examples/motd, and /proc/kcore is denied; " +
		"under the other contenders /etc/hosts is a bound file, /etc/motd the real one, and " +
		"/proc/kcore fails with the kernel's own error. The row with ten plugins loaded opens the " +
		"passthrough file under scrim strict with every example loaded, some twice, none of which " +
		"claims it; its loop starts two seconds after the program, when the plugins have " +
		"finished loading in the background.\n\n")
	p("![open latency](%s/open.png)\n\n", chartDir)
	header(&b, "file", cs)
	for _, f := range []string{filePass, filePass10, fileHosts, filePlugin, fileDenied} {
		b.WriteString(ratioRow(res, findOpen(scs, f, 1).Key, f, cs, "%.2f", 1e3, sampleValue))
	}
	p("\n")

	p("%s", breakdownSection(res))
	p("## Open throughput and scaling\n\n")
	p("Thousands of opens per second with 1, 2, 4 and 8 threads sharing the same total number of "+
		"opens; the last row is 8 threads over 1. The machine has %d CPUs.\n\n", runtime.NumCPU())
	p("![open throughput](%s/scaling.png)\n\n", chartDir)
	for _, f := range []string{filePass, fileHosts, filePlugin, fileDenied} {
		p("### %s\n\n", f)
		header(&b, "threads", cs)
		for _, n := range threadCounts {
			s := findOpen(scs, f, n)
			row := []string{fmt.Sprint(n)}
			for _, c := range cs {
				row = append(row, cell(res, s.Key, c, func(m Sample) string { return fmt.Sprintf("%.1f", m.Rate/1e3) }))
			}
			p("| %s |\n", strings.Join(row, " | "))
		}
		row := []string{"8 / 1"}
		for _, c := range cs {
			r1, ok1 := res.Median(findOpen(scs, f, 1).Key, c.Key)
			r8, ok8 := res.Median(findOpen(scs, f, 8).Key, c.Key)
			if ok1 && ok8 && r1.Rate > 0 {
				row = append(row, fmt.Sprintf("%.2f×", r8.Rate/r1.Rate))
			} else {
				row = append(row, "–")
			}
		}
		p("| %s |\n\n", strings.Join(row, " | "))
	}

	p("## Whole programs\n\n")
	p("Seconds from start to exit, sandbox set-up included; in parentheses, the ratio to native.\n\n")
	p("![whole programs](%s/macro.png)\n\n", chartDir)
	header(&b, "workload", cs)
	for _, s := range scs {
		if s.Group != groupMacro && s.Key != "true" {
			continue
		}
		b.WriteString(ratioRow(res, s.Key, s.Title, cs, "%.3f", 1, sampleValue))
	}
	p("\n")

	p("CPU seconds (user + system) of the same runs, for the whole process tree: the sandbox, " +
		"its supervisor and the program. Other work on the machine disturbs these less than wall " +
		"time, but they do not show time spent waiting for a wake-up.\n\n")
	header(&b, "workload", cs)
	for _, s := range scs {
		if s.Group != groupMacro {
			continue
		}
		b.WriteString(ratioRow(res, s.Key, s.Title, cs, "%.3f", 1, sampleCPU))
	}
	p("\n")

	p("%s", statSection(res, scs, statCs))
	p("%s", containerSection(res, scs, all))
	p("## scrim start-up\n\n")
	p("Milliseconds for `scrim run -- true` in strict mode with 0, 1 and 5 plugins. A warm cache " +
		"holds the plugins' compiled code from an earlier run; a cold one is emptied before each " +
		"run, so every plugin is compiled again.\n\n")
	p("![start-up](%s/startup.png)\n\n", chartDir)
	p("| configuration | ms |\n|---|---|\n")
	if m, ok := res.Median("true", "strict"); ok {
		p("| 0 plugins | %.1f |\n", m.Value*1e3)
	}
	for _, s := range scs {
		if s.Group == groupStartup && s.Key != "true" {
			p("| %s | %s |\n", strings.TrimPrefix(s.Title, "scrim start-up, "),
				cell(res, s.Key, &Contender{Key: "strict"}, func(m Sample) string { return fmt.Sprintf("%.1f", m.Value*1e3) }))
		}
	}
	p("\n")

	p("## Supervisor peak memory\n\n")
	p("Peak resident set (VmHWM) of the supervising process, sampled every 2 ms from " +
		"/proc/PID/status while the sandbox runs the Python workload, reads every plugin's file " +
		"and then opens /etc/motd from 8 threads. scrim loads five plugins (the four in " +
		"examples/ and motd a second time under another name). For proot the supervisor is " +
		"the tracer; for the C floor, the floor itself.\n\n")
	p("| contender | MiB |\n|---|---|\n")
	for _, c := range cs {
		if s := find(scs, "rss"); s.appliesTo(c) {
			name := c.Name
			if c.Scrim {
				name += ", 5 plugins"
			}
			p("| %s | %s |\n", name, cell(res, "rss", c, func(m Sample) string { return fmt.Sprintf("%.1f", m.Value) }))
		}
	}
	for _, key := range []string{"rss-p1", "rss-p0"} {
		s := find(scs, key)
		p("| %s | %s |\n", s.Title, cell(res, key, &Contender{Key: "strict"}, func(m Sample) string { return fmt.Sprintf("%.1f", m.Value) }))
	}
	p("\n")

	if lost := failedOpens(e.cfg.Ops, all, scs, res); lost != "" {
		p("## Opens that failed\n\nOpens of a file that should have opened, summed over the measured rounds. "+
			"scrim fails closed: when a plugin has no free instance within its timeout (250 ms by "+
			"default), the open fails with EIO instead of blocking.\n\n%s\n", lost)
	}
	if fails := failures(all, scs, res); fails != "" {
		p("## Failures\n\n%s\n", fails)
	}

	p("## Method\n\n")
	p("- **Contenders.** native: the program itself. scrim strict: `scrim run -c CONFIG -- CMD`, " +
		"the default mode, in which the supervisor performs every open itself, with scrim built " +
		"static (`CGO_ENABLED=0`, as README.md recommends). scrim fast: " +
		"`--mode fast`, which lets the kernel open paths no shim claims (not race-proof). " +
		"C floor: bench/cfloor/floor.c, which traps the calls scrim's configuration sends to " +
		"its supervisor, as `scrim check` lists them, and answers every " +
		"notification with CONTINUE and SYNC_WAKE_UP: no seccomp-notify design can be faster. " +
		"C inject floor: the same program with `--inject`, which opens each file itself (relative to " +
		"the caller's cwd or dirfd, checking nothing) and injects it with ADDFD and SEND, and answers " +
		"the other trapped calls with CONTINUE: the floor " +
		"for a design that, like scrim strict, never lets the kernel open. " +
		"proot: `proot -b HOSTS:/etc/hosts`. bubblewrap: `bwrap --dev-bind / / --ro-bind HOSTS " +
		"/etc/hosts`. firejail: `firejail --quiet --noprofile --hosts-file=HOSTS`. HOSTS holds " +
		"the same loopback-only lines scrim's hosts shim serves by default.\n")
	p("- **Trapped calls.** scrim and both C floors trap the same calls: %s; scrim also traps "+
		"prctl's credential options and mknod of what is not a device, which the floors leave to "+
		"the kernel, and lets a newfstatat or statx with a NULL path through, which the floors trap. proot stops the program at every system call; bubblewrap and firejail "+
		"trap none.\n", strings.Join(e.trapped, ", "))
	p("- **scrim's configuration.** Each run gets a generated file with `plugin_dirs = []` and " +
		"its own `cache_dir`, so nothing installed on the machine changes what is measured. " +
		"Scenarios load no plugin except the plugin-served open loop (examples/motd), the " +
		"start-up rows that say otherwise, the memory scenarios, the unclaimed open with ten " +
		"plugins loaded, and the timing of the C probe plugin's calls (the three SDK probes, " +
		"with `--audit`, five runs of the open loop on /probe/greeting after the main rounds). " +
		"The plugin-served loop starts after one open of /etc/motd, which waits for the " +
		"plugin to finish loading in the background.\n")
	p("- **Alternation.** Each round runs every scenario once per contender, the contender " +
		"order rotating from round to round. A warm-up round (page cache, Python bytecode, Go " +
		"build cache, scrim's compile cache) is discarded; tables show medians of the measured " +
		"rounds.\n")
	p("- **Workloads.** `%s -c '%s'`; `sh` running 200 small external commands "+
		"(cat, ls, grep, wc, date, uname, head, basename); `tar cf - %s | cat >/dev/null` (GNU "+
		"tar skips reading files when its archive is /dev/null itself); `go build` of a "+
		"one-file module importing encoding/json and net/http, with a warm build cache.\n",
		e.python, pythonImports, e.cfg.TarDir)
	p("- **Smoke mode.** `go run ./bench -smoke` (or `SCRIM_BENCH_SMOKE=1 go test ./bench -run " +
		"TestSmoke`, which CI runs) uses tiny counts and one round and writes to a temporary " +
		"directory; it fails if scrim cannot run a scenario and skips, with the reason, any other " +
		"sandbox that is missing or refuses to run.\n")
	return b.String()
}

// head writes the page's title and the table that says how, where and when the numbers were
// taken; cs are the contenders whose versions and skips it lists.
func head(b *strings.Builder, e *env, cs []*Contender, res *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	run := "go run ./bench -full"
	if e.cfg.Smoke {
		run = "go run ./bench -smoke"
	}
	if e.cfg.Group != "" {
		run += " -only " + e.cfg.Group
	}
	// On a shared machine the run may be given a higher priority than the other work; say so,
	// since it is part of how the numbers were taken.
	if n := niceness(); n != 0 {
		run = fmt.Sprintf("nice -n %d %s", n, run)
	}

	if e.cfg.Group != "" {
		p("# scrim benchmarks: %s only\n\n", e.cfg.Group)
	} else {
		p("# scrim benchmarks\n\n")
	}
	p("<!-- Generated by `%s`; edit bench/report.go, not this file. -->\n\n", run)
	if e.cfg.Smoke {
		p("**Smoke run: tiny counts, one round. These numbers mean nothing.**\n\n")
	}
	if e.cfg.Group != "" {
		p("A partial run: the %s scenarios alone, with the contenders they compare. "+
			"`go run ./bench -full` measures everything and writes docs/benchmarks.md; `%s` "+
			"reproduces this page.\n\n", e.cfg.Group, run)
	} else {
		p("What running a program under scrim costs, next to running it natively, under the smallest "+
			"possible seccomp-notify supervisor, and under the sandboxes a user would pick instead. "+
			"Every number comes from one run on one machine; `%s` reproduces this page and its charts.\n\n", run)
	}

	p("| | |\n|---|---|\n")
	p("| date | %s (run took %s) |\n", res.Start.UTC().Format("2006-01-02 15:04 MST"), res.End.Sub(res.Start).Round(time.Second))
	p("| machine | %s |\n", machine())
	p("| kernel | %s |\n", kernel())
	p("| load average | %s at start, %s at the end (other work on the machine adds noise) |\n", e.load, loadavg())
	p("| priority | nice %d |\n", niceness())
	p("| scrim | %s, commit %s |\n", e.tools["scrim"], commit(e.cfg.Root))
	p("| tools | %s; %s; %s |\n", e.tools["go"], e.tools["python3"], e.tools["gcc"])
	for _, c := range cs {
		if c.Version != "" {
			p("| %s | %s |\n", c.Name, c.Version)
		}
	}
	p("| rounds | %d measured after 1 warm-up; medians shown |\n", e.cfg.Rounds)
	p("| open loop | %d opens per run, split across the threads |\n", e.cfg.Ops)
	p("| every sample | [%s/samples.json](%s/samples.json) |\n\n", chartDir, chartDir)

	if l1 := firstLoad(e.load); l1 > float64(runtime.NumCPU()) {
		p("**The machine was busy:** a load average of %.1f on %d CPUs when the run started, from "+
			"work other than this benchmark. Absolute times are slower and noisier than on an idle "+
			"machine; contenders alternate within each round, so the ratios between them suffer "+
			"less, but single medians can still be off. [samples.json](%s/samples.json) shows the "+
			"spread. A busy machine also favours sandboxes that stop the program often: every "+
			"trapped call puts it to sleep, and a task that wakes up is scheduled ahead of the "+
			"CPU-bound work it shares the CPUs with, so a sandboxed run can finish before a "+
			"native one.", l1, runtime.NumCPU(), chartDir)
		if e.cfg.Group == "" {
			p(" The CPU-time table under *Whole programs* is less affected.")
		}
		p("\n\n")
	}
	if skipped := skippedList(cs); skipped != "" {
		p("Not measured: %s\n\n", skipped)
	}
}

func header(b *strings.Builder, first string, cs []*Contender) {
	names := []string{first}
	dashes := []string{"---"}
	for _, c := range cs {
		names = append(names, c.Name)
		dashes = append(dashes, "---")
	}
	fmt.Fprintf(b, "| %s |\n| %s |\n", strings.Join(names, " | "), strings.Join(dashes, " | "))
}

// ratioRow is scenario key's table row: each contender's median v divided by div, in format,
// with its ratio to native's in parentheses where native has one.
func ratioRow(res *Results, key, title string, cs []*Contender, format string, div float64, v func(Sample) float64) string {
	row := []string{title}
	base, hasBase := res.Median(key, "native")
	for _, c := range cs {
		row = append(row, cell(res, key, c, func(m Sample) string {
			if hasBase && c.Key != "native" && v(base) > 0 {
				return fmt.Sprintf(format+" (%.1f×)", v(m)/div, v(m)/v(base))
			}
			return fmt.Sprintf(format, v(m)/div)
		}))
	}
	return "| " + strings.Join(row, " | ") + " |\n"
}

func sampleValue(m Sample) float64 { return m.Value }
func sampleCPU(m Sample) float64   { return m.CPU }

// cell formats a scenario's median for a contender, or says why there is none.
func cell(res *Results, s string, c *Contender, f func(Sample) string) string {
	switch {
	case c.Skip != "":
		return "skipped"
	case res.Failed[s][c.Key] != "":
		return "failed"
	}
	if m, ok := res.Median(s, c.Key); ok {
		return f(m)
	}
	return "–"
}

func find(scs []*Scenario, key string) *Scenario {
	for _, s := range scs {
		if s.Key == key {
			return s
		}
	}
	panic("bench: no scenario " + key)
}

func findOpen(scs []*Scenario, file string, threads int) *Scenario {
	for _, s := range scs {
		if s.Kind == KindOpen && s.File == file && s.Threads == threads {
			return s
		}
	}
	panic(fmt.Sprintf("bench: no open scenario for %s with %d threads", file, threads))
}

func skippedList(cs []*Contender) string {
	var xs []string
	for _, c := range cs {
		if c.Skip != "" {
			xs = append(xs, fmt.Sprintf("%s (%s)", c.Name, c.Skip))
		}
	}
	return strings.Join(xs, "; ")
}

func failedOpens(ops int, cs []*Contender, scs []*Scenario, res *Results) string {
	var b strings.Builder
	for _, s := range scs {
		for _, c := range cs {
			var n int64
			for _, x := range res.Samples[s.Key][c.Key] {
				n += x.Failed
			}
			if n > 0 {
				fmt.Fprintf(&b, "- %s under %s: %d of %d\n", s.Title, c.Name, n,
					int64(len(res.Samples[s.Key][c.Key]))*int64(ops/s.Threads*s.Threads))
			}
		}
	}
	return b.String()
}

func failures(cs []*Contender, scs []*Scenario, res *Results) string {
	var b strings.Builder
	for _, s := range scs {
		for _, c := range cs {
			if why := res.Failed[s.Key][c.Key]; why != "" {
				fmt.Fprintf(&b, "- %s under %s: %s\n", s.Key, c.Name, why)
			}
		}
	}
	return b.String()
}

// machine describes the CPU, its count and the memory.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := ""
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		mem = fmt.Sprintf(", %.1f GiB RAM", float64(si.Totalram)*float64(si.Unit)/(1<<30))
	}
	return fmt.Sprintf("%s, %d CPUs%s, %s/%s", model, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH)
}

// loadavg returns /proc/loadavg's 1, 5 and 15 minute averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// firstLoad returns the one-minute average of a loadavg() string, 0 if there is none.
func firstLoad(load string) float64 {
	f := strings.Fields(load)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// niceness returns the harness's nice value, which every measured process inherits.
func niceness() int {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from after its closing parenthesis.
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 17 {
		return 0
	}
	n, _ := strconv.Atoi(f[16])
	return n
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return fmt.Sprintf("%s %s %s", unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]),
		unix.ByteSliceToString(u.Machine[:]))
}

func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

// injectFloorNote says what the C inject floor scored on workload key against native n: the
// best a design that opens every file for the child can do here.
func injectFloorNote(val func(s, c string) (float64, bool), key string, n float64) string {
	in, ok := val(key, "inject")
	if !ok || n <= 0 {
		return ""
	}
	return fmt.Sprintf(" The C inject floor, which opens every file for the child as strict mode does "+
		"but checks nothing, took %.2f× native on the same workload.", in/n)
}
