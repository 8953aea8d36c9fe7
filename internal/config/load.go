package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// Load reads the config file at path, or starts from Defaults when path is "", and adds the
// drop-in plugins found in the configured plugin_dirs. Relative paths in a file resolve
// against the file's directory. The error lists every problem found; it is an Errors when the
// problems are in the configuration itself.
func Load(path string) (Config, error) {
	cfg := Defaults()
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return Config{}, fmt.Errorf("resolve config path %s: %w", path, err)
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		cfg.File = path
		d := newDecoder(path, filepath.Dir(abs))
		raw, ok := d.parse(data)
		if ok {
			d.top(raw, &cfg)
			cfg.lines = d.lines
			for name, p := range cfg.Profiles {
				p.lines = d.lines
				cfg.Profiles[name] = p
			}
		}
		if err := d.errs.err(); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.loadDropIns(); err != nil {
		return Config{}, err
	}
	cfg.rankDropIns()
	cfg.spreadDropIns()
	return cfg, nil
}

// decoder turns one parsed TOML document into Config fields, collecting every problem.
type decoder struct {
	file  string // as the user named it, for messages
	dir   string // relative paths resolve against it
	lines *keyIndex
	errs  Errors
}

func newDecoder(file, dir string) *decoder {
	return &decoder{file: file, dir: dir, lines: &keyIndex{}}
}

func (d *decoder) parse(data []byte) (map[string]any, bool) {
	// The depth check comes first: the parser's own cost grows faster than the input.
	lines, deep := scanKeys(data)
	if deep != nil {
		deep.File = d.file
		d.errs = append(d.errs, deep)
		return nil, false
	}
	raw := map[string]any{}
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			d.errs = append(d.errs, &Error{File: d.file, Line: pe.Position.Line, Msg: "invalid TOML: " + pe.Message})
		} else {
			d.errs = append(d.errs, &Error{File: d.file, Msg: "invalid TOML: " + err.Error()})
		}
		return nil, false
	}
	d.lines = lines
	return raw, true
}

func (d *decoder) line(key string) int {
	return d.lines.line(key)
}

func (d *decoder) errorf(key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: d.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// check records err against key and reports whether there was none.
func (d *decoder) check(key string, err error) bool {
	if err != nil {
		d.errorf(key, "%s", err.Error())
		return false
	}
	return true
}

// field is one key a table allows and how to decode its value.
type field struct {
	name   string
	decode func(key string, v any)
}

// table decodes t's keys in the order of the file and reports every key fields do not allow.
func (d *decoder) table(prefix, what string, t map[string]any, fields []field) {
	names := make([]string, len(fields))
	byName := map[string]field{}
	for i, f := range fields {
		names[i] = f.name
		byName[f.name] = f
	}
	keys := make([]string, 0, len(t))
	lines := make(map[string]int, len(t))
	for k := range t {
		keys = append(keys, k)
		lines[k] = d.line(join(prefix, k))
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := lines[keys[i]], lines[keys[j]]
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		key := join(prefix, k)
		f, ok := byName[k]
		if !ok {
			hint := ""
			if s := suggest(k, names); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			d.errorf(key, "unknown key%s; %s allows: %s", hint, what, strings.Join(names, ", "))
			continue
		}
		f.decode(key, t[k])
	}
}

func (d *decoder) wrongType(key, want string, v any) {
	d.errorf(key, "wrong type: want %s, got %s", want, typeName(v))
}

func typeName(v any) string {
	switch v := v.(type) {
	case string:
		return "string " + Quote(v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("a %T", v)
}

func (d *decoder) str(key string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(key, "a string", v)
	}
	return s, ok
}

func (d *decoder) integer(key string, v any) (int64, bool) {
	n, ok := v.(int64)
	if !ok {
		d.wrongType(key, "an integer", v)
	}
	return n, ok
}

func (d *decoder) boolean(key string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		d.wrongType(key, "a boolean (true or false)", v)
	}
	return b, ok
}

// strs decodes an array of strings, each checked by each (which may be nil).
func (d *decoder) strs(key string, v any, each func(string) error) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		d.wrongType(key, "an array of strings", v)
		return nil, false
	}
	out := make([]string, 0, len(arr))
	good := true
	for i, e := range arr {
		ekey := fmt.Sprintf("%s[%d]", key, i)
		s, ok := d.str(ekey, e)
		if ok && each != nil {
			ok = d.check(ekey, each(s))
		}
		good = good && ok
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, good // an empty list is the default, not a different value
	}
	return out, good
}

