package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idCPU = "builtin.cpu"

const sysCPU = "/sys/devices/system/cpu"

// cpuTopology lists the files below sysCPU/cpuK/topology that lscpu and hwloc read, and
// whether each is a list ("0-3") or a mask ("f").
var cpuTopology = map[string]struct {
	list bool
	// own is true when the set is just the CPU itself; otherwise it is every virtual CPU:
	// the view is one package with one core per CPU and one thread per core.
	own bool
}{
	"thread_siblings":      {false, true},
	"thread_siblings_list": {true, true},
	"core_cpus":            {false, true},
	"core_cpus_list":       {true, true},
	"cluster_cpus":         {false, true},
	"cluster_cpus_list":    {true, true},
	"core_siblings":        {false, false},
	"core_siblings_list":   {true, false},
	"die_cpus":             {false, false},
	"die_cpus_list":        {true, false},
	"package_cpus":         {false, false},
	"package_cpus_list":    {true, false},
}

// cpuView makes the sandbox see n processors: /proc/cpuinfo, /proc/stat, the sysfs CPU lists,
// topology and directory, and sched_getaffinity. When n is no more than the CPUs scrim may use,
// every thread of the sandbox is also really confined to n of them.
type cpuView struct {
	n       int
	log     hclog.Logger
	sandbox shim.Sandbox
	// hostCPUs are the host CPUs scrim may run on; virtual CPU i is hostCPUs[i].
	hostCPUs []int
	// limit is true when n <= len(hostCPUs): the sandbox is pinned to hostCPUs[:n].
	limit bool
	// maskBytes is what the kernel's sched_getaffinity returns: its cpumask size.
	maskBytes int
	// readHost reads a host file; tests replace it.
	readHost func(name string) ([]byte, error)
	// pseudo identifies /proc/cpuinfo and /proc/stat in any procfs mount.
	pseudo map[pseudoID]string
	// dirInos are the sysfs directories that list one entry per CPU, with the entries'
	// prefix ("cpu", "clockevent").
	dirInos map[uint64]string

	// chosen is, when the view is larger than the host (!limit), the affinity each thread set
	// in the view's numbering: several virtual CPUs then share a host CPU, so the host mask
	// alone cannot say which of them the thread chose.
	mu     sync.Mutex
	chosen map[int]chosenMask
}

// chosenMask is one thread's sched_setaffinity in the view's numbering. It answers
// sched_getaffinity while the thread (told from a later one with its tid by its start time)
// still has the host mask it produced.
type chosenMask struct {
	start uint64
	host  unix.CPUSet
	view  []byte
}

// chosenMax bounds the remembered masks: past it, those of exited threads are dropped.
const chosenMax = 1024

var (
	_ shim.Handler        = (*cpuView)(nil)
	_ shim.SyscallHandler = (*cpuView)(nil)
	_ shim.Provisioner    = (*cpuView)(nil)
	_ shim.CPUConfiner    = (*cpuView)(nil)
)

func newCPU(opts Options, list *listing) (shim.Handler, error) {
	if opts.CPUs > 8192 {
		return nil, fmt.Errorf("cpus %d: more than the kernel supports", opts.CPUs)
	}
	c := &cpuView{n: opts.CPUs, readHost: os.ReadFile}
	list.add(c)
	return c, nil
}

func (c *cpuView) ID() string { return idCPU }

// Provision learns which CPUs scrim may use and the kernel's cpumask size.
func (c *cpuView) Provision(env shim.Env) error {
	c.log = env.Log
	c.sandbox = env.Sandbox
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("cpu: sched_getaffinity: %w", err)
	}
	c.hostCPUs = c.hostCPUs[:0]
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			c.hostCPUs = append(c.hostCPUs, i)
		}
	}
	if len(c.hostCPUs) == 0 {
		return fmt.Errorf("cpu: sched_getaffinity: empty set")
	}
	c.limit = c.n <= len(c.hostCPUs)
	size, err := kernelMaskBytes()
	if err != nil {
		return fmt.Errorf("cpu: sched_getaffinity: %w", err)
	}
	c.maskBytes = size
	if !c.limit {
		c.log.Warn("cpu view larger than the host: the sandbox sees more CPUs than it can use",
			"shim", idCPU, "cpus", c.n, "host_cpus", len(c.hostCPUs))
	}
	root := rootOf(env, "")
	c.pseudo = map[pseudoID]string{}
	for _, p := range []string{"/proc/cpuinfo", "/proc/stat", "/proc/interrupts", "/proc/softirqs", "/proc/irq/default_smp_affinity"} {
		if obj, ok, err := objectInRoot(root, p); err == nil && ok && obj.FsType == unix.PROC_SUPER_MAGIC {
			c.pseudo[pseudoID{obj.FsType, obj.Ino}] = p
		}
	}
	c.dirInos = map[uint64]string{}
	dirs := maps.Clone(cpuDirs)
	if ents, err := os.ReadDir(memoryNodeDir); err == nil {
		for _, e := range ents {
			if num, ok := strings.CutPrefix(e.Name(), "node"); ok && isDecimal(num) {
				dirs[memoryNodeDir+"/"+e.Name()] = "cpu" // a link per CPU of the node
			}
		}
	}
	for dir, prefix := range dirs {
		if obj, ok, err := objectInRoot(root, dir); err == nil && ok && obj.FsType == unix.SYSFS_MAGIC {
			c.dirInos[obj.Ino] = prefix
		}
	}
	return nil
}

