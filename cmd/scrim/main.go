// Command scrim runs a program under a seccomp user-notification supervisor that decides what
// the program sees when it opens a file.
//
//	scrim run [flags] -- CMD [ARGS...]
//	scrim check [-c FILE] [flags]
//	scrim plugin ...
//	scrim version
//	scrim help [COMMAND]
//
// This is the only package that wires scrim's packages together: config → builtin and plugins
// → supervisor/launch → supervisor.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/scrim-sandbox/scrim/supervisor/launch"
)

// exitFailure is scrim's own failure, bad usage included: the child's statuses (0-124 when it
// exits, 126, 127 and 128+N) must stay distinguishable from scrim's (README.md, "Exit status").
const exitFailure = 125

func main() {
	// scrim re-executes itself as the keeper and the stub of each sandbox: those never return.
	launch.Dispatch()
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs one subcommand and returns the process's exit status.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitFailure
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "plugin":
		return runPlugin(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return cmdHelp(rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "scrim: unknown command %q\n\n%s", cmd, mainUsage)
		return exitFailure
	}
}

const mainUsage = `Usage: scrim COMMAND [ARGS...]

scrim runs a program under a seccomp supervisor that decides, for every file the program
opens, whether it sees the real file, a virtual one, or an error.

Commands:
  run      run a program in the sandbox:   scrim run [flags] -- CMD [ARGS...]
  check    check a configuration and show what would run, without running anything
  plugin   inspect WebAssembly plugins
  version  print scrim's version, its Go version and the kernel features it found
  help     show help for a command:        scrim help run

Exit status of scrim run: the program's own; 128+N if it died of signal N; 125 if scrim
itself failed (bad usage or configuration, missing kernel feature); 126 if CMD could not be
executed; 127 if it was not found.
`

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, mainUsage)
		return 0
	}
	switch args[0] {
	case "run", "check", "version":
		return dispatch([]string{args[0], "--help"}, stdout, stderr)
	case "plugin":
		return runPlugin([]string{"--help"}, stdout, stderr)
	}
	fmt.Fprintf(stderr, "scrim help: unknown command %q\n\n%s", args[0], mainUsage)
	return exitFailure
}
