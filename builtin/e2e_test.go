package builtin

// End-to-end tests: each runs `scrim run [flags] -- CMD` with the scrim binary built once in
// TestMain, and asserts what real programs print. They import nothing of the supervisor.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var (
	scrimBin string // the scrim binary, built by TestMain
	scrimErr error  // why it could not be built
	scrimTmp string
	python   = "/usr/bin/python3"
	goHelper struct {
		once sync.Once
		path string
		err  error
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scrim-builtin-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: make temp dir:", err)
		os.Exit(2)
	}
	scrimTmp = dir
	scrimBin = filepath.Join(dir, "scrim")
	cmd := exec.Command("go", "build", "-o", scrimBin, "github.com/scrim-sandbox/scrim/cmd/scrim")
	if out, err := cmd.CombinedOutput(); err != nil {
		scrimErr = fmt.Errorf("go build ./cmd/scrim: %w\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// scrimResult is what one sandboxed run printed.
type scrimResult struct {
	stdout, stderr string
	code           int
}

// runScrim runs `scrim run flags -- args` and returns its output and exit status.
func runScrim(t *testing.T, flags []string, args ...string) scrimResult {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	require.NoError(t, scrimErr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append(append([]string{"run"}, flags...), "--")
	cmd := exec.CommandContext(ctx, scrimBin, append(argv, args...)...)
	cmd.Dir = scrimTmp
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	hang := testprog.DiagnoseHang(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run scrim: %v", err)
		code = ee.ExitCode()
	}
	return scrimResult{stdout.String(), stderr.String() + hang.String(), code}
}

// sh runs a shell script in the sandbox and requires it to succeed.
func sh(t *testing.T, flags []string, script string) string {
	t.Helper()
	r := runScrim(t, flags, "/bin/sh", "-c", script)
	require.Equal(t, 0, r.code, "script %q\nstdout: %s\nstderr: %s", script, r.stdout, r.stderr)
	return r.stdout
}

// py runs a Python program in the sandbox and requires it to succeed.
func py(t *testing.T, flags []string, program string) string {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skipf("needs %s: %v", python, err)
	}
	r := runScrim(t, flags, python, "-I", "-c", program)
	require.Equal(t, 0, r.code, "python %q\nstdout: %s\nstderr: %s", program, r.stdout, r.stderr)
	return r.stdout
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s in PATH (apt-get install it)", name)
	}
	return p
}

// buildGoHelper builds a static Go program that prints runtime.NumCPU() and 16 bytes of
// crypto/rand, the latter through the vDSO getrandom when the runtime can map its state.
func buildGoHelper(t *testing.T) string {
	t.Helper()
	goHelper.once.Do(func() {
		dir := filepath.Join(scrimTmp, "gohelper")
		if goHelper.err = os.MkdirAll(dir, 0o755); goHelper.err != nil {
			return
		}
		src := `package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// With no arguments: runtime.NumCPU() and 16 bytes of crypto/rand. "cat FILE..." prints each
// file or the errno it fails with; "ls DIR" prints the names in DIR, one a line.
func main() {
	if len(os.Args) > 2 && os.Args[1] == "cat" {
		for _, p := range os.Args[2:] {
			b, err := os.ReadFile(p)
			var errno syscall.Errno
			switch {
			case errors.As(err, &errno):
				fmt.Printf("%s: errno %d\n", p, int(errno))
			case err != nil:
				fmt.Printf("%s: %v\n", p, err)
			default:
				fmt.Print(string(b))
			}
		}
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "ls" {
		names, err := os.ReadDir(os.Args[2])
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		for _, n := range names {
			fmt.Println(n.Name())
		}
		return
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	fmt.Println(runtime.NumCPU(), hex.EncodeToString(b))
}
`
		files := map[string]string{"main.go": src, "go.mod": "module gohelper\n\ngo 1.24\n"}
		for name, body := range files {
			if goHelper.err = os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); goHelper.err != nil {
				return
			}
		}
		goHelper.path = filepath.Join(dir, "gohelper")
		cmd := exec.Command("go", "build", "-o", goHelper.path, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			goHelper.err = fmt.Errorf("go build helper: %w\n%s", err, out)
		}
	})
	require.NoError(t, goHelper.err)
	return goHelper.path
}

