package config

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// A profile is a named configuration for the containers `scrim agent` serves: a
// [profiles.NAME] table of the config file, taking the top level's keys. It is layered over
// the top level: a key the profile sets replaces the top level's value (a list whole, never
// merged), a key it leaves out keeps it. RATIONALE.md, "Why are agent profiles layered over
// the top level?".

// notPerContainer names the top-level keys a profile may not set, and why: they belong to
// the agent as a whole, or to scrim run alone.
var notPerContainer = map[string]string{
	"chroot":              "a container has its own root; the agent serves it there",
	"chroot_readonly":     "a container has its own root; its runtime decides whether it is read-only",
	"cwd":                 "a container's runtime sets its working directory",
	"mount":               "a container's runtime makes its mounts",
	"audit":               "the agent writes one audit log, each record tagged with its container; set it at the top level",
	"log":                 "the agent has one log; set [log] at the top level",
	"kill_grace":          "the agent does not stop containers; their runtime does",
	"scope_abstract_unix": "the agent applies no Landlock rules to a container; its runtime installs what confines it",
	"plugin_dirs":         "drop-in plugins are the agent's, loaded once for every profile; set it at the top level",
	"allow_outrank":       "drop-in plugins are the agent's, ranked once for every profile; set it at the top level",
	"cache_dir":           "the compile cache is the agent's; set it at the top level",
	"profiles":            "profiles do not nest",
}

// profiles decodes the [profiles.NAME] tables, each over a copy of the top level cfg.
func (d *decoder) profiles(raw map[string]any, cfg *Config) {
	names := d.byLine("profiles", slices.Collect(maps.Keys(raw)))
	for _, name := range names {
		key := join("profiles", name)
		if !d.check(key, checkProfileName(name)) {
			continue
		}
		t, ok := raw[name].(map[string]any)
		if !ok {
			d.wrongType(key, "a table ([profiles."+name+"])", raw[name])
			continue
		}
		p := cfg.clone()
		p.Profile, p.Profiles = name, nil
		rest := make(map[string]any, len(t))
		for _, k := range d.byLine(key, slices.Collect(maps.Keys(t))) {
			if why, refused := notPerContainer[k]; refused {
				d.errorf(join(key, k), "not allowed in a profile: %s", why)
				continue
			}
			rest[k] = t[k]
		}
		var fields []field
		for _, f := range d.fields(&p) {
			if _, refused := notPerContainer[f.name]; !refused {
				fields = append(fields, f)
			}
		}
		d.table(key, "a profile", rest, fields)
		if cfg.Profiles == nil {
			cfg.Profiles = map[string]Config{}
		}
		cfg.Profiles[name] = p
	}
}

// byLine sorts the keys of the table at prefix in the order of the file.
func (d *decoder) byLine(prefix string, keys []string) []string {
	sort.Slice(keys, func(i, j int) bool {
		li, lj := d.line(join(prefix, keys[i])), d.line(join(prefix, keys[j]))
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// clone copies c, so that a profile decoded over it changes nothing of c.
func (c Config) clone() Config {
	out := c
	out.NetAllow = slices.Clone(c.NetAllow)
	out.ExtraHosts = slices.Clone(c.ExtraHosts)
	out.Deny = slices.Clone(c.Deny)
	out.Mounts = slices.Clone(c.Mounts)
	out.PluginDirs = slices.Clone(c.PluginDirs)
	out.AllowOutrank = slices.Clone(c.AllowOutrank)
	out.Plugins = slices.Clone(c.Plugins)
	return out
}

// spreadDropIns adds the top level's drop-in plugins to every profile, behind its own.
func (c *Config) spreadDropIns() {
	for name, p := range c.Profiles {
		for _, pl := range c.Plugins {
			if pl.DropIn != "" {
				p.Plugins = append(p.Plugins, pl)
			}
		}
		c.Profiles[name] = p
	}
}

// ProfileNames lists the names of the profiles in ascending order.
func (c Config) ProfileNames() []string {
	return slices.Sorted(maps.Keys(c.Profiles))
}

// ForProfile returns the configuration of the profile name, the top level itself for "", and
// false when there is no such profile.
func (c Config) ForProfile(name string) (Config, bool) {
	if name == "" {
		return c, true
	}
	p, ok := c.Profiles[name]
	return p, ok
}

// Sets reports whether the configuration's file or flags set key, rather than leaving it at
// its default: in a profile, the profile's table or the top level.
func (c Config) Sets(key string) bool {
	if c.flagged[key] > 0 {
		return true
	}
	if c.lines == nil {
		return false
	}
	if c.Profile != "" && c.lines.has(join("profiles", c.Profile, key)) {
		return true
	}
	return c.lines.has(key)
}

// profileKey returns the path of key as c's file spells it: in a profile that sets key, the
// profile's; else the top level's.
func (c Config) profileKey(key string) string {
	if c.Profile == "" || c.lines == nil {
		return key
	}
	base, _, _ := strings.Cut(key, "[")
	if own := join("profiles", c.Profile, base); c.lines.has(own) {
		return join("profiles", c.Profile, key)
	}
	return key
}

func checkProfileName(v string) error {
	if !pluginName().MatchString(v) {
		return fmt.Errorf("%s is not a profile name; allowed: lowercase letters, digits, '_' and '-', starting with a letter or digit, at most 63 bytes", Quote(v))
	}
	return nil
}
