package builtin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// stateLayout is a host tree holding scrim's files as cmd/scrim names them, and others.
type stateLayout struct {
	base     string
	cfg      string // the config file
	plugins  string // a plugin directory that does not exist yet: home/.config/scrim/plugins.d
	dropins  string // a plugin directory that exists, with a drop-in
	cache    string // cache_dir, with its key and an entry
	key      string
	audit    string
	linked   string // a plugin directory reached through a symlink: base/lnk/plugins.d, lnk -> real
	other    string // a directory of the user's that nothing protects
	keyAlias string // a hard link to the key made before the run
	cfgAlias string // a hard link to the config file made before the run
}

func newStateLayout(t *testing.T) stateLayout {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	l := stateLayout{
		base:     base,
		cfg:      filepath.Join(base, "scrim.toml"),
		plugins:  filepath.Join(base, "home", ".config", "scrim", "plugins.d"),
		dropins:  filepath.Join(base, "dropins"),
		cache:    filepath.Join(base, "cache"),
		audit:    filepath.Join(base, "audit.jsonl"),
		linked:   filepath.Join(base, "lnk", "plugins.d"),
		other:    filepath.Join(base, "other"),
		keyAlias: filepath.Join(base, "other", "key-alias"),
		cfgAlias: filepath.Join(base, "other", "cfg-alias"),
	}
	l.key = filepath.Join(l.cache, "key")
	for _, d := range []string{filepath.Join(base, "home", ".config"), l.dropins, filepath.Join(l.cache, "code"), l.other, filepath.Join(base, "real")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	for name, body := range map[string]string{
		l.cfg: "hostname = \"box\"\n", l.audit: "{}\n", l.key: strings.Repeat("k", 32),
		filepath.Join(l.dropins, "motd.toml"): "[[plugin]]\n", filepath.Join(l.dropins, "motd.wasm"): "\x00asm",
		filepath.Join(l.cache, "code", "entry"): "code", filepath.Join(l.other, "f"): "mine",
	} {
		require.NoError(t, os.WriteFile(name, []byte(body), 0o600))
	}
	require.NoError(t, os.Symlink(filepath.Join(base, "real"), filepath.Join(base, "lnk")))
	require.NoError(t, os.Link(l.key, l.keyAlias))
	require.NoError(t, os.Link(l.cfg, l.cfgAlias))
	return l
}

func (l stateLayout) options(imageRoot string) Options {
	return Options{ImageRoot: imageRoot, State: State{
		Paths: []string{
			l.cfg, l.plugins, l.dropins, filepath.Join(l.dropins, "motd.wasm"),
			filepath.Join(l.dropins, "motd.toml"), l.cache, l.audit, l.linked,
		},
		Secret: []string{l.key},
	}}
}

func newTestState(t *testing.T, opts Options) *state {
	t.Helper()
	h, err := newState(opts, nil)
	require.NoError(t, err)
	s := h.(*state)
	require.NoError(t, s.Provision(testEnv(&fakeSandbox{})))
	return s
}

// stateReq builds the Request the resolver makes for op on the host path p: its canonical
// path, the object (the last name itself, not followed, except for opens), and the walk's
// directories from "/" to the one holding the last name.
func stateReq(t *testing.T, op shim.Op, p string) *shim.Request {
	t.Helper()
	req := &shim.Request{Op: op, Path: []byte(p), Dirs: dirsOf(t, filepath.Dir(p))}
	var st unix.Stat_t
	stat := unix.Lstat
	if op == shim.OpOpen {
		stat = unix.Stat
	}
	if stat(p, &st) == nil {
		req.Object = shim.Object{Exists: true, Dev: st.Dev, Ino: st.Ino, Mode: st.Mode}
	}
	return req
}

// dirsOf lists the identities of "/" and every directory down to dir.
func dirsOf(t *testing.T, dir string) []shim.DirID {
	t.Helper()
	var dirs []shim.DirID
	cur := "/"
	for _, c := range append([]string{""}, strings.Split(strings.TrimPrefix(dir, "/"), "/")...) {
		cur = filepath.Join(cur, c)
		var st unix.Stat_t
		if unix.Stat(cur, &st) != nil {
			break
		}
		dirs = append(dirs, shim.DirID{Dev: st.Dev, Ino: st.Ino})
	}
	return dirs
}

func dirID(t *testing.T, p string) shim.DirID {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(p, &st))
	return shim.DirID{Dev: st.Dev, Ino: st.Ino}
}