// perCPUEntries are the directories below which an entry named prefix+K stands for CPU K,
// other than sysCPU itself: a CPU outside the view has none, whatever call looks.
var perCPUEntries = []struct{ dir, prefix string }{
	{sysClockevents, "clockevent"},
	{sysMachinecheck, "machinecheck"},
	{"/sys/bus/cpu/devices", "cpu"},
	{"/sys/bus/clockevents/devices", "clockevent"},
	{"/sys/bus/machinecheck/devices", "machinecheck"},
}

// isDecimal says whether s is a number as sysfs names spell it: digits, no leading zero.
func isDecimal(s string) bool {
	k, err := strconv.Atoi(s)
	return err == nil && k >= 0 && strconv.Itoa(k) == s
}

// cpuDirs are the sysfs directories that hold one entry per CPU, and the entries' prefix.
var cpuDirs = map[string]string{
	sysCPU:                          "cpu",
	"/sys/bus/cpu/devices":          "cpu",
	sysClockevents:                  "clockevent",
	"/sys/bus/clockevents/devices":  "clockevent",
	sysMachinecheck:                 "machinecheck",
	"/sys/bus/machinecheck/devices": "machinecheck",
}

// sysMachinecheck holds a machinecheckK directory per CPU on x86 machines with machine-check
// support.
const sysMachinecheck = "/sys/devices/system/machinecheck"

// sysClockevents holds a clockeventK directory per CPU, beside broadcast.
const sysClockevents = "/sys/devices/system/clockevents"

// sysWorkqueue holds the workqueues' CPU masks: cpumask (where unbound work may run),
// cpumask_requested, cpumask_isolated, and a cpumask per workqueue.
const sysWorkqueue = "/sys/devices/virtual/workqueue"

// ConfineCPUs is the view's host CPUs when the sandbox is really confined to them: the thread
// that starts the program is, so every thread of the sandbox is from its first instruction.
func (c *cpuView) ConfineCPUs() []int {
	if !c.limit {
		return nil
	}
	return c.hostCPUs[:c.n]
}

