package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestAudit_Records runs calls from concurrent threads and checks what the audit log says of
// them: every record numbered once, in an order that agrees with each thread's own order and
// with the order the threads imposed on each other; the path the program spelled even when it
// is too long to resolve; both paths of a rename; no path fields for a call that names none.
func TestAudit_Records(t *testing.T) {
	src, err := os.ReadFile("testdata/auditorder.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "from"), nil, 0o644))
	const threads, opens = 4, 50
	rec := &memAudit{}
	status, out, serr := runOut(t, Config{
		Args:            []string{prog, dir, strconv.Itoa(threads), strconv.Itoa(opens)},
		SyscallHandlers: []shim.SyscallHandler{&unameShim{}},
		Audit:           rec,
	})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "done\n", out)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	seqs := map[uint64]bool{}
	bySpelled := map[string]uint64{}
	tids := map[string]int{}
	for _, r := range rec.recs {
		require.Positive(t, r.Seq, "%+v", r)
		require.False(t, seqs[r.Seq], "seq %d used twice", r.Seq)
		seqs[r.Seq] = true
		if rest, ok := strings.CutPrefix(r.Spelled, dir+"/"); ok {
			bySpelled[rest] = r.Seq
			tids[rest] = r.TID
		}
		switch r.Syscall {
		case "uname":
			require.True(t, r.NoPath, "uname names no path: %+v", r)
			require.Empty(t, r.Spelled+r.Path)
		case "rename":
			require.False(t, r.NoPath)
			require.Equal(t, dir+"/from", r.Spelled)
			require.Equal(t, dir+"/to", r.Spelled2)
			require.Equal(t, "real", r.Verdict, "%+v", r)
			real, err := filepath.EvalSymlinks(dir)
			require.NoError(t, err)
			require.Equal(t, real+"/from", r.Path)
			require.Equal(t, real+"/to", r.Path2)
		}
	}
	for i := range uint64(len(rec.recs)) {
		require.True(t, seqs[i+1], "seq runs from 1 to %d without a gap: %d is missing", len(rec.recs), i+1)
	}

	for k := range threads {
		for i := 1; i < opens; i++ {
			prev, cur := fmt.Sprintf("t%d-%d", k, i-1), fmt.Sprintf("t%d-%d", k, i)
			require.Contains(t, bySpelled, cur)
			require.Less(t, bySpelled[prev], bySpelled[cur], "one thread's calls in its order")
			require.Equal(t, tids[prev], tids[cur])
		}
	}
	for s := 1; s < threads*4; s++ {
		prev, cur := fmt.Sprintf("ring-%d", s-1), fmt.Sprintf("ring-%d", s)
		require.Contains(t, bySpelled, cur)
		require.NotEqual(t, tids[prev], tids[cur], "the ring passes between threads")
		require.Less(t, bySpelled[prev], bySpelled[cur], "a call made after another returned comes later")
	}

	var long int
	for _, r := range rec.recs {
		if r.Errno == "ENAMETOOLONG" {
			long++
			require.Equal(t, strings.Repeat("a", 4096), r.Spelled, "the first PATH_MAX bytes the program spelled")
			require.False(t, r.NoPath)
		}
	}
	require.Equal(t, 1, long, "one open of a path too long")
}
