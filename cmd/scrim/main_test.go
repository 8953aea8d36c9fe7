package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scrimBin is the scrim binary built once for all tests: exit statuses, signals and the
// terminal are properties of the real process, so the tests run it, not dispatch.
var scrimBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scrim-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create temp dir:", err)
		os.Exit(1)
	}
	scrimBin = filepath.Join(dir, "scrim")
	build := exec.Command("go", "build", "-o", scrimBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build scrim:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished scrim process.
type result struct {
	code           int
	stdout, stderr string
}

// scrim runs the binary with args and an environment without the user's drop-in plugins.
func scrim(t *testing.T, args ...string) result {
	t.Helper()
	return scrimEnv(t, testEnv(t), args...)
}

// scrimEnv runs the binary with args in the environment env.
func scrimEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(scrimBin, args...)
	cmd.Env = env
	return runResult(t, cmd)
}

// runResult runs cmd, a start of scrim, to its end within 60 seconds, and returns its exit
// status and output.
func runResult(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("scrim %q did not finish within 60s; stderr: %s", cmd.Args[1:], stderr.String())
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// testEnv points the user's config and cache directories at an empty temporary directory, so
// the developer's own drop-in plugins do not change what the tests see.
func testEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + home, "XDG_CACHE_HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

func TestCheck_Example(t *testing.T) {
	r := scrim(t, "check", "-c", "../../config.toml.example")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Empty(t, r.stderr)
	for _, want := range []string{"config       ../../config.toml.example", "mode         strict", "hostname     scrim", "open chain, first decision wins:", "last  the real file under the host's /"} {
		require.Contains(t, r.stdout, want)
	}
}

func TestCheck_NoConfig(t *testing.T) {
	r := scrim(t, "check", "--hostname", "box", "--cpus", "2", "--memory", "1G", "--mode", "fast")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	for _, want := range []string{"config       none (built-in defaults)", "hostname     box", "cpus         2", "memory       1G", "mode         fast"} {
		require.Contains(t, r.stdout, want)
	}
}

// TestBadConfigs runs scrim on every broken config of internal/config's testdata. Each file's
// first line holds the expected message; check and run must both print it and exit 125.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("../../internal/config/testdata/bad/*.toml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 10)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".toml"), func(t *testing.T) {
			want := wantedError(t, file)
			for _, cmd := range [][]string{{"check", "-c", file}, {"run", "-c", file, "--", "true"}} {
				r := scrim(t, cmd...)
				require.Equal(t, exitFailure, r.code, "scrim %s: stdout %q stderr %q", cmd, r.stdout, r.stderr)
				require.Equal(t, "scrim "+cmd[0]+": "+want+"\n", r.stderr)
				require.Empty(t, r.stdout, "nothing ran, nothing was printed for the child")
			}
		})
	}
}

// wantedError reads a testdata/bad file's "# want: LINE: KEY: MSG" line and returns the full
// message, the file's name in front, {{dir}} replaced by the file's absolute directory.
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