// Open serves the CPU files and hides the directories of CPUs outside the view.
func (c *cpuView) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	c.pin(req.TID)
	obj := req.Object
	p := string(req.Path)
	if obj.Exists && isPseudoFS(obj.FsType) {
		if name, ok := c.pseudo[pseudoID{obj.FsType, obj.Ino}]; ok {
			p = name
		}
	}
	onProc := !obj.Exists || obj.FsType == unix.PROC_SUPER_MAGIC
	onSys := !obj.Exists || obj.FsType == unix.SYSFS_MAGIC
	switch {
	case p == "/proc/cpuinfo" && onProc:
		host, err := c.readHost("/proc/cpuinfo")
		if err != nil {
			return shim.Result{}, fmt.Errorf("cpu: read host /proc/cpuinfo: %w", err)
		}
		return shim.ServeBytes("cpuinfo", renderCPUInfo(host, c.n)), nil
	case p == "/proc/stat" && onProc:
		host, err := c.readHost("/proc/stat")
		if err != nil {
			return shim.Result{}, fmt.Errorf("cpu: read host /proc/stat: %w", err)
		}
		return shim.ServeBytes("stat", renderStat(host, c.n, c.hostCPUs)), nil
	case (p == "/proc/interrupts" || p == "/proc/softirqs") && onProc:
		host, err := c.readHost(p)
		if err != nil {
			return shim.Result{}, fmt.Errorf("cpu: read host %s: %w", p, err)
		}
		return shim.ServeBytes(p[len("/proc/"):], renderPerCPU(host, c.n, c.hostCPUs)), nil
	case p == "/proc/irq/default_smp_affinity" && onProc:
		return shim.ServeBytes("default_smp_affinity", []byte(cpuSet(c.n, 0, false, false)+"\n")), nil
	case strings.HasPrefix(p, "/proc/irq/") && onProc:
		return c.irqAffinity(p)
	case strings.HasSuffix(p, "/status") && obj.Exists && obj.FsType == unix.PROC_SUPER_MAGIC:
		return c.status(req)
	case obj.Exists && (obj.FsType == unix.CGROUP2_SUPER_MAGIC || obj.FsType == unix.CGROUP_SUPER_MAGIC):
		return c.cgroup(req)
	case onSys && strings.HasPrefix(p, sysWorkqueue+"/"):
		return c.workqueue(p)
	case !onSys || !strings.HasPrefix(p, "/sys/devices/system/") && !strings.HasPrefix(p, "/sys/bus/"):
		return shim.Next(), nil
	}
	for _, e := range perCPUEntries {
		rest, ok := strings.CutPrefix(p, e.dir+"/"+e.prefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, "/")
		if k, _ := strconv.Atoi(num); isDecimal(num) && k >= c.n {
			return shim.Deny(unix.ENOENT), nil
		}
		return shim.Next(), nil
	}
	switch p {
	case sysCPU + "/online", sysCPU + "/possible", sysCPU + "/present":
		return shim.ServeBytes(p[len(sysCPU)+1:], []byte(cpuList(c.n)+"\n")), nil
	case sysCPU + "/offline":
		return shim.ServeBytes("offline", []byte("\n")), nil
	}
	if rest, ok := strings.CutPrefix(p, sysCPU+"/cpu"); ok {
		num, sub, _ := strings.Cut(rest, "/")
		k, err := strconv.Atoi(num)
		if err != nil || strconv.Itoa(k) != num {
			return shim.Next(), nil // cpufreq, cpuidle, ...
		}
		if k >= c.n {
			return shim.Deny(unix.ENOENT), nil
		}
		if file, ok := strings.CutPrefix(sub, "topology/"); ok {
			if t, ok := cpuTopology[file]; ok {
				return shim.ServeBytes(file, []byte(cpuSet(c.n, k, t.own, t.list)+"\n")), nil
			}
		}
		if cache, ok := strings.CutPrefix(sub, "cache/"); ok {
			if _, file, _ := strings.Cut(cache, "/"); file == "shared_cpu_map" || file == "shared_cpu_list" {
				return c.cacheShared(p, k, file == "shared_cpu_list")
			}
		}
		return shim.Next(), nil
	}
	if rest, ok := strings.CutPrefix(p, "/sys/devices/system/node/node"); ok {
		num, file, _ := strings.Cut(rest, "/")
		if cpu, ok := strings.CutPrefix(file, "cpu"); ok && isDecimal(cpu) {
			if k, _ := strconv.Atoi(cpu); k >= c.n {
				return shim.Deny(unix.ENOENT), nil
			}
			return shim.Next(), nil
		}
		if file != "cpulist" && file != "cpumap" {
			return shim.Next(), nil
		}
		var out string
		switch {
		case num != "0" && file == "cpulist":
			out = ""
		case num != "0":
			out = cpuMask(c.n, nil)
		default:
			out = cpuSet(c.n, 0, false, file == "cpulist")
		}
		return shim.ServeBytes(file, []byte(out+"\n")), nil
	}
	return shim.Next(), nil
}

// cacheShared serves the CPUs that share a cache of CPU k, as the view is one package with one
// thread per core: the CPU alone where the host's cache is one CPU's, else every CPU of the
// view (lscpu and hwloc count cache instances from these).
func (c *cpuView) cacheShared(p string, k int, list bool) (shim.Result, error) {
	host, err := c.readHost(p)
	if err != nil {
		return shim.Next(), nil // the real open says why
	}
	bits, ok := parseCPUs(strings.TrimSpace(string(host)), list)
	if !ok {
		return shim.Result{}, fmt.Errorf("cpu: parse host %s: %q", p, host)
	}
	return shim.ServeBytes(p[strings.LastIndexByte(p, '/')+1:], []byte(cpuSet(c.n, k, len(bits) <= 1, list)+"\n")), nil
}

// filter hides the entries of CPUs outside the view in the directories of cpuDirs: cpuK of
// sysCPU and /sys/bus/cpu/devices, clockeventK of the clockevents directories, and the cpuK
// links of each NUMA node directory.
func (c *cpuView) filter(st *unix.Stat_t, fs int64) func(name []byte) bool {
	prefix, ok := c.dirInos[st.Ino]
	if fs != unix.SYSFS_MAGIC || !ok {
		return nil
	}
	return func(name []byte) bool {
		num, ok := bytes.CutPrefix(name, []byte(prefix))
		if !ok {
			return true
		}
		k, err := strconv.Atoi(string(num))
		if err != nil || strconv.Itoa(k) != string(num) {
			return true
		}
		return k < c.n
	}
}