func TestE2EHosts(t *testing.T) {
	hostHosts, err := os.ReadFile("/etc/hosts")
	require.NoError(t, err)
	// Names the host's own file has that the sandbox's must not.
	var hostOnly []string
	for _, line := range strings.Split(string(hostHosts), "\n") {
		_, names, err := parseHostsLine(line)
		if err != nil {
			continue
		}
		for _, n := range names {
			if n != "localhost" {
				hostOnly = append(hostOnly, n)
			}
		}
	}

	t.Run("cat_every_spelling", func(t *testing.T) {
		out := sh(t, nil, `for p in /etc/hosts //etc//hosts /etc/../etc/hosts /etc/./hosts /proc/self/root/etc/hosts; do
			echo "== $p"; cat "$p" || exit 1; done; cd /etc && echo "== relative" && cat hosts`)
		for _, block := range strings.Split(out, "== ")[1:] {
			_, body, _ := strings.Cut(block, "\n")
			require.Equal(t, hostsDefault, body, "block %q", block)
		}
	})
	t.Run("dirfd_and_openat2", func(t *testing.T) {
		out := py(t, nil, `import os
d = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
fd = os.open("hosts", os.O_RDONLY, dir_fd=d)
print(os.read(fd, 4096).decode(), end="")`)
		require.Equal(t, hostsDefault, out)
	})
	t.Run("getent", func(t *testing.T) {
		needTool(t, "getent")
		out := sh(t, nil, "getent hosts localhost")
		require.Regexp(t, `^(::1|127\.0\.0\.1)\s+localhost\n$`, out)
		for _, n := range hostOnly {
			r := runScrim(t, nil, "getent", "hosts", n)
			require.NotEqual(t, 0, r.code, "the host's entry %s must not resolve: %s", n, r.stdout)
		}
	})
	t.Run("getaddrinfo", func(t *testing.T) {
		out := py(t, nil, `import socket
print(sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80)}))`)
		require.Equal(t, "['127.0.0.1', '::1']\n", out)
	})
	t.Run("net_allow", func(t *testing.T) {
		flags := []string{"--net-allow", "pinned.test=198.51.100.7", "--net-allow", "localhost"}
		out := sh(t, flags, "cat /etc/hosts; getent hosts pinned.test")
		require.Contains(t, out, "198.51.100.7 pinned.test\n")
		require.True(t, strings.HasPrefix(out, hostsLoopback), out)
		require.Equal(t, 1, strings.Count(out, "127.0.0.1 localhost\n"), "no duplicate lines")
		require.Regexp(t, `198\.51\.100\.7\s+pinned\.test\n$`, out)
		for _, n := range hostOnly {
			require.NotContains(t, out, n)
		}
	})
	t.Run("net_allow_unresolvable_is_startup_error", func(t *testing.T) {
		r := runScrim(t, []string{"--net-allow", "no-such-host.invalid"}, "true")
		require.Equal(t, 125, r.code)
		require.Contains(t, r.stderr, "no-such-host.invalid")
	})
}

