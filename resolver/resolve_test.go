package resolver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// tree builds the directory tree the differential tests resolve in and returns its
// canonical path.
//
//	d/f d/sub/g d/sub/deeper/        files and directories
//	d/sub/up -> ..                   a relative symlink that climbs
//	rel -> d/f  abs -> <root>/d/f    relative and absolute symlinks to a file
//	dir -> d  dotdot -> d/sub/..     symlinks to directories
//	chain -> chain2 -> rel           a chain
//	loop1 <-> loop2, self -> self    loops
//	dangling -> d/new  dangling_abs -> <root>/d/newabs
//	inroot -> /d/f                   absolute, meant for RESOLVE_IN_ROOT
//	c0 -> c1 -> ... -> c40 -> d/f    41 links from c0, 40 from c1
func tree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	mk := func(p string) { require.NoError(t, os.MkdirAll(filepath.Join(root, p), 0o755)) }
	file := func(p string) { require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(p), 0o644)) }
	link := func(target, p string) { require.NoError(t, os.Symlink(target, filepath.Join(root, p))) }
	mk("d/sub/deeper")
	file("d/f")
	file("d/sub/g")
	link("..", "d/sub/up")
	link("d/f", "rel")
	link(root+"/d/f", "abs")
	link("d", "dir")
	link("d/sub/..", "dotdot")
	link("chain2", "chain")
	link("rel", "chain2")
	link("loop2", "loop1")
	link("loop1", "loop2")
	link("self", "self")
	link("d/new", "dangling")
	link(root+"/d/newabs", "dangling_abs")
	link("/d/f", "inroot")
	for i := 0; i < 40; i++ {
		link("c"+strconv.Itoa(i+1), "c"+strconv.Itoa(i))
	}
	link("d/f", "c40")
	return root
}

func newResolver(t *testing.T) *Resolver {
	t.Helper()
	r, err := New(Options{})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// kernelOpen is the reference: the kernel's own openat2 in the test process.
func kernelOpen(dirfd int, path string, flags, mode, resolve uint64) (int, error) {
	if !willCreate(flags) {
		mode = 0
	}
	return unix.Openat2(dirfd, path, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Mode: mode, Resolve: resolve})
}

// ourOpen resolves and opens as scrim would, returning the Request's path and object too.
func ourOpen(r *Resolver, child Child, in Input) (*os.File, *Resolution, error) {
	in.Lookup = OpenLookup(in.Flags)
	res, err := r.Resolve(&in, child)
	if err != nil {
		return nil, nil, err
	}
	f, err := res.Request.Target.Open(int(in.Flags), uint32(in.Mode))
	if err != nil {
		return nil, res, err
	}
	return f, res, nil
}

func statxFd(t *testing.T, fd int) unix.Statx_t {
	t.Helper()
	var st unix.Statx_t
	require.NoError(t, statFd(fd, &st))
	return st
}

type diffCase struct {
	name    string
	dirfd   string // "cwd" (the tree), "d", "dpath" (O_PATH), "file", "bad", or "" for AT_FDCWD
	path    string
	flags   uint64
	resolve uint64
	// want is the expected canonical path, relative to the tree unless it starts with "/";
	// "" when the call fails.
	want string
	// wantErr is the errno, which must also be the kernel's.
	wantErr unix.Errno
}

