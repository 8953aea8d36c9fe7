package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// memfdCache keeps the sealed memfd of the content served at each path, so that serving the same
// bytes again costs one reopen instead of memfd_create, a write, the seals and the reopen, and so
// that a stat of a served path and an open of it see one inode (shim.OpHandler: cp and tar
// compare stat's device and inode with fstat's of what the open returned). Built-in shims serve
// the same few files over and over (/etc/hosts, /etc/hostname): a program that opens /etc/hosts
// per request then pays for a served file what it pays for a real one.
//
// Every open still gets its own description of the memfd (its own offset and flags); the opens
// of the same path and content share one inode, as the opens of a real file do. The memfd is
// sealed against writes, growth and shrinking, and belongs to scrim's user, so the sandbox cannot
// change what a later open reads.
//
// Content that changes from open to open (a memory view) would give a stat one inode and the
// open that follows another. So a stat pins what it described: an open of the same path within
// memfdPin of it gets that memfd even if the handler now serves other bytes (RATIONALE.md, "Why
// does a stat pin the served content for a second?").
type memfdCache struct {
	mu    sync.Mutex
	m     map[string]*memfdEntry // keyed by the canonical path
	bytes int
	// fdDir is scrim's /proc/self/fd, opened once: reopening through it walks one name
	// instead of four and a symlink.
	fdDir     int
	fdDirOpen bool // fdDir was tried; -1 if it could not be opened
	seq       uint64
	// names maps the name of every memfd served (scrim.N) to the path it was served for, and
	// inos holds their inodes, beyond their entry's life (bounded by memfdNames): a descriptor
	// the child holds reads as its path (readlink of /proc/PID/fd/N) and fstats as a linked
	// file (nlink 1) for as long as the child keeps it.
	names map[string]string
	inos  map[uint64]bool
	dev   uint64 // st_dev of scrim's memfds, once one was made
}

type memfdEntry struct {
	data  string
	mode  uint32
	mtime time.Time
	fd    int
	size  int
	// pinned is when the pin of the last stat ends (zero: not pinned).
	pinned time.Time
}

const (
	// memfdCacheItem is the largest content kept; larger content gets a memfd per open, and
	// a stat of it describes a memfd no open will return (docs/shims.md says so).
	memfdCacheItem = 1 << 20
	// memfdCacheEntries and memfdCacheBytes bound the cache; when either would be exceeded
	// it is emptied but for what a stat pinned in the last memfdPin (so only a sandbox that
	// stats many served files at once keeps it over its bound, and then up to four times).
	memfdCacheEntries = 64
	memfdCacheBytes   = 8 << 20
	// memfdNames bounds the names and inodes remembered for descriptors the child may hold.
	memfdNames = 4096
	// memfdPin is how long a stat of a served path fixes the content an open of it gets.
	memfdPin = time.Second
	// memfdPrefix begins the name of every memfd scrim serves.
	memfdPrefix = "scrim."
)

// defaultServedMode is the st_mode of served content that names none: a read-only file.
const defaultServedMode = unix.S_IFREG | 0o444

// entryLocked returns the memfd for b served at path: the kept one if its content is b's or a
// stat pinned it, else a new one. keep is false for a memfd the caller must close.
func (c *memfdCache) entryLocked(path []byte, b shim.Bytes) (e *memfdEntry, keep bool, err error) {
	mode := b.Mode
	if mode == 0 {
		mode = defaultServedMode
	}
	if e, ok := c.m[string(path)]; ok {
		if e.data == string(b.Data) && e.mode == mode && e.mtime.Equal(b.ModTime) {
			return e, true, nil
		}
		if !e.pinned.IsZero() && time.Now().Before(e.pinned) {
			return e, true, nil
		}
	}
	c.seq++
	name := memfdPrefix + strconv.FormatUint(c.seq, 10)
	fd, err := newSealedMemfd(name, b.Data, mode, b.ModTime)
	if err != nil {
		return nil, false, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, false, fmt.Errorf("fstat memfd %q: %w", name, err)
	}
	c.remember(name, string(path), st.Dev, st.Ino)
	e = &memfdEntry{data: string(b.Data), mode: mode, mtime: b.ModTime, fd: fd, size: len(b.Data)}
	if len(b.Data) > memfdCacheItem {
		return e, false, nil
	}
	if len(c.m) >= memfdCacheEntries || c.bytes+len(b.Data) > memfdCacheBytes {
		c.evictLocked()
	}
	if c.m == nil {
		c.m = map[string]*memfdEntry{}
	}
	if old, ok := c.m[string(path)]; ok {
		unix.Close(old.fd)
		c.bytes -= old.size
	}
	c.m[string(path)] = e
	c.bytes += e.size
	return e, true, nil
}

