package resolver

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestDecodePath(t *testing.T) {
	page := pages(t)
	long := make([]byte, 2*pathMax)
	for i := range long {
		long[i] = 'a'
	}
	long4095 := append(append([]byte(nil), long[:pathMax-1]...), 0)
	defer runtime.KeepAlive(long4095)
	defer runtime.KeepAlive(long)
	cases := []struct {
		name    string
		addr    func() uint64
		want    string
		wantErr unix.Errno
	}{
		{name: "null", addr: func() uint64 { return 0 }, wantErr: unix.EFAULT},
		{name: "empty", addr: func() uint64 { return place(page, "\x00") }, wantErr: unix.ENOENT},
		{name: "ends at the cliff", addr: func() uint64 { return place(page, "/etc/hosts\x00") }, want: "/etc/hosts"},
		{name: "runs off the cliff", addr: func() uint64 { return place(page, "/etc/hosts") }, wantErr: unix.EFAULT},
		{name: "stops at the first NUL", addr: func() uint64 { return place(page, "/a\x00/b\x00") }, want: "/a"},
		{name: "bytes that are not UTF-8", addr: func() uint64 { return place(page, "/tmp/\xff\xfe\x00") }, want: "/tmp/\xff\xfe"},
		{name: "unmapped", addr: func() uint64 { return addrOf(page) + uint64(len(page)) }, wantErr: unix.EFAULT},
		{name: "4095 bytes", addr: func() uint64 { return addrOf(long4095) }, want: string(long4095[:pathMax-1])},
		{name: "4096 bytes without NUL", addr: func() uint64 { return addrOf(long) }, wantErr: unix.ENAMETOOLONG},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := &selfMem{}
			in, err := Decode(nrOpen, [6]uint64{tc.addr()}, 1, 2, mem)
			for _, r := range mem.reads {
				require.Equal(t, r[0]/pageSize, (r[0]+r[1]-1)/pageSize, "a read crossed a page boundary")
			}
			if tc.wantErr != 0 {
				require.Equal(t, tc.wantErr, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(in.Path))
		})
	}
	t.Run("memory gone is not the child's error", func(t *testing.T) {
		_, err := Decode(nrOpen, [6]uint64{0x1000}, 1, 2, goneMem{})
		require.Error(t, err)
		_, isChild := ChildErrno(err)
		require.False(t, isChild)
	})
}

// openHow lays out a struct open_how of size bytes, extra being written at offset 24.
func openHow(flags, mode, resolve uint64, size int, extra byte) []byte {
	b := make([]byte, max(size, 24))
	binary.LittleEndian.PutUint64(b[0:], flags)
	binary.LittleEndian.PutUint64(b[8:], mode)
	binary.LittleEndian.PutUint64(b[16:], resolve)
	if size > 24 {
		b[size-1] = extra
	}
	return b
}

