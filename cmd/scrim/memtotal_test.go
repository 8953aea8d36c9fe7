package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRun_MemoryTotalTooSmallStopsRun: a plugin_memory_total too small for a plugin stops
// scrim run before the program starts, as it stops scrim check, even where an earlier run
// under a larger total left the plugin's describe document in the cache (which lets a run load
// the plugin after the program started, where the failure only gave its opens EIO).
func TestRun_MemoryTotalTooSmallStopsRun(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	marker := filepath.Join(dir, "ran")
	r := scrim(t, "run", "--cache-dir", cache, "--plugin", motdWasm(t), "--", "cat", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)

	cfg := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("plugin_dirs = []\nplugin_memory_total = \"1M\"\n"), 0o600))
	for _, args := range [][]string{{"check", "-c", cfg}, {"run", "-c", cfg, "--", "touch", marker}} {
		r = scrim(t, append(append([]string{args[0], "--cache-dir", cache, "--plugin", motdWasm(t)}, args[1:3]...), args[3:]...)...)
		require.Equal(t, exitFailure, r.code, r.stderr)
		require.Contains(t, r.stderr, "scrim "+args[0]+": load plugins: ")
		require.Contains(t, r.stderr, "does not fit in the plugins' memory total (plugin_memory_total = 1M")
	}
	require.NoFileExists(t, marker, "the program did not run")
}