// size decodes a byte count written as an integer or as a string like "512M".
func (d *decoder) size(key string, v any) (uint64, bool) {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			d.errorf(key, "%d is negative; allowed: a size like 512M, 2G or a whole number of bytes", v)
			return 0, false
		}
		return uint64(v), true
	case string:
		n, err := ParseSize(v)
		return n, d.check(key, err)
	}
	d.wrongType(key, "a size (a string like \"512M\" or an integer number of bytes)", v)
	return 0, false
}

// path resolves p against the config file's directory.
func (d *decoder) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(d.dir, p)
}

// pathString decodes a string holding a host path and resolves it.
func (d *decoder) pathString(key string, v any) (string, bool) {
	s, ok := d.str(key, v)
	if !ok {
		return "", false
	}
	if s == "" {
		return "", true
	}
	return d.path(s), true
}

func (d *decoder) top(raw map[string]any, cfg *Config) {
	var profiles map[string]any
	fields := append(d.fields(cfg), field{"profiles", func(key string, v any) {
		t, ok := v.(map[string]any)
		if !ok {
			d.wrongType(key, "a table of profiles ([profiles.NAME])", v)
			return
		}
		profiles = t
	}})
	d.table("", "the top level", raw, fields)
	// After every top-level key, wherever the file puts them: a profile starts from them.
	if profiles != nil {
		d.profiles(profiles, cfg)
	}
}