// irqAffinity serves the CPU sets of /proc/irq/N: smp_affinity, effective_affinity and
// affinity_hint as masks, their _list forms as lists, the host's sets seen in the view's
// numbering (viewOfHost). An IRQ that goes only to host CPUs outside the view shows every CPU
// of the view.
func (c *cpuView) irqAffinity(p string) (shim.Result, error) {
	rest := strings.TrimPrefix(p, "/proc/irq/")
	num, file, ok := strings.Cut(rest, "/")
	if _, err := strconv.Atoi(num); err != nil || !ok {
		return shim.Next(), nil
	}
	list := strings.HasSuffix(file, "_list")
	switch strings.TrimSuffix(file, "_list") {
	case "smp_affinity", "effective_affinity":
	case "affinity_hint":
		if list {
			return shim.Next(), nil
		}
	default:
		return shim.Next(), nil
	}
	host, err := c.readHost(p)
	if err != nil {
		// The IRQ is gone, or the file is not readable: the real open says which.
		return shim.Next(), nil
	}
	bits, ok := parseCPUs(strings.TrimSpace(string(host)), list)
	if !ok {
		return shim.Result{}, fmt.Errorf("cpu: parse host %s: %q", p, host)
	}
	view := c.viewOfHost(bits)
	if len(view) == 0 && !strings.HasPrefix(file, "affinity_hint") {
		// The IRQ goes to host CPUs outside the view; a kernel never shows an IRQ with no CPU.
		view = c.viewOfHost(c.hostCPUs)
	}
	out := cpuMask(c.n, view)
	if list {
		out = cpuListOf(view)
	}
	return shim.ServeBytes(file, []byte(out+"\n")), nil
}

// status serves /proc/PID/status and /proc/PID/task/TID/status with Cpus_allowed and
// Cpus_allowed_list in the view's numbering, as sched_getaffinity answers for the task. The
// rest is the real file, read as the caller.
func (c *cpuView) status(req *shim.Request) (shim.Result, error) {
	p := string(req.Path)
	parts := strings.Split(strings.TrimPrefix(p, "/proc/"), "/")
	var num string
	switch {
	case len(parts) == 2:
		num = parts[0]
	case len(parts) == 4 && parts[1] == "task":
		num = parts[2]
	default:
		return shim.Next(), nil
	}
	tid, err := strconv.Atoi(num)
	if err != nil || strconv.Itoa(tid) != num || !c.contains(tid) {
		return shim.Next(), nil
	}
	var real []byte
	if req.Target != nil {
		f, err := req.Target.Open(unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			// The caller may not read it, or the task is gone: the real open says which.
			return shim.Next(), nil
		}
		real, err = io.ReadAll(io.LimitReader(f, 1<<20))
		f.Close()
		if err != nil {
			return shim.Next(), nil
		}
	} else if real, err = c.readHost(p); err != nil {
		return shim.Next(), nil
	}
	var host unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &host); err != nil {
		return shim.Next(), nil
	}
	tgid := tid
	for _, line := range strings.Split(string(real), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			tgid, _ = strconv.Atoi(strings.TrimSpace(v))
			break
		}
	}
	view := c.viewOfTask(tid, tgid, &host)
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(real), "\n") {
		switch {
		case strings.HasPrefix(line, "Cpus_allowed:"):
			out.WriteString("Cpus_allowed:\t" + cpuMask(c.n, view) + "\n")
		case strings.HasPrefix(line, "Cpus_allowed_list:"):
			out.WriteString("Cpus_allowed_list:\t" + cpuListOf(view) + "\n")
		default:
			out.WriteString(line)
		}
	}
	return shim.ServeBytes("status", []byte(out.String())), nil
}

// viewOfTask is the affinity of task tid (of thread group tgid, with the host mask host) in
// the view's numbering: what it chose, where the view is larger than the host and scrim
// remembers it, else the virtual CPUs whose host CPUs are in host.
func (c *cpuView) viewOfTask(tid, tgid int, host *unix.CPUSet) []int {
	if mask, ok := c.recall(tid, tgid, host); ok {
		var out []int
		for i := 0; i < c.n && i/8 < len(mask); i++ {
			if mask[i/8]&(1<<(i%8)) != 0 {
				out = append(out, i)
			}
		}
		return out
	}
	var bits []int
	for _, h := range c.hostCPUs {
		if host.IsSet(h) {
			bits = append(bits, h)
		}
	}
	return c.viewOfHost(bits)
}

// viewOfHost is the set of virtual CPUs whose host CPU is in bits.
func (c *cpuView) viewOfHost(bits []int) []int {
	in := map[int]bool{}
	for _, b := range bits {
		in[b] = true
	}
	var out []int
	for i := 0; i < c.n; i++ {
		if in[c.hostCPUs[i%len(c.hostCPUs)]] {
			out = append(out, i)
		}
	}
	return out
}

// workqueue serves the workqueue masks: every CPU of the view where the host's say where
// work may run, none for cpumask_isolated.
func (c *cpuView) workqueue(p string) (shim.Result, error) {
	base := p[strings.LastIndexByte(p, '/')+1:]
	switch base {
	case "cpumask", "cpumask_requested":
		return shim.ServeBytes(base, []byte(cpuSet(c.n, 0, false, false)+"\n")), nil
	case "cpumask_isolated":
		return shim.ServeBytes(base, []byte(cpuMask(c.n, nil)+"\n")), nil
	}
	return shim.Next(), nil
}