func TestE2EWritesToServedFilesFail(t *testing.T) {
	before, err := os.ReadFile("/etc/hosts")
	require.NoError(t, err)
	t.Cleanup(func() {
		after, err := os.ReadFile("/etc/hosts")
		if err == nil && !bytes.Equal(before, after) {
			_ = os.WriteFile("/etc/hosts", before, 0o644)
			t.Errorf("the host's /etc/hosts changed: restored it")
		}
	})
	out := py(t, []string{"--hostname", "box", "--cpus", "1"}, `import errno, os
for path in ["/etc/hosts", "/etc/hostname", "/proc/cpuinfo", "/proc/sys/kernel/hostname"]:
    for name, flags in [("wronly", os.O_WRONLY), ("rdwr", os.O_RDWR), ("trunc", os.O_RDONLY | os.O_TRUNC),
                        ("creat", os.O_WRONLY | os.O_CREAT), ("append", os.O_WRONLY | os.O_APPEND)]:
        try:
            os.close(os.open(path, flags, 0o644))
            print(path, name, "opened")
        except OSError as e:
            print(path, name, errno.errorcode[e.errno])
    try:
        os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        print(path, "directory", "opened")
    except OSError as e:
        print(path, "directory", errno.errorcode[e.errno])
fd = os.open("/etc/hosts", os.O_RDONLY)
st = os.fstat(fd)
import mmap
m = mmap.mmap(fd, st.st_size, prot=mmap.PROT_READ)
print("size", st.st_size, "mmap", m[:9].decode(), "seek", os.lseek(fd, 10, os.SEEK_SET), os.read(fd, 9).decode())`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch {
		case f[0] == "size":
			require.Equal(t, fmt.Sprintf("size %d mmap 127.0.0.1 seek 10 localhost", len(hostsLoopback+"127.0.1.1 box\n::1 box\n")), line)
		case f[1] == "directory":
			require.Equal(t, "ENOTDIR", f[2], line)
		default:
			require.Equal(t, "EROFS", f[2], line)
		}
	}
	after, err := os.ReadFile("/etc/hosts")
	require.NoError(t, err)
	require.Equal(t, before, after, "the host's /etc/hosts is byte-for-byte unchanged")
}

func TestE2EHostname(t *testing.T) {
	probe := `hostname; uname -n; cat /etc/hostname; cat /proc/sys/kernel/hostname; cat /etc/../etc/hostname`
	tests := []struct {
		name  string
		flags []string
		want  string
	}{
		{"flag", []string{"--hostname", "box"}, "box"},
		{"default", nil, DefaultHostname},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := sh(t, tt.flags, probe)
			require.Equal(t, strings.Repeat(tt.want+"\n", 5), out)
			require.Equal(t, tt.want+"\n", py(t, tt.flags, "import socket; print(socket.gethostname())"))
		})
	}
	t.Run("sethostname_fails", func(t *testing.T) {
		out := py(t, nil, `import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
print(libc.sethostname(b"evil", 4), errno.errorcode[ctypes.get_errno()])`)
		require.Equal(t, "-1 EPERM\n", out)
	})
}