// fields lists the keys of a sandbox's configuration, decoded into cfg: the top level's, and
// a profile's (less those notPerContainer names).
func (d *decoder) fields(cfg *Config) []field {
	set := func(dst *string, check func(string) error) func(string, any) {
		return func(key string, v any) {
			if s, ok := d.str(key, v); ok && (check == nil || d.check(key, check(s))) {
				*dst = s
			}
		}
	}
	return []field{
		{"mode", set(&cfg.Mode, checkMode)},
		{"hostname", set(&cfg.Hostname, CheckHostname)},
		{"cpus", func(key string, v any) {
			if n, ok := d.integer(key, v); ok && d.check(key, checkCPUs(n)) {
				cfg.CPUs = int(n)
			}
		}},
		{"memory", func(key string, v any) {
			if n, ok := d.size(key, v); ok && d.check(key, checkMemory(n)) {
				cfg.Memory = n
			}
		}},
		{"random_seed", func(key string, v any) {
			if n, ok := d.integer(key, v); ok {
				if n < 0 {
					d.errorf(key, "%d is negative; allowed: a whole number from 0 to %d", n, int64(math.MaxInt64))
					return
				}
				seed := uint64(n)
				cfg.RandomSeed = &seed
			}
		}},
		{"net_allow", func(key string, v any) {
			if l, ok := d.strs(key, v, checkNetAllow); ok {
				cfg.NetAllow = l
			}
		}},
		{"extra_hosts", func(key string, v any) {
			if l, ok := d.strs(key, v, checkExtraHost); ok {
				cfg.ExtraHosts = l
			}
		}},
		{"deny", func(key string, v any) {
			if l, ok := d.strs(key, v, checkAbsPath); ok {
				for i := range l {
					l[i] = filepath.Clean(l[i])
				}
				cfg.Deny = l
			}
		}},
		{"chroot", func(key string, v any) {
			if p, ok := d.pathString(key, v); ok && (p == "" || d.check(key, checkDir(p))) {
				cfg.Chroot = p
			}
		}},
		{"chroot_readonly", func(key string, v any) {
			if b, ok := d.boolean(key, v); ok {
				cfg.ChrootReadonly = b
			}
		}},
		{"scope_abstract_unix", func(key string, v any) {
			if b, ok := d.boolean(key, v); ok {
				cfg.ScopeAbstractUnix = b
			}
		}},
		{"mediate_stat", func(key string, v any) {
			if b, ok := d.boolean(key, v); ok {
				cfg.MediateStat = b
			}
		}},
		{"keyring", func(key string, v any) {
			if b, ok := d.boolean(key, v); ok {
				cfg.Keyring = b
			}
		}},
		{"cwd", func(key string, v any) {
			// "" keeps the default: scrim's own working directory.
			if s, ok := d.str(key, v); ok && s != "" && d.check(key, checkAbsPath(s)) {
				cfg.Cwd = filepath.Clean(s)
			}
		}},
		{"mount", func(key string, v any) {
			specs, ok := d.strs(key, v, nil)
			if !ok {
				return
			}
			var mounts []Mount
			for i, s := range specs {
				ekey := fmt.Sprintf("%s[%d]", key, i)
				m, err := ParseMount(s)
				if !d.check(ekey, err) {
					ok = false
					continue
				}
				m.Host = d.path(m.Host)
				if !d.check(ekey, checkExists(m.Host)) {
					ok = false
					continue
				}
				mounts = append(mounts, m)
			}
			if ok {
				cfg.Mounts = mounts
			}
		}},
		{"audit", func(key string, v any) {
			if p, ok := d.pathString(key, v); ok && (p == "" || d.check(key, checkAppendable(p))) {
				cfg.Audit = p
			}
		}},
		{"kill_grace", func(key string, v any) {
			if s, ok := d.str(key, v); ok {
				dur, err := checkDuration(s)
				if d.check(key, err) {
					cfg.KillGrace = dur
				}
			}
		}},
		{"plugin_dirs", func(key string, v any) {
			if l, ok := d.strs(key, v, nil); ok {
				for i := range l {
					l[i] = d.path(l[i])
				}
				cfg.PluginDirs = l
			}
		}},
		{"allow_outrank", func(key string, v any) {
			if l, ok := d.strs(key, v, checkPluginName); ok {
				cfg.AllowOutrank = l
			}
		}},
		{"cache_dir", func(key string, v any) {
			if p, ok := d.pathString(key, v); ok {
				cfg.CacheDir = p
			}
		}},
		{"plugin_memory_total", func(key string, v any) {
			if n, ok := d.size(key, v); ok {
				if n < 1<<20 {
					d.errorf(key, "%s is too small; allowed: at least 1M", FormatSize(n))
					return
				}
				cfg.PluginMemoryTotal = n
			}
		}},
		{"log", func(key string, v any) {
			t, ok := v.(map[string]any)
			if !ok {
				d.wrongType(key, "a table ([log])", v)
				return
			}
			d.table(key, "[log]", t, []field{
				{"level", set(&cfg.Log.Level, checkLogLevel)},
				{"format", set(&cfg.Log.Format, checkLogFormat)},
			})
		}},
		{"plugin", func(key string, v any) {
			// A new list: a profile's [[plugin]] tables replace the top level's.
			var ps []Plugin
			for i, t := range d.tables(key, v) {
				if p, ok := d.plugin(fmt.Sprintf("%s[%d]", key, i), t, ""); ok {
					ps = append(ps, p)
				}
			}
			cfg.Plugins = ps
		}},
	}
}

// tables decodes an array of tables, written as [[key]] sections or as an inline array.
func (d *decoder) tables(key string, v any) []map[string]any {
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		out := make([]map[string]any, 0, len(v))
		for i, e := range v {
			t, ok := e.(map[string]any)
			if !ok {
				d.wrongType(fmt.Sprintf("%s[%d]", key, i), "a table", e)
				continue
			}
			out = append(out, t)
		}
		return out
	}
	d.wrongType(key, "an array of tables ([["+key+"]])", v)
	return nil
}

