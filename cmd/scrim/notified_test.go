package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckListsNotifiedCalls checks that `scrim check` says which calls the sandbox sends to
// the supervisor, and that the list follows the configuration.
func TestCheckListsNotifiedCalls(t *testing.T) {
	always := func(out string) []string {
		m := regexp.MustCompile(`(?m)^\s+always\s+(.*)$`).FindStringSubmatch(out)
		require.NotNil(t, m, "no 'always' line in:\n%s", out)
		return strings.Fields(m[1])
	}
	r := scrim(t, "check")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "system calls sent to the supervisor:")
	got := always(r.stdout)
	for _, want := range []string{"open", "openat", "openat2", "creat", "newfstatat", "statx", "rename", "getdents64", "uname"} {
		require.Contains(t, got, want)
	}

	file := filepath.Join(t.TempDir(), "nostat.toml")
	require.NoError(t, os.WriteFile(file, []byte("mediate_stat = false\n"), 0o644))
	r = scrim(t, "check", "-c", file)
	require.Equal(t, 0, r.code, r.stderr)
	got = always(r.stdout)
	require.Contains(t, got, "openat")
	require.NotContains(t, got, "newfstatat")
	require.NotContains(t, got, "statx")
}