// remember records a served memfd's name, path and inode.
func (c *memfdCache) remember(name, path string, dev, ino uint64) {
	if len(c.names) >= memfdNames {
		// Forget all but what is kept: the oldest descriptors the child may still hold
		// then read as memfds.
		c.names, c.inos = nil, nil
		for p, e := range c.m {
			var st unix.Stat_t
			if unix.Fstat(e.fd, &st) == nil {
				c.rememberLocked(memfdName(e.fd), p, st.Ino)
			}
		}
	}
	c.dev = dev
	c.rememberLocked(name, path, ino)
}

func (c *memfdCache) rememberLocked(name, path string, ino uint64) {
	if c.names == nil {
		c.names, c.inos = map[string]string{}, map[uint64]bool{}
	}
	if name != "" {
		c.names[name] = path
	}
	c.inos[ino] = true
}

// memfdName reads the name of scrim's memfd fd from its /proc link, "" if it cannot.
func memfdName(fd int) string {
	var buf [256]byte
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf[:])
	if err != nil {
		return ""
	}
	const pre, suf = "/memfd:", " (deleted)"
	s := string(buf[:n])
	if len(s) < len(pre)+len(suf) || s[:len(pre)] != pre || s[len(s)-len(suf):] != suf {
		return ""
	}
	return s[len(pre) : len(s)-len(suf)]
}

// file returns a read-only description of the sealed memfd serving b at path. An open takes
// a stat's pin: the next open serves what the handler serves then.
func (c *memfdCache) file(path []byte, b shim.Bytes, nonblock int) (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, keep, err := c.entryLocked(path, b)
	if err != nil {
		return nil, err
	}
	if !keep {
		defer unix.Close(e.fd)
	}
	e.pinned = time.Time{}
	// Held under the lock, so that no emptying closes the memfd meanwhile.
	return c.reopenLocked(e.fd, nonblock)
}

// stat calls fn with the memfd serving b at path, the one the next open of path within
// memfdPin gets.
func (c *memfdCache) stat(path []byte, b shim.Bytes, fn func(fd int) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, keep, err := c.entryLocked(path, b)
	if err != nil {
		return err
	}
	if !keep {
		defer unix.Close(e.fd)
	}
	e.pinned = time.Now().Add(memfdPin)
	return fn(e.fd)
}

// sized calls fn with the memfd kept for path if it holds size bytes, pinning it as stat does,
// and reports whether there was one.
func (c *memfdCache) sized(path []byte, size int64, fn func(fd int) error) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(path)]
	if !ok || int64(e.size) != size {
		return false, nil
	}
	e.pinned = time.Now().Add(memfdPin)
	return true, fn(e.fd)
}

// pathOf returns the path the memfd called name was served for.
func (c *memfdCache) pathOf(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.names[name]
	return p, ok
}

// served reports whether dev and ino are one of the memfds scrim served.
func (c *memfdCache) served(dev, ino uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dev != 0 && dev == c.dev && c.inos[ino]
}

// reopenLocked returns a new read-only description of the memfd fd, through fdDir when it
// could be opened.
func (c *memfdCache) reopenLocked(fd int, nonblock int) (*os.File, error) {
	if !c.fdDirOpen {
		c.fdDir, c.fdDirOpen = -1, true
		if d, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			c.fdDir = d
		}
	}
	if c.fdDir < 0 {
		return reopenMemfd(fd, "served", nonblock)
	}
	ro, err := unix.Openat(c.fdDir, strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC|nonblock, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen memfd %d read-only: %w", fd, err)
	}
	return os.NewFile(uintptr(ro), "memfd"), nil
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

// evictLocked empties the cache but for the memfds a stat pinned, which the open that follows
// must still find, unless those alone are over four times the bound.
func (c *memfdCache) evictLocked() {
	if len(c.m) >= 4*memfdCacheEntries || c.bytes > 4*memfdCacheBytes {
		c.emptyLocked()
		return
	}
	now := time.Now()
	for p, e := range c.m {
		if e.pinned.IsZero() || now.After(e.pinned) {
			unix.Close(e.fd)
			c.bytes -= e.size
			delete(c.m, p)
		}
	}
}

func (c *memfdCache) emptyLocked() {
	for _, e := range c.m {
		unix.Close(e.fd)
	}
	c.m, c.bytes = nil, 0
}

// devOf is st_dev of scrim's memfds, 0 before the first.
func (c *memfdCache) devOf() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dev
}
