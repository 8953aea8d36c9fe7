package launch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommandError: a command that cannot be executed is a *CommandError with the shell's
// status, whose message names the command, says why and what to do, on both ways a command
// starts (from the keeper, without a Landlock domain, and from the stub).
func TestCommandError(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	require.NoError(t, os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644))
	badInterp := filepath.Join(dir, "badinterp")
	require.NoError(t, os.WriteFile(badInterp, []byte("#!/nonexistent/interpreter\n"), 0o755))
	tests := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"not in PATH", []string{"scrim-no-such-command"}, 127, "scrim-no-such-command: command not found in PATH; check its spelling, or give its path"},
		{"no such file", []string{"/nonexistent/prog"}, 127, "/nonexistent/prog: no such file; give the path of an existing program"},
		{"not executable", []string{noexec}, 126, noexec + ": cannot execute: permission denied; make it executable (chmod +x), or run it through its interpreter"},
		{"a directory", []string{dir}, 126, dir + ": is a directory, not a program; name a program"},
		{"interpreter missing", []string{badInterp}, 127, badInterp + ": cannot execute: no such file or directory; check its #! line or its ELF interpreter"},
	}
	for _, via := range []struct {
		name       string
		noLandlock bool
	}{{"keeper", true}, {"stub", false}} {
		for _, tc := range tests {
			t.Run(via.name+"/"+tc.name, func(t *testing.T) {
				s, err := New(Config{Args: tc.args, NoLandlock: via.noLandlock, Log: testLogger()})
				require.NoError(t, err)
				status, err := s.Run(context.Background())
				require.Equal(t, tc.status, status)
				var cmdErr *CommandError
				require.True(t, errors.As(err, &cmdErr), "want a *CommandError, got %T: %v", err, err)
				require.Equal(t, tc.status, cmdErr.Status)
				require.EqualError(t, err, tc.want)
			})
		}
	}
}

// TestWorkingDirectoryChecked: a working directory that does not exist is named before anything
// starts, by New and by Check.
func TestWorkingDirectoryChecked(t *testing.T) {
	_, err := New(Config{Args: []string{"true"}, Dir: "/nonexistent/dir"})
	require.EqualError(t, err, "new supervisor: working directory /nonexistent/dir: no such file or directory")
	require.EqualError(t, Check(Config{Dir: "/etc/hostname"}), "new supervisor: working directory /etc/hostname: not a directory")
	require.NoError(t, Check(Config{Dir: t.TempDir()}))
}

// TestClosedStdio: a standard descriptor listed in Closed is closed for the program, and
// nothing of scrim's set-up takes its place, whether the keeper or the stub starts it; the
// others are the program's as given.
func TestClosedStdio(t *testing.T) {
	script := `for fd in 0 1 2; do if [ -e /proc/self/fd/$fd ]; then echo "$fd open" >&2; else echo "$fd closed" >&2; fi; done`
	for _, via := range []struct {
		name       string
		noLandlock bool
	}{{"keeper", true}, {"stub", false}} {
		for _, tc := range []struct {
			closed []int
			want   string
		}{
			{nil, "0 open\n1 open\n2 open\n"},
			{[]int{0}, "0 closed\n1 open\n2 open\n"},
			{[]int{0, 1}, "0 closed\n1 closed\n2 open\n"},
		} {
			t.Run(via.name+"/"+closedArg(tc.closed), func(t *testing.T) {
				status, _, serr := runOut(t, Config{Args: []string{"sh", "-c", script}, Closed: tc.closed, NoLandlock: via.noLandlock})
				require.Equal(t, 0, status, serr)
				require.Equal(t, tc.want, serr)
			})
		}
	}
	t.Run("cat reads a closed stdin", func(t *testing.T) {
		status, _, serr := runOut(t, Config{Args: []string{"cat"}, Closed: []int{0}})
		require.Equal(t, 1, status)
		require.True(t, strings.Contains(serr, "Bad file descriptor"), serr)
	})
	_, err := New(Config{Args: []string{"true"}, Closed: []int{3}})
	require.EqualError(t, err, "new supervisor: closed descriptor 3: only 0, 1 and 2 can be")
}
