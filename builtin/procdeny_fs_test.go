package builtin

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestLinkableSkipsKernelFilesystems checks which denied directories the start-up scan for
// hard links walks: the default list's kernel filesystems have no link(2), and walking
// tracefs alone cost every start about 28,000 system calls.
func TestLinkableSkipsKernelFilesystems(t *testing.T) {
	for _, fs := range []int64{unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.TRACEFS_MAGIC, unix.DEBUGFS_MAGIC,
		unix.SECURITYFS_MAGIC, configfsMagic, unix.BPF_FS_MAGIC, unix.CGROUP2_SUPER_MAGIC} {
		require.False(t, linkable(fs), "%#x", fs)
	}
	for _, fs := range []int64{unix.EXT4_SUPER_MAGIC, unix.TMPFS_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.OVERLAYFS_SUPER_MAGIC} {
		require.True(t, linkable(fs), "%#x", fs)
	}
}

// TestMaskedDenyLeavesDevNull: a container runtime masks /proc/keys and /proc/timer_list with
// a bind mount of /dev/null. A denied path that leads to /dev/null stays denied by its name,
// but /dev/null itself, under its own name or any other, is not denied: before, every
// container under the agent got EACCES on /dev/null. A symlink stands in for the mount.
func TestMaskedDenyLeavesDevNull(t *testing.T) {
	masked := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.Symlink("/dev/null", masked))
	h := build(t, Options{Deny: []string{masked}}, idProcDeny, &fakeSandbox{})
	require.Equal(t, shim.Deny(unix.EACCES), open(t, h, masked, unix.O_RDONLY))
	for _, flags := range []int{unix.O_RDONLY, unix.O_WRONLY} {
		require.Equal(t, shim.ActNext, open(t, h, "/dev/null", flags).Action)
	}
	obj, ok, err := objectInRoot("/", "/dev/null")
	require.NoError(t, err)
	require.True(t, ok)
	other := &shim.Request{Path: []byte("/tmp/x/null"), Object: shim.Object{Exists: true, Dev: 42, Ino: 9, Mode: unix.S_IFCHR | 0o666, Rdev: obj.Rdev}}
	res, err := h.Open(context.Background(), other)
	require.NoError(t, err)
	require.Equal(t, shim.ActNext, res.Action, "another node of the null device")

	h = build(t, Options{Deny: []string{"/dev/null"}}, idProcDeny, &fakeSandbox{})
	res, err = h.Open(context.Background(), other)
	require.NoError(t, err)
	require.Equal(t, shim.Deny(unix.EACCES), res, "a deny entry that names /dev/null denies it under every name")
}
