package supervisor

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestLendCPU: while the ADDFD runs the thread is at SCHED_IDLE (when it holds CAP_SYS_NICE),
// and afterwards its policy, nice value and affinity are what they were.
// Without CAP_SYS_NICE nothing changes at all.
func TestLendCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	caps, e := capGet()
	require.Zero(t, e)
	eff := uint64(caps[0].Effective) | uint64(caps[1].Effective)<<32

	for _, tc := range []struct {
		name string
		eff  uint64
		lend bool
	}{
		{"with the thread's own capabilities", eff, eff&capSysNice != 0},
		{"with a child's capabilities that lack CAP_SYS_NICE", eff &^ capSysNice, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := unix.SchedGetAttr(0, 0)
			require.NoError(t, err)
			var beforeSet unix.CPUSet
			require.NoError(t, unix.SchedGetaffinity(0, &beforeSet))

			l := newLender()
			require.True(t, l.ok, "a fresh thread runs SCHED_OTHER")
			var during *unix.SchedAttr
			var duringSet unix.CPUSet
			l.lendCPU(tc.eff, func() {
				during, err = unix.SchedGetAttr(0, 0)
				require.NoError(t, err)
				require.NoError(t, unix.SchedGetaffinity(0, &duringSet))
			})
			require.False(t, l.broken)
			if tc.lend {
				require.Equal(t, uint32(unix.SCHED_IDLE), during.Policy)
			} else {
				require.Equal(t, before.Policy, during.Policy)
			}
			require.Equal(t, beforeSet, duringSet, "the thread is never pinned")

			after, err := unix.SchedGetAttr(0, 0)
			require.NoError(t, err)
			require.Equal(t, before.Policy, after.Policy)
			require.Equal(t, before.Nice, after.Nice)
			var afterSet unix.CPUSet
			require.NoError(t, unix.SchedGetaffinity(0, &afterSet))
			require.Equal(t, beforeSet, afterSet)
		})
	}
}
