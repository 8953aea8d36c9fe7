package plugins

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// loadDeferred loads specs with Deferred set and closes them when the test ends.
func loadDeferred(t *testing.T, dir string, specs ...Spec) *Host {
	t.Helper()
	h, err := Load(context.Background(), specs, Options{CacheDir: dir, Deferred: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	return h
}

func TestDeferredLoad(t *testing.T) {
	spec := Spec{Name: "deny", Path: testdata("deny"), Paths: []string{"/extra"}}

	t.Run("the first load is synchronous and stores describe", func(t *testing.T) {
		dir := t.TempDir()
		h := loadDeferred(t, dir, spec)
		p := h.plugins[0]
		require.Nil(t, p.ready, "a module never loaded before must load before Load returns")
		entries, err := os.ReadDir(filepath.Join(dir, describeKind))
		require.NoError(t, err)
		require.Len(t, entries, 1)
		var doc describeDoc
		raw, err := os.ReadFile(filepath.Join(dir, describeKind, entries[0].Name()))
		require.NoError(t, err)
		raw, ok := testCache(t, dir).unseal(describeKind, entries[0].Name(), raw)
		require.True(t, ok, "the stored document is sealed")
		require.NoError(t, json.Unmarshal(raw, &doc))
		require.Equal(t, []string{"/t/**"}, doc.Claims, "the configured paths are not part of what is stored")
	})

	t.Run("a later load registers claims at once and decides after loading", func(t *testing.T) {
		dir := t.TempDir()
		loadDeferred(t, dir, spec)
		h := loadDeferred(t, dir, spec)
		p := h.plugins[0]
		require.NotNil(t, p.ready, "a module loaded before must load in the background")
		for _, tt := range []struct {
			path string
			want shim.Result
		}{
			{"/t/a", shim.Deny(unix.EACCES)},
			{"/extra", shim.Deny(unix.EACCES)},
			{"/u/a", shim.Next()},
		} {
			res, err := p.Open(context.Background(), request(tt.path, unix.O_RDONLY))
			require.NoError(t, err)
			require.Equal(t, tt.want, res, tt.path)
		}
		require.NoError(t, h.Wait())
	})

	t.Run("unclaimed opens do not wait for the load", func(t *testing.T) {
		// A plugin whose load never finishes: only a claimed open would wait for it.
		p, _, err := preparePlugin(spec, hclog.NewNullLogger(), "scrim")
		require.NoError(t, err)
		p.claims, err = newClaimSet([]string{"/t/**"})
		require.NoError(t, err)
		p.ready = make(chan struct{})
		done := make(chan shim.Result, 1)
		go func() {
			res, _ := p.Open(context.Background(), request("/u/a", unix.O_RDONLY))
			done <- res
		}()
		select {
		case res := <-done:
			require.Equal(t, shim.Next(), res)
		case <-time.After(5 * time.Second):
			t.Fatal("an unclaimed open waited for a plugin still loading")
		}
	})

	t.Run("a stored document that lies fails claimed opens closed and is forgotten", func(t *testing.T) {
		dir := t.TempDir()
		s := spec
		s.OnError = "EPERM"
		loadDeferred(t, dir, s)
		entries, err := os.ReadDir(filepath.Join(dir, describeKind))
		require.NoError(t, err)
		require.Len(t, entries, 1)
		stored := filepath.Join(dir, describeKind, entries[0].Name())
		// Sealed with the right key: a document that authenticates but is wrong.
		lie := testCache(t, dir).seal(describeKind, entries[0].Name(), []byte(`{"claims":["/u/**"]}`))
		require.NoError(t, os.WriteFile(stored, lie, 0o600))

		h := loadDeferred(t, dir, s)
		p := h.plugins[0]
		require.NotNil(t, p.ready)
		res, err := p.Open(context.Background(), request("/u/a", unix.O_RDONLY))
		require.NoError(t, err)
		require.Equal(t, shim.Deny(unix.EPERM), res)
		require.ErrorContains(t, h.Wait(), "describe changed")
		require.NoFileExists(t, stored)

		h = loadDeferred(t, dir, s)
		require.Nil(t, h.plugins[0].ready, "after a wrong document the next load is synchronous again")
	})

	t.Run("closing does not wait for a load in progress", func(t *testing.T) {
		dir := t.TempDir()
		loadDeferred(t, dir, spec)
		h, err := Load(context.Background(), []Spec{spec}, Options{CacheDir: dir, Deferred: true})
		require.NoError(t, err)
		p := h.plugins[0]
		require.NoError(t, h.Close(context.Background()))
		select {
		case <-p.ready:
		case <-time.After(10 * time.Second):
			t.Fatal("the background load never finished")
		}
		require.Eventually(t, p.closing.Load, 10*time.Second, time.Millisecond,
			"a plugin dropped while loading must release itself")
	})

	t.Run("a different configuration, memory cap or memory total is a different key", func(t *testing.T) {
		wasm := []byte("module")
		base := describeKey(wasm, []byte(`{}`), 256, 512<<20)
		require.NotEqual(t, base, describeKey(wasm, []byte(`{"a":1}`), 256, 512<<20))
		require.NotEqual(t, base, describeKey(wasm, []byte(`{}`), 255, 512<<20))
		require.NotEqual(t, base, describeKey(wasm, []byte(`{}`), 256, 1<<20))
		require.NotEqual(t, base, describeKey([]byte("modulf"), []byte(`{}`), 256, 512<<20))
		require.Equal(t, base, describeKey(wasm, []byte(`{}`), 256, 512<<20))
	})
}

// TestDeferredBrokenAtLoad checks that Deferred changes nothing for modules that never
// loaded: each is still refused by Load with its message.
func TestDeferredBrokenAtLoad(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, file, want string
	}{
		{"wrong ABI version", "abi2", "speaks ABI scrim_abi_v2"},
		{"missing export", "noopen", "misses the export scrim_open"},
		{"forbidden import", "forbidden", "imports env.system"},
		{"configuration rejected", "initfail", "rejected its configuration"},
		{"initial memory over the cap", "membig", "memory cap 256 pages"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 {
				h, err := Load(context.Background(), []Spec{{Name: "broken", Path: testdata(tt.file)}},
					Options{CacheDir: dir, Deferred: true})
				require.Nil(t, h)
				require.ErrorContains(t, err, tt.want)
			}
		})
	}
	_, err := os.Stat(filepath.Join(dir, describeKind))
	require.ErrorIs(t, err, os.ErrNotExist, "a module that failed to load must store nothing")
}
