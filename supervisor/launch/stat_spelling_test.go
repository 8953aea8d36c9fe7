package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/probes"
	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// denyAllOps denies one object by identity to every op, as a deny entry does.
type denyAllOps struct{ denyShim }

func (d *denyAllOps) Ops() shim.OpSet { return shim.AllOps }

// The stat-like calls and the spellings they name the target by are shared with the
// container tests (internal/probes).
var (
	statFollowOps   = probes.StatFollowOps
	statNoFollowOps = probes.StatNoFollowOps
)

// readlinkat(fd, "") of a symlink needs an O_PATH|O_NOFOLLOW descriptor of the link, which
// scrim's open does not give (an O_PATH open of a symlink is ELOOP, RATIONALE.md "Why is an
// O_PATH open answered with a read-only descriptor?"): TestReadlinkEmptyPath covers the rest.

type statSpelling = probes.StatSpelling

// statSpellings are probes.StatSpellings, with their symlinks made in links.
func statSpellings(t *testing.T, target, links string) []statSpelling {
	sps, ls := probes.StatSpellings(target, links)
	require.NoError(t, probes.MakeLinks("/", ls))
	return sps
}

var statArgs = probes.StatArgs

// TestStatSpellings runs every stat-like call on every spelling natively and in the sandbox:
// the kernel is the oracle. Without a handler the sandbox answers what the kernel answers;
// with a deny entry for the target, every call whose object is the target (after following
// the last symlink or not, as the call does) is EACCES, and every other call is unchanged.
func TestStatSpellings(t *testing.T) {
	src, err := os.ReadFile("testdata/statprobe.c")
	require.NoError(t, err)
	probe := testprog.C(t, string(src))
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("stat me\n"), 0o644))
	require.NoError(t, unix.Setxattr(target, "user.scrim", []byte("xattr value"), 0))
	links := t.TempDir()
	sps := statSpellings(t, target, links)
	args := statArgs(sps)
	ops := len(statFollowOps) + len(statNoFollowOps)

	nativeOut, err := exec.Command(probe, args...).Output()
	require.NoError(t, err)
	native := strings.Split(strings.TrimSuffix(string(nativeOut), "\n"), "\n")
	require.Len(t, native, len(sps)*ops)

	t.Run("as the kernel", func(t *testing.T) {
		status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...)})
		require.Equal(t, 0, status, serr)
		got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, got, len(native), out)
		for i := range native {
			sp, op := sps[i/ops], args[3*i]
			require.Equal(t, native[i], got[i], "%s of %q (%s)", op, sp.Path, sp.Name)
		}
	})

	t.Run("denied target", func(t *testing.T) {
		var st unix.Stat_t
		require.NoError(t, unix.Stat(target, &st))
		handlers := []shim.Registration{{Handler: &denyAllOps{denyShim{dev: st.Dev, ino: st.Ino}}, Band: shim.BandSecurity}}
		status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...), Handlers: handlers})
		require.Equal(t, 0, status, serr)
		got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, got, len(native), out)
		id := "OK " + strconv.FormatUint(st.Dev, 16) + ":" + strconv.FormatUint(st.Ino, 10) + ":"
		// The object each call reaches is the one the native stat-like call of its kind
		// (following or not, from the dirfd or the cwd) described.
		reference := map[string]string{
			"stat": "stat", "access": "stat", "access_w": "stat",
			"fstatat": "fstatat", "statx": "fstatat", "empty": "fstatat", "statx_empty": "fstatat", "faccessat": "fstatat",
			"lstat": "lstat", "readlink": "lstat",
			"getxattr": "stat", "listxattr": "stat", "lgetxattr": "lstat", "llistxattr": "lstat", "statfs": "stat", "inotify": "stat",
			"fstatat_nofollow": "fstatat_nofollow", "statx_nofollow": "fstatat_nofollow",
			"faccessat2_nofollow": "fstatat_nofollow", "readlinkat": "fstatat_nofollow",
		}
		for s := range sps {
			row := map[string]string{}
			for j := range ops {
				row[args[3*(s*ops+j)]] = native[s*ops+j]
			}
			for j := range ops {
				i := s*ops + j
				op := args[3*i]
				want := native[i]
				ref, ok := reference[op]
				require.True(t, ok, op)
				if strings.HasPrefix(row[ref], id) {
					switch op {
					case "empty", "statx_empty":
						want = "OPEN-EACCES"
					case "getxattr", "lgetxattr":
						// A denied object has no attributes to show: their values are
						// contents too.
						want = "ENODATA"
					case "listxattr", "llistxattr":
						want = "OK 0"
					default:
						want = "EACCES"
					}
				}
				require.Equal(t, want, got[i], "%s of %q (%s)", op, sps[s].Path, sps[s].Name)
			}
		}
	})
}