func TestState_Decisions(t *testing.T) {
	l := newStateLayout(t)
	s := newTestState(t, l.options(""))
	in := func(elem ...string) string { return filepath.Join(append([]string{l.base}, elem...)...) }
	open := func(p string, flags int) func(t *testing.T) *shim.Request {
		return func(t *testing.T) *shim.Request {
			req := stateReq(t, shim.OpOpen, p)
			req.Syscall, req.Flags = shim.SysOpenat, flags
			return req
		}
	}
	op := func(o shim.Op, p string, dest bool) func(t *testing.T) *shim.Request {
		return func(t *testing.T) *shim.Request {
			req := stateReq(t, o, p)
			req.Dest = dest
			return req
		}
	}
	// moved is req for p as if the directory holding p had been renamed: a path no rule
	// names, so only the walk's identities can tell.
	moved := func(o shim.Op, p string, flags int) func(t *testing.T) *shim.Request {
		return func(t *testing.T) *shim.Request {
			req := stateReq(t, o, p)
			req.Flags = flags
			req.Path = []byte("/elsewhere/moved/" + filepath.Base(p))
			return req
		}
	}
	for _, tc := range []struct {
		name string
		req  func(t *testing.T) *shim.Request
		deny bool
	}{
		// Opens.
		{"read the config", open(l.cfg, unix.O_RDONLY), false},
		{"write the config", open(l.cfg, unix.O_WRONLY), true},
		{"truncate the config read-only", open(l.cfg, unix.O_RDONLY|unix.O_TRUNC), true},
		{"O_CREAT of the existing config", open(l.cfg, unix.O_RDONLY|unix.O_CREAT), true},
		{"write the config by a hard link made before the run", open(l.cfgAlias, unix.O_RDWR), true},
		{"read a drop-in", open(in("dropins", "motd.toml"), unix.O_RDONLY), false},
		{"append to a drop-in", open(in("dropins", "motd.toml"), unix.O_WRONLY|unix.O_APPEND), true},
		{"plant a drop-in", open(in("dropins", "evil.toml"), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL), true},
		{"plant a drop-in in a plugin directory that does not exist", open(filepath.Join(l.plugins, "evil.toml"), unix.O_WRONLY|unix.O_CREAT), true},
		{"create a file where a missing plugin directory's parent goes", open(in("home", ".config", "scrim"), unix.O_WRONLY|unix.O_CREAT), true},
		{"create a file beside the way", open(in("home", ".config", "mine"), unix.O_WRONLY|unix.O_CREAT), false},
		{"O_TMPFILE on the way", open(in("home", ".config"), unix.O_RDWR|unix.O_TMPFILE), false},
		{"O_TMPFILE in the cache", open(l.cache, unix.O_RDWR|unix.O_TMPFILE), true},
		{"read a cache entry", open(in("cache", "code", "entry"), unix.O_RDONLY), false},
		{"rewrite a cache entry", open(in("cache", "code", "entry"), unix.O_RDWR), true},
		{"add a cache entry", open(in("cache", "code", "new"), unix.O_WRONLY|unix.O_CREAT), true},
		{"read the key", open(l.key, unix.O_RDONLY), true},
		{"O_PATH the key", open(l.key, unix.O_PATH), true},
		{"read the key by a hard link made before the run", open(l.keyAlias, unix.O_RDONLY), true},
		{"read the key in a renamed cache directory", moved(shim.OpOpen, l.key, unix.O_RDONLY), true},
		{"read a missing key by its directory's identity", func(t *testing.T) *shim.Request {
			req := moved(shim.OpOpen, l.key, unix.O_RDONLY)(t)
			req.Object = shim.Object{}
			return req
		}, true},
		{"write the audit log", open(l.audit, unix.O_WRONLY|unix.O_APPEND), true},
		{"truncate the audit log", open(l.audit, unix.O_WRONLY|unix.O_TRUNC), true},
		{"read the audit log", open(l.audit, unix.O_RDONLY), false},
		{"write the user's file", open(in("other", "f"), unix.O_RDWR|unix.O_TRUNC), false},
		{"write under a renamed protected directory", moved(shim.OpOpen, in("cache", "code", "entry"), unix.O_WRONLY), true},
		{"write through the symlink on the way", open(filepath.Join(in("real", "plugins.d"), "x.toml"), unix.O_WRONLY|unix.O_CREAT), true},

		// Removal.
		{"unlink a cache entry", op(shim.OpRemove, in("cache", "code", "entry"), false), true},
		{"unlink the key", op(shim.OpRemove, l.key, false), true},
		{"unlink a drop-in", op(shim.OpRemove, in("dropins", "motd.toml"), false), true},
		{"unlink the config", op(shim.OpRemove, l.cfg, false), true},
		{"unlink the audit log", op(shim.OpRemove, l.audit, false), true},
		{"rmdir an ancestor", op(shim.OpRemove, in("home", ".config"), false), true},
		{"rmdir a further ancestor", op(shim.OpRemove, in("home"), false), true},
		{"unlink the symlink on the way", op(shim.OpRemove, in("lnk"), false), true},
		{"rmdir the symlink's target", op(shim.OpRemove, in("real"), false), true},
		{"unlink the user's file", op(shim.OpRemove, in("other", "f"), false), false},
		{"unlink a hard link to the config", op(shim.OpRemove, l.cfgAlias, false), true},
		{"unlink beneath a renamed protected directory", moved(shim.OpRemove, in("cache", "code", "entry"), 0), true},

		// Rename: each name is asked about on its own.
		{"rename an ancestor away", op(shim.OpRename, in("home", ".config"), false), true},
		{"rename the cache away", op(shim.OpRename, l.cache, false), true},
		{"rename a drop-in away", op(shim.OpRename, in("dropins", "motd.wasm"), false), true},
		{"rename onto a missing ancestor", op(shim.OpRename, in("home", ".config", "scrim"), true), true},
		{"rename onto a missing plugin directory", op(shim.OpRename, l.plugins, true), true},
		{"rename into a plugin directory", op(shim.OpRename, in("dropins", "evil.toml"), true), true},
		{"rename onto the audit log", op(shim.OpRename, l.audit, true), true},
		{"rename onto the config", op(shim.OpRename, l.cfg, true), true},
		{"rename onto an existing ancestor", op(shim.OpRename, in("home", ".config"), true), true},
		{"rename the user's file", op(shim.OpRename, in("other", "f"), false), false},
		{"rename to the user's name", op(shim.OpRename, in("other", "g"), true), false},
		{"rename beside the way", op(shim.OpRename, in("home", ".config", "mine"), true), false},
		{"rename out of a renamed protected directory", moved(shim.OpRename, in("cache", "code", "entry"), 0), true},

		// Link.
		{"link the key elsewhere", op(shim.OpLink, l.key, false), true},
		{"link a plugin elsewhere", op(shim.OpLink, in("dropins", "motd.wasm"), false), true},
		{"link a cache entry elsewhere", op(shim.OpLink, in("cache", "code", "entry"), false), true},
		{"link into the cache", op(shim.OpLink, in("cache", "code", "new"), true), true},
		{"link onto a missing ancestor", op(shim.OpLink, in("home", ".config", "scrim"), true), true},
		{"link the user's file", op(shim.OpLink, in("other", "f"), false), false},
		{"link to the user's name", op(shim.OpLink, in("other", "h"), true), false},

		// Create.
		{"mkdir a missing ancestor", op(shim.OpCreate, in("home", ".config", "scrim"), false), true},
		{"mkdir a missing plugin directory", func(t *testing.T) *shim.Request {
			req := stateReq(t, shim.OpCreate, l.plugins)
			// home/.config/scrim does not exist: the walk ends before it.
			req.Dirs = append(dirsOf(t, in("home", ".config")), shim.DirID{Dev: 1, Ino: 1})
			return req
		}, true},
		{"mkdir a missing ancestor by its directory's identity", func(t *testing.T) *shim.Request {
			req := stateReq(t, shim.OpCreate, in("home", ".config", "scrim"))
			req.Path = []byte("/elsewhere/moved/scrim")
			return req
		}, true},
		{"mkdir an existing ancestor", op(shim.OpCreate, in("home", ".config"), false), false},
		{"mkdir an existing protected directory", op(shim.OpCreate, l.cache, false), false},
		{"mkdir in the cache", op(shim.OpCreate, in("cache", "new"), false), true},
		{"symlink as a drop-in", op(shim.OpCreate, in("dropins", "evil.toml"), false), true},
		{"mkdir a plugin directory through the symlink's target", op(shim.OpCreate, in("real", "plugins.d"), false), true},
		{"mkdir a symlink on the way", func(t *testing.T) *shim.Request {
			req := stateReq(t, shim.OpCreate, in("lnk"))
			req.Object = shim.Object{}
			return req
		}, true},
		{"mkdir beside the way", op(shim.OpCreate, in("home", ".config", "mine"), false), false},
		{"mkdir in the user's directory", op(shim.OpCreate, in("other", "new"), false), false},

		// Modify.
		{"chmod the cache", op(shim.OpModify, l.cache, false), true},
		{"truncate the audit log", op(shim.OpModify, l.audit, false), true},
		{"chmod the config", op(shim.OpModify, l.cfg, false), true},
		{"chmod the config by a hard link", op(shim.OpModify, l.cfgAlias, false), true},
		{"utimes a cache entry", op(shim.OpModify, in("cache", "code", "entry"), false), true},
		{"setxattr beneath a renamed protected directory", moved(shim.OpModify, in("cache", "code", "entry"), 0), true},
		{"chmod the user's file", op(shim.OpModify, in("other", "f"), false), false},
		{"chmod an ancestor", op(shim.OpModify, in("home", ".config"), false), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Open(context.Background(), tc.req(t))
			require.NoError(t, err)
			if tc.deny {
				require.Equal(t, shim.Deny(unix.EACCES), res)
			} else {
				require.Equal(t, shim.Next(), res)
			}
		})
	}
}