func TestE2ECPU(t *testing.T) {
	flags := []string{"--cpus", "1"}
	t.Run("coreutils_and_getconf", func(t *testing.T) {
		out := sh(t, flags, "nproc; nproc --all; getconf _NPROCESSORS_ONLN; getconf _NPROCESSORS_CONF")
		require.Equal(t, "1\n1\n1\n1\n", out)
	})
	t.Run("python", func(t *testing.T) {
		require.Equal(t, "1 1\n", py(t, flags, "import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))"))
	})
	t.Run("go", func(t *testing.T) {
		r := runScrim(t, flags, buildGoHelper(t))
		require.Equal(t, 0, r.code, r.stderr)
		require.True(t, strings.HasPrefix(r.stdout, "1 "), r.stdout)
	})
	t.Run("node", func(t *testing.T) {
		node := needTool(t, "node")
		r := runScrim(t, flags, node, "-e", "console.log(require('os').cpus().length)")
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, "1\n", r.stdout)
	})
	t.Run("java", func(t *testing.T) {
		java := needTool(t, "java")
		r := runScrim(t, flags, java, "-Xshare:auto", "-cp", javaProbe(t), "Probe", "cpus")
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, "1\n", r.stdout)
	})
	t.Run("lscpu", func(t *testing.T) {
		needTool(t, "lscpu")
		out := sh(t, flags, "lscpu")
		require.Regexp(t, `(?m)^CPU\(s\):\s+1$`, out)
		require.Regexp(t, `(?m)^On-line CPU\(s\) list:\s+0$`, out)
		require.Regexp(t, `(?m)^Core\(s\) per socket:\s+1$`, out)
	})
	t.Run("files_every_spelling", func(t *testing.T) {
		out := sh(t, flags, `grep -c ^processor /proc/cpuinfo; grep -c ^processor /proc/self/../cpuinfo;
			cd /proc && grep -c ^processor ./cpuinfo; grep -c '^cpu[0-9]' /proc/stat;
			cat /sys/devices/system/cpu/online //sys/devices/system/cpu/possible /sys/devices/system/../system/cpu/present;
			ls /sys/devices/system/cpu | grep -c '^cpu[0-9][0-9]*$'; ls /sys/bus/cpu/devices | grep -c '^cpu'`)
		require.Equal(t, "1\n1\n1\n1\n0\n0\n0\n1\n1\n", out)
	})
	t.Run("more_than_the_host", func(t *testing.T) {
		n := strconv.Itoa(runtime.NumCPU() + 1)
		out := sh(t, []string{"--cpus", n}, `nproc; nproc --all; getconf _NPROCESSORS_ONLN; grep -c ^processor /proc/cpuinfo;
			grep -c '^cpu[0-9]' /proc/stat; lscpu | sed -n 's/^CPU(s): *//p'`)
		require.Equal(t, strings.Repeat(n+"\n", 6), out)
	})
	t.Run("really_confined", func(t *testing.T) {
		out := sh(t, flags, "grep Cpus_allowed_list /proc/self/status; sh -c 'grep Cpus_allowed_list /proc/self/status'")
		require.Regexp(t, `^Cpus_allowed_list:\s+\d+\nCpus_allowed_list:\s+\d+\n$`, out)
	})
}

func TestE2EMemory(t *testing.T) {
	flags := []string{"--memory", "256M"}
	t.Run("free", func(t *testing.T) {
		needTool(t, "free")
		out := sh(t, flags, "free -m")
		require.Regexp(t, `(?m)^Mem:\s+256\s`, out)
	})
	t.Run("python_sysconf", func(t *testing.T) {
		out := py(t, flags, `import os; print(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))`)
		require.Equal(t, "268435456\n", out)
	})
	t.Run("meminfo_spellings", func(t *testing.T) {
		out := sh(t, flags, "head -1 /proc/meminfo; head -1 /proc/self/../meminfo")
		require.Equal(t, strings.Repeat("MemTotal:         262144 kB\n", 2), out)
	})
}

