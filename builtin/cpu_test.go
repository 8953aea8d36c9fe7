package builtin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

func TestRenderPerCPU(t *testing.T) {
	for _, file := range []string{"interrupts", "softirqs"} {
		host := readTestdata(t, file+".host")
		for _, n := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s_%d", file, n), func(t *testing.T) {
				got := renderPerCPU(host, n, []int{1, 0})
				golden(t, fmt.Sprintf("%s_%d.golden", file, n), got)
				lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
				require.Equal(t, n, len(strings.Fields(lines[0])), "header %q", lines[0])
				for _, l := range lines[1:] {
					label, row, _ := strings.Cut(l, ":")
					if label = strings.TrimSpace(label); label == "ERR" || label == "MIS" {
						continue // one count, not one per CPU
					}
					_, _, ok := perCPUCounts(row, n)
					require.True(t, ok, "row %q has fewer than %d counts", l, n)
					_, _, more := perCPUCounts(row, n+1)
					require.False(t, more, "row %q has more than %d counts", l, n)
				}
			})
		}
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in   string
		list bool
		want []int
	}{
		{"0-2,5", true, []int{0, 1, 2, 5}},
		{"3", true, []int{3}},
		{"", true, nil},
		{"3", false, []int{0, 1}},
		{"1,00000001", false, []int{0, 32}},
		{"ff", false, []int{0, 1, 2, 3, 4, 5, 6, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseCPUs(tt.in, tt.list)
			require.True(t, ok)
			require.Equal(t, tt.want, got)
			if tt.list {
				require.Equal(t, tt.in, cpuListOf(got))
			}
		})
	}
	for _, bad := range []string{"x", "2-1", "-1"} {
		_, ok := parseCPUs(bad, true)
		require.False(t, ok, bad)
	}
}

