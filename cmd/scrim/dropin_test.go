package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// motdWasm is the example plugin that serves /etc/motd from its configuration.
func motdWasm(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../examples/motd/motd.wasm")
	require.NoError(t, err)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the motd example plugin is missing: %v", err)
	}
	return p
}

func TestPlugin_FromConfig(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(motdWasm(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "motd.wasm"), data, 0o644))
	file := filepath.Join(dir, "scrim.toml")
	// A relative path resolves against the config file's directory, not the working directory.
	require.NoError(t, os.WriteFile(file, []byte(`[[plugin]]
name = "motd"
path = "motd.wasm"
priority = 450
[plugin.config]
text = "from the config\n"
`), 0o644))

	r := scrim(t, "check", "-c", file)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `plugin\.motd\s+virtual\s+priority 450\s+`+filepath.Join(dir, "motd.wasm")+` \(from `+file+`:1\)`, r.stdout)

	r = scrim(t, "run", "-c", file, "--", "cat", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "from the config\n", r.stdout)
}

func TestPlugin_DropIn(t *testing.T) {
	home := t.TempDir()
	dropins := filepath.Join(home, "scrim", "plugins.d")
	require.NoError(t, os.MkdirAll(dropins, 0o755))
	data, err := os.ReadFile(motdWasm(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dropins, "motd.wasm"), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dropins, "motd.toml"), []byte("[[plugin]]\n[plugin.config]\ntext = \"from the drop-in\\n\"\n"), 0o644))
	env := []string{"XDG_CONFIG_HOME=" + home, "XDG_CACHE_HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XDG_") {
			env = append(env, kv)
		}
	}

	r := scrimEnv(t, env, "check")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "plugin.motd")
	require.Contains(t, r.stdout, "(from "+filepath.Join(dropins, "motd.toml")+":1)")

	r = scrimEnv(t, env, "run", "--", "cat", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "from the drop-in\n", r.stdout)

	// The same name from the command line is a conflict naming both places.
	r = scrimEnv(t, env, "run", "--plugin", motdWasm(t), "--", "true")
	require.Equal(t, exitFailure, r.code)
	require.Equal(t, `scrim run: plugin "motd": configured twice, at `+filepath.Join(dropins, "motd.toml")+`:1 (`+
		filepath.Join(dropins, "motd.wasm")+`) and at --plugin (`+motdWasm(t)+`); plugin names must be unique`+"\n", r.stderr)
}

// plantDropIn installs the motd example as a drop-in in a fresh $XDG_CONFIG_HOME, claiming
// /etc/hosts too at the given priority, and returns the environment that finds it and the
// drop-in directory.
func plantDropIn(t *testing.T, priority int) ([]string, string) {
	t.Helper()
	home := t.TempDir()
	dropins := filepath.Join(home, "scrim", "plugins.d")
	require.NoError(t, os.MkdirAll(dropins, 0o755))
	data, err := os.ReadFile(motdWasm(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dropins, "motd.wasm"), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dropins, "motd.toml"), []byte(fmt.Sprintf(
		"[[plugin]]\npriority = %d\npaths = [\"/etc/hosts\"]\n[plugin.config]\ntext = \"planted\\n\"\n", priority)), 0o644))
	env := []string{"XDG_CONFIG_HOME=" + home, "XDG_CACHE_HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XDG_") {
			env = append(env, kv)
		}
	}
	return env, dropins
}

// TestDropIn_CannotOutrankBuiltins: a drop-in that asks to run before the hosts shim is kept
// behind it, with a warning, unless the main config's allow_outrank names it; every run names
// each drop-in it loaded, at the default log level.
func TestDropIn_CannotOutrankBuiltins(t *testing.T) {
	env, dropins := plantDropIn(t, 1)
	toml := filepath.Join(dropins, "motd.toml")

	r := scrimEnv(t, env, "run", "--", "cat", "/etc/hosts", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "planted\nplanted\n", "the drop-in did not serve /etc/hosts")
	require.Contains(t, r.stdout, "localhost")
	require.True(t, strings.HasSuffix(r.stdout, "planted\n"), "the drop-in still serves its own /etc/motd: %q", r.stdout)
	require.Regexp(t, `\[WARN\]\s+scrim: drop-in plugin loaded: plugin=motd dir=`+regexp.QuoteMeta(dropins)+` file=`+regexp.QuoteMeta(toml)+`:1 `, r.stderr)
	require.Regexp(t, `\[WARN\]\s+scrim: drop-in plugin kept behind the built-in shims; .*plugin=motd priority=1 now=101`, r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "drop-in plugin loaded"), "logged once: %s", r.stderr)

	r = scrimEnv(t, env, "check")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `plugin\.motd\s+virtual\s+priority 101 \(asked for 1`, r.stdout)
	require.Contains(t, r.stderr, "scrim check: warning: builtin.hosts and plugin.motd both claim /etc/hosts; builtin.hosts decides them (priority 100 before 101)")
	require.Contains(t, r.stderr, `scrim check: warning: drop-in plugin "motd" (`+toml+`:1) asks for priority 1`)

	// The main config names it: it runs first, and says so.
	cfg := filepath.Join(t.TempDir(), "scrim.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("allow_outrank = [\"motd\"]\n"), 0o644))
	r = scrimEnv(t, env, "run", "-c", cfg, "--", "cat", "/etc/hosts")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "planted\n", r.stdout)
	require.Contains(t, r.stderr, "drop-in plugin loaded: plugin=motd")
	require.NotContains(t, r.stderr, "kept behind")

	r = scrimEnv(t, env, "check", "-c", cfg)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "scrim check: warning: plugin.motd and builtin.hosts both claim /etc/hosts; plugin.motd decides them (priority 1 before 100)")
}

// TestDropIn_LoggedEachRun: with two drop-ins in two directories, a run at the default log
// level names both and where they came from; without drop-ins it logs nothing.
func TestDropIn_LoggedEachRun(t *testing.T) {
	env, userDir := plantDropIn(t, 500)
	other := filepath.Join(t.TempDir(), "plugins.d")
	require.NoError(t, os.MkdirAll(other, 0o755))
	data, err := os.ReadFile(motdWasm(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(other, "greet.wasm"), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(other, "greet.toml"), []byte("[[plugin]]\npaths = [\"/etc/issue\"]\n"), 0o644))
	cfg := filepath.Join(t.TempDir(), "scrim.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("plugin_dirs = [%q, %q]\n", other, userDir)), 0o644))

	r := scrimEnv(t, env, "run", "-c", cfg, "--", "true")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "drop-in plugin loaded: plugin=greet dir="+other+" file="+filepath.Join(other, "greet.toml")+":1")
	require.Contains(t, r.stderr, "drop-in plugin loaded: plugin=motd dir="+userDir+" file="+filepath.Join(userDir, "motd.toml")+":1")
	require.Equal(t, 2, strings.Count(r.stderr, "drop-in plugin loaded"), r.stderr)

	r = scrim(t, "run", "--", "true")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
}
