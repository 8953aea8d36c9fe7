package builtin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idMemory = "builtin.memory"

const (
	memoryNodeDir  = "/sys/devices/system/node"
	memoryBlockDir = "/sys/devices/system/memory"
)

// memoryView makes the sandbox see a machine of total bytes: /proc/meminfo, the NUMA nodes'
// meminfo, the memory files of the cgroups the sandbox is in, the memory blocks of sysfs and
// sysinfo(2) (sysinfo.go). It is a view, not a limit: nothing stops the sandbox from using more.
type memoryView struct {
	total   uint64
	sandbox shim.Sandbox
	// readHost reads a host file and used measures the sandbox; tests replace them.
	readHost func(name string) ([]byte, error)
	used     func() uint64
	// pseudo identifies /proc/meminfo and each node's meminfo in any procfs or sysfs mount:
	// the path each stands for.
	pseudo map[pseudoID]string
	// cgroup identifies the memory files of the cgroups that hold the sandbox.
	cgroup map[fileID]cgroupFile
	// selfCgroup and selfMountinfo say where scrim's cgroups are; tests replace them.
	selfCgroup, selfMountinfo string
	// blocks are the memory blocks (memoryN below memoryBlockDir) inside the view: the
	// lowest-numbered host blocks that hold total. blockDirs are the sysfs directories that
	// list blocks. Both are nil when the host has no memory blocks.
	blocks    map[int]bool
	blockDirs map[uint64]bool
}

var (
	_ shim.Handler        = (*memoryView)(nil)
	_ shim.SyscallHandler = (*memoryView)(nil)
	_ shim.Provisioner    = (*memoryView)(nil)
)

func newMemory(opts Options, list *listing) (shim.Handler, error) {
	if opts.MemoryBytes < 1<<20 {
		return nil, fmt.Errorf("memory %d bytes: less than 1 MiB", opts.MemoryBytes)
	}
	m := &memoryView{
		total: opts.MemoryBytes, readHost: os.ReadFile,
		selfCgroup: "/proc/self/cgroup", selfMountinfo: "/proc/self/mountinfo",
	}
	m.used = m.sandboxRSS
	list.add(m)
	return m, nil
}

func (m *memoryView) ID() string { return idMemory }

// Provision keeps the sandbox, whose resident size is the "used" of the view, and records the
// identities of the files the view rewrites.
func (m *memoryView) Provision(env shim.Env) error {
	m.sandbox = env.Sandbox
	root := rootOf(env, "")
	m.pseudo = map[pseudoID]string{}
	if obj, ok, err := objectInRoot(root, "/proc/meminfo"); err == nil && ok && obj.FsType == unix.PROC_SUPER_MAGIC {
		m.pseudo[pseudoID{obj.FsType, obj.Ino}] = "/proc/meminfo"
	}
	// sysfs entries have the same inode in every mount, so the host's identify the image's.
	var nodes []string
	if ents, err := os.ReadDir(memoryNodeDir); err == nil {
		for _, e := range ents {
			if _, ok := numbered(e.Name(), "node"); ok {
				nodes = append(nodes, memoryNodeDir+"/"+e.Name())
			}
		}
	}
	for _, dir := range nodes {
		p := dir + "/meminfo"
		if obj, ok, err := objectInRoot("/", p); err == nil && ok && obj.FsType == unix.SYSFS_MAGIC {
			m.pseudo[pseudoID{obj.FsType, obj.Ino}] = p
		}
	}
	m.provisionBlocks(append([]string{memoryBlockDir, "/sys/bus/memory/devices"}, nodes...))
	m.cgroup = map[fileID]cgroupFile{}
	self, err1 := os.ReadFile(m.selfCgroup)
	mounts, err2 := os.ReadFile(m.selfMountinfo)
	if err1 != nil || err2 != nil {
		return nil // no cgroups to describe
	}
	// The sandbox starts in scrim's own cgroups. Their files are found by identity, so any
	// spelling of them, in any mount of the hierarchy, is recognised.
	for _, dir := range cgroupDirs(self, mounts) {
		for name, kind := range cgroupMemoryFiles {
			p := path.Join(dir, name)
			obj, ok, err := objectInRoot("/", p)
			if err != nil || !ok || obj.Mode&unix.S_IFMT != unix.S_IFREG || !isCgroupFS(obj.FsType) {
				continue
			}
			if kind == cgStat && obj.FsType != unix.CGROUP_SUPER_MAGIC {
				continue // cgroup v2's memory.stat states no limit
			}
			m.cgroup[objectID(obj)] = cgroupFile{host: p, kind: kind}
		}
	}
	return nil
}

