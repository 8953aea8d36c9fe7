package config

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// ParsePlugin splits the value of `--plugin FILE[,KEY=VALUE...]` into the .wasm file and the
// plugin's configuration, the [plugin.config] table of a config file. The value is one line
// of comma-separated fields, quoted as in CSV (docker's --mount reads its value the same
// way): a file name or a value holding a comma is written in double quotes, as in
// `--plugin 'motd.wasm,"text=a, b"'`. A VALUE that reads as JSON (a number, true, false, an
// array, an object or a "quoted string") is that JSON value; any other is a string.
func ParsePlugin(value string) (file string, cfg map[string]any, err error) {
	r := csv.NewReader(strings.NewReader(value))
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	switch {
	case err == io.EOF:
		return "", nil, nil
	case err != nil:
		return "", nil, fmt.Errorf("%q: %w; allowed: FILE.wasm[,KEY=VALUE...]", value, err)
	}
	if _, err := r.Read(); err != io.EOF {
		return "", nil, fmt.Errorf("%q holds a line break; allowed: FILE.wasm[,KEY=VALUE...] on one line", value)
	}
	file = fields[0]
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return "", nil, fmt.Errorf("%q is not KEY=VALUE; allowed: FILE.wasm[,KEY=VALUE...], with a field holding a comma in double quotes", f)
		}
		if cfg == nil {
			cfg = map[string]any{}
		}
		if _, dup := cfg[k]; dup {
			return "", nil, fmt.Errorf("configuration key %q given twice", k)
		}
		cfg[k] = flagValue(v)
	}
	return file, cfg, nil
}

// flagValue reads a configuration value given on the command line: JSON when it is a JSON
// number, boolean, array, object or string, the text itself otherwise. Numbers keep their
// digits (json.Number), so 10000000000000000001 reaches the plugin as written.
func flagValue(v string) any {
	t := strings.TrimSpace(v)
	if t == "" || !strings.ContainsAny(t[:1], "[{\"-0123456789tf") {
		return v
	}
	d := json.NewDecoder(bytes.NewReader([]byte(t)))
	d.UseNumber()
	var parsed any
	if d.Decode(&parsed) != nil || d.More() {
		return v
	}
	if _, err := d.Token(); err != io.EOF {
		return v
	}
	return parsed
}

// AddDropIn adds the plugin of one drop-in file as if a plugin directory held it, so that
// `scrim plugin test` tries a drop-in as it ships. A file already loaded from plugin_dirs is
// not added twice.
func (c *Config) AddDropIn(file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("resolve drop-in path %s: %w", file, err)
	}
	for _, p := range c.Plugins {
		if p.DropIn == "" {
			continue
		}
		if src, err := filepath.Abs(dropInFile(p.Source)); err == nil && src == abs {
			return nil
		}
	}
	p, errs := dropIn(abs)
	if len(errs) > 0 {
		return errs.err()
	}
	p.DropIn = filepath.Dir(abs)
	c.Plugins = append(c.Plugins, p)
	c.rankDropIns()
	return nil
}

// dropInFile is the file of a drop-in plugin's Source, "FILE:LINE".
func dropInFile(source string) string {
	if i := strings.LastIndexByte(source, ':'); i >= 0 {
		return source[:i]
	}
	return source
}
