package launch

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// allocBudget is what a strict passthrough open may allocate in scrim's heap, in allocations
// per open: the path read from the program's memory and its canonical form, which the request
// hands to the chain (RATIONALE.md, "What may a passthrough open cost the supervisor?").
const allocBudget = 2.2

// TestPassthroughOpenAllocations counts the heap allocations of the supervisor, which runs in
// this test process, per passthrough open of a file no shim claims: two runs of the open loop
// of different lengths, subtracted, so that start-up and exit cancel out. An allocation per
// open is garbage the collector must chase while the sandbox runs.
func TestPassthroughOpenAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	src, err := os.ReadFile("../../bench/workload/openloop.c")
	require.NoError(t, err)
	loop := testprog.C(t, string(src))
	file := filepath.Join(t.TempDir(), "passthrough.txt")
	require.NoError(t, os.WriteFile(file, []byte("nobody claims this file\n"), 0o644))
	mallocs := func(n int) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		status, out, serr := runOut(t, Config{Args: []string{loop, file, strconv.Itoa(n), "1"}})
		runtime.ReadMemStats(&after)
		require.Equal(t, 0, status, "%s%s", out, serr)
		require.Contains(t, out, "failed=0")
		return after.Mallocs - before.Mallocs
	}
	const short, long = 1000, 6000
	mallocs(short) // warm-up: the first sandbox of the process builds caches
	a, b := mallocs(short), mallocs(long)
	per := (float64(b) - float64(a)) / (long - short)
	t.Logf("%.2f heap allocations per passthrough open (%d for %d opens, %d for %d)", per, a, short, b, long)
	require.LessOrEqual(t, per, allocBudget, "a passthrough open allocates")
}
