package builtin

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// decodeSysinfo reads struct sysinfo back through x/sys's own definition of the layout.
func decodeSysinfo(b []byte) unix.Sysinfo_t {
	var si unix.Sysinfo_t
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&si)), unsafe.Sizeof(si)), b)
	return si
}

// decodeUtsname reads struct new_utsname back the same way.
func decodeUtsname(b []byte) unix.Utsname {
	var u unix.Utsname
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&u)), unsafe.Sizeof(u)), b)
	return u
}

func TestLayouts(t *testing.T) {
	var si unix.Sysinfo_t
	require.NoError(t, unix.Sysinfo(&si))
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&si)), unsafe.Sizeof(si))
	require.Equal(t, raw, encodeSysinfo(&si), "encodeSysinfo matches the kernel's struct sysinfo")

	var u unix.Utsname
	require.NoError(t, unix.Uname(&u))
	rawU := unsafe.Slice((*byte)(unsafe.Pointer(&u)), unsafe.Sizeof(u))
	require.Equal(t, rawU, encodeUtsname(&u))
}
