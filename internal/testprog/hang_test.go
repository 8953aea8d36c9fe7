package testprog

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const hangEnv = "TESTPROG_HANG"

func TestMain(m *testing.M) {
	if os.Getenv(hangEnv) == "1" {
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Hour) // until the test's context ends it
	}
	os.Exit(m.Run())
}

// TestDiagnoseHang: a Go program that outlives its context is described and aborted with its
// goroutines' stacks, not killed silently.
func TestDiagnoseHang(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), hangEnv+"=1")
	h := DiagnoseHang(cmd)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// Wait until it runs, so that the abort finds Go's handler installed.
	buf := make([]byte, 6)
	_, err = out.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ready\n", string(buf))
	start := time.Now()
	cancel()
	require.Error(t, cmd.Wait())
	require.Less(t, time.Since(start), 9*time.Second, "aborted, not killed after the wait delay")
	require.Contains(t, h.String(), "the command outlived its context")
	require.Regexp(t, `pid \d+ tid \d+ \S+ state [SR]`, h.String())
	require.Contains(t, stderr.String(), "SIGABRT")
	require.Contains(t, stderr.String(), "goroutine 1")
}