// TestState_Ops: the shim decides opens and the calls that change something; stat, access,
// readlink and chdir of scrim's files stay the kernel's, and exec is not its business.
func TestState_Ops(t *testing.T) {
	s := newTestState(t, newStateLayout(t).options(""))
	for _, o := range []shim.Op{shim.OpOpen, shim.OpRemove, shim.OpRename, shim.OpLink, shim.OpCreate, shim.OpModify} {
		require.True(t, s.Ops().Has(o), o.String())
		require.True(t, o == shim.OpOpen || o.Changes(), o.String())
	}
	for _, o := range []shim.Op{shim.OpStat, shim.OpAccess, shim.OpReadlink, shim.OpChdir, shim.OpExec} {
		require.False(t, s.Ops().Has(o), o.String())
	}
}

// TestState_ImageMode: in image mode the child's paths are not the host's, so a path that
// merely spells like a protected one is the image's own; a host object reached through a bind
// mount is still known by its identity and its directory's.
func TestState_ImageMode(t *testing.T) {
	l := newStateLayout(t)
	s := newTestState(t, l.options("/some/image"))
	for _, tc := range []struct {
		name string
		req  func(t *testing.T) *shim.Request
		deny bool
	}{
		{"the image's file at the config's path", func(t *testing.T) *shim.Request {
			return &shim.Request{Op: shim.OpOpen, Flags: unix.O_WRONLY | unix.O_CREAT, Path: []byte(l.cfg)}
		}, false},
		{"the config through a mount", func(t *testing.T) *shim.Request {
			req := stateReq(t, shim.OpOpen, l.cfg)
			req.Flags, req.Path = unix.O_WRONLY, []byte("/mnt/scrim.toml")
			return req
		}, true},
		{"the key through a mount", func(t *testing.T) *shim.Request {
			req := stateReq(t, shim.OpOpen, l.key)
			req.Path = []byte("/mnt/cache/key")
			return req
		}, true},
		{"a plugin directory made through a mount", func(t *testing.T) *shim.Request {
			req := stateReq(t, shim.OpCreate, filepath.Join(l.base, "home", ".config", "scrim"))
			req.Path = []byte("/mnt/.config/scrim")
			return req
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Open(context.Background(), tc.req(t))
			require.NoError(t, err)
			require.Equal(t, tc.deny, res.Action == shim.ActDeny, "%+v", res)
		})
	}
}

