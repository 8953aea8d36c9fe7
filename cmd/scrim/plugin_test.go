package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPluginCommands(t *testing.T) {
	example := func(name string) string { return filepath.Join("..", "..", "examples", name, name+".wasm") }
	corpus := func(name string) string { return filepath.Join("..", "..", "plugins", "testdata", name+".wasm") }
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
		{"test a served file", []string{"test", example("motd"), "--path", "/etc/motd", "--config", "text=hi"}, 0,
			[]string{"verdict: serve\nmode: 0444\nsize: 2\n\nhi"}, ""},
		{"test a write open", []string{"test", example("motd"), "--path", "/etc/motd", "--flags", "O_RDWR|O_CLOEXEC"}, 0,
			[]string{"verdict: deny\nerrno: EROFS (30)"}, ""},
		{"test a denied file", []string{"test", example("denykeys"), "--path", "/srv/tls/a.pem"}, 0,
			[]string{"verdict: deny\nerrno: EACCES (13)"}, ""},
		{"test an unclaimed path", []string{"test", example("denykeys"), "--path", "/etc/hosts"}, 0,
			[]string{"verdict: next (/etc/hosts is not claimed"}, ""},
		{"test a trapping plugin", []string{"test", corpus("trap"), "--path", "/t/x"}, 1,
			[]string{"verdict: fault: trapped"}, ""},
		{"test a plugin that rejects its config", []string{"test", corpus("initfail"), "--path", "/t/x"}, 1,
			nil, "missing key: greeting"},
		{"test with a bad flag name", []string{"test", example("motd"), "--path", "/etc/motd", "--flags", "O_BOGUS"}, 125,
			nil, `unknown open flag "O_BOGUS"`},
		{"test without a path", []string{"test", example("motd")}, 125, nil, "want FILE.wasm and --path"},
		{"unknown command", []string{"frob"}, 125, nil, `unknown command "frob"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runPlugin(tt.args, &out, &errOut)
			require.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			for _, w := range tt.want {
				require.Contains(t, out.String(), w)
			}
			if tt.wantErr != "" {
				require.Contains(t, errOut.String(), tt.wantErr)
			}
		})
	}
}
