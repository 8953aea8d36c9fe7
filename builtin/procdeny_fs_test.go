package builtin

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
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
