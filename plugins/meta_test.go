package plugins

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestClaimsFromConfig checks ABI 1.1's claims computed from the configuration: the meta
// plugin reads config_get("claim") in scrim_describe and claims that path and what lies below.
func TestClaimsFromConfig(t *testing.T) {
	p := load(t, Spec{Name: "meta", Path: testdata("meta"), Config: map[string]any{"claim": "/srv/vendor"}})
	require.Equal(t, []string{"/srv/vendor", "/srv/vendor/**"}, p.claims.patterns)
	require.True(t, p.claims.match([]byte("/srv/vendor/a/b")))
	require.False(t, p.claims.match([]byte("/t/m")))
	exact, _ := p.Claims()
	require.Equal(t, []string{"/srv/vendor"}, exact)

	_, err := Load(context.Background(), []Spec{{Name: "meta", Path: testdata("meta")}}, Options{CacheDir: cacheDir})
	require.ErrorContains(t, err, "scrim_describe returned 1", "no claim configured: describe refuses")
}

// TestLookupOps checks how a plugin's answers to the look-up ops become the contract's: metadata
// alone when it gave the size without the content, the content when it wrote it, the object as
// it is when it denies, and a served directory only for look-ups.
func TestLookupOps(t *testing.T) {
	p := load(t, Spec{Name: "meta", Path: testdata("meta"), Config: map[string]any{"claim": "/v"}})
	mtime := time.Unix(1700000000, 500000000)
	lookup := func(path string, op shim.Op, sys shim.Syscall) shim.Result {
		req := request(path, unix.O_RDONLY)
		req.Op, req.Syscall = op, sys
		res, err := p.Open(context.Background(), req)
		require.NoError(t, err)
		return res
	}
	require.True(t, p.Ops().Has(shim.OpStat) && p.Ops().Has(shim.OpAccess) && p.Ops().Has(shim.OpOpen))
	require.False(t, p.Ops().Has(shim.OpRemove), "a plugin never sees changes")

	res := lookup("/v/m", shim.OpStat, shim.SysNewfstatat)
	require.Equal(t, shim.Serve(shim.Meta{Size: 7, Mode: unix.S_IFREG | 0o640, ModTime: mtime}), res)

	res = lookup("/v/c", shim.OpStat, shim.SysStatx)
	require.Equal(t, shim.Serve(shim.Bytes{Name: "scrim-plugin-meta", Data: []byte("content"), Mode: unix.S_IFREG | 0o444, ModTime: mtime}), res)
	res = lookup("/v/c", shim.OpOpen, shim.SysOpenat)
	require.Equal(t, shim.Serve(shim.Bytes{Name: "scrim-plugin-meta", Data: []byte("content"), Mode: unix.S_IFREG | 0o444, ModTime: mtime}), res)

	require.Equal(t, shim.Serve(shim.Meta{Mode: unix.S_IFDIR | 0o755}), lookup("/v/d", shim.OpStat, shim.SysStat))
	require.Equal(t, shim.Next(), lookup("/v/d", shim.OpOpen, shim.SysOpenat), "a served directory answers no open")

	require.Equal(t, shim.Deny(unix.EACCES), lookup("/v/x", shim.OpOpen, shim.SysOpenat))
	require.Equal(t, shim.Next(), lookup("/v/x", shim.OpStat, shim.SysLstat), "a deny refuses opens, not look-ups")
	require.Equal(t, shim.Next(), lookup("/v/x", shim.OpAccess, shim.SysFaccessat2))

	got, _ := served(t, lookup("/v/b", shim.OpOpen, shim.SysOpenat))
	require.Equal(t, "ok", got, "set_mode refuses type bits other than a file's or a directory's")

	for _, c := range []struct {
		op   shim.Op
		want string
	}{{shim.OpOpen, "0"}, {shim.OpStat, "1"}, {shim.OpAccess, "2"}, {shim.OpReadlink, "1"}, {shim.OpChdir, "1"}} {
		got, _ := served(t, lookup("/v/o", c.op, shim.SysOpenat))
		require.Equal(t, c.want, got, "op %s", c.op)
	}
}

// TestClaimsFromConfigWarmStart checks that a warm start registers the claims the stored
// describe document holds for the same configuration, and never another configuration's.
func TestClaimsFromConfigWarmStart(t *testing.T) {
	dir := t.TempDir()
	spec := func(claim string) Spec {
		return Spec{Name: "meta", Path: testdata("meta"), Config: map[string]any{"claim": claim}}
	}
	loadDeferred(t, dir, spec("/a"))
	loadDeferred(t, dir, spec("/b"))
	for _, claim := range []string{"/a", "/b"} {
		h := loadDeferred(t, dir, spec(claim))
		p := h.plugins[0]
		require.NotNil(t, p.ready, "loaded before with this configuration: in the background")
		require.Equal(t, []string{claim, claim + "/**"}, h.Claims("meta"))
		require.NoError(t, h.Wait())
		res, err := p.Open(context.Background(), request(claim+"/m", unix.O_RDONLY))
		require.NoError(t, err)
		require.Equal(t, shim.ActServe, res.Action)
	}
}
