package launch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// testImage builds a minimal image under a fresh temporary directory: the static probe at
// /bin/probe, a few files, and a host-only file beside the image that no step may reach.
// It returns the image directory and the directory that holds it.
func testImage(t *testing.T) (string, string) {
	t.Helper()
	src, err := os.ReadFile("testdata/imageprobe.go")
	require.NoError(t, err)
	probe := testprog.Go(t, string(src))
	// Every user can reach it: the unprivileged tests run scrim as nobody.
	outer := worldDir(t)
	img := filepath.Join(outer, "img")
	files := map[string]string{
		"etc/hosts":       "127.0.0.1 localhost\n10.1.2.3 image-only.test\n",
		"etc/os-release":  "ID=scrimtest\n",
		"secret":          "IMAGE SECRET\n",
		"data/file":       "image data\n",
		"data/server.key": "not a key\n",
		"etc/passwd":      "root:x:0:0:image root:/root:/bin/sh\nimageuser:x:1000:1000::/home/u:/bin/sh\nnobody:x:65534:65534:image nobody:/:/bin/false\n",
	}
	for _, d := range []string{"bin", "proc", "dev", "tmp", "etc", "data", "work/sub", "mnt"} {
		require.NoError(t, os.MkdirAll(filepath.Join(img, d), 0o755))
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(img, name), []byte(body), 0o644))
	}
	b, err := os.ReadFile(probe)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(img, "bin/probe"), b, 0o755))
	require.NoError(t, os.Symlink("/secret", filepath.Join(img, "abs")))
	require.NoError(t, os.Symlink("../../../../../../secret", filepath.Join(img, "work/rel")))
	require.NoError(t, os.WriteFile(filepath.Join(outer, "secret"), []byte("HOST SECRET\n"), 0o644))
	return img, outer
}

// probeSteps parses the probe's output into step → result.
func probeSteps(t *testing.T, out string) map[string]string {
	t.Helper()
	res := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i := 0; i+1 < len(lines); {
		key := lines[i]
		j := i + 1
		var body []string
		for j < len(lines) && !isStepHeader(lines[j]) {
			body = append(body, lines[j])
			j++
		}
		res[key] = strings.Join(body, "\n")
		i = j
	}
	return res
}

var probeOps = []string{"cat ", "readlink ", "pwd ", "cd ", "ls ", "write ", "mkdir ", "fds ", "mode ", "hostname ", "uid ", "hex "}

func isStepHeader(l string) bool {
	for _, op := range probeOps {
		if strings.HasPrefix(l, op) {
			return true
		}
	}
	return false
}

// imageRun is the outcome of one sandboxed run in an image.
type imageRun struct {
	status int
	steps  map[string]string
	stdout string
	log    string
}

// runImage runs cfg (whose Image is set) and collects the probe's answers and scrim's log.
func runImage(t *testing.T, cfg Config) imageRun {
	t.Helper()
	var logBuf bytes.Buffer
	cfg.Log = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &logBuf})
	status, out, serr := runOut(t, cfg)
	r := imageRun{status: status, steps: probeSteps(t, out), stdout: out, log: logBuf.String()}
	if t.Failed() || os.Getenv("SCRIM_TEST_LOG") != "" {
		t.Logf("stdout:\n%s\nstderr:\n%s\nlog:\n%s", out, serr, r.log)
	}
	return r
}

// builtinsFor builds the built-in shims as cmd/scrim would for an image.
func builtinsFor(t *testing.T, img string, opts builtin.Options) ([]shim.Registration, []shim.SyscallHandler) {
	t.Helper()
	opts.ImageRoot = img
	regs, calls, err := builtin.New(opts)
	require.NoError(t, err)
	return regs, calls
}

// examplePlugins loads three small example plugins: banner (AssemblyScript, serves
// /etc/motd from text), users (Rust, filters the real /etc/passwd) and secrets (C, denies
// private keys by glob). Small modules keep the race detector's compile time short.
func examplePlugins(t *testing.T, text string) []shim.Registration {
	t.Helper()
	host, err := plugins.Load(context.Background(), []plugins.Spec{
		{Name: "banner", Path: "../../examples/banner/banner.wasm", Config: map[string]any{"text": text}},
		{Name: "users", Path: "../../examples/users/users.wasm", Config: map[string]any{"keep_caller": false}},
		{Name: "secrets", Path: "../../examples/secrets/secrets.wasm"},
	}, plugins.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { host.Close(context.Background()) })
	return host.Registrations()
}

