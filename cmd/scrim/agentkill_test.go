package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestKilledAgentFailsClosed: killing the agent while a container runs makes the container's
// next mediated open fail with ENOSYS, never reach the real file, and an agent restarted on
// the same socket serves the next container. Root only: the runtimes need it.
func TestKilledAgentFailsClosed(t *testing.T) {
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) { testKilledAgentFailsClosed(t, findRuntime(t, name)) })
	}
}

func testKilledAgentFailsClosed(t *testing.T, rt *containerRuntime) {
	b := newTestBundle(t, rt)
	// The container waits on a FIFO it opened while the agent lived: reading it is not
	// mediated, so the wait itself does not fail once the agent is gone.
	gate := filepath.Join(b.rootfs, "gate")
	require.NoError(t, unix.Mkfifo(gate, 0o600))
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	cfgFile := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("hostname = \"agentbox\"\n[log]\nlevel = \"info\"\n"), 0o644))
	prof := scrim(t, "oci", "profile", "--socket", sock, "-c", cfgFile)
	require.Equal(t, 0, prof.code, prof.stderr)
	b.seccomp(prof.stdout)
	b.args("/bin/sh", "-c", "exec 3<>/gate; read h < /etc/hostname; echo before=$h; read -t 60 x <&3; "+
		"if read h < /etc/hostname; then echo after=$h; else echo after=failed; fi")
	b.write()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent, agentErr, exited := startAgent(t, sock, cfgFile)
	id := "scrim-kill-" + rt.name + "-" + filepath.Base(b.dir)
	outFile, err := rt.start(ctx, b, id)
	require.NoError(t, err, "%s run; agent: %s", rt.name, agentErr.String())
	for {
		out, err := os.ReadFile(outFile)
		require.NoError(t, err)
		if strings.Contains(string(out), "before=") {
			require.Equal(t, "before=agentbox\n", string(out))
			break
		}
		require.NoError(t, ctx.Err(), "the container did not read /etc/hostname: %s", out)
		time.Sleep(10 * time.Millisecond)
	}
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(sock, &st))
	require.NoError(t, agent.Process.Kill())
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("the killed agent did not exit")
	}
	// The agent is gone: let the container go on to its next open.
	w, err := os.OpenFile(gate, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = w.WriteString("go\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	rt.waitStopped(t, ctx, id)
	out, err := os.ReadFile(outFile)
	require.NoError(t, err)
	require.Contains(t, string(out), "after=failed\n", "the open after the agent died")
	require.Contains(t, string(out), "Function not implemented", "ENOSYS, as the kernel answers without a listener")
	host, err := os.ReadFile("/etc/hostname")
	require.NoError(t, err)
	require.NotContains(t, string(out), "after="+strings.TrimSpace(string(host)))

	// A new agent replaces the dead one's socket and serves the next container.
	_, agentErr, _ = startAgent(t, sock, cfgFile)
	for {
		var now syscall.Stat_t
		// A new socket file: tmpfs may give it the old one's inode number, not its change time.
		if syscall.Stat(sock, &now) == nil && (now.Ino != st.Ino || now.Ctim != st.Ctim) {
			break
		}
		require.NoError(t, ctx.Err(), "the restarted agent did not replace the socket: %s", agentErr.String())
		time.Sleep(10 * time.Millisecond)
	}
	b.args("/bin/sh", "-c", "cat /etc/hostname")
	b.write()
	got, gotErr, err := rt.run(ctx, b, id+"-next")
	require.NoError(t, err, "%s run after the restart: %s; agent: %s", rt.name, gotErr, agentErr.String())
	require.Equal(t, "agentbox\n", got)
}
