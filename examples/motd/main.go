// Command motd is a scrim plugin that serves /etc/motd from its configuration:
//
//	[[plugin]]
//	name = "motd"
//	path = "examples/motd/motd.wasm"
//	[plugin.config]
//	text = "Welcome to the build sandbox.\n"
package main

import plugin "github.com/scrim-sandbox/scrim/sdk/go"

const defaultText = "Welcome to a scrim sandbox.\n"

var text = defaultText

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "motd",
		Version: "1.0.0",
		Claims:  []string{"/etc/motd"},
		Init: func(cfg plugin.Config) error {
			if t, ok := cfg.Get("text"); ok {
				text = t
			}
			return nil
		},
		Open: func(req *plugin.Request) plugin.Verdict {
			return plugin.ServeString(text)
		},
	})
}

func main() {}