func TestE2ERandom(t *testing.T) {
	type sample struct{ head, char, python, goRand string }
	take := func(t *testing.T, seed string) sample {
		flags := []string{"--random-seed", seed}
		var s sample
		s.head = sh(t, flags, "head -c 16 /dev/urandom | od -An -tx1")
		s.char = sh(t, flags, "head -c 16 /dev/char/1:9 | od -An -tx1; head -c 16 /dev/random | od -An -tx1")
		s.python = py(t, flags, "import os, secrets; print(os.urandom(16).hex(), secrets.token_hex(16))")
		r := runScrim(t, flags, buildGoHelper(t))
		require.Equal(t, 0, r.code, r.stderr)
		s.goRand = r.stdout
		return s
	}
	first := take(t, "42")
	for i := 0; i < 2; i++ {
		require.Equal(t, first, take(t, "42"), "run %d with the same seed", i+2)
	}
	other := take(t, "43")
	require.NotEqual(t, first.head, other.head)
	require.NotEqual(t, first.python, other.python)
	require.NotEqual(t, first.goRand, other.goRand)
	require.Regexp(t, regexp.MustCompile(`^( [0-9a-f]{2}){16}\n$`), first.head)

	t.Run("never_ends", func(t *testing.T) {
		out := sh(t, []string{"--random-seed", "42"}, "head -c 10485760 /dev/urandom | wc -c")
		require.Equal(t, "10485760", strings.TrimSpace(out))
	})
	t.Run("node_made_elsewhere", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root: mknod of a character device")
		}
		// Made outside, by the test: inside, mknod of a device is refused (filter.go).
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o777))
		require.NoError(t, unix.Mknod(dir+"/rnd", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 9))))
		script := "head -c 16 " + dir + "/rnd | od -An -tx1"
		a := sh(t, []string{"--random-seed", "42"}, script)
		b := sh(t, []string{"--random-seed", "42"}, script)
		require.Equal(t, a, b, "a device node of 1:9 anywhere is the seeded device")
		require.Regexp(t, `^( [0-9a-f]{2}){16}\n$`, a)
		made := sh(t, nil, "mknod "+dir+"/made c 1 9 2>&1; ls "+dir)
		require.Contains(t, made, "Operation not permitted", "mknod of a device inside the sandbox")
	})
	t.Run("unseeded_is_random", func(t *testing.T) {
		a := sh(t, nil, "head -c 16 /dev/urandom | od -An -tx1")
		b := sh(t, nil, "head -c 16 /dev/urandom | od -An -tx1")
		require.NotEqual(t, a, b)
	})
}

func TestE2EProcPID(t *testing.T) {
	sib := exec.Command("sleep", "120")
	require.NoError(t, sib.Start())
	t.Cleanup(func() { _ = sib.Process.Kill(); _ = sib.Wait() })
	sibPid := strconv.Itoa(sib.Process.Pid)

	// The script prints scrim's pid (its parent's parent is not visible: $PPID is scrim,
	// since sh is the sandbox's first process), the /proc listing, and what opening foreign
	// pids gives.
	out := sh(t, nil, `echo "scrim $PPID"; echo "self $$"
		echo "list $(ls /proc | grep -E '^[0-9]+$' | tr '\n' ' ')"
		for p in `+sibPid+` $PPID 1; do
			if cat /proc/$p/cmdline >/dev/null 2>&1; then echo "open $p ok"; else echo "open $p fail"; fi
			if ls /proc/$p >/dev/null 2>&1; then echo "dir $p ok"; else echo "dir $p fail"; fi
		done`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	fields := map[string]string{}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, " ")
		if k == "open" || k == "dir" {
			fields[l] = ""
			continue
		}
		fields[k] = strings.TrimSpace(v)
	}
	scrimPid, self := fields["scrim"], fields["self"]
	listed := strings.Fields(fields["list"])
	require.Contains(t, listed, self, "the sandbox sees itself")
	for _, foreign := range []string{sibPid, scrimPid, "1"} {
		require.NotContains(t, listed, foreign, "pid %s is listed", foreign)
		require.Contains(t, fields, "open "+foreign+" fail")
		require.Contains(t, fields, "dir "+foreign+" fail")
	}

	t.Run("python_listdir_and_enoent", func(t *testing.T) {
		out := py(t, nil, `import errno, os
pids = [n for n in os.listdir("/proc") if n.isdigit()]
print(sorted(pids) == sorted({str(os.getpid())} | set(pids)) and "`+sibPid+`" not in pids and "1" not in pids)
for label, p in [("sibling", "`+sibPid+`"), ("init", "1"), ("scrim", str(os.getppid()))]:
    try:
        open("/proc/%s/status" % p).close()
        print(label, "opened")
    except OSError as e:
        print(label, errno.errorcode[e.errno])`)
		require.Equal(t, "True\nsibling ENOENT\ninit ENOENT\nscrim ENOENT\n", out)
	})
}

