package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// TestWatch: inotify_add_watch is decided like the other look-ups. A watch of an ordinary
// directory reports its events; a served file can be watched; a denied directory cannot (a
// watch would report the names made beneath it, which a listing refuses to show); an
// outsider's /proc entry does not exist; the kernel's argument errors are kept.
func TestWatch(t *testing.T) {
	src, err := os.ReadFile("testdata/watchprobe.c")
	require.NoError(t, err)
	probe := testprog.C(t, string(src))
	top := t.TempDir()
	require.NoError(t, os.Chmod(top, 0o777))
	open := filepath.Join(top, "open")
	denied := filepath.Join(top, "denied")
	for _, d := range []string{open, denied} {
		require.NoError(t, os.Mkdir(d, 0o777))
	}
	toDenied := filepath.Join(top, "to-denied")
	require.NoError(t, os.Symlink(denied, toDenied))
	host := strconv.Itoa(hostProcess(t))
	args := []string{
		"events", open,
		"watch", "/etc/hosts",
		"watch", denied,
		"watch", filepath.Join(denied, "nothing"),
		"watch", "/proc/" + host,
		"watch", "/proc/self",
		"watch", toDenied,
		"nofollow", toDenied,
		"badfd", open,
		"notinotify", open,
		"nomask", open,
	}
	native, err := exec.Command(probe, args...).Output()
	require.NoError(t, err)
	require.Equal(t, "event new\nOK\nOK\nENOENT\nOK\nOK\nOK\nOK\nEBADF\nEINVAL\nEINVAL\n", string(native))

	require.NoError(t, os.Remove(filepath.Join(open, "new")))
	regs, sys, err := builtin.New(builtin.Options{Deny: []string{denied}})
	require.NoError(t, err)
	status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...), Handlers: regs, SyscallHandlers: sys})
	require.Equal(t, 0, status, serr)
	// A symlink to the denied directory may be watched itself (IN_DONT_FOLLOW), not followed.
	require.Equal(t, "event new\nOK\nEACCES\nEACCES\nENOENT\nOK\nEACCES\nOK\nEBADF\nEINVAL\nEINVAL\n", out)
}
