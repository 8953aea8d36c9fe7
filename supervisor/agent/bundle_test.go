package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestBundleHostname: the host name of a bundle's config.json, nothing for a bundle that is
// not there, and an error, never a hang or an unbounded read, for a file that is not a
// runtime's config.json.
func TestBundleHostname(t *testing.T) {
	bundle := func(t *testing.T, content string) string {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o600))
		return dir
	}
	for _, tc := range []struct {
		name, bundle, want, err string
	}{
		{name: "hostname", bundle: bundle(t, `{"ociVersion":"1.0.2","hostname":"web-1","process":{"args":["sh"]}}`), want: "web-1"},
		{name: "no hostname", bundle: bundle(t, `{"ociVersion":"1.0.2"}`)},
		{name: "no bundle named", bundle: ""},
		{name: "no such bundle", bundle: "/nonexistent"},
		{name: "no config.json", bundle: t.TempDir()},
		{name: "relative", bundle: "bundle", err: "not an absolute path"},
		{name: "not json", bundle: bundle(t, `hostname: web`), err: "decode "},
		{name: "too large", bundle: bundle(t, `{"hostname":"big","x":"`+strings.Repeat("a", maxBundleConfig)+`"}`), err: "more than the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bundleHostname(tc.bundle)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, unix.Mkfifo(filepath.Join(dir, "config.json"), 0o600))
		_, err := bundleHostname(dir)
		require.ErrorContains(t, err, "not a regular file")
	})
}