// snapshot records every entry under dir: type, permissions, size, modification time and
// content, so any change made through the image shows.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[p] = v
		return nil
	})
	require.NoError(t, err)
	return out
}

// TestImageView runs the probe in a writable image with every shim, a plugin and two bind
// mounts, and checks what each step saw.
func TestImageView(t *testing.T) {
	img, outer := testImage(t)
	rw := filepath.Join(outer, "rw")
	ro := filepath.Join(outer, "ro")
	for _, d := range []string{rw, ro} {
		require.NoError(t, os.Mkdir(d, 0o777))
		require.NoError(t, os.Chmod(d, 0o777))
	}
	require.NoError(t, os.WriteFile(filepath.Join(ro, "kept"), []byte("host ro file\n"), 0o644))
	hostFile := filepath.Join(outer, "single.conf")
	require.NoError(t, os.WriteFile(hostFile, []byte("one host file\n"), 0o644))
	seed := uint64(7)
	regs, calls := builtinsFor(t, img, builtin.Options{Hostname: "img", CPUs: 1, MemoryBytes: 256 << 20, RandomSeed: &seed})
	regs = append(regs, examplePlugins(t, "image motd for uid {uid}")...)
	steps := []string{
		"fds:", "pwd:", "readlink:/proc/self/cwd", "readlink:/proc/self/root", "readlink:/proc/self/exe",
		"cat:../../../../secret", "cat:/../../secret", "ls:/..", "cat:/abs", "cat:/work/rel", "cd:/..", "pwd:",
		"cat:/etc/os-release", "cat:/etc/hosts", "hostname:", "cat:/etc/hostname", "cat:/proc/cpuinfo",
		"cat:/proc/meminfo", "hex:/dev/urandom:8", "cat:/etc/motd", "cat:/etc/passwd", "cat:/data/server.key", "cat:/work/sub/../../data/server.key", "ls:/proc", "cat:/proc/1/cmdline", "cat:/proc/kallsyms", "cat:/proc/self/root/proc/modules",
		"cat:/proc/self/mountinfo", "ls:/dev", "write:/dev/null:x", "hex:/dev/zero:4", "mode:/dev/pts/ptmx",
		"write:/tmp/t:tmp", "cat:/tmp/t", "write:/data/new:made inside", "write:/mnt/rw/f:through rw",
		"write:/mnt/ro/f:through ro", "cat:/mnt/ro/kept", "ls:/new/mount/point", "cat:/etc/single.conf", "write:/etc/single.conf:x",
	}
	r := runImage(t, Config{
		Args:            append([]string{"/bin/probe"}, steps...),
		Handlers:        regs,
		SyscallHandlers: calls,
		Image: &ImageConfig{Dir: img, Cwd: "/work/sub", Mounts: []ImageMount{
			{Host: rw, Inside: "/mnt/rw"},
			{Host: ro, Inside: "/mnt/ro", ReadOnly: true},
			{Host: ro, Inside: "/new/mount/point", ReadOnly: true},
			{Host: hostFile, Inside: "/etc/single.conf", ReadOnly: true},
		}},
	})
	require.Equal(t, 0, r.status, r.log)

	eq := func(want string) func(*testing.T, string) {
		return func(t *testing.T, got string) { require.Equal(t, want, got) }
	}
	has := func(want ...string) func(*testing.T, string) {
		return func(t *testing.T, got string) {
			for _, w := range want {
				require.Contains(t, got, w)
			}
		}
	}
	tests := []struct {
		name  string
		step  string
		check func(*testing.T, string)
	}{
		{"exec and cwd", "pwd ", eq("/")}, // the last pwd, after cd /..
		{"cwd link", "readlink /proc/self/cwd", eq("/work/sub")},
		{"root link", "readlink /proc/self/root", eq("/")},
		{"exe link", "readlink /proc/self/exe", eq("/bin/probe")},
		{"dotdot from cwd", "cat ../../../../secret", eq("IMAGE SECRET")},
		{"dotdot from root", "cat /../../secret", eq("IMAGE SECRET")},
		{"dotdot listing", "ls /..", eq("abs bin data dev etc mnt new proc secret tmp work")},
		{"absolute symlink", "cat /abs", eq("IMAGE SECRET")},
		{"relative symlink", "cat /work/rel", eq("IMAGE SECRET")},
		{"chdir to dotdot", "cd /..", eq("ok")},
		{"image file", "cat /etc/os-release", eq("ID=scrimtest")},
		{"hosts merged", "cat /etc/hosts", has("10.1.2.3 image-only.test", "127.0.0.1 localhost")},
		{"hostname", "hostname ", eq("img")},
		{"etc hostname", "cat /etc/hostname", eq("img")},
		{"meminfo", "cat /proc/meminfo", has("MemTotal:         262144 kB")},
		{"plugin serves", "cat /etc/motd", eq("image motd for uid " + strconv.Itoa(os.Getuid()))},
		{"plugin reads the image's file", "cat /etc/passwd", eq("root:x:0:0:image root:/root:/bin/sh\nnobody:x:65534:65534:image nobody:/:/bin/false")},
		{"plugin glob on the child's path", "cat /data/server.key", eq("error: EACCES")},
		{"plugin glob through dotdot", "cat /work/sub/../../data/server.key", eq("error: EACCES")},
		{"foreign pid", "cat /proc/1/cmdline", eq("error: ENOENT")},
		{"proc deny", "cat /proc/kallsyms", eq("error: EACCES")},
		{"proc deny through root link", "cat /proc/self/root/proc/modules", eq("error: EACCES")},
		{"dev", "ls /dev", eq("fd full null ptmx pts random shm stderr stdin stdout tty urandom zero")},
		{"dev null", "write /dev/null", eq("ok")},
		{"dev zero", "hex /dev/zero", eq("00000000")},
		{"ptmx", "mode /dev/pts/ptmx", has("Dc")},
		{"tmp", "cat /tmp/t", eq("tmp")},
		{"writable image", "write /data/new", eq("ok")},
		{"bind rw", "write /mnt/rw/f", eq("ok")},
		{"bind ro", "write /mnt/ro/f", eq("error: EROFS")},
		{"bind ro read", "cat /mnt/ro/kept", eq("host ro file")},
		{"bind created", "ls /new/mount/point", eq("kept")},
		{"bind a file", "cat /etc/single.conf", eq("one host file")},
		{"bind a file ro", "write /etc/single.conf", eq("error: EROFS")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.steps[tt.step]
			require.True(t, ok, "no step %q in\n%s", tt.step, r.stdout)
			tt.check(t, got)
		})
	}
	t.Run("cpuinfo", func(t *testing.T) {
		require.Equal(t, 1, strings.Count(r.steps["cat /proc/cpuinfo"], "processor\t:"))
	})
	t.Run("randomness seeded", func(t *testing.T) {
		// Fresh shims with the same seed: each new sandbox starts the same stream.
		var got []string
		for range 2 {
			regs, calls := builtinsFor(t, img, builtin.Options{RandomSeed: &seed})
			r := runImage(t, Config{Args: []string{"/bin/probe", "hex:/dev/urandom:8"}, Handlers: regs, SyscallHandlers: calls, Image: &ImageConfig{Dir: img}})
			require.Equal(t, 0, r.status)
			require.Len(t, r.steps["hex /dev/urandom"], 16)
			got = append(got, r.steps["hex /dev/urandom"])
		}
		require.Equal(t, got[0], got[1])
	})
	t.Run("proc is procfs with only the sandbox", func(t *testing.T) {
		for _, e := range strings.Fields(r.steps["ls /proc"]) {
			if _, err := strconv.Atoi(e); err == nil {
				require.NotEqual(t, "1", e, "host init listed")
			}
		}
		require.Contains(t, r.steps["ls /proc"], "self")
	})
	t.Run("fds are stdio only", func(t *testing.T) {
		fds := strings.Fields(r.steps["fds "])
		require.Len(t, fds, 3, r.steps["fds "])
		for i, f := range fds {
			require.True(t, strings.HasPrefix(f, strconv.Itoa(i)+"="), f)
		}
	})
	t.Run("no host path of the image", func(t *testing.T) {
		for step, got := range r.steps {
			require.NotContains(t, got, img, "step %q leaks the image's host path", step)
		}
		mi := r.steps["cat /proc/self/mountinfo"]
		require.Regexp(t, `(?m)^\S+ \S+ \S+ / / `, mi, "the image root shows as /")
	})
	t.Run("writes reached the host", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(img, "data/new"))
		require.NoError(t, err)
		require.Equal(t, "made inside", string(b))
		b, err = os.ReadFile(filepath.Join(rw, "f"))
		require.NoError(t, err)
		require.Equal(t, "through rw", string(b))
		_, err = os.Stat(filepath.Join(ro, "f"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = os.Stat(filepath.Join(img, "tmp/t"))
		require.ErrorIs(t, err, fs.ErrNotExist, "/tmp is a tmpfs, not the image's directory")
	})
}

