package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/probes"
	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// launchTestdata holds the probe programs of scrim run's attack tests (supervisor/launch),
// which the container tests run unchanged.
const launchTestdata = "../../supervisor/launch/testdata"

// probeBox is a busybox bundle whose container runs under `scrim agent`, with the probe
// programs built static in its root (/probe), so that they need nothing of the host's.
type probeBox struct {
	rt       *containerRuntime
	b        *testBundle
	agentErr *bytes.Buffer
	// runs counts the containers run, served those the agent served.
	runs, served int
}

// program builds a probe source of launchTestdata and installs it in the root as /probe/NAME.
func (p *probeBox) program(t *testing.T, name, src string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(launchTestdata, src))
	require.NoError(t, err)
	var bin string
	if strings.HasSuffix(src, ".go") {
		bin = testprog.Go(t, string(text)) // static: CGO_ENABLED=0
	} else {
		bin = testprog.C(t, string(text), "-static")
	}
	exe, err := os.ReadFile(bin)
	require.NoError(t, err)
	p.b.file("/probe/"+name, string(exe), 0o755)
	return "/probe/" + name
}

// run runs args as a new container under the agent and returns its standard output; it
// must exit 0.
func (p *probeBox) run(t *testing.T, args ...string) string {
	t.Helper()
	p.served++
	return p.start(t, args)
}

// runNative is run without the seccomp section: the kernel's own answers in the same root.
func (p *probeBox) runNative(t *testing.T, args ...string) string {
	t.Helper()
	linux := p.b.cfg["linux"].(map[string]any)
	section := linux["seccomp"]
	delete(linux, "seccomp")
	defer func() { linux["seccomp"] = section }()
	return p.start(t, args)
}

// next writes the bundle's config.json for args and names a new container.
func (p *probeBox) next(args []string) string {
	p.runs++
	p.b.args(args...)
	p.b.write()
	return fmt.Sprintf("scrim-probe-%s-%d", filepath.Base(p.b.dir), p.runs)
}

// start runs args as a new container in the foreground and returns its standard output; it
// must exit 0.
func (p *probeBox) start(t *testing.T, args []string) string {
	t.Helper()
	id := p.next(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, serr, err := p.rt.run(ctx, p.b, id)
	require.NoError(t, err, "%s run %s: %s\n%s; agent: %s", p.rt.name, args[0], out, serr, p.agentErr.String())
	return out
}

// runStdin runs args under the agent as a new container, detached, so that the runtime
// hands it stdin itself (in the foreground runc copies through a pipe), and returns what it
// wrote.
func (p *probeBox) runStdin(t *testing.T, stdin *os.File, args ...string) string {
	t.Helper()
	p.served++
	id := p.next(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() { p.rt.delete(id) })
	outFile := filepath.Join(p.b.dir, id+".out")
	f, err := os.Create(outFile)
	require.NoError(t, err)
	defer f.Close()
	cmd := p.rt.command(ctx, "run", "-d", "--bundle", p.b.dir, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, f, f
	require.NoError(t, cmd.Run(), "%s run -d %s; agent: %s", p.rt.name, args[0], p.agentErr.String())
	p.rt.waitStopped(t, ctx, id)
	out, err := os.ReadFile(outFile)
	require.NoError(t, err)
	return string(out)
}

// shown is the probe's line for a read of content: "OK " and its first 48 bytes, with what
// is not printable as '.'.
func shown(content string) string {
	b := []byte(content[:min(len(content), 48)])
	for i, c := range b {
		if c < 32 || c > 126 {
			b[i] = '.'
		}
	}
	return "OK " + string(b)
}

// TestAttackProbesInAContainer runs the attack probes of scrim run (supervisor/launch
// TestSpellings, TestStatSpellings, TestDenyByObject, TestPathRace, their programs built
// static) in busybox containers that runc and crun run under `scrim agent`, with deny entries
// and the built-in virtual files, and requires scrim run's answers: served content and denied
// objects through every spelling (symlinks, magic links, /proc/<pid>/root of the caller and of
// another process, bind mounts, /dev/stdin), as root, as uid 1000 and from an exec; link,
// rename and the other changes refused; the stat-like calls as the kernel or scrim run answers
// them; no protected byte while a thread flips the path being opened. Where an answer depends
// on the kernel, the expected line is scrim run's own on the host for the same path. Paths are
// the container's: the deny entries name them as it sees them, and the symlinks are made in
// its root. Root only: the runtimes need it.
func TestAttackProbesInAContainer(t *testing.T) {
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) { attackProbes(t, findRuntime(t, name)) })
	}
}

