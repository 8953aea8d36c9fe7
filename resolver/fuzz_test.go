package resolver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzResolve resolves fuzzed spellings in a tree with two fuzzed symlinks and compares with
// the kernel's own openat2 of the same call: the same errno, or the same object and the
// canonical path the kernel reports for it. Only O_PATH opens are compared, so that a fuzzed
// path can never open a device or block on a FIFO.
//
//	go test ./resolver -run '^$' -fuzz '^FuzzResolve$' -fuzztime 60s
func FuzzResolve(f *testing.F) {
	f.Add("x/f", "d", "y", uint8(0), uint8(0), false)
	f.Add("y/../x/sub/up/f", "d/sub/..", "x/sub", uint8(1), uint8(0), true)
	f.Add("/proc/self/cwd/x/f", "/proc/self/fd/5", "..", uint8(0), uint8(2), false)
	f.Add("x//./y", "y", "x", uint8(3), uint8(4), false)
	f.Add("x/y/f", "../", "d/sub/up", uint8(2), uint8(16), true)
	f.Add("/dev/fd/0/x", "/dev/stdin", "/proc/thread-self/root", uint8(1), uint8(8), false)

	root, err := filepath.EvalSymlinks(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	base := filepath.Join(root, "base")
	if err := os.MkdirAll(base+"/d/sub", 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(base+"/d/f", nil, 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("..", base+"/d/sub/up"); err != nil {
		f.Fatal(err)
	}
	r, rc, bfd := fuzzResolvers(f, base)
	// The walk's cwd is the tree only while a call runs: the fuzzing engine writes failing
	// inputs relative to the package directory.
	pkgDir, err := os.Getwd()
	if err != nil {
		f.Fatal(err)
	}
	dfd, err := unix.Open(base+"/d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		f.Fatal(err)
	}
	defer unix.Close(dfd)
	flagSet := []uint64{unix.O_PATH, unix.O_PATH | unix.O_NOFOLLOW, unix.O_PATH | unix.O_DIRECTORY,
		unix.O_PATH | unix.O_NOFOLLOW | unix.O_DIRECTORY}

	f.Fuzz(func(t *testing.T, path, x, y string, flagSel, resolve uint8, useDirfd bool) {
		if path == "" || len(path) >= pathMax || strings.ContainsRune(path+x+y, 0) || x == "" || y == "" {
			return
		}
		res := uint64(resolve) & validResolveFlags
		if res&resolveBeneath != 0 && res&resolveInRoot != 0 {
			return
		}
		flags := flagSet[int(flagSel)%len(flagSet)]
		for _, l := range [][2]string{{x, "x"}, {y, "y"}} {
			os.Remove(base + "/" + l[1])
			if err := os.Symlink(l[0], base+"/"+l[1]); err != nil {
				return
			}
		}
		if err := os.Chdir(base); err != nil {
			t.Fatal(err)
		}
		defer os.Chdir(pkgDir)
		dirfd := unix.AT_FDCWD
		if useDirfd {
			dirfd = dfd
		}
		call := fmt.Sprintf("%q (x -> %q, y -> %q, flags %#o, resolve %#x, dirfd %v)", path, x, y, flags, res, useDirfd)
		in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: int32(dirfd),
			Path: []byte(path), Flags: flags, Resolve: res}
		kfd, kerr := kernelOpen(dirfd, path, flags, 0, res)
		compareKernel(t, r, call, in, kfd, kerr, nil)

		// The same call for children whose root is the tree, against the kernel's
		// RESOLVE_IN_ROOT from the tree: the same answer while no magic link is involved
		// (the tree has no /proc) and the lookup is relative to the root.
		if useDirfd || res&(resolveBeneath|resolveInRoot|resolveNoXdev) != 0 {
			return
		}
		kfd, kerr = kernelOpen(bfd, path, flags, 0, res|resolveInRoot)
		compareKernel(t, rc, "chroot: "+call, in, kfd, kerr, []byte(base))
	})
}

// compareKernel checks that scrim's resolution of in, through the fast path and the walk
// alone, ends where the kernel's (kfd, kerr) did. root is the children's root in the host's
// view, nil for the host's own.
func compareKernel(t *testing.T, r *Resolver, call string, in Input, kfd int, kerr error, root []byte) {
	t.Helper()
	if kerr == nil {
		defer unix.Close(kfd)
	}
	if kerr == unix.EAGAIN {
		return // RESOLVE_CACHED, or a rename race: either answer is the kernel's
	}
	for _, walk := range []string{"fast", "walk"} {
		r.noFast = walk == "walk"
		fl, rs, err := ourOpen(r, Self{}, in)
		if rs != nil {
			defer rs.Close()
		}
		if kerr != nil {
			if !errors.Is(err, kerr) {
				t.Fatalf("%s %s: kernel %v, scrim %v", walk, call, kerr, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %s: kernel opened it, scrim %v", walk, call, err)
		}
		defer fl.Close()
		var kst, ost unix.Statx_t
		if statFd(kfd, &kst) != nil || statFd(int(fl.Fd()), &ost) != nil {
			t.Fatal("statx failed")
		}
		if identOf(&kst) != identOf(&ost) {
			t.Fatalf("%s %s: not the kernel's object", walk, call)
		}
		kp, err := r.fdPath(kfd, nil)
		if err != nil || len(kp) == 0 || kp[0] != '/' || bytes.HasSuffix(kp, []byte(" (deleted)")) {
			continue
		}
		if root != nil {
			if bytes.Equal(kp, root) {
				kp = []byte("/")
			} else if !bytes.HasPrefix(kp, append(root, '/')) {
				continue
			} else {
				kp = kp[len(root):]
			}
		}
		if !bytes.Equal(kp, rs.Request.Path) {
			t.Fatalf("%s %s: path %q, the kernel says %q", walk, call, rs.Request.Path, kp)
		}
	}
}

// fuzzResolvers makes what the differential fuzz targets compare with the kernel: a resolver
// for the host's root, one whose root is dir (as in image mode), and an O_PATH descriptor of
// dir. All are closed when the target ends.
func fuzzResolvers(f *testing.F, dir string) (host, chroot *Resolver, dirfd int) {
	f.Helper()
	host, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { host.Close() })
	chroot, err = New(Options{Root: dir})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { chroot.Close() })
	dirfd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { unix.Close(dirfd) })
	return host, chroot, dirfd
}
