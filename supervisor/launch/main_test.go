package launch

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMain lets this test binary be the keeper and the stub of the sandboxes its tests start
// (Dispatch), and `scrim run` for the terminal tests (runAsScrim).
func TestMain(m *testing.M) {
	Dispatch()
	runAsScrim()
	os.Exit(m.Run())
}

// TestNewNeedsDispatch: a binary that never called Dispatch cannot be the keeper or the stub
// it would start, so New refuses before starting anything.
func TestNewNeedsDispatch(t *testing.T) {
	dispatched.Store(false)
	defer dispatched.Store(true)
	_, err := New(Config{Args: []string{"true"}})
	require.ErrorContains(t, err, "launch.Dispatch")
}
