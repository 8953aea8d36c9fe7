package resolver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// treeNames are the names fuzzed trees use: few, so that paths and link targets often meet.
var treeNames = []string{"a", "b", "c", "d", "e"}

// buildTree fills dir with the entries spec describes, two bytes each: the kind (directory,
// symlink, regular file, FIFO) and the parent directory in the first, the name in the second.
// Symlinks take their targets from targets in turn; a target starting with "@" is absolute,
// the tree's own path standing for the "@". It returns the directories, dir first.
func buildTree(dir string, spec []byte, targets []string) []string {
	dirs := []string{dir}
	link := 0
	for i := 0; i+1 < len(spec) && i < 32; i += 2 {
		kind, parent := spec[i]%4, dirs[int(spec[i]/4)%len(dirs)]
		p := filepath.Join(parent, treeNames[int(spec[i+1])%len(treeNames)])
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		switch kind {
		case 0:
			if os.Mkdir(p, 0o755) == nil {
				dirs = append(dirs, p)
			}
		case 1:
			if len(targets) == 0 {
				continue
			}
			tg := targets[link%len(targets)]
			link++
			if rest, ok := strings.CutPrefix(tg, "@"); ok {
				tg = dir + "/" + rest
			}
			if tg != "" && !strings.ContainsRune(tg, 0) {
				os.Symlink(tg, p)
			}
		case 2:
			os.WriteFile(p, nil, 0o644)
		case 3:
			unix.Mkfifo(p, 0o644)
		}
	}
	return dirs
}

// FuzzResolveTree resolves fuzzed paths in fuzzed trees of directories, files, FIFOs and
// symlinks (relative, absolute, dangling, in loops, through ".."), from the working directory
// or from a fuzzed directory descriptor, and compares every answer with the kernel's openat2
// of the same call: the same errno, or the same object (device and inode) at the path the
// kernel reports. Without a descriptor, the same call is also resolved for children whose
// root is the tree, against the kernel's RESOLVE_IN_ROOT.
//
//	go test ./resolver -run '^$' -fuzz '^FuzzResolveTree$' -fuzztime 10m
func FuzzResolveTree(f *testing.F) {
	f.Add([]byte{0, 0, 4, 1, 1, 2}, "..|a", "a/b/c/d", uint8(0), uint8(0), uint8(0))
	f.Add([]byte{1, 0, 1, 1}, "b|a", "a/x", uint8(0), uint8(0), uint8(0))                                        // a loop
	f.Add([]byte{0, 0, 5, 1, 2, 2}, "@a/../c", "a/b", uint8(1), uint8(0), uint8(1))                              // absolute, through ..
	f.Add([]byte{0, 0, 0, 1, 5, 2, 9, 3}, "../b/..|/proc/self/cwd", "a/c/d/../..", uint8(2), uint8(8), uint8(2)) // resolve flags
	f.Add([]byte{0, 0, 3, 1, 1, 2}, "a/b", "c/", uint8(3), uint8(16), uint8(0))                                  // FIFO, trailing slash
	f.Add([]byte{0, 0, 4, 1, 1, 2}, "../../..", "a/b/c/..", uint8(0), uint8(4), uint8(1))                        // escapes with RESOLVE_BENEATH
	f.Add([]byte{0, 0, 1, 1}, "/", "b/a/../b/.", uint8(1), uint8(0), uint8(1))

	root, err := filepath.EvalSymlinks(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	tree := filepath.Join(root, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		f.Fatal(err)
	}
	r, rc, tfd := fuzzResolvers(f, tree)
	pkgDir, err := os.Getwd()
	if err != nil {
		f.Fatal(err)
	}
	flagSet := []uint64{unix.O_PATH, unix.O_PATH | unix.O_NOFOLLOW, unix.O_PATH | unix.O_DIRECTORY,
		unix.O_PATH | unix.O_NOFOLLOW | unix.O_DIRECTORY}

	f.Fuzz(func(t *testing.T, spec []byte, targets, path string, flagSel, resolve, dirfdSel uint8) {
		if path == "" || len(path) >= pathMax || strings.ContainsRune(path, 0) || len(targets) > 4096 {
			return
		}
		res := uint64(resolve) & validResolveFlags
		if res&resolveBeneath != 0 && res&resolveInRoot != 0 {
			return
		}
		flags := flagSet[int(flagSel)%len(flagSet)]
		ents, err := os.ReadDir(tree)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(tree, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
		dirs := buildTree(tree, spec, strings.Split(targets, "|"))
		if err := os.Chdir(tree); err != nil {
			t.Fatal(err)
		}
		defer os.Chdir(pkgDir)

		dirfd, where := unix.AT_FDCWD, "cwd"
		if dirfdSel != 0 {
			d := dirs[int(dirfdSel-1)%len(dirs)]
			fd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			dirfd, where = fd, strings.TrimPrefix(d, tree)
		}
		call := fmt.Sprintf("%q from %s (tree %v, targets %q, flags %#o, resolve %#x)", path, where, spec, targets, flags, res)
		in := Input{Syscall: 3, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: int32(dirfd),
			Path: []byte(path), Flags: flags, Resolve: res}
		kfd, kerr := kernelOpen(dirfd, path, flags, 0, res)
		compareKernel(t, r, call, in, kfd, kerr, nil)

		if dirfd != unix.AT_FDCWD || res&(resolveBeneath|resolveInRoot|resolveNoXdev) != 0 ||
			strings.Contains(path+targets, "/proc") || strings.Contains(path+targets, "/dev") {
			return
		}
		kfd, kerr = kernelOpen(tfd, path, flags, 0, res|resolveInRoot)
		compareKernel(t, rc, "chroot: "+call, in, kfd, kerr, []byte(tree))
	})
}
