package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// containerRuntime is an OCI runtime binary (runc or crun) that container tests drive.
type containerRuntime struct {
	name string
	path string
	// wrap runs the runtime under another command: crun on a host with a hybrid cgroup mount.
	wrap []string
}

// findRuntime returns the runtime name ("runc" or "crun"), or skips the test saying why.
func findRuntime(t *testing.T, name string) *containerRuntime {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipped: %s runs containers as root only", name)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("skipped: %s is not installed (Debian package %s)", name, name)
	}
	rt := &containerRuntime{name: name, path: path}
	if name == "crun" && hybridCgroups() {
		// crun 1.8.1 refuses a hybrid cgroup mount ("cgroups in hybrid mode not supported");
		// without the cgroup2 mount it sees cgroup v1 only. The unmount happens in a private
		// mount namespace of crun's own, never on the host.
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("skipped: crun needs unshare (Debian package util-linux) on a hybrid cgroup host")
		}
		rt.wrap = []string{unshare, "--mount", "--propagation", "private", "sh", "-c",
			`umount /sys/fs/cgroup/unified && exec "$0" "$@"`}
	}
	return rt
}

// hybridCgroups reports whether cgroup v1 hierarchies sit beside a cgroup2 mount at
// /sys/fs/cgroup/unified, as crun's libcrun_get_cgroup_mode decides it.
func hybridCgroups() bool {
	var fs unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &fs) != nil || fs.Type != unix.TMPFS_MAGIC {
		return false
	}
	return unix.Statfs("/sys/fs/cgroup/unified", &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC
}