// plugin decodes one [[plugin]] table. defaultName names a drop-in's plugin after its file.
func (d *decoder) plugin(key string, t map[string]any, defaultName string) (Plugin, bool) {
	p := Plugin{
		Priority:  DefaultPluginPriority,
		Timeout:   DefaultPluginTimeout,
		Memory:    DefaultPluginMemory,
		Instances: DefaultPluginInstances,
		OnError:   DefaultPluginOnError,
		Source:    fmt.Sprintf("%s:%d", d.file, d.line(key)),
	}
	before := len(d.errs)
	d.table(key, "[[plugin]]", t, []field{
		{"name", func(key string, v any) {
			if s, ok := d.str(key, v); ok && d.check(key, checkPluginName(s)) {
				p.Name = s
			}
		}},
		{"path", func(key string, v any) {
			s, ok := d.str(key, v)
			switch {
			case !ok:
			case s == "":
				d.errorf(key, "is empty; allowed: the path of a .wasm file")
			default:
				p.Path = d.path(s)
				d.check(key, checkFile(p.Path))
			}
		}},
		{"priority", func(key string, v any) {
			if n, ok := d.integer(key, v); ok {
				if n < math.MinInt32 || n > math.MaxInt32 {
					d.errorf(key, "%d is out of range; allowed: a whole number from %d to %d", n, math.MinInt32, math.MaxInt32)
					return
				}
				p.Priority = int(n)
			}
		}},
		{"paths", func(key string, v any) {
			if l, ok := d.strs(key, v, checkAbsPath); ok {
				p.Paths = l
			}
		}},
		{"timeout", func(key string, v any) {
			if s, ok := d.str(key, v); ok {
				dur, err := checkDuration(s)
				if d.check(key, err) {
					p.Timeout = dur
				}
			}
		}},
		{"memory", func(key string, v any) {
			if n, ok := d.size(key, v); ok {
				if n < 64<<10 {
					d.errorf(key, "%s is too small; allowed: at least 64K, one WebAssembly page", FormatSize(n))
					return
				}
				if n > MaxPluginMemory {
					d.errorf(key, "%s is too large; allowed: at most 4G, all a WebAssembly module (wasm32) can address", FormatSize(n))
					return
				}
				p.Memory = n
			}
		}},
		{"instances", func(key string, v any) {
			if n, ok := d.integer(key, v); ok {
				if n < 1 || n > 1024 {
					d.errorf(key, "%d is out of range; allowed: a whole number from 1 to 1024", n)
					return
				}
				p.Instances = int(n)
			}
		}},
		{"on_error", func(key string, v any) {
			if s, ok := d.str(key, v); ok {
				if _, err := Errno(s); d.check(key, err) {
					p.OnError = s
				}
			}
		}},
		{"break_after", func(key string, v any) {
			if n, ok := d.integer(key, v); ok {
				if n < 0 || n > 1_000_000 {
					d.errorf(key, "%d is out of range; allowed: 0 (never switch the plugin off) to 1000000", n)
					return
				}
				p.BreakAfter = int(n)
				if n == 0 {
					p.BreakAfter = -1
				}
			}
		}},
		{"break_for", func(key string, v any) {
			if s, ok := d.str(key, v); ok {
				dur, err := checkDuration(s)
				if d.check(key, err) {
					p.BreakFor = dur
				}
			}
		}},
		{"sha256", func(key string, v any) {
			if s, ok := d.str(key, v); ok && (s == "" || d.check(key, checkSHA256(s))) {
				p.SHA256 = s
			}
		}},
		{"config", func(key string, v any) {
			if c, ok := v.(map[string]any); ok {
				p.Config = c
			} else {
				d.wrongType(key, "a table ([plugin.config])", v)
			}
		}},
	})
	if p.Path == "" && defaultName != "" {
		p.Path = filepath.Join(d.dir, defaultName+".wasm")
		d.check(key, checkFile(p.Path))
	}
	if p.Path == "" {
		if _, set := t["path"]; !set {
			d.errorf(key, "path is missing; allowed: the path of the plugin's .wasm file")
		}
	}
	if p.Name == "" && p.Path != "" {
		if _, set := t["name"]; !set {
			p.Name = defaultName
			if p.Name == "" {
				p.Name = nameFromPath(p.Path)
			}
			d.check(join(key, "name"), checkPluginName(p.Name))
		}
	}
	if p.SHA256 != "" && len(d.errs) == before {
		d.check(join(key, "sha256"), checkDigest(p.Path, p.SHA256))
	}
	return p, len(d.errs) == before
}

func nameFromPath(p string) string {
	return strings.TrimSuffix(filepath.Base(p), ".wasm")
}

// pathProblem says what keeps p from being what is wanted, "" when nothing does: it must exist,
// and be a regular file (file) or a directory (dir) when asked.
func pathProblem(p string, file, dir bool) string {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p + " does not exist"
	case err != nil:
		return err.Error()
	case file && !fi.Mode().IsRegular():
		return p + " is not a regular file"
	case dir && !fi.IsDir():
		return p + " is not a directory"
	}
	return ""
}

func checkFile(p string) error {
	if why := pathProblem(p, true, false); why != "" {
		return fmt.Errorf("%s; allowed: the path of an existing file", why)
	}
	return nil
}

