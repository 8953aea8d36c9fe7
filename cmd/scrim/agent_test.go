package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var ociRuntime struct {
	once sync.Once
	path string
	err  error
}

// buildOCIRuntime builds testdata/ociruntime, which installs a profile's rules as a runtime
// would and sends the listener to the profile's agent.
func buildOCIRuntime(t *testing.T) string {
	t.Helper()
	ociRuntime.once.Do(func() {
		dir, err := os.MkdirTemp("", "scrim-ociruntime-")
		if err != nil {
			ociRuntime.err = err
			return
		}
		ociRuntime.path = filepath.Join(dir, "ociruntime")
		out, err := exec.Command("go", "build", "-o", ociRuntime.path, "./testdata/ociruntime").CombinedOutput()
		if err != nil {
			ociRuntime.err = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(t, ociRuntime.err)
	return ociRuntime.path
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// TestAgentServesAContainer: a process under the filter `scrim oci profile` describes, whose
// listener reaches `scrim agent`, sees the configured host name, the virtual /etc/hosts and no
// /proc/kcore, its calls are in the audit log with its container's id, and SIGTERM drains the
// agent, which removes its socket.
func TestAgentServesAContainer(t *testing.T) {
	rt := buildOCIRuntime(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	auditLog := filepath.Join(dir, "audit.jsonl")
	cfg := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("hostname = \"agentbox\"\naudit = \""+auditLog+"\"\n"), 0o644))
	prof := scrim(t, "oci", "profile", "--socket", sock, "-c", cfg)
	require.Equal(t, 0, prof.code, prof.stderr)
	profile := filepath.Join(dir, "profile.json")
	require.NoError(t, os.WriteFile(profile, []byte(prof.stdout), 0o644))

	agent, agentErr, exited := startAgent(t, sock, cfg)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	require.EqualValues(t, 0o600, fi.Mode().Perm())

	second := scrim(t, "agent", "--socket", sock, "-c", cfg)
	require.Equal(t, exitFailure, second.code)
	require.Contains(t, second.stderr, "another agent is listening there")

	cmd := exec.Command(rt, profile, "web-1", "/bin/sh", "-c", "cat /etc/hosts; cat /etc/hostname; head -c 1 /proc/kcore")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the container did not end within 30s: %s; agent: %s", out.String(), agentErr.String())
	}
	require.Error(t, err, "head fails on /proc/kcore")
	got := out.String()
	require.Contains(t, got, "127.0.0.1 localhost\n")
	require.Contains(t, got, "127.0.1.1 agentbox\n")
	require.Contains(t, got, "\nagentbox\n")
	require.Contains(t, got, "/proc/kcore' for reading: Permission denied")

	require.NoError(t, agent.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, agentErr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not drain within 30s: %s", agentErr.String())
	}
	require.NoFileExists(t, sock)
	log, err := os.ReadFile(auditLog)
	require.NoError(t, err)
	var kcore bool
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		if strings.Contains(line, `"plugin":`) {
			continue
		}
		require.Contains(t, line, `"container":"web-1"`)
		kcore = kcore || strings.Contains(line, `"path":"/proc/kcore"`) && strings.Contains(line, `"errno":"EACCES"`)
	}
	require.True(t, kcore, "the audit log has the denied /proc/kcore: %s", log)
}

func TestAgentUsage(t *testing.T) {
	r := scrim(t, "agent")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "--socket: name the socket by an absolute path")
	r = scrim(t, "agent", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "Usage: scrim agent --socket PATH")
	require.Contains(t, r.stdout, "--log-level LEVEL")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	r = scrim(t, "agent", "--socket", sock, "--log-level", "loud")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, `scrim agent: --log-level: "loud" is not a log level; allowed:`)

	// The log flags govern the agent's log as they do scrim run's.
	agent, agentErr, exited := startAgent(t, sock, "", "--log-level", "info", "--log-format", "json")
	require.NoError(t, agent.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-exited)
	first, _, _ := strings.Cut(agentErr.String(), "\n")
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &rec), agentErr.String())
	require.Equal(t, "info", rec["@level"])
	require.Equal(t, "agent listening", rec["@message"])
}

// startAgent starts `scrim agent` on sock with the configuration cfg (none when "") and the
// flags extra, and waits for its socket. It returns the agent, its standard error and what its
// Wait returns; the agent is killed when the test ends.
func startAgent(t *testing.T, sock, cfg string, extra ...string) (*exec.Cmd, *bytes.Buffer, chan error) {
	t.Helper()
	args := []string{"agent", "--socket", sock}
	if cfg != "" {
		args = append(args, "-c", cfg)
	}
	agent := exec.Command(scrimBin, append(args, extra...)...)
	agent.Env = testEnv(t)
	var agentErr bytes.Buffer
	agent.Stderr = &agentErr
	require.NoError(t, agent.Start())
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	t.Cleanup(func() { agent.Process.Kill() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "no socket within 20s: %s", agentErr.String())
	}
	return agent, &agentErr, exited
}
