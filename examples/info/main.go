// Command info is a scrim plugin that serves /run/scrim/info, a file generated at each open
// that tells the program about its sandbox and itself.
package main

import (
	"strconv"

	plugin "github.com/scrim-sandbox/scrim/sdk/go"
)

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "info",
		Version: "1.0.0",
		Claims:  []string{"/run/scrim/info"},
		Open: func(req *plugin.Request) plugin.Verdict {
			b := []byte("sandbox=")
			b = append(b, req.Sandbox...)
			b = append(b, "\npid="...)
			b = strconv.AppendInt(b, int64(req.PID), 10)
			b = append(b, "\nuid="...)
			b = strconv.AppendUint(b, uint64(req.UID), 10)
			b = append(b, "\ngid="...)
			b = strconv.AppendUint(b, uint64(req.GID), 10)
			b = append(b, '\n')
			plugin.Log(plugin.LevelDebug, "info served to pid "+strconv.Itoa(int(req.PID)))
			return plugin.Serve(b)
		},
	})
}

func main() {}