// Open serves /proc/meminfo, /sys/devices/system/node/nodeN/meminfo and the memory files of
// the sandbox's cgroups.
func (m *memoryView) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	// Every open and stat of the sandbox passes here: nothing is allocated until a file of
	// the view is recognised.
	obj := req.Object
	switch {
	case !obj.Exists:
		if string(req.Path) == "/proc/meminfo" {
			return m.meminfo()
		}
	case obj.FsType == unix.PROC_SUPER_MAGIC:
		if string(req.Path) == "/proc/meminfo" || m.pseudo[pseudoID{obj.FsType, obj.Ino}] == "/proc/meminfo" {
			return m.meminfo()
		}
	case obj.FsType == unix.SYSFS_MAGIC:
		return m.openSys(req)
	case isCgroupFS(obj.FsType):
		f, ok := m.cgroup[objectID(obj)]
		if !ok {
			break
		}
		host, err := m.readHost(f.host)
		if err != nil {
			return shim.Result{}, fmt.Errorf("memory: read host %s: %w", f.host, err)
		}
		return shim.ServeBytes(path.Base(f.host), renderCgroup(f.kind, host, m.total, m.used())), nil
	}
	return shim.Next(), nil
}

func (m *memoryView) meminfo() (shim.Result, error) {
	host, err := m.readHost("/proc/meminfo")
	if err != nil {
		return shim.Result{}, fmt.Errorf("memory: read host /proc/meminfo: %w", err)
	}
	return shim.ServeBytes("meminfo", renderMeminfo(host, m.total, m.used())), nil
}

// openSys serves the nodes' meminfo and hides the memory blocks outside the view.
func (m *memoryView) openSys(req *shim.Request) (shim.Result, error) {
	p, ok := m.pseudo[pseudoID{unix.SYSFS_MAGIC, req.Object.Ino}]
	if !ok {
		if !bytes.HasPrefix(req.Path, []byte(memoryBlockDir+"/")) && !bytes.HasPrefix(req.Path, []byte(memoryNodeDir+"/")) {
			return shim.Next(), nil
		}
		p = string(req.Path)
	}
	if rest, ok := strings.CutPrefix(p, memoryBlockDir+"/"); ok {
		dir, _, _ := strings.Cut(rest, "/")
		if n, ok := numbered(dir, "memory"); ok && m.blocks != nil && !m.blocks[n] {
			return shim.Deny(unix.ENOENT), nil
		}
		return shim.Next(), nil
	}
	rest, ok := strings.CutPrefix(p, memoryNodeDir+"/")
	if !ok {
		return shim.Next(), nil
	}
	dir, file, _ := strings.Cut(rest, "/")
	n, ok := numbered(dir, "node")
	if !ok || file != "meminfo" {
		return shim.Next(), nil
	}
	host, err := m.readHost(p)
	if err != nil {
		return shim.Result{}, fmt.Errorf("memory: read host %s: %w", p, err)
	}
	// Node 0 holds the whole view, as it holds every CPU of the CPU view.
	total, used := m.total, m.used()
	if n != 0 {
		total, used = 0, 0
	}
	return shim.ServeBytes("meminfo", renderMeminfo(host, total, used)), nil
}

// numbered parses a sysfs name made of prefix and a number: "node0", "memory12".
func numbered(name, prefix string) (int, bool) {
	num, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && strconv.Itoa(n) == num
}