func attackProbes(t *testing.T, rt *containerRuntime) {
	p := &probeBox{rt: rt, b: newTestBundle(t, rt)}
	b := p.b
	probeC := p.program(t, "probe", "probe.c")
	probeGo := p.program(t, "probe-go", "probe.go")
	race := p.program(t, "race", "race.c")
	change := p.program(t, "change", "changeprobe.c")
	statProbe := p.program(t, "stat", "statprobe.c")

	const seed = "10.0.0.7 seeded\n"
	b.file("/etc/hosts", seed, 0o644)
	b.file("/etc/hostname", "real-hostname\n", 0o644)
	// Denied: one file, as the sandbox's spelling test denies one; a directory with what it
	// holds, as its deny-by-object test does, with a hard link made before the container ran.
	b.file("/srv/secret/key", "SECRET-REAL\n", 0o644)
	b.file("/srv/vault/dd/f", "#!/bin/sh\necho secret\n", 0o755)
	b.file("/srv/vault/race", "SECRET\n", 0o644)
	b.file("/race/benign", "BENIGN\n", 0o644)
	// The stat spellings name their target by the same path on the host and in the
	// container, so that relative spellings meet the same directories from /.
	statDir, statLinks := t.TempDir(), t.TempDir()
	require.NoError(t, os.Chmod(statDir, 0o755))
	statTarget := filepath.Join(statDir, "target")
	require.NoError(t, os.WriteFile(statTarget, []byte("stat me\n"), 0o644))
	b.file(statTarget, "stat me\n", 0o644)
	// So do the odd spellings, beside a denied directory.
	odd, oddLinks := t.TempDir(), t.TempDir()
	require.NoError(t, os.Chmod(odd, 0o755))
	for _, f := range []string{"dd/key", "plain"} {
		p := filepath.Join(odd, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(strings.ToUpper(filepath.Base(f))+"\n"), 0o644))
		b.file(p, strings.ToUpper(filepath.Base(f))+"\n", 0o644)
	}
	require.NoError(t, os.Link(filepath.Join(b.rootfs, "srv/vault/dd/f"), filepath.Join(b.rootfs, "srv/prelink")))
	require.NoError(t, os.Chmod(filepath.Join(b.rootfs, "srv"), 0o777))

	// Other names by mount: the denied file's directory and the served /etc/hostname bound
	// elsewhere in the container.
	mounts, _ := b.cfg["mounts"].([]any)
	b.cfg["mounts"] = append(mounts,
		map[string]any{"destination": "/mnt/secret", "type": "bind", "source": filepath.Join(b.rootfs, "srv/secret"), "options": []string{"rbind", "ro"}},
		map[string]any{"destination": "/mnt/hostname", "type": "bind", "source": filepath.Join(b.rootfs, "etc/hostname"), "options": []string{"bind", "ro"}})

	sock := filepath.Join(b.dir, "agent.sock")
	cfgFile := filepath.Join(b.dir, "scrim.toml")
	cfg := fmt.Sprintf(`hostname = "agentbox"
cpus = 1
deny = ["/srv/secret/key", "/srv/vault/dd", "/srv/vault/race", %q, %q]
[log]
level = "info"
`, statTarget, filepath.Join(odd, "dd"))
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o644))
	prof := scrim(t, "oci", "profile", "--socket", sock, "-c", cfgFile)
	require.Equal(t, 0, prof.code, prof.stderr)
	b.seccomp(prof.stdout)
	_, p.agentErr, _ = startAgent(t, sock, cfgFile)

	// sandboxed runs the probe program with args under scrim run on the host, with the
	// agent's configuration: the answers the container's must equal.
	sandboxed := func(t *testing.T, args []string) []string {
		t.Helper()
		r := scrim(t, append([]string{"run", "-c", cfgFile, "--", filepath.Join(b.rootfs, probeC)}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
		return probes.Lines(r.stdout)
	}
	args := func(cases []probes.Case) []string {
		var out []string
		for _, c := range cases {
			out = append(out, c.Args()...)
		}
		return out
	}

	t.Run("spellings", func(t *testing.T) {
		// What scrim run serves for /proc/cpuinfo with the same configuration.
		cpuinfo := sandboxed(t, []string{"open", "-", "/proc/cpuinfo", "0", "0"})[0]
		require.True(t, strings.HasPrefix(cpuinfo, "OK processor"), cpuinfo)
		targets := []struct {
			name, path, read, write string
		}{
			{"hosts", "/etc/hosts", shown(seed + "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\n"), "EROFS -"},
			{"hostname", "/etc/hostname", shown("agentbox\n"), "EROFS -"},
			{"cpuinfo", "/proc/cpuinfo", cpuinfo, "EROFS -"},
			{"denied", "/srv/secret/key", "EACCES -", "EACCES -"},
			// Denied by default, the same paths on the host and in the container, where runc
			// masks them with its /dev/null when they exist: every line is what scrim run
			// prints on the host.
			{"kcore", "/proc/kcore", "", ""},
			{"keys", "/proc/keys", "", ""},
		}
		for _, tg := range targets {
			t.Run(tg.name, func(t *testing.T) {
				cases, links := probes.Spellings(tg.path, "/links/"+tg.name, tg.read, tg.write)
				require.NoError(t, probes.MakeLinks(b.rootfs, links))
				if tg.read == "" {
					hostLinks := t.TempDir()
					hostCases, links := probes.Spellings(tg.path, hostLinks, "", "")
					require.NoError(t, probes.MakeLinks("/", links))
					want := sandboxed(t, args(hostCases))
					require.Len(t, want, len(cases))
					for i := range cases {
						cases[i].Want = want[i]
						if cases[i].Op != "chdir" {
							require.NotContains(t, want[i], "OK", "scrim run: %s", cases[i].Name)
						}
					}
				}
				for _, prog := range []string{probeC, probeGo} {
					lines := probes.Lines(p.run(t, append([]string{prog}, args(cases)...)...))
					require.Len(t, lines, len(cases), "%s: %q", prog, lines)
					for i, c := range cases {
						require.Equal(t, c.Want, lines[i], "%s: case %q: %v", prog, c.Name, c.Args())
					}
				}
			})
		}
	})
	// A file no handler claims, through every spelling: scrim run's answers on the host for a
	// file of the same path and bytes (the kernel's, but for O_PATH, which scrim answers with
	// a read-only descriptor). The cases truncate and rewrite it, so each run starts from the
	// same bytes.
	t.Run("plain file", func(t *testing.T) {
		dir, links := t.TempDir(), t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o755))
		plain := filepath.Join(dir, "file")
		cases, ls := probes.Spellings(plain, links, "", "")
		require.NoError(t, probes.MakeLinks("/", ls))
		require.NoError(t, probes.MakeLinks(b.rootfs, ls))
		reset := func() {
			require.NoError(t, os.WriteFile(plain, []byte("PLAIN\n"), 0o644))
			b.file(plain, "PLAIN\n", 0o644)
		}
		reset()
		want := sandboxed(t, args(cases))
		require.Len(t, want, len(cases))
		require.Equal(t, "OK PLAIN.", want[0], "scrim run's answer to %v", cases[0].Args())
		for _, prog := range []string{probeC, probeGo} {
			reset()
			got := probes.Lines(p.run(t, append([]string{prog}, args(cases)...)...))
			require.Len(t, got, len(cases), "%s: %q", prog, got)
			for i, c := range cases {
				require.Equal(t, want[i], got[i], "%s: case %q: %v", prog, c.Name, c.Args())
			}
		}
	})

	// The denied file and the served /etc/hostname by the names bind mounts give them: the
	// object decides, not the name.
	t.Run("bind mounts", func(t *testing.T) {
		cases := []probes.Case{
			{Op: "open", Path: "/mnt/secret/key", Want: "EACCES -"},
			{Op: "openat", Dir: "/mnt/secret", Path: "key", Want: "EACCES -"},
			{Op: "openat2", Dir: "/mnt", Path: "secret/key", Resolve: "0x8", Want: "EACCES -"},
			{Op: "open", Path: "/proc/self/root/mnt/secret/key", Want: "EACCES -"},
			{Op: "open", Path: "/mnt/hostname", Want: "OK agentbox."},
			{Op: "open", Path: "/proc/self/root/mnt/hostname", Want: "OK agentbox."},
		}
		var want []string
		for _, c := range cases {
			want = append(want, c.Want)
		}
		for _, prog := range []string{probeC, probeGo} {
			require.Equal(t, want, probes.Lines(p.run(t, append([]string{prog}, args(cases)...)...)), prog)
		}
	})

	// Odd spellings of a denied directory's file and of a plain file, at the same paths on
	// the host and in the container: magic links and symlinks refused by RESOLVE_ flags,
	// O_TMPFILE, a name too long, symlink chains of 40 hops and of 41, a magic link inside a
	// symlink. Every line is what scrim run prints on the host.
	t.Run("odd spellings", func(t *testing.T) {
		key, plain := filepath.Join(odd, "dd/key"), filepath.Join(odd, "plain")
		links := []probes.Link{{Path: filepath.Join(oddLinks, "x"), Target: key}, {Path: filepath.Join(oddLinks, "m"), Target: "/proc/self/root" + key}}
		for i := range 41 {
			next := filepath.Join(oddLinks, fmt.Sprintf("h%d", i+1))
			if i == 40 {
				next = plain
			}
			links = append(links, probes.Link{Path: filepath.Join(oddLinks, fmt.Sprintf("h%d", i)), Target: next})
		}
		require.NoError(t, probes.MakeLinks("/", links))
		require.NoError(t, probes.MakeLinks(b.rootfs, links))
		cases := []probes.Case{
			{Op: "open", Path: key},
			{Op: "openat2", Path: "/proc/self/root" + key, Resolve: "0x2"},      // RESOLVE_NO_MAGICLINKS
			{Op: "openat2", Path: filepath.Join(oddLinks, "x"), Resolve: "0x4"}, // RESOLVE_NO_SYMLINKS
			{Op: "openat2", Dir: odd, Path: "dd/key", Resolve: "0x9"},           // RESOLVE_BENEATH|RESOLVE_NO_XDEV
			{Op: "open", Path: filepath.Join(oddLinks, "m")},
			{Op: "open", Path: filepath.Join(oddLinks, "x"), Flags: "0x20000"},  // O_NOFOLLOW
			{Op: "open", Path: filepath.Join(oddLinks, "x"), Flags: "0x220000"}, // O_PATH|O_NOFOLLOW
			{Op: "open", Path: key, Flags: "0x220000"},
			{Op: "open", Path: filepath.Join(odd, "dd"), Flags: "0x410002"}, // O_TMPFILE|O_RDWR
			{Op: "open", Path: odd, Flags: "0x410002"},
			{Op: "creat", Path: filepath.Join(odd, "dd/new")},
			{Op: "open", Path: key + "/."},
			{Op: "open", Path: "/proc/self/cwd" + key},
			{Op: "openat", Dir: odd, Path: "dd/../dd/key"},
			{Op: "open", Path: "/proc/@P/fd/@D/key", Dir: filepath.Join(odd, "dd")},
			{Op: "open", Path: "/" + strings.Repeat("./", 2100) + plain},
			{Op: "open", Path: filepath.Join(oddLinks, "h1")}, // 40 hops
			{Op: "open", Path: filepath.Join(oddLinks, "h0")}, // 41 hops
			{Op: "open", Path: plain, Flags: "0x40"},          // O_CREAT
		}
		want := sandboxed(t, args(cases))
		require.Len(t, want, len(cases))
		require.Equal(t, "EACCES -", want[0])
		require.Equal(t, "OK PLAIN.", want[len(want)-1])
		t.Logf("scrim run: %q", want)
		got := probes.Lines(p.run(t, append([]string{probeC}, args(cases)...)...))
		require.Len(t, got, len(cases), "%q", got)
		for i, c := range cases {
			require.Equal(t, want[i], got[i], "case %v", c.Args())
		}
	})

	// What the stat-like calls say of a served file: its served size and type, whatever the
	// spelling, and no write access, as scrim run says on the host (the device and inode are
	// those of the served copy, which differ from run to run).
	t.Run("served metadata", func(t *testing.T) {
		var sargs []string
		for _, path := range []string{"/etc/hostname", "/proc/self/root/etc/hostname", "/etc/hosts", "/proc/@P/root/etc/hosts"} {
			for _, op := range []string{"stat", "lstat", "statx", "fstatat", "empty", "access", "access_w"} {
				sargs = append(sargs, op, "-", path)
			}
		}
		shape := func(lines []string) []string {
			for i, l := range lines {
				if f := strings.SplitN(l, ":", 3); strings.HasPrefix(l, "OK ") && len(f) == 3 {
					lines[i] = "OK " + f[2]
				}
			}
			return lines
		}
		r := scrim(t, append([]string{"run", "-c", cfgFile, "--", filepath.Join(b.rootfs, statProbe)}, sargs...)...)
		require.Equal(t, 0, r.code, r.stderr)
		host := shape(probes.Lines(r.stdout))
		got := shape(probes.Lines(p.run(t, append([]string{statProbe}, sargs...)...)))
		require.Len(t, got, len(host), "%q", got)
		hosts := seed + "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\n"
		for i := range got {
			op, path := sargs[3*i], sargs[3*i+2]
			switch {
			case strings.HasSuffix(path, "hostname"):
				require.Equal(t, host[i], got[i], "%s %s", op, path)
			case op == "access" || op == "access_w":
				require.Equal(t, host[i], got[i], "%s %s", op, path)
			default:
				require.Equal(t, fmt.Sprintf("OK 100000:%d:1", len(hosts)), got[i], "%s %s", op, path)
			}
		}
		require.Equal(t, "OK 100000:9:1", host[0], "scrim run: stat /etc/hostname")
		require.Equal(t, "EROFS", host[6], "scrim run: access(W_OK) /etc/hostname")
	})

	// A process that joins a running container (runc exec) is served with the container's
	// state, and its spellings answer as those of the container's first process.
	t.Run("exec", func(t *testing.T) {
		denied, links := probes.Spellings("/srv/secret/key", "/links/exec-denied", "EACCES -", "EACCES -")
		hostname, more := probes.Spellings("/etc/hostname", "/links/exec-hostname", "OK agentbox.", "EROFS -")
		require.NoError(t, probes.MakeLinks(b.rootfs, append(links, more...)))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p.served++
		id := p.next([]string{"/bin/sh", "-c", "while [ ! -e /tmp/exec-done ]; do sleep 0.05; done"})
		_, err := rt.start(ctx, b, id)
		require.NoError(t, err, "agent: %s", p.agentErr.String())
		for _, cases := range [][]probes.Case{denied, hostname} {
			out, err := rt.exec(ctx, id, append([]string{probeC}, args(cases)...)...)
			require.NoError(t, err, "%s exec: %s; agent: %s", rt.name, out, p.agentErr.String())
			lines := probes.Lines(string(out))
			require.Len(t, lines, len(cases), "%q", lines)
			for i, c := range cases {
				require.Equal(t, c.Want, lines[i], "case %q: %v", c.Name, c.Args())
			}
		}
		rt.touchToEnd(t, ctx, id, "/tmp/exec-done")
	})

	// As uid 1000, which the runtime changes to after it installed the filter: the agent
	// opens as the caller, and the answers are those of scrim run for a user who is not root.
	t.Run("as uid 1000", func(t *testing.T) {
		hosts, links := probes.Spellings("/etc/hosts", "/links/uid-hosts", shown(seed+"127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\n"), "EROFS -")
		denied, more := probes.Spellings("/srv/secret/key", "/links/uid-denied", "EACCES -", "EACCES -")
		require.NoError(t, probes.MakeLinks(b.rootfs, append(links, more...)))
		user, nnp := b.process()["user"], b.process()["noNewPrivileges"]
		b.user(1000, 1000)
		b.process()["noNewPrivileges"] = false
		defer func() { b.process()["user"], b.process()["noNewPrivileges"] = user, nnp }()
		for _, cases := range [][]probes.Case{hosts, denied} {
			lines := probes.Lines(p.run(t, append([]string{probeC}, args(cases)...)...))
			require.Len(t, lines, len(cases), "%q", lines)
			for i, c := range cases {
				require.Equal(t, c.Want, lines[i], "case %q: %v", c.Name, c.Args())
			}
		}
	})

	// /dev/stdin, which the runtime hands the container open on the target itself, from
	// outside its root: the object decides, as when scrim run's launcher redirects it.
	t.Run("stdin", func(t *testing.T) {
		for _, tc := range []struct{ path, want string }{
			{"/etc/hosts", shown(seed + "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 agentbox\n::1 agentbox\n")},
			{"/etc/hostname", "OK agentbox."},
			{"/srv/secret/key", "EACCES -"},
		} {
			in, err := os.Open(filepath.Join(b.rootfs, tc.path))
			require.NoError(t, err)
			out := p.runStdin(t, in, probeC, "open", "-", "/dev/stdin", "0", "0", "open", "-", "/proc/self/fd/0", "0", "0")
			in.Close()
			require.Equal(t, tc.want+"\n"+tc.want+"\n", out, "/dev/stdin from %s", tc.path)
		}
	})

	// runc masks /proc/keys and /proc/timer_list, which scrim denies, with a bind mount of
	// the container's /dev/null: the paths stay denied and /dev/null stays usable, as under
	// scrim run, where they are procfs files.
	t.Run("masked paths", func(t *testing.T) {
		cases := []probes.Case{
			{Op: "open", Path: "/dev/null", Flags: "0x2", Want: "OK "},
			{Op: "open", Path: "/proc/self/root/dev/null", Flags: "0x1", Want: "OK -"}, // write-only: no read
			{Op: "open", Path: "/proc/keys", Want: "EACCES -"},
			{Op: "open", Path: "/proc/timer_list", Want: "EACCES -"},
			{Op: "openat", Dir: "/proc", Path: "keys", Want: "EACCES -"},
		}
		var want []string
		for _, c := range cases {
			want = append(want, c.Want)
		}
		require.Equal(t, want, sandboxed(t, args(cases)), "scrim run")
		require.Equal(t, want, probes.Lines(p.run(t, append([]string{probeC}, args(cases)...)...)), "in the container")
	})

	// Another process's root and working directory (pid 1 is the shell here), and the whole
	// served /proc/cpuinfo through several spellings: one processor, as cpus = 1 says.
	t.Run("another process's root", func(t *testing.T) {
		if err := os.Symlink("busybox", filepath.Join(b.rootfs, "bin/grep")); !errors.Is(err, fs.ErrExist) {
			require.NoError(t, err)
		}
		require.NoError(t, probes.MakeLinks(b.rootfs, []probes.Link{{Path: "/links/other/cpu", Target: "../../proc/cpuinfo"}}))
		host, err := os.ReadFile("/proc/cpuinfo")
		require.NoError(t, err)
		cpus := strings.Count(string(host), "\nprocessor\t") + 1
		script := probeC + " open - /proc/1/root/etc/hostname 0 0 open - /proc/1/root/srv/secret/key 0 0" +
			" openat /proc/1/cwd srv/secret/key 0 0 openat2 /proc/1/root srv/secret/key 0 0x10;" +
			" for p in /proc/cpuinfo /proc/1/root/proc/cpuinfo /links/other/cpu /proc/self/cwd/links/other/cpu; do grep -c ^processor $p; done"
		out := p.run(t, "/bin/sh", "-c", script)
		want := "OK agentbox.\nEACCES -\nEACCES -\nEACCES -\n"
		if cpus < 2 {
			t.Logf("one processor on the host: the counts cannot tell the view from the host's")
		}
		require.Equal(t, want+strings.Repeat("1\n", 4), out)
	})

	t.Run("links and renames", func(t *testing.T) {
		const (
			top    = "/srv"
			parent = "/srv/vault"
			d      = "/srv/vault/dd"
			f      = "/srv/vault/dd/f"
		)
		host := func(p string) string { return filepath.Join(b.rootfs, p) }
		before := map[string]string{d: objectState(t, host(d)), f: objectState(t, host(f))}
		x := func(name string) string { return top + "/" + name }
		calls := [][]string{
			{"link", f, x("x")},
			{"link", "/proc/self/root" + f, x("x2")},
			{"rename", f, x("g")},
			{"rename", "/proc/1/root" + f, x("g2")},
			{"rename", d, x("moved")},
			{"rename", parent, x("moved-parent")},
			{"symlink", f, x("s")}, {"open", x("s")},
			{"truncate", f}, {"chmod", f}, {"chown", f}, {"utimensat", f}, {"setxattr", f},
			{"exec", f},
			{"unlink", f}, {"rmdir", d}, {"mkdir", d + "/new"},
			{"open", f}, {"open", "/proc/self/root" + f}, {"open", d + "/../dd/f"}, {"openat", d, "f"},
			{"open", x("prelink")}, {"truncate", x("prelink")}, {"link", x("prelink"), x("y")},
		}
		var cargs []string
		for _, c := range calls {
			cargs = append(cargs, c...)
		}
		lines := probes.Lines(p.run(t, append([]string{change}, cargs...)...))
		require.Len(t, lines, len(calls))
		for i, c := range calls {
			want := c[0] + " EACCES"
			if c[0] == "symlink" {
				want = "symlink OK" // a new name outside the denied directory; opening it reaches f
			}
			require.Equal(t, want, lines[i], "%v", c)
		}
		for p, st := range before {
			require.Equal(t, st, objectState(t, host(p)), "%s changed", p)
		}
		for _, name := range []string{"x", "x2", "g", "g2", "moved", "moved-parent", "y"} {
			_, err := os.Lstat(host(x(name)))
			require.ErrorIs(t, err, os.ErrNotExist, name)
		}
	})

	// The stat-like calls of every spelling of a denied file: each answers as the kernel
	// does (in the container: the same root without the agent) where scrim run on the host
	// does, and as scrim run does where it does not.
	t.Run("stat spellings", func(t *testing.T) {
		verdicts := func(native, mediated []string) []string {
			require.Len(t, mediated, len(native))
			out := make([]string, len(native))
			for i := range native {
				out[i] = mediated[i]
				if mediated[i] == native[i] {
					out[i] = "as the kernel"
				}
			}
			return out
		}
		sps, links := probes.StatSpellings(statTarget, statLinks)
		require.NoError(t, probes.MakeLinks("/", links))
		require.NoError(t, probes.MakeLinks(b.rootfs, links))
		args := append([]string{statProbe}, probes.StatArgs(sps)...)
		hostProbe := filepath.Join(b.rootfs, statProbe)
		// From /, the container's working directory: access and readlink take no dirfd, so
		// the "dirfd root" spelling's relative path is looked up there.
		native := exec.Command(hostProbe, args[1:]...)
		native.Dir = "/"
		nativeOut, err := native.Output()
		require.NoError(t, err)
		run := exec.Command(scrimBin, append([]string{"run", "-c", cfgFile, "--", hostProbe}, args[1:]...)...)
		run.Dir, run.Env = "/", testEnv(t)
		var runErr bytes.Buffer
		run.Stderr = &runErr
		runOut, err := run.Output()
		require.NoError(t, err, runErr.String())
		want := verdicts(probes.Lines(string(nativeOut)), probes.Lines(string(runOut)))
		require.Contains(t, want, "EACCES", "scrim run denies some call of the denied file")
		require.Contains(t, want, "as the kernel", "scrim run answers some call as the kernel does")

		got := verdicts(probes.Lines(p.runNative(t, args...)), probes.Lines(p.run(t, args...)))
		ops := len(probes.StatFollowOps) + len(probes.StatNoFollowOps)
		for i := range want {
			require.Equal(t, want[i], got[i], "%s of %q (%s)", args[1+3*i], sps[i/ops].Path, sps[i/ops].Name)
		}
	})

	t.Run("path race", func(t *testing.T) {
		secs := raceSeconds(t)
		// The path's bytes flip in memory; then, in a second run, the symlink the path names
		// flips on disk between the benign and the denied file, rewritten by a shell loop.
		for _, tc := range []struct{ name, benign, script string }{
			{"memory", "/race/benign", "exec %s"},
			{"symlink", "/race/flip", "ln -s /race/benign /race/flip; " +
				"(while [ ! -e /tmp/race-done ]; do ln -sfn /srv/vault/race /race/flip; ln -sfn /race/benign /race/flip; done) & " +
				"%s; touch /tmp/race-done; wait"},
		} {
			cmd := fmt.Sprintf("%s %g %s /etc/hostname /srv/vault/race real-hostname agentbox", race, secs, tc.benign)
			out := p.run(t, "/bin/sh", "-c", fmt.Sprintf(tc.script, cmd))
			var opens, benign, served, denied, other, leaks int
			_, err := fmt.Sscanf(out, "opens=%d benign=%d served=%d denied=%d other=%d leaks=%d", &opens, &benign, &served, &denied, &other, &leaks)
			require.NoError(t, err, out)
			t.Logf("%s, %.1fs: %s", tc.name, secs, out)
			require.Zero(t, leaks, tc.name)
			require.Positive(t, benign, "%s: the benign file was never opened: the race did not run", tc.name)
			require.Positive(t, served, "%s: the served file was never opened: the race did not run", tc.name)
			require.Positive(t, denied, "%s: no open failed: the race did not run", tc.name)
		}
	})

	// Every container above was one the agent served.
	require.Equal(t, p.served, strings.Count(p.agentErr.String(), "container started"), p.agentErr.String())
}

// raceSeconds is how long the container's path race runs: SCRIM_RACE_SECONDS, else 2 (1 with
// -short); each second is a few thousand opens on this machine.
func raceSeconds(t *testing.T) float64 {
	t.Helper()
	if v := os.Getenv("SCRIM_RACE_SECONDS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, "SCRIM_RACE_SECONDS")
		return f
	}
	if testing.Short() {
		return 1
	}
	return 2
}

// objectState is probes.ObjectState, which must succeed.
func objectState(t *testing.T, p string) string {
	t.Helper()
	s, err := probes.ObjectState(p)
	require.NoError(t, err)
	return s
}
