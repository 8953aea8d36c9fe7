package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPluginCommands(t *testing.T) {
	example := func(name string) string {
		p, err := filepath.Abs(filepath.Join("..", "..", "examples", name, name+".wasm"))
		require.NoError(t, err)
		return p
	}
	corpus := func(name string) string {
		p, err := filepath.Abs(filepath.Join("..", "..", "plugins", "testdata", name+".wasm"))
		require.NoError(t, err)
		return p
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // substrings of stdout
		wantErr  string   // substring of stderr
	}{
		{"inspect a good plugin", []string{"inspect", example("motd")}, 0,
			[]string{"abi       1.0", "name      motd", "claim     /etc/motd", "export    scrim_open func (i32)->(i32)", "problems  none"}, ""},
		{"inspect a broken plugin", []string{"inspect", corpus("forbidden")}, 1,
			[]string{"problem", "imports env.system, which scrim does not provide"}, ""},
		{"inspect a command module", []string{"inspect", corpus("command")}, 1, []string{"is a WASI command"}, ""},
		{"inspect without a file", []string{"inspect"}, 125, nil, "want exactly one FILE.wasm"},
		{"test a served file", []string{"test", example("motd") + ",text=hi", "--path", "/etc/motd"}, 0,
			[]string{"path: /etc/motd\nresolved: /etc/motd\nhandler: plugin.motd\nverdict: serve\nmode: 0444\nsize: 2\n\nhi"}, ""},
		{"test a write open", []string{"test", example("motd"), "--path", "/etc/motd", "--flags", "O_RDWR|O_CLOEXEC"}, 0,
			[]string{"handler: plugin.motd\nverdict: deny\nerrno: EROFS (30)"}, ""},
		{"test a denied file", []string{"test", example("denykeys"), "--path", "/srv/tls/a.pem"}, 0,
			[]string{"handler: plugin.denykeys\nverdict: deny\nerrno: EACCES (13)"}, ""},
		{"test a path a built-in shim answers", []string{"test", example("denykeys"), "--path", "/etc/hosts", "--net-allow", "db=10.1.2.3"}, 0,
			[]string{"note: plugin.denykeys does not claim /etc/hosts", "handler: builtin.hosts\nverdict: serve\n", "10.1.2.3 db\n"}, ""},
		{"test the chain without a plugin", []string{"test", "--path", "/etc/hostname", "--hostname", "box"}, 0,
			[]string{"handler: builtin.hostname\nverdict: serve\n", "box\n"}, ""},
		{"test a path no handler claims", []string{"test", "--path", "/"}, 0,
			[]string{"resolved: /\nhandler: root (no handler decided: the real file)\nverdict: real\nfile: / (directory"}, ""},
		{"test a trapping plugin", []string{"test", corpus("trap"), "--path", "/t/x"}, 1,
			[]string{"handler: plugin.trap\nverdict: fault: trapped", "errno: EIO (5): the plugin's on_error"}, ""},
		{"test a plugin that rejects its config", []string{"test", corpus("initfail"), "--path", "/t/x"}, 125,
			nil, "missing key: greeting"},
		{"test with a bad flag name", []string{"test", example("motd"), "--path", "/etc/motd", "--flags", "O_BOGUS"}, 125,
			nil, `unknown open flag "O_BOGUS"`},
		{"test with the old --config KEY=VALUE", []string{"test", example("motd"), "--path", "/etc/motd", "--config", "text=hi"}, 125,
			nil, "--config text=hi: no such config file; a plugin's configuration goes after its file: scrim plugin test FILE.wasm,text=hi"},
		{"test with bad plugin configuration", []string{"test", example("motd") + ",text", "--path", "/etc/motd"}, 125,
			nil, `"text" is not KEY=VALUE`},
		{"test without a path", []string{"test", example("motd")}, 125, nil, "want --path P"},
		{"test with a relative path", []string{"test", example("motd"), "--path", "etc/motd"}, 125, nil, "want an absolute path"},
		{"test help", []string{"test", "--help"}, 0, []string{"Usage: scrim plugin test"}, ""},
		{"inspect a file that cannot be read", []string{"inspect", "/nonexistent.wasm"}, 1, nil,
			"scrim plugin inspect: inspect plugin /nonexistent.wasm: open /nonexistent.wasm: no such file or directory; give the path of a WebAssembly module (.wasm) scrim can read\n"},
		{"unknown command", []string{"frob"}, 125, nil, `scrim plugin: "frob": unknown command; the commands are inspect and test ('scrim plugin --help')` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scrim(t, append([]string{"plugin"}, tt.args...)...)
			require.Equal(t, tt.wantCode, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			for _, w := range tt.want {
				require.Contains(t, r.stdout, w)
			}
			if tt.wantErr != "" {
				require.Contains(t, r.stderr, tt.wantErr)
			}
		})
	}
}

