package launch

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/internal/procfs"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// runOut runs args under a supervisor with handlers and returns the status, stdout and stderr.
func runOut(t *testing.T, cfg Config) (int, string, string) {
	t.Helper()
	_, status, out, serr := supervise(t, cfg)
	return status, out, serr
}

// knob returns the number in the environment variable name, which lets a soak or a quick run
// change a test's length; unset, full, or short under -short.
func knob(t *testing.T, name string, full, short float64) float64 {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, name)
		return f
	}
	if testing.Short() {
		return short
	}
	return full
}

// knobInt is knob for a count, which must be a whole number.
func knobInt(t *testing.T, name string, full, short int) int {
	t.Helper()
	f := knob(t, name, float64(full), float64(short))
	require.Equal(t, math.Trunc(f), f, "%s must be a whole number", name)
	return int(f)
}

// testLogger logs warnings and errors, or the level SCRIM_TEST_LOG names.
func testLogger() hclog.Logger {
	level := hclog.Warn
	if l := os.Getenv("SCRIM_TEST_LOG"); l != "" {
		level = hclog.LevelFromString(l)
	}
	return hclog.New(&hclog.LoggerOptions{Level: level, Output: os.Stderr})
}

type fixedShim struct {
	id   string
	path string
	data []byte
}

func (f *fixedShim) ID() string { return f.id }
func (f *fixedShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) == f.path {
		return shim.ServeBytes(f.id, f.data), nil
	}
	return shim.Next(), nil
}

func TestRunSmoke(t *testing.T) {
	status, out, serr := runOut(t, Config{
		Args:     []string{"sh", "-c", "cat /etc/hosts; head -c 5 /etc/passwd; exit 3"},
		Handlers: []shim.Registration{{Handler: &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fixed\n")}, Band: shim.BandVirtual}},
	})
	t.Log(serr)
	require.Equal(t, 3, status)
	require.True(t, bytes.HasPrefix([]byte(out), []byte("127.0.0.1 fixed\nroot:")), out)
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	require.NoError(t, os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644))
	noshebang := filepath.Join(dir, "noshebang")
	require.NoError(t, os.WriteFile(noshebang, []byte("exit 4\n"), 0o755))
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"own status", []string{"sh", "-c", "exit 3"}, 3},
		{"success", []string{"true"}, 0},
		{"killed by SIGKILL", []string{"sh", "-c", "kill -KILL $$"}, 137},
		{"killed by SIGTERM", []string{"sh", "-c", "kill -TERM $$"}, 143},
		{"not found in PATH", []string{"scrim-no-such-command"}, 127},
		{"absolute path not found", []string{"/nonexistent"}, 127},
		{"not executable", []string{noexec}, 126},
		{"a directory", []string{dir}, 126},
		{"a script without #! runs with sh", []string{noshebang}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, _ := runOut(t, Config{Args: tt.args})
			require.Equal(t, tt.want, status)
		})
	}
}

func TestSignalsForwarded(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGWINCH} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			ready := filepath.Join(dir, "ready")
			name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
			script := fmt.Sprintf("trap 'exit 42' %s; echo > %s; while :; do sleep 0.02; done", name, ready)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if _, err := os.Stat(ready); err == nil {
						syscall.Kill(os.Getpid(), sig)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			status, _, _ := runOut(t, Config{Args: []string{"sh", "-c", script}})
			<-done
			require.Equal(t, 42, status)
		})
	}
}

func TestOrphansReapedAndKilled(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	// The background sleep is orphaned when sh exits; scrim must kill and reap it.
	status, _, _ := runOut(t, Config{Args: []string{"sh", "-c", fmt.Sprintf("sleep 1000 & echo $! > %s; exit 5", pidfile)}})
	require.Equal(t, 5, status)
	b, err := os.ReadFile(pidfile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "orphan %d still exists", pid)
}

func TestContextCancelKillsTheSandbox(t *testing.T) {
	s, err := New(Config{Args: []string{"sh", "-c", "sleep 100 & sleep 100"}, Log: testLogger()})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	status, err := s.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, 128+int(syscall.SIGKILL), status)
	require.Less(t, time.Since(start), 10*time.Second)
}

// treeShim serves, for its path, whether the sandbox contains each process from the caller up
// to the host's init, and which of them is scrim.
type treeShim struct {
	path string
	sb   shim.Sandbox
}