// cgroupPeriod is the kernel's default CFS period, in microseconds.
const cgroupPeriod = 100000

// cgroup serves the cgroup files that count CPUs, wherever a cgroup filesystem is mounted:
// cpu.max (v2) and cpu.cfs_quota_us (v1) as a quota of N whole CPUs per period, so a runtime
// that sizes itself from the quota (Java, Go's GOMAXPROCS) finds N, and the cpuset lists as
// the view's CPUs.
func (c *cpuView) cgroup(req *shim.Request) (shim.Result, error) {
	p := string(req.Path)
	base := p[strings.LastIndexByte(p, '/')+1:]
	switch base {
	case "cpuset.cpus", "cpuset.cpus.effective", "cpuset.effective_cpus":
		return shim.ServeBytes(base, []byte(cpuList(c.n)+"\n")), nil
	case "cpu.max":
		period := uint64(cgroupPeriod)
		if host, err := c.readHost(p); err == nil {
			if f := strings.Fields(string(host)); len(f) == 2 {
				if v, err := strconv.ParseUint(f[1], 10, 64); err == nil && v > 0 {
					period = v
				}
			}
		}
		return shim.ServeBytes(base, []byte(fmt.Sprintf("%d %d\n", uint64(c.n)*period, period))), nil
	case "cpu.cfs_quota_us":
		period := uint64(cgroupPeriod)
		if host, err := c.readHost(p[:len(p)-len(base)] + "cpu.cfs_period_us"); err == nil {
			if v, err := strconv.ParseUint(strings.TrimSpace(string(host)), 10, 64); err == nil && v > 0 {
				period = v
			}
		}
		return shim.ServeBytes(base, []byte(fmt.Sprintf("%d\n", uint64(c.n)*period))), nil
	}
	return shim.Next(), nil
}

// Syscalls are sched_setaffinity and sched_getaffinity.
func (c *cpuView) Syscalls() []int {
	return []int{unix.SYS_SCHED_SETAFFINITY, unix.SYS_SCHED_GETAFFINITY}
}

// Syscall answers the affinity calls in the view's numbering: virtual CPU i is host CPU
// hostCPUs[i].
func (c *cpuView) Syscall(_ context.Context, call *shim.Call) (shim.SyscallResult, error) {
	c.pin(call.TID)
	pid := int(int32(call.Args[0]))
	size := call.Args[1]
	addr := call.Args[2]
	switch {
	case pid < 0:
		return shim.Fail(unix.EINVAL), nil
	case pid == 0:
		pid = call.TID
	default:
		if !c.contains(pid) {
			return shim.Fail(unix.ESRCH), nil
		}
	}
	if call.Nr == unix.SYS_SCHED_GETAFFINITY {
		return c.getaffinity(call, pid, size, addr)
	}
	// scrim makes the call with its own rights, so it checks the caller's as the kernel does
	// (kernel/sched/syscalls.c check_same_owner, CAP_SYS_NICE).
	if pid != call.TID && !mayAffect(call.PID, pid) {
		return shim.Fail(unix.EPERM), nil
	}
	return c.setaffinity(call, pid, size, addr)
}

// contains reports whether pid is the sandbox's; without a sandbox nothing is.
func (c *cpuView) contains(pid int) bool {
	return c.sandbox != nil && c.sandbox.Contains(pid)
}

func (c *cpuView) getaffinity(call *shim.Call, pid int, size, addr uint64) (shim.SyscallResult, error) {
	// kernel/sched/syscalls.c: the length must cover nr_cpu_ids and be a multiple of a long.
	if size%8 != 0 || size*8 < uint64(c.n) {
		return shim.Fail(unix.EINVAL), nil
	}
	var real unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &real); err != nil {
		return shim.Fail(errnoOf(err)), nil
	}
	ret := max(uint64(c.maskBytes), uint64((c.n+63)/64*8))
	ret = min(ret, size, 8192)
	mask := make([]byte, ret)
	tgid := call.PID
	if pid != call.TID {
		ids, ok := readStatusIDs(pid)
		if !ok {
			return shim.Fail(unix.ESRCH), nil
		}
		tgid = ids.tgid
	}
	for _, i := range c.viewOfTask(pid, tgid, &real) {
		mask[i/8] |= 1 << (i % 8)
	}
	if _, err := call.Mem.WriteAt(mask, addr); err != nil {
		return shim.Fail(unix.EFAULT), nil
	}
	return shim.Return(int64(ret)), nil
}

