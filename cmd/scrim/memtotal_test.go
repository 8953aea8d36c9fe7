package main

import (
	"fmt"
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

// TestRun_MemoryTotalTwoPluginsStopsRun: two plugins that each fit in plugin_memory_total
// alone but not together stop scrim run before the program starts, as they stop scrim check,
// although each one's describe document is in the cache from a run of its own (which lets a
// run load them after the program started).
func TestRun_MemoryTotalTwoPluginsStopsRun(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	marker := filepath.Join(dir, "ran")
	// A Go plugin holds about 2.2M once started: one fits in 3M, two do not.
	plugin := func(name string) string {
		return fmt.Sprintf("[[plugin]]\nname = %q\npath = %q\n[plugin.config]\ntext = %q\n", name, motdWasm(t), name)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("plugin_dirs = []\nplugin_memory_total = \"3M\"\n"+body), 0o600))
		return p
	}
	for _, name := range []string{"a", "b"} {
		r := scrim(t, "run", "--cache-dir", cache, "-c", write(name+".toml", plugin(name)), "--", "cat", "/etc/motd")
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, name, r.stdout)
	}
	both := write("both.toml", plugin("a")+plugin("b"))
	for _, args := range [][]string{{"check"}, {"run", "--", "touch", marker}} {
		r := scrim(t, append([]string{args[0], "--cache-dir", cache, "-c", both}, args[1:]...)...)
		require.Equal(t, exitFailure, r.code, r.stderr)
		require.Contains(t, r.stderr, "scrim "+args[0]+": load plugins: ")
		require.Contains(t, r.stderr, "does not fit in the plugins' memory total (plugin_memory_total = 3M")
	}
	require.NoFileExists(t, marker, "the program did not run")
}
