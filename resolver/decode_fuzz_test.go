package resolver

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Where FuzzDecode puts the path and the open_how in memory (the low two bits of place for the
// path, the next two for the struct).
const (
	placeHeap     = 0 // an ordinary buffer, NUL-terminated
	placeCliff    = 1 // ending exactly at an unmapped page, NUL included
	placeCliffCut = 2 // path: its NUL falls on the unmapped page; how: its last bytes do
	placeNull     = 3 // a NULL pointer
)

// FuzzDecode decodes fuzzed open, openat, openat2 and creat calls (registers with high bits,
// open_how of any size with a fuzzed byte in its tail, paths of any length, memory that ends
// at an unmapped page or is NULL) and makes the same call to the kernel. The call names a
// directory that does not exist, so the kernel creates, truncates and opens nothing: if it
// gets past the checks Decode mirrors, the lookup fails with ENOENT (or EAGAIN under
// RESOLVE_CACHED). So Decode must refuse exactly when the kernel refuses before looking up,
// with the kernel's errno; when it accepts, the path must be the bytes up to the NUL, the
// open_how fields as given, and open's, openat's and creat's flags and mode as decoded must
// pass openat2's own checks.
//
//	go test ./resolver -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s -parallel 1
func FuzzDecode(f *testing.F) {
	const (
		open    = 0
		creat   = 1
		openat  = 2
		openat2 = 3
	)
	seed := func(call uint8, flags, mode, resolve uint64, size uint16, tail uint16, tailByte byte, path string, pad uint16, place uint8, dirHigh uint32) {
		f.Add(call, flags, mode, resolve, size, tail, tailByte, []byte(path), pad, place, dirHigh)
	}
	seed(open, unix.O_RDONLY, 0, 0, 0, 0, 0, "f", 0, 0, 0)
	seed(open, 1<<40|1<<30|unix.O_RDWR, 0o644, 0, 0, 0, 0, "f", 0, 0, 0)
	seed(open, unix.O_CREAT|unix.O_WRONLY, 0o177777, 0, 0, 0, 0, "f", 0, 0, 0)
	seed(open, unix.O_PATH|unix.O_RDWR|unix.O_TRUNC, 0, 0, 0, 0, 0, "f", 0, 0, 0)
	seed(open, unix.O_DIRECTORY|unix.O_CREAT, 0, 0, 0, 0, 0, "f", 0, 0, 0)
	seed(open, unix.O_TMPFILE, 0, 0, 0, 0, 0, "d", 0, 0, 0)
	seed(open, oTmpfile|unix.O_RDWR, 0, 0, 0, 0, 0, "d", 0, 0, 0)
	seed(open, unix.O_DIRECTORY|unix.O_CREAT, 0, 0, 0, 0, 0, "", 0, placeNull, 0)
	seed(open, 0, 0, 0, 0, 0, 0, "", 0, placeHeap, 0)
	seed(open, 0, 0, 0, 0, 0, 0, "\x00f", 0, placeCliff, 0)
	seed(open, 0, 0, 0, 0, 0, 0, "long", 4096, 0, 0)
	seed(open, 0, 0, 0, 0, 0, 0, "long", 4000, 0, 0)
	seed(creat, 0, 0o640, 0, 0, 0, 0, "c", 0, 0, 0)
	seed(creat, 0, 0o640, 0, 0, 0, 0, "c", 0, placeCliffCut, 0)
	seed(openat, unix.O_RDONLY, 0, 0, 0, 0, 0, "f", 0, 0, 0xffffffff)
	seed(openat, unix.O_RDONLY|unix.O_NOFOLLOW, 0, 0, 0, 0, 0, "f/../../x", 0, placeCliff, 0)
	seed(openat2, unix.O_RDONLY, 0, 0, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_RDONLY, 0, 0, 64, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_RDONLY, 0, 0, 64, 39, 1, "f", 0, 0, 0)
	seed(openat2, unix.O_RDONLY, 0, 0, 23, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_RDONLY, 0, 0, 0, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_RDONLY, 0, 0, 4096, 4071, 1, "f", 0, 0, 0)
	seed(openat2, unix.O_RDONLY, 0, 0, 4097, 0, 0, "f", 0, 0, 0)
	seed(openat2, 1<<40, 0, 0, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, 0, 0, 0x40, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, 0, 0o644, 0, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_CREAT|unix.O_WRONLY, 0o10000, 0, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_CREAT|unix.O_WRONLY, 0o600, 0, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, 0, 0, unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_PATH|unix.O_WRONLY, 0, 0, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_CREAT|unix.O_WRONLY, 0o600, resolveCached, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, 0, 0, resolveCached, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, unix.O_TRUNC|unix.O_RDWR, 0, resolveCached, 24, 0, 0, "f", 0, 0, 0)
	seed(openat2, oTmpfile|unix.O_DIRECTORY|unix.O_RDWR, 0o600, 0, 24, 0, 0, "d", 0, 0, 0)
	seed(openat2, unix.O_CLOEXEC|unix.O_PATH|unix.O_NOFOLLOW, 0, 0, 24, 0, 0, "f", 0, placeNull<<2, 0)
	seed(openat2, 0, 0, 0, 24, 0, 0, "f", 0, placeCliff<<2, 0)
	seed(openat2, 0, 0, 0, 32, 3, 0, "f", 0, placeCliffCut<<2, 0)
	seed(openat2, 1<<40, 0, 0, 32, 3, 0, "", 0, placeCliffCut<<2|placeNull, 0)

	dir, err := filepath.EvalSymlinks(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		f.Fatal(err)
	}
	defer unix.Close(dfd)
	pathPage, howPage := cliffPage(f), cliffPage(f)

	f.Fuzz(func(t *testing.T, call uint8, flags, mode, resolve uint64, size uint16, tail uint16, tailByte byte, fuzzPath []byte, pad uint16, place uint8, dirHigh uint32) {
		// The path names something below dir/missing/dir/, which never exists: with a dirfd
		// it is relative to dir, without one absolute. The lookup stops at "missing", so no
		// trailing slash or flag can make the kernel answer anything but ENOENT there.
		spelled := []byte("missing/dir/")
		if call%4 == open || call%4 == creat {
			spelled = []byte(dir + "/missing/dir/")
		}
		spelled = append(spelled, fuzzPath...)
		spelled = append(spelled, bytes.Repeat([]byte("a"), int(pad%(2*pathMax)))...)
		var keep [][]byte
		defer runtime.KeepAlive(&keep)
		pathAddr := placeBytes(pathPage, append(spelled, 0), place&3, len(spelled)+1, &keep)
		want, _, _ := bytes.Cut(spelled, []byte{0})

		var args [6]uint64
		var nr int
		switch call % 4 {
		case open:
			nr, args = nrOpen, [6]uint64{pathAddr, flags, mode}
		case creat:
			nr, args = nrCreat, [6]uint64{pathAddr, mode}
		case openat:
			nr, args = nrOpenat, [6]uint64{uint64(dirHigh)<<32 | uint64(uint32(dfd)), pathAddr, flags, mode}
		case openat2:
			how := make([]byte, max(int(size), openHowSizeVer0))
			binary.LittleEndian.PutUint64(how[0:], flags)
			binary.LittleEndian.PutUint64(how[8:], mode)
			binary.LittleEndian.PutUint64(how[16:], resolve)
			if int(size) > openHowSizeVer0 {
				how[openHowSizeVer0+int(tail)%(int(size)-openHowSizeVer0)] = tailByte
			}
			readable := int(size)
			if (place>>2)&3 == placeCliffCut && size > 0 {
				readable = int(size) - 1 - int(tail)%int(size)
			}
			howAddr := placeBytes(howPage, how[:min(int(size), len(how))], (place>>2)&3, readable, &keep)
			nr, args = nrOpenat2, [6]uint64{uint64(dirHigh)<<32 | uint64(uint32(dfd)), pathAddr, howAddr, uint64(size)}
		}

		_, _, kerr := unix.Syscall6(uintptr(nr), uintptr(args[0]), uintptr(args[1]), uintptr(args[2]),
			uintptr(args[3]), 0, 0)
		if kerr == 0 {
			t.Fatalf("the kernel opened %q, which cannot exist", want)
		}
		in, err := Decode(nr, args, 1, 2, &selfMem{})
		if err != nil {
			e, ok := ChildErrno(err)
			if !ok {
				t.Fatalf("Decode failed as scrim's own fault: %v (kernel: %v)", err, kerr)
			}
			if e != kerr {
				t.Fatalf("Decode refused with %v, the kernel with %v", e, kerr)
			}
			return
		}
		lookupErr := func(e unix.Errno, resolve uint64) bool {
			return e == unix.ENOENT || (resolve&resolveCached != 0 && e == unix.EAGAIN)
		}
		if !lookupErr(kerr, in.Resolve) {
			t.Fatalf("Decode accepted what the kernel refused with %v", kerr)
		}
		if !bytes.Equal(in.Path, want) {
			t.Fatalf("Decode read path %q, want %q", in.Path, want)
		}
		wantDirfd := int32(unix.AT_FDCWD)
		if nr == nrOpenat || nr == nrOpenat2 {
			wantDirfd = int32(dfd)
		}
		if in.Dirfd != wantDirfd || in.PID != 1 || in.TID != 2 {
			t.Fatalf("Decode gave dirfd %d pid %d tid %d", in.Dirfd, in.PID, in.TID)
		}
		if nr == nrOpenat2 {
			if in.Flags != flags || in.Mode != mode || in.Resolve != resolve {
				t.Fatalf("Decode gave open_how {%#x %#o %#x}, want {%#x %#o %#x}", in.Flags, in.Mode, in.Resolve, flags, mode, resolve)
			}
			return
		}
		// What open, openat and creat decode to is an open_how; openat2 must accept it.
		how := unix.OpenHow{Flags: in.Flags, Mode: in.Mode}
		_, e2 := unix.Openat2(dfd, "missing/dir/f", &how)
		if !lookupErr(errnoOf(e2), 0) {
			t.Fatalf("openat2 refused the decoded open_how {%#x %#o} with %v", in.Flags, in.Mode, e2)
		}
	})
}

// cliffPage maps a readable page followed by an unmapped one and returns the readable page.
func cliffPage(f *testing.F) []byte {
	ps := os.Getpagesize()
	b, err := unix.Mmap(-1, 0, 2*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		f.Fatal(err)
	}
	if err := unix.Mprotect(b[ps:], unix.PROT_NONE); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { unix.Munmap(b) })
	return b[:ps]
}

// placeBytes puts b where how says and returns its address. For placeCliffCut only the first
// readable bytes are before the cliff; a b longer than the page goes on the heap.
func placeBytes(page, b []byte, how uint8, readable int, keep *[][]byte) uint64 {
	if how == placeNull {
		return 0
	}
	if len(b) == 0 {
		b = []byte{0}
	}
	if how == placeHeap || len(b) > len(page) {
		*keep = append(*keep, b)
		return addrOf(b)
	}
	if how == placeCliffCut {
		readable = min(readable, len(b)-1)
		b = b[:max(readable, 0)]
		if len(b) == 0 {
			return addrOf(page) + uint64(len(page))
		}
	}
	return place(page, string(b))
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	e, _ := err.(unix.Errno)
	return e
}
