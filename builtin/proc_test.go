package builtin

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

func TestProcDeny(t *testing.T) {
	h := build(t, Options{Deny: []string{"/srv/secret/"}}, idProcDeny, &fakeSandbox{})
	tests := []struct {
		name, path string
		flags      int
		deny       bool
	}{
		{"kcore", "/proc/kcore", unix.O_RDONLY, true},
		{"kallsyms", "/proc/kallsyms", unix.O_RDONLY, true},
		{"sysrq", "/proc/sysrq-trigger", unix.O_WRONLY, true},
		{"firmware_subtree", "/sys/firmware/acpi/tables", unix.O_RDONLY, true},
		{"debug_subtree", "/sys/kernel/debug/x", unix.O_RDONLY, true},
		{"config_deny", "/srv/secret", unix.O_RDONLY, true},
		{"config_deny_subtree", "/srv/secret/a/b", unix.O_RDONLY, true},
		{"config_deny_sibling", "/srv/secretive", unix.O_RDONLY, false},
		{"cpuinfo", "/proc/cpuinfo", unix.O_RDONLY, false},
		{"proc_sys_read", "/proc/sys/kernel/ostype", unix.O_RDONLY, false},
		{"core_pattern_read", "/proc/sys/kernel/core_pattern", unix.O_RDONLY, true},
		{"etc", "/etc/passwd", unix.O_RDONLY, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := open(t, h, tt.path, tt.flags)
			if tt.deny {
				require.Equal(t, shim.Deny(unix.EACCES), res)
			} else {
				require.Equal(t, shim.ActNext, res.Action)
			}
		})
	}
	for _, tt := range []struct{ name, path string }{
		{"proc_sys", "/proc/sys/kernel/ostype"},
		{"proc_sys_hostname", "/proc/sys/kernel/hostname"},
		{"sys", "/sys/devices/system/cpu/online"},
	} {
		t.Run("write_protected_"+tt.name, func(t *testing.T) {
			require.Equal(t, shim.Deny(unix.EROFS), open(t, h, tt.path, unix.O_WRONLY))
			require.Equal(t, shim.Deny(unix.EROFS), open(t, h, tt.path, unix.O_RDONLY|unix.O_TRUNC))
			require.Equal(t, shim.ActNext, open(t, h, tt.path, unix.O_RDONLY).Action)
		})
	}
	t.Run("identity_under_another_name", func(t *testing.T) {
		obj, ok, err := objectInRoot("/", "/proc/kallsyms")
		require.NoError(t, err)
		require.True(t, ok)
		res, err := h.Open(context.Background(), &shim.Request{Path: []byte("/mnt/otherproc/kallsyms"), Object: obj})
		require.NoError(t, err)
		require.Equal(t, shim.Deny(unix.EACCES), res)
	})
	t.Run("denied_device_under_another_name", func(t *testing.T) {
		for _, typ := range []uint32{unix.S_IFCHR, unix.S_IFBLK} {
			obj := shim.Object{Exists: true, Dev: 42, Ino: 7, Mode: typ | 0o600, Rdev: unix.Mkdev(1, 11)}
			res, err := h.Open(context.Background(), &shim.Request{Path: []byte("/tmp/x/kmsg-copy"), Object: obj})
			require.NoError(t, err)
			if typ == unix.S_IFCHR {
				require.Equal(t, shim.Deny(unix.EACCES), res, "a character node of /dev/kmsg's number")
			} else {
				require.Equal(t, shim.ActNext, res.Action, "a block device 1:11 is another device")
			}
		}
		// A regular file whose st_rdev field happens to hold the number is no device.
		obj := shim.Object{Exists: true, Dev: 42, Ino: 8, Mode: unix.S_IFREG | 0o600, Rdev: unix.Mkdev(1, 11)}
		res, err := h.Open(context.Background(), &shim.Request{Path: []byte("/tmp/x/file"), Object: obj})
		require.NoError(t, err)
		require.Equal(t, shim.ActNext, res.Action)
	})
	t.Run("changes_that_carry_a_denied_object_away", func(t *testing.T) {
		ask := func(req shim.Request) shim.Result {
			res, err := h.Open(context.Background(), &req)
			require.NoError(t, err)
			return res
		}
		deny := shim.Deny(unix.EACCES)
		// Renaming or removing an ancestor of a denied path moves the denied path with it.
		require.Equal(t, deny, ask(shim.Request{Op: shim.OpRename, Path: []byte("/srv")}))
		require.Equal(t, deny, ask(shim.Request{Op: shim.OpRename, Path: []byte("/srv"), Dest: true}))
		require.Equal(t, deny, ask(shim.Request{Op: shim.OpRemove, Path: []byte("/srv")}))
		require.Equal(t, shim.ActNext, ask(shim.Request{Op: shim.OpRename, Path: []byte("/srv/other")}).Action)
		require.Equal(t, shim.ActNext, ask(shim.Request{Op: shim.OpCreate, Path: []byte("/srv")}).Action)
		// Anything beneath the denied directory, by name or by the identity of a directory
		// on the way, whatever it is called now.
		require.Equal(t, deny, ask(shim.Request{Op: shim.OpCreate, Path: []byte("/srv/secret/new")}))
		obj, ok, err := objectInRoot("/", "/proc/sys")
		require.NoError(t, err)
		require.True(t, ok)
		dirs := []shim.DirID{{Dev: 1, Ino: 2}, {Dev: obj.Dev, Ino: obj.Ino}}
		require.Equal(t, shim.ActNext, ask(shim.Request{Op: shim.OpModify, Path: []byte("/renamed/x"), Dirs: dirs[:1]}).Action)
		d := h.(*procDeny)
		d.ids[fileID{obj.Dev, obj.Ino}] = "/test/denied-dir"
		defer delete(d.ids, fileID{obj.Dev, obj.Ino})
		require.Equal(t, deny, ask(shim.Request{Op: shim.OpModify, Path: []byte("/renamed/x"), Dirs: dirs}))
		// An open is not a change: the path and identity rules alone decide it.
		require.Equal(t, shim.ActNext, ask(shim.Request{Op: shim.OpOpen, Path: []byte("/srv")}).Action)
	})
	t.Run("denied_filesystem", func(t *testing.T) {
		res, err := h.Open(context.Background(), &shim.Request{Path: []byte("/mnt/dbg/x"),
			Object: shim.Object{Exists: true, Dev: 99, Ino: 5, FsType: unix.DEBUGFS_MAGIC}})
		require.NoError(t, err)
		require.Equal(t, shim.Deny(unix.EACCES), res)
	})
}

