// Command passwd is a scrim plugin that serves /etc/passwd filtered to the users the
// configuration allows, so that a sandboxed program cannot list the host's accounts:
//
//	[plugin.config]
//	allow = ["root", "nobody"]
//
// It asks scrim for the real file (read as the program would) and serves the kept lines.
package main

import (
	"bytes"
	"encoding/json"
	"errors"

	plugin "github.com/scrim-sandbox/scrim/sdk/go"
)

var allowed = map[string]bool{"root": true, "nobody": true}

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "passwd",
		Version: "1.0.0",
		Claims:  []string{"/etc/passwd"},
		Init: func(cfg plugin.Config) error {
			v, ok := cfg.Get("allow")
			if !ok {
				return nil
			}
			var users []string
			if err := json.Unmarshal([]byte(v), &users); err != nil {
				return errors.New("allow: want an array of user names")
			}
			allowed = map[string]bool{}
			for _, u := range users {
				allowed[u] = true
			}
			return nil
		},
		Open: func(req *plugin.Request) plugin.Verdict {
			if req.Real == nil {
				return plugin.ReadReal()
			}
			if req.Real.Errno != 0 {
				return plugin.Deny(req.Real.Errno)
			}
			return plugin.Serve(filter(req.Real.Data))
		},
	})
}

// filter keeps the lines whose first field is an allowed user.
func filter(data []byte) []byte {
	var out []byte
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		if allowed[string(name)] {
			out = append(out, line...)
		}
	}
	return out
}

func main() {}