// TestCPUOpenCounters opens, on this machine, the files beyond cpuinfo and stat that count
// CPUs, with a view of one CPU.
func TestCPUOpenCounters(t *testing.T) {
	sb := &fakeSandbox{pids: []int{os.Getpid()}}
	h := build(t, Options{CPUs: 1}, idCPU, sb).(*cpuView)
	h.limit = false // do not pin the test's own threads
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	for _, p := range []string{"/proc/interrupts", "/proc/softirqs"} {
		t.Run(p, func(t *testing.T) {
			if !exists(p) {
				t.Skipf("this kernel has no %s", p)
			}
			header := strings.SplitN(string(served(t, h, p)), "\n", 2)[0]
			require.Equal(t, []string{"CPU0"}, strings.Fields(header))
		})
	}
	masks := []string{"/proc/irq/default_smp_affinity", sysWorkqueue + "/cpumask", sysWorkqueue + "/writeback/cpumask"}
	for _, p := range masks {
		t.Run(p, func(t *testing.T) {
			if !exists(p) {
				t.Skipf("this kernel has no %s", p)
			}
			require.Equal(t, "1\n", string(served(t, h, p)))
		})
	}
	t.Run("irq_affinity", func(t *testing.T) {
		dirs, _ := os.ReadDir("/proc/irq")
		seen := 0
		for _, d := range dirs {
			p := "/proc/irq/" + d.Name() + "/smp_affinity_list"
			if !d.IsDir() || !exists(p) {
				continue
			}
			require.Equal(t, "0\n", string(served(t, h, p)), p)
			require.Equal(t, "1\n", string(served(t, h, "/proc/irq/"+d.Name()+"/smp_affinity")), p)
			seen++
		}
		if seen == 0 {
			t.Skip("this machine lists no IRQ")
		}
	})
	t.Run("clockevents", func(t *testing.T) {
		require.Equal(t, shim.Deny(unix.ENOENT), open(t, h, sysClockevents+"/clockevent1", unix.O_RDONLY))
		require.Equal(t, shim.Deny(unix.ENOENT), open(t, h, sysClockevents+"/clockevent1/current_device", unix.O_RDONLY))
		require.Equal(t, shim.ActNext, open(t, h, sysClockevents+"/clockevent0/current_device", unix.O_RDONLY).Action)
		require.Equal(t, shim.ActNext, open(t, h, sysClockevents+"/broadcast/current_device", unix.O_RDONLY).Action)
		require.Equal(t, shim.Deny(unix.ENOENT), open(t, h, sysMachinecheck+"/machinecheck1/bank0", unix.O_RDONLY))
		require.Equal(t, shim.ActNext, open(t, h, sysMachinecheck+"/machinecheck0/bank0", unix.O_RDONLY).Action)
		var st unix.Stat_t
		if err := unix.Stat(sysClockevents, &st); err != nil {
			t.Skipf("this kernel has no %s", sysClockevents)
		}
		keep := h.filter(&st, unix.SYSFS_MAGIC)
		require.NotNil(t, keep)
		require.True(t, keep([]byte("clockevent0")))
		require.False(t, keep([]byte("clockevent1")))
		require.True(t, keep([]byte("broadcast")))
	})
	t.Run("status", func(t *testing.T) {
		status := string(served(t, h, fmt.Sprintf("/proc/%d/status", os.Getpid())))
		require.Regexp(t, `\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n`, status)
		tid := unix.Gettid()
		sb.mu.Lock()
		sb.pids = append(sb.pids, tid)
		sb.mu.Unlock()
		status = string(served(t, h, fmt.Sprintf("/proc/%d/task/%d/status", os.Getpid(), tid)))
		require.Regexp(t, `\nCpus_allowed_list:\t0\n`, status)
		require.Equal(t, shim.ActNext, open(t, h, "/proc/1/status", unix.O_RDONLY).Action, "not the sandbox's")
	})
	t.Run("cgroup", func(t *testing.T) {
		cg := &cpuView{n: 2, hostCPUs: []int{0, 1}, readHost: func(name string) ([]byte, error) {
			switch {
			case strings.HasSuffix(name, "/cpu.max"):
				return []byte("max 50000\n"), nil
			case strings.HasSuffix(name, "/cpu.cfs_period_us"):
				return []byte("20000\n"), nil
			}
			return nil, os.ErrNotExist
		}}
		for _, tt := range []struct{ path, want string }{
			{"/sys/fs/cgroup/app/cpu.max", "100000 50000\n"},
			{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "40000\n"},
			{"/sys/fs/cgroup/app/cpuset.cpus.effective", "0-1\n"},
			{"/sys/fs/cgroup/cpuset/cpuset.effective_cpus", "0-1\n"},
		} {
			req := &shim.Request{Path: []byte(tt.path), Object: shim.Object{Exists: true, Mode: unix.S_IFREG, FsType: unix.CGROUP2_SUPER_MAGIC}}
			res, err := cg.Open(context.Background(), req)
			require.NoError(t, err)
			require.Equal(t, shim.ActServe, res.Action, tt.path)
			require.Equal(t, tt.want, string(res.Content.(shim.Bytes).Data), tt.path)
		}
		req := &shim.Request{Path: []byte("/sys/fs/cgroup/app/memory.max"), Object: shim.Object{Exists: true, FsType: unix.CGROUP2_SUPER_MAGIC}}
		res, err := cg.Open(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, shim.ActNext, res.Action)
	})
}

