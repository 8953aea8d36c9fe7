package e2e

import (
	"fmt"
	"time"

	"testing"

	"github.com/stretchr/testify/require"
)

// TestWarmStart runs scrim twice with one plugin and its configuration: the first run loads it
// before the program starts and stores its describe document, the second loads it in the
// background, and the program's open of its path waits for it and gets its content.
func TestWarmStart(t *testing.T) {
	// The text is new to the shared cache on every run of the test, so the first run is cold.
	text := fmt.Sprintf("warm start %d\n", time.Now().UnixNano())
	config := "[log]\nlevel = \"debug\"\n\n" +
		pluginTable("motd", example("motd"), fmt.Sprintf("[plugin.config]\ntext = %q", text))
	tests := []struct {
		name       string
		background bool
	}{
		{"the first run loads before the program", false},
		{"the second run loads in the background", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, config, "cat", "/etc/motd")
			require.Equal(t, 0, code, errOut)
			require.Equal(t, text, out)
			if tt.background {
				require.Contains(t, errOut, "plugin loaded in the background")
			} else {
				require.NotContains(t, errOut, "plugin loaded in the background")
			}
		})
	}
}
