package main

import (
	"os"
	"path/filepath"
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