// TestImageReadOnly shows that nothing under a read-only image changes, whatever the child
// tries, while /tmp stays writable.
func TestImageReadOnly(t *testing.T) {
	img, _ := testImage(t)
	before := snapshot(t, img)
	r := runImage(t, Config{
		Args: []string{"/bin/probe", "write:/data/file:changed", "write:/data/new:x", "mkdir:/newdir",
			"write:/etc/hosts:x", "write:/tmp/t:ok", "cat:/tmp/t", "cat:/data/file"},
		Image: &ImageConfig{Dir: img, ReadOnly: true},
	})
	require.Equal(t, 0, r.status, r.log)
	for _, step := range []string{"write /data/file", "write /data/new", "mkdir /newdir"} {
		require.Equal(t, "error: EROFS", r.steps[step], step)
	}
	require.Equal(t, "ok", r.steps["cat /tmp/t"])
	require.Equal(t, "image data", r.steps["cat /data/file"])
	require.Equal(t, before, snapshot(t, img))
}

// TestImageHosts checks the image's /etc/hosts as the base of the virtual file: a symlink to a
// host file leaks nothing, and loopback lines appear once whether the image has them or not.
func TestImageHosts(t *testing.T) {
	tests := []struct {
		name     string
		prepare  func(t *testing.T, img, outer string)
		want     []string
		not      []string
		dangling bool
	}{
		{
			name: "symlink to a host file",
			prepare: func(t *testing.T, img, outer string) {
				host := filepath.Join(outer, "host-hosts")
				require.NoError(t, os.WriteFile(host, []byte("10.9.9.9 host-leak.test\n"), 0o644))
				require.NoError(t, os.Remove(filepath.Join(img, "etc/hosts")))
				require.NoError(t, os.Symlink(host, filepath.Join(img, "etc/hosts")))
			},
			want:     []string{"127.0.0.1"},
			not:      []string{"host-leak"},
			dangling: true,
		},
		{
			name: "with loopback",
			prepare: func(t *testing.T, img, _ string) {
				require.NoError(t, os.WriteFile(filepath.Join(img, "etc/hosts"), []byte("127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.1.1.1 box\n"), 0o644))
			},
			want: []string{"10.1.1.1 box"},
		},
		{
			name: "without loopback",
			prepare: func(t *testing.T, img, _ string) {
				require.NoError(t, os.WriteFile(filepath.Join(img, "etc/hosts"), []byte("10.1.1.1 box\n"), 0o644))
			},
			want: []string{"10.1.1.1 box"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, outer := testImage(t)
			tt.prepare(t, img, outer)
			regs, calls := builtinsFor(t, img, builtin.Options{})
			r := runImage(t, Config{Args: []string{"/bin/probe", "cat:/etc/hosts"}, Handlers: regs, SyscallHandlers: calls, Image: &ImageConfig{Dir: img}})
			require.Equal(t, 0, r.status, r.log)
			got := r.steps["cat /etc/hosts"]
			for _, n := range tt.not {
				require.NotContains(t, got, n)
			}
			if tt.dangling {
				// The link leads nowhere inside the image: the child learns no more than
				// that, as it would without scrim, or gets the virtual file.
				if got == "error: ENOENT" {
					return
				}
			}
			for _, w := range tt.want {
				require.Contains(t, got, w)
			}
			// Each loopback address names localhost on exactly one line.
			for _, addr := range []string{"127.0.0.1", "::1"} {
				n := 0
				for _, l := range strings.Split(got, "\n") {
					f := strings.Fields(l)
					if len(f) > 1 && f[0] == addr && slices.Contains(f[1:], "localhost") {
						n++
					}
				}
				require.Equal(t, 1, n, "%s localhost lines in\n%s", addr, got)
			}
		})
	}
}