func TestHelp(t *testing.T) {
	flags := []string{
		"-c, --config FILE", "--mode MODE", "--hostname NAME", "--cpus N", "--memory SIZE",
		"--random-seed N", "--net-allow HOST[=IP]", "--chroot DIR", "--chroot-readonly", "--cwd DIR",
		"--mount HOST:INSIDE[:ro]", "--plugin FILE.wasm", "--audit FILE", "--cache-dir DIR", "--kill-grace DURATION", "--log-level LEVEL",
		"--log-format FORMAT",
	}
	tests := []struct {
		name      string
		args      []string
		wantFlags bool
		want      string
	}{
		{name: "run --help", args: []string{"run", "--help"}, wantFlags: true, want: "Usage: scrim run [flags] -- CMD [ARGS...]"},
		{name: "run -h", args: []string{"run", "-h"}, wantFlags: true, want: "Usage: scrim run"},
		{name: "check --help", args: []string{"check", "--help"}, wantFlags: true, want: "Usage: scrim check [-c FILE] [flags]"},
		{name: "help run", args: []string{"help", "run"}, wantFlags: true, want: "Usage: scrim run"},
		{name: "version --help", args: []string{"version", "--help"}, want: "Usage: scrim version"},
		{name: "help", args: []string{"help"}, want: "Usage: scrim COMMAND [ARGS...]"},
		{name: "--help", args: []string{"--help"}, want: "Usage: scrim COMMAND [ARGS...]"},
		{name: "-h", args: []string{"-h"}, want: "Usage: scrim COMMAND [ARGS...]"},
		{name: "help --help", args: []string{"help", "--help"}, want: "Usage: scrim help [COMMAND [SUBCOMMAND]]"},
		{name: "help -h", args: []string{"help", "-h"}, want: "Usage: scrim help [COMMAND [SUBCOMMAND]]"},
		{name: "help help", args: []string{"help", "help"}, want: "Usage: scrim help [COMMAND [SUBCOMMAND]]"},
		{name: "check -h", args: []string{"check", "-h"}, wantFlags: true, want: "Usage: scrim check"},
		{name: "help check", args: []string{"help", "check"}, wantFlags: true, want: "Usage: scrim check"},
		{name: "version -h", args: []string{"version", "-h"}, want: "Usage: scrim version"},
		{name: "help version", args: []string{"help", "version"}, want: "Usage: scrim version"},
		{name: "--version --help", args: []string{"--version", "--help"}, want: "Usage: scrim version"},
		{name: "plugin --help", args: []string{"plugin", "--help"}, want: "Usage: scrim plugin COMMAND [ARGS...]"},
		{name: "plugin -h", args: []string{"plugin", "-h"}, want: "Usage: scrim plugin COMMAND [ARGS...]"},
		{name: "help plugin", args: []string{"help", "plugin"}, want: "Usage: scrim plugin COMMAND [ARGS...]"},
		{name: "plugin inspect --help", args: []string{"plugin", "inspect", "--help"}, want: "Usage: scrim plugin inspect FILE.wasm"},
		{name: "plugin inspect -h", args: []string{"plugin", "inspect", "-h"}, want: "Usage: scrim plugin inspect FILE.wasm"},
		{name: "help plugin inspect", args: []string{"help", "plugin", "inspect"}, want: "Usage: scrim plugin inspect FILE.wasm"},
		{name: "plugin test --help", args: []string{"plugin", "test", "--help"}, want: "Usage: scrim plugin test"},
		{name: "help plugin test", args: []string{"help", "plugin", "test"}, want: "Usage: scrim plugin test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := scrim(t, tc.args...)
			require.Equal(t, 0, r.code)
			require.Empty(t, r.stderr)
			require.Contains(t, r.stdout, tc.want)
			if !tc.wantFlags {
				return
			}
			for _, f := range flags {
				require.Contains(t, r.stdout, f)
			}
			// Every flag shows its default.
			require.Equal(t, len(flags), strings.Count(r.stdout, "(default: "), r.stdout)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{name: "no command", args: nil, wantCode: exitFailure, want: mainUsage},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: exitFailure, want: "scrim: \"frobnicate\": unknown command; the commands are run, check, plugin, oci, agent, version and help ('scrim help')\n"},
		{name: "run without CMD", args: []string{"run"}, wantCode: exitFailure, want: "scrim run: missing CMD: scrim run [flags] -- CMD [ARGS...]; see 'scrim run --help'\n"},
		{name: "run with only --", args: []string{"run", "--"}, wantCode: exitFailure, want: "scrim run: missing CMD: scrim run [flags] -- CMD [ARGS...]; see 'scrim run --help'\n"},
		{name: "run with an empty CMD", args: []string{"run", "--", ""}, wantCode: 127, want: "scrim run: \"\": command not found: the command name is empty; name the program to run\n"},
		{name: "unknown flag", args: []string{"run", "--no-such-flag", "--", "true"}, wantCode: exitFailure, want: "scrim run: --no-such-flag: unknown flag; see 'scrim run --help'\n"},
		{name: "flag without value", args: []string{"run", "--cpus"}, wantCode: exitFailure, want: "scrim run: --cpus: needs a value; see 'scrim run --help'\n"},
		{name: "bad flag value", args: []string{"run", "--memory", "lots", "--", "true"}, wantCode: exitFailure, want: "scrim run: --memory: \"lots\" is not a size; allowed: bytes as a whole number, or a number with K, M, G or T (powers of 1024), like 512M or 2G\n"},
		{name: "missing config", args: []string{"run", "-c", "/nonexistent/scrim.toml", "--", "true"}, wantCode: exitFailure, want: "scrim run: -c /nonexistent/scrim.toml: no such file or directory; name an existing file (config.toml.example documents every key)\n"},
		{name: "missing plugin", args: []string{"check", "--plugin", "/nonexistent/p.wasm"}, wantCode: exitFailure, want: "scrim check: --plugin: /nonexistent/p.wasm does not exist; allowed: the path of an existing file\n"},
		{name: "check with an argument", args: []string{"check", "extra"}, wantCode: exitFailure, want: "scrim check: unexpected argument \"extra\": check runs nothing; see 'scrim check --help'\n"},
		{name: "version with an argument", args: []string{"version", "extra"}, wantCode: exitFailure, want: "scrim version: unexpected argument \"extra\"; see 'scrim version --help'\n"},
		{name: "--version with an argument", args: []string{"--version", "extra"}, wantCode: exitFailure, want: "scrim --version: unexpected argument \"extra\"; see 'scrim --version --help'\n"},
		{name: "help for an unknown command", args: []string{"help", "frobnicate"}, wantCode: exitFailure, want: "scrim help: \"frobnicate\": unknown command; the commands are run, check, plugin, oci, agent, version and help\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := scrim(t, tc.args...)
			require.Equal(t, tc.wantCode, r.code)
			require.Equal(t, tc.want, r.stderr, "one line, in scrim's one style")
			require.Empty(t, r.stdout)
		})
	}
}

// TestVersionFlag: scrim --version and -V print the version line of scrim version alone.
func TestVersionFlag(t *testing.T) {
	full := scrim(t, "version")
	require.Equal(t, 0, full.code, full.stderr)
	first, _, _ := strings.Cut(full.stdout, "\n")
	for _, flag := range []string{"--version", "-V", "-version"} {
		r := scrim(t, flag)
		require.Equal(t, 0, r.code, r.stderr)
		require.Empty(t, r.stderr)
		require.Equal(t, first+"\n", r.stdout, flag)
	}
}

func TestVersion(t *testing.T) {
	r := scrim(t, "version")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.GreaterOrEqual(t, len(lines), 4, r.stdout)
	require.Regexp(t, `^scrim \S+$`, lines[0])
	require.Regexp(t, `^go go1\.\d+\S* linux/amd64$`, lines[1])
	require.Regexp(t, `^kernel \d+\.\d+\S* x86_64$`, lines[2])
	require.Equal(t, "kernel features:", lines[3])
	require.Contains(t, r.stdout, "seccomp ADDFD+SEND")
	require.Regexp(t, `(?m)^  seccomp ADDFD\+SEND\s+(yes|no)\s+\(Linux 5\.14, required\)$`, r.stdout)
}

func TestVersion_Ldflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "scrim")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	got, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(got), "scrim v9.8.7-test\n"), string(got))
}
