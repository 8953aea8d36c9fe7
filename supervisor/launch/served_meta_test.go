package launch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Served files seen through every call that looks at them (issue 16): real clients copy, list
// and describe them inside a sandbox with the built-in shims, and a file served where none
// exists on disk is a file for test -f, Python and ls.

// vendorShim serves one file that does not exist on disk, and claims it literally, as a plugin
// serving /etc/vendor-release would.
type vendorShim struct {
	path string
	data []byte
}

var _ shim.Claimer = (*vendorShim)(nil)

func (v *vendorShim) ID() string { return "test.vendor" }
func (v *vendorShim) Claims() ([]string, []shim.PathPattern) {
	return []string{v.path}, nil
}
func (v *vendorShim) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) == v.path {
		// The name must never show: the descriptor reads as the path.
		return shim.Serve(shim.Bytes{Name: "scrim-plugin-vendor", Data: v.data}), nil
	}
	return shim.Next(), nil
}

// builtinConfig is a Config with the built-in shims of opts and the extra handlers.
func builtinConfig(t *testing.T, opts builtin.Options, extra ...shim.Registration) Config {
	t.Helper()
	regs, calls, err := builtin.New(opts)
	require.NoError(t, err)
	return Config{Handlers: append(regs, extra...), SyscallHandlers: calls}
}

// sharedDir is a directory every user may write, for a sandbox running as anyone.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, 0o777))
	return d
}

// TestServedFileWithoutDisk: a served file with no file behind it passes test -f and
// os.path.exists, is listed in its directory (ls, Go's os.ReadDir), stats as a read-only
// regular file of its size, and /proc/self/fd/N of an open of it reads as its path.
func TestServedFileWithoutDisk(t *testing.T) {
	const path = "/etc/scrim-test-vendor-release"
	_, err := os.Lstat(path)
	require.True(t, os.IsNotExist(err), "%s must not exist on the host", path)
	data := []byte("VENDOR_NAME=scrim test\n")
	cfg := builtinConfig(t, builtin.Options{}, shim.Registration{Handler: &vendorShim{path: path, data: data}, Band: shim.BandVirtual, Priority: shim.PriorityPlugin})
	cfg.Args = []string{"/bin/sh", "-c", `f=` + path + `
test -f $f && echo test-f
python3 -c 'import os, sys; print("exists", os.path.exists(sys.argv[1]), os.path.isfile(sys.argv[1]))' $f
ls /etc | grep -x scrim-test-vendor-release
ls -l $f | cut -c1-10
python3 -c 'import os; print("listdir", "scrim-test-vendor-release" in os.listdir("/etc"))'
exec 3<$f
readlink /proc/self/fd/3
python3 -c 'import os; print("fd", os.readlink("/proc/self/fd/3"))'
stat -c '%s %F %a %h' $f
cat $f`}
	status, out, serr := runOut(t, cfg)
	require.Equal(t, 0, status, "stdout: %s\nstderr: %s", out, serr)
	require.Equal(t, "test-f\nexists True True\nscrim-test-vendor-release\n-r--r--r--\nlistdir True\n"+
		path+"\nfd "+path+"\n23 regular file 444 1\n"+string(data), out)
}

