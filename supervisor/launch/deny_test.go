package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/probes"
	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// objectState is probes.ObjectState, which must succeed.
func objectState(t *testing.T, p string) string {
	t.Helper()
	s, err := probes.ObjectState(p)
	require.NoError(t, err)
	return s
}

// TestDenyByObject: with a denied directory D holding f, every route that would move, copy,
// change or reach f (a hard link, a rename of f or of D or of D's parent, a symlink then an
// open, truncate, chmod, chown, utimensat, setxattr, exec, and reads by several spellings,
// through a hard link made before the run too) fails with EACCES; setxattrat, removexattrat
// and file_setattr, which scrim does not mediate, fail with ENOSYS; D and f are unchanged.
func TestDenyByObject(t *testing.T) {
	src, err := os.ReadFile("testdata/changeprobe.c")
	require.NoError(t, err)
	probe := testprog.C(t, string(src))
	top := t.TempDir()
	require.NoError(t, os.Chmod(top, 0o777))
	parent := filepath.Join(top, "p")
	d := filepath.Join(parent, "dd")
	f := filepath.Join(d, "f")
	require.NoError(t, os.MkdirAll(d, 0o777))
	require.NoError(t, os.WriteFile(f, []byte("#!/bin/sh\necho secret\n"), 0o755))
	prelink := filepath.Join(top, "prelink")
	require.NoError(t, os.Link(f, prelink))
	before := map[string]string{d: objectState(t, d), f: objectState(t, f)}

	regs, sys, err := builtin.New(builtin.Options{Deny: []string{d}})
	require.NoError(t, err)
	x := func(name string) string { return filepath.Join(top, name) }
	calls := [][]string{
		{"link", f, x("x")},
		{"rename", f, x("g")},
		{"rename", d, x("moved")},
		{"rename", parent, x("moved-parent")},
		{"symlink", f, x("s")}, {"open", x("s")},
		{"truncate", f}, {"chmod", f}, {"chown", f}, {"utimensat", f}, {"setxattr", f},
		{"setxattrat", f}, {"removexattrat", f}, {"file_setattr", f},
		{"exec", f},
		{"unlink", f}, {"rmdir", d}, {"mkdir", filepath.Join(d, "new")},
		{"open", f}, {"open", "/proc/self/root" + f}, {"open", d + "/../dd/f"}, {"openat", d, "f"},
		{"open", prelink}, {"truncate", prelink}, {"link", prelink, x("y")},
	}
	var args []string
	for _, c := range calls {
		args = append(args, c...)
	}
	status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...), Handlers: regs, SyscallHandlers: sys})
	require.Equal(t, 0, status, serr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, len(calls), out)
	for i, c := range calls {
		want := c[0] + " EACCES"
		switch c[0] {
		case "symlink":
			want = "symlink OK" // a new name outside D; opening it reaches f
		case "setxattrat", "removexattrat", "file_setattr":
			// Refused whatever the path, as on a kernel without them.
			want = c[0] + " ENOSYS"
		}
		require.Equal(t, want, lines[i], "%v", c)
	}
	for p, st := range before {
		require.Equal(t, st, objectState(t, p), "%s changed", p)
	}
	for _, name := range []string{"x", "g", "moved", "moved-parent", "y"} {
		_, err := os.Lstat(x(name))
		require.ErrorIs(t, err, os.ErrNotExist, name)
	}
}