func (s *treeShim) ID() string { return "test.tree" }
func (s *treeShim) Provision(env shim.Env) error {
	s.sb = env.Sandbox
	return nil
}
func (s *treeShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) != s.path {
		return shim.Next(), nil
	}
	var out []string
	for _, pid := range ancestry(req.PID) {
		name := strconv.FormatBool(s.sb.Contains(pid))
		if pid == os.Getpid() {
			name = "scrim"
		}
		out = append(out, name)
	}
	return shim.ServeBytes(s.ID(), []byte(strings.Join(out, " ")+"\n")), nil
}

// ancestry lists pid and its ancestors, up to but not including init.
func ancestry(pid int) []int {
	var out []int
	for pid > 1 {
		out = append(out, pid)
		st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(pid))
		if !ok {
			break
		}
		pid = st.PPID
	}
	return out
}

// TestSandboxLeavesOutTheKeeper: the program and its children are in the sandbox; the keeper
// between them and scrim, scrim and scrim's ancestors are not.
func TestSandboxLeavesOutTheKeeper(t *testing.T) {
	tree := &treeShim{path: "/scrim-test/tree"}
	status, out, serr := runOut(t, Config{
		Args:     []string{"sh", "-c", "cat " + tree.path + "; true"},
		Handlers: []shim.Registration{{Handler: tree, Band: shim.BandVirtual}},
	})
	require.Equal(t, 0, status, serr)
	// cat, sh, the keeper, scrim, then whatever started the test.
	require.True(t, strings.HasPrefix(out, "true true false scrim"), out)
	require.NotContains(t, strings.TrimPrefix(out, "true true"), "true", out)
}

// keeperFilterShim serves, for its path, the number of seccomp filters on each thread of the
// keeper: the main thread's first, then the others' in order.
type keeperFilterShim struct{ path string }

func (s *keeperFilterShim) ID() string { return "test.keeper-filters" }
func (s *keeperFilterShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) != s.path {
		return shim.Next(), nil
	}
	// The keeper is the ancestor just below scrim.
	keeper := 0
	chain := ancestry(req.PID)
	for i, pid := range chain {
		if pid == os.Getpid() && i > 0 {
			keeper = chain[i-1]
		}
	}
	if keeper == 0 {
		return shim.Deny(unix.ESRCH), nil
	}
	filters := func(tid string) string {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(keeper) + "/task/" + tid + "/status")
		if err != nil {
			return "?"
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Seccomp_filters:"); ok {
				return strings.TrimSpace(v)
			}
		}
		return "?"
	}
	tids, err := os.ReadDir("/proc/" + strconv.Itoa(keeper) + "/task")
	if err != nil {
		return shim.Result{}, err
	}
	out := []string{filters(strconv.Itoa(keeper))}
	for _, tid := range tids {
		if tid.Name() != strconv.Itoa(keeper) {
			out = append(out, filters(tid.Name()))
		}
	}
	return shim.ServeBytes(s.ID(), []byte(strings.Join(out, " ")+"\n")), nil
}

// TestKeeperFilterStaysOnItsThread: without an image or a Landlock domain the keeper installs
// the filter on its main thread and starts the command from it. The command carries the
// filter; none of the keeper's other threads does, so the goroutines that kill the sandbox
// when scrim dies run unfiltered. With a domain a stub starts the command, and no thread of
// the keeper holds a filter.
func TestKeeperFilterStaysOnItsThread(t *testing.T) {
	for _, c := range []struct {
		name       string
		noLandlock bool
		main       string
	}{
		{"keeper starts the command", true, "1"},
		{"stub starts the command", false, "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !c.noLandlock && !kernel.PlanDomain(kernel.Detect().Landlock, false).Active() {
				t.Skip("the kernel has no Landlock ABI 2: no stub starts the command")
			}
			fs := &keeperFilterShim{path: "/scrim-test/keeper-filters"}
			status, out, serr := runOut(t, Config{
				Args:       []string{"sh", "-c", "cat " + fs.path + "; grep Seccomp_filters /proc/self/status"},
				Handlers:   []shim.Registration{{Handler: fs, Band: shim.BandVirtual}},
				NoLandlock: c.noLandlock,
			})
			require.Equal(t, 0, status, serr)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Len(t, lines, 2, out)
			counts := strings.Fields(lines[0])
			require.Greater(t, len(counts), 1, "the keeper runs more than one thread: %s", out)
			require.Equal(t, c.main, counts[0], "filters on the keeper's main thread: %s", out)
			for _, n := range counts[1:] {
				require.Equal(t, "0", n, "another keeper thread holds a filter: %s", out)
			}
			require.Equal(t, "Seccomp_filters:\t1", lines[1], "the command inherits the filter")
		})
	}
}
