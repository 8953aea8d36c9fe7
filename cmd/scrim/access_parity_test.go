package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// scrimUnprivileged runs scrim as a user the permission bits apply to: this one, or nobody
// (65534) when the tests run as root, whom no bit stops, in an environment without a home.
func scrimUnprivileged(t *testing.T, args ...string) result {
	t.Helper()
	bin := scrimBin
	cmd := exec.Command(bin, args...)
	if os.Geteuid() == 0 {
		// scrimBin's directory is root's alone; nobody needs a copy it may execute.
		dir, err := os.MkdirTemp("", "scrim-nobody-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o755))
		data, err := os.ReadFile(scrimBin)
		require.NoError(t, err)
		bin = filepath.Join(dir, "scrim")
		require.NoError(t, os.WriteFile(bin, data, 0o755))
		cmd = exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = "/"
	}
	cmd.Env = []string{"HOME=/nonexistent", "PATH=/usr/bin:/bin"}
	return runResult(t, cmd)
}

// TestCheckRunParity_Access: a working directory scrim's user may not enter and an audit log it
// may not write (or a directory given as one) stop scrim check as they stop scrim run, with the
// same message naming the flag, before anything starts; scrim run used to say only that its
// keeper could not be started, and scrim check said OK.
func TestCheckRunParity_Access(t *testing.T) {
	base, err := os.MkdirTemp("", "scrim-access-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	closed := filepath.Join(base, "closed")
	require.NoError(t, os.Mkdir(closed, 0o755))
	require.NoError(t, os.Chmod(closed, 0)) // no one but root may enter it
	readonly := filepath.Join(base, "readonly")
	require.NoError(t, os.Mkdir(readonly, 0o555))
	log := filepath.Join(base, "log.jsonl")
	require.NoError(t, os.WriteFile(log, nil, 0o444))
	open := filepath.Join(base, "open")
	require.NoError(t, os.Mkdir(open, 0o777))
	require.NoError(t, os.Chmod(open, 0o777)) // past the umask
	marker := filepath.Join(open, "ran")

	tests := []struct {
		name  string
		flags []string
		want  string // the message after "scrim CMD: "
	}{
		{name: "cwd not enterable", flags: []string{"--cwd", closed},
			want: "--cwd: " + closed + " cannot be entered: permission denied; allowed: an existing directory, or none for scrim's own\n"},
		{name: "audit in a read-only directory", flags: []string{"--audit", filepath.Join(readonly, "a.jsonl")},
			want: "--audit: directory of " + filepath.Join(readonly, "a.jsonl") + ": " + readonly + " cannot be written: permission denied; allowed: a file in a directory scrim's user may write\n"},
		{name: "audit read-only", flags: []string{"--audit", log},
			want: "--audit: " + log + " cannot be written: permission denied; allowed: a file scrim's user may write\n"},
		{name: "audit a directory", flags: []string{"--audit", open},
			want: "--audit: " + open + " is a directory; allowed: a file, or a path where one can be created\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := scrimUnprivileged(t, append([]string{"check"}, tc.flags...)...)
			run := scrimUnprivileged(t, append(append([]string{"run"}, tc.flags...), "--", "touch", marker)...)
			require.Equal(t, exitFailure, check.code, check.stderr)
			require.Equal(t, exitFailure, run.code, run.stderr)
			require.Equal(t, "scrim check: "+tc.want, check.stderr)
			require.Equal(t, "scrim run: "+tc.want, run.stderr)
			require.Empty(t, check.stdout, "check printed nothing of what would run")
			require.NoFileExists(t, marker, "the program did not run")
		})
	}

	// What the user may use passes both, and the program runs there.
	r := scrimUnprivileged(t, "run", "--cwd", open, "--audit", filepath.Join(open, "a.jsonl"), "--", "touch", "ran")
	require.Equal(t, 0, r.code, r.stderr)
	require.FileExists(t, marker)
	r = scrimUnprivileged(t, "check", "--cwd", open, "--audit", filepath.Join(open, "a.jsonl"))
	require.Equal(t, 0, r.code, r.stderr)
	require.True(t, strings.Contains(r.stdout, "audit"), r.stdout)
}

// TestCheckRunParity_ImageMountPoints: an image without /proc (or a mount's target) that the
// stub cannot create, being read-only or not writable by scrim's user, stops scrim check as it
// stops scrim run, placed at --chroot; run used to fail in the stub, after starting, and
// check said OK.
func TestCheckRunParity_ImageMountPoints(t *testing.T) {
	base, err := os.MkdirTemp("", "scrim-image-")
	require.NoError(t, err)
	t.Cleanup(func() { os.Chmod(filepath.Join(base, "closed"), 0o755); os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	img := filepath.Join(base, "img")
	require.NoError(t, os.MkdirAll(filepath.Join(img, "bin"), 0o755))
	closed := filepath.Join(base, "closed")
	require.NoError(t, os.MkdirAll(filepath.Join(closed, "bin"), 0o755))
	require.NoError(t, os.Chmod(closed, 0o555)) // scrim's user may not create /proc in it

	tests := []struct {
		name  string
		flags []string
		want  string
	}{
		{name: "read-only image", flags: []string{"--chroot", img, "--chroot-readonly"},
			want: "--chroot: mount point /proc: the read-only image " + img + " has none; create it in the image, or make the image writable\n"},
		{name: "image scrim's user may not write", flags: []string{"--chroot", closed},
			want: "--chroot: mount point /proc: the image " + closed + " has none, and scrim cannot create it in /: permission denied; create it in the image, or run scrim as a user who may\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := scrimUnprivileged(t, append([]string{"check"}, tc.flags...)...)
			run := scrimUnprivileged(t, append(append([]string{"run"}, tc.flags...), "--", "/bin/true")...)
			require.Equal(t, exitFailure, check.code, check.stderr)
			require.Equal(t, exitFailure, run.code, run.stderr)
			require.Equal(t, "scrim check: "+tc.want, check.stderr)
			require.Equal(t, "scrim run: "+tc.want, run.stderr)
		})
	}
	require.NoDirExists(t, filepath.Join(img, "proc"), "the read-only image was left as it was")
}
