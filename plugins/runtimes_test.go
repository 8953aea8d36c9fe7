package plugins

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSharedRuntimes checks that plugins with the same memory cap share one runtime, that a
// different cap gets its own, and that each still decides alone.
func TestSharedRuntimes(t *testing.T) {
	h, err := Load(context.Background(), []Spec{
		{Name: "a", Path: testdata("deny")},
		{Name: "b", Path: testdata("deny"), OnError: "EPERM"},
		{Name: "c", Path: testdata("deny"), MemoryBytes: 2 << 20},
	}, Options{CacheDir: cacheDir})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	a, b, c := h.plugins[0], h.plugins[1], h.plugins[2]
	require.Same(t, a.rt, b.rt, "one memory cap, one runtime")
	require.NotSame(t, a.rt, c.rt, "another memory cap, another runtime")
	require.Len(t, h.rts.byPages, 2)
	for _, p := range h.plugins {
		res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
		require.NoError(t, err)
		require.Equal(t, unix.EACCES, res.Errno, p.spec.Name)
	}
	// An instance that fails leaves the other plugins of its runtime alone.
	inst := <-a.pool
	inst.mod.Close(context.Background())
	a.pool <- inst
	res, err := b.Open(context.Background(), request("/t/x", unix.O_RDONLY))
	require.NoError(t, err)
	require.Equal(t, unix.EACCES, res.Errno)
}
