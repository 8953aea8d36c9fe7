package supervisor

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestTgidCacheStaleLeader: an entry left by a leader whose process died unseen (reaped by a
// parent inside the sandbox) must not answer for a thread that now has the same tid.
func TestTgidCacheStaleLeader(t *testing.T) {
	// Each goroutine holds its thread until the test ends; if the first lands on the main
	// thread (tid == pid), it keeps it, so the second cannot.
	release := make(chan struct{})
	defer close(release)
	tid := 0
	for range 2 {
		tids := make(chan int)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			<-release
		}()
		if tid = <-tids; tid != os.Getpid() {
			break
		}
	}
	require.NotEqual(t, os.Getpid(), tid, "a thread that is not the leader")

	var c tgidCache
	c.m = map[int]int{tid: tid} // as if tid had been a leader once
	got, err := c.tgid(tid)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), got, "the thread's real process, not the stale entry")

	// Not cached: a thread that leads no group is looked up in /proc/<tid>/status, a
	// leader is its own group.
	var fresh tgidCache
	got, err = fresh.tgid(tid)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), got)

	got, err = c.tgid(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), got)
	got, err = c.tgid(os.Getpid()) // now from the cache, checked with tgkill
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), got)
}

// TestTgidCacheBounded: the cache keeps at most tgidCacheMax entries, however many processes
// ever made a call (launch's TestFaultManyShortLivedProcesses recycles pids for real).
func TestTgidCacheBounded(t *testing.T) {
	var c tgidCache
	c.m = map[int]int{}
	for i := range tgidCacheMax {
		c.m[1<<22+i] = 1<<22 + i // dead pids, beyond any pid_max
	}
	got, err := c.tgid(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), got)
	require.LessOrEqual(t, len(c.m), tgidCacheMax)
	require.Equal(t, os.Getpid(), c.m[os.Getpid()])
}
