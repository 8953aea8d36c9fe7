package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/plugins"
)

// attackerSrc tries one change (or read) per argument, "OP:PATH[:PATH2]", and prints
// "OP:PATH[:PATH2] ok" or "OP:PATH[:PATH2] errno N" for each, in order. It uses the raw calls
// so that every spelling of an open reaches the kernel as written.
const attackerSrc = `package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

const (
	oTmpfile = 0x410000
	oPath    = 0x200000
)

func openat2(dirfd int, path string, flags uint64) (int, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	how := [3]uint64{flags | syscall.O_CLOEXEC, 0644, 0}
	fd, _, e := syscall.Syscall6(437, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func openAndDo(p string, flags int, data string) error {
	fd, err := syscall.Open(p, flags|syscall.O_CLOEXEC, 0644)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if data != "" {
		_, err = syscall.Write(fd, []byte(data))
	} else if flags&syscall.O_ACCMODE == syscall.O_RDONLY && flags&oPath == 0 {
		_, err = syscall.Read(fd, make([]byte, 64))
	}
	return err
}

func inDir(dir, name string, flags int) error {
	d, err := syscall.Open(dir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(d)
	fd, err := syscall.Openat(d, name, flags|syscall.O_CLOEXEC, 0644)
	if err != nil {
		return err
	}
	if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		_, err = syscall.Read(fd, make([]byte, 64))
	}
	syscall.Close(fd)
	return err
}

func step(op string, a []string) error {
	switch op {
	case "read":
		return openAndDo(a[0], syscall.O_RDONLY, "")
	case "opath":
		return openAndDo(a[0], oPath, "")
	case "write":
		return openAndDo(a[0], syscall.O_WRONLY, "forged\n")
	case "append":
		return openAndDo(a[0], syscall.O_WRONLY|syscall.O_APPEND, "forged\n")
	case "trunc":
		return openAndDo(a[0], syscall.O_WRONLY|syscall.O_TRUNC, "")
	case "rdtrunc":
		return openAndDo(a[0], syscall.O_RDONLY|syscall.O_TRUNC, "")
	case "create":
		return openAndDo(a[0], syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, "forged\n")
	case "creat":
		fd, err := syscall.Creat(a[0], 0644)
		if err == nil {
			syscall.Close(fd)
		}
		return err
	case "openat2":
		fd, err := openat2(-100, a[0], syscall.O_WRONLY|syscall.O_CREAT)
		if err == nil {
			syscall.Close(fd)
		}
		return err
	case "tmpfile":
		return openAndDo(a[0], oTmpfile|syscall.O_RDWR, "forged\n")
	case "writeat":
		return inDir(a[0], a[1], syscall.O_WRONLY|syscall.O_CREAT)
	case "readat":
		return inDir(a[0], a[1], syscall.O_RDONLY)
	case "rename":
		return syscall.Rename(a[0], a[1])
	case "link":
		return syscall.Link(a[0], a[1])
	case "symlink":
		return syscall.Symlink(a[0], a[1])
	case "unlink":
		return syscall.Unlink(a[0])
	case "rmdir":
		return syscall.Rmdir(a[0])
	case "mkdir":
		return syscall.Mkdir(a[0], 0755)
	case "mkfifo":
		return syscall.Mkfifo(a[0], 0644)
	case "chmod":
		return syscall.Chmod(a[0], 0777)
	case "truncate":
		return syscall.Truncate(a[0], 0)
	case "utimes":
		return syscall.Utimes(a[0], make([]syscall.Timeval, 2))
	case "setxattr":
		return syscall.Setxattr(a[0], "user.scrim", []byte("x"), 0)
	}
	return fmt.Errorf("unknown op %q", op)
}

func main() {
	for _, arg := range os.Args[1:] {
		f := strings.Split(arg, ":")
		err := step(f[0], f[1:])
		if errno, ok := err.(syscall.Errno); ok {
			fmt.Printf("%s errno %d\n", arg, int(errno))
		} else if err != nil {
			fmt.Printf("%s %v\n", arg, err)
		} else {
			fmt.Printf("%s ok\n", arg)
		}
	}
}
`

// stateRig is a home with scrim's files in it as a user has them: a config file, a plugin
// directory with a drop-in, a plugin directory that does not exist yet, a compile cache filled
// by an earlier run, and an audit log; plus a directory of the user's own.
type stateRig struct {
	home, cfg, dropins, missing, cache, audit, other string
	env                                              []string
}

