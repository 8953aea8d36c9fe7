package supervisor

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

func inode(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st))
	return st.Ino
}

// TestMemfdCache: the same content at the same path is served from one sealed memfd through
// separate descriptions; another path, other or large content gets its own; the cache stays
// within its bound and closing it leaves no descriptor behind.
func TestMemfdCache(t *testing.T) {
	before := len(openFds(t))
	var c memfdCache
	hosts := []byte("/etc/hosts")

	a1, err := c.file(hosts, shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n")}, 0)
	require.NoError(t, err)
	a2, err := c.file(hosts, shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n")}, 0)
	require.NoError(t, err)
	require.Equal(t, inode(t, a1), inode(t, a2), "the same content is one memfd")
	buf := make([]byte, 9)
	_, err = io.ReadFull(a1, buf)
	require.NoError(t, err)
	rest, err := io.ReadAll(a2)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1 localhost\n", string(rest), "each open has its own offset")
	_, err = a1.Write([]byte("x"))
	require.Error(t, err, "read-only")
	fl, err := unix.FcntlInt(a1.Fd(), unix.F_GET_SEALS, 0)
	require.NoError(t, err)
	require.NotZero(t, fl&unix.F_SEAL_WRITE)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(a1.Fd()), &st))
	require.Equal(t, uint32(defaultServedMode), st.Mode, "served content without a mode is a read-only file")

	b, err := c.file([]byte("/etc/hostname"), shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n")}, 0)
	require.NoError(t, err)
	require.NotEqual(t, inode(t, a1), inode(t, b), "another path is another memfd")
	mtime := time.Unix(1700000000, 5)
	m, err := c.file(hosts, shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n"), Mode: unix.S_IFREG | 0o640, ModTime: mtime}, 0)
	require.NoError(t, err)
	require.NotEqual(t, inode(t, a1), inode(t, m), "another mode is another memfd")
	require.NoError(t, unix.Fstat(int(m.Fd()), &st))
	require.Equal(t, uint32(0o640), st.Mode&0o777, "the served file shows its mode")
	require.Equal(t, mtime.Unix(), st.Mtim.Sec, "and its time")
	m.Close()
	big := bytes.Repeat([]byte("x"), memfdCacheItem+1)
	l1, err := c.file([]byte("/big"), shim.Bytes{Name: "big", Data: big}, 0)
	require.NoError(t, err)
	l2, err := c.file([]byte("/big"), shim.Bytes{Name: "big", Data: big}, 0)
	require.NoError(t, err)
	require.NotEqual(t, inode(t, l1), inode(t, l2), "large content is not kept")
	nb, err := c.file(hosts, shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n")}, unix.O_NONBLOCK)
	require.NoError(t, err)
	fl, err = unix.FcntlInt(nb.Fd(), unix.F_GETFL, 0)
	require.NoError(t, err)
	require.NotZero(t, fl&unix.O_NONBLOCK)
	for _, f := range []*os.File{a1, a2, b, l1, l2, nb} {
		f.Close()
	}

	for i := range 3 * memfdCacheEntries {
		f, err := c.file([]byte(fmt.Sprintf("/view/%d", i)), shim.Bytes{Name: "view", Data: []byte(fmt.Sprintf("content %d\n", i))}, 0)
		require.NoError(t, err)
		f.Close()
		require.LessOrEqual(t, len(c.m), memfdCacheEntries)
	}
	require.LessOrEqual(t, len(openFds(t)), before+memfdCacheEntries+1)
	c.close()
	require.Equal(t, before, len(openFds(t)), "closing the cache releases every memfd")
}

// TestMemfdCacheStatPins: a stat of a served path and the open that follows see one inode
// and one content even when the handler serves other bytes for the open (a view that changes
// from call to call); the open takes the pin, and the next open serves the new content. The
// served memfd's name maps back to its path and its inode is known as served.
func TestMemfdCacheStatPins(t *testing.T) {
	var c memfdCache
	defer c.close()
	p := []byte("/proc/meminfo")
	var statIno, statDev uint64
	require.NoError(t, c.stat(p, shim.Bytes{Data: []byte("MemFree: 1\n")}, func(fd int) error {
		var st unix.Stat_t
		require.NoError(t, unix.Fstat(fd, &st))
		statIno, statDev = st.Ino, st.Dev
		require.EqualValues(t, len("MemFree: 1\n"), st.Size)
		return nil
	}))
	f, err := c.file(p, shim.Bytes{Data: []byte("MemFree: 22\n")}, 0)
	require.NoError(t, err)
	require.Equal(t, statIno, inode(t, f), "the open gets what the stat described")
	got, err := io.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, "MemFree: 1\n", string(got))
	f.Close()
	require.True(t, c.served(statDev, statIno))
	name := memfdName(c.m[string(p)].fd)
	require.NotEmpty(t, name)
	path, ok := c.pathOf(name)
	require.True(t, ok)
	require.Equal(t, string(p), path)

	// A pin outlives the cache's emptying.
	require.NoError(t, c.stat(p, shim.Bytes{Data: []byte("MemFree: 1\n")}, func(int) error { return nil }))
	for i := range 2 * memfdCacheEntries {
		f, err := c.file([]byte(fmt.Sprintf("/view/%d", i)), shim.Bytes{Data: []byte(fmt.Sprintf("content %d\n", i))}, 0)
		require.NoError(t, err)
		f.Close()
	}
	f, err = c.file(p, shim.Bytes{Data: []byte("MemFree: 333\n")}, 0)
	require.NoError(t, err)
	require.Equal(t, statIno, inode(t, f), "the pinned memfd survived the cache filling up")
	f.Close()

	g, err := c.file(p, shim.Bytes{Data: []byte("MemFree: 22\n")}, 0)
	require.NoError(t, err)
	defer g.Close()
	require.NotEqual(t, statIno, inode(t, g), "without a stat before it, an open serves the new content")
	got, err = io.ReadAll(g)
	require.NoError(t, err)
	require.Equal(t, "MemFree: 22\n", string(got))

	ok, err = c.sized(p, int64(len("MemFree: 22\n")), func(int) error { return nil })
	require.NoError(t, err)
	require.True(t, ok, "a Meta of the kept size finds the memfd")
	ok, err = c.sized(p, 3, func(int) error { return nil })
	require.NoError(t, err)
	require.False(t, ok)
}
