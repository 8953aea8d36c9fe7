package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The stages of one mediated open, in the order they happen, as the breakdown measures them
// from the system calls scrim's answering thread makes (see stageOf).
const (
	// stageNotify: from the program's open to scrim's thread having received the
	// notification (the kernel's wake-up, the poll, RECV).
	stageNotify = iota
	// stagePath: reading the path from the program's memory.
	stagePath
	// stageResolve: resolving it as the kernel would (openat2, statx, the walk's calls).
	stageResolve
	// stageDecide: from the resolved object to the first call that acts on the decision: the
	// credentials check, the chain of shims and plugins, the notification still being valid.
	stageDecide
	// stageOpen: opening the object as the program, or preparing served content.
	stageOpen
	// stageAnswer: from the answer (ADDFD+SEND, or SEND of CONTINUE or an error) to the
	// program's open returning.
	stageAnswer
	numStages
)

var stageNames = [numStages]string{"notify and receive", "read the path", "resolve", "decide (credentials, chain)", "open or serve", "inject or answer, back to the program"}

// Breakdown is where the time of one kind of open goes: the median of each stage over every
// open of a run, and what scrim did per open.
type Breakdown struct {
	Opens int
	// Stage is the median microseconds of each stage; Total the median of the whole open.
	Stage [numStages]float64
	Total float64
	// Syscalls is scrim's system calls per open (every thread), Futex the futex calls among them.
	Syscalls, Futex float64
}

// event is one raw_syscalls tracepoint hit.
type event struct {
	comm  string
	tid   int
	ns    int64
	enter bool
	nr    int
	args  [6]uint64 // enter only
}

// measureBreakdown runs the open loop on path under scrim with perf recording every system
// call's entry and exit, and splits each of the loop's opens into stages from scrim's calls
// inside it. perf adds its own cost to every call, so the stages are larger than in a run
// without it; what they show is the split. It needs perf and the right to record tracepoints.
func measureBreakdown(ctx context.Context, perf, work string, argv []string, n int) (Breakdown, error) {
	data := filepath.Join(work, "breakdown.perf")
	defer os.Remove(data)
	// A ring buffer of 16 MiB per CPU, not perf's default of a few hundred KiB: on a busy
	// machine perf falls behind and drops events, and with them the opens they belong to.
	rec := append([]string{"record", "-q", "-m", "16M", "-o", data, "-e", "raw_syscalls:sys_enter,raw_syscalls:sys_exit", "--"}, argv...)
	if out, err := exec.CommandContext(ctx, perf, rec...).CombinedOutput(); err != nil {
		return Breakdown{}, fmt.Errorf("perf record: %w: %s", err, oneLine(out))
	}
	script := exec.CommandContext(ctx, perf, "script", "-i", data, "--ns", "-F", "comm,tid,time,event,trace")
	var stderr bytes.Buffer
	script.Stderr = &stderr
	out, err := script.Output()
	if err != nil {
		return Breakdown{}, fmt.Errorf("perf script: %w: %s", err, oneLine(stderr.Bytes()))
	}
	evs, err := parsePerfScript(out)
	if err != nil {
		return Breakdown{}, err
	}
	b := splitOpens(evs, filepath.Base(argv[len(argv)-4]))
	if b.Opens < n/2 {
		return b, fmt.Errorf("breakdown: found %d of the loop's %d opens in the trace", b.Opens, n)
	}
	return b, nil
}