// provisionBlocks chooses the memory blocks of the view: as many of the host's, lowest
// numbers first, as it takes to hold total (drivers/base/memory.c: every block is
// block_size_bytes, in hex), so lsmem's "Total online memory" is total rounded up to a block.
// dirs are the directories that list blocks or links to them.
func (m *memoryView) provisionBlocks(dirs []string) {
	m.blocks, m.blockDirs = nil, nil
	b, err := m.readHost(memoryBlockDir + "/block_size_bytes")
	if err != nil {
		return
	}
	size, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 64)
	ents, err2 := os.ReadDir(memoryBlockDir)
	if err != nil || err2 != nil || size == 0 {
		return
	}
	var nums []int
	for _, e := range ents {
		if n, ok := numbered(e.Name(), "memory"); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	m.blocks = map[int]bool{}
	for _, n := range nums[:min((m.total+size-1)/size, uint64(len(nums)))] {
		m.blocks[n] = true
	}
	m.blockDirs = map[uint64]bool{}
	for _, d := range dirs {
		if obj, ok, err := objectInRoot("/", d); err == nil && ok && obj.FsType == unix.SYSFS_MAGIC {
			m.blockDirs[obj.Ino] = true
		}
	}
}

// filter hides the memory blocks outside the view from the directories that list them.
func (m *memoryView) filter(st *unix.Stat_t, fs int64) func(name []byte) bool {
	if fs != unix.SYSFS_MAGIC || m.blocks == nil || !m.blockDirs[st.Ino] {
		return nil
	}
	return func(name []byte) bool {
		n, ok := numbered(string(name), "memory")
		return !ok || m.blocks[n]
	}
}

// sandboxRSS is the resident size of the sandbox's processes. Pages shared between them count
// once per process, so it errs high, as the view should.
func (m *memoryView) sandboxRSS() uint64 {
	if m.sandbox == nil {
		return 0
	}
	page := uint64(os.Getpagesize())
	var sum uint64
	for _, pid := range m.sandbox.Pids() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
		if err != nil {
			continue // it exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		rss, _ := strconv.ParseUint(f[1], 10, 64)
		sum += rss * page
	}
	return sum
}

// meminfoKeep are the fields that describe the machine's geometry rather than its use; they
// keep the host's value.
var meminfoKeep = map[string]bool{"VmallocTotal": true, "Hugepagesize": true}

// renderMeminfo rewrites the host's /proc/meminfo, or a node's meminfo, for a machine of
// total bytes of which used are in use: every field the host prints, in its order and
// alignment (fs/proc/meminfo.c show_val_kb and drivers/base/node.c node_read_meminfo: an
// optional "Node N " prefix, the name padded to 16 columns, the value right-aligned in 8). The
// sandbox's memory is anonymous and active; it has no swap, no page cache and no kernel
// allocations of its own; geometry fields keep the host's value.
func renderMeminfo(host []byte, total, used uint64) []byte {
	t := total / 1024
	u := min(used/1024, t)
	values := map[string]uint64{
		"MemTotal": t, "MemFree": t - u, "MemAvailable": t - u, "MemUsed": u,
		"Active": u, "Active(anon)": u, "AnonPages": u,
		"CommitLimit": t, "Committed_AS": u, "DirectMap4k": t,
	}
	var out bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSuffix(host, []byte("\n")), []byte("\n")) {
		var prefix []byte
		if rest, ok := bytes.CutPrefix(line, []byte("Node ")); ok {
			if _, after, ok := bytes.Cut(rest, []byte(" ")); ok {
				prefix = line[:len(line)-len(after)]
			}
		}
		name, rest, ok := bytes.Cut(line[len(prefix):], []byte(":"))
		out.Write(prefix)
		if !ok {
			out.Write(line[len(prefix):])
			out.WriteByte('\n')
			continue
		}
		key := string(name)
		kb := bytes.HasSuffix(rest, []byte(" kB"))
		field := bytes.TrimSuffix(rest, []byte(" kB"))
		v, known := values[key]
		if !known && meminfoKeep[key] {
			out.Write(line[len(prefix):])
			out.WriteByte('\n')
			continue
		}
		if !known {
			v = 0
		}
		if kb {
			fmt.Fprintf(&out, "%-16s%8d kB\n", key+":", v)
			continue
		}
		// HugePages_*: "%-16s%8lu" (node: "%5u" after a space) in the host's own width.
		fmt.Fprintf(&out, "%s:%*d\n", key, len(field), v)
	}
	return out.Bytes()
}

// cgroupKind is what a cgroup memory file states.
type cgroupKind uint8