func TestE2EProcDeny(t *testing.T) {
	// Every default entry whose parent exists, whether or not the entry itself does: a
	// missing denied path must fail the same way through every spelling.
	var present []string
	for _, p := range DefaultDeny {
		if _, err := os.Stat(filepath.Dir(p)); err == nil {
			present = append(present, p)
		}
	}
	require.NotEmpty(t, present)
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o644))
	require.NoError(t, os.Chmod(filepath.Dir(secret), 0o755))
	link := filepath.Join(filepath.Dir(secret), "link")
	require.NoError(t, os.Symlink(present[0], link))

	var prog strings.Builder
	prog.WriteString("import errno, os\n")
	prog.WriteString("def tryopen(label, path, flags=os.O_RDONLY, **kw):\n")
	prog.WriteString("    try:\n        os.close(os.open(path, flags, 0o644, **kw)); print(label, 'opened')\n")
	prog.WriteString("    except OSError as e:\n        print(label, errno.errorcode[e.errno])\n")
	for _, p := range present {
		base := filepath.Base(p)
		parent := filepath.Dir(p)
		fmt.Fprintf(&prog, "tryopen(%q, %q)\n", p+" direct", p)
		fmt.Fprintf(&prog, "tryopen(%q, %q)\n", p+" dotdot", parent+"/../"+filepath.Base(parent)+"/"+base)
		fmt.Fprintf(&prog, "tryopen(%q, %q)\n", p+" slashes", "/"+strings.ReplaceAll(p, "/", "//"))
		fmt.Fprintf(&prog, "tryopen(%q, %q)\n", p+" selfroot", "/proc/self/root"+p)
		fmt.Fprintf(&prog, "d = os.open(%q, os.O_RDONLY | os.O_DIRECTORY)\n", parent)
		fmt.Fprintf(&prog, "tryopen(%q, %q, dir_fd=d)\n", p+" dirfd", base)
		fmt.Fprintf(&prog, "tryopen(%q, '/proc/self/fd/%%d/%s' %% d)\n", p+" fdlink", base)
	}
	fmt.Fprintf(&prog, "tryopen('symlink', %q)\n", link)
	fmt.Fprintf(&prog, "tryopen('config', %q)\n", secret)
	fmt.Fprintf(&prog, "tryopen('config_dir', %q)\n", filepath.Dir(secret))
	fmt.Fprintf(&prog, "tryopen('config_create', %q, flags=os.O_WRONLY|os.O_CREAT)\n", filepath.Dir(secret)+"/new")

	cfg := filepath.Join(t.TempDir(), "scrim.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("deny = [%q]\n", filepath.Dir(secret))), 0o644))
	require.NoError(t, os.Chmod(filepath.Dir(cfg), 0o755))
	out := py(t, []string{"-c", cfg}, prog.String())
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		require.True(t, strings.HasSuffix(line, " EACCES"), "want EACCES: %s", line)
	}
	require.Equal(t, 6*len(present)+4, len(strings.Split(strings.TrimSpace(out), "\n")))
	_, err := os.Stat(filepath.Dir(secret) + "/new")
	require.True(t, os.IsNotExist(err), "nothing was created in a denied directory")
}

// TestE2EHammer lists /proc and reads served files from many processes and threads at once:
// every listing must show every sandbox process it should and nothing foreign, and every read
// must be whole.
func TestE2EHammer(t *testing.T) {
	out := py(t, []string{"--cpus", "1", "--random-seed", "7"}, `import os, threading, subprocess
procs = [subprocess.Popen(["/bin/sh", "-c", "for i in 1 2 3 4 5; do ls /proc >/dev/null; cat /etc/hosts /proc/cpuinfo >/dev/null; done"]) for _ in range(8)]
errors = []
def worker():
    for _ in range(30):
        pids = {n for n in os.listdir("/proc") if n.isdigit()}
        if str(os.getpid()) not in pids or "1" in pids:
            errors.append("listing %r" % sorted(pids))
        with open("/etc/hosts") as f:
            if f.read() != "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 scrim\n::1 scrim\n":
                errors.append("hosts")
        with open("/dev/urandom", "rb") as f:
            if len(f.read(4096)) != 4096:
                errors.append("urandom")
threads = [threading.Thread(target=worker) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
codes = [p.wait() for p in procs]
print(errors[:3], codes)`)
	require.Equal(t, "[] [0, 0, 0, 0, 0, 0, 0, 0]\n", out)
}

