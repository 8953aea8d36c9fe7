package main

// The state protection for the calls that change names and objects without opening them
// (rename, link, unlink, rmdir, mkdir, mknod, symlink, truncate, chmod, utimes, setxattr),
// which the supervisor resolves and hands to builtin.state like opens.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/plugins"
)

// TestRun_StateChangesRefused: a sandboxed program that adds, replaces, renames away and
// recreates (the protected directories themselves or any ancestor), links, removes or modifies
// anything of scrim's fails at every step with EACCES; the same calls on the user's own files
// work. Afterwards every file is as it was and the next run loads exactly the plugin it loaded
// before.
func TestRun_StateChangesRefused(t *testing.T) {
	r := newStateRig(t)
	before := r.snapshot(t)
	key := plugins.CacheKeyFile(r.cache)
	entries, err := filepath.Glob(filepath.Join(r.cache, "code", "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	entry := entries[0]
	toml, wasm := filepath.Join(r.dropins, "motd.toml"), filepath.Join(r.dropins, "motd.wasm")
	config := filepath.Join(r.home, "config") // an ancestor of the plugin directory
	f := filepath.Join(r.other, "f")
	cfgAlias := filepath.Join(r.other, "cfg-alias")
	require.NoError(t, os.Link(r.cfg, cfgAlias))

	refused := []string{
		// Rename away, itself or an ancestor: `mv ~/.config x` and the like.
		"rename:" + config + ":" + filepath.Join(r.home, "moved"),
		"rename:" + filepath.Dir(r.dropins) + ":" + filepath.Join(r.other, "s"),
		"rename:" + r.dropins + ":" + filepath.Join(r.other, "pd"),
		"rename:" + toml + ":" + filepath.Join(r.other, "x.toml"),
		"rename:" + r.cache + ":" + filepath.Join(r.other, "c"),
		"rename:" + filepath.Dir(r.cache) + ":" + filepath.Join(r.other, "c2"),
		"rename:" + filepath.Dir(r.cfg) + ":" + filepath.Join(r.other, "p"),
		"rename:" + r.audit + ":" + filepath.Join(r.other, "a"),
		// Rename into, or onto.
		"rename:" + f + ":" + filepath.Join(r.dropins, "evil.toml"),
		"rename:" + f + ":" + filepath.Join(r.cache, "code", "new"),
		"rename:" + f + ":" + r.cfg,
		"rename:" + f + ":" + r.audit,
		"rename:" + f + ":" + filepath.Join(r.home, "later"),
		// Link out of and into.
		"link:" + key + ":" + filepath.Join(r.other, "k"),
		"link:" + wasm + ":" + filepath.Join(r.other, "w"),
		"link:" + entry + ":" + filepath.Join(r.other, "e"),
		"link:" + f + ":" + filepath.Join(r.dropins, "evil.toml"),
		"link:" + f + ":" + filepath.Join(r.cache, "code", "new"),
		// Remove.
		"unlink:" + toml, "unlink:" + wasm, "unlink:" + key, "unlink:" + entry, "unlink:" + r.audit,
		"unlink:" + r.cfg, "unlink:" + cfgAlias, "rmdir:" + r.dropins, "rmdir:" + config,
		// Create: in a protected directory, a plugin directory that does not exist yet, or a
		// name on the way to it.
		"mkdir:" + filepath.Join(r.dropins, "sub"), "mkdir:" + filepath.Join(r.cache, "code", "x"),
		"mkdir:" + filepath.Join(r.home, "later"), "symlink:" + r.other + ":" + filepath.Join(r.home, "later"),
		"symlink:" + f + ":" + filepath.Join(r.dropins, "evil.toml"), "mkfifo:" + filepath.Join(r.dropins, "fifo"),
		// Modify.
		"chmod:" + r.cache, "chmod:" + toml, "chmod:" + key, "chmod:" + cfgAlias, "truncate:" + r.audit,
		"truncate:" + entry, "truncate:" + r.cfg, "truncate:" + cfgAlias, "utimes:" + r.cfg, "setxattr:" + wasm,
	}
	allowed := []string{
		"rename:" + f + ":" + filepath.Join(r.other, "g"), "link:" + filepath.Join(r.other, "g") + ":" + filepath.Join(r.other, "h"),
		"mkdir:" + filepath.Join(r.other, "d"), "chmod:" + filepath.Join(r.other, "g"), "unlink:" + filepath.Join(r.other, "h"),
		"mkdir:" + filepath.Join(config, "mine"),
	}
	got := r.attack(t, append(append([]string{}, refused...), allowed...)...)
	for _, s := range refused {
		require.Equal(t, "errno 13", got[s], "%s", s)
	}
	for _, s := range allowed {
		require.Equal(t, "ok", got[s], "%s", s)
	}

	// The replant of the issue, step by step: the rename fails, so `mkdir -p` meets what
	// exists (EEXIST, as without scrim) and the drop-in cannot be planted.
	got = r.attack(t,
		"rename:"+config+":"+filepath.Join(r.home, "x"),
		"mkdir:"+config, "mkdir:"+filepath.Dir(r.dropins), "mkdir:"+r.dropins,
		"create:"+filepath.Join(r.dropins, "evil.toml"),
	)
	require.Equal(t, "errno 13", got["rename:"+config+":"+filepath.Join(r.home, "x")])
	require.Equal(t, "errno 17", got["mkdir:"+config])
	require.Equal(t, "errno 17", got["mkdir:"+r.dropins])
	require.Equal(t, "errno 13", got["create:"+filepath.Join(r.dropins, "evil.toml")])

	after := r.snapshot(t)
	delete(after, filepath.Join(config, "mine"))
	require.Equal(t, before, after)

	res := r.run(t, "cat", "/etc/motd")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "from the drop-in\n", res.stdout)
	require.Equal(t, 1, strings.Count(res.stderr, "drop-in plugin loaded"), res.stderr)
}
