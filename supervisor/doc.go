// Package supervisor is scrim's mediation core: it receives the notifications of one seccomp
// listener, runs each call through the handler chain and answers with an injected file
// descriptor, a result written into the caller, CONTINUE or an errno. It sees handlers only
// through package shim. A Core is built from a listener, a membership source and a root, so it
// serves scrim's own sandboxes (package launch starts them) and listeners from elsewhere alike,
// many at once in one process.
//
// The parts, in the order a call meets them:
//
//   - core.go: Core, its Config, and what a listener's filter promises (Listener).
//   - filter.go: scrim's own BPF program, built as data from tables (denied calls and their
//     errnos, the open family, the calls that only mark credentials stale, the handlers'
//     calls). It is the policy of which calls reach this package, so it lives beside the code
//     that answers them; the kernel interface (internal/kernel/seccomp) holds no policy.
//   - loop.go: locked worker threads that each receive a notification and answer it on the
//     same thread; four wait on the listener at once, so the kernel can wake one on the
//     calling thread's CPU, and more are started while all are busy.
//   - handle.go: decode (package resolver), switch the thread to the caller's credentials
//     (cred.go), resolve, run the chain (chain.go), then open as the caller or serve, and
//     inject with SECCOMP_IOCTL_NOTIF_ADDFD.
//   - signal.go: the kill family, checked against the sandbox's members where the kernel
//     cannot scope signals.
//   - memfdcache.go: one sealed memfd per served path and content, reopened per open, and
//     what stat, readlink and fstat say of it (shim.OpHandler has the contract).
//   - listing.go: the names the handlers serve where a directory holds none, for getdents.
//   - child.go: what only the supervisor may read about the caller (memory, cwd, root, fds),
//     each checked with SECCOMP_IOCTL_NOTIF_ID_VALID before use.
//
// RATIONALE.md's "Supervisor and launch" and "Performance" sections explain the choices a
// reader might otherwise undo.
package supervisor
