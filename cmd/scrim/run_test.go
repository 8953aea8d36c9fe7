package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRun_ExitStatus(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\necho hi\n"), 0o644))
	badConfig := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(badConfig, []byte("cpus = -1\n"), 0o644))

	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "success", args: []string{"--", "true"}, want: 0},
		{name: "exit 3", args: []string{"--", "sh", "-c", "exit 3"}, want: 3},
		{name: "exit 124", args: []string{"--", "sh", "-c", "exit 124"}, want: 124},
		{name: "killed by SIGKILL", args: []string{"--", "sh", "-c", "kill -KILL $$"}, want: 128 + 9},
		{name: "killed by SIGTERM", args: []string{"--", "sh", "-c", "kill -TERM $$"}, want: 128 + 15},
		{name: "not found", args: []string{"--", "/nonexistent"}, want: 127},
		{name: "not in PATH", args: []string{"--", "scrim-no-such-command"}, want: 127},
		{name: "not executable", args: []string{"--", notExec}, want: 126},
		{name: "a directory", args: []string{"--", dir}, want: 126},
		{name: "bad config", args: []string{"-c", badConfig, "--", "true"}, want: 125},
		{name: "bad flag", args: []string{"--cpus", "-1", "--", "true"}, want: 125},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := scrim(t, append([]string{"run"}, tc.args...)...)
			require.Equal(t, tc.want, r.code, "stderr: %s", r.stderr)
		})
	}
}

func TestRun_StdioIsTheChilds(t *testing.T) {
	cmd := exec.Command(scrimBin, "run", "--", "sh", "-c", "cat; echo to-stderr >&2")
	cmd.Env = testEnv(t)
	cmd.Stdin = strings.NewReader("through stdin\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run())
	require.Equal(t, "through stdin\n", stdout.String(), "stdout holds the child's output and nothing of scrim's")
	require.Equal(t, "to-stderr\n", stderr.String())
}

func TestRun_DefaultHosts(t *testing.T) {
	// The README's first command: with no config the sandbox's /etc/hosts is loopback only.
	r := scrim(t, "run", "--", "cat", "/etc/hosts")
	require.Equal(t, 0, r.code, r.stderr)
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		addr, err := netip.ParseAddr(fields[0])
		require.NoError(t, err, r.stdout)
		require.True(t, addr.IsLoopback(), "only loopback entries (the sandbox's own name is 127.0.1.1): %q", r.stdout)
	}
}

func TestRun_FlagsReachTheSandbox(t *testing.T) {
	r := scrim(t, "run", "--hostname", "flagged-box", "--", "cat", "/etc/hostname")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "flagged-box\n", r.stdout)

	file := filepath.Join(t.TempDir(), "scrim.toml")
	require.NoError(t, os.WriteFile(file, []byte("hostname = \"from-file\"\n"), 0o644))
	r = scrim(t, "run", "-c", file, "--", "cat", "/etc/hostname")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "from-file\n", r.stdout)

	r = scrim(t, "run", "-c", file, "--hostname", "flag-wins", "--", "cat", "/etc/hostname")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "flag-wins\n", r.stdout, "a flag overrides its config key")
}

func TestRun_Audit(t *testing.T) {
	log := filepath.Join(t.TempDir(), "audit.jsonl")
	r := scrim(t, "run", "--audit", log, "--", "cat", "/etc/hosts")
	require.Equal(t, 0, r.code, r.stderr)
	f, err := os.Open(log)
	require.NoError(t, err)
	defer f.Close()
	var found bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), sc.Text())
		// Which kind of record has which fields: TestAudit_RecordKinds.
		for _, k := range []string{"time", "seq", "pid", "tid", "syscall", "handler", "verdict", "us"} {
			require.Contains(t, rec, k)
		}
		if rec["path"] == "/etc/hosts" {
			found = true
			require.Equal(t, "builtin.hosts", rec["handler"])
			require.Equal(t, "serve", rec["verdict"])
		}
	}
	require.NoError(t, sc.Err())
	require.True(t, found, "the open of /etc/hosts is in the audit log")
}

