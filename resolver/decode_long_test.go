package resolver

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestDecode_TooLongKeepsWhatWasRead: a path with no NUL in its first PATH_MAX bytes fails with
// ENAMETOOLONG, as the kernel's getname does, and the bytes read come back with the error for
// the audit log, for the first path and for a rename's second.
func TestDecode_TooLongKeepsWhatWasRead(t *testing.T) {
	long := []byte(strings.Repeat("a", 2*pathMax))
	short := []byte("/tmp/from\x00")
	defer runtime.KeepAlive(long)
	defer runtime.KeepAlive(short)

	in, err := Decode(nrOpen, [6]uint64{addrOf(long)}, 1, 2, &selfMem{})
	require.Equal(t, unix.ENAMETOOLONG, err)
	require.Equal(t, string(long[:pathMax]), string(in.Path))

	in, err = Decode(unix.SYS_STAT, [6]uint64{addrOf(long)}, 1, 2, &selfMem{})
	require.Equal(t, unix.ENAMETOOLONG, err)
	require.Equal(t, string(long[:pathMax]), string(in.Path))

	in, err = Decode(unix.SYS_RENAME, [6]uint64{addrOf(short), addrOf(long)}, 1, 2, &selfMem{})
	require.Equal(t, unix.ENAMETOOLONG, err)
	require.Equal(t, "/tmp/from", string(in.Path))
	require.Equal(t, string(long[:pathMax]), string(in.Path2))
}
