package launch

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/internal/procfs"
	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// boundaries are the two ways scrim keeps the sandbox's signals in: the kernel's Landlock
// signal scope, and, where the kernel has none, the filter and signal.go (forced here with
// NoLandlock). outside is the errno a signal to a process outside gets.
var boundaries = []struct {
	name       string
	noLandlock bool
	outside    string
}{
	{"landlock", false, "EPERM"},
	{"filter", true, "ESRCH"},
}

// needSignalScope skips a test of what the Landlock domain enforces on a kernel that cannot.
func needSignalScope(t *testing.T, noLandlock bool) {
	t.Helper()
	if !noLandlock && !kernel.PlanDomain(kernel.Detect().Landlock, false).ScopesSignals() {
		t.Skip("the kernel has no Landlock ABI 6: signals from the sandbox are not scoped")
	}
}

// hostProcess starts a process outside the sandbox, unrelated to it, and returns its pid.
func hostProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "120")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// procState is the state letter of /proc/PID/stat ("T" for stopped), or "" when pid is gone.
func procState(pid int) string {
	st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(pid))
	if !ok {
		return ""
	}
	return string(st.State)
}

// parseLines reads "name result" lines into a map.
func parseLines(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, res, ok := strings.Cut(line, " ")
		require.True(t, ok, line)
		got[name] = res
	}
	return got
}

// TestBoundary runs a program that tries to copy descriptors from, and signal, scrim, its
// keeper, an unrelated host process and every other pid, and to use the root-only channels out
// of the sandbox. Every attempt must fail; as root that is the filter's and Landlock's doing,
// not the permissions'.
func TestBoundary(t *testing.T) {
	for _, b := range boundaries {
		t.Run(b.name, func(t *testing.T) { testBoundary(t, b.noLandlock, b.outside) })
	}
}