// TestRun_AuditAppends: a second run with the same --audit file adds its records after the
// first run's, and a file scrim creates is 0600.
func TestRun_AuditAppends(t *testing.T) {
	log := filepath.Join(t.TempDir(), "audit.jsonl")
	r := scrim(t, "run", "--audit", log, "--", "cat", "/etc/hosts")
	require.Equal(t, 0, r.code, r.stderr)
	first, err := os.ReadFile(log)
	require.NoError(t, err)
	require.NotEmpty(t, first)
	st, err := os.Stat(log)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	r = scrim(t, "run", "--audit", log, "--", "cat", "/etc/hostname")
	require.Equal(t, 0, r.code, r.stderr)
	both, err := os.ReadFile(log)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(both, first), "the first run's records are kept as they were")
	require.Greater(t, len(both), len(first))
	require.Contains(t, string(both[len(first):]), `"path":"/etc/hostname"`)
}

// TestRun_AuditRefusesOtherFiles: --audit naming a file that is not scrim's audit log (here a
// config file) exits 125 before the child runs, names the file and says why, and leaves the
// file byte for byte as it was.
func TestRun_AuditRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "scrim.toml")
	content := "hostname = \"box\"\ncpus = 2\n"
	require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
	before, err := os.Stat(file)
	require.NoError(t, err)
	marker := filepath.Join(dir, "ran")

	r := scrim(t, "run", "-c", file, "--audit", file, "--", "touch", marker)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "open audit log "+file+": not a scrim audit log: line 1 is not a JSON object")
	require.NoFileExists(t, marker, "the child did not run")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, content, string(data))
	after, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, before.Mode(), after.Mode())
	require.Equal(t, before.ModTime(), after.ModTime())
}

// TestRun_AuditPluginCounters: each plugin's counters for the run end the audit log.
func TestRun_AuditPluginCounters(t *testing.T) {
	log := filepath.Join(t.TempDir(), "audit.jsonl")
	wasm, err := filepath.Abs("../../examples/motd/motd.wasm")
	require.NoError(t, err)
	r := scrim(t, "run", "--audit", log, "--plugin", wasm, "--", "sh", "-c", "cat /etc/motd >/dev/null; cat /etc/motd >/dev/null")
	require.Equal(t, 0, r.code, r.stderr)
	data, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var last map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last), lines[len(lines)-1])
	require.Equal(t, "motd", last["plugin"])
	require.Equal(t, 2.0, last["calls"], "two opens of /etc/motd reached the plugin")
	require.Equal(t, 0.0, last["faults"])
	for _, k := range []string{"time", "traps", "timeouts", "broken", "replaced", "mean_us", "max_us"} {
		require.Contains(t, last, k)
	}
}

// TestRun_Signals sends each signal to scrim and expects the child's trap to see it.
func TestRun_Signals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGWINCH} {
		name := strings.TrimPrefix(sigName(sig), "SIG")
		t.Run(name, func(t *testing.T) {
			script := `trap 'echo got ` + name + `; exit 7' ` + name + `; echo ready; while :; do sleep 0.05; done`
			cmd := exec.Command(scrimBin, "run", "--", "sh", "-c", script)
			cmd.Env = testEnv(t)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill() }()

			lines := make(chan string, 4)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			require.Equal(t, "ready", nextLine(t, lines), "stderr: %s", stderr.String())
			require.NoError(t, cmd.Process.Signal(sig))
			require.Equal(t, "got "+name, nextLine(t, lines), "stderr: %s", stderr.String())
			err = cmd.Wait()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "scrim exits with the child's status: %v", err)
			require.Equal(t, 7, exit.ExitCode(), "stderr: %s", stderr.String())
		})
	}
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the child's stdout closed early")
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("no line from the child within 20s")
	}
	return ""
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGWINCH:
		return "SIGWINCH"
	}
	return s.String()
}