func newStateRig(t *testing.T) stateRig {
	t.Helper()
	home, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	// The unprivileged test user must be able to reach the files as the sandbox would.
	require.NoError(t, os.Chmod(home, 0o755))
	r := stateRig{
		home:    home,
		cfg:     filepath.Join(home, "project", "scrim.toml"),
		dropins: filepath.Join(home, "config", "scrim", "plugins.d"),
		missing: filepath.Join(home, "later", "plugins.d"),
		cache:   filepath.Join(home, "cache", "scrim"),
		audit:   filepath.Join(home, "audit.jsonl"),
		other:   filepath.Join(home, "other"),
	}
	for _, d := range []string{r.dropins, r.other, filepath.Dir(r.cfg)} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	data, err := os.ReadFile(motdWasm(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(r.dropins, "motd.wasm"), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(r.dropins, "motd.toml"), []byte("[[plugin]]\n[plugin.config]\ntext = \"from the drop-in\\n\"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(r.other, "f"), []byte("mine\n"), 0o644))
	require.NoError(t, os.WriteFile(r.cfg, []byte(fmt.Sprintf("hostname = \"box\"\nplugin_dirs = [%q, %q]\ncache_dir = %q\n", r.dropins, r.missing, r.cache)), 0o644))
	r.env = []string{"XDG_CONFIG_HOME=" + filepath.Join(home, "xdg-config"), "XDG_CACHE_HOME=" + filepath.Join(home, "xdg-cache")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XDG_") {
			r.env = append(r.env, kv)
		}
	}
	// The earlier run: it compiles the drop-in and fills the cache, key included.
	res := r.run(t, "cat", "/etc/motd")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "from the drop-in\n", res.stdout)
	_, err = os.Stat(plugins.CacheKeyFile(r.cache))
	require.NoError(t, err, "the first run made the cache key")
	return r
}

func (r stateRig) run(t *testing.T, args ...string) result {
	t.Helper()
	return scrimEnv(t, r.env, append([]string{"run", "-c", r.cfg, "--audit", r.audit, "--"}, args...)...)
}

// snapshot is the content of every file scrim keeps, by path, except the audit log (which
// each run appends to) and the cache's per-run directories (made and removed by each run).
func (r stateRig) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range []string{filepath.Dir(r.cfg), filepath.Join(r.home, "config"), filepath.Join(r.home, "cache")} {
		require.NoError(t, filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			require.NoError(t, err)
			if e.IsDir() && p == filepath.Join(r.cache, "run") {
				return fs.SkipDir
			}
			info, err := e.Info()
			require.NoError(t, err)
			desc := info.Mode().String()
			if info.Mode().IsRegular() {
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				sum := sha256.Sum256(data)
				desc += " " + hex.EncodeToString(sum[:])
			}
			out[p] = desc
			return nil
		}))
	}
	_, err := os.Lstat(filepath.Join(r.home, "later"))
	require.ErrorIs(t, err, fs.ErrNotExist, "the missing plugin directory's parent was made")
	return out
}

// attack runs the attacker in the sandbox with steps and returns what each step gave.
func (r stateRig) attack(t *testing.T, steps ...string) map[string]string {
	t.Helper()
	prog := testprog.Go(t, attackerSrc)
	res := r.run(t, append([]string{prog}, steps...)...)
	require.Equal(t, 0, res.code, res.stderr)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		step, outcome, ok := strings.Cut(line, " ")
		require.True(t, ok, line)
		got[step] = outcome
	}
	require.Len(t, got, len(steps), res.stdout)
	return got
}