func (c *cpuView) setaffinity(call *shim.Call, pid int, size, addr uint64) (shim.SyscallResult, error) {
	mask := make([]byte, min(size, 8192))
	if len(mask) > 0 {
		if _, err := call.Mem.ReadAt(mask, addr); err != nil {
			return shim.Fail(unix.EFAULT), nil
		}
	}
	var set unix.CPUSet
	view := make([]byte, (c.n+7)/8)
	for i := 0; i < c.n && i/8 < len(mask); i++ {
		if mask[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		view[i/8] |= 1 << (i % 8)
		if c.limit {
			set.Set(c.hostCPUs[i])
		} else {
			set.Set(c.hostCPUs[i%len(c.hostCPUs)])
		}
	}
	if set.Count() == 0 {
		return shim.Fail(unix.EINVAL), nil
	}
	if err := unix.SchedSetaffinity(pid, &set); err != nil {
		return shim.Fail(errnoOf(err)), nil
	}
	if !c.limit {
		c.remember(pid, set, view)
	}
	return shim.Return(0), nil
}

// remember keeps the mask tid chose in the view's numbering (see chosen).
func (c *cpuView) remember(tid int, host unix.CPUSet, view []byte) {
	st, ok := readTaskStat(tid)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chosen == nil {
		c.chosen = map[int]chosenMask{}
	}
	if len(c.chosen) >= chosenMax {
		for t, m := range c.chosen {
			if now, ok := readTaskStat(t); !ok || now.start != m.start {
				delete(c.chosen, t)
			}
		}
	}
	c.chosen[tid] = chosenMask{start: st.start, host: host, view: view}
}

// recall finds the mask in the view's numbering that explains tid's host mask: its own
// choice, else that of its thread group leader or of the nearest process it descends from in
// the sandbox, whose mask it inherited when it was created. A choice counts only while the
// thread that made it lives and still has the host mask it produced, and only if that is
// tid's host mask. With a view no larger than the host, each virtual CPU is its own host CPU
// and the host mask says everything.
func (c *cpuView) recall(tid, tgid int, host *unix.CPUSet) ([]byte, bool) {
	if c.limit {
		return nil, false
	}
	c.mu.Lock()
	empty := len(c.chosen) == 0
	c.mu.Unlock()
	if empty {
		return nil, false
	}
	try := func(t int) ([]byte, bool) {
		c.mu.Lock()
		m, ok := c.chosen[t]
		c.mu.Unlock()
		if !ok || m.host != *host {
			return nil, false
		}
		var now unix.CPUSet
		if st, ok := readTaskStat(t); !ok || st.start != m.start || unix.SchedGetaffinity(t, &now) != nil || now != m.host {
			return nil, false
		}
		return m.view, true
	}
	if v, ok := try(tid); ok {
		return v, true
	}
	for p, depth := tgid, 0; p > 0 && depth < 32 && c.contains(p); depth++ {
		if p != tid {
			if v, ok := try(p); ok {
				return v, true
			}
		}
		st, ok := readTaskStat(p)
		if !ok {
			break
		}
		p = st.ppid
	}
	return nil, false
}

// taskStat is what /proc/<tid>/stat says of a task's parent and start.
type taskStat struct {
	ppid  int
	start uint64
}

// readTaskStat reads the parent (field 4) and the start time (field 22) of /proc/<tid>/stat.
// The command name (field 2) may hold spaces and parentheses: the fields after it start after
// the last ')'.
func readTaskStat(tid int) (taskStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return taskStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return taskStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state).
	if len(f) < 20 {
		return taskStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return taskStat{}, false
	}
	return taskStat{ppid: ppid, start: start}, true
}

// pin confines tid to the view's CPUs. Affinity is inherited by every thread and process a task
// creates, so confining each task before it creates others covers the sandbox; checking every
// caller covers the rest. A thread already inside the view (perhaps narrowed by its own
// sched_setaffinity) is left as it is; one outside is narrowed to its CPUs inside the view, or
// to the whole view if it has none there. It keeps no per-thread state, so nothing grows with
// the number of threads the sandbox ever had.
func (c *cpuView) pin(tid int) {
	if !c.limit || tid <= 0 {
		return
	}
	var real unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &real); err != nil {
		return // it exited
	}
	var inside, view unix.CPUSet
	for _, h := range c.hostCPUs[:c.n] {
		view.Set(h)
		if real.IsSet(h) {
			inside.Set(h)
		}
	}
	if inside.Count() == real.Count() {
		return
	}
	if inside.Count() == 0 {
		inside = view
	}
	if err := unix.SchedSetaffinity(tid, &inside); err != nil && c.log != nil {
		c.log.Warn("cannot confine thread to the CPU view", "shim", idCPU, "tid", tid, "error", err)
	}
}

// capSysNice is CAP_SYS_NICE's bit in a capability set.
const capSysNice = 23

