package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/internal/logging"
	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/resolver"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/launch"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// pluginTest runs `scrim plugin test`: one open through the chain scrim run would build.
func pluginTest(args []string, stdout, stderr io.Writer) int {
	const cmd = "plugin test"
	var p parsed
	fs := runFlagSet(cmd, &p)
	path := fs.String("path", "", "")
	flagsArg := fs.String("flags", "O_RDONLY", "")
	uid := fs.Uint("uid", 0, "")
	gid := fs.Uint("gid", 0, "")
	pid := fs.Int("pid", 0, "")
	// The plugin comes first, flags after it: move it out of the way of flag.Parse.
	var subject string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		subject, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, pluginTestUsage)
			return 0
		}
		return usageError(stderr, cmd, err)
	}
	if subject == "" && fs.NArg() == 1 {
		subject = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError(stderr, cmd, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *path == "" {
		return usageError(stderr, cmd, errors.New("want --path P: the path the program opens"))
	}
	if !strings.HasPrefix(*path, "/") {
		return usageError(stderr, cmd, fmt.Errorf("--path %q: want an absolute path", *path))
	}
	if strings.Contains(p.config, "=") && !fileExists(p.config) {
		// --config KEY=VALUE configured the plugin before -c named the config file.
		return usageError(stderr, cmd, fmt.Errorf("--config %s: no such config file; a plugin's configuration goes after its file: scrim plugin test FILE.wasm,%s", p.config, p.config))
	}
	flags, err := parseOpenFlags(*flagsArg)
	if err != nil {
		return usageError(stderr, cmd, fmt.Errorf("--flags: %w", err))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg, ok := loadConfig(p, cmd, stderr)
	if !ok {
		return exitFailure
	}
	name, err := addSubject(&cfg, subject)
	if err == nil {
		err = cfg.Check()
	}
	if err != nil {
		return report(stderr, cmd, err)
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return report(stderr, cmd, err)
	}
	ctx := context.Background()
	h, err := buildHandlers(ctx, cfg, log, false)
	if err != nil {
		return report(stderr, cmd, err)
	}
	defer h.close(ctx, hclog.NewNullLogger())
	chain, err := launch.Chain(launch.Config{Handlers: h.chain, Image: image(cfg)})
	if err != nil {
		return report(stderr, cmd, err)
	}
	root := "/"
	if cfg.Chroot != "" {
		root = cfg.Chroot
		fmt.Fprintf(stderr, "scrim %s: warning: paths resolve inside the image %s as it is on the host: the /proc, /dev, /tmp and mounts a running sandbox has in it are not made here\n", cmd, root)
	}
	cleanup, err := provision(chain, h.syscalls, testSandbox{self: os.Getpid(), root: root}, log)
	defer cleanup()
	if err != nil {
		return report(stderr, cmd, err)
	}

	fmt.Fprintf(stdout, "path: %s\n", *path)
	res, errno, err := resolveAsRun(root, *path, flags, log)
	if err != nil {
		logging.Report(stderr, cmd, fmt.Errorf("resolve %s: %w", config.Quote(*path), err))
		return 1
	}
	if errno != 0 {
		// The call fails before any handler is asked, as the kernel would fail it.
		fmt.Fprintf(stdout, "resolved: none\nhandler: %s\n", supervisor.RootHandler)
		return printResult(stdout, shim.Deny(errno))
	}
	defer res.Close()
	req := &res.Request
	if set["uid"] {
		req.Cred.UID, req.Cred.EUID, req.Cred.FSUID = uint32(*uid), uint32(*uid), uint32(*uid)
	}
	if set["gid"] {
		req.Cred.GID, req.Cred.EGID, req.Cred.FSGID = uint32(*gid), uint32(*gid), uint32(*gid)
	}
	if set["pid"] {
		req.PID, req.TID = *pid, *pid
	}
	fmt.Fprintf(stdout, "resolved: %s\n", req.PathString())
	for _, pl := range cfg.Plugins {
		resolved := ""
		if pl.Name == name {
			resolved = req.PathString()
		}
		for _, n := range claimNotes(chain, pl.Name, h.host.Claims(pl.Name), resolved, cfg.Chroot == "") {
			fmt.Fprintf(stdout, "note: plugin.%s %s\n", pl.Name, n)
		}
	}
	faults := pluginFaults(h.host)
	dec, by, err := supervisor.Decide(ctx, chain, req, log)
	if err != nil {
		fmt.Fprintf(stdout, "handler: %s\nverdict: fault: %s\nerrno: EIO (%d): the program gets EIO\n", by, err, int(unix.EIO))
		return 1
	}
	if plugin, ok := strings.CutPrefix(by, "plugin."); ok && pluginFaults(h.host)[plugin] > faults[plugin] {
		// The plugin failed and the chain answered its on_error errno. Ask it once more for
		// the reason, which scrim run only logs.
		_, ferr := h.host.Decide(ctx, plugin, req)
		fmt.Fprintf(stdout, "handler: %s\nverdict: fault: %v\n", by, ferr)
		if dec.Action == shim.ActDeny {
			fmt.Fprintf(stdout, "errno: %s (%d): the plugin's on_error\n", unix.ErrnoName(dec.Errno), int(dec.Errno))
		}
		return 1
	}
	switch {
	case by == supervisor.RootHandler:
		fmt.Fprintf(stdout, "handler: %s (no handler decided: the real file)\n", by)
	case dec.Action == shim.ActReal:
		fmt.Fprintf(stdout, "handler: %s (the real file, skipping the handlers after it)\n", by)
	default:
		fmt.Fprintf(stdout, "handler: %s\n", by)
	}
	if dec.Action == shim.ActServe {
		// What the supervisor answers instead of served content the request may not have.
		if _, ok := dec.Content.(shim.File); !ok {
			if e := req.ReadOnlyErrno(); e != 0 {
				closeServed(dec.Content)
				dec = shim.Deny(e)
			}
		}
	}
	if dec.Action == shim.ActNext || dec.Action == shim.ActReal {
		printReal(stdout, req, cfg.Chroot)
		return 0
	}
	return printResult(stdout, dec)
}

// addSubject adds the plugin `scrim plugin test` was given to cfg and returns its name: a
// drop-in file as plugin_dirs would add it, a .wasm as --plugin would, or, when cfg already
// loads that .wasm, that plugin with the KEY=VALUE pairs on top of its configuration.
func addSubject(cfg *config.Config, subject string) (string, error) {
	if subject == "" {
		return "", nil
	}
	if strings.HasSuffix(subject, ".toml") {
		before := len(cfg.Plugins)
		if err := cfg.AddDropIn(subject); err != nil {
			return "", err
		}
		abs, _ := filepath.Abs(subject)
		for _, p := range cfg.Plugins[:before] {
			if p.DropIn != "" && strings.HasPrefix(p.Source, abs+":") {
				return p.Name, nil
			}
		}
		return cfg.Plugins[len(cfg.Plugins)-1].Name, nil
	}
	file, kv, err := config.ParsePlugin(subject)
	if err != nil {
		return "", &config.Error{Key: "FILE.wasm", Msg: err.Error()}
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		if p.Path != abs {
			continue
		}
		if len(kv) > 0 {
			merged := make(map[string]any, len(p.Config)+len(kv))
			for k, v := range p.Config {
				merged[k] = v
			}
			for k, v := range kv {
				merged[k] = v
			}
			p.Config = merged
		}
		return p.Name, nil
	}
	if err := cfg.Flag("plugin", subject); err != nil {
		return "", err
	}
	return cfg.Plugins[len(cfg.Plugins)-1].Name, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// testSandbox is the sandbox `scrim plugin test` describes to the handlers: this process.
type testSandbox struct {
	self int
	root string
}

func (s testSandbox) Contains(pid int) bool {
	if pid == s.self {
		return true
	}
	_, err := os.Stat("/proc/self/task/" + strconv.Itoa(pid))
	return pid > 0 && err == nil
}

func (s testSandbox) Pids() []int  { return []int{s.self} }
func (s testSandbox) Root() string { return s.root }

// provision provisions and validates every handler once, as launch.New does, and returns what
// cleans them up.
func provision(chain []shim.Registration, syscalls []shim.SyscallHandler, sb shim.Sandbox, log hclog.Logger) (func(), error) {
	var done []shim.Cleaner
	cleanup := func() {
		for _, c := range slices.Backward(done) {
			_ = c.Cleanup()
		}
	}
	seen := map[any]bool{}
	var all []any
	add := func(h any) {
		if !reflect.TypeOf(h).Comparable() {
			all = append(all, h)
		} else if !seen[h] {
			seen[h] = true
			all = append(all, h)
		}
	}
	for _, r := range chain {
		add(r.Handler)
	}
	for _, s := range syscalls {
		add(s)
	}
	for _, x := range all {
		id := x.(interface{ ID() string }).ID()
		if p, ok := x.(shim.Provisioner); ok {
			if err := p.Provision(shim.Env{Log: log.Named("shim").Named(id), Sandbox: sb}); err != nil {
				return cleanup, fmt.Errorf("provision %s: %w", id, err)
			}
		}
		if c, ok := x.(shim.Cleaner); ok {
			done = append(done, c)
		}
		if v, ok := x.(shim.Validator); ok {
			if err := v.Validate(); err != nil {
				return cleanup, fmt.Errorf("validate %s: %w", id, err)
			}
		}
	}
	return cleanup, nil
}

// pathMemory is the memory of a caller holding one path at pathAddr, for resolver.Decode.
type pathMemory []byte

const pathAddr = 0x10000

func (m pathMemory) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < pathAddr || addr-pathAddr >= uint64(len(m)) {
		return 0, unix.EFAULT
	}
	return copy(p, m[addr-pathAddr:]), nil
}

func (m pathMemory) WriteAt(p []byte, addr uint64) (int, error) { return 0, unix.EFAULT }

// resolveAsRun decodes and resolves openat(AT_FDCWD, path, flags, 0666) the way a sandbox's
// core does, for this process as the caller, under root. An errno the program would get
// before any handler is asked comes back as errno.
func resolveAsRun(root, path string, flags int, log hclog.Logger) (*resolver.Resolution, unix.Errno, error) {
	r, err := resolver.New(resolver.Options{Root: root, Log: log.Named("resolver")})
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	// The resolver reads the calling thread's credentials and walks on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mem := make(pathMemory, len(path)+4097)
	copy(mem, path)
	fdcwd := int32(unix.AT_FDCWD)
	args := [6]uint64{uint64(uint32(fdcwd)), pathAddr, uint64(uint32(flags)), 0o666}
	in, err := resolver.Decode(unix.SYS_OPENAT, args, os.Getpid(), unix.Gettid(), mem)
	if e, ok := resolver.ChildErrno(err); ok {
		return nil, e, nil
	}
	if err != nil {
		return nil, 0, err
	}
	res, err := r.Resolve(&in, resolver.Self{})
	if e, ok := resolver.ChildErrno(err); ok {
		return nil, e, nil
	}
	return res, 0, err
}

// pluginFaults counts each plugin's faults so far.
func pluginFaults(h *plugins.Host) map[string]uint64 {
	m := map[string]uint64{}
	for _, s := range h.Stats() {
		m[s.Name] = s.Faults
	}
	return m
}

// printReal describes the real file the program would get, without opening it; image is the
// image directory in chroot mode.
func printReal(w io.Writer, req *shim.Request, image string) {
	fmt.Fprintf(w, "verdict: real\n")
	if image != "" {
		fmt.Fprintf(w, "image: %s\n", image)
	}
	if !req.Object.Exists {
		if req.Flags&unix.O_CREAT != 0 {
			fmt.Fprintf(w, "file: %s does not exist; the open creates it\n", req.PathString())
		} else {
			fmt.Fprintf(w, "file: %s does not exist: the program gets ENOENT\n", req.PathString())
		}
		return
	}
	fmt.Fprintf(w, "file: %s (%s, mode %#o), opened as the program: its permissions decide\n",
		req.PathString(), fileType(req.Object.Mode), req.Object.Mode&0o7777)
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "unknown type"
}

func closeServed(c shim.Content) {
	if f, ok := c.(shim.File); ok && f.F != nil {
		f.F.Close()
	}
}

// claimNotes explains why the claims of plugin name may not meet the path an open resolves
// to: whether it claims resolved at all (when resolved is not ""), and, on the host's root
// (hostRoot), each literal part of a claim that goes through a symbolic link, which an open
// that follows it leaves behind.
func claimNotes(chain []shim.Registration, name string, claims []string, resolved string, hostRoot bool) []string {
	var notes []string
	if resolved != "" && !mayClaim(chain, "plugin."+name, resolved) {
		notes = append(notes, fmt.Sprintf("does not claim %s (its claims: %s)", resolved, orDefault(strings.Join(claims, " "), "none")))
	}
	if hostRoot {
		for _, c := range claims {
			if n := symlinkedClaim(c); n != "" {
				notes = append(notes, n)
			}
		}
	}
	return notes
}

// mayClaim reports whether the handler id of chain may claim path, by the description of its
// claims the chain indexes (shim.Claimer), which may say more than the handler matches but
// never less.
func mayClaim(chain []shim.Registration, id, path string) bool {
	for _, r := range chain {
		c, ok := r.Handler.(shim.Claimer)
		if !ok || r.Handler.ID() != id {
			continue
		}
		exact, patterns := c.Claims()
		if slices.Contains(exact, path) {
			return true
		}
		for _, p := range patterns {
			if len(path) > len(p.Prefix) && strings.HasPrefix(path, p.Prefix) && strings.HasSuffix(path, p.Suffix) && strings.Contains(path, p.Contains) {
				return true
			}
		}
		return false
	}
	return true
}

// literalPart returns a claim up to its first wildcard's directory, and whether it has one.
func literalPart(claim string) (string, bool) {
	i := strings.IndexAny(claim, "*?[{")
	if i < 0 {
		return claim, false
	}
	return claim[:strings.LastIndexByte(claim[:i], '/')+1], true
}

// symlinkedClaim describes a claim whose literal part goes through a symbolic link on the
// host, "" if it does not.
func symlinkedClaim(claim string) string {
	lit, glob := literalPart(claim)
	lit = strings.TrimSuffix(lit, "/")
	if lit == "" {
		return ""
	}
	// The longest part of it that exists says where opens of it go.
	for p := lit; p != "/" && p != "."; p = filepath.Dir(p) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if real == p {
			return ""
		}
		where := real + strings.TrimPrefix(lit, p)
		if glob {
			return fmt.Sprintf("claims %s, but %s is a symbolic link: opens through it resolve under %s, which the claim does not cover", claim, p, where)
		}
		return fmt.Sprintf("claims %s, but %s is a symbolic link: an open that follows it resolves to %s, which the claim does not cover", claim, p, where)
	}
	return ""
}
