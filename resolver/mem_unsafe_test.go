package resolver

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// selfMem reads the test process's own memory the way the supervisor reads a child's: with
// process_vm_readv, which fails on unmapped pages. It records every read so that tests can
// check none crossed a page boundary.
type selfMem struct{ reads [][2]uint64 }

func (m *selfMem) ReadAt(p []byte, addr uint64) (int, error) {
	m.reads = append(m.reads, [2]uint64{addr, uint64(len(p))})
	local := []unix.Iovec{{Base: &p[0], Len: uint64(len(p))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(p)}}
	n, err := unix.ProcessVMReadv(os.Getpid(), local, remote, 0)
	if err != nil {
		return 0, fmt.Errorf("process_vm_readv at %#x: %w", addr, err)
	}
	return n, nil
}

func (m *selfMem) WriteAt(p []byte, addr uint64) (int, error) { return 0, unix.EPERM }

var _ shim.Memory = (*selfMem)(nil)

// goneMem fails as the supervisor's memory does when the notification is no longer live.
type goneMem struct{}

func (goneMem) ReadAt(p []byte, addr uint64) (int, error) {
	return 0, errors.New("notification is gone")
}
func (goneMem) WriteAt(p []byte, addr uint64) (int, error) { return 0, unix.EPERM }

// pages maps two pages and makes the second inaccessible, so that the end of the first is a
// cliff.
func pages(t *testing.T) []byte {
	t.Helper()
	ps := os.Getpagesize()
	b, err := unix.Mmap(-1, 0, 2*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	require.NoError(t, unix.Mprotect(b[ps:], unix.PROT_NONE))
	t.Cleanup(func() { unix.Munmap(b) })
	return b[:ps]
}

// place writes s (with no NUL added) so that it ends exactly at the cliff and returns its
// address.
func place(page []byte, s string) uint64 {
	off := len(page) - len(s)
	copy(page[off:], s)
	return uint64(uintptr(unsafe.Pointer(&page[off])))
}

func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }
