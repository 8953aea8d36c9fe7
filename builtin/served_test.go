package builtin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestServed_EveryVirtualShim: a new virtual-file shim in the registry must say what it
// serves, or `scrim check` cannot report plugins that claim the same paths.
func TestServed_EveryVirtualShim(t *testing.T) {
	for _, e := range registry {
		exact, patterns := Served(e.id)
		if e.band == shim.BandVirtual {
			require.NotEmpty(t, append(exact, make([]string, len(patterns))...), "builtin.Served has no entry for %s", e.id)
		} else {
			require.Empty(t, exact, e.id)
			require.Empty(t, patterns, e.id)
		}
	}
}

// TestServed_Listed: every virtual-file shim with literal paths lists them, so a listing of
// their directory shows the ones the disk does not hold.
func TestServed_Listed(t *testing.T) {
	seed := uint64(1)
	regs, _, err := New(Options{CPUs: 1, MemoryBytes: 1 << 30, RandomSeed: &seed})
	require.NoError(t, err)
	for _, r := range regs {
		exact, _ := Served(r.Handler.ID())
		if r.Band != shim.BandVirtual || len(exact) == 0 || r.Handler.ID() == idRandom {
			continue
		}
		l, ok := r.Handler.(shim.Lister)
		require.True(t, ok, "%s is no shim.Lister", r.Handler.ID())
		require.Equal(t, exact, l.Listed(), r.Handler.ID())
	}
}
