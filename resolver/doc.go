// Package resolver turns a decoded open-family call and the calling thread's state into one
// shim.Request: the path resolved exactly as the kernel would for that thread.
//
// The supervisor uses it once per notification:
//
//	in, err := resolver.Decode(nr, args, tgid, tid, mem) // reads child memory once
//	res, err := r.Resolve(&in, child)                     // on a thread with the child's creds
//	defer res.Close()
//	// hand &res.Request down the chain; ActReal opens res.Request.Target
//
// Both return two kinds of failure. A bare unix.Errno (ChildErrno reports it) is the kernel's
// answer for the child: EFAULT, ENAMETOOLONG, EINVAL, ELOOP, EXDEV and so on. Anything else
// means scrim could not decide (the notification went away, a Child call failed) and the
// supervisor fails closed.
//
// Resolve walks the path as fs/namei.c does for the caller, with one O_PATH openat2 per
// component on the caller's credentials: symlinks and chains, ".." after symlinks, the
// caller's root, cwd and dirfd, magic links (/proc/<pid>/fd/N, cwd, root, exe, /dev/fd/N,
// /dev/std*), /proc/self and /proc/thread-self as the caller, RESOLVE_* flags, O_NOFOLLOW,
// O_DIRECTORY and trailing slashes. When the children share scrim's root a fast path lets the
// kernel resolve in one call where the walk would be purely lexical (RATIONALE.md, "Path
// resolution"). The canonical Request.Path is built by the walk in the child's view;
// Request.Object is what fstat and fstatfs say of the object found.
//
// Known differences from the kernel: RESOLVE_CACHED lookups are done rather than failed with
// EAGAIN; the fs.protected_* sysctls are read once, when the Resolver is made; scrim's own
// /proc/<pid> entries do not exist for the child; opening a terminal never makes it the
// caller's controlling terminal (O_NOCTTY is always added).
package resolver
