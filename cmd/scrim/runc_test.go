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
)

// TestRuncUnderTheAgent runs a busybox container with runc under `scrim agent`: its config
// carries the section `scrim oci profile` prints. The container sees its bundle's /etc/hosts
// seed plus loopback, the configured host name and CPU count and no /proc/kcore, and a `runc
// exec` into it is served with the same container's state (one state per container: two
// containers, two states). A second container runs as uid 1000, sees the same and gets EACCES
// on a root-only file. Root only: runc needs it.
func TestRuncUnderTheAgent(t *testing.T) {
	testRuntimeUnderTheAgent(t, findRuntime(t, "runc"))
}

// testRuntimeUnderTheAgent is TestRuncUnderTheAgent for the runtime rt.
func testRuntimeUnderTheAgent(t *testing.T, rt *containerRuntime) {
	b := newTestBundle(t, rt)
	b.file("/etc/hosts", "10.0.0.7 seeded\n", 0o644)

	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	auditLog := filepath.Join(dir, "audit.jsonl")
	cfgFile := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("hostname = \"agentbox\"\ncpus = 1\naudit = \""+auditLog+"\"\n[log]\nlevel = \"info\"\n"), 0o644))
	prof := scrim(t, "oci", "profile", "--socket", sock, "-c", cfgFile)
	require.Equal(t, 0, prof.code, prof.stderr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b.args("/bin/sh", "-c", "cat /etc/hosts; hostname; grep -c ^processor /proc/cpuinfo; head -c 1 /proc/kcore; echo kcore=$?; "+
		"while [ ! -e /tmp/done ]; do sleep 0.05; done")
	b.seccomp(prof.stdout)
	b.write()

	agent, agentErr, exited := startAgent(t, sock, cfgFile)

	id := "scrim-test-" + rt.name + "-" + filepath.Base(b.dir)
	outFile, err := rt.start(ctx, b, id)
	require.NoError(t, err, "%s run; agent: %s", rt.name, agentErr.String())

	got, err := rt.exec(ctx, id, "/bin/sh", "-c", "cat /etc/hosts; hostname; grep -c ^processor /proc/cpuinfo; touch /tmp/done")
	require.NoError(t, err, "%s exec: %s; agent: %s", rt.name, got, agentErr.String())
	require.Equal(t, "10.0.0.7 seeded\n127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\nagentbox\n1\n", string(got))

	rt.waitStopped(t, ctx, id)
	first, err := os.ReadFile(outFile)
	require.NoError(t, err)
	require.Equal(t, "10.0.0.7 seeded\n127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\nagentbox\n1\n"+
		"head: /proc/kcore: Permission denied\nkcore=1\n", string(first))
	require.NoError(t, rt.delete(id))

	// As uid 1000, which the runtime drops to after it installed the filter (noNewPrivileges
	// false): the agent answers the runtime's init as that uid, and the container gets EACCES
	// on a root-only file.
	b.file("/secret", "s\n", 0o600)
	b.user(1000, 1000)
	b.process()["noNewPrivileges"] = false
	b.args("/bin/sh", "-c", "cat /etc/hosts; hostname; grep -c ^processor /proc/cpuinfo; head -c 1 /proc/kcore; echo kcore=$?; "+
		"cat /secret; echo rc=$?")
	b.write()
	uidOut, uidErr, err := rt.run(ctx, b, id+"-uid")
	require.NoError(t, err, "%s run as uid 1000: %s; agent: %s", rt.name, uidErr, agentErr.String())
	require.Equal(t, "10.0.0.7 seeded\n127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\nagentbox\n1\n"+
		"kcore=1\nrc=1\n", uidOut)
	require.Equal(t, "head: /proc/kcore: Permission denied\ncat: can't open '/secret': Permission denied\n", uidErr)

	require.NoError(t, agent.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, agentErr.String())
	case <-ctx.Done():
		t.Fatalf("the agent did not drain: %s", agentErr.String())
	}
	log, err := os.ReadFile(auditLog)
	require.NoError(t, err)
	require.Contains(t, string(log), `"container":"`+id+`"`)
	require.Equal(t, 2, strings.Count(agentErr.String(), "container started"), "%s exec shares the container's state: %s", rt.name, agentErr.String())
}

// TestCrunUnderTheAgent is TestRuncUnderTheAgent with crun. crun 1.8.1 sends the listener of
// each `crun exec` with pid 0 and bundle "."; the agent serves it with the running container's
// state (the container has a pid namespace of its own).
func TestCrunUnderTheAgent(t *testing.T) {
	testRuntimeUnderTheAgent(t, findRuntime(t, "crun"))
}

// TestExecInHostPidNamespace: an exec into a container that shares the host's pid namespace
// is served with the container's state. runc names the exec's process; crun 1.8.1 names none
// (pid 0), and the agent takes the children of the crun that sent the listener.
func TestExecInHostPidNamespace(t *testing.T) {
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) {
			rt := findRuntime(t, name)
			b := newTestBundle(t, rt)
			b.file("/etc/hosts", "10.0.0.7 seeded\n", 0o644)
			dir := t.TempDir()
			sock := filepath.Join(dir, "agent.sock")
			cfgFile := filepath.Join(dir, "scrim.toml")
			require.NoError(t, os.WriteFile(cfgFile, []byte("hostname = \"agentbox\"\n[log]\nlevel = \"info\"\n"), 0o644))
			prof := scrim(t, "oci", "profile", "--socket", sock, "-c", cfgFile)
			require.Equal(t, 0, prof.code, prof.stderr)
			b.shareNamespace("pid")
			b.args("/bin/sh", "-c", "while [ ! -e /tmp/done ]; do sleep 0.05; done")
			b.seccomp(prof.stdout)
			b.write()
			_, agentErr, _ := startAgent(t, sock, cfgFile)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			id := "scrim-test-hostpid-" + name + "-" + filepath.Base(b.dir)
			_, err := rt.start(ctx, b, id)
			require.NoError(t, err, "%s run; agent: %s", name, agentErr.String())
			// runc exec gives the process pipes of its own for stdout and stderr, which may
			// arrive out of order: head's message goes to stdout.
			got, err := rt.exec(ctx, id, "/bin/sh", "-c", "cat /etc/hosts; hostname; head -c 1 /proc/kcore 2>&1; echo kcore=$?; touch /tmp/done")
			require.NoError(t, err, "%s exec: %s; agent: %s", name, got, agentErr.String())
			require.Equal(t, "10.0.0.7 seeded\n127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\nagentbox\n"+
				"head: /proc/kcore: Permission denied\nkcore=1\n", string(got))
			rt.waitStopped(t, ctx, id)
			require.Contains(t, agentErr.String(), "own_pid_namespace=false")
			require.Equal(t, 1, strings.Count(agentErr.String(), "container started"), agentErr.String())
			require.Equal(t, 2, strings.Count(agentErr.String(), "serving a listener"), agentErr.String())
		})
	}
}
