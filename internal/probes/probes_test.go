package probes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestLinksBeneathARoot: links made beneath a root other than / (a container's) lead, looked
// up inside that root, to the target of every spelling that names it by a symlink or a
// lexical trick, as a program whose root that is would find them.
func TestLinksBeneathARoot(t *testing.T) {
	root := t.TempDir()
	const target = "/srv/secret/key"
	require.NoError(t, os.MkdirAll(filepath.Join(root, "srv/secret"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, target), []byte("x"), 0o644))
	cases, links := Spellings(target, "/links/deep/t", "read", "write")
	require.NoError(t, MakeLinks(root, links))
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer unix.Close(rfd)
	var want unix.Stat_t
	require.NoError(t, unix.Stat(filepath.Join(root, target), &want))
	checked := 0
	for _, c := range cases {
		// Magic links, dirfds and the working directory need a running program.
		if c.Want != "read" || c.Dir != "" || c.Op == "creat" || strings.HasPrefix(c.Path, "/proc/") || !strings.HasPrefix(c.Path, "/") {
			continue
		}
		fd, err := unix.Openat2(rfd, c.Path, &unix.OpenHow{Flags: unix.O_PATH, Resolve: unix.RESOLVE_IN_ROOT})
		require.NoError(t, err, c.Name)
		var got unix.Stat_t
		require.NoError(t, unix.Fstat(fd, &got))
		unix.Close(fd)
		require.Equal(t, want.Ino, got.Ino, c.Name)
		checked++
	}
	require.GreaterOrEqual(t, checked, 8*3, "the lexical and symlink spellings of open, openat and openat2")
}