// TestImageBadInput checks the messages and exit statuses for images that cannot run CMD.
func TestImageBadInput(t *testing.T) {
	img, outer := testImage(t)
	notDir := filepath.Join(outer, "file")
	require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(img, "bin/noexec"), []byte("#!/bin/probe\n"), 0o644))
	// A dynamic program whose interpreter the image lacks: the host's own shell.
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	shBytes, err := os.ReadFile(sh)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(img, "bin/dyn"), shBytes, 0o755))
	bare := filepath.Join(outer, "bare")
	require.NoError(t, os.MkdirAll(filepath.Join(bare, "bin"), 0o755))
	probe, err := os.ReadFile(filepath.Join(img, "bin/probe"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(bare, "bin/probe"), probe, 0o755))

	t.Run("config errors", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			img  ImageConfig
			want string
		}{
			{"missing", ImageConfig{Dir: filepath.Join(outer, "nope")}, "chroot " + filepath.Join(outer, "nope") + ": no such file or directory"},
			{"not a directory", ImageConfig{Dir: notDir}, "chroot " + notDir + ": not a directory"},
			{"relative cwd", ImageConfig{Dir: img, Cwd: "work"}, `chroot cwd "work": not an absolute path inside the image`},
			{"mount over the root", ImageConfig{Dir: img, Mounts: []ImageMount{{Host: outer, Inside: "/"}}}, "the image's root cannot be replaced by a mount"},
			{"missing mount source", ImageConfig{Dir: img, Mounts: []ImageMount{{Host: filepath.Join(outer, "nope"), Inside: "/mnt"}}}, "no such file or directory"},
			{"missing cwd", ImageConfig{Dir: img, Cwd: "/nope"}, "chroot cwd /nope: working directory in the image: no such file or directory"},
			{"cwd under a mount", ImageConfig{Dir: img, Cwd: "/mnt/nope", Mounts: []ImageMount{{Host: outer, Inside: "/mnt"}}}, "chroot cwd /mnt/nope: working directory in the image: no such file or directory"},
			// Found before anything starts, so that scrim check finds it too; the stub
			// refuses it as well.
			{"read-only image without /proc", ImageConfig{Dir: bare, ReadOnly: true}, "mount point /proc: the read-only image " + bare + " has none"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := snapshot(t, bare)
				_, err := New(Config{Args: []string{"/bin/probe"}, Image: &tt.img})
				require.ErrorContains(t, err, tt.want)
				require.Equal(t, before, snapshot(t, bare))
			})
		}
	})
	t.Run("start errors", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			img  ImageConfig
			want string
		}{
			{"cwd made by the stub", ImageConfig{Dir: img, Cwd: "/tmp/nope"}, "change to /tmp/nope in the image: no such file or directory"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := snapshot(t, tt.img.Dir)
				s, err := New(Config{Args: []string{"/bin/probe"}, Image: &tt.img})
				require.NoError(t, err)
				status, err := s.Run(context.Background())
				require.Equal(t, 125, status)
				require.ErrorContains(t, err, tt.want)
				require.Equal(t, before, snapshot(t, tt.img.Dir))
			})
		}
	})
	for _, tt := range []struct {
		name   string
		args   []string
		status int
		log    string
	}{
		{"command missing", []string{"/bin/nope"}, 127, "/bin/nope: no such file"},
		{"command not in PATH", []string{"nope"}, 127, "nope: command not found in PATH"},
		{"not executable", []string{"/bin/noexec"}, 126, "permission denied"},
		{"interpreter missing", []string{"/bin/dyn", "-c", "true"}, 127, "ELF interpreter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runImage(t, Config{Args: tt.args, Image: &ImageConfig{Dir: img}})
			require.Equal(t, tt.status, r.status, r.log)
			require.Contains(t, r.log, tt.log)
		})
	}
}

