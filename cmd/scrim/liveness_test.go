package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// startScrim starts `scrim run ARGS...` and returns it with its stdout's lines.
func startScrim(t *testing.T, args ...string) (*exec.Cmd, <-chan string, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(scrimBin, append([]string{"run"}, args...)...)
	cmd.Env = testEnv(t)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines, stderr
}

// waitFor waits up to ten seconds for cmd to exit and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		exit, ok := err.(*exec.ExitError)
		require.True(t, ok, "wait: %v", err)
		return exit.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatal("scrim did not exit within 10s")
	}
	return 0
}

// sandboxPids starts, in the sandbox, a child that writes its pid to DIR/child and leaves
// behind a double-forked, setsid process that writes its pid to DIR/grand; both then run until
// killed, as do their children, with SIGTERM ignored. It returns the script.
func sandboxScript(dir string) string {
	return `trap '' TERM
(setsid sh -c 'echo $$ > ` + dir + `/grand.tmp; mv ` + dir + `/grand.tmp ` + dir + `/grand; exec sleep 1000' &)
echo $$ > ` + dir + `/child.tmp; mv ` + dir + `/child.tmp ` + dir + `/child
echo ready
while :; do sleep 0.05; done`
}

// pidfdOf waits for file to hold a pid and returns a pidfd of that process.
func pidfdOf(t *testing.T, file string) (int, int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(file); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			require.NoError(t, err)
			fd, err := unix.PidfdOpen(pid, 0)
			require.NoError(t, err, "pidfd_open %d", pid)
			t.Cleanup(func() { unix.Close(fd) })
			return pid, fd
		}
		require.True(t, time.Now().Before(deadline), "no %s within 10s", file)
		time.Sleep(5 * time.Millisecond)
	}
}

// requireGone requires that each pidfd's process exits within five seconds.
func requireGone(t *testing.T, what string, pidfds ...int) {
	t.Helper()
	for _, fd := range pidfds {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 5000)
		require.NoError(t, err)
		require.Equal(t, 1, n, "a process of the sandbox is still alive 5s after %s", what)
	}
}

// ppid is pid's parent.
func ppid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(f[1])
	require.NoError(t, err)
	return n
}

// state is pid's state letter in /proc/PID/stat.
func state(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f[0][0]
}

// TestRun_ChildStopsItsKeeper: the program stops its parent, the keeper, and exits; scrim
// continues the keeper and ends promptly with the program's status.
func TestRun_ChildStopsItsKeeper(t *testing.T) {
	start := time.Now()
	r := scrim(t, "run", "--", "sh", "-c", "kill -STOP $PPID; exit 0")
	require.Equal(t, 0, r.code, r.stderr)
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestRun_KillScrimWithStoppedKeeper: with scrim and the keeper stopped (by the test, as the
// program could on a kernel without Landlock signal scoping), SIGKILL to scrim leaves no
// process of the sandbox alive, not even a double-forked, setsid one.
func TestRun_KillScrimWithStoppedKeeper(t *testing.T) {
	dir := t.TempDir()
	cmd, lines, stderr := startScrim(t, "--", "sh", "-c", sandboxScript(dir))
	require.Equal(t, "ready", nextLine(t, lines), stderr.String())
	child, childfd := pidfdOf(t, filepath.Join(dir, "child"))
	_, grandfd := pidfdOf(t, filepath.Join(dir, "grand"))
	keeper := ppid(t, child)
	require.Equal(t, cmd.Process.Pid, ppid(t, keeper), "the child's parent is the keeper, scrim's child")
	keeperfd, err := unix.PidfdOpen(keeper, 0)
	require.NoError(t, err)
	defer unix.Close(keeperfd)
	// scrim continues a stopped keeper at once: stop scrim first, as the program could too.
	require.NoError(t, cmd.Process.Signal(syscall.SIGSTOP))
	require.Eventually(t, func() bool { return state(cmd.Process.Pid) == 'T' }, 5*time.Second, time.Millisecond)
	require.NoError(t, unix.Kill(keeper, unix.SIGSTOP))
	require.Eventually(t, func() bool { return state(keeper) == 'T' }, 5*time.Second, time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	waitExit(t, cmd)
	requireGone(t, "SIGKILL to scrim", childfd, grandfd, keeperfd)
}

// TestRun_TermGrace: SIGTERM to scrim reaches the program, which ignores it; after the grace
// period scrim kills the whole sandbox and exits 143.
func TestRun_TermGrace(t *testing.T) {
	dir := t.TempDir()
	const grace = 300 * time.Millisecond
	cmd, lines, stderr := startScrim(t, "--kill-grace", grace.String(), "--", "sh", "-c", sandboxScript(dir))
	require.Equal(t, "ready", nextLine(t, lines), stderr.String())
	_, childfd := pidfdOf(t, filepath.Join(dir, "child"))
	_, grandfd := pidfdOf(t, filepath.Join(dir, "grand"))
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	code := waitExit(t, cmd)
	took := time.Since(start)
	require.Equal(t, 143, code, stderr.String())
	require.GreaterOrEqual(t, took, grace)
	require.Less(t, took, grace+5*time.Second)
	requireGone(t, "the grace period", childfd, grandfd)
	t.Logf("SIGTERM to exit: %v (grace %v)", took, grace)
}

// TestRun_JobControlSignalsFromTheSandbox: SIGTSTP, SIGTTIN and SIGTTOU sent by the program to
// its process group (scrim's and the keeper's) and to the keeper stop neither.
func TestRun_JobControlSignalsFromTheSandbox(t *testing.T) {
	script := `trap '' TSTP TTIN TTOU
for s in TSTP TTIN TTOU; do kill -$s 0; kill -$s $PPID; done
sleep 0.3; echo alive`
	start := time.Now()
	r := scrim(t, "run", "--", "sh", "-c", script)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "alive\n", r.stdout)
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestRun_CtrlZStopsTheJob: under a job-control shell on a terminal, Ctrl-Z stops scrim's job
// (the keeper, which ignores SIGTSTP, does not hold it up) and fg continues it to the end.
func TestRun_CtrlZStopsTheJob(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("skipped: bash is not installed")
	}
	cmd := exec.Command(bash, "--norc", "--noprofile", "-i")
	cmd.Env = append(testEnv(t), "PS1=job-prompt$ ", "TERM=dumb", "INPUTRC=/dev/null", "HISTFILE=/dev/null", "SCRIM="+scrimBin)
	ts := onTerminal(t, cmd, nil)
	scr, press := ts.screen, ts.press
	at := scr.waitFor(t, 0, "job-prompt$ ")
	press(`"$SCRIM" run -- sh -c 'echo run''ning; sleep 1; echo fin''ished'` + "\n")
	at = scr.waitFor(t, at, "\nrunning")
	press("\x1a")
	at = scr.waitFor(t, at, "Stopped")
	at = scr.waitFor(t, at, "job-prompt$ ")
	press("fg\n")
	at = scr.waitFor(t, at, "finished")
	at = scr.waitFor(t, at, "job-prompt$ ")
	press("echo status=$?\n")
	scr.waitFor(t, at, "status=0")
}
