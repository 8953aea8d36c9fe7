package plugins

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestCircuitBreaker_Configured: break_after and break_for set when the breaker opens and for
// how long; a negative break_after never opens it.
func TestCircuitBreaker_Configured(t *testing.T) {
	for _, tc := range []struct {
		name       string
		after      int
		calls      int
		wantTraps  uint64
		wantBroken uint64
	}{
		{"after 2", 2, 6, 2, 4},
		{"after 8", 8, 10, 8, 2},
		{"never", -1, 12, 12, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, Spec{Name: "trap", Path: testdata("trap"), Instances: 1, BreakAfter: tc.after, BreakFor: time.Hour})
			for i := 0; i < tc.calls; i++ {
				if uint64(i) < tc.wantTraps {
					waitReady(t, p)
				}
				res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
				require.NoError(t, err)
				require.Equal(t, shim.Deny(unix.EIO), res)
			}
			s := p.stats.snapshot("")
			require.Equal(t, tc.wantTraps, s.Traps)
			require.Equal(t, tc.wantBroken, s.Broken)
			if tc.wantBroken > 0 {
				// Switched off for break_for from the last fault: an hour, not the default 10 s.
				till := time.Unix(0, p.openTill.Load())
				require.Greater(t, time.Until(till), 50*time.Minute)
			}
		})
	}
}
