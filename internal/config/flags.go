package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
)

// FlagKeys maps each `scrim run` flag that overrides a config key to that key.
var FlagKeys = map[string]string{
	"mode":            "mode",
	"hostname":        "hostname",
	"cpus":            "cpus",
	"memory":          "memory",
	"random-seed":     "random_seed",
	"net-allow":       "net_allow",
	"chroot":          "chroot",
	"chroot-readonly": "chroot_readonly",
	"cwd":             "cwd",
	"mount":           "mount",
	"plugin":          "plugin",
	"audit":           "audit",
	"cache-dir":       "cache_dir",
	"kill-grace":      "kill_grace",
	"log-level":       "log.level",
	"log-format":      "log.format",
}

var errUnknownFlag = errors.New("no config key for this flag")

// Flag applies one command-line flag on top of the file. A flag replaces the key's value,
// except the repeatable ones (--net-allow, --mount, --plugin), which add to the file's list.
// Paths on the command line resolve against the working directory.
func (c *Config) Flag(name, value string) error {
	if err := c.flag(name, value); err != nil {
		return err
	}
	if c.flagged == nil {
		c.flagged = map[string]int{}
	}
	c.flagged[FlagKeys[name]]++
	return nil
}

func (c *Config) flag(name, value string) error {
	fail := func(err error) error { return &Error{Key: "--" + name, Msg: err.Error()} }
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	switch name {
	case "mode":
		if err := checkMode(value); err != nil {
			return fail(err)
		}
		c.Mode = value
	case "hostname":
		if err := CheckHostname(value); err != nil {
			return fail(err)
		}
		c.Hostname = value
	case "cpus":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fail(fmt.Errorf("%s is not a whole number; allowed: 0 (keep the host's count) to %d", Quote(value), MaxCPUs))
		}
		if err := checkCPUs(n); err != nil {
			return fail(err)
		}
		c.CPUs = int(n)
	case "memory":
		n, err := ParseSize(value)
		if err == nil {
			err = checkMemory(n)
		}
		if err != nil {
			return fail(err)
		}
		c.Memory = n
	case "random-seed":
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fail(fmt.Errorf("%s is not a whole number; allowed: 0 to %d", Quote(value), uint64(1<<64-1)))
		}
		c.RandomSeed = &n
	case "net-allow":
		if err := checkNetAllow(value); err != nil {
			return fail(err)
		}
		c.NetAllow = append(c.NetAllow, value)
	case "chroot":
		p, err := abs(value)
		if err == nil && p != "" {
			err = checkDir(p)
		}
		if err != nil {
			return fail(err)
		}
		c.Chroot = p
	case "kill-grace":
		d, err := checkDuration(value)
		if err != nil {
			return fail(err)
		}
		c.KillGrace = d
	case "chroot-readonly":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fail(fmt.Errorf("%s is not a boolean; allowed: true, false", Quote(value)))
		}
		c.ChrootReadonly = b
	case "cwd":
		if err := checkAbsPath(value); err != nil && value != "" {
			return fail(err)
		}
		c.Cwd = value
		if value != "" {
			c.Cwd = filepath.Clean(value)
		}
	case "mount":
		m, err := ParseMount(value)
		if err == nil {
			m.Host, err = abs(m.Host)
		}
		if err == nil {
			err = checkExists(m.Host)
		}
		if err != nil {
			return fail(err)
		}
		c.Mounts = append(c.Mounts, m)
	case "plugin":
		file, pcfg, err := ParsePlugin(value)
		if err != nil {
			return fail(err)
		}
		p, err := abs(file)
		if err == nil && p == "" {
			err = fmt.Errorf("is empty; allowed: the path of a .wasm file")
		}
		if err == nil {
			err = checkFile(p)
		}
		if err == nil {
			err = checkPluginName(nameFromPath(p))
		}
		if err != nil {
			return fail(err)
		}
		c.Plugins = append(c.Plugins, Plugin{
			Name:      nameFromPath(p),
			Path:      p,
			Priority:  DefaultPluginPriority,
			Timeout:   DefaultPluginTimeout,
			Memory:    DefaultPluginMemory,
			Instances: DefaultPluginInstances,
			OnError:   DefaultPluginOnError,
			Config:    pcfg,
			Source:    "--plugin",
		})
	case "audit":
		p, err := abs(value)
		if err == nil && p != "" {
			err = checkAppendable(p)
		}
		if err != nil {
			return fail(err)
		}
		c.Audit = p
	case "cache-dir":
		p, err := abs(value)
		if err != nil {
			return fail(err)
		}
		c.CacheDir = p
	case "log-level":
		if err := checkLogLevel(value); err != nil {
			return fail(err)
		}
		c.Log.Level = value
	case "log-format":
		if err := checkLogFormat(value); err != nil {
			return fail(err)
		}
		c.Log.Format = value
	default:
		return fmt.Errorf("config: flag --%s: %w", name, errUnknownFlag)
	}
	return nil
}

