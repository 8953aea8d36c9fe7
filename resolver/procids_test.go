package resolver

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestProcIDsNumberSelf: with Options.ProcIDs, /proc/self and /proc/thread-self name the
// caller by the numbers ProcIDs gives (a container's procfs numbers its processes in its own
// pid namespace), and the descriptors under that number are still the caller's own. Here the
// caller a is "known" by the number of another process b, as a procfs of another namespace
// would know it.
func TestProcIDsNumberSelf(t *testing.T) {
	root := tree(t)
	g, err := os.Open(root + "/d/sub/g")
	require.NoError(t, err)
	defer g.Close()
	start := func(extra ...*os.File) int {
		cmd := exec.Command("sleep", "60")
		cmd.ExtraFiles = extra
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		return cmd.Process.Pid
	}
	other, err := os.Open(root + "/d/f")
	require.NoError(t, err)
	defer other.Close()
	a, b := start(g), start(other)
	r, err := New(Options{ProcIDs: func(pid, tid int) (int, int) {
		if pid == a && tid == a {
			return b, b
		}
		return 0, 0
	}})
	require.NoError(t, err)
	defer r.Close()
	sb := strconv.Itoa(b)
	for _, tc := range []struct{ path, want string }{
		{"/proc/self/status", "/proc/" + sb + "/status"},
		{"/proc/thread-self/status", "/proc/" + sb + "/task/" + sb + "/status"},
		// b's descriptor 3 is another file: the caller's own is meant.
		{"/proc/self/fd/3", root + "/d/sub/g"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			in := Input{Syscall: shim.SysOpenat, PID: a, TID: a, Dirfd: unix.AT_FDCWD, Path: []byte(tc.path)}
			f, res, err := ourOpen(r, procChild{a}, in)
			if res != nil {
				defer res.Close()
			}
			require.NoError(t, err)
			defer f.Close()
			require.Equal(t, tc.want, string(res.Request.Path))
			var want, got unix.Stat_t
			require.NoError(t, unix.Stat(tc.want, &want))
			require.NoError(t, unix.Fstat(int(f.Fd()), &got))
			require.Equal(t, want.Ino, got.Ino)
		})
	}
}
