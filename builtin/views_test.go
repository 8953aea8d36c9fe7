package builtin

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

func TestRenderCPUInfo(t *testing.T) {
	host := readTestdata(t, "cpuinfo.host")
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got := renderCPUInfo(host, n)
			golden(t, fmt.Sprintf("cpuinfo_%d.golden", n), got)
			require.Equal(t, n, strings.Count(string(got), "processor\t:"))
			require.True(t, bytes.HasSuffix(got, []byte("\n\n")), "ends with a blank line like the kernel's")
		})
	}
}

func TestRenderStat(t *testing.T) {
	host := readTestdata(t, "stat.host")
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got := renderStat(host, n, []int{0, 1})
			golden(t, fmt.Sprintf("stat_%d.golden", n), got)
			var cpus int
			for _, l := range strings.Split(string(got), "\n") {
				if strings.HasPrefix(l, "cpu") && !strings.HasPrefix(l, "cpu ") {
					cpus++
				}
			}
			require.Equal(t, n, cpus)
		})
	}
}

func TestCPUSysfs(t *testing.T) {
	var b strings.Builder
	for _, n := range []int{1, 2, 4, 36} {
		fmt.Fprintf(&b, "n=%d list=%s mask=%s own3=%s\n", n, cpuList(n), cpuSet(n, 0, false, false), cpuSet(n, 3%n, true, false))
	}
	golden(t, "sysfs_cpu.golden", []byte(b.String()))
}

func TestCPUOpen(t *testing.T) {
	sb := &fakeSandbox{pids: []int{os.Getpid()}}
	h := build(t, Options{CPUs: 1}, idCPU, sb).(*cpuView)
	h.limit = false // do not pin the test's own threads
	tests := []struct {
		path string
		want string // "" means not served
		deny unix.Errno
	}{
		{path: "/sys/devices/system/cpu/online", want: "0\n"},
		{path: "/sys/devices/system/cpu/possible", want: "0\n"},
		{path: "/sys/devices/system/cpu/present", want: "0\n"},
		{path: "/sys/devices/system/cpu/offline", want: "\n"},
		{path: "/sys/devices/system/cpu/cpu0/topology/core_siblings_list", want: "0\n"},
		{path: "/sys/devices/system/cpu/cpu0/topology/thread_siblings", want: "1\n"},
		{path: "/sys/devices/system/cpu/cpu1/topology/core_id", deny: unix.ENOENT},
		{path: "/sys/devices/system/cpu/cpu1", deny: unix.ENOENT},
		{path: "/sys/devices/system/cpu/cpufreq"},
		{path: "/proc/version"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := open(t, h, tt.path, unix.O_RDONLY)
			switch {
			case tt.deny != 0:
				require.Equal(t, shim.Deny(tt.deny), res)
			case tt.want == "":
				require.Equal(t, shim.ActNext, res.Action)
			default:
				require.Equal(t, tt.want, string(res.Content.(shim.Bytes).Data))
			}
		})
	}
	t.Run("cpuinfo", func(t *testing.T) {
		require.Equal(t, 1, strings.Count(string(served(t, h, "/proc/cpuinfo")), "processor\t:"))
	})
	t.Run("stat", func(t *testing.T) {
		got := string(served(t, h, "/proc/stat"))
		require.Contains(t, got, "\ncpu0 ")
		require.NotContains(t, got, "\ncpu1 ")
	})
}

