// Package e2e runs the example and corpus plugins under a real `scrim run`: the sandboxed
// program opens files and scrim's supervisor, resolver and plugin host decide together.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	scrim string // the scrim binary built for these tests
	cache string // one compilation cache for every run
	root  string // the repository
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scrim-e2e-")
	if err != nil {
		panic(err)
	}
	root, _ = filepath.Abs(filepath.Join("..", ".."))
	scrim = filepath.Join(dir, "scrim")
	cache = filepath.Join(dir, "cache")
	build := exec.Command("go", "build", "-o", scrim, "./cmd/scrim")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build scrim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wasmPath finds a checked-in module, or its fresh build under $SCRIM_WASM_ROOT.
func wasmPath(rel string) string {
	if r := os.Getenv("SCRIM_WASM_ROOT"); r != "" {
		return filepath.Join(r, rel)
	}
	return filepath.Join(root, rel)
}

func example(name string) string { return wasmPath(filepath.Join("examples", name, name+".wasm")) }
func corpus(name string) string  { return wasmPath(filepath.Join("plugins", "testdata", name+".wasm")) }

// run writes config (plus a private cache_dir) to a file and runs `scrim run -c FILE -- argv`.
func run(t *testing.T, config string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "scrim.toml")
	config = fmt.Sprintf("cache_dir = %q\nplugin_dirs = []\n", cache) + config
	require.NoError(t, os.WriteFile(file, []byte(config), 0o644))
	cmd := exec.Command(scrim, append([]string{"run", "-c", file, "--"}, argv...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("scrim run hung; stderr:\n%s", errOut.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func pluginTable(name, path string, extra string) string {
	return fmt.Sprintf("[[plugin]]\nname = %q\npath = %q\n%s\n", name, path, extra)
}

func TestExamplesUnderScrimRun(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	pem := filepath.Join(dir, "server.pem")
	require.NoError(t, os.WriteFile(pem, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o644))
	require.NoError(t, os.Symlink(pem, filepath.Join(dir, "innocent.txt")))
	plain := filepath.Join(dir, "plain.txt")
	require.NoError(t, os.WriteFile(plain, []byte("plain\n"), 0o644))

	tests := []struct {
		name     string
		config   string
		argv     []string
		want     string // exact stdout
		wantErr  string // substring of stderr
		wantCode int
	}{
		{
			name:   "serve from configuration",
			config: pluginTable("motd", example("motd"), "[plugin.config]\ntext = \"from the config\\n\""),
			argv:   []string{"cat", "/etc/motd"},
			want:   "from the config\n",
		},
		{
			name:   "serve through another spelling",
			config: pluginTable("motd", example("motd"), ""),
			argv:   []string{"sh", "-c", "cd /etc/ssl && cat ../motd"},
			want:   "Welcome to a scrim sandbox.\n",
		},
		{
			name:     "a served file is read-only",
			config:   pluginTable("motd", example("motd"), ""),
			argv:     []string{"sh", "-c", "echo x >> /etc/motd"},
			wantErr:  "Read-only file system",
			wantCode: 2,
		},
		{
			name:   "a dynamic file",
			config: pluginTable("info", example("info"), ""),
			argv:   []string{"sh", "-c", "cat /run/scrim/info | grep -c -e ^sandbox=scrim -e ^pid= -e ^uid= -e ^gid="},
			want:   "4\n",
		},
		{
			name:     "deny by pattern",
			config:   pluginTable("denykeys", example("denykeys"), ""),
			argv:     []string{"cat", pem},
			wantErr:  "Permission denied",
			wantCode: 1,
		},
		{
			name:     "deny by pattern through a symlink",
			config:   pluginTable("denykeys", example("denykeys"), ""),
			argv:     []string{"cat", filepath.Join(dir, "innocent.txt")},
			wantErr:  "Permission denied",
			wantCode: 1,
		},
		{
			name:   "an unclaimed file is untouched",
			config: pluginTable("denykeys", example("denykeys"), ""),
			argv:   []string{"cat", plain},
			want:   "plain\n",
		},
		{
			name:   "transform the real file",
			config: pluginTable("passwd", example("passwd"), "[plugin.config]\nallow = [\"root\"]"),
			argv:   []string{"sh", "-c", "cut -d: -f1 /etc/passwd"},
			want:   "root\n",
		},
		{
			name:     "an infinite loop fails closed",
			config:   pluginTable("loop", corpus("loop"), "timeout = \"50ms\"\npaths = [\""+dir+"/**\"]"),
			argv:     []string{"cat", plain},
			wantErr:  "Input/output error",
			wantCode: 1,
		},
		{
			name:     "a trap fails closed with on_error",
			config:   pluginTable("trap", corpus("trap"), "on_error = \"EACCES\"\npaths = [\""+dir+"/**\"]"),
			argv:     []string{"cat", plain},
			wantErr:  "Permission denied",
			wantCode: 1,
		},
		{
			name:     "a forbidden import stops scrim",
			config:   pluginTable("forbidden", corpus("forbidden"), ""),
			argv:     []string{"true"},
			wantErr:  "imports env.system, which scrim does not provide",
			wantCode: 125,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.config, tt.argv...)
			require.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			if tt.wantErr != "" {
				require.Contains(t, errOut, tt.wantErr)
			} else {
				require.Equal(t, tt.want, out, "stderr:\n%s", errOut)
			}
		})
	}
}

// TestReadRealOpensAsTheChild checks that a plugin reads a host file only as the sandboxed
// program could: a root-only file stays unreadable to a child running as nobody, although
// scrim itself runs as root.
func TestReadRealOpensAsTheChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test compares a root-owned file read by root and by nobody")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux) to run the child as nobody")
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("root only\n"), 0o600))
	config := pluginTable("transform", corpus("transform"), "paths = [\""+dir+"/**\"]")

	out, errOut, code := run(t, config, "cat", secret)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "real:root only\n", out, "root reads the file through the plugin")

	out, errOut, code = run(t, config,
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", secret)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Empty(t, out)
	require.True(t, strings.Contains(errOut, "Permission denied"), errOut)
}
