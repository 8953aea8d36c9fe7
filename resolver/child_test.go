package resolver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// procChild is a Child for another process, reached as the supervisor reaches a sandboxed
// one: its cwd and root through procfs, its descriptors with pidfd_getfd.
type procChild struct{ pid int }

func (c procChild) Cwd() (*os.File, error) { return openPath("/proc/" + strconv.Itoa(c.pid) + "/cwd") }
func (c procChild) Root() (*os.File, error) {
	return openPath("/proc/" + strconv.Itoa(c.pid) + "/root")
}

func (c procChild) Fd(n int) (*os.File, error) {
	pidfd, err := unix.PidfdOpen(c.pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", c.pid, err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, n, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_getfd %d of %d: %w", n, c.pid, err)
	}
	return os.NewFile(uintptr(fd), ""), nil
}

func (c procChild) Cred() (shim.Cred, uint32, error) {
	return readCred("/proc/" + strconv.Itoa(c.pid) + "/status")
}

// TestResolveForAnotherProcess resolves for a real child process: /proc/self, its cwd, its
// descriptors and /dev/std* must mean the child, never the resolving process.
func TestResolveForAnotherProcess(t *testing.T) {
	root := tree(t)
	r := newResolver(t)
	stdin, err := os.Open(root + "/d/f")
	require.NoError(t, err)
	defer stdin.Close()
	g, err := os.Open(root + "/d/sub/g")
	require.NoError(t, err)
	defer g.Close()
	sub, err := os.Open(root + "/d/sub")
	require.NoError(t, err)
	defer sub.Close()

	cmd := exec.Command("sleep", "60")
	cmd.Dir = root + "/d"
	cmd.Stdin = stdin
	cmd.ExtraFiles = []*os.File{g, sub} // fds 3 and 4
	require.NoError(t, cmd.Start())
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	sp, me := strconv.Itoa(pid), strconv.Itoa(os.Getpid())

	cases := []struct {
		name    string
		dirfd   int32
		path    string
		want    string // an absolute path to the expected object; also the expected Path
		wantErr unix.Errno
	}{
		{name: "proc self", path: "/proc/self/status", want: "/proc/" + sp + "/status"},
		{name: "proc thread-self", path: "/proc/thread-self/status", want: "/proc/" + sp + "/task/" + sp + "/status"},
		{name: "relative to its cwd", path: "f", want: root + "/d/f"},
		{name: "proc self cwd", path: "/proc/self/cwd/sub/../f", want: root + "/d/f"},
		{name: "its fd", path: "/proc/self/fd/3", want: root + "/d/sub/g"},
		{name: "dev fd", path: "/dev/fd/3", want: root + "/d/sub/g"},
		{name: "its pid explicitly", path: "/proc/" + sp + "/fd/3", want: root + "/d/sub/g"},
		{name: "dev stdin", path: "/dev/stdin", want: root + "/d/f"},
		{name: "its directory fd as a path", path: "/dev/fd/4/g", want: root + "/d/sub/g"},
		{name: "its dirfd", dirfd: 4, path: "up/f", want: root + "/d/f"},
		{name: "its dirfd not open", dirfd: 99, path: "f", wantErr: unix.EBADF},
		{name: "proc self root", path: "/proc/self/root" + root + "/rel", want: root + "/d/f"},
		{name: "scrim's own entries are hidden", path: "/proc/" + me + "/status", wantErr: unix.ENOENT},
		{name: "scrim's own fds are hidden", path: "/proc/self/../" + me + "/fd/0", wantErr: unix.ENOENT},
	}
	for _, walk := range []string{"fast", "walk"} {
		r.noFast = walk == "walk"
		for _, tc := range cases {
			t.Run(walk+"/"+tc.name, func(t *testing.T) {
				dirfd := tc.dirfd
				if dirfd == 0 {
					dirfd = unix.AT_FDCWD
				}
				in := Input{Syscall: shim.SysOpenat, PID: pid, TID: pid, Dirfd: dirfd, Path: []byte(tc.path)}
				f, res, err := ourOpen(r, procChild{pid}, in)
				if res != nil {
					defer res.Close()
				}
				if tc.wantErr != 0 {
					require.ErrorIs(t, err, tc.wantErr)
					return
				}
				require.NoError(t, err)
				defer f.Close()
				var want unix.Stat_t
				require.NoError(t, unix.Stat(tc.want, &want))
				require.Equal(t, uint64(want.Dev), res.Request.Object.Dev)
				require.Equal(t, want.Ino, res.Request.Object.Ino)
				require.Equal(t, tc.want, string(res.Request.Path))
				var got unix.Stat_t
				require.NoError(t, unix.Fstat(int(f.Fd()), &got))
				require.Equal(t, want.Ino, got.Ino)
			})
		}
	}
}