// mayAffect reports whether process caller may change the affinity of task target: it has
// CAP_SYS_NICE, or its effective uid is the target's real or effective uid.
func mayAffect(caller, target int) bool {
	c, okc := readStatusIDs(caller)
	t, okt := readStatusIDs(target)
	if !okc || !okt {
		return false
	}
	return c.capEff&(1<<capSysNice) != 0 || c.euid == t.euid || c.euid == t.ruid
}

type statusIDs struct {
	ruid, euid uint64
	capEff     uint64
	tgid       int
}

// readStatusIDs reads the uids and effective capabilities of /proc/<pid>/status.
func readStatusIDs(pid int) (statusIDs, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return statusIDs{}, false
	}
	var ids statusIDs
	var haveUID, haveCap bool
	for _, line := range strings.Split(string(b), "\n") {
		key, val, _ := strings.Cut(line, ":")
		f := strings.Fields(val)
		switch {
		case key == "Uid" && len(f) >= 2:
			ids.ruid, _ = strconv.ParseUint(f[0], 10, 64)
			ids.euid, _ = strconv.ParseUint(f[1], 10, 64)
			haveUID = true
		case key == "Tgid" && len(f) == 1:
			ids.tgid, _ = strconv.Atoi(f[0])
		case key == "CapEff" && len(f) == 1:
			ids.capEff, _ = strconv.ParseUint(f[0], 16, 64)
			haveCap = true
		}
	}
	return ids, haveUID && haveCap
}

