package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// The per-open system call budget of scrim's supervisor for a passthrough open of a file no
// shim claims, on one thread (RATIONALE.md, "What may a passthrough open cost the
// supervisor?"). TestSyscallBudget holds scrim to it.
const (
	// budgetStrict: the poll that waits for the next notification, the RECV, ID_VALID and
	// ADDFD+SEND ioctls, process_vm_readv for the path, tgkill to check the caller's thread
	// group, openat2 and statx to resolve it, openat to reopen the object as the child asked,
	// and two closes: 11. (The filesystem type of a block device's filesystem is cached, the
	// reopened descriptor is never wrapped in an *os.File, whose constructor asks for flags,
	// and a worker keeps the asynchronous signals blocked for life instead of around each
	// ADDFD.) The half call of margin absorbs the Go runtime's calls that runtimeCalls does
	// not name; one call more per open does not fit.
	budgetStrict = 11.5
	// budgetFast: the same up to the decision, then SEND with CONTINUE: no reopen, no ADDFD,
	// one close: 9.
	budgetFast = 9.5
	// budgetWakeups bounds the futex calls per open: a hand-off between threads per open
	// would make at least two (a wake and a wait). What is left is the runtime's background
	// work, 0.05-0.2 per open depending on the load.
	budgetWakeups = 0.5
)

// runtimeCalls are the Go runtime's own system calls, which scale with time and load rather
// than with opens (sysmon's sleeps, the scheduler's and the collector's), left out of PerOpen.
var runtimeCalls = []string{"futex", "nanosleep", "sched_yield", "rt_sigreturn", "epoll_pwait", "madvise", "mmap", "munmap"}

// syscallCount is what scrim's side of a passthrough open costs in system calls.
type syscallCount struct {
	// PerOpen is every system call scrim and its keeper make per open but the Go runtime's
	// own (runtimeCalls); Wakeups counts the futex calls.
	PerOpen, Wakeups float64
}

// countSyscalls measures the system calls per passthrough open of scrim run --mode mode, with
// perf counting the raw_syscalls:sys_enter tracepoint over the whole process tree. Two runs of
// different lengths are subtracted, so start-up and exit cancel out, and the open loop's own
// calls and the Go runtime's (runtimeCalls) are taken off. It needs perf and the right to use
// tracepoints (root, or kernel.perf_event_paranoid ≤ -1).
func countSyscalls(ctx context.Context, perf, scrim, openloop, file, mode string) (syscallCount, error) {
	const short, long = 2000, 12000
	counts := map[int]map[string]float64{}
	for _, n := range []int{short, long} {
		events := []string{"raw_syscalls:sys_enter"}
		for _, c := range runtimeCalls {
			events = append(events, "syscalls:sys_enter_"+c)
		}
		cmd := exec.CommandContext(ctx, perf, "stat", "-x,", "-e", strings.Join(events, ","), "--",
			scrim, "run", "--mode", mode, "--", openloop, file, strconv.Itoa(n), "1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return syscallCount{}, fmt.Errorf("perf stat scrim run --mode %s: %w: %s", mode, err, oneLine(stderr.Bytes()))
		}
		counts[n] = map[string]float64{}
		for _, line := range strings.Split(stderr.String(), "\n") {
			f := strings.Split(line, ",")
			if len(f) < 3 || !strings.Contains(f[2], "sys_enter") {
				continue
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return syscallCount{}, fmt.Errorf("perf stat: cannot count %s: %q", f[2], line)
			}
			counts[n][f[2]] = v
		}
		if _, ok := counts[n]["raw_syscalls:sys_enter"]; !ok {
			return syscallCount{}, fmt.Errorf("perf stat printed no count: %s", oneLine(stderr.Bytes()))
		}
	}
	per := func(ev string) float64 { return (counts[long][ev] - counts[short][ev]) / (long - short) }
	runtime := 0.0
	for _, c := range runtimeCalls {
		runtime += per("syscalls:sys_enter_" + c)
	}
	// The loop's close, and its open where the kernel runs it: an open scrim answers in
	// strict mode never enters the kernel's open, so the tracepoint, which fires after
	// seccomp, does not see it.
	loop := 2.0
	if mode == "strict" {
		loop = 1
	}
	return syscallCount{PerOpen: per("raw_syscalls:sys_enter") - loop - runtime, Wakeups: per("syscalls:sys_enter_futex")}, nil
}
