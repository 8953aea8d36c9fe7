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