// TestServedFilesCopy: cp, install, tar, rsync and Python's shutil.copy copy /etc/hosts,
// /etc/hostname, /proc/cpuinfo and /proc/meminfo (with a CPU and memory view) as the sandbox
// reads them; stat's size is what reading gives; ls -l and find -newer work on them; stat of
// the path and fstat of an open of it name one inode.
func TestServedFilesCopy(t *testing.T) {
	for _, tool := range []string{"rsync", "tar", "install", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install it)", tool)
		}
	}
	d := sharedDir(t)
	cfg := builtinConfig(t, builtin.Options{CPUs: 1, MemoryBytes: 256 << 20})
	cfg.Dir = d
	cfg.Args = []string{"/bin/sh", "-ec", `touch -d 2000-01-01 old
for f in /etc/hosts /etc/hostname /proc/cpuinfo /proc/meminfo; do
	n=$(basename $f)
	cat $f > $n.cat
	cp $f $n.cp
	install -m 644 $f $n.install
	tar cf $n.tar $f 2>/dev/null
	tar xOf $n.tar > $n.tar.out
	rsync $f $n.rsync
	python3 -c 'import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])' $f $n.py
	echo "$n size $(stat -c %s $f) read $(wc -c < $f)"
	ls -l $f > /dev/null
	echo "$n newer $(find $f -newer old) self $(find $f -newer $f)"
	echo "$n stat $(stat -c '%d %i %s %F' $f)"
	python3 -c '
import os, stat, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
st = os.fstat(fd)
kind = "regular file" if stat.S_ISREG(st.st_mode) else oct(st.st_mode)
print(sys.argv[2], "stat", os.major(st.st_dev) * 256 + os.minor(st.st_dev), st.st_ino, st.st_size, kind)
print(sys.argv[2], "fstat mode", oct(st.st_mode), "nlink", st.st_nlink)
' $f $n
done`}
	status, out, serr := runOut(t, cfg)
	require.Equal(t, 0, status, "stdout: %s\nstderr: %s", out, serr)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	byKey := map[string][]string{}
	for _, l := range lines {
		f := strings.SplitN(l, " ", 3)
		require.Len(t, f, 3, l)
		byKey[f[0]+" "+f[1]] = append(byKey[f[0]+" "+f[1]], f[2])
	}
	for _, n := range []string{"hosts", "hostname", "cpuinfo", "meminfo"} {
		t.Run(n, func(t *testing.T) {
			size := byKey[n+" size"]
			require.Len(t, size, 1)
			f := strings.Fields(size[0])
			require.Equal(t, f[0], f[2], "stat -c %%s and wc -c")
			require.NotEqual(t, "0", f[0])
			newer := byKey[n+" newer"]
			require.Len(t, newer, 1)
			require.Regexp(t, `^/(etc|proc)/`+n+` self $`, newer[0], "find -newer")
			st := byKey[n+" stat"]
			require.Len(t, st, 2, "stat(1) of the path and fstat of an open")
			require.Equal(t, st[0], st[1], "stat and fstat name one inode")
			require.Contains(t, st[0], "regular file")
			require.Equal(t, []string{"mode 0o100444 nlink 1"}, byKey[n+" fstat"])
			ref, err := os.ReadFile(filepath.Join(d, n+".cat"))
			require.NoError(t, err)
			for _, copy := range []string{"cp", "install", "tar.out", "rsync", "py"} {
				got, err := os.ReadFile(filepath.Join(d, n+"."+copy))
				require.NoError(t, err)
				if n != "meminfo" {
					require.Equal(t, string(ref), string(got), "%s of %s", copy, n)
					continue
				}
				// The memory view counts the sandbox's resident memory, which moves from
				// program to program: every copy is a whole view of 256 MiB.
				require.Equal(t, strings.Count(string(ref), "\n"), strings.Count(string(got), "\n"), "%s of %s", copy, n)
				require.True(t, strings.HasPrefix(string(got), "MemTotal:         262144 kB\n"), "%s of %s: %s", copy, n, got)
			}
		})
	}
}

// TestStatShowsDeniedObjects: ls -l /dev and find / -maxdepth 2 print no error in the
// sandbox that they do not print outside it: a stat shows a denied object as it is.
func TestStatShowsDeniedObjects(t *testing.T) {
	// A process that ends while find walks /proc, or a file another test removes while find
	// walks /tmp, is not an error scrim makes.
	churn := regexp.MustCompile(`/proc/[0-9]+|No such file or directory`)
	errorsOf := func(stderr string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if l != "" && !churn.MatchString(l) {
				out = append(out, l)
			}
		}
		sort.Strings(out)
		return out
	}
	for _, args := range [][]string{{"ls", "-l", "/dev"}, {"find", "/", "-maxdepth", "2"}} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(args[0], args[1:]...)
			var native strings.Builder
			cmd.Stderr = &native
			cmd.Run() // find's status is 1 wherever a directory is unreadable
			cfg := builtinConfig(t, builtin.Options{})
			cfg.Args = args
			_, _, serr := runOut(t, cfg)
			nativeErrs := errorsOf(native.String())
			for _, e := range errorsOf(serr) {
				require.Contains(t, nativeErrs, e, "an error only the sandbox prints")
			}
		})
	}
}

