package launch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// denyShim denies one object by identity, whatever the spelling.
type denyShim struct{ dev, ino uint64 }

func (d *denyShim) ID() string { return "test.deny" }
func (d *denyShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if req.Object.Exists && req.Object.Dev == d.dev && req.Object.Ino == d.ino {
		return shim.Deny(unix.EACCES), nil
	}
	return shim.Next(), nil
}

func probeProgram(t *testing.T) string {
	src, err := os.ReadFile("testdata/probe.c")
	require.NoError(t, err)
	return testprog.C(t, string(src))
}

// probeCase is one open the probe program makes; want is its expected output line.
type probeCase struct {
	name                        string
	op, dir, path, flags, resol string
	want                        string
}

func (c probeCase) args() []string {
	res := c.resol
	if res == "" {
		res = "0"
	}
	fl := c.flags
	if fl == "" {
		fl = "0"
	}
	dir := c.dir
	if dir == "" {
		dir = "-"
	}
	return []string{c.op, dir, c.path, fl, res}
}

// spellings lists every way of naming target (an absolute path to an existing file) that the
// resolver must see through (lexical tricks, symlinks, and /proc and /dev/fd magic links),
// with read and write flags. links is a scratch
// directory for symlinks. read is the expected line for reads, write for writes.
func spellings(t *testing.T, target, links, read, write string) []probeCase {
	dir, base := filepath.Dir(target), filepath.Base(target)
	last := filepath.Base(dir)
	require.NoError(t, os.Symlink(target, filepath.Join(links, "x")))
	require.NoError(t, os.Symlink(filepath.Join(links, "c2"), filepath.Join(links, "c1")))
	require.NoError(t, os.Symlink(target, filepath.Join(links, "c2")))
	require.NoError(t, os.Symlink(dir, filepath.Join(links, "d")))
	require.NoError(t, os.MkdirAll(filepath.Join(links, "sub"), 0o755))
	climb := strings.Repeat("../", strings.Count(links, "/")+2) + strings.TrimPrefix(target, "/")
	require.NoError(t, os.Symlink(climb, filepath.Join(links, "sub", "rel")))
	require.NoError(t, os.Symlink("../d/"+base, filepath.Join(links, "sub", "reld")))

	const (
		rdonly   = "0"
		wronly   = "0x1"
		trunc    = "0x200"
		creatx   = "0xc1" // O_CREAT|O_EXCL|O_WRONLY
		nofollow = "0x20000"
		opath    = "0x200000"
		odir     = "0x10000"
		beneath  = "0x8"
		inRoot   = "0x10"
	)
	var cs []probeCase
	add := func(name, op, d, p, fl, res, want string) {
		cs = append(cs, probeCase{name: name, op: op, dir: d, path: p, flags: fl, resol: res, want: want})
	}
	for _, op := range []string{"open", "openat", "openat2"} {
		add(op+" absolute", op, "", target, rdonly, "", read)
		add(op+" double slash", op, "", "/"+target, rdonly, "", read)
		add(op+" dot", op, "", dir+"/./"+base, rdonly, "", read)
		add(op+" dotdot", op, "", dir+"/../"+last+"/"+base, rdonly, "", read)
		add(op+" symlink", op, "", filepath.Join(links, "x"), rdonly, "", read)
		add(op+" symlink chain", op, "", filepath.Join(links, "c1"), rdonly, "", read)
		add(op+" symlinked directory", op, "", filepath.Join(links, "d", base), rdonly, "", read)
		add(op+" relative symlink climbing", op, "", filepath.Join(links, "sub", "rel"), rdonly, "", read)
		add(op+" relative symlink through a symlink", op, "", filepath.Join(links, "sub", "reld"), rdonly, "", read)
		add(op+" proc self root", op, "", "/proc/self/root"+target, rdonly, "", read)
		add(op+" proc thread-self root", op, "", "/proc/thread-self/root"+target, rdonly, "", read)
		add(op+" proc pid root", op, "", "/proc/@P/root"+target, rdonly, "", read)
		add(op+" proc self fd dir", op, dir, "/proc/self/fd/@D/"+base, rdonly, "", read)
		add(op+" dev fd dir", op, dir, "/dev/fd/@D/"+base, rdonly, "", read)
		add(op+" O_NOFOLLOW", op, "", target, nofollow, "", read)
		// O_PATH of served content gets the content itself (a memfd, see RATIONALE.md).
		add(op+" O_PATH", op, "", target, opath, "", read)
		add(op+" trailing slash", op, "", target+"/", rdonly, "", "ENOTDIR -")
		add(op+" O_WRONLY", op, "", target, wronly, "", write)
		add(op+" O_TRUNC", op, "", target, trunc, "", write)
		// The kernel fails these on the object's existence and type before any permission
		// check, and so does the resolver, before any handler.
		add(op+" O_CREAT|O_EXCL", op, "", target, creatx, "", "EEXIST -")
		add(op+" O_DIRECTORY", op, "", target, odir, "", "ENOTDIR -")
	}
	for _, op := range []string{"openat", "openat2"} {
		add(op+" dirfd", op, dir, base, rdonly, "", read)
		add(op+" dirfd root", op, "/", strings.TrimPrefix(target, "/"), rdonly, "", read)
		add(op+" dirfd dotdot", op, dir, "../"+last+"/"+base, rdonly, "", read)
		add(op+" dirfd symlink dir", op, links, "d/"+base, rdonly, "", read)
	}
	add("openat2 RESOLVE_BENEATH", "openat2", dir, base, rdonly, beneath, read)
	add("openat2 RESOLVE_IN_ROOT", "openat2", "/", target, rdonly, inRoot, read)
	add("openat2 RESOLVE_BENEATH escaping", "openat2", links, "x", rdonly, beneath, "EXDEV -")
	add("creat", "creat", "", target, "", "", write)
	add("creat through symlink", "creat", "", filepath.Join(links, "x"), "", "", write)
	add("chdir", "chdir", "", dir, "", "", "OK -")
	add("relative after chdir", "open", "", base, rdonly, "", read)
	add("relative dotdot after chdir", "openat", "", "../"+last+"/"+base, rdonly, "", read)
	add("proc self cwd", "open", "", "/proc/self/cwd/"+base, rdonly, "", read)
	add("proc thread-self cwd", "openat2", "", "/proc/thread-self/cwd/"+base, rdonly, "", read)
	return cs
}

