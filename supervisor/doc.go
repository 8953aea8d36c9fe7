// Package supervisor launches a program under scrim's seccomp filter, receives its open-family
// calls, runs each through the handler chain and answers with an injected file descriptor or an
// errno. It sees handlers only through package shim.
//
// The parts, in the order a call meets them:
//
//   - keeper.go: Run re-executes the scrim binary as a keeper, the sandbox's subreaper, which
//     starts the stub, reports each exit in the sandbox to scrim and kills the whole sandbox
//     if scrim dies.
//   - stub.go: the keeper's child, scrim re-executed once more, installs the filter on its own
//     thread, hands the listener over and execs the command in place.
//   - filter.go: the BPF program, built as data from tables (denied calls and their errnos,
//     the open family, the calls that only mark credentials stale, the handlers' calls).
//   - loop.go: locked worker threads that each receive a notification and answer it on the
//     same thread; four wait on the listener at once, so the kernel can wake one on the
//     calling thread's CPU, and more are started while all are busy.
//   - handle.go: decode (package resolver), switch the thread to the caller's credentials
//     (cred.go), resolve, run the chain (chain.go), then open as the caller or serve, and
//     inject with SECCOMP_IOCTL_NOTIF_ADDFD.
//   - memfdcache.go: sealed memfds of recently served content, reopened per open.
//   - child.go: what only the supervisor may read about the caller (memory, cwd, root, fds),
//     each checked with SECCOMP_IOCTL_NOTIF_ID_VALID before use.
//   - run.go: starting the keeper, signal forwarding, reaping and the exit status.
//
// RATIONALE.md's "Supervisor" section explains the choices a reader might otherwise undo.
package supervisor