// TestEmptyPathFlagIsNoPass: AT_EMPTY_PATH with a non-empty path is a path lookup, which the
// filter must not let through on its flags: statx and newfstatat of an outsider's /proc entry
// with the flag say it does not exist, as without it. A NULL path, which the filter lets
// through, stats the descriptor itself.
func TestEmptyPathFlagIsNoPass(t *testing.T) {
	probe := testprog.C(t, `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long r) {
	printf("%s %s\n", what, r == 0 ? "OK" : strerror(errno));
}

int main(int argc, char **argv) {
	struct statx stx;
	struct stat st;
	report("statx", syscall(SYS_statx, AT_FDCWD, argv[1], AT_EMPTY_PATH, STATX_BASIC_STATS, &stx));
	report("newfstatat", syscall(SYS_newfstatat, AT_FDCWD, argv[1], &st, AT_EMPTY_PATH));
	report("null", syscall(SYS_newfstatat, 0, NULL, &st, AT_EMPTY_PATH));
	return 0;
}
`)
	outsider := "/proc/" + strconv.Itoa(hostProcess(t))
	status, out, serr := runOut(t, Config{Args: []string{probe, outsider}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "statx No such file or directory\nnewfstatat No such file or directory\nnull OK\n", out)
}

// metaShim answers the look-up ops with metadata (shim.Meta) and opens with the content, as a
// plugin that can say what it serves without building it does.
type metaShim struct {
	file, dir string
	data      []byte
	mtime     time.Time
}

var (
	_ shim.OpHandler = (*metaShim)(nil)
	_ shim.Claimer   = (*metaShim)(nil)
)

func (m *metaShim) ID() string      { return "test.meta" }
func (m *metaShim) Ops() shim.OpSet { return shim.Ops(shim.OpOpen) | shim.LookupOps }
func (m *metaShim) Claims() ([]string, []shim.PathPattern) {
	return []string{m.file, m.dir}, nil
}
func (m *metaShim) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	switch {
	case string(req.Path) == m.dir && req.Op != shim.OpOpen:
		return shim.Serve(shim.Meta{Mode: syscall.S_IFDIR | 0o555, ModTime: m.mtime}), nil
	case string(req.Path) != m.file:
		return shim.Next(), nil
	case req.Op != shim.OpOpen:
		return shim.Serve(shim.Meta{Size: int64(len(m.data)), ModTime: m.mtime}), nil
	}
	return shim.Serve(shim.Bytes{Data: m.data, ModTime: m.mtime}), nil
}

// TestServedMeta: a handler that answers stat with metadata alone still gives stat the inode
// its open returns (the supervisor builds the content once for the first stat), its size and
// time; access says it is read-only; a served directory is a directory to stat and ls.
func TestServedMeta(t *testing.T) {
	m := &metaShim{file: "/etc/scrim-test-meta", dir: "/etc/scrim-test-meta.d", data: []byte("meta\n"), mtime: time.Unix(1500000000, 0)}
	cfg := builtinConfig(t, builtin.Options{}, shim.Registration{Handler: m, Band: shim.BandVirtual, Priority: shim.PriorityPlugin})
	cfg.Args = []string{"python3", "-c", `import os
p = "/etc/scrim-test-meta"
st = os.stat(p)
fd = os.open(p, os.O_RDONLY)
fs = os.fstat(fd)
print(st.st_dev == fs.st_dev, st.st_ino == fs.st_ino, st.st_size, fs.st_size, int(st.st_mtime), oct(st.st_mode))
print(os.access(p, os.R_OK), os.access(p, os.W_OK), os.access(p, os.X_OK))
print(os.read(fd, 100).decode(), end="")
d = os.stat("/etc/scrim-test-meta.d")
print(oct(d.st_mode), d.st_nlink, os.path.isdir("/etc/scrim-test-meta.d"), "scrim-test-meta.d" in os.listdir("/etc"), "scrim-test-meta" in os.listdir("/etc"))
`}
	status, out, serr := runOut(t, cfg)
	require.Equal(t, 0, status, "stdout: %s\nstderr: %s", out, serr)
	require.Equal(t, "True True 5 5 1500000000 0o100444\nTrue False False\nmeta\n0o40555 2 True True True\n", out)
}

// listerShim serves one file that does not exist on disk and lists it, with one more path it
// does not serve, without claiming anything: as the built-in shims, which also decide by
// identity, do.
type listerShim struct {
	path, unserved string
	data           []byte
}

var _ shim.Lister = (*listerShim)(nil)

func (l *listerShim) ID() string       { return "test.lister" }
func (l *listerShim) Listed() []string { return []string{l.path, l.unserved} }
func (l *listerShim) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) == l.path {
		return shim.ServeBytes("listed", l.data), nil
	}
	return shim.Next(), nil
}

// TestServedListedWithoutClaims: a handler that is no Claimer has its Listed paths shown in
// their directory, but only those it serves.
func TestServedListedWithoutClaims(t *testing.T) {
	l := &listerShim{path: "/etc/scrim-test-listed", unserved: "/etc/scrim-test-not-served", data: []byte("listed\n")}
	cfg := builtinConfig(t, builtin.Options{}, shim.Registration{Handler: l, Band: shim.BandVirtual, Priority: shim.PriorityPlugin})
	cfg.Args = []string{"sh", "-c", "ls /etc | grep scrim-test; cat /etc/scrim-test-listed"}
	status, out, serr := runOut(t, cfg)
	require.Equal(t, 0, status, "stdout: %s\nstderr: %s", out, serr)
	require.Equal(t, "scrim-test-listed\nlisted\n", out)
}