func TestCPUAffinity(t *testing.T) {
	// A child to confine, so the test's own threads keep every CPU.
	child := exec.Command("sleep", "30")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	pid := child.Process.Pid

	sb := &fakeSandbox{pids: []int{pid}}
	h := build(t, Options{CPUs: 1}, idCPU, sb).(*cpuView)
	if !h.limit {
		t.Skip("needs at least one CPU to confine to") // impossible: CPUs=1
	}
	call := func(nr int, p int, size uint64, mem *bufMem) shim.SyscallResult {
		res, err := h.Syscall(context.Background(), &shim.Call{
			Nr: nr, Args: [6]uint64{uint64(p), size, mem.base}, PID: pid, TID: pid, Mem: mem,
		})
		require.NoError(t, err)
		return res
	}
	t.Run("first_call_confines", func(t *testing.T) {
		mem := &bufMem{base: 0x1000, buf: make([]byte, 128)}
		res := call(unix.SYS_SCHED_GETAFFINITY, 0, 128, mem)
		require.Zero(t, res.Errno)
		require.GreaterOrEqual(t, res.Val, int64(8))
		require.Equal(t, byte(1), mem.buf[0])
		require.True(t, bytes.Equal(mem.buf[1:res.Val], make([]byte, res.Val-1)))
		var real unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(pid, &real))
		require.Equal(t, 1, real.Count(), "the child is really confined")
	})
	t.Run("foreign_pid_is_esrch", func(t *testing.T) {
		mem := &bufMem{base: 0x1000, buf: make([]byte, 128)}
		require.Equal(t, unix.ESRCH, call(unix.SYS_SCHED_GETAFFINITY, 1, 128, mem).Errno)
	})
	t.Run("odd_length_is_einval", func(t *testing.T) {
		mem := &bufMem{base: 0x1000, buf: make([]byte, 128)}
		require.Equal(t, unix.EINVAL, call(unix.SYS_SCHED_GETAFFINITY, pid, 7, mem).Errno)
	})
	t.Run("set_outside_view_is_einval", func(t *testing.T) {
		mem := &bufMem{base: 0x1000, buf: []byte{2, 0, 0, 0, 0, 0, 0, 0}}
		require.Equal(t, unix.EINVAL, call(unix.SYS_SCHED_SETAFFINITY, pid, 8, mem).Errno)
	})
	t.Run("set_of_another_users_task_is_eperm", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root: starts a process as another user")
		}
		other := exec.Command("sleep", "30")
		other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		require.NoError(t, other.Start())
		defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
		opid := other.Process.Pid
		sb.mu.Lock()
		sb.pids = append(sb.pids, opid)
		sb.mu.Unlock()
		mem := &bufMem{base: 0x1000, buf: []byte{1, 0, 0, 0, 0, 0, 0, 0}}
		res, err := h.Syscall(context.Background(), &shim.Call{
			Nr: unix.SYS_SCHED_SETAFFINITY, Args: [6]uint64{uint64(pid), 8, mem.base}, PID: opid, TID: opid, Mem: mem,
		})
		require.NoError(t, err)
		require.Equal(t, unix.EPERM, res.Errno, "nobody may not move root's task")
		res, err = h.Syscall(context.Background(), &shim.Call{
			Nr: unix.SYS_SCHED_SETAFFINITY, Args: [6]uint64{uint64(opid), 8, mem.base}, PID: pid, TID: pid, Mem: mem,
		})
		require.NoError(t, err)
		require.Equal(t, shim.Return(0), res, "root may")
	})
	t.Run("set_cannot_widen", func(t *testing.T) {
		mem := &bufMem{base: 0x1000, buf: []byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}}
		require.Equal(t, shim.Return(0), call(unix.SYS_SCHED_SETAFFINITY, pid, 8, mem))
		var real unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(pid, &real))
		require.Equal(t, 1, real.Count())
	})
}

func TestRenderMeminfo(t *testing.T) {
	got := renderMeminfo(readTestdata(t, "meminfo.host"), 256<<20, 10<<20)
	golden(t, "meminfo_256M.golden", got)
	host := readTestdata(t, "meminfo.host")
	require.Equal(t, strings.Count(string(host), "\n"), strings.Count(string(got), "\n"), "every field the host prints")
	require.Contains(t, string(got), "MemTotal:         262144 kB\n")
	require.Contains(t, string(got), "MemAvailable:     251904 kB\n")
}

func TestSysinfo(t *testing.T) {
	sb := &fakeSandbox{pids: []int{os.Getpid()}}
	h := build(t, Options{MemoryBytes: 256 << 20}, idMemory, sb).(*memoryView)
	mem := &bufMem{base: 0x2000, buf: make([]byte, 112)}
	res, err := h.Syscall(context.Background(), &shim.Call{Nr: unix.SYS_SYSINFO, Args: [6]uint64{mem.base}, Mem: mem})
	require.NoError(t, err)
	require.Equal(t, shim.Return(0), res)
	si := decodeSysinfo(mem.buf)
	require.Equal(t, uint64(256<<20), si.Totalram)
	require.Equal(t, uint32(1), si.Unit)
	require.Less(t, si.Freeram, si.Totalram, "the test's own RSS is in use")
	require.Equal(t, uint16(1), si.Procs)

	res, err = h.Syscall(context.Background(), &shim.Call{Nr: unix.SYS_SYSINFO, Args: [6]uint64{0x99}, Mem: mem})
	require.NoError(t, err)
	require.Equal(t, unix.EFAULT, res.Errno)

	served := served(t, h, "/proc/meminfo")
	require.True(t, strings.HasPrefix(string(served), "MemTotal:         262144 kB\n"))
}

