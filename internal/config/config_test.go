package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// noDropIns keeps the host's /etc/scrim/plugins.d and ~/.config out of the tests.
func noDropIns(t *testing.T) {
	t.Helper()
	empty := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", empty)
	t.Setenv("XDG_CACHE_HOME", empty)
	saved := systemPluginDir
	systemPluginDir = filepath.Join(empty, "etc-scrim-plugins.d")
	t.Cleanup(func() { systemPluginDir = saved })
}

func TestLoad_Example(t *testing.T) {
	noDropIns(t)
	got, err := Load("../../config.toml.example")
	require.NoError(t, err)
	want := Defaults()
	want.File = "../../config.toml.example"
	// The example documents the defaults; loading it must change nothing.
	got.lines = nil // where its keys are, which Locate reads
	require.Equal(t, want, got)
}

func TestLoad_NoFile(t *testing.T) {
	noDropIns(t)
	got, err := Load("")
	require.NoError(t, err)
	require.Equal(t, Defaults(), got)
	require.Equal(t, "strict", got.Mode)
	require.Equal(t, "scrim", got.Hostname)
	require.Equal(t, Log{Level: "warn", Format: "text"}, got.Log)
}

func TestLoad_Full(t *testing.T) {
	noDropIns(t)
	dir, err := filepath.Abs("testdata/good")
	require.NoError(t, err)
	got, err := Load("testdata/good/full.toml")
	require.NoError(t, err)

	seed := uint64(42)
	wasm := filepath.Join(filepath.Dir(dir), "plugin.wasm")
	want := Config{
		File:           "testdata/good/full.toml",
		Mode:           "fast",
		Hostname:       "build-01.example",
		CPUs:           4,
		Memory:         3 << 29,
		RandomSeed:     &seed,
		NetAllow:       []string{"example.com", "db.internal=10.0.0.7", "v6.internal=fd00::1"},
		ExtraHosts:     []string{"192.0.2.1 gw gw.internal"},
		Deny:           []string{"/etc/shadow", "/var/lib/secrets"},
		Chroot:         dir,
		ChrootReadonly: true,
		Cwd:            "/work",
		Mounts: []Mount{
			{Host: filepath.Dir(dir), Inside: "/data", ReadOnly: true},
			{Host: "/tmp", Inside: "/tmp"},
		},
		Audit:             filepath.Join(dir, "audit.jsonl"),
		KillGrace:         90 * time.Second,
		ScopeAbstractUnix: true,
		MediateStat:       true,
		PluginDirs:        []string{filepath.Join(filepath.Dir(dir), "dropins", "one")},
		CacheDir:          "",
		PluginMemoryTotal: 1 << 30,
		Log:               Log{Level: "debug", Format: "json"},
		Plugins: []Plugin{
			{
				Name: "greeter", Path: wasm, Priority: 50, Paths: []string{"/etc/motd", "/etc/issue"},
				Timeout: 2 * time.Second, Memory: 1 << 20, Instances: 4, OnError: "EACCES",
				BreakAfter: -1, BreakFor: time.Minute,
				SHA256: "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476",
				Config: map[string]any{
					"greeting": "hello",
					"nested":   map[string]any{"colour": "blue", "sizes": []any{int64(1), int64(2)}},
				},
				Source: "testdata/good/full.toml:25",
			},
			{
				Name: "second", Path: wasm, Priority: DefaultPluginPriority, Timeout: DefaultPluginTimeout,
				Memory: DefaultPluginMemory, Instances: DefaultPluginInstances, OnError: DefaultPluginOnError,
				Source: "testdata/good/full.toml:42",
			},
			{
				Name: "motd", Path: filepath.Join(filepath.Dir(dir), "dropins", "one", "motd.wasm"),
				Priority: 450, Timeout: 100 * time.Millisecond, Memory: DefaultPluginMemory,
				Instances: DefaultPluginInstances, OnError: DefaultPluginOnError,
				Source: filepath.Join(filepath.Dir(dir), "dropins", "one", "motd.toml") + ":2",
				DropIn: filepath.Join(filepath.Dir(dir), "dropins", "one"),
			},
		},
	}
	got.lines = nil // where its keys are, which Locate reads
	require.Equal(t, want, got)
	require.NoError(t, got.Check())
}