// TestRun_StateWriteOpensRefused: a sandboxed program that opens scrim's own files to change
// them, by every open call and spelling, is refused with EACCES at every step, and cannot read
// the cache key at all; it still reads the config, the plugins and the cache entries, and
// writes its user's other files. Afterwards every file is as it was, the audit log records
// the attempts and nothing forged, and the next run loads exactly the plugin it loaded before.
func TestRun_StateWriteOpensRefused(t *testing.T) {
	r := newStateRig(t)
	before := r.snapshot(t)
	auditBefore, err := os.ReadFile(r.audit)
	require.NoError(t, err)
	key := plugins.CacheKeyFile(r.cache)
	entries, err := filepath.Glob(filepath.Join(r.cache, "code", "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	entry := entries[0]
	toml, wasm := filepath.Join(r.dropins, "motd.toml"), filepath.Join(r.dropins, "motd.wasm")
	keyLink := filepath.Join(r.other, "key-link")
	require.NoError(t, os.Symlink(key, keyLink))
	// Hard links made before the run are the same objects.
	cfgAlias, keyAlias := filepath.Join(r.other, "cfg-alias"), filepath.Join(r.other, "key-alias")
	require.NoError(t, os.Link(r.cfg, cfgAlias))
	require.NoError(t, os.Link(key, keyAlias))

	refused := []string{
		// The config file.
		"write:" + r.cfg, "append:" + r.cfg, "trunc:" + r.cfg, "rdtrunc:" + r.cfg, "creat:" + r.cfg,
		"openat2:" + r.cfg, "writeat:" + filepath.Dir(r.cfg) + ":scrim.toml", "trunc:" + cfgAlias,
		// The plugin directories: replace or change a drop-in, plant a new one, in a
		// directory that exists and in one that does not exist yet, or make its parent.
		"append:" + toml, "trunc:" + wasm, "write:" + wasm, "create:" + filepath.Join(r.dropins, "evil.toml"),
		"creat:" + filepath.Join(r.dropins, "evil.wasm"), "openat2:" + filepath.Join(r.dropins, "evil.toml"),
		"writeat:" + r.dropins + ":evil.toml", "writeat:" + filepath.Dir(r.dropins) + ":plugins.d/../plugins.d/evil.toml",
		"tmpfile:" + r.dropins, "create:" + filepath.Join(r.missing, "evil.toml"),
		"create:" + filepath.Join(r.home, "later"), "openat2:" + filepath.Join(r.home, "later"),
		// The compile cache: change an entry, add one, write its key.
		"write:" + entry, "trunc:" + entry, "create:" + filepath.Join(r.cache, "code", "new"),
		"tmpfile:" + r.cache, "append:" + key, "trunc:" + key,
		// The key cannot even be read, by any spelling.
		"read:" + key, "opath:" + key, "read:" + r.cache + "/code/../key",
		"readat:" + r.cache + ":key", "readat:" + filepath.Dir(r.cache) + ":scrim/key", "read:" + keyLink,
		"read:" + "/proc/self/root" + key, "read:" + keyAlias,
		// The audit log.
		"trunc:" + r.audit, "append:" + r.audit, "write:" + r.audit, "creat:" + r.audit,
	}
	allowed := []string{
		"read:" + r.cfg, "read:" + toml, "read:" + wasm, "read:" + entry, "read:" + r.audit,
		"append:" + filepath.Join(r.other, "f"), "create:" + filepath.Join(r.other, "new"),
		"create:" + filepath.Join(r.home, "config", "mine"),
	}
	got := r.attack(t, append(append([]string{}, refused...), allowed...)...)
	for _, s := range refused {
		require.Equal(t, "errno 13", got[s], "%s", s)
	}
	for _, s := range allowed {
		require.Equal(t, "ok", got[s], "%s", s)
	}
	after := r.snapshot(t)
	delete(after, filepath.Join(r.home, "config", "mine")) // the user's own file, beside the way
	require.Equal(t, before, after)

	// The audit log holds what it held, then this run's records, the refusals among them.
	audit, err := os.ReadFile(r.audit)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(audit), string(auditBefore)), "the earlier records are kept")
	require.NotContains(t, string(audit), "forged")
	require.Regexp(t, `"path":"`+regexp.QuoteMeta(r.audit)+`".*"handler":"builtin.state","verdict":"deny"`, string(audit[len(auditBefore):]))

	// The next run loads exactly the drop-in it loaded before, from where it was.
	res := r.run(t, "cat", "/etc/motd")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "from the drop-in\n", res.stdout)
	require.Equal(t, 1, strings.Count(res.stderr, "drop-in plugin loaded"), res.stderr)
	require.Contains(t, res.stderr, "drop-in plugin loaded: plugin=motd dir="+r.dropins+" file="+toml+":1")
	require.NotContains(t, res.stderr, "[WARN]  scrim.plugins", "no cache entry was refused")
}

// TestStateOf: cmd/scrim hands the state shim every file a later run trusts, as absolute
// paths, and the cache key as a secret.
func TestStateOf(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	st := stateOf(config.Config{
		File:       "scrim.toml",
		PluginDirs: []string{"/etc/scrim/plugins.d", "/home/u/.config/scrim/plugins.d"},
		Plugins: []config.Plugin{
			{Name: "motd", Path: "/home/u/.config/scrim/plugins.d/motd.wasm", Source: "/home/u/.config/scrim/plugins.d/motd.toml:1", DropIn: "/home/u/.config/scrim/plugins.d"},
			{Name: "x", Path: "/opt/x.wasm", Source: "--plugin"},
		},
		CacheDir: "/home/u/.cache/scrim",
		Audit:    "audit.jsonl",
	})
	require.Equal(t, builtin.State{
		Paths: []string{
			filepath.Join(wd, "scrim.toml"), "/etc/scrim/plugins.d", "/home/u/.config/scrim/plugins.d",
			"/home/u/.config/scrim/plugins.d/motd.wasm", "/home/u/.config/scrim/plugins.d/motd.toml",
			"/opt/x.wasm", "/home/u/.cache/scrim", filepath.Join(wd, "audit.jsonl"),
		},
		Secret: []string{"/home/u/.cache/scrim/key"},
	}, st)
	require.Equal(t, builtin.State{}, stateOf(config.Config{}))
}
