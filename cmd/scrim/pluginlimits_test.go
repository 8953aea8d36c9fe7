package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testWasm returns the absolute path of a test plugin of the plugins package.
func testWasm(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "plugins", "testdata", name+".wasm"))
	require.NoError(t, err)
	return p
}

// TestRun_PluginLogFlood: a plugin that logs 100,000 warnings per open prints a handful of
// lines, and says how many it held back.
func TestRun_PluginLogFlood(t *testing.T) {
	start := time.Now()
	r := scrim(t, "run", "--plugin", testWasm(t, "logflood"), "--", "sh", "-c", "cat /t/a; cat /t/b; true")
	require.Equal(t, 0, r.code, r.stderr)
	seconds := int(time.Since(start)/time.Second) + 2
	logged, counted := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		switch {
		case strings.Contains(l, "plugin log: "):
			logged++
			if m := regexp.MustCompile(`unlogged_before=(\d+)`).FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				counted += n
			}
		case strings.Contains(l, "plugin log lines held back by the rate limit"):
			m := regexp.MustCompile(`count=(\d+)`).FindStringSubmatch(l)
			require.NotNil(t, m, l)
			n, _ := strconv.Atoi(m[1])
			counted += n
		}
	}
	require.LessOrEqual(t, logged, 10*seconds, r.stderr)
	require.Equal(t, 200_000, logged+counted, "every line is shown or counted")
}

// TestRun_PluginLimitsFromConfig: break_after, break_for and plugin_memory_total reach the
// plugin host.
func TestRun_PluginLimitsFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "scrim.toml")
	write := func(body string) {
		require.NoError(t, os.WriteFile(cfg, []byte("plugin_dirs = []\n"+body), 0o600))
	}
	write(`
[[plugin]]
path = "` + testWasm(t, "trap") + `"
break_after = 2
break_for = "1h"
`)
	r := scrim(t, "run", "-c", cfg, "--", "sh", "-c", "cat /t/a; cat /t/b; cat /t/c; true")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "plugin switched off after repeated failures: "), r.stderr)
	require.Contains(t, r.stderr, "faults=2 for=1h0m0s")

	write(`
plugin_memory_total = "1M"
[[plugin]]
path = "` + motdWasm(t) + `"
`)
	r = scrim(t, "check", "-c", cfg)
	require.Equal(t, exitFailure, r.code, r.stdout)
	require.Contains(t, r.stderr, "does not fit in the plugins' memory total (plugin_memory_total = 1M")
}