// TestLoad_Errors runs every file in testdata/bad. Each starts with "# want: LINE: KEY: MSG",
// the message expected after "FILE:"; {{dir}} stands for the absolute testdata/bad directory.
func TestLoad_Errors(t *testing.T) {
	noDropIns(t)
	files, err := filepath.Glob("testdata/bad/*.toml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 10)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".toml"), func(t *testing.T) {
			want := wantedError(t, file)
			_, err := Load(file)
			require.Error(t, err)
			var errs Errors
			require.True(t, errors.As(err, &errs), "want config.Errors, got %T: %v", err, err)
			require.Len(t, errs, 1, "one mistake, one message: %v", err)
			require.Equal(t, want, err.Error())
			require.Positive(t, errs[0].Line, "every message names a line")
		})
	}
}

// wantedError returns the message a testdata/bad file expects, with its file name in front.
func wantedError(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(data), "\n")
	want, ok := strings.CutPrefix(first, "# want: ")
	require.True(t, ok, "%s must start with a # want: line", file)
	dir, err := filepath.Abs(filepath.Dir(file))
	require.NoError(t, err)
	return file + ":" + strings.ReplaceAll(want, "{{dir}}", dir)
}

func TestLoad_AllErrorsAtOnce(t *testing.T) {
	noDropIns(t)
	file := filepath.Join(t.TempDir(), "many.toml")
	require.NoError(t, os.WriteFile(file, []byte(`cpus = -1
hostname = "a b"
[log]
level = "loud"
`), 0o644))
	_, err := Load(file)
	var errs Errors
	require.ErrorAs(t, err, &errs)
	lines := make([]int, len(errs))
	for i, e := range errs {
		lines[i] = e.Line
	}
	require.Equal(t, []int{1, 2, 4}, lines, "every problem, in file order: %v", err)
}

func TestLoad_ReadError(t *testing.T) {
	noDropIns(t)
	_, err := Load("testdata/does-not-exist.toml")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "read config: ")
}

func TestLoad_DropIns(t *testing.T) {
	tests := []struct {
		name      string
		dirs      []string
		wantNames []string
		wantErr   string
	}{
		{name: "one dir", dirs: []string{"one"}, wantNames: []string{"motd"}},
		{name: "sorted by file name", dirs: []string{"two"}, wantNames: []string{"clock", "motd"}},
		{name: "missing dir is empty", dirs: []string{"nope"}},
		{
			name: "same name twice", dirs: []string{"one", "two"},
			wantErr: `plugin "motd": configured twice, at {{dropins}}/one/motd.toml:2 ({{dropins}}/one/motd.wasm) and at {{dropins}}/two/motd.toml:1 ({{dropins}}/two/motd.wasm); plugin names must be unique`,
		},
		{
			name: "typo in a drop-in", dirs: []string{"typo"},
			wantErr: `{{dropins}}/typo/clock.toml:4: plugin[0].prioritty: unknown key (did you mean priority?); [[plugin]] allows: name, path, priority, paths, timeout, memory, instances, on_error, break_after, break_for, sha256, config`,
		},
		{
			name: "a drop-in holds only its plugin", dirs: []string{"toplevel"},
			wantErr: `{{dropins}}/toplevel/x.toml:1: mode: unknown key; a plugin drop-in file allows: plugin`,
		},
		{
			name: "two tables in one file", dirs: []string{"broken"},
			wantErr: `{{dropins}}/broken/two.toml:1: plugin: holds 2 [[plugin]] tables; allowed: exactly one per drop-in file`,
		},
		{
			// One problem, one message: not also "holds 0 [[plugin]] tables".
			name: "a [plugin] table", dirs: []string{"single"},
			wantErr: `{{dropins}}/single/motd.toml:1: plugin: wrong type: want an array of tables ([[plugin]]), got a table`,
		},
	}
	dropins, err := filepath.Abs("testdata/dropins")
	require.NoError(t, err)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noDropIns(t)
			file := filepath.Join(t.TempDir(), "scrim.toml")
			quoted := make([]string, len(tc.dirs))
			for i, d := range tc.dirs {
				quoted[i] = `"` + filepath.Join(dropins, d) + `"`
			}
			require.NoError(t, os.WriteFile(file, []byte("plugin_dirs = ["+strings.Join(quoted, ", ")+"]\n"), 0o644))
			cfg, err := Load(file)
			if err == nil {
				err = cfg.Check()
			}
			if tc.wantErr != "" {
				require.EqualError(t, err, strings.ReplaceAll(tc.wantErr, "{{dropins}}", dropins))
				return
			}
			require.NoError(t, err)
			var names []string
			for _, p := range cfg.Plugins {
				names = append(names, p.Name)
			}
			require.Equal(t, tc.wantNames, names)
		})
	}
}