// TestCPUAffinityReadBack: with a view larger than the host, several virtual CPUs share a host
// CPU, and what a thread set is what it reads back.
func TestCPUAffinityReadBack(t *testing.T) {
	child := exec.Command("sleep", "30")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	pid := child.Process.Pid
	var self unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &self))
	n := self.Count() + 6
	h := build(t, Options{CPUs: n}, idCPU, &fakeSandbox{pids: []int{pid}}).(*cpuView)
	require.False(t, h.limit)
	call := func(nr int, mem *bufMem) shim.SyscallResult {
		res, err := h.Syscall(context.Background(), &shim.Call{
			Nr: nr, Args: [6]uint64{0, uint64(len(mem.buf)), mem.base}, PID: pid, TID: pid, Mem: mem,
		})
		require.NoError(t, err)
		require.Zero(t, res.Errno)
		return res
	}
	get := func() []byte {
		mem := &bufMem{base: 0x1000, buf: make([]byte, 128)}
		call(unix.SYS_SCHED_GETAFFINITY, mem)
		return mem.buf[:2]
	}
	all := make([]byte, 2)
	for i := 0; i < n; i++ {
		all[i/8] |= 1 << (i % 8)
	}
	require.Equal(t, all, get(), "every CPU of the view at first")
	for _, mask := range [][]byte{{0b10, 0}, {0b1010, 0}, {0b10000000, 0}} {
		call(unix.SYS_SCHED_SETAFFINITY, &bufMem{base: 0x1000, buf: append(append([]byte(nil), mask...), make([]byte, 6)...)})
		require.Equal(t, mask, get())
	}
	status := string(served(t, h, fmt.Sprintf("/proc/%d/status", pid)))
	require.Contains(t, status, "\nCpus_allowed:\t80\n")
	require.Contains(t, status, "\nCpus_allowed_list:\t7\n")
	require.Contains(t, status, fmt.Sprintf("\nPid:\t%d\n", pid), "the rest is the task's own")
}

// TestE2ECPUConfinedFromTheStart runs a static program without a C library that starts four
// threads before it makes any mediated call: scrim hears of none of them, and they must run on
// the view's CPU all the same.
func TestE2ECPUConfinedFromTheStart(t *testing.T) {
	src := readTestdata(t, "early_threads.c")
	prog := testprog.C(t, string(src), "-nostdlib", "-static", "-fno-stack-protector")
	var self unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &self))
	first := -1
	for i := 0; first < 0; i++ {
		if self.IsSet(i) {
			first = i
		}
	}
	r := runScrim(t, []string{"--cpus", "1"}, prog)
	require.Equal(t, 0, r.code, r.stderr)
	want := strings.Repeat(fmt.Sprintf("thread\t%d\n", first), 4) + fmt.Sprintf("getcpu %d\n", first)
	require.Equal(t, want, r.stdout)
}

// TestE2ECPUAffinityReadBack: with --cpus larger than the host, the affinity a program sets
// within the view is what it, its new threads' creator and its children read back.
func TestE2ECPUAffinityReadBack(t *testing.T) {
	n := strconv.Itoa(hostCPUCount() + 6)
	out := py(t, []string{"--cpus", n}, `import os, subprocess, sys
print(len(os.sched_getaffinity(0)))
os.sched_setaffinity(0, {1})
print(sorted(os.sched_getaffinity(0)))
sys.stdout.flush()
subprocess.run([sys.executable, "-I", "-c", "import os; print(sorted(os.sched_getaffinity(0)))"], check=True)
os.sched_setaffinity(0, {0, 3, 5})
print(sorted(os.sched_getaffinity(0)))
print([l for l in open("/proc/self/status") if l.startswith("Cpus_allowed_list")][0], end="")`)
	require.Equal(t, n+"\n[1]\n[1]\n[0, 3, 5]\nCpus_allowed_list:\t0,3,5\n", out)
}

