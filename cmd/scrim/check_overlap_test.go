package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheck_NoWarningAmongBuiltins: README's example sets --cpus and --memory, whose shims
// share a cgroup's and a NUMA node's files by design; scrim check warns only about overlaps a
// user configured (a plugin), never about scrim's own shims among themselves
// (TestDropIn_CannotOutrankBuiltins has a plugin's overlap with builtin.hosts).
func TestCheck_NoWarningAmongBuiltins(t *testing.T) {
	r := scrim(t, "check", "--cpus", "2", "--memory", "4G", "--hostname", "box", "--random-seed", "7")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "builtin.memory")
	require.Empty(t, r.stderr)
}