func checkDir(p string) error {
	if why := pathProblem(p, false, true); why != "" {
		return fmt.Errorf("%s; allowed: the path of an existing directory", why)
	}
	return nil
}

func checkExists(p string) error {
	if why := pathProblem(p, false, false); why != "" {
		return fmt.Errorf("%s; allowed: an existing path", why)
	}
	return nil
}

// checkAppendable checks that scrim can append to the file at p, as scrim run will before it
// starts the program: p is no directory and scrim's user may write it, or p does not exist and
// scrim's user may create it in its directory.
func checkAppendable(p string) error {
	fi, err := os.Stat(p)
	if err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory; allowed: a file, or a path where one can be created", p)
		}
		if err := access(p, unix.W_OK); err != nil {
			return fmt.Errorf("%s cannot be written: %v; allowed: a file scrim's user may write", p, err)
		}
		return nil
	}
	dir := filepath.Dir(p)
	if why := pathProblem(dir, false, true); why != "" {
		return fmt.Errorf("directory of %s: %s; allowed: a file in an existing directory", p, why)
	}
	if err := access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("directory of %s: %s cannot be written: %v; allowed: a file in a directory scrim's user may write", p, dir, err)
	}
	return nil
}

// enterable says why scrim's user may not make dir its working directory, "" when it may.
func enterable(dir string) string {
	if err := access(dir, unix.X_OK); err != nil {
		return fmt.Sprintf("%s cannot be entered: %v", dir, err)
	}
	return ""
}

// access checks p for mode with scrim's effective ids, as the kernel will when scrim opens p or
// its keeper enters it.
func access(p string, mode uint32) error {
	return unix.Faccessat(unix.AT_FDCWD, p, mode, unix.AT_EACCESS)
}

func checkDigest(p, want string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has SHA-256 %s, not the pinned %s", p, got, want)
	}
	return nil
}

// loadDropIns adds the plugins of every NAME.toml in the plugin directories, in directory
// order and then by file name. A missing directory holds no plugins, as does one under a
// file (HOME=/dev/null, the home of many service accounts).
func (c *Config) loadDropIns() error {
	var errs Errors
	for _, dir := range c.PluginDirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read plugin directory %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".toml") {
				continue
			}
			p, fileErrs := dropIn(filepath.Join(dir, e.Name()))
			if len(fileErrs) > 0 {
				errs = append(errs, fileErrs...)
				continue
			}
			p.DropIn = dir
			c.Plugins = append(c.Plugins, p)
		}
	}
	return errs.err()
}

// rankDropIns keeps every drop-in that allow_outrank does not name behind the built-in
// virtual-file shims. A drop-in directory is writable by whoever installs plugins, the
// config file is the user's explicit choice: only the latter may put a plugin before
// /etc/hosts, /etc/hostname and the other views scrim promises.
func (c *Config) rankDropIns() {
	for i := range c.Plugins {
		p := &c.Plugins[i]
		if p.DropIn == "" || p.Priority >= DropInFloor || slices.Contains(c.AllowOutrank, p.Name) {
			continue
		}
		asked := p.Priority
		p.Demoted, p.Priority = &asked, DropInFloor
	}
}

// dropIn reads one drop-in file: exactly one [[plugin]] table, named after the file unless it
// says otherwise, its .wasm beside it unless path says otherwise.
func dropIn(file string) (Plugin, Errors) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Plugin{}, Errors{{File: file, Msg: "read plugin drop-in: " + err.Error()}}
	}
	d := newDecoder(file, filepath.Dir(file))
	raw, ok := d.parse(data)
	if !ok {
		return Plugin{}, d.errs
	}
	var p Plugin
	d.table("", "a plugin drop-in file", raw, []field{{"plugin", func(key string, v any) {
		before := len(d.errs)
		tables := d.tables(key, v)
		if len(d.errs) > before {
			return // not an array of tables, said once
		}
		if len(tables) != 1 {
			d.errorf(key, "holds %d [[plugin]] tables; allowed: exactly one per drop-in file", len(tables))
			return
		}
		p, _ = d.plugin(key+"[0]", tables[0], strings.TrimSuffix(filepath.Base(file), ".toml"))
	}}})
	if _, ok := raw["plugin"]; !ok && len(d.errs) == 0 {
		d.errs = append(d.errs, &Error{File: file, Msg: "no [[plugin]] table; a drop-in file holds exactly one"})
	}
	return p, d.errs
}
