package kernel

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Domain is the Landlock domain scrim puts a sandbox in: what keeps the sandboxed program away
// from scrim and its keeper where the kernel can enforce it. Any Landlock domain forbids
// ptrace-class access (ptrace, pidfd_getfd, process_vm_readv, /proc/PID/mem, /proc/PID/root,
// /proc/PID/fd) from inside to processes outside it; scope bits extend that to signals and
// abstract unix sockets. A zero Domain means no domain.
type Domain struct {
	// ABI is the Landlock ABI the ruleset is written for; 0 means no domain.
	ABI int
	// Scoped is the ruleset's scoped field: LANDLOCK_SCOPE_SIGNAL and, when asked for,
	// LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET.
	Scoped uint64
}

// Landlock ABI levels scrim cares about.
const (
	// landlockRefer is the first ABI with LANDLOCK_ACCESS_FS_REFER. Under ABI 1 every domain
	// refuses to move or link a file into another directory (EXDEV), which breaks mv, git and
	// tar: scrim uses no domain there.
	landlockRefer = 2
	// landlockScopes is the first ABI with scoped signals and abstract unix sockets.
	landlockScopes = 6
)

// PlanDomain chooses the domain for a kernel with Landlock ABI abi. abstractUnix asks that the
// sandbox also lose access to abstract unix sockets bound outside it (off by default: X11,
// D-Bus and systemd listen there).
func PlanDomain(abi int, abstractUnix bool) Domain {
	if abi < landlockRefer {
		return Domain{}
	}
	d := Domain{ABI: abi}
	if abi >= landlockScopes {
		d.Scoped = unix.LANDLOCK_SCOPE_SIGNAL
		if abstractUnix {
			d.Scoped |= unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
		}
	}
	return d
}

// Active reports whether d is a domain at all.
func (d Domain) Active() bool { return d.ABI > 0 }

// ScopesSignals reports whether the kernel keeps signals from inside d to processes outside.
func (d Domain) ScopesSignals() bool { return d.Scoped&unix.LANDLOCK_SCOPE_SIGNAL != 0 }

// String encodes d for the keeper's and the stub's argument lists: "none" or "ABI:SCOPED".
func (d Domain) String() string {
	if !d.Active() {
		return "none"
	}
	return strconv.Itoa(d.ABI) + ":" + strconv.FormatUint(d.Scoped, 10)
}

// ParseDomain reverses String.
func ParseDomain(s string) (Domain, error) {
	if s == "none" {
		return Domain{}, nil
	}
	abi, scoped, ok := strings.Cut(s, ":")
	a, err1 := strconv.Atoi(abi)
	sc, err2 := strconv.ParseUint(scoped, 10, 64)
	if !ok || err1 != nil || err2 != nil || a < landlockRefer {
		return Domain{}, fmt.Errorf("parse landlock domain %q: want none or ABI:SCOPED", s)
	}
	return Domain{ABI: a, Scoped: sc}, nil
}

// Mechanism says in words what keeps the sandbox away from scrim on this kernel, for
// `scrim version` and the log.
func (d Domain) Mechanism() string {
	switch {
	case !d.Active():
		return "no landlock domain (kernel lacks landlock ABI 2); filter and mediation only"
	case d.ScopesSignals():
		s := fmt.Sprintf("landlock ABI %d domain: ptrace-class access and signals scoped", d.ABI)
		if d.Scoped&unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET != 0 {
			s += ", abstract unix sockets scoped"
		}
		return s
	default:
		return fmt.Sprintf("landlock ABI %d domain: ptrace-class access scoped; signals not scoped (ABI 6)", d.ABI)
	}
}

// landlockRulesetAttr is struct landlock_ruleset_attr up to the scoped field (ABI 6); the
// kernel takes the size it is given and treats missing fields as zero.
type landlockRulesetAttr struct {
	handledAccessFS  uint64
	handledAccessNet uint64
	scoped           uint64
}

// RestrictSelf puts the calling thread in d. The thread must be locked to its goroutine, and
// nothing but an exec may follow: the domain is the thread's, and the program the thread
// execs is the only one that inherits it. no_new_privs is set first, as Landlock requires of
// a caller without CAP_SYS_ADMIN.
//
// The ruleset handles three file-system rights and grants one: creating character and block
// device nodes is refused (a fresh node of a denied device would not be the denied node), and
// moving or linking files between directories is granted beneath the root, because a domain
// that did not handle REFER would refuse it everywhere with EXDEV.
func RestrictSelf(d Domain) error {
	if !d.Active() {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	attr := landlockRulesetAttr{
		handledAccessFS: unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK | unix.LANDLOCK_ACCESS_FS_REFER,
		scoped:          d.Scoped,
	}
	size := unsafe.Sizeof(attr)
	if d.Scoped == 0 {
		// Kernels before ABI 6 know only the first two fields.
		size = unsafe.Offsetof(attr.scoped)
	}
	r, _, e := unix.RawSyscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return fmt.Errorf("landlock_create_ruleset: %w", e)
	}
	ruleset := int(r)
	defer unix.Close(ruleset)
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open / for the landlock rule: %w", err)
	}
	defer unix.Close(root)
	rule := unix.LandlockPathBeneathAttr{Allowed_access: unix.LANDLOCK_ACCESS_FS_REFER, Parent_fd: int32(root)}
	if _, _, e := unix.RawSyscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0); e != 0 {
		return fmt.Errorf("landlock_add_rule(/, REFER): %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); e != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", e)
	}
	return nil
}