// parsePerfScript reads `perf script -F comm,tid,time,event,trace --ns` lines.
func parsePerfScript(out []byte) ([]event, error) {
	var evs []event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "raw_syscalls:sys_e")
		if i < 0 {
			continue
		}
		head := strings.Fields(line[:i])
		if len(head) < 3 {
			continue
		}
		// comm may contain spaces: tid and time are the last two fields before the event.
		tid, err1 := strconv.Atoi(head[len(head)-2])
		ts := strings.TrimSuffix(head[len(head)-1], ":")
		sec, frac, ok := strings.Cut(ts, ".")
		s, err2 := strconv.ParseInt(sec, 10, 64)
		f, err3 := strconv.ParseInt(frac, 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || !ok || len(frac) != 9 {
			return nil, fmt.Errorf("perf script: cannot read %q", line)
		}
		e := event{comm: strings.Join(head[:len(head)-2], " "), tid: tid, ns: s*1e9 + f}
		rest := line[i:]
		e.enter = strings.HasPrefix(rest, "raw_syscalls:sys_enter")
		nrAt := strings.Index(rest, "NR ")
		if nrAt < 0 {
			continue
		}
		nrField := strings.Fields(rest[nrAt+3:])
		if len(nrField) == 0 {
			continue
		}
		if e.nr, err1 = strconv.Atoi(nrField[0]); err1 != nil {
			continue
		}
		if e.enter {
			if open := strings.Index(rest, "("); open >= 0 {
				args := strings.Split(strings.Trim(rest[open:], "()"), ",")
				for k := 0; k < len(args) && k < 6; k++ {
					e.args[k], _ = strconv.ParseUint(strings.TrimSpace(args[k]), 16, 64)
				}
			}
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// splitOpens finds the loop's opens and splits each. A mediated open has no entry event (the
// tracepoint fires after seccomp, and an open scrim answers is never entered), so an open is
// taken to start at the loop thread's previous exit, its close: the loop does nothing between.
func splitOpens(evs []event, loop string) Breakdown {
	// The loop's thread is the one of the program with the most openat exits.
	count := map[int]int{}
	for _, e := range evs {
		if e.comm == loop && !e.enter && e.nr == unix.SYS_OPENAT {
			count[e.tid]++
		}
	}
	loopTid, most := 0, 0
	for tid, c := range count {
		if c > most {
			loopTid, most = tid, c
		}
	}
	var stages [numStages][]float64
	var totals []float64
	var calls, futex, opens int
	prev := -1 // index of the loop thread's last exit
	for i, e := range evs {
		if e.tid != loopTid || e.enter {
			continue
		}
		if e.nr != unix.SYS_OPENAT || prev < 0 || evs[prev].nr != unix.SYS_CLOSE {
			prev = i
			continue
		}
		in := evs[prev+1 : i]
		start := evs[prev].ns
		prev = i
		st, ok := splitOne(in, loop, start, e.ns)
		if !ok {
			continue
		}
		opens++
		for k := range st {
			stages[k] = append(stages[k], st[k])
		}
		totals = append(totals, float64(e.ns-start)/1e3)
		for _, x := range in {
			if x.comm != loop && x.enter {
				calls++
				if x.nr == unix.SYS_FUTEX {
					futex++
				}
			}
		}
	}
	b := Breakdown{Opens: opens}
	if opens == 0 {
		return b
	}
	for k := range stages {
		b.Stage[k] = medianOf(stages[k])
	}
	b.Total = medianOf(totals)
	b.Syscalls = float64(calls) / float64(opens)
	b.Futex = float64(futex) / float64(opens)
	return b
}

// splitOne splits one open, from the program's entry at start to its exit at end, given every
// event in between. The thread that answered is the one whose RECV returned in the window.
func splitOne(in []event, loop string, start, end int64) ([numStages]float64, bool) {
	var st [numStages]float64
	worker := -1
	for _, e := range in {
		if !e.enter && e.comm != loop && e.nr == unix.SYS_IOCTL && isRecvExit(in, e) {
			worker = e.tid
			break
		}
	}
	if worker < 0 {
		return st, false
	}
	// Boundaries: the exit of each stage's last call, or the entry of the next stage's first.
	var received, pathRead, resolved, acting, answering int64
	for _, e := range in {
		if e.tid != worker {
			continue
		}
		switch {
		case !e.enter && e.nr == unix.SYS_IOCTL && received == 0 && isRecvExit(in, e):
			received = e.ns
		case received == 0:
		case !e.enter && e.nr == unix.SYS_PROCESS_VM_READV && pathRead == 0:
			pathRead = e.ns
		case e.enter && answering == 0 && e.nr == unix.SYS_IOCTL && (e.args[1] == unix.SECCOMP_IOCTL_NOTIF_SEND || e.args[1] == 0x40182103):
			answering = e.ns
			if acting == 0 {
				acting = e.ns
			}
		case answering != 0:
		case e.enter && acting == 0 && isActing(e):
			acting = e.ns
		case !e.enter && acting == 0 && isResolving(e.nr):
			resolved = e.ns
		}
	}
	if received == 0 || answering == 0 {
		return st, false
	}
	if pathRead == 0 {
		pathRead = received // a call with no path (a listing)
	}
	if resolved == 0 || resolved < pathRead {
		resolved = pathRead
	}
	if acting == 0 {
		acting = answering
	}
	bounds := []int64{start, received, pathRead, resolved, acting, answering, end}
	for k := range st {
		st[k] = float64(bounds[k+1]-bounds[k]) / 1e3
		if st[k] < 0 {
			return st, false
		}
	}
	return st, true
}

// isRecvExit reports whether exit ends a SECCOMP_IOCTL_NOTIF_RECV: the entry before it on its
// thread asked for one.
func isRecvExit(in []event, exit event) bool {
	var last *event
	for k := range in {
		if in[k].tid == exit.tid && in[k].enter && in[k].ns <= exit.ns {
			last = &in[k]
		}
	}
	// The entry may be before the window (RECV blocked since the previous open): then it is
	// the first call of the thread in the window, and an ioctl exit there is the receive.
	return last == nil || last.nr == unix.SYS_IOCTL && last.args[1] == unix.SECCOMP_IOCTL_NOTIF_RECV
}

// isResolving reports whether nr is one of the calls a walk makes.
func isResolving(nr int) bool {
	switch nr {
	case unix.SYS_OPENAT2, unix.SYS_STATX, unix.SYS_FSTATFS, unix.SYS_NEWFSTATAT, unix.SYS_READLINKAT, unix.SYS_FSTAT:
		return true
	}
	return false
}

// isActing reports whether the call entry e acts on a decision: a reopen (an openat that is
// not path-only), or preparing served content.
func isActing(e event) bool {
	switch e.nr {
	case unix.SYS_OPENAT:
		return e.args[2]&unix.O_PATH == 0
	case unix.SYS_MEMFD_CREATE, unix.SYS_WRITE, unix.SYS_PWRITE64, unix.SYS_FTRUNCATE, unix.SYS_DUP, unix.SYS_FCNTL:
		return true
	}
	return false
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// breakdownRows are the opens the report splits: scrim strict and fast on the passthrough
// file, and strict on a file a built-in shim serves and one a plugin serves.
var breakdownRows = []struct{ name, mode, cfg, file string }{
	{"strict, passthrough", "strict", "p0", ""},
	{"fast, passthrough", "fast", "p0", ""},
	{"strict, builtin (/etc/hosts)", "strict", "p0", hostsPath},
	{"strict, plugin (/etc/motd)", "strict", "p1", motdPath},
}

// breakdowns fills r's breakdowns and system call counts, or says why it cannot: both need
// perf and the right to record tracepoints, and run after the measured rounds so that perf's
// own cost lands in no other number.
func (r *Results) breakdowns(ctx context.Context, e *env) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		r.BreakdownSkip = "perf is not installed (Debian: linux-perf)"
		return
	}
	n := 5000
	if e.cfg.Smoke {
		n = 300
	}
	r.Breakdowns = map[string]Breakdown{}
	for _, row := range breakdownRows {
		file := row.file
		if file == "" {
			file = e.passthrough
		}
		argv := []string{e.scrim, "run", "--mode", row.mode, "-c", e.scrimCfg[row.cfg], "--", e.openloop, file, strconv.Itoa(n), "1"}
		b, err := measureBreakdown(ctx, perf, e.work, argv, n)
		if err != nil {
			r.BreakdownSkip = err.Error()
			r.Breakdowns = nil
			return
		}
		r.Breakdowns[row.name] = b
	}
	r.Counts = map[string]syscallCount{}
	for _, mode := range []string{"strict", "fast"} {
		c, err := countSyscalls(ctx, perf, e.scrim, e.openloop, e.passthrough, mode)
		if err != nil {
			r.BreakdownSkip = err.Error()
			r.Counts = nil
			return
		}
		r.Counts[mode] = c
	}
}

// breakdownSection is the report's table of where an open's time goes.
func breakdownSection(r *Results) string {
	var b strings.Builder
	b.WriteString("## Where an open's time goes\n\n")
	if r.Breakdowns == nil {
		fmt.Fprintf(&b, "Not measured in this run: %s.\n\n", r.BreakdownSkip)
		return b.String()
	}
	b.WriteString("Each open of the one-thread loop, split at the system calls scrim's answering thread makes " +
		"(recorded with `perf record -e raw_syscalls:sys_enter,raw_syscalls:sys_exit` in a run of its own after " +
		"the measured rounds): medians in microseconds. perf adds its own cost to every system call, so the " +
		"stages add up to more than the open costs without it; what they show is the split. " +
		"*notify and receive* runs from the program's call to scrim's thread holding the notification; " +
		"*decide* is what scrim computes between the resolved object and its first act (credentials, the chain " +
		"of shims and plugins); *inject or answer* runs from the answer to the program's call returning. The " +
		"last columns count scrim's system calls (every thread) inside each open.\n\n")
	b.WriteString("| open |")
	for _, n := range stageNames {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString(" total | system calls | futex |\n|---|")
	for range stageNames {
		b.WriteString("---|")
	}
	b.WriteString("---|---|---|\n")
	for _, row := range breakdownRows {
		bd := r.Breakdowns[row.name]
		fmt.Fprintf(&b, "| %s |", row.name)
		for _, v := range bd.Stage {
			fmt.Fprintf(&b, " %.2f |", v)
		}
		fmt.Fprintf(&b, " %.2f | %.1f | %.2f |\n", bd.Total, bd.Syscalls, bd.Futex)
	}
	if r.Counts != nil {
		fmt.Fprintf(&b, "\nCounted without perf's recording (perf stat over the whole process tree, two runs of "+
			"different lengths subtracted, the loop's own calls and the Go runtime's sleeps, waits and memory "+
			"calls taken off): scrim strict makes %.2f system calls per passthrough open and scrim fast %.2f, "+
			"with %.2f and %.2f futex calls; "+
			"bench TestSyscallBudget holds them to %.1f, %.1f and %.1f (RATIONALE.md, \"What may a passthrough "+
			"open cost the supervisor?\").\n",
			r.Counts["strict"].PerOpen, r.Counts["fast"].PerOpen, r.Counts["strict"].Wakeups, r.Counts["fast"].Wakeups,
			budgetStrict, budgetFast, budgetWakeups)
	}
	b.WriteString("\n")
	return b.String()
}
