package plugins

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// onError is what the child gets when a plugin faults (ABI.md §7).
type onError struct {
	next  bool
	errno unix.Errno
}

// parseOnError reads the on_error setting: "" or "deny" (EIO), "deny:ENAME" or "next".
func parseOnError(s string) (onError, error) {
	switch s {
	case "", "deny":
		return onError{errno: unix.EIO}, nil
	case "next":
		return onError{next: true}, nil
	}
	name, ok := strings.CutPrefix(s, "deny:")
	if !ok {
		return onError{}, fmt.Errorf("on_error %q: want \"deny\", \"deny:ERRNO\" or \"next\"", s)
	}
	e := errnoValue(strings.ToUpper(name))
	if e == 0 {
		return onError{}, fmt.Errorf("on_error %q: %q is not an errno name such as EACCES", s, name)
	}
	return onError{errno: e}, nil
}

func (o onError) result() shim.Result {
	if o.next {
		return shim.Next()
	}
	return shim.Deny(o.errno)
}

func (o onError) String() string {
	if o.next {
		return "next"
	}
	return "deny:" + unix.ErrnoName(o.errno)
}

// errnoValue is the inverse of unix.ErrnoName over the errnos a plugin may use; 0 if name is
// none of them.
func errnoValue(name string) unix.Errno {
	for e := unix.Errno(1); e <= maxErrno; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}
