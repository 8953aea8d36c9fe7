package builtin

import "github.com/scrim-sandbox/scrim/supervisor/shim"

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
}

// New builds the built-in shims for opts: the open handlers in chain order and the handlers of
// the other system calls they take over.
func New(opts Options) ([]shim.Registration, []shim.SyscallHandler, error) {
	return nil, nil, nil
}
