package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

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
  test FILE.wasm --path P [--flags F] [--config KEY=VALUE]...
                      load the plugin as scrim run would and print its decision for one
                      open of P: the verdict, the errno or the content

Exit status: 0 when the plugin loads (inspect) or decided (test); 1 when inspect found
problems or the plugin failed; 125 on bad usage.
`

const pluginTestUsage = `Usage: scrim plugin test FILE.wasm --path P [flags]

Loads FILE.wasm exactly as scrim run would and asks it about one open of P. The real file,
when the plugin asks to read it, is opened as the user running this command.

Flags:
  --path P              canonical absolute path of the open (required)
  --flags F             open flags: names joined by "|" or ",", such as O_RDONLY|O_CLOEXEC,
                        or a number (default O_RDONLY)
  --config KEY=VALUE    a configuration value (repeatable); VALUE is read as JSON when it is
                        a number, true, false, an array or an object, else as a string
  --uid N, --gid N      the caller's filesystem user and group (default: yours)
  --pid N               the caller's process id (default 1)
  --sandbox NAME        the sandbox name (default scrim)
  --timeout D           the per-call deadline (default 250ms)
  --memory BYTES        the memory cap (default 16 MiB)
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
	fmt.Fprintf(stderr, "scrim plugin: unknown command %q\n\n%s", args[0], pluginUsage)
	return exitFailure
}

func pluginInspect(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	args, cacheDir, err := cutCacheDir(args)
	if err != nil {
		fmt.Fprintf(stderr, "scrim plugin inspect: %s\n\n%s", err, pluginUsage)
		return exitFailure
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "scrim plugin inspect: want exactly one FILE.wasm\n\n%s", pluginUsage)
		return exitFailure
	}
	r, err := plugins.Inspect(context.Background(), args[0], plugins.Options{CacheDir: cacheDir})
	if err != nil {
		fmt.Fprintf(stderr, "scrim plugin inspect: %s\n", err)
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

// configFlag collects --config KEY=VALUE pairs.
type configFlag map[string]any

func (c configFlag) String() string { return "" }

func (c configFlag) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", kv)
	}
	var parsed any
	if t := strings.TrimSpace(v); t != "" && strings.ContainsAny(t[:1], "[{-0123456789tf") &&
		json.Unmarshal([]byte(t), &parsed) == nil {
		c[k] = parsed
		return nil
	}
	c[k] = v
	return nil
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

// hostTarget opens the real file as the user running scrim plugin test.
type hostTarget string

func (t hostTarget) Open(flags int, mode uint32) (*os.File, error) {
	return os.OpenFile(string(t), flags, os.FileMode(mode))
}

func pluginTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scrim plugin test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("path", "", "")
	flagsArg := fs.String("flags", "O_RDONLY", "")
	cfg := configFlag{}
	fs.Var(cfg, "config", "")
	uid := fs.Uint("uid", uint(os.Getuid()), "")
	gid := fs.Uint("gid", uint(os.Getgid()), "")
	pid := fs.Int("pid", 1, "")
	sandbox := fs.String("sandbox", "scrim", "")
	timeout := fs.Duration("timeout", 250*time.Millisecond, "")
	memory := fs.Uint64("memory", 16<<20, "")
	// The module comes first, flags after it: move it out of the way of flag.Parse.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, pluginTestUsage)
			return 0
		}
		fmt.Fprintf(stderr, "scrim plugin test: %s\n\n%s", err, pluginTestUsage)
		return exitFailure
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scrim plugin test: unexpected argument %q\n\n%s", fs.Arg(0), pluginTestUsage)
		return exitFailure
	}
	if file == "" || *path == "" {
		fmt.Fprintf(stderr, "scrim plugin test: want FILE.wasm and --path\n\n%s", pluginTestUsage)
		return exitFailure
	}
	if !strings.HasPrefix(*path, "/") {
		fmt.Fprintf(stderr, "scrim plugin test: --path %q: want a canonical absolute path\n", *path)
		return exitFailure
	}
	flags, err := parseOpenFlags(*flagsArg)
	if err != nil {
		fmt.Fprintf(stderr, "scrim plugin test: --flags: %s\n", err)
		return exitFailure
	}
	ctx := context.Background()
	log := hclog.New(&hclog.LoggerOptions{Name: "scrim", Level: hclog.Warn, Output: stderr})
	spec := plugins.Spec{Name: "test", Path: file, Config: cfg, Timeout: *timeout, MemoryBytes: *memory, Instances: 1}
	h, err := plugins.Load(ctx, []plugins.Spec{spec}, plugins.Options{Log: log, Sandbox: *sandbox})
	if err != nil {
		fmt.Fprintf(stderr, "scrim plugin test: %s\n", err)
		return 1
	}
	defer h.Close(ctx)
	req := &shim.Request{
		Syscall: shim.SysOpenat, PID: *pid, TID: *pid, Spelled: []byte(*path), Dirfd: unix.AT_FDCWD,
		Path: []byte(*path), Flags: flags, Mode: 0o666,
		Cred:   shim.Cred{UID: uint32(*uid), EUID: uint32(*uid), FSUID: uint32(*uid), GID: uint32(*gid), EGID: uint32(*gid), FSGID: uint32(*gid)},
		Umask:  0o022,
		Target: hostTarget(*path),
	}
	var st unix.Stat_t
	if unix.Stat(*path, &st) == nil {
		req.Object = shim.Object{Exists: true, Dev: st.Dev, Ino: st.Ino, Mode: st.Mode}
	}
	res, err := h.Decide(ctx, "test", req)
	switch {
	case errors.Is(err, plugins.ErrNotClaimed):
		fmt.Fprintf(stdout, "verdict: next (%s is not claimed; claims: %s)\n", *path, strings.Join(h.Claims("test"), " "))
		return 0
	case err != nil:
		fmt.Fprintf(stdout, "verdict: fault: %s\n", err)
		return 1
	}
	if res.Action == shim.ActServe {
		// What the supervisor answers instead of served content the request may not have.
		if e := req.ReadOnlyErrno(); e != 0 {
			res = shim.Deny(e)
		}
	}
	return printResult(stdout, res)
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
