package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConfigProblemsBounded: a config file with many mistakes (a generated file, the wrong
// file) gives the first few and how many more there are, not a line for each of thousands.
func TestConfigProblemsBounded(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	file := filepath.Join(t.TempDir(), "many.toml")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o644))
	for _, cmd := range [][]string{{"check", "-c", file}, {"run", "-c", file, "--", "true"}} {
		r := scrim(t, cmd...)
		require.Equal(t, exitFailure, r.code, r.stderr)
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		require.Equal(t, 21, len(lines), "the first 20 problems and how many more")
		require.True(t, strings.HasPrefix(lines[0], "scrim "+cmd[0]+": "+file+":1: k0: unknown key"), lines[0])
		require.Equal(t, "scrim "+cmd[0]+": 4980 more problems not shown; correct the ones above and run again", lines[20])
	}
}