func TestProcDenyRejectsRelative(t *testing.T) {
	_, _, err := New(Options{Deny: []string{"etc/shadow"}})
	require.ErrorContains(t, err, "not an absolute path")
}

func TestProcPIDOpen(t *testing.T) {
	self := os.Getpid()
	sb := &fakeSandbox{pids: []int{self}, tids: []int{unix.Gettid()}}
	h := build(t, Options{}, idProcPID, sb)
	tests := []struct {
		name, path string
		deny       bool
	}{
		{"own_pid", fmt.Sprintf("/proc/%d/status", self), false},
		{"own_dir", fmt.Sprintf("/proc/%d", self), false},
		{"init", "/proc/1/cmdline", true},
		{"init_dir", "/proc/1", true},
		{"own_task_foreign_tid", fmt.Sprintf("/proc/%d/task/1/comm", self), true},
		{"missing_pid", "/proc/999999999/status", true},
		{"not_a_pid", "/proc/cpuinfo", false},
		{"leading_zero_is_not_a_pid", "/proc/01", false},
		{"proc_root", "/proc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := open(t, h, tt.path, unix.O_RDONLY)
			if tt.deny {
				require.Equal(t, shim.Deny(unix.ENOENT), res)
			} else {
				require.Equal(t, shim.ActNext, res.Action)
			}
		})
	}
}

// listingCall runs the listing's getdents nr on fd with a child buffer of size count.
func listingCall(t *testing.T, l shim.SyscallHandler, nr, fd, count int) (shim.SyscallResult, []byte) {
	t.Helper()
	mem := &bufMem{base: 0x10000, buf: make([]byte, count)}
	res, err := l.Syscall(context.Background(), &shim.Call{
		Nr: nr, Args: [6]uint64{uint64(fd), mem.base, uint64(count)}, PID: os.Getpid(), TID: unix.Gettid(),
		Mem: mem, Fd: fdTable,
	})
	require.NoError(t, err)
	if res.Errno != 0 || res.Val <= 0 {
		return res, nil
	}
	return res, mem.buf[:res.Val]
}

// names parses records as the caller would.
func names(t *testing.T, recs []byte, legacy bool) []string {
	t.Helper()
	var out []string
	for r := 0; r < len(recs); {
		reclen := int(binary.LittleEndian.Uint16(recs[r+16:]))
		require.NotZero(t, reclen)
		rec := recs[r : r+reclen]
		out = append(out, string(direntName(rec, legacy)))
		if legacy {
			require.Equal(t, byte(0), rec[direntNameOff+len(direntName(rec, true))], "name is NUL-terminated")
		}
		r += reclen
	}
	return out
}

