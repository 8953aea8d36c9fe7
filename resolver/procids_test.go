package resolver

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestProcIDsNumberSelf: with Options.ProcIDs, /proc/self and /proc/thread-self name the
// caller by the numbers ProcIDs gives, followed or read with readlink (a container's procfs numbers its processes in its own
// pid namespace), and the descriptors under that number are still the caller's own. Here the
// caller a is "known" by the number of another process b, as a procfs of another namespace
// would know it.
func TestProcIDsNumberSelf(t *testing.T) {
	root := tree(t)
	g, err := os.Open(root + "/d/sub/g")
	require.NoError(t, err)
	defer g.Close()
	start := func(extra ...*os.File) int {
		cmd := exec.Command("sleep", "60")
		cmd.ExtraFiles = extra
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		return cmd.Process.Pid
	}
	other, err := os.Open(root + "/d/f")
	require.NoError(t, err)
	defer other.Close()
	a, b := start(g), start(other)
	r, err := New(Options{ProcIDs: func(pid, tid int) (int, int) {
		if pid == a && tid == a {
			return b, b
		}
		return 0, 0
	}})
	require.NoError(t, err)
	defer r.Close()
	sb := strconv.Itoa(b)
	for _, tc := range []struct{ path, want string }{
		{"/proc/self/status", "/proc/" + sb + "/status"},
		{"/proc/thread-self/status", "/proc/" + sb + "/task/" + sb + "/status"},
		// b's descriptor 3 is another file: the caller's own is meant.
		{"/proc/self/fd/3", root + "/d/sub/g"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			in := Input{Syscall: shim.SysOpenat, PID: a, TID: a, Dirfd: unix.AT_FDCWD, Path: []byte(tc.path)}
			f, res, err := ourOpen(r, procChild{a}, in)
			if res != nil {
				defer res.Close()
			}
			require.NoError(t, err)
			defer f.Close()
			require.Equal(t, tc.want, string(res.Request.Path))
			var want, got unix.Stat_t
			require.NoError(t, unix.Stat(tc.want, &want))
			require.NoError(t, unix.Fstat(int(f.Fd()), &got))
			require.Equal(t, want.Ino, got.Ino)
		})
	}
	// readlink of the links themselves says what the walk follows them to.
	for _, tc := range []struct{ path, want string }{
		{"/proc/self", sb},
		{"/proc/thread-self", sb + "/task/" + sb},
	} {
		t.Run("readlink "+tc.path, func(t *testing.T) {
			in := Input{Syscall: shim.SysReadlink, PID: a, TID: a, Dirfd: unix.AT_FDCWD, Path: []byte(tc.path), Lookup: Lookup{NoFollow: true}}
			res, err := r.Resolve(&in, procChild{a})
			require.NoError(t, err)
			defer res.Close()
			buf := make([]byte, 64)
			n, err := res.Readlink(buf)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(buf[:n]))
		})
	}
}

// heldChild is a Child whose descriptors were taken before the test's thread dropped the
// rights to take them.
type heldChild struct {
	procChild
	fds map[int]*os.File
}

func (c heldChild) Fd(n int) (*os.File, error) {
	f, ok := c.fds[n]
	if !ok {
		return nil, unix.EBADF
	}
	return os.NewFile(uintptr(dupFd(f)), ""), nil
}

func dupFd(f *os.File) int {
	fd, _ := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	return fd
}

// TestOwnFdOfUndumpableCaller: a process that is not dumpable (one that changed its uid, as
// runc's init does before it opens its exec FIFO /proc/self/fd/N) owns a /proc/<pid>/fd that
// only root may search, yet the kernel lets the process itself through (proc_fd_permission).
// The resolver, on a thread with the caller's uid and no capabilities, does the same for the
// caller's own descriptors, and only for those, and its target says when it is the caller's
// own fd directory, which the supervisor then opens as procfs would let the caller. Root
// only: it needs a second uid.
func TestOwnFdOfUndumpableCaller(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to run a process as another uid")
	}
	const python = "/usr/bin/python3" // Debian's: one the other uid can execute
	if _, err := os.Stat(python); err != nil {
		t.Skip("skipped: /usr/bin/python3 makes the undumpable process")
	}
	root := t.TempDir()
	file := filepath.Join(root, "f")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	g, err := os.Open(file)
	require.NoError(t, err)
	defer g.Close()
	const uid = 65534
	cmd := exec.Command(python, "-c", "import ctypes,sys,time; ctypes.CDLL(None).prctl(4,0,0,0,0); print('ready', flush=True); time.sleep(60)")
	cmd.ExtraFiles = []*os.File{g}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	buf := make([]byte, 6)
	_, err = io.ReadFull(out, buf)
	require.NoError(t, err)
	pid := cmd.Process.Pid
	var st unix.Stat_t
	require.NoError(t, unix.Stat("/proc/"+strconv.Itoa(pid)+"/fd", &st))
	require.Zero(t, st.Uid, "an undumpable process's fd directory is root's")
	held, err := procChild{pid}.Fd(3)
	require.NoError(t, err)
	defer held.Close()
	child := heldChild{procChild{pid}, map[int]*os.File{3: held}}
	r := newResolver(t)

	type result struct {
		path string
		err  error
	}
	results := make(chan []result, 1)
	go func() {
		// This thread becomes the caller and is never given back (the goroutine ends
		// locked, so the runtime ends the thread).
		runtime.LockOSThread()
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uid, uid, uid); e != 0 {
			results <- []result{{err: e}}
			return
		}
		var rs []result
		for _, p := range []string{"/proc/self/fd/3", "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/0", "/proc/1/fd/0"} {
			in := Input{Syscall: shim.SysOpenat, PID: pid, TID: pid, Dirfd: unix.AT_FDCWD, Path: []byte(p)}
			f, res, err := ourOpen(r, child, in)
			var got string
			if err == nil {
				got = string(res.Request.Path)
				f.Close()
			}
			if res != nil {
				res.Close()
			}
			rs = append(rs, result{got, err})
		}
		// The directories themselves: the caller's own may be opened as procfs lets it.
		for _, p := range []string{"/proc/self/fd", "/proc/self/task/" + strconv.Itoa(pid) + "/fd", "/proc/self", "/proc/1/fd"} {
			in := Input{Syscall: shim.SysOpenat, PID: pid, TID: pid, Dirfd: unix.AT_FDCWD, Path: []byte(p), Flags: unix.O_RDONLY | unix.O_DIRECTORY}
			res, err := r.Resolve(&in, child)
			if err != nil {
				rs = append(rs, result{p, err})
				continue
			}
			own := res.Request.Target.(interface{ CallerFdDir() bool }).CallerFdDir()
			res.Close()
			rs = append(rs, result{p + " " + strconv.FormatBool(own), nil})
		}
		results <- rs
	}()
	rs := <-results
	require.Len(t, rs, 7, "%v", rs)
	require.Equal(t, []result{{path: "/proc/self/fd true"}, {path: "/proc/self/task/" + strconv.Itoa(pid) + "/fd true"},
		{path: "/proc/self false"}, {path: "/proc/1/fd false"}}, rs[3:])
	require.NoError(t, rs[0].err)
	require.Equal(t, file, rs[0].path)
	require.ErrorIs(t, rs[1].err, unix.ENOENT, "scrim's own entries stay hidden")
	require.ErrorIs(t, rs[2].err, unix.EACCES, "another process's fd directory stays closed")
}
