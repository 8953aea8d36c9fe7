package agent

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// execEnv makes the runtime child send its listener with pid 0, as crun 1.8.1 sends the
// listener of a `crun exec`.
const execEnv = "SCRIM_AGENT_TEST_EXEC"

// startGated runs a container id whose process reads /etc/hostname, then waits for the file
// gate; it returns once the agent served the read, with a channel for the container's output.
func startGated(t *testing.T, ta *testAgent, id string, attr *syscall.SysProcAttr) (gate string, result chan string) {
	t.Helper()
	dir := t.TempDir()
	gate = filepath.Join(dir, "go")
	started := filepath.Join(dir, "started")
	result = make(chan string, 1)
	go func() {
		out, err := runContainerAttr(t, ta.sock, id, "cat /etc/hostname; : > "+started+
			"; while [ ! -e "+gate+" ]; do sleep 0.01; done", attr)
		if err != nil {
			out += err.Error()
		}
		result <- out
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			return gate, result
		}
		require.True(t, time.Now().Before(deadline), "container %s did not start within 20s", id)
	}
}

// TestExecWithoutPidInOwnPidNamespace: an exec's listener without a process id (what crun
// sends for `crun exec`) into a running container with a pid namespace of its own is served
// with that container's state. Root only: it makes a pid namespace and joins it.
func TestExecWithoutPidInOwnPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: making and joining a pid namespace needs root")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("skipped: nsenter (Debian package util-linux) is not installed")
	}
	ta := startAgent(t)
	gate, result := startGated(t, ta, "web", &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Cloneflags: syscall.CLONE_NEWPID})
	ta.mu.Lock()
	pid := ta.built[0].Pid
	ta.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, nsenter, "--target", strconv.Itoa(pid), "--pid", "--", self)
	cmd.Env = append(os.Environ(), childEnv+"=1", execEnv+"=1", "SOCK="+ta.sock, "ID=web", "SCRIPT=cat /etc/hostname")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	require.Equal(t, "box-web\n", out.String())
	require.Equal(t, 1, ta.Containers())

	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.Equal(t, "box-web\n", <-result)
	ta.waitEnded(t)
	ta.mu.Lock()
	defer ta.mu.Unlock()
	require.Len(t, ta.built, 1, "the exec shares the container's state")
}

// TestExecWithoutPidRefused: a listener without a process id is refused, and fails closed,
// for a container the agent does not serve and for one in the agent's pid namespace, whose
// exec's processes the agent could not tell from the host's; the running container is served
// on.
func TestExecWithoutPidRefused(t *testing.T) {
	ta := startAgent(t)
	t.Setenv(execEnv, "1")
	out, err := runContainer(t, ta.sock, "unknown", "cat /etc/hostname")
	require.Error(t, err, out)
	require.Contains(t, out, "exec: function not implemented")
	require.Zero(t, ta.Containers())

	os.Unsetenv(execEnv)
	gate, result := startGated(t, ta, "web", &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL})
	t.Setenv(execEnv, "1")
	out, err = runContainer(t, ta.sock, "web", "cat /etc/hostname")
	require.Error(t, err, out)
	require.Contains(t, out, "exec: function not implemented")
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.Equal(t, "box-web\n", <-result)
	ta.waitEnded(t)
	ta.mu.Lock()
	defer ta.mu.Unlock()
	require.Len(t, ta.built, 1, "only web got a state")
}