// kernelMaskBytes is the length the kernel's sched_getaffinity reports: its cpumask size.
func kernelMaskBytes() (int, error) {
	var set unix.CPUSet
	n, err := schedGetaffinityRaw(0, &set)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// errnoOf extracts the errno of err, EIO when there is none.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// cpuList renders 0..n-1 as the kernel's cpulist format ("0", "0-3").
func cpuList(n int) string {
	if n == 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// cpuSet renders a CPU's topology set: the CPU alone (own) or all n, as a list or a mask.
func cpuSet(n, k int, own, list bool) string {
	if list {
		if own {
			return strconv.Itoa(k)
		}
		return cpuList(n)
	}
	if own {
		return cpuMask(n, []int{k})
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return cpuMask(n, all)
}

// cpuMask renders bits as the kernel's "%*pb" bitmap of nbits: hex, in comma-separated
// 32-bit groups, the first group only as wide as it needs to be.
func cpuMask(nbits int, bits []int) string {
	words := make([]uint32, (nbits+31)/32)
	for _, b := range bits {
		words[b/32] |= 1 << (b % 32)
	}
	var parts []string
	for i := len(words) - 1; i >= 0; i-- {
		width := 8
		if i == len(words)-1 && nbits%32 != 0 {
			width = (nbits%32 + 3) / 4
		}
		parts = append(parts, fmt.Sprintf("%0*x", width, words[i]))
	}
	return strings.Join(parts, ",")
}

// parseCPUs reads a CPU set as the kernel prints it: a list ("0-3,8") or a "%*pb" mask
// ("ff,00000001").
func parseCPUs(s string, list bool) ([]int, bool) {
	var out []int
	if s == "" {
		return nil, true
	}
	if list {
		for _, r := range strings.Split(s, ",") {
			lo, hi, isRange := strings.Cut(r, "-")
			a, err := strconv.Atoi(lo)
			if err != nil || a < 0 {
				return nil, false
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
					return nil, false
				}
			}
			for k := a; k <= b; k++ {
				out = append(out, k)
			}
		}
		return out, true
	}
	groups := strings.Split(s, ",")
	for g := range groups {
		w, err := strconv.ParseUint(groups[len(groups)-1-g], 16, 32)
		if err != nil {
			return nil, false
		}
		for bit := 0; bit < 32; bit++ {
			if w&(1<<bit) != 0 {
				out = append(out, 32*g+bit)
			}
		}
	}
	return out, true
}

// cpuListOf renders ascending CPUs in the kernel's list format ("0-2,5"); none is "".
func cpuListOf(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// renderPerCPU rebuilds a table with a column per CPU (/proc/interrupts, /proc/softirqs) with
// n columns, in the kernel's format (kernel/irq/proc.c show_interrupts, fs/proc/softirqs.c):
// a header of "CPU%-8d" names, then rows of a label, a " %10u" count per CPU and the rest of
// the row. Virtual CPU i shows the counts of host CPU hostCPUs[i], cycling past the host's
// count. Rows with fewer counts than the host has CPUs (ERR, MIS) are the host's.
func renderPerCPU(host []byte, n int, hostCPUs []int) []byte {
	lines := strings.Split(strings.TrimSuffix(string(host), "\n"), "\n")
	header := strings.Fields(lines[0])
	if len(header) == 0 {
		return host
	}
	column := map[int]int{}
	for j, f := range header {
		num, ok := strings.CutPrefix(f, "CPU")
		k, err := strconv.Atoi(num)
		if !ok || err != nil {
			return host
		}
		column[k] = j
	}
	pick := make([]int, n)
	for i := range pick {
		pick[i] = i % len(header)
		if i < len(hostCPUs) {
			if j, ok := column[hostCPUs[i]]; ok {
				pick[i] = j
			}
		}
	}
	var b strings.Builder
	b.WriteString(lines[0][:len(lines[0])-len(strings.TrimLeft(lines[0], " "))])
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "CPU%-8d", i)
	}
	b.WriteByte('\n')
	for _, l := range lines[1:] {
		colon := strings.IndexByte(l, ':')
		label := strings.TrimSpace(l[:max(colon, 0)])
		counts, rest, ok := perCPUCounts(l[colon+1:], len(header))
		if colon < 0 || !ok || label == "ERR" || label == "MIS" {
			b.WriteString(l)
			b.WriteByte('\n')
			continue
		}
		b.WriteString(l[:colon+1])
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, " %10s", counts[pick[i]])
		}
		b.WriteString(rest)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// perCPUCounts splits the first k space-separated decimal counts off row.
func perCPUCounts(row string, k int) (counts []string, rest string, ok bool) {
	pos := 0
	for len(counts) < k {
		start := pos
		for start < len(row) && row[start] == ' ' {
			start++
		}
		end := start
		for end < len(row) && row[end] >= '0' && row[end] <= '9' {
			end++
		}
		if end == start || (end < len(row) && row[end] != ' ') {
			return nil, "", false
		}
		counts = append(counts, row[start:end])
		pos = end
	}
	return counts, row[pos:], true
}

// renderCPUInfo rebuilds /proc/cpuinfo for n processors from the host's own blocks, in the
// host's format: block i is host block i (cycling when n exceeds the host), renumbered as one
// package with n cores of one thread each.
func renderCPUInfo(host []byte, n int) []byte {
	var blocks [][]byte
	for _, b := range bytes.Split(host, []byte("\n\n")) {
		if len(bytes.TrimSpace(b)) > 0 {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	var out bytes.Buffer
	for i := 0; i < n; i++ {
		for _, line := range bytes.Split(blocks[i%len(blocks)], []byte("\n")) {
			key, _, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				out.Write(line)
				out.WriteByte('\n')
				continue
			}
			var v string
			switch string(bytes.TrimRight(key, " \t")) {
			case "processor", "core id", "apicid", "initial apicid":
				v = strconv.Itoa(i)
			case "physical id":
				v = "0"
			case "siblings", "cpu cores":
				v = strconv.Itoa(n)
			default:
				out.Write(line)
				out.WriteByte('\n')
				continue
			}
			out.Write(key)
			out.WriteString(": ")
			out.WriteString(v)
			out.WriteByte('\n')
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// renderStat rebuilds /proc/stat with n per-CPU lines (virtual CPU i shows host CPU
// hostCPUs[i], cycling past the host's count) and an aggregate line that is their sum. The
// other lines are the host's.
func renderStat(host []byte, n int, hostCPUs []int) []byte {
	lines := strings.Split(strings.TrimSuffix(string(host), "\n"), "\n")
	perCPU := map[int][]uint64{}
	var order []int
	aggregate := -1
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] == "cpu" {
			aggregate = i
			continue
		}
		k, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		vals := make([]uint64, len(f)-1)
		for j, s := range f[1:] {
			vals[j], _ = strconv.ParseUint(s, 10, 64)
		}
		perCPU[k] = vals
		order = append(order, k)
	}
	if aggregate < 0 || len(order) == 0 {
		return host
	}
	pick := func(i int) []uint64 {
		if i < len(hostCPUs) {
			if v, ok := perCPU[hostCPUs[i]]; ok {
				return v
			}
		}
		return perCPU[order[i%len(order)]]
	}
	var sum []uint64
	cpuLines := make([]string, n)
	for i := 0; i < n; i++ {
		v := pick(i)
		if len(sum) < len(v) {
			sum = append(sum, make([]uint64, len(v)-len(sum))...)
		}
		s := make([]string, len(v))
		for j, x := range v {
			sum[j] += x
			s[j] = strconv.FormatUint(x, 10)
		}
		cpuLines[i] = fmt.Sprintf("cpu%d %s", i, strings.Join(s, " "))
	}
	agg := make([]string, len(sum))
	for j, x := range sum {
		agg[j] = strconv.FormatUint(x, 10)
	}
	var out strings.Builder
	for i, l := range lines {
		f := strings.Fields(l)
		switch {
		case i == aggregate:
			out.WriteString("cpu  " + strings.Join(agg, " ") + "\n")
			for _, cl := range cpuLines {
				out.WriteString(cl + "\n")
			}
		case len(f) > 0 && strings.HasPrefix(f[0], "cpu"):
			// replaced by cpuLines
		default:
			out.WriteString(l + "\n")
		}
	}
	return []byte(out.String())
}
