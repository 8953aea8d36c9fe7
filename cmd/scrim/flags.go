package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scrim-sandbox/scrim/internal/logging"
)

// option is one flag of `scrim run` and `scrim check`. Every option but --config is also a
// config key; config.FlagKeys maps the names.
type option struct {
	name, short string
	arg         string // the placeholder in help; "" for a boolean flag
	help        string
	def         string // the built-in default, as help shows it
	repeatable  bool
}

var options = []option{
	{name: "config", short: "c", arg: "FILE", help: "read the configuration from FILE", def: "none, built-in defaults"},
	{name: "mode", arg: "MODE", help: "strict, or fast (faster, not race-proof)", def: "strict"},
	{name: "hostname", arg: "NAME", help: "host name the sandbox sees", def: "scrim"},
	{name: "cpus", arg: "N", help: "processors the sandbox sees; 0 keeps the host's count", def: "0"},
	{name: "memory", arg: "SIZE", help: "memory total the sandbox sees, like 512M or 2G; 0 keeps the host's", def: "0"},
	{name: "random-seed", arg: "N", help: "make /dev/urandom, /dev/random and getrandom deterministic", def: "unset, real randomness"},
	{name: "net-allow", arg: "HOST[=IP]", help: "let the sandbox resolve HOST through its /etc/hosts", def: "none, loopback only", repeatable: true},
	{name: "chroot", arg: "DIR", help: "use the host directory DIR as the sandbox's root", def: "none, the host's root"},
	{name: "chroot-readonly", help: "make the chroot image read-only", def: "false"},
	{name: "cwd", arg: "DIR", help: "working directory inside the sandbox (absolute)", def: "scrim's own"},
	{name: "mount", arg: "HOST:INSIDE[:ro]", help: "make a host directory visible inside the image", def: "none", repeatable: true},
	{name: "plugin", arg: "FILE.wasm[,KEY=VALUE...]", help: "load a WebAssembly plugin, configured by the KEY=VALUE pairs", def: "none", repeatable: true},
	{name: "audit", arg: "FILE", help: "write one JSON line per mediated call to FILE", def: "none"},
	{name: "cache-dir", arg: "DIR", help: "keep compiled plugins in DIR between runs; \"\" for no cache", def: "$XDG_CACHE_HOME/scrim, or ~/.cache/scrim"},
	{name: "kill-grace", arg: "DURATION", help: "after a SIGTERM, how long the program has to end before scrim kills the sandbox", def: "10s"},
	{name: "log-level", arg: "LEVEL", help: "trace, debug, info, warn, error or off", def: "warn"},
	{name: "log-format", arg: "FORMAT", help: "text or json", def: "text"},
}

// setting is one flag as given on the command line.
type setting struct{ name, value string }

// recorder is a flag.Value that records every use of its flag, in command-line order, so
// repeatable flags keep their order and later flags override earlier ones.
type recorder struct {
	name    string
	boolean bool
	into    *[]setting
}

func (r *recorder) String() string   { return "" }
func (r *recorder) IsBoolFlag() bool { return r.boolean }
func (r *recorder) Set(v string) error {
	*r.into = append(*r.into, setting{r.name, v})
	return nil
}

// parsed is what the flags of run and check say.
type parsed struct {
	config   string
	settings []setting
	args     []string
}

// parseFlags parses args for command cmd. It returns errHelp after printing help to stdout
// for -h/--help.
func parseFlags(cmd, usage string, args []string, stdout io.Writer) (parsed, error) {
	var p parsed
	fs := runFlagSet(cmd, &p)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			printOptions(stdout)
			return p, errHelp
		}
		return p, err
	}
	p.args = fs.Args()
	return p, nil
}

// runFlagSet is a flag set for command cmd with every flag of run and check, recorded into p.
func runFlagSet(cmd string, p *parsed) *flag.FlagSet {
	fs := flag.NewFlagSet("scrim "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, o := range options {
		if o.name == "config" {
			fs.StringVar(&p.config, o.name, "", o.help)
			fs.StringVar(&p.config, o.short, "", o.help)
			continue
		}
		fs.Var(&recorder{name: o.name, boolean: o.arg == "", into: &p.settings}, o.name, o.help)
	}
	return fs
}

var errHelp = errors.New("help requested")

// printOptions writes the flag table with each flag's default.
func printOptions(w io.Writer) {
	fmt.Fprintln(w, "\nFlags (each but --config overrides the config key of the same name):")
	for _, o := range options {
		spell := "    --" + o.name
		if o.short != "" {
			spell = "-" + o.short + ", --" + o.name
		}
		if o.arg != "" {
			spell += " " + o.arg
		}
		help := o.help
		if o.repeatable {
			help += " (repeatable)"
		}
		fmt.Fprintf(w, "  %-32s %s\n  %-32s (default: %s)\n", spell, help, "", o.def)
	}
}

// usageError prints a usage problem the way every subcommand does, with where to read the
// command's usage, and returns exitFailure.
func usageError(stderr io.Writer, cmd string, err error) int {
	msg := err.Error()
	for _, f := range []struct{ prefix, why string }{
		{"flag provided but not defined: ", "unknown flag"},
		{"flag needs an argument: ", "needs a value"},
	} {
		if name, ok := strings.CutPrefix(msg, f.prefix); ok {
			msg = dashed(name) + ": " + f.why
		}
	}
	return report(stderr, cmd, fmt.Errorf("%s; see 'scrim %s --help'", msg, cmd))
}

// dashed spells a flag as the help does: -c, --cpus.
func dashed(name string) string {
	name = strings.TrimLeft(name, "-")
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// report prints err in scrim's one message style (logging.Report) and returns exitFailure.
func report(stderr io.Writer, cmd string, err error) int {
	logging.Report(stderr, cmd, err)
	return exitFailure
}

// hinted adds what to do to an error that says what is wrong and why.
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return h.err.Error() + "; " + h.hint }
func (h hinted) Unwrap() error { return h.err }

// hint returns err followed by what to do about it.
func hint(err error, what string) error { return hinted{err, what} }

// parseNoFlags parses the arguments of a command that takes no flags, answering -h/--help.
func parseNoFlags(cmd, usage string, args []string, stdout io.Writer) ([]string, error) {
	fs := flag.NewFlagSet("scrim "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil, errHelp
		}
		return nil, err
	}
	return fs.Args(), nil
}
