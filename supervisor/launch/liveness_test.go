package launch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/procfs"
	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// fifoRaceSeconds is how long TestFifoCreateRace races: SCRIM_FIFO_RACE_SECONDS, 10 with
// SCRIM_SOAK, 2 by default.
func fifoRaceSeconds(t *testing.T) float64 {
	seconds := 2.0
	if os.Getenv("SCRIM_SOAK") != "" {
		seconds = 10
	}
	return knob(t, "SCRIM_FIFO_RACE_SECONDS", seconds, seconds)
}

// TestFifoCreateRace: one thread makes and unlinks a FIFO at a name while six open it with
// O_CREAT (four for writing, two for reading), so a FIFO often appears between the walk, which
// finds no file, and the open that creates it. The child then exits with threads blocked in
// those opens. No worker may stay blocked past the child's exit: Run returns within a second
// of it, and stop leaves no worker behind.
func TestFifoCreateRace(t *testing.T) {
	src, err := os.ReadFile("testdata/fiforace.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	secs := fifoRaceSeconds(t)
	var log logSink
	// A keeper built with -race sleeps a second at exit (ThreadSanitizer's atexit_sleep_ms).
	env := append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	_, status, out, serr := supervise(t, Config{Args: []string{prog, fmt.Sprint(secs), t.TempDir()}, Env: env, Log: log.logger()})
	returned := time.Now()
	require.Equal(t, 0, status, serr)
	var opens, fifos, files, errs, exit int64
	_, err = fmt.Sscanf(out, "opens=%d fifos=%d files=%d errors=%d exit=%d", &opens, &fifos, &files, &errs, &exit)
	require.NoError(t, err, out)
	late := returned.Sub(time.Unix(0, exit))
	t.Logf("%.1fs: opens=%d fifos=%d files=%d errors=%d; Run returned %v after the child's exit", secs, opens, fifos, files, errs, late)
	if !raceEnabled {
		// Under the race detector a run may answer too few opens to meet a FIFO.
		require.Positive(t, fifos, "the race never opened the FIFO")
	}
	require.Less(t, late, time.Second, "Run returned %v after the child's exit", late)
	require.NotContains(t, log.String(), "still blocked", "a worker stayed blocked past the child's exit")
}

// TestStoppedKeeper: a keeper stopped by SIGSTOP, from the sandbox (where no Landlock scope
// or mediation stops the kill) or from outside, is continued: the run ends with the child.
func TestStoppedKeeper(t *testing.T) {
	t.Run("the child stops its parent", func(t *testing.T) {
		start := time.Now()
		status, _, serr := runOut(t, Config{Args: []string{"sh", "-c", "kill -STOP $PPID; exit 0"}})
		require.Equal(t, 0, status, serr)
		require.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("stopped from outside", func(t *testing.T) {
		dir := t.TempDir()
		ready, goOn := filepath.Join(dir, "ready"), filepath.Join(dir, "go")
		stopped := make(chan error, 1)
		go func() {
			child := waitPid(t, ready)
			st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(child))
			if !ok {
				stopped <- fmt.Errorf("no stat for child %d", child)
				return
			}
			err := unix.Kill(st.PPID, unix.SIGSTOP)
			if err == nil {
				err = os.WriteFile(goOn, nil, 0o644)
			}
			stopped <- err
		}()
		start := time.Now()
		script := fmt.Sprintf("echo $$ > %s; while [ ! -e %s ]; do sleep 0.01; done; exit 7", ready, goOn)
		status, _, serr := runOut(t, Config{Args: []string{"sh", "-c", script}})
		require.NoError(t, <-stopped)
		require.Equal(t, 7, status, serr)
		require.Less(t, time.Since(start), 5*time.Second)
	})
}

// waitPid waits for file to hold a pid and returns it.
func waitPid(t *testing.T, file string) int {
	for {
		if b, err := os.ReadFile(file); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}
