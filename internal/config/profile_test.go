package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProfiles: a profile is the top level with its own keys over it; a list it sets replaces
// the top level's whole, its [[plugin]] tables replace the top level's, the drop-ins are every
// profile's, and the top level is left as it was.
func TestProfiles(t *testing.T) {
	noDropIns(t)
	dir := t.TempDir()
	wasm, err := filepath.Abs("testdata/plugin.wasm")
	require.NoError(t, err)
	file := filepath.Join(dir, "agent.toml")
	require.NoError(t, os.WriteFile(file, []byte(`hostname = "host"
cpus = 4
deny = ["/srv"]
plugin_dirs = ["`+filepath.Join(mustAbs(t, "testdata/dropins"), "one")+`"]

[[plugin]]
name = "top"
path = "`+wasm+`"

[profiles.ci]
hostname = "ci"
deny = ["/home"]
mode = "fast"
mediate_stat = false
plugin_memory_total = "64M"

[[profiles.ci.plugin]]
name = "ci-only"
path = "`+wasm+`"

[profiles.empty]
`), 0o644))
	cfg, err := Load(file)
	require.NoError(t, err)
	require.NoError(t, cfg.Check())
	require.Equal(t, []string{"ci", "empty"}, cfg.ProfileNames())

	require.Equal(t, "host", cfg.Hostname)
	require.Equal(t, []string{"/srv"}, cfg.Deny)
	require.Equal(t, "strict", cfg.Mode)
	require.Equal(t, []string{"top", "motd"}, pluginNames(cfg.Plugins))

	ci, ok := cfg.ForProfile("ci")
	require.True(t, ok)
	require.Equal(t, "ci", ci.Profile)
	require.Nil(t, ci.Profiles)
	require.Equal(t, "ci", ci.Hostname)
	require.Equal(t, 4, ci.CPUs, "inherited from the top level")
	require.Equal(t, []string{"/home"}, ci.Deny, "a list set in a profile replaces the top level's")
	require.Equal(t, "fast", ci.Mode)
	require.False(t, ci.MediateStat)
	require.EqualValues(t, 64<<20, ci.PluginMemoryTotal)
	require.Equal(t, []string{"ci-only", "motd"}, pluginNames(ci.Plugins), "its own [[plugin]] tables, then the drop-ins")
	require.Equal(t, file+":17", ci.Plugins[0].Source)

	empty, ok := cfg.ForProfile("empty")
	require.True(t, ok)
	empty.Profile = ""
	empty.lines, cfg.lines = nil, nil
	top := cfg
	top.Profiles = nil
	require.Equal(t, top, empty, "a profile that sets nothing is the top level")

	_, ok = cfg.ForProfile("nope")
	require.False(t, ok)
	self, ok := cfg.ForProfile("")
	require.True(t, ok)
	require.Equal(t, "host", self.Hostname)
}

// TestProfileSetsAndLocate: a profile knows which keys its file set, its own or the top
// level's, and places a value where it was written.
func TestProfileSetsAndLocate(t *testing.T) {
	noDropIns(t)
	file := filepath.Join(t.TempDir(), "agent.toml")
	require.NoError(t, os.WriteFile(file, []byte("cpus = 2\n\n[profiles.a]\nhostname = \"a\"\n\n[profiles.b]\nmemory = \"1G\"\n\n[profiles.c]\n"), 0o644))
	cfg, err := Load(file)
	require.NoError(t, err)
	a, b := cfg.Profiles["a"], cfg.Profiles["b"]
	require.True(t, a.Sets("hostname"))
	require.True(t, a.Sets("cpus"), "set at the top level")
	require.False(t, b.Sets("hostname"))
	require.False(t, cfg.Sets("hostname"))
	require.True(t, cfg.Sets("cpus"))

	require.Equal(t, file+":4: profiles.a.hostname", a.Locate("hostname", -1).Error())
	require.Equal(t, file+":1: cpus", a.Locate("cpus", -1).Error())
	require.Equal(t, file+":7: profiles.b.memory", b.Locate("memory", -1).Error())
}

// TestProfileDuplicatePlugin: Check finds a plugin name used twice within one profile.
func TestProfileDuplicatePlugin(t *testing.T) {
	noDropIns(t)
	wasm := mustAbs(t, "testdata/plugin.wasm")
	file := filepath.Join(t.TempDir(), "agent.toml")
	require.NoError(t, os.WriteFile(file, []byte(`[[plugin]]
name = "x"
path = "`+wasm+`"
[profiles.ci]
[[profiles.ci.plugin]]
name = "y"
path = "`+wasm+`"
[[profiles.ci.plugin]]
name = "y"
path = "`+wasm+`"
`), 0o644))
	cfg, err := Load(file)
	require.NoError(t, err)
	err = cfg.Check()
	require.Error(t, err)
	require.Contains(t, err.Error(), `profiles.ci.plugin "y": configured twice, at `+file+":5")
}

func pluginNames(ps []Plugin) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	require.NoError(t, err)
	return abs
}
