package launch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// subtree is a membership that is not scrim's keeper tree: a process and its descendants, as
// a container's pid namespace would give.
type subtree struct{ root int }

func (s subtree) Contains(pid int) bool {
	return pid == s.root || pid > 0 && descends(unix.AT_FDCWD, pid, s.root)
}

func (s subtree) Pids() []int {
	names, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, n := range names {
		if pid, err := strconv.Atoi(filepath.Base(n)); err == nil && s.Contains(pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// coreBox is one sandbox of TestTwoCoresInOneProcess: a stub started by the test itself, no
// keeper, and a core of its own.
type coreBox struct {
	cmd   *exec.Cmd
	core  *supervisor.Core
	out   bytes.Buffer
	audit *memAudit
}

// startCoreBox starts script as a stub under scrim's filter, builds a core for its listener
// with its own membership and a shim that serves hostname, and lets the command run.
func startCoreBox(t *testing.T, ctx context.Context, hostname, script string) *coreBox {
	t.Helper()
	prog, err := supervisor.Filter(supervisor.FilterOptions{Stat: true})
	require.NoError(t, err)
	sock, stubEnd, err := socketPair("stub")
	require.NoError(t, err)
	defer sock.Close()
	b := &coreBox{audit: &memAudit{}}
	b.cmd = &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{stubArg0, kernel.Domain{}.String(), closedArg(nil), "sh", "-c", script},
		Env:         os.Environ(),
		Stdout:      &b.out,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{stubEnd},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	require.NoError(t, b.cmd.Start())
	stubEnd.Close()
	sfd := int(sock.Fd())
	var flags uint32
	if kernel.Detect().WaitKillableRecv {
		flags = unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	require.NoError(t, sendFilter(sfd, prog, flags, nil))
	listener, killable, failed, err := receiveListener(sfd)
	require.NoError(t, err)
	require.Nil(t, failed)
	b.core, err = supervisor.New(supervisor.Config{
		Listener: supervisor.Listener{Fd: listener, Killable: killable, NotifiesCredCalls: true},
		Members:  subtree{root: b.cmd.Process.Pid},
		Root:     "/",
		Handlers: []shim.Registration{{Handler: &fixedShim{id: "test.hostname", path: "/etc/hostname", data: []byte(hostname + "\n")}, Band: shim.BandVirtual}},
		Stat:     true,
		Log:      testLogger().Named(hostname),
		Audit:    b.audit,
	})
	require.NoError(t, err)
	b.core.Start(ctx)
	_, err = unix.Write(sfd, []byte{msgGo})
	require.NoError(t, err)
	// End of stream: the stub executed the command.
	n, _, err := recvmsg(sfd, make([]byte, 64), nil)
	require.NoError(t, err)
	require.Zero(t, n)
	return b
}

// subreaper reads PR_GET_CHILD_SUBREAPER for this process.
func subreaper(t *testing.T) int {
	var v int32
	require.NoError(t, unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0))
	return int(v)
}

// TestTwoCoresInOneProcess: two sandboxes from two listeners, neither made by Run, mediated at
// once in this process by two cores, each with its own membership, chain and state. Each sees
// its own /etc/hostname and its own processes under /proc, never the other's, and the cores
// touch no process-wide setting but their share of GOMAXPROCS, given back when they stop.
func TestTwoCoresInOneProcess(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("skipped: GOMAXPROCS is set, and the cores leave it alone")
	}
	procs := runtime.GOMAXPROCS(0)
	require.Zero(t, subreaper(t))
	dir := t.TempDir()
	// Both run until each has looked for the other while the other is alive.
	script := func(me, other string) string {
		return fmt.Sprintf(`cd %[1]s; echo $$ > %[2]s.tmp && mv %[2]s.tmp %[2]s.pid
while [ ! -e %[3]s.pid ]; do sleep 0.01; done
peer=$(cat %[3]s.pid)
cat /etc/hostname
if [ -e /proc/$peer ]; then echo "sees $peer"; else echo hides peer; fi
if [ -e /proc/$$/status ]; then echo sees self; fi
touch %[2]s.done
while [ ! -e %[3]s.done ]; do sleep 0.01; done`, dir, me, other)
	}
	// A child's parent-death signal follows the thread that forked it: keep this one for the
	// test, or a goroutine that locks and ends it (a worker, a probe) would kill the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	var boxes [2]*coreBox
	for i, name := range []string{"alpha", "beta"} {
		boxes[i] = startCoreBox(t, ctx, name, script(name, []string{"beta", "alpha"}[i]))
	}
	require.Greater(t, runtime.GOMAXPROCS(0), procs, "each running core adds its lanes' Ps")
	require.Zero(t, subreaper(t), "a core makes no subreaper")
	for i, b := range boxes {
		require.NoError(t, b.cmd.Wait(), "sandbox %d", i)
		b.core.Stop()
	}
	require.Equal(t, procs, runtime.GOMAXPROCS(0), "the cores gave their Ps back")
	for i, name := range []string{"alpha", "beta"} {
		require.Equal(t, name+"\nhides peer\nsees self\n", boxes[i].out.String())
		recs := boxes[i].audit.find("/etc/hostname")
		require.NotEmpty(t, recs)
		other := boxes[1-i].cmd.Process.Pid
		for _, r := range boxes[i].audit.all() {
			require.NotEqual(t, other, r.PID, "a record of the other sandbox's call")
		}
		require.Equal(t, "test.hostname", recs[0].Handler)
		require.False(t, strings.Contains(boxes[i].out.String(), "sees "+strconv.Itoa(other)))
	}
}
