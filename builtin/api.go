package builtin

import (
	"fmt"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Options selects and configures the built-in shims. cmd/scrim fills it from the config file
// and the command line; the zero value is scrim's defaults.
type Options struct {
	// Hostname is what the sandbox calls itself; "" means "scrim".
	Hostname string
	// CPUs is how many processors the sandbox sees; 0 keeps the host's view.
	CPUs int
	// MemoryBytes is the memory total the sandbox sees; 0 keeps the host's view.
	MemoryBytes uint64
	// RandomSeed, when set, makes /dev/urandom, /dev/random and getrandom deterministic.
	RandomSeed *uint64
	// NetAllow lists "HOST" or "HOST=IP" entries added to the virtual /etc/hosts.
	NetAllow []string
	// ExtraHosts lists "IP NAME..." lines appended to the virtual /etc/hosts.
	ExtraHosts []string
	// Deny lists extra paths (whole subtrees) the sandbox may not open.
	Deny []string
	// ImageRoot is the host directory of the image in chroot mode, "" otherwise.
	ImageRoot string
	// State is scrim's own files, which the sandbox may read but never change
	// (builtin.state); empty, the shim is off.
	State State
}

// DefaultHostname is the name the sandbox gets when Options.Hostname is empty.
const DefaultHostname = "scrim"

// entry is one line of the registry: a shim, the condition that turns it on and where it sits
// in the chain. Order matters only between entries of the same band and priority.
type entry struct {
	id       string
	band     shim.Band
	priority int
	enabled  func(Options) bool
	build    func(Options, *listing) (shim.Handler, error)
}

func always(Options) bool { return true }

// registry is every built-in shim, in chain order.
var registry = []entry{
	{idProcDeny, shim.BandSecurity, 0, always, newProcDeny},
	{idState, shim.BandSecurity, 5, func(o Options) bool { return !o.State.empty() }, newState},
	{idProcPID, shim.BandSecurity, 10, always, newProcPID},
	{idHosts, shim.BandVirtual, shim.PriorityBuiltin, always, newHosts},
	{idHostname, shim.BandVirtual, shim.PriorityBuiltin, always, newHostname},
	{idCPU, shim.BandVirtual, shim.PriorityBuiltin, func(o Options) bool { return o.CPUs > 0 }, newCPU},
	{idMemory, shim.BandVirtual, shim.PriorityBuiltin, func(o Options) bool { return o.MemoryBytes > 0 }, newMemory},
	{idRandom, shim.BandVirtual, shim.PriorityBuiltin, func(o Options) bool { return o.RandomSeed != nil }, newRandom},
}

// New builds the built-in shims for opts: the open handlers in chain order and the handlers of
// the other system calls they take over. Nothing touches the host until the supervisor calls
// Provision.
func New(opts Options) ([]shim.Registration, []shim.SyscallHandler, error) {
	if opts.CPUs < 0 {
		return nil, nil, fmt.Errorf("builtin: cpus %d: must not be negative", opts.CPUs)
	}
	// getdents belongs to one handler, but two shims hide directory entries (foreign pids in
	// /proc, absent CPUs in /sys/devices/system/cpu): they share one listing.
	list := &listing{}
	var regs []shim.Registration
	var calls []shim.SyscallHandler
	for _, e := range registry {
		if !e.enabled(opts) {
			continue
		}
		h, err := e.build(opts, list)
		if err != nil {
			return nil, nil, fmt.Errorf("builtin: configure %s: %w", e.id, err)
		}
		regs = append(regs, shim.Registration{Handler: h, Band: e.band, Priority: e.priority})
		if sh, ok := h.(shim.SyscallHandler); ok {
			calls = append(calls, sh)
		}
	}
	calls = append(calls, list)
	return regs, calls, nil
}