func TestResolveMatchesKernel(t *testing.T) {
	root := tree(t)
	r := newResolver(t)
	t.Chdir(root)

	dfd, err := unix.Open(root+"/d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(dfd)
	dpath, err := unix.Open(root+"/d", unix.O_PATH|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(dpath)
	ffd, err := unix.Open(root+"/d/sub/g", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(ffd)
	dirfds := map[string]int{"": unix.AT_FDCWD, "cwd": unix.AT_FDCWD, "d": dfd, "dpath": dpath, "file": ffd, "bad": 9999}
	pid := strconv.Itoa(os.Getpid())
	d, g := strconv.Itoa(dfd), strconv.Itoa(ffd)

	const (
		rdonly = unix.O_RDONLY
		opath  = unix.O_PATH
		nofol  = unix.O_NOFOLLOW
	)
	cases := []diffCase{
		{name: "relative file", path: "d/f", want: "d/f"},
		{name: "absolute file", path: root + "/d/f", want: "d/f"},
		{name: "double slashes and dots", path: ".//d/./sub/../f", want: "d/f"},
		{name: "dot", path: ".", want: ""},
		{name: "root", path: "/", want: "/"},
		{name: "dotdot past root", path: "/../../etc/../" + root[1:] + "/d/f", want: "d/f"},
		{name: "relative symlink", path: "rel", want: "d/f"},
		{name: "absolute symlink", path: "abs", want: "d/f"},
		{name: "symlink to dir", path: "dir/sub/g", want: "d/sub/g"},
		{name: "dotdot after symlink", path: "dir/../d/f", want: "d/f"},
		{name: "symlink that climbs", path: "d/sub/up/f", want: "d/f"},
		{name: "symlink with dotdot body", path: "dotdot/f", want: "d/f"},
		{name: "dotdot after climbing symlink", path: "d/sub/up/../rel", want: "d/f"},
		{name: "chain", path: "chain", want: "d/f"},
		{name: "loop", path: "loop1", wantErr: unix.ELOOP},
		{name: "self loop", path: "self", wantErr: unix.ELOOP},
		{name: "40 links", path: "c1", want: "d/f"},
		{name: "41 links", path: "c0", wantErr: unix.ELOOP},
		{name: "missing", path: "d/nope", wantErr: unix.ENOENT},
		{name: "missing dir", path: "d/nope/x", wantErr: unix.ENOENT},
		{name: "dotdot after missing", path: "d/nope/../f", wantErr: unix.ENOENT},
		{name: "dangling", path: "dangling", wantErr: unix.ENOENT},
		{name: "trailing slash on file", path: "d/f/", wantErr: unix.ENOTDIR},
		{name: "trailing slash on symlink to file", path: "rel/", wantErr: unix.ENOTDIR},
		{name: "trailing slash on symlink to dir", path: "dir/", want: "d"},
		{name: "trailing slash with nofollow follows", path: "dir/", flags: opath | nofol, want: "d"},
		{name: "file in the middle", path: "d/f/x", wantErr: unix.ENOTDIR},
		{name: "dot after file", path: "d/f/.", wantErr: unix.ENOTDIR},
		{name: "dotdot after file", path: "d/f/..", wantErr: unix.ENOTDIR},
		{name: "nofollow on symlink", path: "rel", flags: nofol, wantErr: unix.ELOOP},
		{name: "opath nofollow opens the link", path: "rel", flags: opath | nofol, want: "rel"},
		{name: "nofollow on a directory symlink in the middle", path: "dir/f", flags: nofol, want: "d/f"},
		{name: "directory flag on file", path: "d/f", flags: unix.O_DIRECTORY, wantErr: unix.ENOTDIR},
		{name: "directory flag through symlink", path: "dir", flags: unix.O_DIRECTORY, want: "d"},
		{name: "opath directory on symlink", path: "rel", flags: opath | nofol | unix.O_DIRECTORY, wantErr: unix.ENOTDIR},
		{name: "write on directory", path: "d", flags: unix.O_WRONLY, wantErr: unix.EISDIR},
		{name: "trunc on directory", path: "d", flags: unix.O_TRUNC, wantErr: unix.EISDIR},
		{name: "creat on directory", path: "d", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: unix.EISDIR},
		{name: "creat trailing slash on file", path: "d/f/", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: unix.EISDIR},
		{name: "excl on existing", path: "d/f", flags: unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, wantErr: unix.EEXIST},
		{name: "excl on symlink", path: "rel", flags: unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, wantErr: unix.EEXIST},
		{name: "excl on dangling", path: "dangling", flags: unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, wantErr: unix.EEXIST},
		{name: "creat dangling nofollow", path: "dangling", flags: unix.O_CREAT | nofol | unix.O_WRONLY, wantErr: unix.ELOOP},
		{name: "creat in missing dir", path: "d/nope/x", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: unix.ENOENT},

		{name: "dirfd", dirfd: "d", path: "sub/g", want: "d/sub/g"},
		{name: "opath dirfd", dirfd: "dpath", path: "sub/../f", want: "d/f"},
		{name: "dirfd dotdot", dirfd: "d", path: "../rel", want: "d/f"},
		{name: "dirfd ignored for absolute", dirfd: "bad", path: root + "/d/f", want: "d/f"},
		{name: "bad dirfd", dirfd: "bad", path: "f", wantErr: unix.EBADF},
		{name: "file dirfd", dirfd: "file", path: "f", wantErr: unix.ENOTDIR},

		{name: "proc self fd", path: "/proc/self/fd/" + d + "/f", want: "d/f"},
		{name: "proc pid fd", path: "/proc/" + pid + "/fd/" + d + "/sub/g", want: "d/sub/g"},
		{name: "dev fd", path: "/dev/fd/" + d + "/sub/../f", want: "d/f"},
		{name: "proc self fd of a file", path: "/proc/self/fd/" + g, want: "d/sub/g"},
		{name: "proc self fd of a file then more", path: "/proc/self/fd/" + g + "/x", wantErr: unix.ENOTDIR},
		{name: "trailing slash on a magic link to a file", path: "/proc/self/fd/" + g + "/", wantErr: unix.ENOTDIR},
		{name: "trailing slash on a magic link to a dir", path: "/proc/self/fd/" + d + "/", want: "d"},
		{name: "proc self fd not open", path: "/proc/self/fd/9999", wantErr: unix.ENOENT},
		{name: "proc self cwd", path: "/proc/self/cwd/d/f", want: "d/f"},
		{name: "proc thread-self cwd", path: "/proc/thread-self/cwd/rel", want: "d/f"},
		{name: "proc self root", path: "/proc/self/root" + root + "/d/f", want: "d/f"},
		{name: "proc self root dotdot", path: "/proc/self/root/../../" + root + "/d/f", want: "d/f"},
		{name: "proc self fd dotdot", path: "/proc/self/fd/" + d + "/../d/f", want: "d/f"},
		{name: "proc self status", path: "/proc/self/status", want: "/proc/" + pid + "/status"},
		{name: "proc self dotdot", path: "/proc/self/../self/status", want: "/proc/" + pid + "/status"},
		{name: "magic link nofollow", path: "/proc/self/cwd", flags: nofol, wantErr: unix.ELOOP},
		{name: "magic link opath nofollow", path: "/proc/self/cwd", flags: opath | nofol, want: "/proc/" + pid + "/cwd"},

		{name: "beneath", dirfd: "cwd", path: "d/sub/up/f", resolve: unix.RESOLVE_BENEATH, want: "d/f"},
		{name: "beneath escapes by dotdot", dirfd: "d", path: "../rel", resolve: unix.RESOLVE_BENEATH, wantErr: unix.EXDEV},
		{name: "beneath absolute", dirfd: "cwd", path: root + "/d/f", resolve: unix.RESOLVE_BENEATH, wantErr: unix.EXDEV},
		{name: "beneath absolute symlink", dirfd: "cwd", path: "abs", resolve: unix.RESOLVE_BENEATH, wantErr: unix.EXDEV},
		{name: "beneath magic link", dirfd: "cwd", path: "/proc/self/cwd", resolve: unix.RESOLVE_BENEATH, wantErr: unix.EXDEV},
		{name: "in root absolute", dirfd: "cwd", path: "/d/f", resolve: unix.RESOLVE_IN_ROOT, want: "d/f"},
		{name: "in root absolute symlink", dirfd: "cwd", path: "inroot", resolve: unix.RESOLVE_IN_ROOT, want: "d/f"},
		{name: "in root dotdot stays", dirfd: "d", path: "../../../f", resolve: unix.RESOLVE_IN_ROOT, want: "d/f"},
		{name: "in root outside symlink", dirfd: "cwd", path: "abs", resolve: unix.RESOLVE_IN_ROOT, wantErr: unix.ENOENT},
		{name: "no symlinks", path: "dir/f", resolve: unix.RESOLVE_NO_SYMLINKS, wantErr: unix.ELOOP},
		{name: "no symlinks opath nofollow last", path: "rel", flags: opath | nofol, resolve: unix.RESOLVE_NO_SYMLINKS, want: "rel"},
		{name: "no symlinks proc self", path: "/proc/self/status", resolve: unix.RESOLVE_NO_SYMLINKS, wantErr: unix.ELOOP},
		{name: "no magic links", path: "/proc/self/fd/" + d + "/f", resolve: unix.RESOLVE_NO_MAGICLINKS, wantErr: unix.ELOOP},
		{name: "no magic links plain symlink", path: "chain", resolve: unix.RESOLVE_NO_MAGICLINKS, want: "d/f"},
		{name: "no xdev into proc", path: "/proc/cpuinfo", resolve: unix.RESOLVE_NO_XDEV, wantErr: unix.EXDEV},
		{name: "no xdev within", dirfd: "cwd", path: "dir/sub/up/f", resolve: unix.RESOLVE_NO_XDEV, want: "d/f"},
		{name: "no xdev absolute symlink in a relative lookup", dirfd: "cwd", path: "abs", resolve: unix.RESOLVE_NO_XDEV, wantErr: unix.EXDEV},
		{name: "no xdev absolute symlink after dotdot", dirfd: "d", path: "../abs", resolve: unix.RESOLVE_NO_XDEV, want: "d/f"},
		{name: "no xdev absolute symlink in an absolute lookup", path: root + "/abs", resolve: unix.RESOLVE_NO_XDEV, want: "d/f"},
		{name: "no xdev magic link", dirfd: "cwd", path: "/proc/self/fd/" + d, resolve: unix.RESOLVE_NO_XDEV, wantErr: unix.EXDEV},
	}
	for _, walk := range []string{"fast", "walk"} {
		r.noFast = walk == "walk"
		for _, tc := range cases {
			t.Run(walk+"/"+tc.name, func(t *testing.T) { checkDiff(t, r, root, dirfds[tc.dirfd], tc) })
		}
	}
}

func checkDiff(t *testing.T, r *Resolver, root string, dirfd int, tc diffCase) {
	t.Helper()
	flags := tc.flags
	kfd, kerr := kernelOpen(dirfd, tc.path, flags, 0, tc.resolve)
	if kerr == nil {
		defer unix.Close(kfd)
	}
	in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: int32(dirfd),
		Path: []byte(tc.path), Flags: flags, Resolve: tc.resolve}
	f, res, err := ourOpen(r, Self{}, in)
	if res != nil {
		defer res.Close()
	}
	if tc.wantErr != 0 {
		require.Equal(t, tc.wantErr, kerr, "the kernel disagrees with the table")
		require.ErrorIs(t, err, tc.wantErr)
		return
	}
	require.NoError(t, kerr, "the kernel disagrees with the table")
	require.NoError(t, err)
	defer f.Close()
	kst, ost := statxFd(t, kfd), statxFd(t, int(f.Fd()))
	require.Equal(t, identOf(&kst), identOf(&ost), "not the kernel's object")
	require.Equal(t, unix.Mkdev(kst.Dev_major, kst.Dev_minor), res.Request.Object.Dev)
	require.Equal(t, kst.Ino, res.Request.Object.Ino)
	require.Equal(t, uint32(kst.Mode), res.Request.Object.Mode)
	want := tc.want
	if len(want) == 0 || want[0] != '/' {
		want = filepath.Join(root, want)
	}
	require.Equal(t, want, string(res.Request.Path))
}

// TestResolveCreates runs scrim's open first and the kernel's on a fresh tree, and compares.
func TestResolveCreates(t *testing.T) {
	r := newResolver(t)
	cases := []struct {
		name    string
		path    string
		flags   uint64
		created string // the file that must now exist, relative to the tree
		wantErr unix.Errno
	}{
		{name: "new file", path: "d/new1", flags: unix.O_CREAT | unix.O_WRONLY, created: "d/new1"},
		{name: "new file excl", path: "d/new1", flags: unix.O_CREAT | unix.O_EXCL | unix.O_RDWR, created: "d/new1"},
		{name: "through dangling symlink", path: "dangling", flags: unix.O_CREAT | unix.O_WRONLY, created: "d/new"},
		{name: "through absolute dangling symlink", path: "dangling_abs", flags: unix.O_CREAT | unix.O_WRONLY, created: "d/newabs"},
		{name: "through a directory symlink", path: "dir/new2", flags: unix.O_CREAT | unix.O_WRONLY, created: "d/new2"},
		{name: "existing without excl", path: "d/f", flags: unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, created: "d/f"},
		{name: "trailing slash", path: "d/new3/", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: unix.EISDIR},
		{name: "missing directory", path: "d/nope/new", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: unix.ENOENT},
		{name: "without creat", path: "d/new4", flags: unix.O_WRONLY, wantErr: unix.ENOENT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var errs [2]error
			var modes [2]uint32
			for i := range 2 {
				root := tree(t)
				t.Chdir(root)
				if i == 0 {
					in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: unix.AT_FDCWD,
						Path: []byte(tc.path), Flags: tc.flags, Mode: 0o640 * uint64(b2i(willCreate(tc.flags)))}
					f, res, err := ourOpen(r, Self{}, in)
					if res != nil {
						res.Close()
					}
					if f != nil {
						f.Close()
					}
					errs[i] = err
				} else {
					fd, err := kernelOpen(unix.AT_FDCWD, tc.path, tc.flags, 0o640, 0)
					if err == nil {
						unix.Close(fd)
					}
					errs[i] = err
				}
				if tc.created != "" && errs[i] == nil {
					st, err := os.Lstat(filepath.Join(root, tc.created))
					require.NoError(t, err)
					modes[i] = uint32(st.Mode().Perm())
				}
			}
			if tc.wantErr != 0 {
				require.Equal(t, tc.wantErr, errs[1], "the kernel disagrees with the table")
				require.ErrorIs(t, errs[0], tc.wantErr)
				return
			}
			require.NoError(t, errs[1], "the kernel disagrees with the table")
			require.NoError(t, errs[0])
			require.Equal(t, modes[1], modes[0], "umask or mode differ")
		})
	}
}