// TestLoad_DropInOutrank: a drop-in that asks for a priority at or before the built-in
// virtual-file shims is put right behind them unless the main config's allow_outrank names
// it; plugins of the main config keep their priority.
func TestLoad_DropInOutrank(t *testing.T) {
	wasm, err := filepath.Abs("testdata/plugin.wasm")
	require.NoError(t, err)
	tests := []struct {
		name, main string
		dropIn     int
		want       map[string]int // priority by plugin name
		demoted    map[string]int // the priority asked for, by demoted plugin
	}{
		{name: "default priority is kept", dropIn: 500, want: map[string]int{"early": 500}},
		{name: "before the built-ins is demoted", dropIn: 1, want: map[string]int{"early": DropInFloor}, demoted: map[string]int{"early": 1}},
		{name: "equal to the built-ins is demoted", dropIn: 100, want: map[string]int{"early": DropInFloor}, demoted: map[string]int{"early": 100}},
		{name: "allow_outrank keeps it", main: `allow_outrank = ["early"]` + "\n", dropIn: 1, want: map[string]int{"early": 1}},
		{name: "allow_outrank for another name", main: `allow_outrank = ["other"]` + "\n", dropIn: 1, want: map[string]int{"early": DropInFloor}, demoted: map[string]int{"early": 1}},
		{
			name: "the main config's own plugin may outrank",
			main: "[[plugin]]\nname = \"mine\"\npath = \"" + wasm + "\"\npriority = 1\n", dropIn: 500,
			want: map[string]int{"mine": 1, "early": 500},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noDropIns(t)
			dir := t.TempDir()
			dropins := filepath.Join(dir, "plugins.d")
			require.NoError(t, os.Mkdir(dropins, 0o755))
			data, err := os.ReadFile(wasm)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dropins, "early.wasm"), data, 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dropins, "early.toml"), []byte(fmt.Sprintf("[[plugin]]\npriority = %d\n", tc.dropIn)), 0o644))
			file := filepath.Join(dir, "scrim.toml")
			require.NoError(t, os.WriteFile(file, []byte(`plugin_dirs = ["`+dropins+`"]`+"\n"+tc.main), 0o644))
			cfg, err := Load(file)
			require.NoError(t, err)
			got, demoted := map[string]int{}, map[string]int{}
			for _, p := range cfg.Plugins {
				got[p.Name] = p.Priority
				if p.Demoted != nil {
					demoted[p.Name] = *p.Demoted
				}
				if p.Name == "early" {
					require.Equal(t, dropins, p.DropIn)
				} else {
					require.Empty(t, p.DropIn)
				}
			}
			require.Equal(t, tc.want, got)
			if tc.demoted == nil {
				tc.demoted = map[string]int{}
			}
			require.Equal(t, tc.demoted, demoted)
		})
	}
}

func TestLoad_AllowOutrankNames(t *testing.T) {
	noDropIns(t)
	file := filepath.Join(t.TempDir(), "scrim.toml")
	require.NoError(t, os.WriteFile(file, []byte("allow_outrank = [\"Bad Name\"]\n"), 0o644))
	_, err := Load(file)
	require.ErrorContains(t, err, file+":1: allow_outrank[0]: \"Bad Name\" is not a plugin name")
}

