package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRuncUnderTheAgent runs a busybox container with runc under `scrim agent`: its config
// carries the section `scrim oci profile` prints. The container sees its bundle's /etc/hosts
// seed plus loopback, the configured host name and no /proc/kcore, and a `runc exec` into it
// is served with the same container's state (one state per container: two containers, two
// states). A second container runs as uid 1000 and gets EACCES on a root-only file. Root
// only: runc needs it.
func TestRuncUnderTheAgent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: runc runs containers as root only")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("skipped: runc is not installed (Debian package runc)")
	}
	busybox := "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		t.Skip("skipped: /bin/busybox is missing (Debian package busybox-static)")
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "dev", "sys", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	bb, err := os.ReadFile(busybox)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755))
	for _, c := range []string{"sh", "cat", "head", "sleep", "touch", "hostname"} {
		require.NoError(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", c)))
	}
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "etc/hosts"), []byte("10.0.0.7 seeded\n"), 0o644))

	sock := filepath.Join(dir, "agent.sock")
	auditLog := filepath.Join(dir, "audit.jsonl")
	cfgFile := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("hostname = \"agentbox\"\naudit = \""+auditLog+"\"\n[log]\nlevel = \"info\"\n"), 0o644))
	prof := scrim(t, "oci", "profile", "--socket", sock, "-c", cfgFile)
	require.Equal(t, 0, prof.code, prof.stderr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := exec.CommandContext(ctx, runc, "spec")
	spec.Dir = dir
	out, err := spec.CombinedOutput()
	require.NoError(t, err, string(out))
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cfg))
	process := cfg["process"].(map[string]any)
	process["terminal"] = false
	cfg["root"].(map[string]any)["readonly"] = false
	process["args"] = []string{"/bin/sh", "-c", "cat /etc/hosts; hostname; head -c 1 /proc/kcore; echo kcore=$?; " +
		"while [ ! -e /tmp/done ]; do sleep 0.05; done"}
	var seccomp map[string]any
	require.NoError(t, json.Unmarshal([]byte(prof.stdout), &seccomp))
	cfg["linux"].(map[string]any)["seccomp"] = seccomp
	b, err = json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644))

	agent, agentErr, exited := startAgent(t, sock, cfgFile)

	id := "scrim-test-" + filepath.Base(dir)
	defer exec.Command(runc, "delete", "-f", id).Run()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	defer stdout.Close()
	run := exec.CommandContext(ctx, runc, "run", "-d", "--bundle", dir, id)
	run.Stdout, run.Stderr = stdout, stdout
	require.NoError(t, run.Run(), "runc run; agent: %s", agentErr.String())

	exe := exec.CommandContext(ctx, runc, "exec", id, "/bin/sh", "-c", "cat /etc/hosts; hostname; touch /tmp/done")
	got, err := exe.CombinedOutput()
	require.NoError(t, err, "runc exec: %s; agent: %s", got, agentErr.String())
	require.Equal(t, "10.0.0.7 seeded\n127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\nagentbox\n", string(got))

	for {
		st, err := exec.CommandContext(ctx, runc, "state", id).Output()
		require.NoError(t, err, "runc state")
		if strings.Contains(string(st), `"status": "stopped"`) {
			break
		}
		require.NoError(t, ctx.Err(), "the container did not stop")
		time.Sleep(20 * time.Millisecond)
	}
	first, err := os.ReadFile(stdout.Name())
	require.NoError(t, err)
	require.Equal(t, "10.0.0.7 seeded\n127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\nagentbox\n"+
		"head: /proc/kcore: Permission denied\nkcore=1\n", string(first))
	require.NoError(t, exec.CommandContext(ctx, runc, "delete", id).Run())

	// As uid 1000, which runc drops to after it installed the filter (noNewPrivileges false):
	// the agent answers runc's init as that uid, and the container gets EACCES on a root-only
	// file.
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "secret"), []byte("s\n"), 0o600))
	process["user"] = map[string]any{"uid": 1000, "gid": 1000}
	process["noNewPrivileges"] = false
	process["args"] = []string{"/bin/sh", "-c", "cat /secret; echo rc=$?; hostname"}
	b, err = json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644))
	id2 := id + "-uid"
	defer exec.Command(runc, "delete", "-f", id2).Run()
	run = exec.CommandContext(ctx, runc, "run", "--bundle", dir, id2)
	var uidOut, uidErr bytes.Buffer
	run.Stdout, run.Stderr = &uidOut, &uidErr
	require.NoError(t, run.Run(), "runc run as uid 1000: %s; agent: %s", uidErr.String(), agentErr.String())
	require.Equal(t, "rc=1\nagentbox\n", uidOut.String())
	require.Equal(t, "cat: can't open '/secret': Permission denied\n", uidErr.String())

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
	require.Equal(t, 2, strings.Count(agentErr.String(), "container started"), "runc exec shares the container's state: %s", agentErr.String())
}
