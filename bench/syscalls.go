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
	// budgetStrict: RECV, ID_VALID and ADDFD+SEND ioctls, the poll that waits for the next
	// notification, process_vm_readv for the path, openat2 and statx to resolve it, openat
	// to reopen the object as the child asked, the two signal-mask changes around ADDFD, and
	// two closes: 12. (The filesystem type of a block device's filesystem is cached, and the
	// reopened descriptor is never wrapped in an *os.File, whose constructor asks for flags.)
	budgetStrict = 12.3
	// budgetFast: the same up to the decision, then CONTINUE: no reopen, no ADDFD: 9.
	budgetFast = 9.3
	// budgetWakeups bounds the futex and nanosleep calls per open: the Go runtime handing
	// work between threads, each a potential cross-CPU wake-up. A hand-off per open would
	// make one or more; what is left is the runtime's background work, which grows with the
	// run's length and the machine's load (0.1-0.25 measured here), so it is not in PerOpen.
	budgetWakeups = 0.5
)

// syscallCount is what scrim's side of a passthrough open costs in system calls.
type syscallCount struct {
	// PerOpen is every system call scrim and its keeper make per open but the futex and
	// nanosleep calls, which Wakeups counts.
	PerOpen, Wakeups float64
}

// countSyscalls measures the system calls per passthrough open of scrim run --mode mode, with
// perf counting the raw_syscalls:sys_enter tracepoint over the whole process tree. Two runs of
// different lengths are subtracted, so start-up and exit cancel out, and the open loop's own
// open and close (two calls per iteration) are taken off. It needs perf and the right to use
// tracepoints (root, or kernel.perf_event_paranoid ≤ -1).
func countSyscalls(ctx context.Context, perf, scrim, openloop, file, mode string) (syscallCount, error) {
	const short, long = 2000, 12000
	counts := map[int]map[string]float64{}
	for _, n := range []int{short, long} {
		cmd := exec.CommandContext(ctx, perf, "stat", "-x,", "-e",
			"raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep", "--",
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
	wakeups := per("syscalls:sys_enter_futex") + per("syscalls:sys_enter_nanosleep")
	return syscallCount{PerOpen: per("raw_syscalls:sys_enter") - 2 - wakeups, Wakeups: wakeups}, nil
}
