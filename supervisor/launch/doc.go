// Package launch starts a program in a sandbox and has a supervisor.Core mediate it: it
// re-executes the scrim binary as a keeper and a stub, puts the program under scrim's filter
// (and in image mode in its image, and in a Landlock domain where the kernel has one), takes the
// listener they hand over and builds the core from it, forwards signals, reaps, and returns the
// program's exit status. Every binary that starts sandboxes calls Dispatch first thing in main
// (and in TestMain).
//
// The parts, in the order a run meets them:
//
//   - api.go: Config, New (checks, handlers' lifecycle, the filter) and Run.
//   - dispatch.go: the one argv[0] dispatch to the keeper, the stub and the namespace probe.
//   - run.go: starting the keeper, the hand-over of filter and listener, the core, signal
//     forwarding, reaping and the exit status.
//   - keeper.go: the keeper, the sandbox's subreaper, which starts the stub (or the program),
//     reports each exit in the sandbox to scrim and kills the whole sandbox if scrim dies.
//   - stub.go: scrim re-executed once more, which enters the image and the Landlock domain,
//     installs the filter on its own thread, hands the listener over and execs the command.
//   - image.go, image_stub.go, image_mountinfo.go: image mode (--chroot).
//   - sandbox.go: the sandbox's membership, descent from the keeper, for the core and the
//     handlers.
//
// RATIONALE.md's "Supervisor and launch" section explains the choices a reader might otherwise
// undo.
package launch
