package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// execEnv makes the runtime child send its listener with pid 0, as crun 1.8.1 sends the
// listener of a `crun exec`.
const execEnv = "SCRIM_AGENT_TEST_EXEC"

// passEnv makes the runtime child pass its listener to its parent on descriptor 3, as crun's
// exec process passes it to the crun that sends it to the agent.
const passEnv = "SCRIM_AGENT_TEST_PASS"

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

	ta.releaseWeb(t, gate, result, "the exec shares the container's state")
}

// TestExecWithoutPidInHostPidNamespace: crun sends an exec's listener with pid 0 from the
// crun process whose child the exec's process is. For a container in the agent's pid
// namespace the agent takes the sender's children as the exec's processes and serves them
// with the container's state. Here the test process plays crun: its child installs the filter
// and passes the listener up, and the test sends it on.
func TestExecWithoutPidInHostPidNamespace(t *testing.T) {
	ta := startAgent(t)
	gate, result := startGated(t, ta, "web", &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL})

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	up := os.NewFile(uintptr(pair[1]), "listener-up")
	defer unix.Close(pair[0])
	// The child's parent-death signal follows this thread (runContainerAttr says why).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"=1", passEnv+"=1", "SCRIPT=cat /etc/hostname")
	cmd.ExtraFiles = []*os.File{up}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	up.Close()

	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(pair[0], make([]byte, 1), oob, 0)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("receive the child's listener: %v: %s", err, out.String())
	}
	fds, err := rights(oob[:oobn])
	require.NoError(t, err)
	require.Len(t, fds, 1)
	msg, err := json.Marshal(ProcessState{Version: "0.2.0", Fds: []string{"seccompFd"}, Pid: 0,
		State: State{Version: "0.2.0", ID: "web", Status: "running", Bundle: "."}})
	require.NoError(t, err)
	conn, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.Connect(conn, &unix.SockaddrUnix{Name: ta.sock}))
	require.NoError(t, unix.Sendmsg(conn, msg, unix.UnixRights(fds[0]), nil, 0))
	unix.Close(fds[0])
	unix.Close(conn)

	require.NoError(t, cmd.Wait(), out.String())
	require.Equal(t, "box-web\n", out.String())
	ta.releaseWeb(t, gate, result, "the exec shares the container's state")
}

// TestExecWithoutPidRefused: a listener without a process id is refused, and fails closed,
// for a container the agent does not serve, and for one in the agent's pid namespace when
// the runtime that sent it has no child that could be the exec's process (here the process
// under the filter sends its listener itself); the running container is served on.
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
	ta.releaseWeb(t, gate, result, "only web got a state")
}

// releaseWeb lets the gated "web" container of startGated end, checks what it printed, and
// that the agent built one state in all (msg says why) and holds none once it ended.
func (ta *testAgent) releaseWeb(t *testing.T, gate string, result <-chan string, msg string) {
	t.Helper()
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.Equal(t, "box-web\n", <-result)
	ta.waitEnded(t)
	ta.mu.Lock()
	defer ta.mu.Unlock()
	require.Len(t, ta.built, 1, msg)
}
