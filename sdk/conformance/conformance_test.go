// Package conformance_test checks that every SDK (C, Rust, AssemblyScript and Go) implements
// scrim's plugin ABI the same way. Each SDK has a test plugin, its probe (sdk/LANG/probe, and
// goprobe here for sdk/go), that answers every verdict the ABI has, chosen by the path; one
// table runs against all of them through package plugins, without a sandbox.
//
// The probes are checked in, so this test needs no guest toolchain. .ci/sdk-rebuild.sh
// rebuilds them into a scratch tree and points SCRIM_WASM_ROOT at it to test the fresh builds.
package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// probes names each SDK's test plugin, relative to the repository root. hasLog is set for
// the SDKs that offer the ABI's log call.
var probes = []struct {
	lang, path string
	hasLog     bool
}{
	{"c", "sdk/c/probe/probe.wasm", true},
	{"rust", "sdk/rust/probe/probe.wasm", true},
	{"assemblyscript", "sdk/assemblyscript/probe/probe.wasm", true},
	{"go", "sdk/conformance/goprobe/goprobe.wasm", false},
}

// wasmPath finds a checked-in module, or its fresh build under $SCRIM_WASM_ROOT.
func wasmPath(rel string) string {
	if root := os.Getenv("SCRIM_WASM_ROOT"); root != "" {
		return filepath.Join(root, rel)
	}
	return filepath.Join("..", "..", rel)
}

var cacheDir string

