package builtin

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idHostname = "builtin.hostname"

// hostnameMax is HOST_NAME_MAX: the longest nodename uname can carry.
const hostnameMax = 64

// hostname gives the sandbox its own name: /etc/hostname, /proc/sys/kernel/hostname and
// uname's nodename all say it, and sethostname and setdomainname fail with EPERM, as they do
// for a process without CAP_SYS_ADMIN in its UTS namespace.
type hostname struct {
	name   string
	ids    map[fileID]string
	pseudo map[pseudoID]string
	// target is where /etc/hostname leads in the child's root when it is a symlink.
	target string
}

var (
	_ shim.Handler        = (*hostname)(nil)
	_ shim.SyscallHandler = (*hostname)(nil)
	_ shim.Provisioner    = (*hostname)(nil)
)

func newHostname(opts Options, _ *listing) (shim.Handler, error) {
	name := opts.Hostname
	if name == "" {
		name = DefaultHostname
	}
	if err := validHostname(name); err != nil {
		return nil, err
	}
	return &hostname{name: name}, nil
}

// validHostname accepts what sethostname would: 1 to 64 bytes; scrim also refuses bytes that
// would break the one-line files that carry it.
func validHostname(name string) error {
	if len(name) == 0 || len(name) > hostnameMax {
		return fmt.Errorf("hostname %q: must be 1 to %d bytes", name, hostnameMax)
	}
	if strings.ContainsAny(name, "\x00\n/ \t") {
		return fmt.Errorf("hostname %q: contains NUL, a slash, a space or a newline", name)
	}
	return nil
}

func (h *hostname) ID() string { return idHostname }

// Provision records the identities of the hostname files in the child's root.
func (h *hostname) Provision(env shim.Env) error {
	root := rootOf(env, "")
	h.ids = map[fileID]string{}
	h.pseudo = map[pseudoID]string{}
	id, ok, target, err := regularTarget(root, "/etc/hostname")
	if err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	if ok {
		h.ids[id] = "/etc/hostname"
	}
	h.target = target
	if obj, ok, err := objectInRoot(root, "/proc/sys/kernel/hostname"); err == nil && ok && isPseudoFS(obj.FsType) {
		h.pseudo[pseudoID{obj.FsType, obj.Ino}] = "/proc/sys/kernel/hostname"
	}
	return nil
}

// Open serves "NAME\n" for both files, by name and by identity.
func (h *hostname) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	p := string(req.Path)
	obj := req.Object
	match := p == "/etc/hostname" || servedTarget(req, h.target) ||
		(p == "/proc/sys/kernel/hostname" && (!obj.Exists || obj.FsType == unix.PROC_SUPER_MAGIC))
	if !match && obj.Exists {
		_, byID := h.ids[objectID(obj)]
		_, byPseudo := h.pseudo[pseudoID{obj.FsType, obj.Ino}]
		match = byID || (byPseudo && isPseudoFS(obj.FsType))
	}
	if !match {
		return shim.Next(), nil
	}
	return shim.ServeBytes("hostname", []byte(h.name+"\n")), nil
}

// Syscalls are uname, sethostname and setdomainname.
func (h *hostname) Syscalls() []int {
	return []int{unix.SYS_UNAME, unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME}
}

// Syscall performs uname for the caller with the view's nodename, and refuses the setters.
func (h *hostname) Syscall(_ context.Context, call *shim.Call) (shim.SyscallResult, error) {
	if call.Nr != unix.SYS_UNAME {
		return shim.Fail(unix.EPERM), nil
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return shim.Fail(errnoOf(err)), nil
	}
	u.Nodename = [len(u.Nodename)]byte{}
	copy(u.Nodename[:hostnameMax], h.name)
	if _, err := call.Mem.WriteAt(encodeUtsname(&u), call.Args[0]); err != nil {
		return shim.Fail(unix.EFAULT), nil
	}
	return shim.Return(0), nil
}

// encodeUtsname lays out struct new_utsname: six fields of 65 bytes.
func encodeUtsname(u *unix.Utsname) []byte {
	b := make([]byte, 0, 6*65)
	for _, f := range [][65]byte{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname} {
		b = append(b, f[:]...)
	}
	return b
}
