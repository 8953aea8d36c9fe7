package plugins

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// onError is the errno the child gets when a plugin faults (ABI.md §7). There is no
// "pass it on" choice: a plugin that fails must never let the real file through.
type onError struct {
	errno unix.Errno
}

// parseOnError reads the on_error setting: an errno name such as "EIO" or "EACCES" ("" means
// EIO).
func parseOnError(s string) (onError, error) {
	if s == "" {
		return onError{errno: unix.EIO}, nil
	}
	e := errnoValue(strings.ToUpper(strings.TrimPrefix(s, "deny:")))
	if e == 0 {
		return onError{}, fmt.Errorf("on_error %q: not an errno name such as EIO or EACCES", s)
	}
	return onError{errno: e}, nil
}

func (o onError) result() shim.Result { return shim.Deny(o.errno) }

func (o onError) String() string { return unix.ErrnoName(o.errno) }

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