func TestConfig_Flag(t *testing.T) {
	wasm, err := filepath.Abs("testdata/plugin.wasm")
	require.NoError(t, err)
	tests := []struct {
		name    string
		flags   [][2]string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{
			name:  "scalars replace",
			flags: [][2]string{{"hostname", "a"}, {"hostname", "b"}, {"cpus", "3"}, {"memory", "512M"}, {"mode", "fast"}, {"random-seed", "7"}},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "b", c.Hostname)
				require.Equal(t, 3, c.CPUs)
				require.Equal(t, uint64(512<<20), c.Memory)
				require.Equal(t, "fast", c.Mode)
				require.Equal(t, uint64(7), *c.RandomSeed)
			},
		},
		{
			name:  "lists add",
			flags: [][2]string{{"net-allow", "a.example"}, {"net-allow", "b.example=192.0.2.2"}, {"mount", "/tmp:/scratch:ro"}},
			check: func(t *testing.T, c Config) {
				require.Equal(t, []string{"from.file", "a.example", "b.example=192.0.2.2"}, c.NetAllow)
				require.Equal(t, []Mount{{Host: "/tmp", Inside: "/scratch", ReadOnly: true}}, c.Mounts)
			},
		},
		{
			name:  "plugin",
			flags: [][2]string{{"plugin", "testdata/plugin.wasm"}},
			check: func(t *testing.T, c Config) {
				require.Len(t, c.Plugins, 1)
				require.Equal(t, Plugin{
					Name: "plugin", Path: wasm, Priority: DefaultPluginPriority, Timeout: DefaultPluginTimeout,
					Memory: DefaultPluginMemory, Instances: DefaultPluginInstances, OnError: DefaultPluginOnError,
					Source: "--plugin",
				}, c.Plugins[0])
			},
		},
		{
			name:  "log and chroot",
			flags: [][2]string{{"log-level", "trace"}, {"log-format", "json"}, {"chroot", "testdata"}, {"chroot-readonly", "true"}, {"cwd", "/srv/"}},
			check: func(t *testing.T, c Config) {
				require.Equal(t, Log{Level: "trace", Format: "json"}, c.Log)
				abs, err := filepath.Abs("testdata")
				require.NoError(t, err)
				require.Equal(t, abs, c.Chroot)
				require.True(t, c.ChrootReadonly)
				require.Equal(t, "/srv", c.Cwd)
			},
		},
		{name: "bad cpus", flags: [][2]string{{"cpus", "many"}}, wantErr: `--cpus: "many" is not a whole number; allowed: 0 (keep the host's count) to 8192`},
		{name: "negative cpus", flags: [][2]string{{"cpus", "-1"}}, wantErr: `--cpus: -1 is out of range; allowed: a whole number from 0 (keep the host's count) to 8192`},
		{name: "bad memory", flags: [][2]string{{"memory", "lots"}}, wantErr: `--memory: "lots" is not a size; allowed: bytes as a whole number, or a number with K, M, G or T (powers of 1024), like 512M or 2G`},
		{name: "bad hostname", flags: [][2]string{{"hostname", "a/b"}}, wantErr: `--hostname: "a/b" is not a valid host name: '/' is not allowed; allowed: letters, digits, '-' and '.', labels of 1 to 63 bytes not starting or ending with '-', at most 64 bytes`},
		{name: "missing plugin", flags: [][2]string{{"plugin", "/nonexistent/x.wasm"}}, wantErr: `--plugin: /nonexistent/x.wasm does not exist; allowed: the path of an existing file`},
		{name: "bad mode", flags: [][2]string{{"mode", "fastest"}}, wantErr: `--mode: "fastest" is not a mode; allowed: strict, fast`},
		{name: "relative cwd", flags: [][2]string{{"cwd", "here"}}, wantErr: `--cwd: "here" is not an absolute path; allowed: a path starting with /`},
		{name: "bad seed", flags: [][2]string{{"random-seed", "-4"}}, wantErr: `--random-seed: "-4" is not a whole number; allowed: 0 to 18446744073709551615`},
		{name: "bad mount", flags: [][2]string{{"mount", "/tmp:rel"}}, wantErr: `--mount: "/tmp:rel": "rel" is not an absolute path; allowed: HOST:INSIDE or HOST:INSIDE:ro, INSIDE an absolute path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.NetAllow = []string{"from.file"}
			var err error
			for _, f := range tc.flags {
				if err = c.Flag(f[0], f[1]); err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestFlagKeys_CoverFlag(t *testing.T) {
	// Every flag that names a config key must be one Flag understands.
	for flag := range FlagKeys {
		c := Defaults()
		err := c.Flag(flag, "\x00")
		require.NotErrorIs(t, err, errUnknownFlag, flag)
	}
	c := Defaults()
	require.ErrorIs(t, c.Flag("no-such-flag", "1"), errUnknownFlag)
}

func TestConfig_Check(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "image with mounts", edit: func(c *Config) {
			c.Chroot, c.ChrootReadonly, c.Mounts = "/srv/img", true, []Mount{{Host: "/tmp", Inside: "/tmp"}}
		}},
		{name: "mount without chroot", edit: func(c *Config) { c.Mounts = []Mount{{Host: "/tmp", Inside: "/tmp"}} },
			wantErr: "mount: needs chroot: mounts go into the image, and there is none"},
		{name: "read-only without chroot", edit: func(c *Config) { c.ChrootReadonly = true },
			wantErr: "chroot_readonly: needs chroot: there is no image to make read-only"},
		{name: "two plugins, one name", edit: func(c *Config) {
			c.Plugins = []Plugin{{Name: "a", Path: "/x/a.wasm", Source: "s.toml:3"}, {Name: "a", Path: "/y/a.wasm", Source: "--plugin"}}
		}, wantErr: `plugin "a": configured twice, at s.toml:3 (/x/a.wasm) and at --plugin (/y/a.wasm); plugin names must be unique`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.edit(&c)
			err := c.Check()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}
