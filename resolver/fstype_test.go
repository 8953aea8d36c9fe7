package resolver

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestFsTypeOf checks the filesystem type cache of the fast path: a file on a block device
// gets its statfs type, the second time from the cache, and procfs, on an anonymous device,
// is told as procfs every time.
func TestFsTypeOf(t *testing.T) {
	var r Resolver
	typeOf := func(path string) (int64, bool, unix.Statx_t) {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		defer unix.Close(fd)
		var st unix.Statx_t
		require.NoError(t, statFd(fd, &st))
		typ, ok := r.fsTypeOf(fd, &st)
		return typ, ok, st
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, path := range []string{exe, "/proc/self/status", "/proc/self/status"} {
		typ, ok, st := typeOf(path)
		require.True(t, ok, path)
		var sfs unix.Statfs_t
		require.NoError(t, unix.Statfs(path, &sfs))
		require.Equal(t, sfs.Type, typ, path)
		if st.Dev_major == 0 {
			m := r.blockFsTypes.Load()
			if m != nil {
				_, cached := (*m)[unix.Mkdev(st.Dev_major, st.Dev_minor)]
				require.False(t, cached, "%s is on an anonymous device and must never be cached", path)
			}
		}
	}
	_, proc := r.onProc(func() int {
		fd, err := unix.Open("/proc/self/status", unix.O_PATH|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}(), func() *unix.Statx_t {
		var st unix.Statx_t
		require.NoError(t, unix.Statx(unix.AT_FDCWD, "/proc/self/status", 0, unix.STATX_BASIC_STATS, &st))
		return &st
	}())
	require.True(t, proc, "procfs must go to the walk")

	// A block device's type is answered from the cache without asking the kernel: a made-up
	// device number with no descriptor behind it still gets its cached type.
	fake := unix.Statx_t{Dev_major: 250, Dev_minor: 99}
	m := map[uint64]int64{unix.Mkdev(250, 99): 0x1234}
	r.blockFsTypes.Store(&m)
	typ, ok := r.fsTypeOf(-1, &fake)
	require.True(t, ok)
	require.Equal(t, int64(0x1234), typ)
}