// callTimeout replaces the 250 ms default per call: these tests check decisions, not speed,
// and a loaded CI machine can take longer to push a megabyte through a plugin.
const callTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scrim-conformance-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func load(t *testing.T, path string, cfg map[string]any) *plugins.Host {
	t.Helper()
	h, err := plugins.Load(context.Background(), []plugins.Spec{{Name: "probe", Path: path, Config: cfg, Timeout: callTimeout}},
		plugins.Options{CacheDir: cacheDir, Sandbox: "test-box"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	return h
}

// fileTarget opens a host file as the test process, standing in for the supervisor's open
// with the child's credentials.
type fileTarget string

func (f fileTarget) Open(flags int, mode uint32) (*os.File, error) {
	return os.OpenFile(string(f), flags, os.FileMode(mode))
}

func request(path string) *shim.Request {
	return &shim.Request{
		Syscall: shim.SysOpenat, PID: 42, TID: 43, Path: []byte(path),
		Flags: unix.O_RDONLY | unix.O_CLOEXEC, Mode: 0o600,
		Object: shim.Object{Exists: true, Mode: unix.S_IFREG | 0o644},
		Cred:   shim.Cred{FSUID: 1000, FSGID: 100},
	}
}

// served returns the content and permission bits of a Serve result.
func served(t *testing.T, res shim.Result) (string, uint32) {
	t.Helper()
	require.Equal(t, shim.ActServe, res.Action)
	b, ok := res.Content.(shim.Bytes)
	require.True(t, ok, "content is %T", res.Content)
	return string(b.Data), b.Mode & 0o777
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	require.NoError(t, os.WriteFile(text, []byte("Hello, World\nline 2\n"), 0o644))
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		cfg     map[string]any
		path    string
		target  string
		want    shim.Result // for verdicts other than serve
		content string      // for serve
		mode    uint32      // for serve
		fault   string      // for a plugin fault: text its error contains
	}{
		{name: "next", path: "/probe/next", want: shim.Next()},
		{name: "real", path: "/probe/real", want: shim.Real()},
		{name: "deny", path: "/probe/deny/13", want: shim.Deny(unix.EACCES)},
		{name: "deny with the largest errno", path: "/probe/deny/133", want: shim.Deny(133)},
		{name: "deny out of range is a fault", path: "/probe/deny/134", fault: "outside 1..133"},
		{name: "fail carries its reason", path: "/probe/fail", fault: "probe fails on purpose"},
		{name: "unknown path", path: "/probe/other", want: shim.Deny(unix.ENOENT)},
		{name: "default greeting", path: "/probe/greeting", content: "hello\n", mode: 0o444},
		{name: "configured greeting", cfg: map[string]any{"greeting": "good morning"},
			path: "/probe/greeting", content: "good morning\n", mode: 0o444},
		{name: "a number read as text", cfg: map[string]any{"greeting": int64(42)},
			path: "/probe/greeting", content: "42\n", mode: 0o444},
		{name: "the configuration as JSON", cfg: map[string]any{"greeting": "hi", "n": int64(3), "list": []any{"a", true}},
			path: "/probe/config", content: `{"greeting":"hi","list":["a",true],"n":3}`, mode: 0o444},
		{name: "no configuration is an empty object", path: "/probe/config", content: "{}", mode: 0o444},
		{name: "the path's bytes as they came", path: "/probe/echo/caf\xe9 \xff\x01",
			content: "/probe/echo/caf\xe9 \xff\x01", mode: 0o444},
		{name: "every request field", path: "/probe/request", mode: 0o640, content: "path=/probe/request\n" +
			"sandbox=test-box\nsyscall=2\nflags=524288\nmode=384\nobject_mode=33188\n" +
			"pid=42\ntid=43\nuid=1000\ngid=100\nop=0\n"},
		{name: "transform the real file", path: "/probe/upper/text", target: text,
			content: "HELLO, WORLD\nLINE 2\n", mode: 0o444},
		{name: "the real file's errno", path: "/probe/upper/missing", target: missing,
			want: shim.Deny(unix.ENOENT)},
		{name: "content past the cap is a fault", path: "/probe/big", fault: "bytes of content"},
	}
	for _, p := range probes {
		t.Run(p.lang, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := load(t, wasmPath(p.path), tt.cfg)
					req := request(tt.path)
					if tt.target != "" {
						req.Target = fileTarget(tt.target)
					}
					res, err := h.Decide(context.Background(), "probe", req)
					switch {
					case tt.fault != "":
						require.Error(t, err)
						require.Contains(t, err.Error(), tt.fault)
					case tt.mode != 0:
						require.NoError(t, err)
						got, mode := served(t, res)
						require.Equal(t, tt.content, got)
						require.Equal(t, tt.mode, mode)
					default:
						require.NoError(t, err)
						require.Equal(t, tt.want, res)
					}
				})
			}
			if p.hasLog {
				t.Run("log reaches scrim's log", func(t *testing.T) {
					var buf bytes.Buffer
					logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace, JSONFormat: true})
					h, err := plugins.Load(context.Background(),
						[]plugins.Spec{{Name: "probe", Path: wasmPath(p.path), Timeout: callTimeout}},
						plugins.Options{CacheDir: cacheDir, Log: logger})
					require.NoError(t, err)
					defer func() { require.NoError(t, h.Close(context.Background())) }()
					res, err := h.Decide(context.Background(), "probe", request("/probe/log"))
					require.NoError(t, err)
					got, _ := served(t, res)
					require.Equal(t, "logged\n", got)
					// The host logs its own records too (the compile cache's, at debug): the
					// plugin's is the one with the plugin's message.
					var line map[string]any
					for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
						var rec map[string]any
						require.NoError(t, json.Unmarshal(raw, &rec), "log: %s", buf.String())
						if rec["@message"] == "plugin log" {
							line = rec
						}
					}
					require.NotNil(t, line, "no plugin log record in: %s", buf.String())
					require.Equal(t, "warn", line["@level"])
					require.Equal(t, "plugin log", line["@message"])
					require.Equal(t, "probe log: /probe/log", line["text"])
				})
			}
			t.Run("init refuses with its reason", func(t *testing.T) {
				_, err := plugins.Load(context.Background(),
					[]plugins.Spec{{Name: "probe", Path: wasmPath(p.path), Config: map[string]any{"refuse": "no thanks"}}},
					plugins.Options{CacheDir: cacheDir})
				require.Error(t, err)
				require.Contains(t, err.Error(), "refused: no thanks")
			})
			t.Run("claims", func(t *testing.T) {
				h := load(t, wasmPath(p.path), nil)
				require.Equal(t, []string{"/probe/**"}, h.Claims("probe"))
				res, err := h.Decide(context.Background(), "probe", request("/elsewhere"))
				require.ErrorIs(t, err, plugins.ErrNotClaimed)
				require.Equal(t, shim.Next(), res)
			})
			t.Run("inspect", func(t *testing.T) {
				r, err := plugins.Inspect(context.Background(), wasmPath(p.path), plugins.Options{CacheDir: cacheDir})
				require.NoError(t, err)
				require.Empty(t, r.Problems)
				require.Equal(t, "1", r.ABI)
				require.True(t, strings.HasPrefix(r.Name, "probe-"), r.Name)
				require.Equal(t, "1.0.0", r.Version)
			})
		})
	}
}