// readAll lists fd to its end through the listing.
func readAll(t *testing.T, l shim.SyscallHandler, nr, fd, count int) []string {
	t.Helper()
	var all []string
	for i := 0; i < 10000; i++ {
		res, recs := listingCall(t, l, nr, fd, count)
		require.Zero(t, res.Errno)
		if res.Val == 0 {
			return all
		}
		all = append(all, names(t, recs, nr == unix.SYS_GETDENTS)...)
	}
	t.Fatal("listing never ended")
	return nil
}

func TestListingProcRoot(t *testing.T) {
	// A sibling the sandbox does not contain.
	sib := exec.Command("sleep", "30")
	require.NoError(t, sib.Start())
	t.Cleanup(func() { _ = sib.Process.Kill(); _ = sib.Wait() })
	self := strconv.Itoa(os.Getpid())

	sb := &fakeSandbox{pids: []int{os.Getpid()}}
	regs, calls, err := New(Options{})
	require.NoError(t, err)
	var l shim.SyscallHandler
	for _, c := range calls {
		if c.ID() == idProcPID {
			l = c
		}
	}
	require.NotNil(t, l)
	// Provision the procpid handler that shares this listing.
	for _, r := range regs {
		if p, ok := r.Handler.(shim.Provisioner); ok {
			require.NoError(t, p.Provision(testEnv(sb)))
		}
	}

	proc, err := os.Open("/proc")
	require.NoError(t, err)
	defer proc.Close()
	fd := int(proc.Fd())

	for _, tt := range []struct {
		name  string
		nr    int
		count int
	}{
		{"getdents64", unix.SYS_GETDENTS64, 32768},
		{"getdents64_small_buffer", unix.SYS_GETDENTS64, 64},
		{"getdents_legacy", unix.SYS_GETDENTS, 32768},
		{"getdents_legacy_small", unix.SYS_GETDENTS, 48},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := unix.Seek(fd, 0, 0)
			require.NoError(t, err)
			got := readAll(t, l, tt.nr, fd, tt.count)
			require.Contains(t, got, self)
			require.Contains(t, got, "cpuinfo")
			require.Contains(t, got, "self")
			require.NotContains(t, got, "1")
			require.NotContains(t, got, strconv.Itoa(sib.Process.Pid))
			for _, n := range got {
				if _, ok := procEntry([]byte(n)); ok {
					require.Equal(t, self, n, "only the sandbox's pid is listed")
				}
			}
		})
	}

	t.Run("buffer_too_small_is_einval", func(t *testing.T) {
		_, err := unix.Seek(fd, 0, 0)
		require.NoError(t, err)
		res, _ := listingCall(t, l, unix.SYS_GETDENTS64, fd, 8)
		require.Equal(t, unix.EINVAL, res.Errno)
	})
	t.Run("rewind_lists_again", func(t *testing.T) {
		_, err := unix.Seek(fd, 0, 0)
		require.NoError(t, err)
		first := readAll(t, l, unix.SYS_GETDENTS64, fd, 4096)
		_, err = unix.Seek(fd, 0, 0)
		require.NoError(t, err)
		require.Equal(t, first, readAll(t, l, unix.SYS_GETDENTS64, fd, 4096))
	})
	t.Run("other_directory_unfiltered", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"1", "2", "x"} {
			require.NoError(t, os.WriteFile(dir+"/"+n, nil, 0o644))
		}
		d, err := os.Open(dir)
		require.NoError(t, err)
		defer d.Close()
		require.ElementsMatch(t, []string{".", "..", "1", "2", "x"}, readAll(t, l, unix.SYS_GETDENTS64, int(d.Fd()), 4096))
	})
	t.Run("bad_fd", func(t *testing.T) {
		res, _ := listingCall(t, l, unix.SYS_GETDENTS64, 987654, 4096)
		require.Equal(t, unix.EBADF, res.Errno)
	})
	t.Run("not_a_directory", func(t *testing.T) {
		f, err := os.Open("/proc/self/status")
		require.NoError(t, err)
		defer f.Close()
		res, _ := listingCall(t, l, unix.SYS_GETDENTS64, int(f.Fd()), 4096)
		require.Equal(t, unix.ENOTDIR, res.Errno)
	})
	t.Run("bad_buffer_is_efault", func(t *testing.T) {
		_, err := unix.Seek(fd, 0, 0)
		require.NoError(t, err)
		res, err := l.Syscall(context.Background(), &shim.Call{
			Nr: unix.SYS_GETDENTS64, Args: [6]uint64{uint64(fd), 0xdead0000, 4096},
			Mem: &bufMem{base: 0x10000, buf: make([]byte, 16)}, Fd: fdTable,
		})
		require.NoError(t, err)
		require.Equal(t, unix.EFAULT, res.Errno)
	})
}
