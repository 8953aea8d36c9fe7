// Command scrim runs a program under a seccomp user-notification supervisor that decides what
// the program sees when it opens a file.
//
//	scrim run [flags] -- CMD [ARGS...]
//	scrim check [-c FILE] [flags]
//	scrim plugin ...
//	scrim version, scrim --version
//	scrim help [COMMAND]
//
// This is the only package that wires scrim's packages together: config → builtin and plugins
// → supervisor/launch → supervisor.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/scrim-sandbox/scrim/internal/config"
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
	case "--version", "-version", "-V":
		return cmdShortVersion(rest, stdout, stderr)
	case "plugin":
		return runPlugin(rest, stdout, stderr)
	case "oci":
		return cmdOCI(rest, stdout, stderr)
	case "agent":
		return cmdAgent(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return cmdHelp(rest, stdout, stderr)
	default:
		return report(stderr, "", fmt.Errorf("%s: unknown command; the commands are run, check, plugin, oci, agent, version and help ('scrim help')", config.Quote(cmd)))
	}
}

const mainUsage = `Usage: scrim COMMAND [ARGS...]

scrim runs a program under a seccomp supervisor that decides, for every file the program
opens, whether it sees the real file, a virtual one, or an error.

Commands:
  run      run a program in the sandbox:   scrim run [flags] -- CMD [ARGS...]
  check    check a configuration and show what would run, without running anything
  plugin   inspect and test WebAssembly plugins
  oci      print the seccomp profile a container runtime needs: scrim oci profile --socket PATH
  agent    serve containers as their runtime's seccomp agent:    scrim agent --socket PATH
  version  print scrim's version, its Go version and the kernel features it found
  help     show help for a command:        scrim help run

scrim --version (or -V) prints the version alone. Every command answers -h and --help.

Exit status of scrim run: the program's own; 128+N if it died of signal N; 125 if scrim
itself failed (bad usage or configuration, missing kernel feature); 126 if CMD could not be
executed; 127 if it was not found. Whatever the log level, scrim says why it failed on
stderr, as "scrim COMMAND: WHAT: WHY; WHAT TO DO".
`

const helpUsage = `Usage: scrim help [COMMAND [SUBCOMMAND]]

Without a command, lists the commands; with one, prints its help, as scrim COMMAND --help
does (scrim help plugin inspect is scrim plugin inspect --help).
`

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, mainUsage)
		return 0
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, helpUsage)
		return 0
	case "run", "check", "version", "oci", "agent":
		return dispatch([]string{args[0], "--help"}, stdout, stderr)
	case "plugin":
		sub := []string{"--help"}
		if len(args) > 1 {
			sub = []string{args[1], "--help"} // scrim help plugin inspect
		}
		return runPlugin(sub, stdout, stderr)
	}
	return report(stderr, "help", fmt.Errorf("%s: unknown command; the commands are run, check, plugin, oci, agent, version and help", config.Quote(args[0])))
}