// TestStatHidesOutsiders: stat, access, readlink, getxattr, listxattr, statfs,
// inotify_add_watch and chdir of /proc/<pid> of a process outside the sandbox answer as for a pid that does not exist, while
// the sandbox's own pids answer normally.
func TestStatHidesOutsiders(t *testing.T) {
	src, err := os.ReadFile("testdata/statprobe.c")
	require.NoError(t, err)
	probe := testprog.C(t, string(src))
	host := strconv.Itoa(hostProcess(t))
	var args []string
	for _, p := range []string{"/proc/" + host, "/proc/" + host + "/exe", "/proc/" + host + "/status", "/proc/@P", "/proc/@P/status"} {
		for _, op := range []string{"stat", "lstat", "statx", "access", "readlink", "getxattr", "listxattr", "statfs", "inotify"} {
			args = append(args, op, "-", p)
		}
	}
	status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...)})
	require.Equal(t, 0, status, serr)
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, got, 45, out)
	for i, line := range got[:27] {
		require.Equal(t, "ENOENT", line, "%s %s", args[3*i], args[3*i+2])
	}
	for i, line := range got[27:] {
		i += 27
		switch args[3*i] {
		case "readlink":
			require.Equal(t, "EINVAL", line, "%s %s", args[3*i], args[3*i+2])
		case "getxattr":
			// procfs keeps no attributes.
			require.Equal(t, "EOPNOTSUPP", line, "%s %s", args[3*i], args[3*i+2])
		default:
			require.True(t, strings.HasPrefix(line, "OK"), "%s %s: %s", args[3*i], args[3*i+2], line)
		}
	}

	// scrim kills what its keeper leaves behind, which in a test process includes the test's
	// own children: each run gets a host process of its own.
	host = strconv.Itoa(hostProcess(t))
	status, out, serr = runOut(t, Config{Args: []string{"sh", "-c", "cd /proc/" + host + " 2>/dev/null && echo entered || echo refused; cd /proc/$$ && echo own"}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "refused\nown\n", out)

	// A working directory inside an outsider's /proc entry, reached without a mediated call
	// (a descriptor handed in from outside), leads nowhere either.
	host = strconv.Itoa(hostProcess(t))
	d, err := os.Open("/proc/" + host)
	require.NoError(t, err)
	defer d.Close()
	status, out, serr = runOut(t, Config{Stdin: d, Args: []string{probe, "fchdir0", "-", "-", "stat", "-", "status", "readlink", "-", "exe", "stat", "-", "."}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "OK\nENOENT\nENOENT\nENOENT\n", out)
}

// TestReadlinkEmptyPath: readlinkat(fd, "") of a descriptor that is no link is ENOENT, as the
// kernel answers, not readlink's EINVAL.
func TestReadlinkEmptyPath(t *testing.T) {
	src, err := os.ReadFile("testdata/statprobe.c")
	require.NoError(t, err)
	probe := testprog.C(t, string(src))
	f := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	args := []string{"readlink_empty", "-", f, "readlink", "-", f}
	native, err := exec.Command(probe, args...).Output()
	require.NoError(t, err)
	require.Equal(t, "ENOENT\nEINVAL\n", string(native))
	status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...)})
	require.Equal(t, 0, status, serr)
	require.Equal(t, string(native), out)
}

// TestSkipStat: with SkipStat the stat-like calls are the kernel's, and so is their answer
// for a process outside.
func TestSkipStat(t *testing.T) {
	src, err := os.ReadFile("testdata/statprobe.c")
	require.NoError(t, err)
	probe := testprog.C(t, string(src))
	host := strconv.Itoa(hostProcess(t))
	status, out, serr := runOut(t, Config{SkipStat: true, Args: []string{probe, "stat", "-", "/proc/" + host, "stat", "-", "/proc/@P"}})
	require.Equal(t, 0, status, serr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.True(t, strings.HasPrefix(lines[0], "OK"), lines[0])
	require.True(t, strings.HasPrefix(lines[1], "OK"), lines[1])
}
