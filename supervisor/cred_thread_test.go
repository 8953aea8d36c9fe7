package supervisor

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestBecomeSetsWhatItRecords: after every switch a worker thread's credentials, as the kernel
// reports them, are the ones it switched to, through random sequences of callers that differ
// in ids, groups, capabilities (CAP_SYS_PTRACE and CAP_SETUID among them) and umask, and fsuid
// crossing 0 (which changes the effective set behind the thread's back). It checks that apply
// skips only what is already so. Root only: switching needs the capabilities.
func TestBecomeSetsWhatItRecords(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: switching a thread's credentials needs root")
	}
	// Never unlocked: the runtime ends the thread with the test's goroutine, changed
	// credentials and all.
	runtime.LockOSThread()
	self, err := supervisorCred()
	require.NoError(t, err)
	th, err := newThread(self)
	require.NoError(t, err)
	const noPtrace = ^uint64(1 << unix.CAP_SYS_PTRACE)
	const noSetIDs = ^uint64(capSetIDs)
	callers := []fsCred{
		self,
		{FSUID: 0, FSGID: 0, Groups: []uint32{}, CapEff: self.CapEff & noPtrace, Umask: 0o022},
		{FSUID: 1000, FSGID: 1000, Groups: []uint32{1000}, CapEff: 0, Umask: 0o077},
		{FSUID: 1000, FSGID: 100, Groups: []uint32{100, 1000}, CapEff: self.CapEff & noPtrace & noSetIDs, Umask: 0o022},
		{FSUID: 0, FSGID: 1000, Groups: []uint32{}, CapEff: self.CapEff & noSetIDs, Umask: 0},
		{FSUID: 65534, FSGID: 65534, Groups: nil, CapEff: self.CapEff, Umask: 0o027},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		c := callers[rng.IntN(len(callers))]
		want := c
		want.CapEff &= th.perm
		require.NoError(t, th.become(&c), "switch %d to %+v", i, c)
		got, umask, err := readStatus(unix.Gettid())
		require.NoError(t, err)
		require.Equal(t, want.FSUID, got.FSUID, "switch %d", i)
		require.Equal(t, want.FSGID, got.FSGID, "switch %d", i)
		require.ElementsMatch(t, want.Groups, got.Groups, "switch %d", i)
		require.Equal(t, want.CapEff, got.CapEffective, "switch %d: effective capabilities %#x, want %#x", i, got.CapEffective, want.CapEff)
		require.Equal(t, want.Umask, umask, "switch %d", i)
		require.Equal(t, want.CapEff, th.cur.CapEff, "switch %d: recorded", i)
	}
}