func TestDecodeMatchesKernel(t *testing.T) {
	root := tree(t)
	path := append([]byte(root+"/d/f"), 0)
	page := pages(t)
	type call struct {
		nr   int
		args [6]uint64
	}
	// keep holds every buffer whose address went into a register, so that the collector
	// cannot free it before the calls below.
	var keep [][]byte
	defer runtime.KeepAlive(&keep)
	at := func(b []byte) uint64 { keep = append(keep, b); return addrOf(b) }
	p := at(path)
	how := func(flags, mode, resolve uint64, size int, extra byte) (uint64, uint64) {
		b := openHow(flags, mode, resolve, size, extra)
		return at(b), uint64(size)
	}
	openat2 := func(flags, mode, resolve uint64, size int, extra byte) call {
		h, s := how(flags, mode, resolve, size, extra)
		return call{nrOpenat2, [6]uint64{uint64(uint32(0xffffff9c)), p, h, s}}
	}
	cliff := place(page, string(openHow(0, 0, 0, 24, 0)[:20]))
	cases := []struct {
		name      string
		call      call
		wantFlags uint64
		wantMode  uint64
	}{
		{name: "open", call: call{nrOpen, [6]uint64{p, unix.O_RDONLY}}},
		{name: "open drops unknown and high bits", call: call{nrOpen, [6]uint64{p, 1<<40 | 1<<30 | unix.O_RDWR}}, wantFlags: unix.O_RDWR},
		{name: "open mode without creat is dropped", call: call{nrOpen, [6]uint64{p, unix.O_RDONLY, 0o644}}},
		{name: "open creat mode keeps 12 bits", call: call{nrOpen, [6]uint64{p, unix.O_CREAT | unix.O_WRONLY, 0o177777}}, wantFlags: unix.O_CREAT | unix.O_WRONLY, wantMode: 0o7777},
		{name: "open path keeps path flags only", call: call{nrOpen, [6]uint64{p, unix.O_PATH | unix.O_RDWR | unix.O_TRUNC}}, wantFlags: unix.O_PATH},
		{name: "open directory and creat", call: call{nrOpen, [6]uint64{p, unix.O_DIRECTORY | unix.O_CREAT}}},
		{name: "open tmpfile read only", call: call{nrOpen, [6]uint64{p, unix.O_TMPFILE}}},
		{name: "open tmpfile bit without directory", call: call{nrOpen, [6]uint64{p, oTmpfile | unix.O_RDWR}}},
		{name: "open null path with bad flags", call: call{nrOpen, [6]uint64{0, unix.O_DIRECTORY | unix.O_CREAT}}},
		{name: "open null path", call: call{nrOpen, [6]uint64{0, 0}}},
		{name: "creat", call: call{nrCreat, [6]uint64{at(append([]byte(root+"/d/c"), 0)), 0o640}}, wantFlags: unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, wantMode: 0o640},
		{name: "openat dirfd low 32 bits", call: call{nrOpenat, [6]uint64{0xffffffff00000000 | uint64(uint32(0xffffff9c)), p, 0}}},
		{name: "openat2", call: openat2(unix.O_RDONLY, 0, 0, 24, 0)},
		{name: "openat2 larger struct zero tail", call: openat2(unix.O_RDONLY, 0, 0, 64, 0)},
		{name: "openat2 larger struct nonzero tail", call: openat2(unix.O_RDONLY, 0, 0, 64, 1)},
		{name: "openat2 size too small", call: openat2(unix.O_RDONLY, 0, 0, 23, 0)},
		{name: "openat2 size zero", call: openat2(unix.O_RDONLY, 0, 0, 0, 0)},
		{name: "openat2 size above a page", call: openat2(unix.O_RDONLY, 0, 0, 4097, 0)},
		{name: "openat2 unknown flag", call: openat2(1<<40, 0, 0, 24, 0)},
		{name: "openat2 unknown resolve", call: openat2(0, 0, 0x40, 24, 0)},
		{name: "openat2 mode without creat", call: openat2(0, 0o644, 0, 24, 0)},
		{name: "openat2 mode beyond 07777", call: openat2(unix.O_CREAT|unix.O_WRONLY, 0o10000, 0, 24, 0)},
		{name: "openat2 beneath and in root", call: openat2(0, 0, unix.RESOLVE_BENEATH|unix.RESOLVE_IN_ROOT, 24, 0)},
		{name: "openat2 path with write", call: openat2(unix.O_PATH|unix.O_WRONLY, 0, 0, 24, 0)},
		{name: "openat2 cached with creat", call: openat2(unix.O_CREAT|unix.O_WRONLY, 0o600, 0x20, 24, 0)},
		{name: "openat2 null how", call: call{nrOpenat2, [6]uint64{uint64(uint32(0xffffff9c)), p, 0, 24}}},
		{name: "openat2 how off the cliff", call: call{nrOpenat2, [6]uint64{uint64(uint32(0xffffff9c)), p, cliff, 24}}},
		{name: "openat2 creat keeps mode", call: openat2(unix.O_CREAT|unix.O_WRONLY, 0o600, 0, 24, 0), wantFlags: unix.O_CREAT | unix.O_WRONLY, wantMode: 0o600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fd, _, e := unix.Syscall6(uintptr(tc.call.nr), uintptr(tc.call.args[0]), uintptr(tc.call.args[1]),
				uintptr(tc.call.args[2]), uintptr(tc.call.args[3]), 0, 0)
			if e == 0 {
				unix.Close(int(fd))
			}
			in, err := Decode(tc.call.nr, tc.call.args, 1, 2, &selfMem{})
			if e != 0 {
				require.Equal(t, e, err, "kernel said %v", e)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantFlags, in.Flags&^unix.O_CLOEXEC)
			require.Equal(t, tc.wantMode, in.Mode)
			require.True(t, strings.HasPrefix(string(in.Path), root))
		})
	}
}

func TestDecodeRejectsOtherCalls(t *testing.T) {
	_, err := Decode(unix.SYS_READ, [6]uint64{}, 1, 2, &selfMem{})
	require.Error(t, err)
	_, isChild := ChildErrno(err)
	require.False(t, isChild)
}
