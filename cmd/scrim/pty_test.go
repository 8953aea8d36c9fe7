package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the controller the test types into and reads from, and
// the terminal scrim gets as its stdin, stdout, stderr and controlling terminal.
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("skipped: no pseudo-terminals on this machine: %v", err)
	}
	fd := int(ptmx.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0), "unlockpt")
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err, "ptsname")
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { ptmx.Close(); pts.Close() })
	return ptmx, pts
}

// termSession is a command running on a pseudo-terminal (onTerminal).
type termSession struct {
	t *testing.T
	// screen is everything the terminal has shown; controller is its other end, which the
	// test types into and resizes; waited gets what the command's Wait returns.
	screen     *screen
	controller *os.File
	waited     chan error
}

// press types s into the terminal.
func (ts *termSession) press(s string) {
	_, err := ts.controller.WriteString(s)
	require.NoError(ts.t, err)
}

// onTerminal starts cmd as the leader of a new session whose controlling terminal is a fresh
// pseudo-terminal of size (nil: the default), as a login shell would be. cmd is killed when
// the test ends.
func onTerminal(t *testing.T, cmd *exec.Cmd, size *unix.Winsize) *termSession {
	t.Helper()
	controller, terminal := openPTY(t)
	if size != nil {
		require.NoError(t, unix.IoctlSetWinsize(int(controller.Fd()), unix.TIOCSWINSZ, size))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = terminal, terminal, terminal
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	terminal.Close()
	ts := &termSession{t: t, screen: new(screen), controller: controller, waited: make(chan error, 1)}
	go func() { ts.waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-ts.waited
	})
	go ts.screen.read(controller)
	return ts
}

// screen collects everything the terminal shows.
type screen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *screen) read(f *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := f.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want after offset and returns the offset after it.
func (s *screen) waitFor(t *testing.T, offset int, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := s.String()
		if i := strings.Index(out[offset:], want); i >= 0 {
			return offset + i + len(want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("terminal never showed %q; it shows:\n%s", want, s.String()[offset:])
	return 0
}

// TestRun_InteractiveShell runs an interactive bash under scrim on a pseudo-terminal and uses
// it the way a person would: the window size, Ctrl-C, Ctrl-Z and job control.
func TestRun_InteractiveShell(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("skipped: bash is not installed")
	}
	// scrim leads its own session with the terminal as its controlling terminal, as a login
	// shell would; bash under it must still get job control.
	cmd := exec.Command(scrimBin, "run", "--", bash, "--norc", "--noprofile", "-i")
	cmd.Env = append(testEnv(t), "PS1=scrim-prompt$ ", "TERM=dumb", "INPUTRC=/dev/null", "HISTFILE=/dev/null")
	ts := onTerminal(t, cmd, &unix.Winsize{Row: 33, Col: 101})
	scr, press := ts.screen, ts.press

	at := scr.waitFor(t, 0, "scrim-prompt$ ")

	press("stty size\n")
	at = scr.waitFor(t, at, "33 101")
	at = scr.waitFor(t, at, "scrim-prompt$ ")

	// A new window size reaches the child (SIGWINCH and TIOCGWINSZ).
	require.NoError(t, unix.IoctlSetWinsize(int(ts.controller.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}))
	press("stty size\n")
	at = scr.waitFor(t, at, "40 120")
	at = scr.waitFor(t, at, "scrim-prompt$ ")

	// Ctrl-C interrupts the foreground job, not the shell. The job announces itself once it
	// runs in the foreground ("run''ning" is echoed as typed, printed as "running"), so the
	// key cannot reach the terminal while bash itself still holds it.
	press("sh -c 'echo run''ning; exec sleep 30'\n")
	at = scr.waitFor(t, at, "\nrunning")
	press("\x03")
	at = scr.waitFor(t, at, "scrim-prompt$ ")
	press("echo status=$?\n")
	at = scr.waitFor(t, at, "status=130")
	at = scr.waitFor(t, at, "scrim-prompt$ ")

	// Ctrl-Z stops it; the shell's job control resumes it in the background, lists it and
	// waits for it.
	press("sh -c 'echo run''ning; exec sleep 30'\n")
	at = scr.waitFor(t, at, "\nrunning")
	press("\x1a")
	at = scr.waitFor(t, at, "Stopped")
	at = scr.waitFor(t, at, "scrim-prompt$ ")
	press("bg; jobs\n")
	at = scr.waitFor(t, at, "Running")
	at = scr.waitFor(t, at, "scrim-prompt$ ")
	press("kill -TERM %1; wait %1; echo waited=$?\n")
	at = scr.waitFor(t, at, "waited=143")
	at = scr.waitFor(t, at, "scrim-prompt$ ")

	press("exit 5\n")
	select {
	case err := <-ts.waited:
		ts.waited <- err // for the cleanup
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		require.Equal(t, 5, exit.ExitCode(), "terminal:\n%s", scr.String()[at:])
	case <-time.After(20 * time.Second):
		t.Fatalf("scrim did not exit after the shell did; terminal:\n%s", scr.String()[at:])
	}
}
