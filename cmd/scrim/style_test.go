package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheck_AdviceIsNotCheck: a problem only the supervisor finds is reported by scrim run with
// the advice to run scrim check, and by scrim check itself with advice it can follow.
func TestCheck_AdviceIsNotCheck(t *testing.T) {
	r := scrim(t, "check", "--chroot", "/")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	require.True(t, strings.HasPrefix(r.stderr, "scrim check: new supervisor: chroot /: "), r.stderr)
	require.True(t, strings.HasSuffix(r.stderr, "; correct the configuration; --log-level debug shows what led to it\n"), r.stderr)
	require.NotContains(t, r.stderr, "'scrim check'")

	r = scrim(t, "run", "--chroot", "/", "--", "true")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.True(t, strings.HasSuffix(r.stderr, "; check the configuration ('scrim check' with the same flags), or run again with --log-level debug\n"), r.stderr)
}
