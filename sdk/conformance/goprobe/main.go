// Command goprobe is the Go SDK's test plugin, the same probe as sdk/c/probe/probe.c,
// sdk/rust/probe/probe.rs and sdk/assemblyscript/probe/probe.ts, so that the conformance
// table checks sdk/go against the same expectations as the other SDKs. It has no /probe/log:
// sdk/go offers no log call.
package main

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	plugin "github.com/scrim-sandbox/scrim/sdk/go"
)

var (
	greeting = "hello"
	config   []byte
)

// metaText is what /probe/meta serves; a look-up of it is answered with its size alone.
const metaText = "hello meta\n"

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "probe-go",
		Version: "1.0.0",
		// The configuration's "claims", separated by spaces, replace /probe/**.
		ClaimsFrom: func(cfg plugin.Config) ([]string, error) {
			if c, ok := cfg.Get("claims"); ok {
				return strings.Fields(c), nil
			}
			return []string{"/probe/**"}, nil
		},
		Init: func(cfg plugin.Config) error {
			if why, ok := cfg.Get("refuse"); ok {
				return errors.New("refused: " + why)
			}
			config = append([]byte(nil), cfg.JSON()...)
			if g, ok := cfg.Get("greeting"); ok {
				greeting = g
			}
			return nil
		},
		Open: open,
	})
}

func open(req *plugin.Request) plugin.Verdict {
	p := req.PathString()
	switch {
	case p == "/probe/next":
		return plugin.Next()
	case p == "/probe/real":
		return plugin.Real()
	case p == "/probe/fail":
		return plugin.Fail(errors.New("probe fails on purpose"))
	case strings.HasPrefix(p, "/probe/deny/"):
		n, _ := strconv.Atoi(strings.TrimPrefix(p, "/probe/deny/"))
		return plugin.Deny(plugin.Errno(n))
	case p == "/probe/greeting":
		return plugin.ServeString(greeting + "\n")
	case p == "/probe/request":
		var b strings.Builder
		for _, kv := range []struct{ k, v string }{
			{"path", p}, {"sandbox", req.Sandbox},
			{"syscall", strconv.Itoa(int(req.Syscall))},
			{"flags", strconv.FormatUint(req.Flags, 10)},
			{"mode", strconv.Itoa(int(req.Mode))},
			{"object_mode", strconv.Itoa(int(req.ObjectMode))},
			{"pid", strconv.Itoa(int(req.PID))}, {"tid", strconv.Itoa(int(req.TID))},
			{"uid", strconv.Itoa(int(req.UID))}, {"gid", strconv.Itoa(int(req.GID))},
			{"op", strconv.Itoa(int(req.Op))},
		} {
			b.WriteString(kv.k + "=" + kv.v + "\n")
		}
		return plugin.ServeString(b.String()).WithMode(0o640)
	case p == "/probe/meta":
		if req.IsLookup() {
			return plugin.ServeSize(int64(len(metaText))).WithMode(0o640).WithMtime(1700000000, 5)
		}
		return plugin.ServeString(metaText).WithMode(0o640).WithMtime(1700000000, 5)
	case p == "/probe/metadir":
		return plugin.ServeDir().WithMtime(1700000000, 5)
	case strings.HasPrefix(p, "/probe/upper/"):
		if req.Real == nil {
			return plugin.ReadReal()
		}
		if req.Real.Errno != 0 {
			return plugin.Deny(req.Real.Errno)
		}
		return plugin.Serve(bytes.ToUpper(req.Real.Data))
	case strings.HasPrefix(p, "/probe/echo/"):
		return plugin.Serve(req.Path)
	case p == "/probe/config":
		return plugin.Serve(config)
	case p == "/probe/big":
		return plugin.Serve(bytes.Repeat([]byte("x"), 1<<20+1))
	}
	return plugin.Deny(plugin.ENOENT)
}

func main() {}