// TestResolveTmpfile checks O_TMPFILE reopens the directory for an unnamed file.
func TestResolveTmpfile(t *testing.T) {
	root := tree(t)
	r := newResolver(t)
	in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: unix.AT_FDCWD,
		Path: []byte(root + "/d"), Flags: unix.O_TMPFILE | unix.O_RDWR, Mode: 0o600}
	f, res, err := ourOpen(r, Self{}, in)
	require.NoError(t, err)
	defer res.Close()
	defer f.Close()
	st := statxFd(t, int(f.Fd()))
	require.Equal(t, uint16(unix.S_IFREG), st.Mode&unix.S_IFMT)
	require.Zero(t, st.Nlink)
}

// TestResolveAsUnprivileged drops the test thread's fsuid, as the supervisor does for a
// child running as nobody, and checks the walk honours it where the kernel does.
func TestResolveAsUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: switches the thread's fsuid to nobody")
	}
	root := tree(t)
	r := newResolver(t)
	// t.TempDir's directories are private to root.
	require.NoError(t, os.Chmod(filepath.Dir(root), 0o755))
	require.NoError(t, os.Chmod(root, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(root, "closed"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(root, "closed/secret"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "d/private"), nil, 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(root, "ro"), 0o755))
	// A sticky world-writable directory like /tmp, with someone else's files in it.
	sticky := filepath.Join(root, "sticky")
	require.NoError(t, os.Mkdir(sticky, 0o777))
	require.NoError(t, os.Chmod(sticky, 0o1777))
	require.NoError(t, unix.Mknod(sticky+"/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	require.NoError(t, os.WriteFile(sticky+"/reg", nil, 0o666))
	require.NoError(t, os.Chmod(sticky+"/reg", 0o666))
	require.NoError(t, os.Lchown(sticky+"/null", 1000, 1000))
	require.NoError(t, os.Lchown(sticky+"/reg", 1000, 1000))
	var regErr unix.Errno // fs.protected_regular decides for regular files
	if r.protectedRegular != 0 {
		regErr = unix.EACCES
	}
	cases := []struct {
		name    string
		path    string
		flags   uint64
		wantErr unix.Errno
	}{
		{name: "search permission", path: "closed/secret", wantErr: unix.EACCES},
		{name: "dot in unsearchable dir", path: "closed/.", wantErr: unix.EACCES},
		{name: "dotdot through unsearchable dir", path: "closed/../d/f", wantErr: unix.EACCES},
		{name: "read permission", path: "d/private", wantErr: unix.EACCES},
		{name: "create in unwritable dir", path: "ro/x", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: unix.EACCES},
		{name: "readable file", path: "d/f"},
		{name: "creat on someone else's device in a sticky dir", path: "sticky/null", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: unix.EACCES},
		{name: "creat on someone else's file in a sticky dir", path: "sticky/reg", flags: unix.O_CREAT | unix.O_WRONLY, wantErr: regErr},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			_, err := unix.SetfsuidRetUid(65534)
			require.NoError(t, err)
			defer unix.SetfsuidRetUid(0)
			path := root + "/" + tc.path
			kfd, kerr := kernelOpen(unix.AT_FDCWD, path, tc.flags, 0o644, 0)
			if kerr == nil {
				unix.Close(kfd)
			}
			in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: unix.AT_FDCWD,
				Path: []byte(path), Flags: tc.flags, Mode: 0o644 * uint64(b2i(willCreate(tc.flags)))}
			f, res, err := ourOpen(r, Self{}, in)
			if res != nil {
				res.Close()
			}
			if f != nil {
				f.Close()
			}
			if tc.wantErr != 0 {
				require.Equal(t, tc.wantErr, kerr, "the kernel disagrees with the table")
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, kerr)
			require.NoError(t, err)
		})
	}
}

