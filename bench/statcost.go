package main

import (
	"fmt"
	"strings"
)

// statWorkloads are the scenarios the nostat contender runs: the whole programs, whose stat-like
// calls are what mediate_stat decides on.
var statWorkloads = []string{"python", "shell", "tar", "gobuild", "true"}

// statSection is the report's section on the mediate_stat setting: scrim strict with the
// stat-like calls mediated (the default) and without, on the whole programs, and what the
// mediation adds. Empty when nostat did not run.
func statSection(res *Results, scs []*Scenario, cs []*Contender) string {
	var on, off *Contender
	for _, c := range cs {
		switch c.Key {
		case "strict":
			on = c
		case "nostat":
			off = c
		}
	}
	if on == nil || off == nil {
		return ""
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## The stat-like calls: mediate_stat on and off\n\n")
	p("scrim strict mediates `stat`, `lstat`, `newfstatat`, `statx`, `access`, `faccessat`, " +
		"`faccessat2`, `readlink`, `readlinkat`, `chdir`, `statfs`, `inotify_add_watch`, `getxattr`, " +
		"`listxattr` and their `l` forms " +
		"like opens by default " +
		"(`mediate_stat = true`), so that they agree with what a served file's open returns, and " +
		"a hidden process stays hidden. glibc's `fstat` is `newfstatat(fd, \"\", AT_EMPTY_PATH)`, " +
		"which BPF cannot tell from a path lookup, so it is mediated too. The same workloads with " +
		"`mediate_stat = false` in the same rounds; the last columns are what the mediation adds, in " +
		"CPU seconds of the whole process tree and as a share of the run without it.\n\n")
	p("| workload | wall, on | wall, off | CPU, on | CPU, off | CPU added |\n|---|---|---|---|---|---|\n")
	for _, s := range scs {
		if s.Group != groupMacro {
			continue
		}
		a, ok1 := res.Median(s.Key, on.Key)
		o, ok2 := res.Median(s.Key, off.Key)
		if !ok1 || !ok2 {
			p("| %s | %s | %s | | | |\n", s.Title, cell(res, s.Key, on, fmtWall), cell(res, s.Key, off, fmtWall))
			continue
		}
		added := "–"
		if o.CPU > 0 {
			added = fmt.Sprintf("%+.3f s (%+.0f %%)", a.CPU-o.CPU, 100*(a.CPU-o.CPU)/o.CPU)
		}
		p("| %s | %.3f | %.3f | %.3f | %.3f | %s |\n", s.Title, a.Value, o.Value, a.CPU, o.CPU, added)
	}
	p("\nThe default stays on: without it, `stat` of a served file describes the host's file, so " +
		"`cp /etc/hosts` fails (\"replaced while being copied\") and `tar` records the wrong size, " +
		"and denied paths and other processes' `/proc` entries answer the stat-like calls. " +
		"Programs that stat much and need neither (a build over a large tree, `tar` of many files) " +
		"can set `mediate_stat = false` (RATIONALE.md, \"Why are the stat-like calls mediated by " +
		"default?\").\n\n")
	return b.String()
}

func fmtWall(m Sample) string { return fmt.Sprintf("%.3f", m.Value) }