// TestE2ECPUCounters reads, with --cpus 1, every file that counts CPUs and lists the
// directories that hold one entry per CPU.
func TestE2ECPUCounters(t *testing.T) {
	out := sh(t, []string{"--cpus", "1"}, `
		echo "cpuinfo $(grep -c ^processor /proc/cpuinfo)"
		echo "stat $(grep -c '^cpu[0-9]' /proc/stat)"
		echo "interrupts $(head -1 /proc/interrupts | wc -w)"
		echo "softirqs $(head -1 /proc/softirqs | wc -w)"
		echo "online $(cat /sys/devices/system/cpu/online) possible $(cat /sys/devices/system/cpu/possible) present $(cat /sys/devices/system/cpu/present)"
		echo "cpudirs $(ls /sys/devices/system/cpu | grep -c '^cpu[0-9]')"
		echo "clockevents $(ls /sys/devices/system/clockevents | grep -c '^clockevent[0-9]')"
		echo "default_smp_affinity $(cat /proc/irq/default_smp_affinity)"
		echo "workqueue $(cat /sys/devices/virtual/workqueue/cpumask)"
		grep Cpus_allowed /proc/self/status
		test -e /sys/devices/system/cpu/cpu1 && echo "cpu1 exists"
		test -e /sys/devices/system/clockevents/clockevent1/current_device && echo "clockevent1 exists"
		echo "bus cpus $(ls /sys/bus/cpu/devices | grep -c '^cpu[0-9]')"
		test -L /sys/bus/cpu/devices/cpu1 && echo "cpu1 link exists"
		echo "node links beyond cpu0 $(ls /sys/devices/system/node/node0 2>/dev/null | grep -c '^cpu[1-9]')"
		echo "caches shared beyond cpu0 $(cat /sys/devices/system/cpu/cpu0/cache/index*/shared_cpu_list 2>/dev/null | grep -cvx 0)"
		true`)
	require.Equal(t, `cpuinfo 1
stat 1
interrupts 1
softirqs 1
online 0 possible 0 present 0
cpudirs 1
clockevents 1
default_smp_affinity 1
workqueue 1
Cpus_allowed:	1
Cpus_allowed_list:	0
bus cpus 1
node links beyond cpu0 0
caches shared beyond cpu0 0
`, out)
}

// hostCPUCount is how many CPUs the test may run on.
func hostCPUCount() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 1
	}
	return set.Count()
}

// TestE2ECPURuntimes: Go, Python, Node and Java count the CPUs --cpus says, below the host's
// count (TestE2ECPU runs them with one) and above it.
func TestE2ECPURuntimes(t *testing.T) {
	n := strconv.Itoa(hostCPUCount() + 1)
	flags := []string{"--cpus", n}
	t.Run("go", func(t *testing.T) {
		r := runScrim(t, flags, buildGoHelper(t))
		require.Equal(t, 0, r.code, r.stderr)
		require.True(t, strings.HasPrefix(r.stdout, n+" "), r.stdout)
	})
	t.Run("python", func(t *testing.T) {
		require.Equal(t, n+" "+n+"\n", py(t, flags, "import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))"))
	})
	t.Run("node", func(t *testing.T) {
		node := needTool(t, "node")
		r := runScrim(t, flags, node, "-e", "const os = require('os'); console.log(os.cpus().length, os.availableParallelism ? os.availableParallelism() : os.cpus().length)")
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, n+" "+n+"\n", r.stdout)
	})
	t.Run("java", func(t *testing.T) {
		java := needTool(t, "java")
		r := runScrim(t, flags, java, "-Xshare:auto", "-cp", javaProbe(t), "Probe", "cpus")
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, n+"\n", r.stdout)
	})
}

// TestE2ECPUCgroup reads the CPU quota of the sandbox's own cgroup, v2 or v1, where the file
// exists.
func TestE2ECPUCgroup(t *testing.T) {
	out := sh(t, []string{"--cpus", "2"}, `
		v2=$(sed -n 's/^0:://p' /proc/self/cgroup)
		v1=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}cpu\(,[^:]*\)\{0,1\}:\(.*\)/\3/p' /proc/self/cgroup)
		for f in /sys/fs/cgroup$v2/cpu.max /sys/fs/cgroup/unified$v2/cpu.max /sys/fs/cgroup/cpu$v1/cpu.cfs_quota_us \
			/sys/fs/cgroup/cpu,cpuacct$v1/cpu.cfs_quota_us; do
			[ -f "$f" ] && echo "$(basename "$f") $(cat "$f")"
		done
		true`)
	if out == "" {
		t.Skip("the sandbox's cgroup has no CPU quota file here (a v2 root cgroup has none)")
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch f[0] {
		case "cpu.max":
			require.Len(t, f, 3, line)
			quota, err1 := strconv.Atoi(f[1])
			period, err2 := strconv.Atoi(f[2])
			require.NoError(t, err1, line)
			require.NoError(t, err2, line)
			require.Equal(t, 2*period, quota, line)
		case "cpu.cfs_quota_us":
			require.Equal(t, "cpu.cfs_quota_us 200000", line)
		}
	}
}

