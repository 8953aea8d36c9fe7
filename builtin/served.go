package builtin

import "github.com/scrim-sandbox/scrim/supervisor/shim"

// servedPaths is what each built-in virtual-file shim decides on, spelled as paths.
var servedPaths = map[string]struct {
	exact    []string
	patterns []shim.PathPattern
}{
	idHosts:    {exact: []string{"/etc/hosts"}},
	idHostname: {exact: []string{"/etc/hostname", "/proc/sys/kernel/hostname"}},
	idCPU: {
		exact: []string{"/proc/cpuinfo", "/proc/stat", "/proc/interrupts", "/proc/softirqs"},
		patterns: []shim.PathPattern{{Prefix: sysCPU + "/"}, {Prefix: "/sys/devices/system/node/"},
			{Prefix: "/proc/irq/"}, {Prefix: sysClockevents + "/"}, {Prefix: sysMachinecheck + "/"},
			{Prefix: sysWorkqueue + "/"}, {Prefix: "/sys/fs/cgroup/", Suffix: "cpu.max"},
			{Prefix: "/sys/fs/cgroup/", Suffix: "cpu.cfs_quota_us"}, {Prefix: "/sys/fs/cgroup/", Contains: "cpuset."},
			{Prefix: "/proc/", Suffix: "/status"}},
	},
	idMemory: {
		exact: []string{"/proc/meminfo"},
		patterns: []shim.PathPattern{
			{Prefix: memoryNodeDir + "/node", Suffix: "/meminfo"},
			{Prefix: "/sys/fs/cgroup/", Contains: "/memory."},
		},
	},
	idRandom: {exact: []string{"/dev/urandom", "/dev/random"}},
}

// The virtual-file shims decide by identity too, so they are no shim.Claimers; they list their
// literal paths, so that a listing shows one the disk does not hold (an image without
// /etc/hosts, a container without /etc/hostname).
var (
	_ shim.Lister = (*hosts)(nil)
	_ shim.Lister = (*hostname)(nil)
	_ shim.Lister = (*cpuView)(nil)
	_ shim.Lister = (*memoryView)(nil)
)

func (h *hosts) Listed() []string      { return servedPaths[idHosts].exact }
func (h *hostname) Listed() []string   { return servedPaths[idHostname].exact }
func (c *cpuView) Listed() []string    { return servedPaths[idCPU].exact }
func (m *memoryView) Listed() []string { return servedPaths[idMemory].exact }

// Served describes the paths the built-in virtual-file shim id decides on, in the terms of
// shim.Claimer, so that `scrim check` can name the plugins that claim them too. It is a
// description, not what the chain matches: these shims also decide by identity (where a
// symlinked /etc/hosts leads, a hard link to it), which no list of paths says. An id that is
// not a virtual-file shim describes nothing.
func Served(id string) (exact []string, patterns []shim.PathPattern) {
	s := servedPaths[id]
	return s.exact, s.patterns
}
