package plugins

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// goHandler is the trivial built-in handler plugin decisions are compared with.
type goHandler struct{ serve bool }

func (goHandler) ID() string { return "builtin.bench" }

func (h goHandler) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) != "/etc/motd" {
		return shim.Next(), nil
	}
	if !h.serve {
		return shim.Deny(unix.EACCES), nil
	}
	// Served the way a plugin's content is, so that only the decision differs.
	return shim.Serve(shim.Bytes{Name: "scrim-plugin-bench", Data: bytes.Clone([]byte("Welcome to a scrim sandbox.\n")), Mode: unix.S_IFREG | 0o444}), nil
}

// BenchmarkUnclaimed walks an open no plugin claims through the plugin part of the chain with
// 0 and 10 plugins loaded: the cost the issue bounds at 5% of an open.
func BenchmarkUnclaimed(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run(fmt.Sprintf("plugins=%d", n), func(b *testing.B) {
			var specs []Spec
			for i := 0; i < n; i++ {
				specs = append(specs, Spec{
					Name: fmt.Sprintf("p%d", i), Path: testdata("deny"), Instances: 1,
					Paths: []string{fmt.Sprintf("/etc/vendor%d.conf", i), fmt.Sprintf("/run/vendor%d/**", i), fmt.Sprintf("/**/*.vendor%d", i)},
				})
			}
			h, err := Load(context.Background(), specs, Options{CacheDir: cacheDir})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			regs := h.Registrations()
			req := request("/usr/lib/python3.11/json/__init__.py", unix.O_RDONLY)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range regs {
					if res, _ := r.Handler.Open(ctx, req); res.Action != shim.ActNext {
						b.Fatal("claimed")
					}
				}
			}
		})
	}
}

// BenchmarkDecision compares one decision by a plugin with the same decision by a Go handler.
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name string
		h    func(b *testing.B) shim.Handler
		path string // "" is /etc/motd
	}{
		{"deny/go", func(*testing.B) shim.Handler { return goHandler{} }, ""},
		{"deny/plugin-wat", func(b *testing.B) shim.Handler {
			return load(b, Spec{Name: "deny", Path: testdata("deny"), Paths: []string{"/etc/motd"}})
		}, ""},
		{"deny/plugin-go", func(b *testing.B) shim.Handler {
			return load(b, Spec{Name: "denykeys", Path: example("denykeys"), Paths: []string{"/etc/motd"}})
		}, ""},
		// The C SDK's probe plugin, the "minimal plugin written in C": it claims
		// /probe/** and answers by the path.
		{"deny/plugin-c", func(b *testing.B) shim.Handler {
			return load(b, Spec{Name: "probe", Path: probeC})
		}, "/probe/deny/13"},
		{"serve/go", func(*testing.B) shim.Handler { return goHandler{serve: true} }, ""},
		{"serve/plugin-c", func(b *testing.B) shim.Handler {
			return load(b, Spec{Name: "probe", Path: probeC})
		}, "/probe/greeting"},
		{"serve/plugin-go", func(b *testing.B) shim.Handler {
			return load(b, Spec{Name: "motd", Path: example("motd")})
		}, ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := c.h(b)
			path := cmp.Or(c.path, "/etc/motd")
			req := request(path, unix.O_RDONLY)
			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				res, err := h.Open(ctx, req)
				if err != nil || res.Action == shim.ActNext {
					b.Fatal(res, err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// probeC is the C SDK's probe plugin.
var probeC = wasmPath(filepath.Join("sdk", "c", "probe", "probe.wasm"))

// cpuTime is the process's CPU time so far (user and system, every thread), so that a
// benchmark can report CPU time per op next to wall time: on a machine busy with other
// work the wall time counts the waits for a CPU, the CPU time only the work.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