func TestHostname(t *testing.T) {
	h := build(t, Options{Hostname: "box"}, idHostname, &fakeSandbox{}).(*hostname)
	golden(t, "hostname_box.golden", served(t, h, "/etc/hostname"))
	for _, p := range []string{"/etc/hostname", "/proc/sys/kernel/hostname", "/etc/../etc/hostname"} {
		t.Run(p, func(t *testing.T) {
			require.Equal(t, "box\n", string(served(t, h, p)))
		})
	}
	t.Run("uname", func(t *testing.T) {
		mem := &bufMem{base: 0x3000, buf: make([]byte, 390)}
		res, err := h.Syscall(context.Background(), &shim.Call{Nr: unix.SYS_UNAME, Args: [6]uint64{mem.base}, Mem: mem})
		require.NoError(t, err)
		require.Equal(t, shim.Return(0), res)
		u := decodeUtsname(mem.buf)
		var real unix.Utsname
		require.NoError(t, unix.Uname(&real))
		require.Equal(t, "box", unix.ByteSliceToString(u.Nodename[:]))
		require.Equal(t, real.Release, u.Release)
		require.Equal(t, real.Machine, u.Machine)
	})
	for _, nr := range []int{unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME} {
		t.Run(fmt.Sprint("setter_", nr), func(t *testing.T) {
			res, err := h.Syscall(context.Background(), &shim.Call{Nr: nr})
			require.NoError(t, err)
			require.Equal(t, unix.EPERM, res.Errno)
		})
	}
	for _, bad := range []string{strings.Repeat("a", 65), "a/b", "a\nb"} {
		t.Run("invalid", func(t *testing.T) {
			_, _, err := New(Options{Hostname: bad})
			require.ErrorContains(t, err, "hostname")
		})
	}
}

func TestKeystream(t *testing.T) {
	var b strings.Builder
	for _, seed := range []uint64{42, 43} {
		for _, sub := range []uint64{0, 1} {
			buf := make([]byte, 32)
			_, _ = newKeystream(seed, [32]byte{}, sub).Read(buf)
			fmt.Fprintf(&b, "seed=%d proc=0 sub=%d %s\n", seed, sub, hex.EncodeToString(buf))
		}
	}
	golden(t, "random_stream.golden", []byte(b.String()))

	t.Run("read_equals_read_at", func(t *testing.T) {
		k := newKeystream(7, [32]byte{3}, 0)
		whole := make([]byte, 1000)
		k.readAt(whole, 0)
		var pieces []byte
		for _, n := range []int{1, 15, 16, 17, 100, 851} {
			p := make([]byte, n)
			_, _ = k.Read(p)
			pieces = append(pieces, p...)
		}
		require.Equal(t, whole, pieces)
	})
	t.Run("never_ends", func(t *testing.T) {
		n, err := io.CopyN(io.Discard, newKeystream(1, [32]byte{}, 1), 10<<20)
		require.NoError(t, err)
		require.Equal(t, int64(10<<20), n)
	})
}

