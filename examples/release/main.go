// Command release is a scrim plugin that serves a file that exists only inside the sandbox,
// /etc/vendor-release by default, so that every call that looks at it agrees: open and read,
// stat and test -f (answered with its size alone, without building it), ls of /etc (a listing
// shows every literal claim the plugin serves), and readlink of /proc/self/fd/N.
//
//	[[plugin]]
//	name = "release"
//	path = "examples/release/release.wasm"
//	[plugin.config]
//	path = "/etc/vendor-release"
//	text = "ACME Linux 4.2\n"
//	mtime = 1700000000
//
// The path comes from the configuration: the plugin claims that one path and no other.
package main

import (
	"errors"
	"strconv"
	"strings"

	plugin "github.com/scrim-sandbox/scrim/sdk/go"
)

const (
	defaultPath = "/etc/vendor-release"
	defaultText = "scrim vendor release 1.0\n"
)

var (
	text  = defaultText
	mtime int64 // 0: when scrim first served it
)

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "release",
		Version: "1.0.0",
		ClaimsFrom: func(cfg plugin.Config) ([]string, error) {
			p, ok := cfg.Get("path")
			if !ok {
				return []string{defaultPath}, nil
			}
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "*?\\") {
				return nil, errors.New("path: want an absolute path without wildcards")
			}
			return []string{p}, nil
		},
		Init: func(cfg plugin.Config) error {
			if t, ok := cfg.Get("text"); ok {
				text = t
			}
			if m, ok := cfg.Get("mtime"); ok {
				v, err := strconv.ParseInt(m, 10, 64)
				if err != nil || v < 0 {
					return errors.New("mtime: want seconds since 1970")
				}
				mtime = v
			}
			return nil
		},
		Open: func(req *plugin.Request) plugin.Verdict {
			v := plugin.ServeString(text)
			if req.IsLookup() {
				// stat, access and listings need only the size: no content is built.
				v = plugin.ServeSize(int64(len(text)))
			}
			if mtime != 0 {
				v = v.WithMtime(mtime, 0)
			}
			return v
		},
	})
}

func main() {}
