package builtin

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

func TestRenderNodeMeminfo(t *testing.T) {
	host := readTestdata(t, "nodememinfo.host")
	got := renderMeminfo(host, 256<<20, 10<<20)
	golden(t, "nodememinfo_256M.golden", got)
	require.Equal(t, strings.Count(string(host), "\n"), strings.Count(string(got), "\n"), "every field the host prints")
	require.Contains(t, string(got), "Node 0 MemTotal:         262144 kB\n")
	require.Contains(t, string(got), "Node 0 MemFree:          251904 kB\n")
	require.Contains(t, string(got), "Node 0 MemUsed:           10240 kB\n")
	require.Contains(t, string(got), "Node 0 HugePages_Total:     0\n", "the host's width for counts")
	hostLines, gotLines := strings.Split(string(host), "\n"), strings.Split(string(got), "\n")
	for i := range hostLines {
		require.Equal(t, len(hostLines[i]), len(gotLines[i]), "line %d keeps the kernel's columns: %q", i, gotLines[i])
	}
}

func TestRenderCgroup(t *testing.T) {
	const total, used = 256 << 20, 10 << 20
	for _, tc := range []struct {
		name string
		kind cgroupKind
		host string
		want string
	}{
		{"v2_no_limit", cgLimit, "max\n", "268435456\n"},
		{"v1_no_limit", cgLimit, "9223372036854771712\n", "268435456\n"},
		{"host_limit_lower", cgLimit, "104857600\n", "104857600\n"},
		{"usage", cgUsage, "987654321\n", "10485760\n"},
		{"swap", cgSwap, "max\n", "0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, string(renderCgroup(tc.kind, []byte(tc.host), total, used)))
		})
	}
	t.Run("total_rounded_to_a_page", func(t *testing.T) {
		require.Equal(t, "1048576\n", string(renderCgroup(cgLimit, []byte("max"), 1<<20+100, 0)))
	})
	t.Run("v1_stat", func(t *testing.T) {
		host := readTestdata(t, "memorystat.host")
		got := renderCgroup(cgStat, host, total, used)
		golden(t, "memorystat_256M.golden", got)
		require.Contains(t, string(got), "\nhierarchical_memory_limit 268435456\nhierarchical_memsw_limit 268435456\n")
		require.Equal(t, strings.Count(string(host), "\n"), strings.Count(string(got), "\n"))
	})
}

func TestCgroupDirs(t *testing.T) {
	const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	for _, tc := range []struct {
		name            string
		self, mountinfo string
		want            []string
	}{
		{
			name:      "hybrid",
			self:      "4:memory:/jobs/a\n1:cpu:/\n0::/\n",
			mountinfo: hybrid,
			want:      []string{"/sys/fs/cgroup/memory/jobs/a", "/sys/fs/cgroup/memory/jobs", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"},
		},
		{
			name:      "v2",
			self:      "0::/user.slice/user-0.slice/session-1.scope\n",
			mountinfo: "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
			want: []string{"/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope", "/sys/fs/cgroup/user.slice/user-0.slice",
				"/sys/fs/cgroup/user.slice", "/sys/fs/cgroup"},
		},
		{
			name:      "mount_of_a_subtree",
			self:      "0::/box/inner\n",
			mountinfo: "30 23 0:26 /box /mnt/cg\\040x rw - cgroup2 cgroup2 rw\n40 23 0:26 /other /mnt/other rw - cgroup2 cgroup2 rw\n",
			want:      []string{"/mnt/cg x/inner", "/mnt/cg x"},
		},
		{
			name:      "a_sibling_prefix_is_not_an_ancestor",
			self:      "0::/boxes\n",
			mountinfo: "30 23 0:26 /box /mnt/cg rw - cgroup2 cgroup2 rw\n",
		},
		{
			name:      "no_memory_controller",
			self:      "1:cpu:/a\n",
			mountinfo: hybrid,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, cgroupDirs([]byte(tc.self), []byte(tc.mountinfo)))
		})
	}
}