// TestCPUEntriesOutsideTheView: the other directories that hold an entry per CPU, the bus
// links and the NUMA node's links, agree with the CPU directories: a CPU outside the view has
// no entry there either, to a listing, a stat or a readlink.
func TestCPUEntriesOutsideTheView(t *testing.T) {
	h := build(t, Options{CPUs: 1}, idCPU, &fakeSandbox{pids: []int{os.Getpid()}}).(*cpuView)
	h.limit = false // do not pin the test's own threads
	for _, p := range []string{"/sys/bus/cpu/devices/cpu1", "/sys/bus/clockevents/devices/clockevent1",
		"/sys/bus/machinecheck/devices/machinecheck1", "/sys/devices/system/node/node0/cpu1",
		"/sys/devices/system/node/node1/cpu3"} {
		require.Equal(t, shim.Deny(unix.ENOENT), open(t, h, p, unix.O_RDONLY), p)
	}
	for _, p := range []string{"/sys/bus/cpu/devices/cpu0", "/sys/devices/system/node/node0/cpu0",
		"/sys/devices/system/node/node0/meminfo", "/sys/bus/clockevents/devices/broadcast"} {
		require.Equal(t, shim.ActNext, open(t, h, p, unix.O_RDONLY).Action, p)
	}
	var st unix.Stat_t
	if err := unix.Stat("/sys/devices/system/node/node0", &st); err != nil {
		t.Skip("skipped: this kernel has no NUMA node directories")
	}
	keep := h.filter(&st, unix.SYSFS_MAGIC)
	require.NotNil(t, keep, "the node's listing is filtered")
	require.True(t, keep([]byte("cpu0")))
	require.False(t, keep([]byte("cpu1")))
	require.True(t, keep([]byte("cpulist")))
	require.True(t, keep([]byte("meminfo")))
}

// TestCPUCacheShared: a cache the host shares between CPUs is shared by every CPU of the view,
// as the view is one package; a cache of one CPU stays its own.
func TestCPUCacheShared(t *testing.T) {
	host := map[string]string{
		"index0/shared_cpu_map": "1\n", "index0/shared_cpu_list": "0\n",
		"index3/shared_cpu_map": "f\n", "index3/shared_cpu_list": "0-3\n",
	}
	for _, tt := range []struct {
		n    int
		path string
		want string
	}{
		{1, "cpu0/cache/index3/shared_cpu_map", "1\n"},
		{1, "cpu0/cache/index3/shared_cpu_list", "0\n"},
		{1, "cpu0/cache/index0/shared_cpu_list", "0\n"},
		{2, "cpu1/cache/index3/shared_cpu_map", "3\n"},
		{2, "cpu1/cache/index3/shared_cpu_list", "0-1\n"},
		{2, "cpu1/cache/index0/shared_cpu_map", "2\n"},
		{2, "cpu1/cache/index0/shared_cpu_list", "1\n"},
	} {
		c := &cpuView{n: tt.n, hostCPUs: []int{0, 1, 2, 3}, readHost: func(name string) ([]byte, error) {
			_, rest, _ := strings.Cut(name, "/cache/")
			if s, ok := host[rest]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		}}
		req := &shim.Request{Path: []byte(sysCPU + "/" + tt.path), Object: shim.Object{Exists: true, Mode: unix.S_IFREG, FsType: unix.SYSFS_MAGIC}}
		res, err := c.Open(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, shim.ActServe, res.Action, "%d %s", tt.n, tt.path)
		require.Equal(t, tt.want, string(res.Content.(shim.Bytes).Data), "%d %s", tt.n, tt.path)
	}
	c := &cpuView{n: 1, hostCPUs: []int{0}, readHost: func(string) ([]byte, error) { return nil, os.ErrNotExist }}
	req := &shim.Request{Path: []byte(sysCPU + "/cpu0/cache/index9/shared_cpu_map"), Object: shim.Object{FsType: unix.SYSFS_MAGIC}}
	res, err := c.Open(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, shim.ActNext, res.Action, "a cache the host lacks: the real open says so")
}
