package plugins

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestWatchdogLazy checks the lazily armed watchdog (instance.arm): a runaway call is stopped
// whether it comes right after fast calls on the same instance (the timer is then due at an
// earlier call's deadline and must re-arm itself for this one), after the timer has parked
// between calls, or on the instance started to replace a stopped one.
func TestWatchdogLazy(t *testing.T) {
	p := load(t, Spec{Name: "slowpath", Path: testdata("slowpath"), Timeout: 50 * time.Millisecond, Instances: 1})
	fast := request("/t/x", unix.O_RDONLY)
	slow := request("/t/"+strings.Repeat("x", 100), unix.O_RDONLY)
	ctx := context.Background()
	open := func(req *shim.Request) shim.Result {
		t.Helper()
		res, err := p.Open(ctx, req)
		require.NoError(t, err)
		return res
	}
	timeouts := uint64(0)
	runaway := func(why string) {
		t.Helper()
		waitReady(t, p)
		require.Equal(t, shim.Deny(unix.EIO), open(slow), why)
		timeouts++
		require.Equal(t, timeouts, p.stats.snapshot("").Timeouts, why)
	}
	for range 1000 {
		require.Equal(t, shim.Deny(unix.EACCES), open(fast))
	}
	runaway("right after fast calls")
	waitReady(t, p)
	require.Equal(t, shim.Deny(unix.EACCES), open(fast), "the replacement answers")
	time.Sleep(150 * time.Millisecond) // the watchdog fires once more and parks
	runaway("after the watchdog parked")
	runaway("first call of a replacement instance")
	waitReady(t, p)
	for range 100 {
		require.Equal(t, shim.Deny(unix.EACCES), open(fast))
	}
	require.Equal(t, timeouts, p.stats.snapshot("").Faults, "only the runaway calls failed")
}
