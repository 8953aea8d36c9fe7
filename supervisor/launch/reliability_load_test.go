package launch

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor"
)

// loadDuration is how long TestLoad keeps its 64 threads opening: SCRIM_LOAD_SECONDS, 5 s by
// default (2 s with -short); SCRIM_SOAK=1 makes it the 30-minute soak.
func loadDuration(t *testing.T) time.Duration {
	if os.Getenv("SCRIM_SOAK") != "" {
		return 30 * time.Minute
	}
	return time.Duration(knob(t, "SCRIM_LOAD_SECONDS", 5, 2) * float64(time.Second))
}

// TestLoad: 8 processes of 8 threads each open a real, a served and a missing file in a loop
// for a set time, under an in-process supervisor. Every answer must be right, and afterwards
// the supervisor's process must hold the descriptors it held before, and no more than
// goroutineSlack goroutines and heapSlack bytes of heap beyond it. The heap is also sampled
// every second during the run, so a soak shows growth while it happens, not only after.
func TestLoad(t *testing.T) {
	e := newFaultEnv(t)
	warm(t, e)
	before := measure(t)
	d := loadDuration(t)

	var mu sync.Mutex
	var peakHeap uint64
	var peakGoroutines, peakThreads int
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				g, th := runtime.NumGoroutine(), threadCount(t)
				mu.Lock()
				peakHeap = max(peakHeap, ms.HeapInuse)
				peakGoroutines = max(peakGoroutines, g)
				peakThreads = max(peakThreads, th)
				mu.Unlock()
			}
		}
	}()
	secs := strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "load", "8", "8", secs, e.real}, Handlers: e.handlers})
	close(stop)
	<-sampled
	require.Equal(t, 0, status, serr)
	require.Equal(t, "load: procs=8 bad=0\n", out, serr)
	t.Logf("%s in %s; during the run: peak heap %d KiB, peak goroutines %d, peak threads %d",
		strings.TrimSpace(serr), d, peakHeap>>10, peakGoroutines, peakThreads)
	after := requireSettles(t, before)
	require.LessOrEqual(t, after.threads, before.threads+supervisor.MaxWorkers, "threads beyond the worker bound")
}