func testBoundary(t *testing.T, noLandlock bool, outside string) {
	needSignalScope(t, noLandlock)
	src, err := os.ReadFile("testdata/boundary.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	host := hostProcess(t)
	dir := t.TempDir()
	status, out, serr := runOut(t, Config{NoLandlock: noLandlock, Args: []string{prog, strconv.Itoa(os.Getpid()), strconv.Itoa(host), dir}})
	require.Equal(t, 0, status, serr)
	got := parseLines(t, out)

	want := map[string]string{
		"getfd_every_pid":  "copied 0 listeners 0",
		"klogctl_read_all": "EPERM",
		"klogctl_size":     "EPERM",
		"fanotify_init":    "EPERM",
		"acct":             "EPERM",
		"swapon":           "EPERM",
		"swapoff":          "EPERM",
		"quotactl":         "EPERM",
		"quotactl_fd":      "EPERM",
		"mknod_char":       "EPERM",
		"mknodat_block":    "EPERM",
		"mknod_fifo":       "OK",
		"ioctl_tiocsti":    "EPERM",
		"ioctl_tioclinux":  "EPERM",
		"ioctl_tcgets":     "EBADF",
		"keyctl":           "ENOSYS",
		"add_key":          "ENOSYS",
		"request_key":      "ENOSYS",
	}
	for _, who := range []string{"keeper", "scrim", "host"} {
		want["getfd_"+who] = outside
		for _, sig := range []string{"0", "STOP", "KILL"} {
			for _, call := range []string{"kill", "tgkill", "tkill", "sigqueue", "pidfd_signal"} {
				want[call+"_"+sig+"_"+who] = outside
			}
		}
	}
	require.Equal(t, want, got)
	require.NotEqual(t, "T", procState(host), "the host process was stopped")
	_, err = os.Lstat(filepath.Join(dir, "kmsg-made-inside"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestBoundaryKillAll: kill(-1, SIGSTOP) from inside stops nothing outside, and a shell's
// kill 0 still reaches the sandbox's own processes.
func TestBoundaryKillAll(t *testing.T) {
	for _, b := range boundaries {
		t.Run(b.name, func(t *testing.T) { testBoundaryKillAll(t, b.noLandlock) })
	}
}

func testBoundaryKillAll(t *testing.T, noLandlock bool) {
	needSignalScope(t, noLandlock)
	src, err := os.ReadFile("testdata/boundary.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	host := hostProcess(t)
	status, out, serr := runOut(t, Config{NoLandlock: noLandlock, Args: []string{prog, "killall"}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, map[string]string{
		"kill_all_stop":    "OK",
		"own_child_state":  "T",
		"kill_group_term":  "OK",
		"own_child_signal": "15",
	}, parseLines(t, out))
	require.NotEqual(t, "T", procState(host), "the host process was stopped")
	require.NotEqual(t, "T", procState(os.Getpid()), "scrim was stopped")
}

// TestStopParentEndsPromptly: a program that tries to stop its parent (the keeper) and exits
// does not leave scrim waiting.
func TestStopParentEndsPromptly(t *testing.T) {
	for _, b := range boundaries {
		t.Run(b.name, func(t *testing.T) {
			start := time.Now()
			status, _, serr := runOut(t, Config{NoLandlock: b.noLandlock, Args: []string{"sh", "-c", "kill -STOP $PPID; exit 0"}})
			require.Equal(t, 0, status, serr)
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

// TestMoveAcrossDirectories: the Landlock domain grants moving and linking between
// directories; without it every rename into another directory would fail with EXDEV.
func TestMoveAcrossDirectories(t *testing.T) {
	dir := t.TempDir()
	script := `set -e; cd "$1"; mkdir -p a b x
echo one > a/f
mv a/f b/f
ln b/f a/g
mv a b/a
tar cf t.tar b
cd x && tar xf ../t.tar && cd ..
cat x/b/f x/b/a/g
python3 -c 'import os; os.rename("b/f", "x/moved")' 2>/dev/null || mv b/f x/moved
cat x/moved
`
	if _, err := exec.LookPath("git"); err == nil {
		script += `git init -q repo && cd repo && echo hi > file && git add file &&
git -c user.name=t -c user.email=t@t commit -qm first && git mv file moved && git -c user.name=t -c user.email=t@t commit -qm mv && git log --oneline | wc -l
`
	}
	status, out, serr := runOut(t, Config{Args: []string{"sh", "-c", script, "sh", dir}})
	require.Equal(t, 0, status, serr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, []string{"one", "one", "one"}, lines[:3], out)
	if len(lines) > 3 {
		require.Equal(t, "2", lines[3])
	}
}

// TestDeniedDeviceMadeBefore: a device node with /dev/kmsg's numbers, made outside before the
// run under another name, is denied like /dev/kmsg.
func TestDeniedDeviceMadeBefore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a device node")
	}
	dir := t.TempDir()
	node := filepath.Join(dir, "not-kmsg")
	require.NoError(t, unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))))
	regs, sys, err := builtin.New(builtin.Options{})
	require.NoError(t, err)
	status, out, serr := runOut(t, Config{
		Args:            []string{"sh", "-c", `head -c 1 "$1" >/dev/null 2>&1 && echo read || echo denied`, "sh", node},
		Handlers:        regs,
		SyscallHandlers: sys,
	})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "denied\n", out)
}

// TestScopeAbstractUnix: with ScopeAbstractUnix the sandbox cannot connect to an abstract unix
// socket bound outside it; without, it can (X11 and D-Bus listen there).
func TestScopeAbstractUnix(t *testing.T) {
	needSignalScope(t, false)
	src, err := os.ReadFile("testdata/boundary.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	name := fmt.Sprintf("scrim-test-%d", os.Getpid())
	l, err := net.Listen("unix", "@"+name)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, c := range []struct {
		scope bool
		want  string
	}{{false, "OK"}, {true, "EPERM"}} {
		status, out, serr := runOut(t, Config{ScopeAbstractUnix: c.scope, Args: []string{prog, "abstract", name}})
		require.Equal(t, 0, status, serr)
		require.Equal(t, "connect_abstract "+c.want+"\n", out, "scoped: %v", c.scope)
	}
}

// TestKeyringAllowed: Keyring lets the keyring calls through to the kernel.
func TestKeyringAllowed(t *testing.T) {
	src, err := os.ReadFile("testdata/boundary.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	host := hostProcess(t)
	status, out, serr := runOut(t, Config{Keyring: true, Args: []string{prog, strconv.Itoa(os.Getpid()), strconv.Itoa(host), t.TempDir()}})
	require.Equal(t, 0, status, serr)
	got := parseLines(t, out)
	// The kernel answers: the session keyring's id, or an errno of its own, never the filter's
	// ENOSYS.
	require.NotEqual(t, "ENOSYS", got["keyctl"])
	require.NotEqual(t, "ENOSYS", got["request_key"])
}
