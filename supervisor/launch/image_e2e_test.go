package launch

// End-to-end tests of image mode through the scrim binary: a real Debian image, and the
// unprivileged paths (a user namespace, and none to be had).

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// scrimBinary builds cmd/scrim into a directory every user can read, removed with the test.
func scrimBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(worldDir(t), "scrim")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/scrim-sandbox/scrim/cmd/scrim").CombinedOutput()
	require.NoError(t, err, "go build cmd/scrim:\n%s", out)
	return bin
}

// runScrim runs the scrim binary bin with args, optionally as nobody (setpriv), and returns
// its exit status, stdout and stderr.
func runScrim(t *testing.T, bin string, asNobody bool, args ...string) (int, string, string) {
	t.Helper()
	argv := append([]string{bin}, args...)
	if asNobody {
		argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)
	}
	return runArgv(t, argv...)
}

func runArgv(t *testing.T, argv ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// scrim keeps its plugin cache under HOME, which must be writable by nobody too.
	home := worldDir(t)
	require.NoError(t, os.Chmod(home, 0o777))
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	err := cmd.Run()
	status := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return status, stdout.String(), stderr.String()
}

func needSetpriv(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: drops to nobody itself; as non-root the other image tests already run in a user namespace")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux) to drop to nobody")
	}
}

// TestImageCLIUnprivileged runs scrim as nobody, which takes the user-namespace path, and
// checks containment, the shims and the uid the command runs as.
func TestImageCLIUnprivileged(t *testing.T) {
	needSetpriv(t)
	img, outer := testImage(t)
	status, out, serr := runScrim(t, scrimBinary(t), true, "run", "--chroot", img, "--hostname", "img", "--cwd", "/work/sub", "--",
		"/bin/probe", "fds:", "uid:", "pwd:", "cat:/../../secret", "cat:/abs", "hostname:", "cat:/etc/hosts",
		"write:/tmp/t:x", "cat:/tmp/t", "ls:/dev", "cat:/proc/self/mountinfo", "cat:/proc/1/cmdline")
	require.Equal(t, 0, status, serr)
	steps := probeSteps(t, out)
	require.Equal(t, "65534", steps["uid "])
	require.Equal(t, "/work/sub", steps["pwd "])
	require.Equal(t, "IMAGE SECRET", steps["cat /../../secret"])
	require.Equal(t, "IMAGE SECRET", steps["cat /abs"])
	require.Equal(t, "img", steps["hostname "])
	require.Contains(t, steps["cat /etc/hosts"], "10.1.2.3 image-only.test")
	require.Equal(t, "x", steps["cat /tmp/t"])
	require.Equal(t, "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero", steps["ls /dev"])
	require.Equal(t, "error: ENOENT", steps["cat /proc/1/cmdline"])
	require.Len(t, strings.Fields(steps["fds "]), 3, steps["fds "])
	require.NotContains(t, out, outer)
}

// TestImageCLINoUserNamespace shows the error when scrim is not root and the kernel refuses
// it a user namespace. The kernel refuses one to a chrooted process (clone(2), EPERM), so the
// test runs scrim as nobody inside a chroot to a recursive bind of "/".
func TestImageCLINoUserNamespace(t *testing.T) {
	needSetpriv(t)
	for _, tool := range []string{"unshare", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux, coreutils)", tool)
		}
	}
	img, _ := testImage(t)
	bin := scrimBinary(t)
	bind := filepath.Join(worldDir(t), "root")
	require.NoError(t, os.Mkdir(bind, 0o755))
	script := `mount --rbind / "$1" && exec chroot "$1" setpriv --reuid=65534 --regid=65534 --clear-groups "$2" run --chroot "$3" -- /bin/probe pwd:`
	status, out, serr := runArgv(t, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", bind, bin, img)
	require.Equal(t, 125, status, "stdout: %s\nstderr: %s", out, serr)
	require.Contains(t, serr, "scrim is not root and cannot create a user namespace")
	require.Empty(t, out, "the command must not run")
}

// TestImageDebootstrap builds a Debian minbase image with debootstrap and runs a shell in it
// with every line of its output checked. It downloads from the Debian mirror apt uses, so it
// runs only with SCRIM_E2E_DEBOOTSTRAP=1 (.ci/run sets it). SCRIM_E2E_DEBOOTSTRAP_DIR names
// an image to build once and reuse.
func TestImageDebootstrap(t *testing.T) {
	if os.Getenv("SCRIM_E2E_DEBOOTSTRAP") != "1" {
		t.Skip("set SCRIM_E2E_DEBOOTSTRAP=1 to build a Debian image with debootstrap (needs the Debian mirror)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: debootstrap installs packages as root")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatalf("SCRIM_E2E_DEBOOTSTRAP=1 but debootstrap is missing (apt-get install -y debootstrap): %v", err)
	}
	img := debootstrapImage(t)
	osRelease, err := os.ReadFile(filepath.Join(img, "usr/lib/os-release"))
	require.NoError(t, err)

	script := "cat /etc/os-release; getent hosts localhost; hostname; nproc; ls /proc"
	bin := scrimBinary(t)
	for _, tt := range []struct {
		name   string
		nobody bool
	}{
		{"as invoked", false},
		{"as nobody", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.nobody {
				needSetpriv(t)
			}
			status, out, serr := runScrim(t, bin, tt.nobody, "run", "--chroot", img, "--cpus", "1", "--hostname", "img", "--", "sh", "-c", script)
			require.Equal(t, 0, status, serr)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			want := strings.Split(strings.TrimSuffix(string(osRelease), "\n"), "\n")
			require.Greater(t, len(lines), len(want)+3, out)
			require.Equal(t, want, lines[:len(want)], "os-release is the image's")
			require.Contains(t, string(osRelease), "ID=debian")
			rest := lines[len(want):]
			hosts := strings.Fields(rest[0])
			require.Contains(t, []string{"127.0.0.1", "::1"}, hosts[0], "getent: %q", rest[0])
			require.Contains(t, hosts[1:], "localhost", "getent: %q", rest[0])
			require.Equal(t, "img", rest[1], "hostname")
			require.Equal(t, "1", rest[2], "nproc")
			procs := rest[3:]
			require.Contains(t, procs, "self")
			require.Contains(t, procs, "cpuinfo")
			hostProc, err := os.ReadDir("/proc")
			require.NoError(t, err)
			known := map[string]bool{}
			for _, e := range hostProc {
				known[e.Name()] = true
			}
			var pids []string
			for _, e := range procs {
				if _, err := strconv.Atoi(e); err == nil {
					pids = append(pids, e)
					continue
				}
				require.True(t, known[e], "ls /proc line %q is no procfs entry", e)
			}
			// Only the sandbox's own processes: sh and ls, perhaps already gone.
			require.LessOrEqual(t, len(pids), 2, "pids in /proc: %v", pids)
			require.NotContains(t, pids, "1", "the host's init is hidden")
			require.NotContains(t, out, img)
		})
	}
}

