package plugins

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// servedFile puts served content in a sealed memfd with the plugin's permission bits and
// returns a read-only description of it (so F_GETFL in the child says O_RDONLY, as for a
// real file opened that way). scrim builds it here rather than serving shim.Bytes because
// the ABI lets the plugin choose the mode, and fstat must show it.
func servedFile(name string, data []byte, mode uint32, flags int) (*os.File, error) {
	fd, err := unix.MemfdCreate("scrim-plugin-"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create for plugin %q: %w", name, err)
	}
	defer unix.Close(fd)
	for p := data; len(p) > 0; {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write memfd for plugin %q: %w", name, err)
		}
		p = p[n:]
	}
	if err := unix.Fchmod(fd, mode&0o777); err != nil {
		return nil, fmt.Errorf("fchmod memfd for plugin %q: %w", name, err)
	}
	seals := unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("seal memfd for plugin %q: %w", name, err)
	}
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC|(flags&unix.O_NONBLOCK), 0)
	if err != nil {
		return nil, fmt.Errorf("reopen memfd for plugin %q read-only: %w", name, err)
	}
	return os.NewFile(uintptr(ro), "memfd:scrim-plugin-"+name), nil
}
