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
	line := func(out, kind string) []string {
		m := regexp.MustCompile(`(?m)^\s+` + kind + `\s+(.*)$`).FindStringSubmatch(out)
		require.NotNil(t, m, "no '%s' line in:\n%s", kind, out)
		return strings.Fields(m[1])
	}
	always := func(out string) []string { return line(out, "always") }
	r := scrim(t, "check")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "system calls sent to the supervisor:")
	got := always(r.stdout)
	for _, want := range []string{"open", "openat", "openat2", "creat", "stat", "rename", "getdents64", "uname"} {
		require.Contains(t, got, want)
	}
	// newfstatat and statx go through except with a NULL path, which looks nothing up.
	require.Subset(t, line(r.stdout, "sometimes"), []string{"newfstatat", "statx"})

	file := filepath.Join(t.TempDir(), "nostat.toml")
	require.NoError(t, os.WriteFile(file, []byte("mediate_stat = false\n"), 0o644))
	r = scrim(t, "check", "-c", file)
	require.Equal(t, 0, r.code, r.stderr)
	got = always(r.stdout)
	require.Contains(t, got, "openat")
	require.NotContains(t, got, "newfstatat")
	require.NotContains(t, got, "statx")
	require.NotContains(t, line(r.stdout, "sometimes"), "newfstatat")
}
