// Package config reads scrim's TOML configuration and the command-line flags that override it,
// checks every value, and reports each problem with the file, line and key it came from.
//
// Decoding is strict: a key scrim does not know, in any table, is an error, as is a value of the
// wrong type or out of range. Nothing here starts a process; cmd/scrim turns a Config into the
// options of the other packages.
package config

import (
	"os"
	"path/filepath"
	"time"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Config is scrim's whole configuration after defaults, file and flags are merged and checked.
type Config struct {
	// File is the config file it was read from, "" when only built-in defaults apply.
	File string
	// Mode is "strict" (the supervisor performs every mediated open) or "fast".
	Mode string
	// Hostname is what the sandbox calls itself.
	Hostname string
	// CPUs is how many processors the sandbox sees; 0 keeps the host's count.
	CPUs int
	// Memory is the memory total in bytes the sandbox sees; 0 keeps the host's.
	Memory uint64
	// RandomSeed makes the sandbox's randomness deterministic when set.
	RandomSeed *uint64
	// NetAllow lists "HOST" or "HOST=IP" entries for the virtual /etc/hosts.
	NetAllow []string
	// ExtraHosts lists "IP NAME..." lines appended to the virtual /etc/hosts.
	ExtraHosts []string
	// Deny lists absolute paths the sandbox may not open, each with everything below it.
	Deny []string
	// Chroot is the host directory used as the sandbox's root, "" for the host's root.
	Chroot string
	// ChrootReadonly makes the image root read-only for the sandbox.
	ChrootReadonly bool
	// Cwd is the sandbox's working directory, "" for scrim's own.
	Cwd string
	// Mounts are host directories made visible inside the image.
	Mounts []Mount
	// Audit is the file the audit log is written to, "" for none.
	Audit string
	// KillGrace is how long the sandbox has to end after scrim forwards it SIGTERM, before
	// scrim kills it.
	KillGrace time.Duration
	// ScopeAbstractUnix keeps the sandbox from abstract unix sockets bound outside it, where
	// the kernel can (Landlock ABI 6).
	ScopeAbstractUnix bool
	// MediateStat sends the stat-like calls through the resolver and the chain like opens.
	MediateStat bool
	// Keyring lets the sandbox use the kernel keyrings (keyctl, add_key, request_key).
	Keyring bool
	// PluginDirs are scanned for drop-in plugins (NAME.toml beside NAME.wasm).
	PluginDirs []string
	// AllowOutrank names the drop-in plugins that may run before the built-in virtual-file
	// shims. Every other drop-in is kept behind them (see Plugin.Demoted).
	AllowOutrank []string
	// CacheDir holds compiled WebAssembly between runs, "" for no cache.
	CacheDir string
	// PluginMemoryTotal bounds the linear memory of all plugin instances together.
	PluginMemoryTotal uint64
	// Log configures scrim's own diagnostics on stderr.
	Log Log
	// Plugins are the WebAssembly shims in the order they were configured: [[plugin]] tables,
	// then drop-ins, then --plugin flags.
	Plugins []Plugin
	// Profile is the name of the profile this configuration is, "" for the top level.
	Profile string
	// Profiles are the [profiles.NAME] tables, each a whole configuration: the top level with
	// the profile's keys over it (profile.go). Only the top level has them.
	Profiles map[string]Config

	// lines holds the line of each key of File; flagged counts the flags applied per config
	// key. Locate reads them to say where a value of the merged configuration came from.
	lines   *keyIndex
	flagged map[string]int
}

// Log configures scrim's own diagnostics.
type Log struct {
	// Level is one of trace, debug, info, warn, error, off.
	Level string
	// Format is "text" or "json".
	Format string
}

// Mount is one --mount HOST:INSIDE[:ro] entry.
type Mount struct {
	Host     string
	Inside   string
	ReadOnly bool
}

// Plugin is one configured WebAssembly shim.
type Plugin struct {
	Name string
	// Path is the absolute path of the .wasm file.
	Path      string
	Priority  int
	Paths     []string
	Timeout   time.Duration
	Memory    uint64
	Instances int
	// OnError is the errno name the child gets when the plugin fails.
	OnError string
	// BreakAfter is how many faults in a row switch the plugin off for BreakFor (its circuit
	// breaker); 0 means DefaultPluginBreakAfter, negative never (break_after = 0 in a file).
	BreakAfter int
	// BreakFor is how long the circuit breaker keeps the plugin off; 0 means
	// DefaultPluginBreakFor.
	BreakFor time.Duration
	// SHA256 pins the .wasm file's digest (lowercase hex), "" for no pin.
	SHA256 string
	Config map[string]any
	// Source says where the plugin was configured: "FILE:LINE" or "--plugin".
	Source string
	// DropIn is the plugin directory a drop-in was found in, "" for a plugin of the config
	// file or the command line.
	DropIn string
	// Demoted, when not nil, holds the priority a drop-in asked for that would have put it
	// before the built-in virtual-file shims without allow_outrank naming it; Priority was
	// then set to DropInFloor.
	Demoted *int
}

// DropInFloor is the first priority a drop-in gets without allow_outrank: right behind the
// built-in virtual-file shims, whatever their registration order.
const DropInFloor = shim.PriorityBuiltin + 1

// Defaults of the plugin settings.
const (
	DefaultPluginPriority  = 500
	DefaultPluginTimeout   = 250 * time.Millisecond
	DefaultPluginMemory    = 16 << 20
	DefaultPluginInstances = 2
	DefaultPluginOnError   = "EIO"
	// DefaultPluginBreakAfter and DefaultPluginBreakFor are the circuit breaker's: 5 faults
	// in a row switch a plugin off for 10 s.
	DefaultPluginBreakAfter = 5
	DefaultPluginBreakFor   = 10 * time.Second
	// MaxPluginMemory is the largest memory cap: all a wasm32 module can address.
	MaxPluginMemory = 4 << 30
	// DefaultPluginMemoryTotal bounds the memory of every plugin instance together.
	DefaultPluginMemoryTotal = 512 << 20
)

// DefaultKillGrace is kill_grace's default: docker stop's, long enough for a program to
// flush and clean up, short enough for the CI runner or service manager that sent the SIGTERM.
const DefaultKillGrace = 10 * time.Second

// Defaults returns the built-in configuration: what `scrim run -- CMD` uses with no config file.
func Defaults() Config {
	return Config{
		Mode:              "strict",
		Hostname:          "scrim",
		KillGrace:         DefaultKillGrace,
		MediateStat:       true,
		PluginDirs:        DefaultPluginDirs(),
		CacheDir:          DefaultCacheDir(),
		PluginMemoryTotal: DefaultPluginMemoryTotal,
		Log:               Log{Level: "warn", Format: "text"},
	}
}

// systemPluginDir is the machine-wide drop-in directory; tests point it elsewhere.
var systemPluginDir = "/etc/scrim/plugins.d"

// DefaultPluginDirs returns /etc/scrim/plugins.d and the user's $XDG_CONFIG_HOME/scrim/plugins.d
// (~/.config/scrim/plugins.d when XDG_CONFIG_HOME is unset).
func DefaultPluginDirs() []string {
	dirs := []string{systemPluginDir}
	if base := xdgDir("XDG_CONFIG_HOME", ".config"); base != "" {
		dirs = append(dirs, filepath.Join(base, "scrim", "plugins.d"))
	}
	return dirs
}

// DefaultCacheDir returns $XDG_CACHE_HOME/scrim (~/.cache/scrim when unset), or "" when there
// is no home directory to put it in.
func DefaultCacheDir() string {
	if base := xdgDir("XDG_CACHE_HOME", ".cache"); base != "" {
		return filepath.Join(base, "scrim")
	}
	return ""
}

// xdgDir follows the XDG base directory rule: the variable if it holds an absolute path, else
// fallback under the home directory.
func xdgDir(env, fallback string) string {
	if dir := os.Getenv(env); filepath.IsAbs(dir) {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return ""
	}
	return filepath.Join(home, fallback)
}
