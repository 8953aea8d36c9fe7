package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePlugin(t *testing.T) {
	tests := []struct {
		name, value string
		file        string
		cfg         map[string]any
		err         string
	}{
		{"file alone", "motd.wasm", "motd.wasm", nil, ""},
		{"a string", "motd.wasm,text=hi", "motd.wasm", map[string]any{"text": "hi"}, ""},
		{"typed values", `m.wasm,n=10000000000000000001,b=true,"l=[1,2]",s="true"`, "m.wasm",
			map[string]any{"n": json.Number("10000000000000000001"), "b": true, "l": []any{json.Number("1"), json.Number("2")}, "s": "true"}, ""},
		{"not quite JSON stays text", "m.wasm,t=false alarm,u=-", "m.wasm", map[string]any{"t": "false alarm", "u": "-"}, ""},
		{"quoted comma", `m.wasm,"text=a, b","x=[1, 2]"`, "m.wasm", map[string]any{"text": "a, b", "x": []any{json.Number("1"), json.Number("2")}}, ""},
		{"quoted file name", `"a,b.wasm",k=v`, "a,b.wasm", map[string]any{"k": "v"}, ""},
		{"empty value", "m.wasm,k=", "m.wasm", map[string]any{"k": ""}, ""},
		{"a field without =", "a,b.wasm", "", nil, `"b.wasm" is not KEY=VALUE`},
		{"an empty key", "m.wasm,=v", "", nil, `"=v" is not KEY=VALUE`},
		{"a key twice", "m.wasm,k=1,k=2", "", nil, `key "k" given twice`},
		{"a line break", "m.wasm\nk=1", "", nil, "holds a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, cfg, err := ParsePlugin(tt.value)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.file, file)
			require.Equal(t, tt.cfg, cfg)
		})
	}
}

// TestPluginFlagConfig checks that --plugin FILE,KEY=VALUE reaches the plugin's config table.
func TestPluginFlagConfig(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "motd.wasm")
	require.NoError(t, os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644))
	cfg := Defaults()
	require.NoError(t, cfg.Flag("plugin", wasm+",text=hi,n=3"))
	require.Len(t, cfg.Plugins, 1)
	require.Equal(t, wasm, cfg.Plugins[0].Path)
	require.Equal(t, "motd", cfg.Plugins[0].Name)
	require.Equal(t, map[string]any{"text": "hi", "n": json.Number("3")}, cfg.Plugins[0].Config)
	err := cfg.Flag("plugin", wasm+",text")
	require.ErrorContains(t, err, "--plugin")
	require.ErrorContains(t, err, `"text" is not KEY=VALUE`)
}

// TestAddDropIn checks that a drop-in file given by name loads as plugin_dirs would load it,
// and once only.
func TestAddDropIn(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "motd.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644))
	file := filepath.Join(dir, "motd.toml")
	require.NoError(t, os.WriteFile(file, []byte("[[plugin]]\npriority = 50\n[plugin.config]\ntext = \"shipped\"\n"), 0o644))
	cfg := Defaults()
	cfg.PluginDirs = []string{dir}
	require.NoError(t, cfg.loadDropIns())
	cfg.rankDropIns()
	require.Len(t, cfg.Plugins, 1)
	require.NoError(t, cfg.AddDropIn(file))
	require.Len(t, cfg.Plugins, 1, "a drop-in already loaded from plugin_dirs")

	cfg = Defaults()
	cfg.PluginDirs = nil
	require.NoError(t, cfg.AddDropIn(file))
	require.Len(t, cfg.Plugins, 1)
	p := cfg.Plugins[0]
	require.Equal(t, "motd", p.Name)
	require.Equal(t, filepath.Join(dir, "motd.wasm"), p.Path)
	require.Equal(t, dir, p.DropIn)
	require.Equal(t, map[string]any{"text": "shipped"}, p.Config)
	require.Equal(t, DropInFloor, p.Priority, "kept behind the built-in shims as in plugin_dirs")
	require.NotNil(t, p.Demoted)

	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("name = 1\n"), 0o644))
	require.Error(t, cfg.AddDropIn(bad))
}