// TestProbeDoesNotLeak runs many transforms of a 64 KiB file through one instance with the
// default 16 MiB memory cap: an SDK that kept any copy of a request, of the real content or of
// the served bytes per call would run out of memory long before the end, and the call would
// fault.
func TestProbeDoesNotLeak(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big")
	content := bytes.Repeat([]byte("abcdefghijklmnop"), 4096)
	require.NoError(t, os.WriteFile(big, content, 0o644))
	want := string(bytes.ToUpper(content))
	const calls = 400 // 400 × 64 KiB is 25 MiB
	for _, p := range probes {
		t.Run(p.lang, func(t *testing.T) {
			h, err := plugins.Load(context.Background(),
				[]plugins.Spec{{Name: "probe", Path: wasmPath(p.path), Instances: 1, Timeout: callTimeout}},
				plugins.Options{CacheDir: cacheDir})
			require.NoError(t, err)
			defer func() { require.NoError(t, h.Close(context.Background())) }()
			for i := 0; i < calls; i++ {
				req := request("/probe/upper/big")
				req.Target = fileTarget(big)
				res, err := h.Decide(context.Background(), "probe", req)
				require.NoError(t, err, "call %d", i)
				got, _ := served(t, res)
				require.Equal(t, len(want), len(got), "call %d", i)
				if i == 0 || i == calls-1 {
					require.Equal(t, want, got, "call %d", i)
				}
			}
			s := h.Stats()[0]
			require.Zero(t, s.Faults)
			require.Zero(t, s.Replaced, "an instance was replaced")
		})
	}
}

// TestProbeClaimsFromConfig checks ABI 1.1's claims computed from the configuration in every
// SDK: each probe replaces its claim /probe/** with the configured "claims", and scrim then
// asks it about exactly those paths.
func TestProbeClaimsFromConfig(t *testing.T) {
	for _, p := range probes {
		t.Run(p.lang, func(t *testing.T) {
			h := load(t, wasmPath(p.path), map[string]any{"claims": "/srv/vendor/exact /srv/vendor/tree/**"})
			require.Equal(t, []string{"/srv/vendor/exact", "/srv/vendor/tree/**"}, h.Claims("probe"))
			_, err := h.Decide(context.Background(), "probe", request("/probe/greeting"))
			require.ErrorIs(t, err, plugins.ErrNotClaimed, "the default claim is gone")
			for _, path := range []string{"/srv/vendor/exact", "/srv/vendor/tree/a/b"} {
				res, err := h.Decide(context.Background(), "probe", request(path))
				require.NoError(t, err, path)
				require.Equal(t, shim.Deny(unix.ENOENT), res, "%s reaches the probe", path)
			}
			_, err = h.Decide(context.Background(), "probe", request("/srv/vendor/other"))
			require.ErrorIs(t, err, plugins.ErrNotClaimed)
		})
	}
}

// TestProbeLookups checks ABI 1.1's look-ups in every SDK: a stat-like call reaches the probe
// with its op, is answered with the size, mode and time alone where the probe says so, and a
// deny leaves a look-up to the object as it is.
func TestProbeLookups(t *testing.T) {
	mtime := time.Unix(1700000000, 5)
	lookup := func(path string, op shim.Op, sys shim.Syscall) *shim.Request {
		req := request(path)
		req.Op, req.Syscall, req.Flags = op, sys, 0
		return req
	}
	for _, p := range probes {
		t.Run(p.lang, func(t *testing.T) {
			h := load(t, wasmPath(p.path), nil)
			decide := func(req *shim.Request) shim.Result {
				t.Helper()
				res, err := h.Decide(context.Background(), "probe", req)
				require.NoError(t, err)
				return res
			}
			require.Equal(t, shim.Serve(shim.Meta{Size: 11, Mode: unix.S_IFREG | 0o640, ModTime: mtime}),
				decide(lookup("/probe/meta", shim.OpStat, shim.SysNewfstatat)), "a stat gets the size alone")
			require.Equal(t, shim.Serve(shim.Bytes{Name: "scrim-plugin-probe", Data: []byte("hello meta\n"), Mode: unix.S_IFREG | 0o640, ModTime: mtime}),
				decide(request("/probe/meta")), "an open gets the content with the same metadata")
			require.Equal(t, shim.Serve(shim.Meta{Mode: unix.S_IFDIR | 0o555, ModTime: mtime}),
				decide(lookup("/probe/metadir", shim.OpStat, shim.SysStatx)))
			require.Equal(t, shim.Next(), decide(request("/probe/metadir")), "a served directory answers no open")
			require.Equal(t, shim.Next(), decide(lookup("/probe/deny/13", shim.OpStat, shim.SysLstat)),
				"a deny refuses opens, not look-ups")
			got, _ := served(t, decide(lookup("/probe/request", shim.OpAccess, shim.SysFaccessat2)))
			require.Contains(t, got, "\nsyscall=11\nflags=0\n")
			require.Contains(t, got, "\nop=2\n")
			got, _ = served(t, decide(lookup("/probe/greeting", shim.OpStat, shim.SysStat)))
			require.Equal(t, "hello\n", got, "a probe that builds the content for a look-up gets it described")
		})
	}
}