// TestResolveEmptyPath checks Resolve answers an empty path as getname does even when its
// Input did not come from Decode.
func TestResolveEmptyPath(t *testing.T) {
	r := newResolver(t)
	_, err := r.Resolve(&Input{Syscall: 1, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: unix.AT_FDCWD}, Self{})
	require.Equal(t, unix.ENOENT, err)
}

// TestChildErrno checks the two kinds of failure stay apart.
func TestChildErrno(t *testing.T) {
	e, ok := ChildErrno(unix.ENOENT)
	require.True(t, ok)
	require.Equal(t, unix.ENOENT, e)
	_, ok = ChildErrno(errors.New("read child memory: gone"))
	require.False(t, ok)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestResolveLeaksNoDescriptors resolves every kind of outcome many times and checks the
// process holds no more descriptors afterwards.
func TestResolveLeaksNoDescriptors(t *testing.T) {
	root := tree(t)
	r := newResolver(t)
	t.Chdir(root)
	dfd, err := unix.Open(root+"/d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(dfd)
	d := strconv.Itoa(dfd)
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	paths := []string{"d/f", "rel", "chain", "loop1", "c0", "d/nope", "d/nope/x", "d/nope/../f",
		"d/f/", "/proc/self/fd/" + d + "/f", "/proc/self/cwd/dir/sub/up/f", "/proc/self/status",
		"/dev/stdin", ".", "/", "dangling"}
	before := count()
	for range 10 {
		for _, walk := range []bool{false, true} {
			r.noFast = walk
			for _, p := range paths {
				for _, dirfd := range []int32{unix.AT_FDCWD, int32(dfd), 9999} {
					in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: dirfd, Path: []byte(p)}
					f, res, _ := ourOpen(r, Self{}, in)
					if f != nil {
						f.Close()
					}
					if res != nil {
						res.Close()
						res.Close()
					}
				}
			}
		}
	}
	require.Equal(t, before, count())
}

// TestResolveConcurrent resolves from many goroutines at once, as the supervisor's workers
// do; run it under -race.
func TestResolveConcurrent(t *testing.T) {
	root := tree(t)
	r := newResolver(t)
	paths := []string{"/d/f", "/rel", "/chain", "/d/sub/up/f", "/d/nope", "/loop1", "/dir/sub/g"}
	want := map[string]unix.Errno{"/d/nope": unix.ENOENT, "/loop1": unix.ELOOP}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 200 {
				p := paths[(g+i)%len(paths)]
				in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: unix.AT_FDCWD, Path: []byte(root + p)}
				f, res, err := ourOpen(r, Self{}, in)
				if res != nil {
					res.Close()
				}
				if f != nil {
					f.Close()
				}
				if e := want[p]; !(e == 0 && err == nil || e != 0 && errors.Is(err, e)) {
					done <- fmt.Errorf("%s: %v", p, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-done)
	}
}
