package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/logging"
	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const pluginUsage = `Usage: scrim plugin COMMAND [ARGS...]

Tools for plugin authors. Neither starts a sandbox.

Commands:
  inspect FILE.wasm [--cache-dir DIR]
                      print the plugin's ABI version, claims, exports and imports, and
                      every problem that would stop scrim from loading it; check and
                      repair its compiled code in the cache (default ~/.cache/scrim)
  test [FILE.wasm[,KEY=VALUE...] | DROPIN.toml] --path P [-c FILE] [flags]
                      resolve P as scrim run would and print which handler of the chain
                      scrim run would build (with the plugin added) answers an open of
                      it: a built-in shim, a plugin or the real file, and what it gives

Exit status: 0 when the plugin loads (inspect) or decided (test); 1 when inspect found
problems or the plugin failed; 125 on bad usage.
`

const pluginTestUsage = `Usage: scrim plugin test [FILE.wasm[,KEY=VALUE...] | DROPIN.toml] --path P [flags]

Asks the open chain scrim run would build about one open of P, and prints the path P resolves
to, which handler answers (a built-in shim, a plugin, or root: the real file) and what the
program gets. The chain is the configuration as scrim run reads it (-c FILE, the drop-in
plugins, the flags below) with, when given, FILE.wasm added as --plugin adds it (with its
KEY=VALUE configuration), or the drop-in file DROPIN.toml added as a plugin directory would
add it. A plugin the configuration already loads from FILE.wasm is tested as configured, with
any KEY=VALUE on top of its configuration.

P is resolved as scrim run resolves the program's opens (symbolic links, "..", /proc/self,
the image in chroot mode) but as the user running this command, in this command's process:
/proc/self is this process, and an image's mounts, /proc, /dev and /tmp are not there.
Nothing is opened for the program: the real file is only named, and a plugin that asks to
read it reads it as you. Exit status 0 when the chain decided, 1 when a handler failed, 125
on bad usage or configuration.

Flags:
  --path P              the absolute path the program opens (required)
  --flags F             open flags: names joined by "|" or ",", such as O_RDONLY|O_CLOEXEC,
                        or a number (default O_RDONLY)
  --uid N, --gid N      the caller's user and group the handlers see (default: yours)
  --pid N               the caller's process id the handlers see (default: this command's)
  -c, --config FILE     read the configuration from FILE, as scrim run -c does
  and every other flag of scrim run (--hostname, --chroot, --plugin, ...; scrim run --help)
`

// runPlugin runs `scrim plugin ...`.
func runPlugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return exitFailure
	}
	switch args[0] {
	case "inspect":
		return pluginInspect(args[1:], stdout, stderr)
	case "test":
		return pluginTest(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	return report(stderr, "plugin", fmt.Errorf("%s: unknown command; the commands are inspect and test ('scrim plugin --help')", config.Quote(args[0])))
}

const pluginInspectUsage = `Usage: scrim plugin inspect FILE.wasm [--cache-dir DIR]

Prints the plugin's ABI version, claims, exports and imports, and every problem that would
stop scrim from loading it, among them a damaged entry for it in the compile cache (DIR, by
default scrim's cache_dir), which it repairs. Exit status 0 when scrim can load the plugin, 1
when inspect found problems, 125 on bad usage.
`

func pluginInspect(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, pluginInspectUsage)
		return 0
	}
	args, cacheDir, err := cutCacheDir(args)
	if err != nil {
		return usageError(stderr, "plugin inspect", err)
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageError(stderr, "plugin inspect", errors.New("want exactly one FILE.wasm"))
	}
	r, err := plugins.Inspect(context.Background(), args[0], plugins.Options{CacheDir: cacheDir})
	if err != nil {
		logging.Report(stderr, "plugin inspect", hint(err, "give the path of a WebAssembly module (.wasm) scrim can read"))
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("file", r.Path)
	row("size", strconv.Itoa(r.Size))
	row("sha256", r.SHA256)
	if r.ABI == "" {
		row("abi", "none (no scrim_abi_v1 export)")
	} else {
		row("abi", fmt.Sprintf("%s.%d", r.ABI, r.ABIMinor))
	}
	row("name", orNone(r.Name))
	row("version", orNone(r.Version))
	if len(r.Claims) == 0 {
		row("claims", "none")
	}
	for _, c := range r.Claims {
		row("claim", c)
	}
	for _, e := range r.Exports {
		row("export", e.Name+" "+e.Type)
	}
	for _, i := range r.Imports {
		row("import", i.Module+"."+i.Name+" "+i.Type)
	}
	if r.Cache != "" {
		row("cache", r.Cache)
	}
	for _, d := range r.CacheDiscarded {
		row("bad cache entry", d)
	}
	if len(r.Problems) == 0 {
		row("problems", "none: scrim can load this plugin")
	}
	for _, p := range r.Problems {
		row("problem", p)
	}
	tw.Flush()
	if len(r.Problems) > 0 {
		return 1
	}
	return 0
}

func orNone(s string) string {
	if s == "" {
		return "(not given)"
	}
	return s
}

// openFlagNames are the names --flags accepts.
var openFlagNames = map[string]int{
	"O_RDONLY": unix.O_RDONLY, "O_WRONLY": unix.O_WRONLY, "O_RDWR": unix.O_RDWR,
	"O_CREAT": unix.O_CREAT, "O_EXCL": unix.O_EXCL, "O_TRUNC": unix.O_TRUNC,
	"O_APPEND": unix.O_APPEND, "O_DIRECTORY": unix.O_DIRECTORY, "O_NOFOLLOW": unix.O_NOFOLLOW,
	"O_CLOEXEC": unix.O_CLOEXEC, "O_NONBLOCK": unix.O_NONBLOCK, "O_NOCTTY": unix.O_NOCTTY,
	"O_PATH": unix.O_PATH, "O_TMPFILE": unix.O_TMPFILE, "O_SYNC": unix.O_SYNC,
}

func parseOpenFlags(s string) (int, error) {
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return int(n), nil
	}
	flags := 0
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' }) {
		name = strings.ToUpper(strings.TrimSpace(name))
		if !strings.HasPrefix(name, "O_") {
			name = "O_" + name
		}
		v, ok := openFlagNames[name]
		if !ok {
			return 0, fmt.Errorf("unknown open flag %q", name)
		}
		flags |= v
	}
	return flags, nil
}

func printResult(w io.Writer, res shim.Result) int {
	switch res.Action {
	case shim.ActDeny:
		fmt.Fprintf(w, "verdict: deny\nerrno: %s (%d): %s\n", unix.ErrnoName(res.Errno), int(res.Errno), res.Errno.Error())
	case shim.ActServe:
		var data []byte
		mode := uint32(0o444)
		switch c := res.Content.(type) {
		case shim.File:
			var st unix.Stat_t
			if unix.Fstat(int(c.F.Fd()), &st) == nil {
				mode = st.Mode & 0o777
			}
			data, _ = io.ReadAll(c.F)
			c.F.Close()
		case shim.Bytes:
			data = c.Data
			if c.Mode != 0 {
				mode = c.Mode & 0o777
			}
		}
		fmt.Fprintf(w, "verdict: serve\nmode: %#o\nsize: %d\n\n", mode, len(data))
		w.Write(data)
	default:
		fmt.Fprintf(w, "verdict: %s\n", res.Action)
	}
	return 0
}