// debootstrapImage builds (or reuses) a bookworm minbase image from the mirror in apt's
// sources.
func debootstrapImage(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCRIM_E2E_DEBOOTSTRAP_DIR")
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "usr/lib/os-release")); err == nil {
			return dir
		}
	} else {
		dir = filepath.Join(worldDir(t), "debian")
	}
	mirror := aptMirror()
	cmd := exec.Command("debootstrap", "--variant=minbase", "bookworm", dir, mirror)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "debootstrap from %s:\n%s", mirror, out)
	return dir
}

// aptMirror reads the Debian mirror from apt's sources (deb822 or one-line format); the
// machine may reach no other.
func aptMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if u, ok := strings.CutPrefix(l, "URIs:"); ok {
				for _, uri := range strings.Fields(u) {
					if strings.HasSuffix(strings.TrimSuffix(uri, "/"), "/debian") {
						return uri
					}
				}
			}
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "deb" {
				for _, uri := range f[1:] {
					if strings.HasSuffix(strings.TrimSuffix(uri, "/"), "/debian") {
						return uri
					}
				}
			}
		}
	}
	return "http://deb.debian.org/debian"
}

// TestImageCLIChrootedScrim runs scrim as root from inside a chroot. When the chroot is a
// mount point (here a recursive bind of "/"), image mode works as anywhere else. When it is a
// plain directory, the mount that holds it cannot be made private and mounts made for the
// image could reach the host's namespace: scrim refuses with a message that says what to do.
func TestImageCLIChrootedScrim(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chroots scrim itself, which only root may do")
	}
	for _, tool := range []string{"unshare", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux, coreutils)", tool)
		}
	}
	// The plain chroot is the directory that holds the image: /img inside it, next to
	// /secret, which the sandboxed program must not reach.
	img, outer := testImage(t)
	for _, d := range []string{"bin", "proc", "home"} {
		require.NoError(t, os.Mkdir(filepath.Join(outer, d), 0o777))
	}
	bin := filepath.Join(outer, "bin/scrim")
	build := exec.Command("go", "build", "-o", bin, "github.com/scrim-sandbox/scrim/cmd/scrim")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "go build cmd/scrim:\n%s", b)
	bind := filepath.Join(worldDir(t), "root")
	require.NoError(t, os.Mkdir(bind, 0o755))
	probe := `-- /bin/probe pwd: cat:../../../secret cat:/abs readlink:/proc/self/root readlink:/proc/self/cwd cat:/proc/self/mountinfo`

	run := func(t *testing.T, script string, args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh"}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = []string{"HOME=/home", "XDG_CACHE_HOME=/home/cache", "PATH=" + os.Getenv("PATH")}
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil {
			require.ErrorAs(t, err, &ee)
			return ee.ExitCode(), stdout.String(), stderr.String()
		}
		return 0, stdout.String(), stderr.String()
	}
	t.Run("root is a mount point", func(t *testing.T) {
		status, out, serr := run(t, `mount --rbind / "$1" && exec chroot "$1" "$2" run --chroot "$3" --cwd /work/sub `+probe, bind, bin, img)
		require.Equal(t, 0, status, "stdout: %s\nstderr: %s", out, serr)
		steps := probeSteps(t, out)
		require.Equal(t, "/work/sub", steps["pwd "])
		require.Equal(t, "IMAGE SECRET", steps["cat ../../../secret"])
		require.Equal(t, "IMAGE SECRET", steps["cat /abs"])
		require.Equal(t, "/", steps["readlink /proc/self/root"])
		require.Equal(t, "/work/sub", steps["readlink /proc/self/cwd"])
		require.Regexp(t, `(?m)^\S+ \S+ \S+ / / `, steps["cat /proc/self/mountinfo"])
		require.NotContains(t, out, img)
	})
	t.Run("root is a plain directory", func(t *testing.T) {
		status, out, serr := run(t, `mount -t proc proc "$1/proc" && exec chroot "$1" /bin/scrim run --chroot /img `+probe, outer)
		require.Equal(t, 125, status, "stdout: %s\nstderr: %s", out, serr)
		require.Contains(t, serr, "scrim's own root is not a mount point")
		require.Empty(t, out)
	})
}
