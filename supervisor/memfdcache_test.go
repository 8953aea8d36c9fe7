package supervisor

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"

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

// TestMemfdCache: the same content is served from one sealed memfd through separate
// descriptions; other or large content gets its own; the cache stays within its bound and
// closing it leaves no descriptor behind.
func TestMemfdCache(t *testing.T) {
	before := len(openFds(t))
	var c memfdCache

	a1, err := c.file(shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n")}, 0)
	require.NoError(t, err)
	a2, err := c.file(shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n")}, 0)
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

	b, err := c.file(shim.Bytes{Name: "hostname", Data: []byte("127.0.0.1 localhost\n")}, 0)
	require.NoError(t, err)
	require.NotEqual(t, inode(t, a1), inode(t, b), "another name is another memfd")
	m, err := c.file(shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n"), Mode: unix.S_IFREG | 0o640}, 0)
	require.NoError(t, err)
	require.NotEqual(t, inode(t, a1), inode(t, m), "another mode is another memfd")
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(m.Fd()), &st))
	require.Equal(t, uint32(0o640), st.Mode&0o777, "the served file shows its mode")
	m.Close()
	big := bytes.Repeat([]byte("x"), memfdCacheItem+1)
	l1, err := c.file(shim.Bytes{Name: "big", Data: big}, 0)
	require.NoError(t, err)
	l2, err := c.file(shim.Bytes{Name: "big", Data: big}, 0)
	require.NoError(t, err)
	require.NotEqual(t, inode(t, l1), inode(t, l2), "large content is not kept")
	nb, err := c.file(shim.Bytes{Name: "hosts", Data: []byte("127.0.0.1 localhost\n")}, unix.O_NONBLOCK)
	require.NoError(t, err)
	fl, err = unix.FcntlInt(nb.Fd(), unix.F_GETFL, 0)
	require.NoError(t, err)
	require.NotZero(t, fl&unix.O_NONBLOCK)
	for _, f := range []*os.File{a1, a2, b, l1, l2, nb} {
		f.Close()
	}

	for i := range 3 * memfdCacheEntries {
		f, err := c.file(shim.Bytes{Name: "view", Data: []byte(fmt.Sprintf("content %d\n", i))}, 0)
		require.NoError(t, err)
		f.Close()
		require.LessOrEqual(t, len(c.m), memfdCacheEntries)
	}
	require.LessOrEqual(t, len(openFds(t)), before+memfdCacheEntries)
	c.close()
	require.Equal(t, before, len(openFds(t)), "closing the cache releases every memfd")
}