// TestPluginTest_AgreesWithRun checks that `scrim plugin test` resolves a path as `scrim run`
// does: a plugin claiming a symbolic link does not decide opens that follow it (they resolve
// to the link's target, as on Debian /etc/os-release does to /usr/lib/os-release), and a
// plugin claiming the target decides them whichever name the program opens.
func TestPluginTest_AgreesWithRun(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "os-release")
	link := filepath.Join(dir, "etc-os-release")
	require.NoError(t, os.WriteFile(real, []byte("host content\n"), 0o644))
	require.NoError(t, os.Symlink("os-release", link))

	for _, tt := range []struct {
		name        string
		claim       string
		wantHandler string
		wantRun     string
	}{
		{"claim on the link", link, "handler: root (no handler decided: the real file)", "host content\n"},
		{"claim on the target", real, "handler: plugin.motd\nverdict: serve", "virtual\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "scrim.toml")
			require.NoError(t, os.WriteFile(file, []byte(`[[plugin]]
path = "`+motdWasm(t)+`"
paths = ["`+tt.claim+`"]
[plugin.config]
text = "virtual\n"
`), 0o644))

			test := scrim(t, "plugin", "test", "-c", file, "--path", link)
			require.Equal(t, 0, test.code, test.stderr)
			require.Contains(t, test.stdout, "resolved: "+real+"\n")
			require.Contains(t, test.stdout, tt.wantHandler)
			if tt.claim == link {
				require.Contains(t, test.stdout, "note: plugin.motd claims "+link+", but "+link+" is a symbolic link")
			}

			run := scrim(t, "run", "-c", file, "--", "cat", link)
			require.Equal(t, 0, run.code, run.stderr)
			require.Equal(t, tt.wantRun, run.stdout)
			if strings.Contains(test.stdout, "verdict: serve") {
				require.True(t, strings.HasSuffix(test.stdout, "\n\n"+run.stdout), "plugin test serves what run shows:\n%s", test.stdout)
			}
		})
	}
}

// TestPluginTest_AsShipped checks that a plugin is tested with the configuration it ships
// with: from a config file, or from its drop-in file, with KEY=VALUE on top.
func TestPluginTest_AsShipped(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(motdWasm(t))
	require.NoError(t, err)
	wasm := filepath.Join(dir, "motd.wasm")
	require.NoError(t, os.WriteFile(wasm, data, 0o644))
	dropin := filepath.Join(dir, "motd.toml")
	require.NoError(t, os.WriteFile(dropin, []byte("[[plugin]]\npriority = 50\n[plugin.config]\ntext = \"from the drop-in\\n\"\n"), 0o644))
	file := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(file, []byte("[[plugin]]\npath = \"motd.wasm\"\n[plugin.config]\ntext = \"from the config\\n\"\n"), 0o644))

	r := scrim(t, "plugin", "test", dropin, "--path", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "handler: plugin.motd\nverdict: serve\nmode: 0444\nsize: 17\n\nfrom the drop-in\n")

	r = scrim(t, "plugin", "test", "-c", file, "--path", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "\n\nfrom the config\n")

	// The .wasm the config file already loads is that plugin, not a second one.
	r = scrim(t, "plugin", "test", wasm+",text=on top", "-c", file, "--path", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "\n\non top")
}

// TestPluginFlag_Config checks --plugin FILE,KEY=VALUE in scrim run and scrim check.
func TestPluginFlag_Config(t *testing.T) {
	r := scrim(t, "run", "--plugin", motdWasm(t)+",text=from the flag", "--", "cat", "/etc/motd")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "from the flag", r.stdout)

	r = scrim(t, "run", "--plugin", motdWasm(t)+",text", "--", "true")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, `scrim run: --plugin: "text" is not KEY=VALUE`)
}

// TestCheck_ListsClaims checks that scrim check lists each plugin's claims, its own and the
// configured ones, and warns about a claim that goes through a symbolic link.
func TestCheck_ListsClaims(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "target"), nil, 0o644))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink("target", link))
	file := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(file, []byte(`[[plugin]]
path = "`+motdWasm(t)+`"
paths = ["/run/motd/**", "`+link+`"]
`), 0o644))
	r := scrim(t, "check", "-c", file)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^\s+claims\s+/etc/motd /run/motd/\*\* `+link+`$`, r.stdout)
	require.Contains(t, r.stderr, "scrim check: warning: plugin.motd claims "+link+", but "+link+" is a symbolic link")
}

// TestPluginTest_Image checks that with --chroot a path resolves inside the image, an absolute
// symbolic link included, as the program in the image would see it.
func TestPluginTest_Image(t *testing.T) {
	img := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(img, "etc"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(img, "usr", "lib"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(img, "usr", "lib", "os-release"), []byte("image\n"), 0o600))
	require.NoError(t, os.Symlink("/usr/lib/os-release", filepath.Join(img, "etc", "os-release")))
	r := scrim(t, "plugin", "test", motdWasm(t), "--chroot", img, "--path", "/etc/os-release")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "resolved: /usr/lib/os-release\n")
	require.Contains(t, r.stdout, "verdict: real\nimage: "+img+"\nfile: /usr/lib/os-release (regular file, mode 0600)")
	require.Contains(t, r.stderr, "paths resolve inside the image")
}