// TestE2EChroot runs the shims in image mode, where the child's root is a directory holding
// nothing but a static helper and the files each case needs.
func TestE2EChroot(t *testing.T) {
	helper := buildGoHelper(t)
	image := func(t *testing.T, files map[string]string, links map[string]string) string {
		t.Helper()
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o755))
		for _, d := range []string{"bin", "etc", "proc", "dev", "tmp"} {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
		}
		b, err := os.ReadFile(helper)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "helper"), b, 0o755))
		for name, body := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
		}
		for name, to := range links {
			require.NoError(t, os.Symlink(to, filepath.Join(dir, name)))
		}
		return dir
	}
	run := func(t *testing.T, dir string, flags []string, args ...string) string {
		t.Helper()
		r := runScrim(t, append([]string{"--chroot", dir}, flags...), append([]string{"/bin/helper"}, args...)...)
		if r.code == 125 && strings.Contains(r.stderr, "user namespace") {
			t.Skipf("needs root or unprivileged user namespaces for image mode: %s", r.stderr)
		}
		require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		return r.stdout
	}

	t.Run("hosts_symlink_out_of_the_image_does_not_leak", func(t *testing.T) {
		secret := filepath.Join(t.TempDir(), "secret-hosts")
		require.NoError(t, os.WriteFile(secret, []byte("10.9.9.9 host-secret\n"), 0o644))
		dir := image(t, nil, map[string]string{"etc/hosts": secret})
		out := run(t, dir, nil, "cat", "/etc/hosts", "/etc/../etc/hosts")
		require.Equal(t, hostsDefault+hostsDefault, out)
	})
	t.Run("hosts_image_base", func(t *testing.T) {
		dir := image(t, map[string]string{"etc/hosts": "# image\n127.0.0.1 localhost\n10.0.0.5 db"}, nil)
		out := run(t, dir, []string{"--net-allow", "pinned.test=198.51.100.7", "--net-allow", "db=10.0.0.5"}, "cat", "/etc/hosts")
		require.Equal(t, "# image\n127.0.0.1 localhost\n10.0.0.5 db\n::1 localhost\n127.0.1.1 scrim\n::1 scrim\n198.51.100.7 pinned.test\n", out)
	})
	t.Run("views", func(t *testing.T) {
		dir := image(t, map[string]string{"etc/hostname": "image-name\n"}, nil)
		out := run(t, dir, []string{"--hostname", "box", "--cpus", "1", "--memory", "256M"},
			"cat", "/etc/hostname", "/proc/sys/kernel/hostname", "/sys/devices/system/cpu/online", "/proc/kallsyms")
		require.Equal(t, "box\nbox\n0\n/proc/kallsyms: errno 13\n", out)
		info := run(t, dir, []string{"--cpus", "1", "--memory", "256M"}, "cat", "/proc/cpuinfo", "/proc/meminfo")
		require.Equal(t, 1, strings.Count(info, "processor\t:"))
		require.Contains(t, info, "MemTotal:         262144 kB\n")
	})
	t.Run("proc_listing", func(t *testing.T) {
		dir := image(t, nil, nil)
		out := run(t, dir, nil, "ls", "/proc")
		var pids []string
		for _, n := range strings.Fields(out) {
			if _, ok := procEntry([]byte(n)); ok {
				pids = append(pids, n)
			}
		}
		require.Len(t, pids, 1, "only the helper itself: %v", pids)
	})
}
