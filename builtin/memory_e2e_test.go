package builtin

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cgroupMemoryScript finds the sandbox's memory limit and use the way the JVM, .NET and libuv
// do: the memory controller's line of /proc/self/cgroup (cgroup v1), else the "0::" line (v2),
// joined to where /proc/self/mountinfo says that hierarchy is mounted.
const cgroupMemoryScript = `
import os
cg = [l.split(":", 2) for l in open("/proc/self/cgroup").read().splitlines()]
mounts = []
for l in open("/proc/self/mountinfo").read().splitlines():
    a, b = l.split(" - ")
    f, (fstype, _, opts) = a.split(), b.split()
    mounts.append((fstype, opts.split(","), f[3], f[4]))
v1 = [p for i, c, p in cg if "memory" in c.split(",")]
if v1:
    fstype, path, files = "cgroup", v1[0], ("memory.limit_in_bytes", "memory.usage_in_bytes")
else:
    fstype, path, files = "cgroup2", [p for i, c, p in cg if i == "0"][0], ("memory.max", "memory.current")
for t, opts, root, mp in mounts:
    if t == fstype and (t == "cgroup2" or "memory" in opts) and (path + "/").startswith(root.rstrip("/") + "/"):
        d = mp + path[len(root.rstrip("/")):]
        break
for name in files:
    p = os.path.join(d, name)
    print(name, open(p).read().strip() if os.path.exists(p) else "absent")
`

func TestE2EMemoryView(t *testing.T) {
	flags := []string{"--memory", "256M"}
	t.Run("node_meminfo", func(t *testing.T) {
		out := sh(t, flags, "grep -h MemTotal /sys/devices/system/node/node0/meminfo /sys/bus/node/devices/node0/meminfo")
		require.Equal(t, strings.Repeat("Node 0 MemTotal:         262144 kB\n", 2), out)
	})
	t.Run("free_and_sysinfo", func(t *testing.T) {
		needTool(t, "free")
		out := sh(t, flags, "free -b | sed -n 's/^Mem: *\\([0-9]*\\) .*/\\1/p'")
		require.Equal(t, "268435456\n", out)
		// Python's os.sysconf reads sysinfo(2) through glibc.
		out = py(t, flags, `import os; print(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") <= 268435456)`)
		require.Equal(t, "268435456 True\n", out)
	})
	t.Run("lsmem", func(t *testing.T) {
		needTool(t, "lsmem")
		b, err := os.ReadFile("/sys/devices/system/memory/block_size_bytes")
		if err != nil {
			t.Skipf("no memory blocks in sysfs: %v", err)
		}
		block, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 64)
		require.NoError(t, err)
		if block > 256<<20 {
			t.Skipf("memory blocks of %d bytes: one holds more than the view", block)
		}
		out := sh(t, flags, "lsmem -b --summary=only | sed -n 's/^Total online memory: *//p'")
		require.Equal(t, strconv.FormatUint(256<<20, 10)+"\n", out, "256 MiB is a whole number of blocks")
	})
	t.Run("node_js", func(t *testing.T) {
		node := needTool(t, "node")
		r := runScrim(t, flags, node, "-e", "console.log(require('os').totalmem(), typeof process.constrainedMemory)")
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, "268435456 function\n", r.stdout, "os.totalmem reads /proc/meminfo")
		// constrainedMemory reads the cgroup files the way cgroupMemoryScript does.
		r = runScrim(t, flags, node, "-e", "console.log(process.constrainedMemory())")
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, "268435456\n", r.stdout)
	})
	t.Run("cgroup_as_runtimes_find_it", func(t *testing.T) {
		out := py(t, flags, cgroupMemoryScript)
		limit, usage, _ := strings.Cut(out, "\n")
		if strings.HasSuffix(limit, " absent") {
			t.Skipf("the sandbox's cgroup states no memory limit (the root of its hierarchy): %s", out)
		}
		require.Regexp(t, `^memory\.(max|limit_in_bytes) 268435456$`, limit)
		m := regexp.MustCompile(`^memory\.(current|usage_in_bytes) (\d+)\n$`).FindStringSubmatch(usage)
		require.NotNil(t, m, usage)
		used, err := strconv.ParseUint(m[2], 10, 64)
		require.NoError(t, err)
		require.Greater(t, used, uint64(0), "the sandbox's resident size")
		require.Less(t, used, uint64(256<<20), "the sandbox's resident size, not the host cgroup's")
	})
	t.Run("stat_agrees", func(t *testing.T) {
		// The served files describe themselves as what an open reads, so cp and tar copy them.
		// The host's highest-numbered memory block is outside a 256 MiB view when the host
		// has more than two blocks of 128 MiB.
		last, blocks := "", 0
		if ents, err := os.ReadDir("/sys/devices/system/memory"); err == nil {
			high := -1
			for _, e := range ents {
				if n, ok := numbered(e.Name(), "memory"); ok {
					blocks++
					if n > high {
						high, last = n, "/sys/devices/system/memory/"+e.Name()
					}
				}
			}
		}
		program := cgroupMemoryScript + `
import subprocess, sys
for p in ["/proc/meminfo", "/sys/devices/system/node/node0/meminfo"] + [os.path.join(d, n) for n in files]:
    if os.path.exists(p):
        data = open(p, "rb").read()
        print(p, os.stat(p).st_size == len(data) > 0, subprocess.run(["cat", p], capture_output=True).stdout == data)
if sys.argv[-1]:
    print("hidden block", os.path.exists(sys.argv[-1]))
`
		r := runScrim(t, flags, python, "-I", "-c", program, last)
		require.Equal(t, 0, r.code, r.stderr)
		out := r.stdout
		agree := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			switch {
			case strings.HasPrefix(line, "memory."):
				// the script's own report
			case strings.HasPrefix(line, "hidden block"):
				require.Equal(t, "hidden block False", line, "%s is outside the view", last)
			default:
				require.True(t, strings.HasSuffix(line, " True True"), "stat and content agree: %s", line)
				agree++
			}
		}
		require.GreaterOrEqual(t, agree, 2, out)
		if blocks > 2 {
			require.Contains(t, out, "hidden block False")
		}
	})
	t.Run("java_max_heap", func(t *testing.T) {
		java := needTool(t, "java")
		heap := func(t *testing.T, flags []string, args ...string) uint64 {
			var stdout, stderr string
			if flags == nil {
				out, err := exec.Command(java, append(args, "-XX:+PrintFlagsFinal", "-version")...).Output()
				require.NoError(t, err)
				stdout = string(out)
			} else {
				r := runScrim(t, flags, append([]string{java}, append(args, "-XX:+PrintFlagsFinal", "-version")...)...)
				require.Equal(t, 0, r.code, r.stderr)
				stdout, stderr = r.stdout, r.stderr
			}
			m := regexp.MustCompile(`\sMaxHeapSize\s+=\s+(\d+)`).FindStringSubmatch(stdout)
			require.NotNil(t, m, stdout+stderr)
			v, err := strconv.ParseUint(m[1], 10, 64)
			require.NoError(t, err)
			return v
		}
		// On a 1 GiB machine the JVM's default heap is a quarter of it (MaxRAMPercentage).
		require.Equal(t, uint64(1<<30)/4, heap(t, []string{"--memory", "1G"}))
		// On 256 MiB the JVM's floor for small machines applies: the same heap as the JVM
		// itself chooses when told the machine has 256 MiB.
		require.Equal(t, heap(t, nil, "-XX:MaxRAM=256m"), heap(t, flags))
	})
}