func TestState_LookupWay(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(base, "a", "b"), 0o755))
	require.NoError(t, os.Symlink("a/b", filepath.Join(base, "rel")))
	require.NoError(t, os.Symlink(filepath.Join(base, "rel"), filepath.Join(base, "abs")))
	names, final, err := lookupWay(base + "/abs/../c/d")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(base, "a", "c", "d"), final)
	var rel []string
	for _, n := range names {
		if r, ok := strings.CutPrefix(n, base+"/"); ok {
			rel = append(rel, r)
		}
	}
	// Each link is a name the lookup depends on, and so is every name it leads through.
	require.Equal(t, []string{"abs", "rel", "a", "a/b", "a/c", "a/c/d"}, rel)

	require.NoError(t, os.Symlink("loop", filepath.Join(base, "loop")))
	_, _, err = lookupWay(filepath.Join(base, "loop", "x"))
	require.ErrorIs(t, err, unix.ELOOP)
}

func TestState_BadPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state State
		want  string
	}{
		{"relative", State{Paths: []string{"scrim.toml"}}, `state "scrim.toml": not an absolute path`},
		{"root", State{Paths: []string{"/"}}, `state "/": would protect everything`},
		{"relative secret", State{Secret: []string{"key"}}, `state "key": not an absolute path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := New(Options{State: tc.state})
			require.EqualError(t, err, "builtin: configure builtin.state: "+tc.want)
		})
	}
}

// TestState_Registered: the shim is in the security band, after the deny list and before
// the per-PID shim, and only when there is something to protect.
func TestState_Registered(t *testing.T) {
	ids := func(opts Options) []string {
		regs, _, err := New(opts)
		require.NoError(t, err)
		var out []string
		for _, r := range regs {
			if r.Band == shim.BandSecurity {
				out = append(out, r.Handler.ID())
			}
		}
		return out
	}
	require.Equal(t, []string{idProcDeny, idProcPID}, ids(Options{}))
	require.Equal(t, []string{idProcDeny, idState, idProcPID}, ids(Options{State: State{Paths: []string{"/x"}}}))
}

// TestState_ReadOpenAllocatesNothing: the shim is asked about every open; an open for reading
// of a file that is not scrim's costs a few comparisons and map lookups, no allocation.
func TestState_ReadOpenAllocatesNothing(t *testing.T) {
	l := newStateLayout(t)
	s := newTestState(t, l.options(""))
	req := stateReq(t, shim.OpOpen, filepath.Join(l.cache, "code", "entry"))
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if res, _ := s.Open(ctx, req); res.Action != shim.ActNext {
			t.Fatal("a read of a cache entry was refused")
		}
	})
	require.Zero(t, allocs)
}