// command returns the runtime run with args.
func (rt *containerRuntime) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, rt.wrap...), rt.path), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// run runs the bundle's container as id in the foreground and returns its output.
func (rt *containerRuntime) run(ctx context.Context, b *testBundle, id string) (stdout, stderr string, err error) {
	b.t.Cleanup(func() { rt.delete(id) })
	cmd := rt.command(ctx, "run", "--bundle", b.dir, id)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// start runs the bundle's container as id detached; its output goes to the file it returns.
func (rt *containerRuntime) start(ctx context.Context, b *testBundle, id string) (outFile string, err error) {
	b.t.Cleanup(func() { rt.delete(id) })
	outFile = filepath.Join(b.dir, id+".out")
	f, err := os.Create(outFile)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := rt.command(ctx, "run", "-d", "--bundle", b.dir, id)
	cmd.Stdout, cmd.Stderr = f, f
	return outFile, cmd.Run()
}

// exec runs args in the running container id and returns their combined output.
func (rt *containerRuntime) exec(ctx context.Context, id string, args ...string) ([]byte, error) {
	return rt.command(ctx, append([]string{"exec", id}, args...)...).CombinedOutput()
}

// status returns the container's status ("created", "running", "stopped") from `state`.
func (rt *containerRuntime) status(ctx context.Context, id string) (string, error) {
	out, err := rt.command(ctx, "state", id).Output()
	if err != nil {
		return "", err
	}
	var st struct{ Status string }
	err = json.Unmarshal(out, &st)
	return st.Status, err
}

// touchToEnd creates path in the container, which ends a container whose program waits for
// it, and waits until it has stopped. The container may end, and the kernel kill the rest of
// its pid namespace, before touch itself has exited: the exec then reports SIGKILL (137),
// which is the end asked for.
func (rt *containerRuntime) touchToEnd(t *testing.T, ctx context.Context, id, path string) {
	t.Helper()
	out, err := rt.exec(ctx, id, "/bin/touch", path)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 128+int(unix.SIGKILL) {
		err = nil
	}
	require.NoError(t, err, "%s exec touch %s: %s", rt.name, path, out)
	rt.waitStopped(t, ctx, id)
}

// waitStopped polls the container's status until it is stopped or ctx ends.
func (rt *containerRuntime) waitStopped(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	for {
		st, err := rt.status(ctx, id)
		require.NoError(t, err, "%s state %s", rt.name, id)
		if st == "stopped" {
			return
		}
		require.NoError(t, ctx.Err(), "container %s did not stop", id)
		time.Sleep(20 * time.Millisecond)
	}
}

// delete removes the container id, killing it first if it runs.
func (rt *containerRuntime) delete(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return rt.command(ctx, "delete", "-f", id).Run()
}

// testBundle is an OCI bundle in a temporary directory: a busybox root file system and the
// config.json the runtime's `spec` wrote, decoded for the test to edit before write.
type testBundle struct {
	t      *testing.T
	dir    string
	rootfs string
	cfg    map[string]any
}

// bundleCommands are the busybox applets a bundle's /bin links to.
var bundleCommands = []string{"sh", "cat", "head", "sleep", "touch", "hostname", "echo", "ls", "ln", "id"}

// newTestBundle makes a bundle for rt with busybox in its root; skips without busybox.
func newTestBundle(t *testing.T, rt *containerRuntime) *testBundle {
	t.Helper()
	const busybox = "/bin/busybox"
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Skip("skipped: /bin/busybox is missing (Debian package busybox-static)")
	}
	b := &testBundle{t: t, dir: t.TempDir()}
	b.rootfs = filepath.Join(b.dir, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "dev", "sys", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(b.rootfs, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(b.rootfs, "bin/busybox"), bb, 0o755))
	for _, c := range bundleCommands {
		require.NoError(t, os.Symlink("busybox", filepath.Join(b.rootfs, "bin", c)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := rt.command(ctx, "spec")
	spec.Dir = b.dir
	out, err := spec.CombinedOutput()
	require.NoError(t, err, "%s spec: %s", rt.name, out)
	raw, err := os.ReadFile(filepath.Join(b.dir, "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &b.cfg))
	b.process()["terminal"] = false
	b.cfg["root"].(map[string]any)["readonly"] = false
	return b
}

// file writes content with mode at path (absolute, inside the container) in the root.
func (b *testBundle) file(path, content string, mode os.FileMode) {
	b.t.Helper()
	p := filepath.Join(b.rootfs, path)
	require.NoError(b.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(b.t, os.WriteFile(p, []byte(content), mode))
	require.NoError(b.t, os.Chmod(p, mode))
}

// process returns config.json's process object, for edits the helpers below do not cover.
func (b *testBundle) process() map[string]any { return b.cfg["process"].(map[string]any) }

// args sets the container's command.
func (b *testBundle) args(args ...string) { b.process()["args"] = args }

// user sets the uid and gid the container's process runs as.
func (b *testBundle) user(uid, gid int) { b.process()["user"] = map[string]any{"uid": uid, "gid": gid} }

// hostname sets the host name the runtime gives the container's UTS namespace.
func (b *testBundle) hostname(name string) { b.cfg["hostname"] = name }

// shareNamespace drops the namespace of kind ("pid", "network", ...) from the config, so the
// container shares the host's.
func (b *testBundle) shareNamespace(kind string) {
	linux := b.cfg["linux"].(map[string]any)
	var kept []any
	for _, ns := range linux["namespaces"].([]any) {
		if ns.(map[string]any)["type"] != kind {
			kept = append(kept, ns)
		}
	}
	linux["namespaces"] = kept
}

// seccomp sets linux.seccomp to the JSON section (what `scrim oci profile` prints).
func (b *testBundle) seccomp(section string) {
	b.t.Helper()
	var s map[string]any
	require.NoError(b.t, json.Unmarshal([]byte(section), &s))
	b.cfg["linux"].(map[string]any)["seccomp"] = s
}

// write writes config.json; call it after the edits and before each run.
func (b *testBundle) write() {
	b.t.Helper()
	raw, err := json.MarshalIndent(b.cfg, "", "\t")
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join(b.dir, "config.json"), raw, 0o644))
}
