package resolver

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// mutateTree makes the tree every mutation case starts from.
func mutateTree(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"a", "b", "b/c", "full", "full/x"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	for _, f := range []string{"a/f", "a/g", "full/x/y"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("content of "+f+"\n"), 0o644))
		// A fixed time: two trees written a moment apart may straddle a second.
		require.NoError(t, os.Chtimes(filepath.Join(dir, f), treeMtime, treeMtime))
	}
	require.NoError(t, os.Symlink("f", filepath.Join(dir, "a/l")))
	require.NoError(t, os.Symlink("nowhere", filepath.Join(dir, "dang")))
	require.NoError(t, os.Symlink("a", filepath.Join(dir, "la")))
}

// treeMtime is the modification time of mutateTree's files.
var treeMtime = time.Unix(1_500_000_000, 0)

// mtimeOf names a modification time so that two trees changed a moment apart compare equal:
// "tree" for mutateTree's, "now" for one set by the call itself, else the time.
func mtimeOf(sec int64) string {
	switch {
	case sec == treeMtime.Unix():
		return "tree"
	case time.Since(time.Unix(sec, 0)).Abs() < time.Hour:
		return "now"
	}
	return strconv.FormatInt(sec, 10)
}

// treeState describes every entry of a tree: type, permissions, size, links, link text.
func treeState(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		require.NoError(t, err)
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(p, &st))
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %o", rel, st.Mode)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			line += fmt.Sprintf(" size=%d nlink=%d mtime=%s", st.Size, st.Nlink, mtimeOf(st.Mtim.Sec))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// cstr returns the address of s as a NUL-terminated string the test keeps alive in keep.
func cstr(keep *[][]byte, s string) uint64 {
	b := append([]byte(s), 0)
	*keep = append(*keep, b)
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

// TestChangeAsTheKernel makes every call that changes names or objects, in many shapes, on
// two copies of one tree: once by the kernel and once decoded, resolved and performed by the
// resolver. The errno and the resulting tree must be the same.
func TestChangeAsTheKernel(t *testing.T) {
	r, err := New(Options{})
	require.NoError(t, err)
	defer r.Close()
	times := make([]byte, 32)
	binary.LittleEndian.PutUint64(times[0:], 1000000)
	binary.LittleEndian.PutUint64(times[16:], 2000000)
	timeval := make([]byte, 32)
	binary.LittleEndian.PutUint64(timeval[0:], 3000000)
	binary.LittleEndian.PutUint64(timeval[16:], 4000000)
	value := []byte("value")
	ptr := func(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }
	atfd := int32(unix.AT_FDCWD)
	at := uint64(uint32(atfd))
	type mk func(s func(string) uint64) [6]uint64
	cases := []struct {
		name string
		nr   int
		args mk
	}{
		{"unlink file", unix.SYS_UNLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f")} }},
		{"unlink symlink itself", unix.SYS_UNLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/l")} }},
		{"unlink directory", unix.SYS_UNLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a")} }},
		{"unlink trailing slash", unix.SYS_UNLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f/")} }},
		{"unlink missing", unix.SYS_UNLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/nosuch")} }},
		{"unlink through symlinked dir", unix.SYS_UNLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("la/g")} }},
		{"unlinkat removedir", unix.SYS_UNLINKAT, func(s func(string) uint64) [6]uint64 { return [6]uint64{at, s("b/c"), unix.AT_REMOVEDIR} }},
		{"unlinkat bad flag", unix.SYS_UNLINKAT, func(s func(string) uint64) [6]uint64 { return [6]uint64{at, s("b/c"), 0x1000} }},
		{"rmdir not empty", unix.SYS_RMDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("full")} }},
		{"rmdir dot", unix.SYS_RMDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("b/c/.")} }},
		{"rmdir dotdot", unix.SYS_RMDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("b/c/..")} }},
		{"rename file", unix.SYS_RENAME, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), s("b/f2")} }},
		{"rename symlink itself", unix.SYS_RENAME, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/l"), s("b/l2")} }},
		{"rename dir onto empty dir", unix.SYS_RENAME, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a"), s("b/c")} }},
		{"rename dir onto full dir", unix.SYS_RENAME, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a"), s("full")} }},
		{"rename into itself", unix.SYS_RENAME, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a"), s("a/sub")} }},
		{"renameat2 noreplace", unix.SYS_RENAMEAT2, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{at, s("a/f"), at, s("a/g"), unix.RENAME_NOREPLACE}
		}},
		{"renameat2 exchange", unix.SYS_RENAMEAT2, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{at, s("a/f"), at, s("full/x"), unix.RENAME_EXCHANGE}
		}},
		{"renameat2 bad flags", unix.SYS_RENAMEAT2, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{at, s("a/f"), at, s("a/g"), unix.RENAME_EXCHANGE | unix.RENAME_NOREPLACE}
		}},
		{"link file", unix.SYS_LINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), s("b/h")} }},
		{"link symlink itself", unix.SYS_LINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/l"), s("b/h")} }},
		{"linkat follow", unix.SYS_LINKAT, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{at, s("a/l"), at, s("b/h"), unix.AT_SYMLINK_FOLLOW}
		}},
		{"link onto existing", unix.SYS_LINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), s("a/g")} }},
		{"link directory", unix.SYS_LINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a"), s("b/a2")} }},
		{"symlink", unix.SYS_SYMLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("../a/f"), s("b/s")} }},
		{"symlink over existing", unix.SYS_SYMLINK, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("x"), s("a/f")} }},
		{"mkdir", unix.SYS_MKDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("b/d"), 0o750} }},
		{"mkdir trailing slash", unix.SYS_MKDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("b/d/"), 0o700} }},
		{"mkdir existing", unix.SYS_MKDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), 0o700} }},
		{"mkdir over dangling symlink", unix.SYS_MKDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("dang"), 0o700} }},
		{"mkdir in missing", unix.SYS_MKDIR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("nosuch/d"), 0o700} }},
		{"mknod fifo", unix.SYS_MKNOD, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("b/p"), unix.S_IFIFO | 0o600} }},
		{"truncate", unix.SYS_TRUNCATE, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), 3} }},
		{"truncate through symlink", unix.SYS_TRUNCATE, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/l"), 1} }},
		{"truncate directory", unix.SYS_TRUNCATE, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a"), 1} }},
		{"truncate negative", unix.SYS_TRUNCATE, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), ^uint64(0)} }},
		{"chmod", unix.SYS_CHMOD, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), 0o600} }},
		{"chmod through symlink", unix.SYS_CHMOD, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/l"), 0o640} }},
		{"fchmodat2 nofollow on symlink", sysFchmodat2, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{at, s("a/l"), 0o600, unix.AT_SYMLINK_NOFOLLOW}
		}},
		{"chown unchanged", unix.SYS_CHOWN, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), 0xffffffff, 0xffffffff} }},
		{"lchown symlink", unix.SYS_LCHOWN, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{s("a/l"), uint64(os.Getuid()), uint64(os.Getgid())}
		}},
		{"utimensat", unix.SYS_UTIMENSAT, func(s func(string) uint64) [6]uint64 { return [6]uint64{at, s("a/f"), ptr(times), 0} }},
		{"utimensat nofollow", unix.SYS_UTIMENSAT, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{at, s("a/l"), ptr(times), unix.AT_SYMLINK_NOFOLLOW}
		}},
		{"utimes", unix.SYS_UTIMES, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/l"), ptr(timeval)} }},
		{"utimensat missing", unix.SYS_UTIMENSAT, func(s func(string) uint64) [6]uint64 { return [6]uint64{at, s("a/nosuch"), ptr(times), 0} }},
		{"setxattr", unix.SYS_SETXATTR, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{s("a/f"), s("user.scrim"), ptr(value), uint64(len(value)), 0}
		}},
		{"lsetxattr symlink", unix.SYS_LSETXATTR, func(s func(string) uint64) [6]uint64 {
			return [6]uint64{s("a/l"), s("user.scrim"), ptr(value), uint64(len(value)), 0}
		}},
		{"removexattr missing", unix.SYS_REMOVEXATTR, func(s func(string) uint64) [6]uint64 { return [6]uint64{s("a/f"), s("user.nosuch")} }},
	}
	cwd, err := os.Getwd()
	require.NoError(t, err)
	defer os.Chdir(cwd)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kernelDir, oursDir := t.TempDir(), t.TempDir()
			mutateTree(t, kernelDir)
			mutateTree(t, oursDir)
			var keep [][]byte

			require.NoError(t, os.Chdir(kernelDir))
			a := c.args(func(p string) uint64 { return cstr(&keep, p) })
			_, _, kerrno := unix.Syscall6(uintptr(c.nr), uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))

			require.NoError(t, os.Chdir(oursDir))
			a = c.args(func(p string) uint64 { return cstr(&keep, p) })
			ours := func() unix.Errno {
				in, err := Decode(c.nr, a, os.Getpid(), unix.Gettid(), &selfMem{})
				if e, ok := ChildErrno(err); ok {
					return e
				}
				require.NoError(t, err)
				res, err := r.Resolve(&in, Self{})
				if e, ok := ChildErrno(err); ok {
					return e
				}
				require.NoError(t, err)
				defer res.Close()
				var dst *Resolution
				if in.Path2 != nil {
					second := in.Second()
					dst, err = r.Resolve(&second, Self{})
					if e, ok := ChildErrno(err); ok {
						return e
					}
					require.NoError(t, err)
					defer dst.Close()
				}
				err = Change(&in, res, dst)
				if e, ok := ChildErrno(err); ok {
					return e
				}
				require.NoError(t, err)
				return 0
			}()
			require.Equal(t, kerrno.Error(), ours.Error(), "errno")
			require.Equal(t, treeState(t, kernelDir), treeState(t, oursDir), "tree after the call")
			runtime.KeepAlive(keep)
		})
	}
	runtime.KeepAlive(times)
	runtime.KeepAlive(timeval)
	runtime.KeepAlive(value)
}