// Locate returns an Error about key of the merged configuration, placed where the key got its
// value: the flag that set it last (Key "--cwd"), or the config file and line (Key "cwd").
// index picks one entry of a list key (net_allow, mount), whose flags add after the file's
// entries; it is -1 for the others. The caller fills in Msg.
func (c *Config) Locate(key string, index int) *Error {
	n := c.flagged[key]
	fromFlag := n > 0
	if index >= 0 {
		fromFlag = index >= c.listLen(key)-n
	}
	if fromFlag {
		for flag, k := range FlagKeys {
			if k == key {
				return &Error{Key: "--" + flag}
			}
		}
	}
	key = c.profileKey(key)
	if index >= 0 {
		key = fmt.Sprintf("%s[%d]", key, index)
	}
	e := &Error{Key: key}
	if c.File != "" && c.lines != nil {
		e.File, e.Line = c.File, c.lines.line(key)
	}
	return e
}

func (c *Config) listLen(key string) int {
	switch key {
	case "net_allow":
		return len(c.NetAllow)
	case "mount":
		return len(c.Mounts)
	}
	return 0
}

// Check reports what only the merged configuration can show: two plugins with one name,
// image settings without an image, a working directory that does not exist.
func (c *Config) Check() error {
	var errs Errors
	problem := func(key, msg string) {
		e := c.Locate(key, -1)
		e.Msg = msg
		errs = append(errs, e)
	}
	if c.Chroot == "" {
		if len(c.Mounts) > 0 {
			problem("mount", "needs chroot: mounts go into the image, and there is none")
		}
		if c.ChrootReadonly {
			problem("chroot_readonly", "needs chroot: there is no image to make read-only")
		}
		// With an image the directory is inside it, and the image's mounts may make it:
		// launch checks it there.
		if c.Cwd != "" {
			why := pathProblem(c.Cwd, false, true)
			if why == "" {
				why = enterable(c.Cwd)
			}
			if why != "" {
				problem("cwd", why+"; allowed: an existing directory, or none for scrim's own")
			}
		}
	}
	errs = append(errs, c.uniquePlugins()...)
	for _, name := range c.ProfileNames() {
		errs = append(errs, c.Profiles[name].uniquePlugins()...)
	}
	return errs.err()
}

// uniquePlugins reports every plugin name configured twice.
func (c Config) uniquePlugins() Errors {
	var errs Errors
	seen := map[string]Plugin{}
	for _, p := range c.Plugins {
		if first, dup := seen[p.Name]; dup {
			key := "plugin " + strconv.Quote(p.Name)
			if c.Profile != "" {
				key = "profiles." + c.Profile + "." + key
			}
			errs = append(errs, &Error{
				Key: key,
				Msg: fmt.Sprintf("configured twice, at %s (%s) and at %s (%s); plugin names must be unique", first.Source, first.Path, p.Source, p.Path),
			})
			continue
		}
		seen[p.Name] = p
	}
	return errs
}