// TestResolveInChrootRoot resolves for children whose root is a directory of the tree, as in
// chroot mode: absolute paths, absolute symlinks and ".." stay inside, and Path is in the
// child's view.
func TestResolveInChrootRoot(t *testing.T) {
	root := tree(t)
	r, err := New(Options{Root: root})
	require.NoError(t, err)
	defer r.Close()
	require.False(t, r.shared)
	t.Chdir(root + "/d")
	cases := []struct {
		name    string
		path    string
		want    string // in the child's view
		wantErr unix.Errno
	}{
		{name: "absolute", path: "/d/f", want: "/d/f"},
		{name: "root", path: "/", want: "/"},
		{name: "dotdot stays at the root", path: "/../../d/f", want: "/d/f"},
		{name: "relative climbs to the root", path: "../../../d/sub/g", want: "/d/sub/g"},
		{name: "absolute symlink is scoped", path: "/inroot", want: "/d/f"},
		{name: "host absolute symlink is not", path: "/abs", wantErr: unix.ENOENT},
		{name: "relative symlink", path: "/chain", want: "/d/f"},
		{name: "host path is not", path: root + "/d/f", wantErr: unix.ENOENT},
		{name: "missing keeps the child's view", path: "/run/scrim/info", want: "/run/scrim/info"},
		{name: "relative", path: "sub/g", want: "/d/sub/g"},
		{name: "relative through a symlink", path: "sub/up/sub/up/../rel", want: "/d/f"},
		{name: "absolute through a climbing symlink", path: "/d/sub/up/../../../d/f", want: "/d/f"},
		{name: "absolute symlink after climbing", path: "/dir/sub/up/../inroot", want: "/d/f"},
	}
	for _, walk := range []string{"fast", "walk"} {
		r.noFast = walk == "walk"
		for _, tc := range cases {
			t.Run(walk+"/"+tc.name, func(t *testing.T) { checkChroot(t, r, root, tc.path, tc.want, tc.wantErr) })
		}
	}
}

func checkChroot(t *testing.T, r *Resolver, root, path, want string, wantErr unix.Errno) {
	t.Helper()
	in := Input{Syscall: shim.SysOpen, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: unix.AT_FDCWD, Path: []byte(path)}
	res, err := r.Resolve(&in, Self{})
	if err == nil {
		defer res.Close()
	}
	if wantErr != 0 && !errors.Is(err, wantErr) {
		require.NoError(t, err)
		require.False(t, res.Request.Object.Exists, "want %v", wantErr)
		_, err = res.Request.Target.Open(0, 0)
	}
	if wantErr != 0 {
		require.ErrorIs(t, err, wantErr)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, string(res.Request.Path))
	if res.Request.Object.Exists {
		var st unix.Stat_t
		require.NoError(t, unix.Stat(filepath.Join(root, want), &st))
		require.Equal(t, st.Ino, res.Request.Object.Ino)
	}
}

// TestResolveHidesForeignPids walks through another process's magic links: with Visible
// saying the process is not in the sandbox, its /proc entry does not exist for the walk, so
// its cwd and root cannot carry a path out of the sandbox's view.
func TestResolveHidesForeignPids(t *testing.T) {
	root := tree(t)
	foreign := exec.Command("sleep", "60")
	foreign.Dir = root + "/d"
	require.NoError(t, foreign.Start())
	defer func() {
		foreign.Process.Kill()
		foreign.Wait()
	}()
	caller := exec.Command("sleep", "60")
	require.NoError(t, caller.Start())
	defer func() {
		caller.Process.Kill()
		caller.Wait()
	}()
	fp, cp := strconv.Itoa(foreign.Process.Pid), caller.Process.Pid

	visible := func(pid int) bool { return pid == cp }
	r, err := New(Options{Visible: visible})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })

	cases := []struct {
		name    string
		path    string
		wantErr unix.Errno
	}{
		{name: "foreign cwd", path: "/proc/" + fp + "/cwd/f", wantErr: unix.ENOENT},
		{name: "foreign root", path: "/proc/" + fp + "/root" + root + "/d/f", wantErr: unix.ENOENT},
		{name: "foreign through self and dot-dot", path: "/proc/self/../" + fp + "/cwd/f", wantErr: unix.ENOENT},
		{name: "own cwd still works", path: "/proc/self/cwd"},
	}
	for _, walk := range []string{"fast", "walk"} {
		r.noFast = walk == "walk"
		for _, tc := range cases {
			t.Run(walk+"/"+tc.name, func(t *testing.T) {
				in := Input{Syscall: shim.SysOpenat, PID: cp, TID: cp, Dirfd: unix.AT_FDCWD, Path: []byte(tc.path)}
				f, res, err := ourOpen(r, procChild{cp}, in)
				if res != nil {
					defer res.Close()
				}
				if tc.wantErr != 0 {
					require.ErrorIs(t, err, tc.wantErr)
					return
				}
				require.NoError(t, err)
				f.Close()
			})
		}
	}

	// Without Visible the same foreign cwd resolves: the test above is not passing by accident.
	plain := newResolver(t)
	in := Input{Syscall: shim.SysOpenat, PID: cp, TID: cp, Dirfd: unix.AT_FDCWD, Path: []byte("/proc/" + fp + "/cwd/f")}
	f, res, err := ourOpen(plain, procChild{cp}, in)
	require.NoError(t, err)
	f.Close()
	res.Close()
}
