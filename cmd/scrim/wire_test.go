package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestSyscallNamesCoverBuiltins checks that every call a built-in shim takes over has a name
// in shim.SyscallName, the one table the audit log and `scrim check` print from.
func TestSyscallNamesCoverBuiltins(t *testing.T) {
	seed := uint64(1)
	_, calls, err := builtin.New(builtin.Options{Hostname: "box", CPUs: 1, MemoryBytes: 1 << 30, RandomSeed: &seed})
	require.NoError(t, err)
	require.NotEmpty(t, calls)
	for _, c := range calls {
		for _, nr := range c.Syscalls() {
			require.NotContains(t, shim.SyscallName(nr), "syscall(", "%s takes over syscall %d", c.ID(), nr)
		}
	}
}

// TestCheck_SyscallNames turns on every shim that takes over other system calls and checks
// that `scrim check` names each call: the names come from shim.SyscallName, which the audit
// log uses too, so a call missing from that table shows here as a number.
func TestCheck_SyscallNames(t *testing.T) {
	r := scrim(t, "check", "--hostname", "box", "--cpus", "1", "--memory", "1G", "--random-seed", "1")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	_, calls, ok := strings.Cut(r.stdout, "other system calls taken over:\n")
	require.True(t, ok, "stdout: %s", r.stdout)
	require.NotContains(t, calls, "syscall(")
	for _, want := range []string{"getdents64", "uname", "sysinfo", "getrandom", "sched_getaffinity"} {
		require.Contains(t, calls, want)
	}
}
