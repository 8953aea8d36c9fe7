package builtin

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idMemory = "builtin.memory"

// memoryView makes the sandbox see a machine of total bytes: /proc/meminfo and sysinfo(2). It
// is a view, not a limit: nothing stops the sandbox from using more.
type memoryView struct {
	total   uint64
	sandbox shim.Sandbox
	// readHost reads a host file and used measures the sandbox; tests replace them.
	readHost func(name string) ([]byte, error)
	used     func() uint64
	pseudo   map[pseudoID]bool
}

var (
	_ shim.Handler        = (*memoryView)(nil)
	_ shim.SyscallHandler = (*memoryView)(nil)
	_ shim.Provisioner    = (*memoryView)(nil)
)

func newMemory(opts Options, _ *listing) (shim.Handler, error) {
	if opts.MemoryBytes < 1<<20 {
		return nil, fmt.Errorf("memory %d bytes: less than 1 MiB", opts.MemoryBytes)
	}
	m := &memoryView{total: opts.MemoryBytes, readHost: os.ReadFile}
	m.used = m.sandboxRSS
	return m, nil
}

func (m *memoryView) ID() string { return idMemory }

// Provision keeps the sandbox, whose resident size is the "used" of the view.
func (m *memoryView) Provision(env shim.Env) error {
	m.sandbox = env.Sandbox
	m.pseudo = map[pseudoID]bool{}
	if obj, ok, err := objectInRoot(rootOf(env, ""), "/proc/meminfo"); err == nil && ok &&
		obj.FsType == unix.PROC_SUPER_MAGIC {
		m.pseudo[pseudoID{obj.FsType, obj.Ino}] = true
	}
	return nil
}

// Open serves /proc/meminfo.
func (m *memoryView) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	obj := req.Object
	byName := string(req.Path) == "/proc/meminfo" && (!obj.Exists || obj.FsType == unix.PROC_SUPER_MAGIC)
	if !byName && !(obj.Exists && m.pseudo[pseudoID{obj.FsType, obj.Ino}]) {
		return shim.Next(), nil
	}
	host, err := m.readHost("/proc/meminfo")
	if err != nil {
		return shim.Result{}, fmt.Errorf("memory: read host /proc/meminfo: %w", err)
	}
	return shim.ServeBytes("meminfo", renderMeminfo(host, m.total, m.used())), nil
}

// Syscalls is sysinfo.
func (m *memoryView) Syscalls() []int { return []int{unix.SYS_SYSINFO} }

// Syscall performs sysinfo and replaces its memory figures with the view's.
func (m *memoryView) Syscall(_ context.Context, call *shim.Call) (shim.SyscallResult, error) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return shim.Fail(errnoOf(err)), nil
	}
	used := min(m.used(), m.total)
	si.Totalram = m.total
	si.Freeram = m.total - used
	si.Sharedram, si.Bufferram = 0, 0
	si.Totalswap, si.Freeswap = 0, 0
	si.Totalhigh, si.Freehigh = 0, 0
	si.Unit = 1
	if m.sandbox != nil {
		si.Procs = uint16(min(len(m.sandbox.Pids()), 1<<16-1))
	}
	if _, err := call.Mem.WriteAt(encodeSysinfo(&si), call.Args[0]); err != nil {
		return shim.Fail(unix.EFAULT), nil
	}
	return shim.Return(0), nil
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

// encodeSysinfo lays out struct sysinfo as x86_64 does (include/uapi/linux/sysinfo.h).
func encodeSysinfo(si *unix.Sysinfo_t) []byte {
	b := make([]byte, 112)
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(si.Uptime))
	for i, l := range si.Loads {
		le.PutUint64(b[8+8*i:], l)
	}
	le.PutUint64(b[32:], si.Totalram)
	le.PutUint64(b[40:], si.Freeram)
	le.PutUint64(b[48:], si.Sharedram)
	le.PutUint64(b[56:], si.Bufferram)
	le.PutUint64(b[64:], si.Totalswap)
	le.PutUint64(b[72:], si.Freeswap)
	le.PutUint16(b[80:], si.Procs)
	le.PutUint64(b[88:], si.Totalhigh)
	le.PutUint64(b[96:], si.Freehigh)
	le.PutUint32(b[104:], si.Unit)
	return b
}

// meminfoKeep are the fields that describe the machine's geometry rather than its use; they
// keep the host's value.
var meminfoKeep = map[string]bool{"VmallocTotal": true, "Hugepagesize": true}

// renderMeminfo rewrites the host's /proc/meminfo for a machine of total bytes of which used
// are in use: every field the host prints, in its order and alignment (fs/proc/meminfo.c
// show_val_kb: the name padded to 16 columns, the value right-aligned in 8). The sandbox's
// memory is anonymous and active; it has no swap, no page cache and no kernel allocations of
// its own; geometry fields keep the host's value.
func renderMeminfo(host []byte, total, used uint64) []byte {
	t := total / 1024
	u := min(used/1024, t)
	values := map[string]uint64{
		"MemTotal": t, "MemFree": t - u, "MemAvailable": t - u,
		"Active": u, "Active(anon)": u, "AnonPages": u,
		"CommitLimit": t, "Committed_AS": u, "DirectMap4k": t,
	}
	var out bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSuffix(host, []byte("\n")), []byte("\n")) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			out.Write(line)
			out.WriteByte('\n')
			continue
		}
		key := string(name)
		kb := bytes.HasSuffix(rest, []byte(" kB"))
		field := bytes.TrimSuffix(rest, []byte(" kB"))
		v, known := values[key]
		if !known && meminfoKeep[key] {
			out.Write(line)
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
		// HugePages_*: "%-16s%8lu" in the host's own width.
		fmt.Fprintf(&out, "%s:%*d\n", key, len(field), v)
	}
	return out.Bytes()
}