// TestMemoryCgroupFiles serves the memory files of the cgroups this test runs in, found by
// identity, and leaves those of a cgroup that does not hold the sandbox alone.
func TestMemoryCgroupFiles(t *testing.T) {
	self, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var own []string
	for _, dir := range cgroupDirs(self, mounts) {
		for _, name := range []string{"memory.max", "memory.limit_in_bytes", "memory.current", "memory.usage_in_bytes"} {
			if _, ok, _ := objectInRoot("/", path.Join(dir, name)); ok {
				own = append(own, path.Join(dir, name))
			}
		}
	}
	if len(own) == 0 {
		t.Skip("this test's cgroups have no memory files (the root of the hierarchy, or no memory controller)")
	}
	h := build(t, Options{MemoryBytes: 256 << 20}, idMemory, &fakeSandbox{pids: []int{os.Getpid()}}).(*memoryView)
	for _, p := range own {
		got := string(served(t, h, p))
		if strings.Contains(path.Base(p), "max") || strings.Contains(p, "limit") {
			host, err := os.ReadFile(p)
			require.NoError(t, err)
			want := uint64(256 << 20)
			if v, err := strconv.ParseUint(strings.TrimSpace(string(host)), 10, 64); err == nil {
				want = min(v, want) // a host limit below the view stays
			}
			require.Equal(t, strconv.FormatUint(want, 10)+"\n", got, p)
		} else {
			require.NotEqual(t, "0\n", got, "%s: the test's own resident size", p)
			require.LessOrEqual(t, len(got), len("268435456\n"), p)
		}
	}

	// Through another spelling: a symbolic link to the directory.
	link := path.Join(t.TempDir(), "cg")
	require.NoError(t, os.Symlink(path.Dir(own[0]), link))
	canon, err := canonicalInRoot("/", path.Join(link, path.Base(own[0])))
	require.NoError(t, err)
	require.Equal(t, string(served(t, h, own[0])), string(served(t, h, canon)))

	// Provisioned as if it ran at the root of each hierarchy, the view leaves the files of
	// the cgroups below the root alone: they hold neither the sandbox nor its cgroups.
	var atRoot []string
	for _, line := range strings.Split(string(self), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 {
			atRoot = append(atRoot, f[0]+":"+f[1]+":/")
		}
	}
	h.selfCgroup = path.Join(t.TempDir(), "cgroup")
	require.NoError(t, os.WriteFile(h.selfCgroup, []byte(strings.Join(atRoot, "\n")+"\n"), 0o644))
	require.NoError(t, h.Provision(testEnv(&fakeSandbox{pids: []int{os.Getpid()}})))
	for _, p := range own {
		if !slices.Contains(cgroupDirs([]byte(strings.Join(atRoot, "\n")), mounts), path.Dir(p)) {
			res := open(t, h, p, unix.O_RDONLY)
			require.Equal(t, shim.ActNext, res.Action, "%s holds neither the sandbox nor its cgroups", p)
		}
	}
}

// TestMemoryBlocks: sysfs lists, and opens reach, only the memory blocks that hold the view.
func TestMemoryBlocks(t *testing.T) {
	b, err := os.ReadFile(memoryBlockDir + "/block_size_bytes")
	if err != nil {
		t.Skipf("no memory blocks in sysfs: %v", err)
	}
	size, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 64)
	require.NoError(t, err)
	ents, err := os.ReadDir(memoryBlockDir)
	require.NoError(t, err)
	var host []int
	for _, e := range ents {
		if n, ok := numbered(e.Name(), "memory"); ok {
			host = append(host, n)
		}
	}
	slices.Sort(host)
	if len(host) < 2 {
		t.Skip("one memory block: nothing to hide")
	}
	h := build(t, Options{MemoryBytes: size}, idMemory, &fakeSandbox{}).(*memoryView)
	dir, err := os.Open(memoryBlockDir)
	require.NoError(t, err)
	defer dir.Close()
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(dir.Fd()), &st))
	keep := h.filter(&st, unix.SYSFS_MAGIC)
	require.NotNil(t, keep, "the block directory is filtered")
	first, last := fmt.Sprintf("memory%d", host[0]), fmt.Sprintf("memory%d", host[len(host)-1])
	require.True(t, keep([]byte(first)), "one block holds the view")
	require.False(t, keep([]byte(last)))
	require.True(t, keep([]byte("block_size_bytes")))

	require.Equal(t, shim.ActNext, open(t, h, path.Join(memoryBlockDir, first, "state"), unix.O_RDONLY).Action)
	require.Equal(t, shim.Deny(unix.ENOENT), open(t, h, path.Join(memoryBlockDir, last, "state"), unix.O_RDONLY))
	require.Equal(t, shim.Deny(unix.ENOENT), open(t, h, path.Join(memoryBlockDir, last), unix.O_RDONLY|unix.O_DIRECTORY))

	var other unix.Stat_t
	require.NoError(t, unix.Stat("/sys/devices/system/cpu", &other))
	require.Nil(t, h.filter(&other, unix.SYSFS_MAGIC), "other directories are listed as they are")
}

// TestMemoryOpenAllocatesNothingElsewhere: every open and stat of the sandbox asks the view,
// so the files it does not serve cost no allocation.
func TestMemoryOpenAllocatesNothingElsewhere(t *testing.T) {
	h := build(t, Options{MemoryBytes: 256 << 20}, idMemory, &fakeSandbox{})
	for _, p := range []string{"/etc/passwd", "/proc/stat", "/sys/devices/system/cpu/online", "/nonexistent"} {
		req := request(t, p, unix.O_RDONLY)
		allocs := testing.AllocsPerRun(100, func() {
			res, err := h.Open(context.Background(), req)
			if err != nil || res.Action != shim.ActNext {
				t.Fatalf("%s: %v %v", p, res, err)
			}
		})
		require.Zero(t, allocs, p)
	}
}
