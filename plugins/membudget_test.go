package plugins

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestMemoryTotal_Growth: memory.grow fails once all instances together would pass the host's
// memory total, though the plugin's own cap would allow it; closing the host gives it all back.
func TestMemoryTotal_Growth(t *testing.T) {
	h, err := Load(context.Background(), []Spec{{Name: "grow", Path: testdata("grow"), MemoryBytes: 256 << 20, Instances: 1}},
		Options{MemoryTotal: 40 << 20})
	require.NoError(t, err)
	var got []unix.Errno
	for range 4 {
		res, err := h.Decide(context.Background(), "grow", request("/t/x", 0))
		require.NoError(t, err)
		require.Equal(t, shim.ActDeny, res.Action)
		got = append(got, res.Errno)
	}
	// 64 KiB, then 16 MiB more twice; a third 16 MiB would make 48 MiB, past the 40 MiB total.
	require.Equal(t, []unix.Errno{unix.EACCES, unix.EACCES, unix.ENOMEM, unix.ENOMEM}, got)
	require.Equal(t, uint64(64<<10+32<<20), h.mem.used.Load())
	require.NoError(t, h.Close(context.Background()))
	require.Zero(t, h.mem.used.Load(), "closed instances give their memory back")
}

// TestMemoryTotal_Load: plugins whose first instances do not fit together fail the load,
// saying which bound stopped them.
func TestMemoryTotal_Load(t *testing.T) {
	big := Spec{Path: testdata("membig"), MemoryBytes: 256 << 20} // 187.5 MiB at start
	a, b := big, big
	a.Name, b.Name = "a", "b"
	_, err := Load(context.Background(), []Spec{a, b}, Options{MemoryTotal: 300 << 20})
	require.ErrorContains(t, err, "does not fit in the plugins' memory total (plugin_memory_total = 300M")

	h, err := Load(context.Background(), []Spec{a, b}, Options{MemoryTotal: 400 << 20})
	require.NoError(t, err)
	require.NoError(t, h.Close(context.Background()))
}

// TestMemoryTotal_PoolAndTrim: the pool grows only while the total has room for another
// instance, and idle instances beyond the first are closed, giving their memory back.
func TestMemoryTotal_PoolAndTrim(t *testing.T) {
	h, err := Load(context.Background(), []Spec{{Name: "deny", Path: testdata("deny"), Instances: 4}},
		Options{MemoryTotal: 64 << 10 * 5 / 2, CacheDir: cacheDir}) // room for two instances of one page
	require.NoError(t, err)
	t.Cleanup(func() { h.Close(context.Background()) })
	p := h.plugins[0]
	require.Equal(t, uint64(64<<10), p.instBytes.Load())
	for range 3 {
		p.grow()
		waitReady(t, p)
	}
	require.Equal(t, int32(2), p.live.Load(), "no third instance: the total has no room")
	require.Equal(t, uint64(2*64<<10), h.mem.used.Load())

	p.trimIdle()
	require.Equal(t, int32(1), p.live.Load())
	require.Len(t, p.pool, 1)
	require.Equal(t, uint64(64<<10), h.mem.used.Load(), "the closed instance's memory is given back")
	res, err := h.Decide(context.Background(), "deny", request("/t/x", 0))
	require.NoError(t, err)
	require.Equal(t, shim.Deny(unix.EACCES), res)
}

// TestMemoryCap_Wasm32: a cap past what wasm32 can address is refused, not cut silently.
func TestMemoryCap_Wasm32(t *testing.T) {
	_, err := Load(context.Background(), []Spec{{Name: "deny", Path: testdata("deny"), MemoryBytes: 5 << 30}}, Options{})
	require.ErrorContains(t, err, "exceeds the 4294967296 a WebAssembly module (wasm32) can address")
}

// TestMemoryTotal_RenewGrown: an idle plugin's last instance, grown past twice a fresh one's
// memory, is replaced by a fresh instance, giving the growth back.
func TestMemoryTotal_RenewGrown(t *testing.T) {
	h, err := Load(context.Background(), []Spec{{Name: "grow", Path: testdata("grow"), MemoryBytes: 256 << 20, Instances: 1}}, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { h.Close(context.Background()) })
	p := h.plugins[0]
	for range 3 {
		_, err := h.Decide(context.Background(), "grow", request("/t/x", 0))
		require.NoError(t, err)
	}
	require.Equal(t, uint64(64<<10+48<<20), h.mem.used.Load())
	p.trimIdle()
	require.Equal(t, int32(1), p.live.Load())
	require.Len(t, p.pool, 1)
	require.Equal(t, uint64(64<<10), h.mem.used.Load(), "the grown instance was replaced by a fresh one")
	res, err := h.Decide(context.Background(), "grow", request("/t/x", 0))
	require.NoError(t, err)
	require.Equal(t, shim.Deny(unix.EACCES), res)
	require.Equal(t, uint64(64<<10+16<<20), h.mem.used.Load())
}