func TestGetrandom(t *testing.T) {
	seed := uint64(42)
	draw := func(t *testing.T, r *random, pid int, sizes ...int) []byte {
		var out []byte
		for _, n := range sizes {
			mem := &bufMem{base: 0x4000, buf: make([]byte, n)}
			res, err := r.Syscall(context.Background(), &shim.Call{
				Nr: unix.SYS_GETRANDOM, Args: [6]uint64{mem.base, uint64(n), 0}, PID: pid, TID: pid, Mem: mem})
			require.NoError(t, err)
			require.Equal(t, shim.Return(int64(n)), res)
			out = append(out, mem.buf...)
		}
		return out
	}
	fresh := func(s uint64) *random {
		return build(t, Options{RandomSeed: &s}, idRandom, &fakeSandbox{}).(*random)
	}
	pid := os.Getpid()
	t.Run("same_seed_same_bytes", func(t *testing.T) {
		require.Equal(t, draw(t, fresh(seed), pid, 16, 5, 40), draw(t, fresh(seed), pid, 16, 5, 40))
	})
	t.Run("call_sizes_do_not_matter", func(t *testing.T) {
		require.Equal(t, draw(t, fresh(seed), pid, 61), draw(t, fresh(seed), pid, 16, 5, 40))
	})
	t.Run("other_seed_other_bytes", func(t *testing.T) {
		require.NotEqual(t, draw(t, fresh(seed), pid, 16), draw(t, fresh(seed+1), pid, 16))
	})
	t.Run("bad_flags", func(t *testing.T) {
		r := fresh(seed)
		for _, flags := range []uint64{grndRandom | grndInsecure, 0x8, 0xffffffff} {
			res, err := r.Syscall(context.Background(), &shim.Call{Nr: unix.SYS_GETRANDOM, Args: [6]uint64{0x4000, 16, flags}, PID: pid})
			require.NoError(t, err)
			require.Equal(t, unix.EINVAL, res.Errno)
		}
	})
	t.Run("fault_does_not_advance", func(t *testing.T) {
		r := fresh(seed)
		res, err := r.Syscall(context.Background(), &shim.Call{Nr: unix.SYS_GETRANDOM,
			Args: [6]uint64{0x99, 16, 0}, PID: pid, Mem: &bufMem{base: 0x4000, buf: make([]byte, 16)}})
		require.NoError(t, err)
		require.Equal(t, unix.EFAULT, res.Errno)
		require.Equal(t, draw(t, fresh(seed), pid, 16), draw(t, r, pid, 16))
	})
	t.Run("mmap_droppable_refused_in_the_filter", func(t *testing.T) {
		// The filter refuses it (supervisor TestFilterRefusals runs such a refusal); no mmap
		// is notified.
		r := fresh(seed)
		require.Equal(t, []int{unix.SYS_GETRANDOM}, r.Syscalls())
		require.Equal(t, []shim.FilterRefusal{{Nr: unix.SYS_MMAP, Arg: 3, Mask: 0x0f, Value: 0x08, Errno: unix.ENOMEM}}, r.FilterRefusals())
	})
	t.Run("device_open_by_identity", func(t *testing.T) {
		r := fresh(seed)
		for _, p := range []string{"/dev/urandom", "/dev/random", "/dev/char/1:9"} {
			if _, err := os.Stat(p); err != nil {
				continue
			}
			res := open(t, r, p, unix.O_RDONLY)
			require.Equal(t, shim.ActServe, res.Action, p)
			st := res.Content.(shim.Stream)
			a := make([]byte, 16)
			_, _ = io.ReadFull(st.Reader, a)
			require.NotEqual(t, make([]byte, 16), a)
		}
		require.Equal(t, shim.ActNext, open(t, r, "/dev/null", unix.O_RDONLY).Action)
	})
}

func TestRandomStreamsFollowTheProcessTree(t *testing.T) {
	seed := uint64(42)
	var kids []*exec.Cmd
	for _, arg := range []string{"30", "31", "30"} {
		c := exec.Command("sleep", arg)
		require.NoError(t, c.Start())
		kids = append(kids, c)
	}
	t.Cleanup(func() {
		for _, c := range kids {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	a, b, a2 := kids[0].Process.Pid, kids[1].Process.Pid, kids[2].Process.Pid
	sb := &fakeSandbox{pids: []int{os.Getpid(), a, b, a2}}
	draw := func(r *random, pid int) string {
		mem := &bufMem{base: 0x4000, buf: make([]byte, 8)}
		res, err := r.Syscall(context.Background(), &shim.Call{
			Nr: unix.SYS_GETRANDOM, Args: [6]uint64{mem.base, 8, 0}, PID: pid, TID: pid, Mem: mem})
		require.NoError(t, err)
		require.Equal(t, shim.Return(8), res)
		return hex.EncodeToString(mem.buf)
	}
	fresh := func() *random {
		return build(t, Options{RandomSeed: &seed}, idRandom, sb).(*random)
	}
	r1 := fresh()
	first := map[int]string{a: draw(r1, a), b: draw(r1, b)}
	r2 := fresh()
	second := map[int]string{b: draw(r2, b), a: draw(r2, a)}
	require.Equal(t, first, second, "siblings with different command lines do not depend on who draws first")
	require.NotEqual(t, first[a], first[b])
	require.NotEqual(t, first[a], draw(r1, a2), "an identical sibling gets its own stream")
}

// TestRandomForgetsEndedProcesses: when the shim prunes, a process that has ended is dropped
// even where the sandbox still counts its pid as its own (a container's pid namespace), and a
// live one is kept.
func TestRandomForgetsEndedProcesses(t *testing.T) {
	seed := uint64(7)
	ended := exec.Command("true")
	require.NoError(t, ended.Run())
	dead := ended.Process.Pid
	live := os.Getpid()
	sb := &fakeSandbox{pids: []int{live, dead}}
	r := build(t, Options{RandomSeed: &seed}, idRandom, sb).(*random)
	r.proc(live)
	r.procs[dead] = &randomProc{start: 12345}
	r.forgetExited()
	require.Contains(t, r.procs, live)
	require.NotContains(t, r.procs, dead)
}