// TestImageMountTargetsStayInside gives the image an absolute symlink where scrim mounts /tmp:
// the tmpfs must land on the image's own /var/tmp, never on the host's.
func TestImageMountTargetsStayInside(t *testing.T) {
	img, _ := testImage(t)
	require.NoError(t, os.RemoveAll(filepath.Join(img, "tmp")))
	require.NoError(t, os.MkdirAll(filepath.Join(img, "var/tmp"), 0o755))
	require.NoError(t, os.Symlink("/var/tmp", filepath.Join(img, "tmp")))
	name := "scrim-image-test-" + strconv.Itoa(os.Getpid())
	r := runImage(t, Config{
		Args:  []string{"/bin/probe", "write:/tmp/" + name + ":x", "cat:/var/tmp/" + name},
		Image: &ImageConfig{Dir: img},
	})
	require.Equal(t, 0, r.status, r.log)
	require.Equal(t, "ok", r.steps["write /tmp/"+name])
	require.Equal(t, "x", r.steps["cat /var/tmp/"+name], "the tmpfs is on the image's /var/tmp")
	for _, p := range []string{filepath.Join("/var/tmp", name), filepath.Join(img, "var/tmp", name)} {
		_, err := os.Lstat(p)
		require.ErrorIs(t, err, fs.ErrNotExist, "%s must not exist: the file went to the sandbox's tmpfs", p)
	}
}

