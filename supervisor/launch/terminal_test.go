package launch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// asScrimEnv makes the test binary act as `scrim run -- ARGS` (the arguments after "--"), so a
// test can start a whole supervisor inside a terminal.
const asScrimEnv = "SCRIM_TEST_AS_SCRIM"

// runAsScrim runs `scrim run` and exits when the test binary was started with asScrimEnv set
// (TestMain).
func runAsScrim() {
	if os.Getenv(asScrimEnv) == "" || len(os.Args) == 0 || os.Args[0] == stubArg0 {
		return
	}
	var args []string
	for i, a := range os.Args {
		if a == "--" {
			args = os.Args[i+1:]
			break
		}
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, asScrimEnv+"=") {
			env = append(env, e)
		}
	}
	s, err := New(Config{Args: args, Env: env, Log: testLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	status, err := s.Run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(status)
}

// tmux drives one tmux server of the test's own.
type tmux struct {
	t      *testing.T
	socket string
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.socket}, args...)...).CombinedOutput()
	require.NoError(x.t, err, "tmux %v: %s", args, out)
	return string(out)
}

// waitFor polls the pane until it shows want.
func (x *tmux) waitFor(want string) string {
	x.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var pane string
	for time.Now().Before(deadline) {
		pane = x.run("capture-pane", "-p", "-t", "t")
		if strings.Contains(pane, want) {
			return pane
		}
		time.Sleep(50 * time.Millisecond)
	}
	x.t.Fatalf("pane never showed %q:\n%s", want, pane)
	return ""
}

// TestInteractiveShell runs bash under scrim in a real terminal: its prompt, Ctrl-C, job
// control with Ctrl-Z, window size changes and its exit status must all behave as without
// scrim.
func TestInteractiveShell(t *testing.T) {
	for _, tool := range []string{"tmux", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	statusFile := filepath.Join(dir, "status")
	x := &tmux{t: t, socket: fmt.Sprintf("scrim-test-%d", os.Getpid())}
	t.Cleanup(func() { exec.Command("tmux", "-L", x.socket, "kill-server").Run() })
	cmd := fmt.Sprintf("env %s=1 PS1='P$ ' %s -- bash --norc --noprofile -i; echo $? > %s; sleep 30", asScrimEnv, self, statusFile)
	x.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", cmd)
	x.waitFor("P$")

	x.run("send-keys", "-t", "t", "echo cols=$COLUMNS", "Enter")
	x.waitFor("cols=100")

	x.run("send-keys", "-t", "t", "sleep 100", "Enter")
	time.Sleep(200 * time.Millisecond)
	x.run("send-keys", "-t", "t", "C-c")
	x.run("send-keys", "-t", "t", "echo int=$?", "Enter")
	x.waitFor("int=130")

	x.run("send-keys", "-t", "t", "sleep 100", "Enter")
	time.Sleep(200 * time.Millisecond)
	x.run("send-keys", "-t", "t", "C-z")
	x.waitFor("Stopped")
	x.run("send-keys", "-t", "t", "jobs -s | wc -l; fg", "Enter")
	time.Sleep(200 * time.Millisecond)
	x.run("send-keys", "-t", "t", "C-c")
	x.run("send-keys", "-t", "t", "echo fg=$? jobs=$(jobs | wc -l)", "Enter")
	x.waitFor("fg=130 jobs=0")

	x.run("resize-window", "-t", "t", "-x", "120", "-y", "40")
	time.Sleep(200 * time.Millisecond)
	x.run("send-keys", "-t", "t", "true; echo cols=$COLUMNS", "Enter")
	x.waitFor("cols=120")

	x.run("send-keys", "-t", "t", "exit 7", "Enter")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(statusFile); err == nil && len(b) > 0 {
			require.Equal(t, "7\n", string(b))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("scrim did not exit:\n%s", x.run("capture-pane", "-p", "-t", "t"))
}