const (
	// cgLimit is a limit in bytes ("max" for none in cgroup v2): the view's is the host's or
	// the view's total, whichever is smaller, as no cgroup holds more than the machine.
	cgLimit cgroupKind = iota
	// cgUsage is the memory in use: the sandbox's, as in /proc/meminfo.
	cgUsage
	// cgSwap is swap, limit or use: 0, as the view has none.
	cgSwap
	// cgStat is cgroup v1's memory.stat, whose hierarchical limits are limits.
	cgStat
)

// cgroupFile is one memory file of a cgroup that holds the sandbox.
type cgroupFile struct {
	host string
	kind cgroupKind
}

// cgroupMemoryFiles are the files of a cgroup directory that state its memory limit and use
// (Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/memory.rst), which runtimes read to
// size themselves: the JVM, .NET, libuv.
var cgroupMemoryFiles = map[string]cgroupKind{
	// cgroup v2
	"memory.max":          cgLimit,
	"memory.current":      cgUsage,
	"memory.swap.max":     cgSwap,
	"memory.swap.current": cgSwap,
	// cgroup v1
	"memory.limit_in_bytes":       cgLimit,
	"memory.memsw.limit_in_bytes": cgLimit,
	"memory.usage_in_bytes":       cgUsage,
	"memory.memsw.usage_in_bytes": cgUsage,
	"memory.stat":                 cgStat,
}

// isCgroupFS reports whether fs is a cgroup filesystem, v1 or v2.
func isCgroupFS(fs int64) bool {
	return fs == unix.CGROUP_SUPER_MAGIC || fs == unix.CGROUP2_SUPER_MAGIC
}

// renderCgroup rewrites a cgroup memory file of kind for a machine of total bytes of which
// used are in use. The kernel keeps limits and use in pages (mm/page_counter.c), so the view's
// total is rounded down to a page, as the kernel would round a limit written to the file.
func renderCgroup(kind cgroupKind, host []byte, total, used uint64) []byte {
	page := uint64(os.Getpagesize())
	total -= total % page
	limit := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil { // "max"
			return total
		}
		return min(v, total)
	}
	switch kind {
	case cgLimit:
		return []byte(strconv.FormatUint(limit(string(bytes.TrimSpace(host))), 10) + "\n")
	case cgUsage:
		return []byte(strconv.FormatUint(min(used, total), 10) + "\n")
	case cgSwap:
		return []byte("0\n")
	}
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(host, []byte("\n")) {
		key, val, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
		switch k := string(key); {
		case ok && (k == "hierarchical_memory_limit" || k == "hierarchical_memsw_limit"):
			fmt.Fprintf(&out, "%s %d\n", k, limit(string(val)))
		default:
			out.Write(line)
		}
	}
	return out.Bytes()
}

// cgroupDirs returns the host paths of the cgroup directories that hold the process whose
// /proc/PID/cgroup is self, and of their ancestors up to each hierarchy's mount, for the
// hierarchies that account memory: cgroup v2 and the v1 memory controller. mountinfo is the
// same process's /proc/PID/mountinfo; a cgroup outside every mount of its hierarchy has none.
func cgroupDirs(self, mountinfo []byte) []string {
	var v2, v1 string
	var haveV2, haveV1 bool
	for _, line := range strings.Split(string(self), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2, haveV2 = f[2], true
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "memory" {
				v1, haveV1 = f[2], true
			}
		}
	}
	var dirs []string
	eachMount(bytes.NewReader(mountinfo), func(m mountEntry) {
		var cg string
		switch m.fsType {
		case "cgroup2":
			if !haveV2 {
				return
			}
			cg = v2
		case "cgroup":
			if !haveV1 || !hasOption(m.superOpts, "memory") {
				return
			}
			cg = v1
		default:
			return
		}
		root, mp := m.root, m.point
		rel, ok := strings.CutPrefix(cg, strings.TrimSuffix(root, "/"))
		if !ok || (rel != "" && rel[0] != '/') {
			return
		}
		for d := path.Clean("/" + rel); ; d = path.Dir(d) {
			dirs = append(dirs, path.Join(mp, d))
			if d == "/" {
				break
			}
		}
	})
	return dirs
}

// hasOption reports whether the comma-separated options list opts holds opt.
func hasOption(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}
