package supervisor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// testLogger logs warnings and errors, or the level SCRIM_TEST_LOG names.
func testLogger() hclog.Logger {
	level := hclog.Warn
	if l := os.Getenv("SCRIM_TEST_LOG"); l != "" {
		level = hclog.LevelFromString(l)
	}
	return hclog.New(&hclog.LoggerOptions{Level: level, Output: os.Stderr})
}

// openFds lists the test process's descriptors and what they refer to.
func openFds(t *testing.T) map[string]string {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	fds := map[string]string{}
	for _, e := range ents {
		link, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds[e.Name()] = link
	}
	return fds
}