func goProbeProgram(t *testing.T) string {
	src, err := os.ReadFile("testdata/probe.go")
	require.NoError(t, err)
	return testprog.Go(t, string(src))
}

func TestSpellings(t *testing.T) {
	t.Run("C", func(t *testing.T) { testSpellings(t, probeProgram(t)) })
	t.Run("Go", func(t *testing.T) { testSpellings(t, goProbeProgram(t)) })
}

func testSpellings(t *testing.T, probe string) {
	secretDir := t.TempDir()
	require.NoError(t, os.Chmod(secretDir, 0o755))
	secret := filepath.Join(secretDir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("SECRET-REAL\n"), 0o644))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(secret, &st))

	handlers := []shim.Registration{
		{Handler: &denyShim{dev: st.Dev, ino: st.Ino}, Band: shim.BandSecurity},
		{Handler: &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fixed-hosts\n")}, Band: shim.BandVirtual},
		{Handler: &fixedShim{id: "test.cpuinfo", path: "/proc/cpuinfo", data: []byte("processor : fixed\n")}, Band: shim.BandVirtual},
	}
	targets := []struct {
		name, path, read, write string
	}{
		{"hosts", "/etc/hosts", "OK 127.0.0.1 fixed-hosts.", "EROFS -"},
		{"cpuinfo", "/proc/cpuinfo", "OK processor : fixed.", "EROFS -"},
		{"denied", secret, "EACCES -", "EACCES -"},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			links := t.TempDir()
			cases := spellings(t, tg.path, links, tg.read, tg.write)
			var args []string
			for _, c := range cases {
				args = append(args, c.args()...)
			}
			status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...), Handlers: handlers})
			require.Equal(t, 0, status, serr)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			require.Len(t, lines, len(cases), out)
			for i, c := range cases {
				require.Equal(t, c.want, lines[i], "case %q: %v", c.name, c.args())
			}
			// /dev/stdin redirected by the launcher from the target itself.
			if tg.name != "cpuinfo" {
				in, err := os.Open(tg.path)
				require.NoError(t, err)
				defer in.Close()
				c := probeCase{op: "open", path: "/dev/stdin", flags: "0"}
				status, out, serr := runOut(t, Config{Args: append([]string{probe}, c.args()...), Handlers: handlers, Stdin: in})
				require.Equal(t, 0, status, serr)
				require.Equal(t, tg.read+"\n", out, fmt.Sprintf("/dev/stdin from %s", tg.path))
			}
		})
	}
}