// TestImageParentLeadsNowhere: the program's parent is the keeper, which lives outside the
// image. Its root, cwd and descriptors through /proc, by open, chdir and readlink, must lead
// nowhere outside the image, as root too (where permissions would not stop it: the Landlock
// domain and the per-PID /proc do).
func TestImageParentLeadsNowhere(t *testing.T) {
	img, outer := testImage(t)
	regs, calls := builtinsFor(t, img, builtin.Options{})
	steps := []string{
		"cat:/proc/$PPID/root" + outer + "/secret", "cd:/proc/$PPID/root", "pwd:",
		"cd:/proc/$PPID/cwd", "pwd:", "readlink:/proc/$PPID/root", "readlink:/proc/$PPID/cwd",
		"readlink:/proc/$PPID/exe", "ls:/proc/$PPID/fd", "readlink:/proc/$PPID/fd/0",
		"readlink:/proc/$PPID/fd/3", "readlink:/proc/$PPID/fd/4", "ls:/proc/$PPID/task",
		"cat:/proc/$PPID/environ", "cat:/proc/$PPID/mountinfo", "fds:",
	}
	r := runImage(t, Config{
		Args:            append([]string{"/bin/probe"}, steps...),
		Handlers:        regs,
		SyscallHandlers: calls,
		Image:           &ImageConfig{Dir: img, Cwd: "/work/sub"},
	})
	require.Equal(t, 0, r.status, r.log)
	for _, step := range steps {
		name := strings.Replace(step, ":", " ", 1)
		got, ok := r.steps[name]
		require.True(t, ok, "no answer to %s in %s", step, r.stdout)
		require.NotContains(t, got, "HOST SECRET", step)
		require.NotContains(t, got, outer, step)
		switch {
		case strings.HasPrefix(step, "pwd"), step == "fds:":
			// Where the program is and what it holds, after the attempts: still inside.
			continue
		}
		require.True(t, strings.HasPrefix(got, "error: "), "%s: %s", step, got)
	}
	require.Equal(t, "/work/sub", r.steps["pwd "], "a chdir through the keeper moved the program")
}

// TestImageAsRootNeedsLandlock: without a Landlock domain, root in the image could walk out
// through its parent's /proc/PID/root, so scrim refuses to start.
func TestImageAsRootNeedsLandlock(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("as non-root the program has no capability that reaches the keeper")
	}
	img, _ := testImage(t)
	_, err := New(Config{Args: []string{"/bin/probe"}, Image: &ImageConfig{Dir: img}, NoLandlock: true})
	require.ErrorContains(t, err, "image mode as root needs Landlock")
}
