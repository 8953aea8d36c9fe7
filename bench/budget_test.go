package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSyscallBudget holds scrim to its per-open system call budget (budgetStrict, budgetFast,
// budgetWakeups), counted by perf over real runs: a change that adds a system call or a
// thread hand-off to the passthrough open fails here rather than showing up later as a slower
// benchmark. Counting tracepoints needs root (kernel.perf_event_paranoid is 2 by default), so
// the unprivileged pass skips it; CI runs it as root with linux-perf installed.
func TestSyscallBudget(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("counting system calls with perf tracepoints needs root; CI runs this as root")
	}
	perf, err := exec.LookPath("perf")
	require.NoError(t, err, "perf is missing: install linux-perf (.ci/run does)")
	root, err := moduleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	scrim, openloop := filepath.Join(dir, "scrim"), filepath.Join(dir, "openloop")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", scrim, "./cmd/scrim")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("gcc", "-O2", "-Wall", "-pthread", "-o", openloop, filepath.Join(root, "bench/workload/openloop.c")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	file := filepath.Join(dir, "passthrough.txt")
	require.NoError(t, os.WriteFile(file, []byte("nobody claims this file\n"), 0o644))

	for _, c := range []struct {
		mode   string
		budget float64
	}{{"strict", budgetStrict}, {"fast", budgetFast}} {
		n, err := countSyscalls(context.Background(), perf, scrim, openloop, file, c.mode)
		require.NoError(t, err)
		t.Logf("%s: %.2f system calls per passthrough open, %.3f futex", c.mode, n.PerOpen, n.Wakeups)
		require.LessOrEqual(t, n.PerOpen, c.budget, "%s mode exceeds its system call budget per open", c.mode)
		require.LessOrEqual(t, n.Wakeups, budgetWakeups, "%s mode hands work between threads on the hot path", c.mode)
		// A count far below the budget means the measurement broke (the loop ran outside the
		// sandbox, or perf counted one process only), not that scrim got free.
		require.Greater(t, n.PerOpen, 4.0, "%s mode: implausibly few system calls per open", c.mode)
	}
}
