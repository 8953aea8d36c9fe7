package builtin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// listingMaxBuf caps the supervisor-side buffer of one getdents call. Returning fewer records
// than fit is always allowed, and no record is larger than this.
const listingMaxBuf = 64 << 10

// dirFilter is a shim that hides entries of some directories. filter returns nil for a
// directory it does not touch, else a function that reports whether to keep a name.
type dirFilter interface {
	filter(st *unix.Stat_t, fs int64) func(name []byte) bool
}

// listing performs every getdents and getdents64 of the sandbox itself, on the caller's own
// file description (shim.Call.Fd shares its offset), and drops the entries the filters hide.
//
// It answers calls on directories no filter touches too, rather than letting the kernel run
// them (CONTINUE): the descriptor number is decided on when the call arrives, and another
// thread can dup2 a /proc fd onto it before the kernel would run the call.
type listing struct {
	mu      sync.Mutex
	filters []dirFilter
}

var _ shim.SyscallHandler = (*listing)(nil)

func (l *listing) add(f dirFilter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.filters = append(l.filters, f)
}

// ID names the listing after the shim it exists for.
func (l *listing) ID() string { return idProcPID }

// Syscalls are getdents64 and the legacy getdents.
func (l *listing) Syscalls() []int { return []int{unix.SYS_GETDENTS64, unix.SYS_GETDENTS} }

// Syscall performs the call on the duplicated descriptor and writes the kept records into the
// caller's buffer. Filtering never turns a batch with entries left into an end of directory:
// when every record of a batch is hidden it reads the next batch.
func (l *listing) Syscall(_ context.Context, call *shim.Call) (shim.SyscallResult, error) {
	fd := int(int32(call.Args[0]))
	addr := call.Args[1]
	count := uint64(uint32(call.Args[2]))
	f, err := call.Fd(fd)
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) && errno == unix.EBADF {
			return shim.Fail(unix.EBADF), nil
		}
		return shim.SyscallResult{}, fmt.Errorf("getdents fd %d: duplicate: %w", fd, err)
	}
	defer f.Close()

	keep, err := l.filterFor(f)
	if err != nil {
		return shim.SyscallResult{}, err
	}
	legacy := call.Nr == unix.SYS_GETDENTS
	// Names served where the disk has none come first, in the batch that starts the
	// directory: the kernel's offset then never has to stand for them.
	extra, err := servedDirents(call, f, legacy, keep)
	if err != nil {
		return shim.SyscallResult{}, err
	}
	size := min(count, listingMaxBuf)
	if uint64(len(extra))+direntMinRecord > size {
		extra = nil
	}
	buf := make([]byte, size)
	for {
		n, errno := getdents(call.Nr, f, buf[:size-uint64(len(extra))])
		if errno != 0 {
			return shim.Fail(errno), nil
		}
		if n == 0 {
			// The end (a directory always holds "." and "..", so never the first batch of
			// one that exists).
			return shim.Return(0), nil
		}
		out := buf[:n]
		if keep != nil {
			out = filterDirents(out, legacy, keep)
			if len(out) == 0 {
				continue
			}
		}
		out = append(extra, out...)
		if _, err := call.Mem.WriteAt(out, addr); err != nil {
			return shim.Fail(unix.EFAULT), nil
		}
		return shim.Return(int64(len(out))), nil
	}
}

// direntMinRecord is room for one more record of a short name beside the served names.
const direntMinRecord = 280

// servedDirents encodes the names the chain serves in the directory f that it does not hold
// (shim.Call.Served), when f is at its start.
func servedDirents(call *shim.Call, f *os.File, legacy bool, keep func([]byte) bool) ([]byte, error) {
	if call.Served == nil {
		return nil, nil
	}
	if off, err := unix.Seek(int(f.Fd()), 0, io.SeekCurrent); err != nil || off != 0 {
		return nil, nil
	}
	entries, err := call.Served(f)
	if err != nil {
		return nil, fmt.Errorf("getdents: served names: %w", err)
	}
	var out []byte
	for _, e := range entries {
		if keep != nil && !keep([]byte(e.Name)) {
			continue
		}
		out = appendDirent(out, e, legacy)
	}
	return out, nil
}

// appendDirent appends e as a record. Its d_off is 0: a seekdir to it starts the listing again.
// Its d_ino is made up from the name (never 0, which some readers skip).
func appendDirent(b []byte, e shim.DirEntry, legacy bool) []byte {
	h := fnv.New64a()
	h.Write([]byte(e.Name))
	ino := h.Sum64() | 1<<63
	nameOff := dirent64NameOff
	tail := 1 // the NUL
	if legacy {
		nameOff, tail = direntNameOff, 2 // the NUL and d_type
	}
	reclen := (nameOff + len(e.Name) + tail + 7) &^ 7
	rec := make([]byte, reclen)
	binary.LittleEndian.PutUint64(rec[0:], ino)
	binary.LittleEndian.PutUint16(rec[direntReclenOff:], uint16(reclen))
	copy(rec[nameOff:], e.Name)
	if legacy {
		rec[reclen-1] = e.Type
	} else {
		rec[direntReclenOff+2] = e.Type
	}
	return append(b, rec...)
}

func (l *listing) filterFor(f *os.File) (func([]byte) bool, error) {
	l.mu.Lock()
	filters := l.filters
	l.mu.Unlock()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("getdents: fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, nil // the call itself answers ENOTDIR
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return nil, fmt.Errorf("getdents: fstatfs: %w", err)
	}
	var keeps []func([]byte) bool
	for _, fl := range filters {
		if k := fl.filter(&st, sfs.Type); k != nil {
			keeps = append(keeps, k)
		}
	}
	switch len(keeps) {
	case 0:
		return nil, nil
	case 1:
		return keeps[0], nil
	}
	return func(name []byte) bool {
		for _, k := range keeps {
			if !k(name) {
				return false
			}
		}
		return true
	}, nil
}

// Record layouts, x86_64 (include/linux/dirent.h and fs/readdir.c):
//
//	linux_dirent64: d_ino u64 | d_off s64 | d_reclen u16 | d_type u8 | d_name... NUL
//	linux_dirent:   d_ino u64 | d_off s64 | d_reclen u16 | d_name... NUL | pad | d_type u8 (last byte)
const (
	direntReclenOff = 16
	dirent64NameOff = 19
	direntNameOff   = 18
)

// direntName returns the name of the record rec.
func direntName(rec []byte, legacy bool) []byte {
	off := dirent64NameOff
	if legacy {
		off = direntNameOff
	}
	if len(rec) <= off {
		return nil
	}
	name := rec[off:]
	for i, c := range name {
		if c == 0 {
			return name[:i]
		}
	}
	return name
}

// filterDirents compacts the records of buf in place, keeping those whose name keep accepts.
// Records are copied whole: their d_off still names the position after them in the real
// directory, so a later lseek to it lands where the kernel would.
func filterDirents(buf []byte, legacy bool, keep func([]byte) bool) []byte {
	w := 0
	for r := 0; r+direntReclenOff+2 <= len(buf); {
		reclen := int(binary.LittleEndian.Uint16(buf[r+direntReclenOff:]))
		if reclen == 0 || r+reclen > len(buf) {
			break
		}
		rec := buf[r : r+reclen]
		if keep(direntName(rec, legacy)) {
			copy(buf[w:], rec)
			w += reclen
		}
		r += reclen
	}
	return buf[:w]
}
