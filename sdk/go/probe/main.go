// Command probe is the Go SDK's test plugin for sdk/conformance. It answers every verdict the
// ABI has, chosen by the path:
//
//	/probe/next, /probe/real, /probe/fail   those verdicts
//	/probe/deny/N                           deny with errno N
//	/probe/greeting                         the configured greeting ("hello" by default)
//	/probe/request                          every request field, served with mode 0640
//	/probe/upper/...                        the real file in upper case, or its read errno
//	/probe/big                              1 MiB + 1 byte, which scrim must refuse
//	anything else                           ENOENT
//
// A configuration key "refuse" makes init refuse with "refused: VALUE".
package main

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	plugin "github.com/scrim-sandbox/scrim/sdk/go"
)

var greeting = "hello"

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "probe-go",
		Version: "1.0.0",
		Claims:  []string{"/probe/**"},
		Init: func(cfg plugin.Config) error {
			if why, ok := cfg.Get("refuse"); ok {
				return errors.New("refused: " + why)
			}
			if g, ok := cfg.Get("greeting"); ok {
				greeting = g
			}
			return nil
		},
		Open: decide,
	})
}

func decide(req *plugin.Request) plugin.Verdict {
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
		var b []byte
		field := func(k string, v string) { b = append(append(append(b, k...), '='), v+"\n"...) }
		field("path", p)
		field("sandbox", req.Sandbox)
		field("syscall", strconv.Itoa(int(req.Syscall)))
		field("flags", strconv.FormatUint(req.Flags, 10))
		field("mode", strconv.FormatUint(uint64(req.Mode), 10))
		field("object_mode", strconv.FormatUint(uint64(req.ObjectMode), 10))
		field("pid", strconv.Itoa(int(req.PID)))
		field("tid", strconv.Itoa(int(req.TID)))
		field("uid", strconv.FormatUint(uint64(req.UID), 10))
		field("gid", strconv.FormatUint(uint64(req.GID), 10))
		return plugin.Serve(b).WithMode(0o640)
	case strings.HasPrefix(p, "/probe/upper/"):
		if req.Real == nil {
			return plugin.ReadReal()
		}
		if req.Real.Errno != 0 {
			return plugin.Deny(req.Real.Errno)
		}
		return plugin.Serve(bytes.ToUpper(req.Real.Data))
	case p == "/probe/big":
		return plugin.Serve(make([]byte, 1<<20+1))
	}
	return plugin.Deny(plugin.ENOENT)
}

func main() {}
