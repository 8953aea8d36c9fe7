package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// memfdCache keeps the sealed memfd of content served recently, so that serving the same bytes
// again costs one reopen instead of memfd_create, a write, the seals and the reopen. Built-in
// shims serve the same few files over and over (/etc/hosts, /etc/hostname): a program that
// opens /etc/hosts per request then pays for a served file what it pays for a real one.
//
// Every open still gets its own description of the memfd (its own offset and flags); the opens
// of the same content share one inode, as the opens of a real file do. The memfd is sealed
// against writes, growth and shrinking, and belongs to scrim's user, so the sandbox cannot
// change what a later open reads.
type memfdCache struct {
	mu    sync.Mutex
	m     map[string]memfdEntry // keyed by the content
	bytes int
	// fdDir is scrim's /proc/self/fd, opened once: reopening through it walks one name
	// instead of four and a symlink.
	fdDir     int
	fdDirOpen bool // fdDir was tried; -1 if it could not be opened
}

type memfdEntry struct {
	name string
	mode uint32
	fd   int
}

const (
	// memfdCacheItem is the largest content kept; larger content gets a memfd per open.
	memfdCacheItem = 64 << 10
	// memfdCacheEntries and memfdCacheBytes bound the cache; when either would be exceeded
	// it is emptied. Content that changes on every open (a memory view) cycles through it.
	memfdCacheEntries = 64
	memfdCacheBytes   = 1 << 20
)

// file returns a read-only description of a sealed memfd holding b's data, with its mode.
func (c *memfdCache) file(b shim.Bytes, nonblock int) (*os.File, error) {
	name, data := b.Name, b.Data
	if len(data) > memfdCacheItem {
		return sealedMemfd(name, data, b.Mode, nonblock)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[string(data)]; ok && e.name == name && e.mode == b.Mode {
		// Held under the lock, so that no emptying closes fd meanwhile.
		if f, err := c.reopenLocked(e.fd, name, nonblock); err == nil {
			return f, nil
		}
		// Fall through to a fresh memfd: the error (EMFILE, say) repeats there if real.
	}
	fd, err := newSealedMemfd(name, data, b.Mode)
	if err != nil {
		return nil, err
	}
	f, err := c.reopenLocked(fd, name, nonblock)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if len(c.m) >= memfdCacheEntries || c.bytes+len(data) > memfdCacheBytes {
		c.emptyLocked()
	}
	if c.m == nil {
		c.m = map[string]memfdEntry{}
	}
	if old, ok := c.m[string(data)]; ok {
		unix.Close(old.fd)
		c.bytes -= len(data)
	}
	c.m[string(data)] = memfdEntry{name: name, mode: b.Mode, fd: fd}
	c.bytes += len(data)
	return f, nil
}

// reopenLocked returns a new read-only description of the memfd fd, through fdDir when it
// could be opened.
func (c *memfdCache) reopenLocked(fd int, name string, nonblock int) (*os.File, error) {
	if !c.fdDirOpen {
		c.fdDir, c.fdDirOpen = -1, true
		if d, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			c.fdDir = d
		}
	}
	if c.fdDir < 0 {
		return reopenMemfd(fd, name, nonblock)
	}
	ro, err := unix.Openat(c.fdDir, strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC|nonblock, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen memfd %q read-only: %w", name, err)
	}
	return os.NewFile(uintptr(ro), "memfd:"+name), nil
}

// close releases every cached memfd.
func (c *memfdCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emptyLocked()
	if c.fdDirOpen && c.fdDir >= 0 {
		unix.Close(c.fdDir)
	}
	c.fdDir, c.fdDirOpen = 0, false
}

func (c *memfdCache) emptyLocked() {
	for _, e := range c.m {
		unix.Close(e.fd)
	}
	c.m, c.bytes = nil, 0
}
