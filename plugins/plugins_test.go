package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/launch"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// cacheDir is one compilation cache for the whole test binary, so that each module compiles
// once however many tests load it.
var cacheDir string

func TestMain(m *testing.M) {
	// TestFaultPluginMidRun starts real sandboxes, which re-execute this binary.
	launch.Dispatch()
	dir, err := os.MkdirTemp("", "scrim-plugins-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = filepath.Join(dir, "cache")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wasmPath finds a checked-in module by its path from the repository root, or its fresh
// build under $SCRIM_WASM_ROOT (a rebuilt copy of the tree), so CI can test what the
// toolchains produce today.
func wasmPath(rel string) string {
	if root := os.Getenv("SCRIM_WASM_ROOT"); root != "" {
		return filepath.Join(root, rel)
	}
	return filepath.Join("..", rel)
}

func testdata(name string) string {
	return wasmPath(filepath.Join("plugins", "testdata", name+".wasm"))
}

func example(name string) string { return wasmPath(filepath.Join("examples", name, name+".wasm")) }

// load loads one plugin and closes it when the test ends.
func load(t testing.TB, s Spec) *plugin {
	t.Helper()
	h, err := Load(context.Background(), []Spec{s}, Options{CacheDir: cacheDir, Sandbox: "test-box"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	return h.plugins[0]
}

// fileTarget opens a host file as the test process: the stand-in for the supervisor's
// child-credential open.
type fileTarget string

func (f fileTarget) Open(flags int, mode uint32) (*os.File, error) {
	return os.OpenFile(string(f), flags, os.FileMode(mode))
}

func request(path string, flags int) *shim.Request {
	return &shim.Request{
		Syscall: shim.SysOpenat, PID: 42, TID: 43, Path: []byte(path), Flags: flags,
		Cred: shim.Cred{FSUID: 1000, FSGID: 100},
	}
}

// served returns the content and permission bits of a Serve result: plugins serve Bytes,
// which the supervisor turns into a sealed, read-only memfd like every shim's.
func served(t *testing.T, res shim.Result) (string, uint32) {
	t.Helper()
	require.Equal(t, shim.ActServe, res.Action)
	b, ok := res.Content.(shim.Bytes)
	require.True(t, ok, "content is %T", res.Content)
	require.Equal(t, uint32(unix.S_IFREG), b.Mode&unix.S_IFMT, "a regular file")
	return string(b.Data), b.Mode & 0o777
}

func TestExamples(t *testing.T) {
	if raceEnabled {
		t.Skip("race: compiling the Go examples with the race-instrumented wazero compiler takes minutes; " +
			"they run in the plain pass, and the host's concurrency is raced with small modules")
	}
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(passwd, []byte(
		"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"), 0o644))
	tests := []struct {
		name    string
		spec    Spec
		req     *shim.Request
		want    string
		wantErr unix.Errno
	}{
		{
			name: "motd serves its default",
			spec: Spec{Name: "motd", Path: example("motd")},
			req:  request("/etc/motd", unix.O_RDONLY),
			want: "Welcome to a scrim sandbox.\n",
		},
		{
			name: "motd serves its configuration",
			spec: Spec{Name: "motd", Path: example("motd"), Config: map[string]any{"text": "hello\n"}},
			req:  request("/etc/motd", unix.O_RDONLY),
			want: "hello\n",
		},
		{
			name: "info describes the sandbox and the caller",
			spec: Spec{Name: "info", Path: example("info")},
			req:  request("/run/scrim/info", unix.O_RDONLY),
			want: "sandbox=test-box\npid=42\nuid=1000\ngid=100\n",
		},
		{
			name:    "denykeys denies a pem file anywhere",
			spec:    Spec{Name: "denykeys", Path: example("denykeys")},
			req:     request("/home/alice/certs/server.pem", unix.O_RDONLY),
			wantErr: unix.EACCES,
		},
		{
			name:    "denykeys denies an ssh key",
			spec:    Spec{Name: "denykeys", Path: example("denykeys")},
			req:     request("/root/.ssh/id_ed25519", unix.O_RDONLY),
			wantErr: unix.EACCES,
		},
		{
			name: "passwd keeps the default users",
			spec: Spec{Name: "passwd", Path: example("passwd")},
			req:  withTarget(request("/etc/passwd", unix.O_RDONLY), passwd),
			want: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
		},
		{
			name: "passwd keeps the configured users",
			spec: Spec{Name: "passwd", Path: example("passwd"), Config: map[string]any{"allow": []any{"alice"}}},
			req:  withTarget(request("/etc/passwd", unix.O_RDONLY), passwd),
			want: "alice:x:1000:1000::/home/alice:/bin/sh\n",
		},
		{
			name:    "passwd passes on the error of the real read",
			spec:    Spec{Name: "passwd", Path: example("passwd")},
			req:     withTarget(request("/etc/passwd", unix.O_RDONLY), filepath.Join(dir, "missing")),
			wantErr: unix.ENOENT,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, tt.spec)
			res, err := p.Open(context.Background(), tt.req)
			require.NoError(t, err)
			if tt.wantErr != 0 {
				require.Equal(t, shim.Deny(tt.wantErr), res)
				return
			}
			got, mode := served(t, res)
			require.Equal(t, tt.want, got)
			require.Equal(t, uint32(0o444), mode)
		})
	}
}

// waitReady waits until every instance of p has started and is idle, so that a test
// counting traps does not see a call that found no free instance while a replacement was
// starting.
func waitReady(t *testing.T, p *plugin) {
	t.Helper()
	require.Eventually(t, func() bool { return len(p.pool) > 0 && int32(len(p.pool)) == p.live.Load() },
		10*time.Second, time.Millisecond, "instances did not start")
}

func withTarget(r *shim.Request, path string) *shim.Request {
	r.Target = fileTarget(path)
	return r
}

func TestRequestLayout(t *testing.T) {
	p := load(t, Spec{Name: "echo", Path: testdata("echo")})
	req := request("/t/caf\xe9", unix.O_RDONLY|unix.O_CLOEXEC)
	req.Syscall = shim.SysOpenat2
	req.Mode = 0o600
	req.Object = shim.Object{Exists: true, Mode: unix.S_IFREG | 0o644}
	res, err := p.Open(context.Background(), req)
	require.NoError(t, err)
	got, mode := served(t, res)
	require.Equal(t, uint32(0o640), mode, "set_mode")
	b := []byte(got)
	le := binary.LittleEndian
	require.Len(t, b, 88+len(req.Path)+len("test-box"))
	for _, f := range []struct {
		name string
		off  int
		want uint32
	}{
		{"header_size", 0, 88},
		{"phase", 8, 0},
		{"syscall", 12, 3},
		{"flags", 16, unix.O_CLOEXEC},
		{"mode", 24, 0o600},
		{"object_mode", 28, unix.S_IFREG | 0o644},
		{"pid", 32, 42},
		{"tid", 36, 43},
		{"uid", 40, 1000},
		{"gid", 44, 100},
		{"path_off", 48, 88},
		{"path_len", 52, uint32(len(req.Path))},
		{"sandbox_len", 60, 8},
		{"op", 80, 0},
	} {
		require.Equal(t, f.want, le.Uint32(b[f.off:]), f.name)
	}
	require.Equal(t, uint16(1), le.Uint16(b[4:]), "abi_major")
	require.Equal(t, uint16(1), le.Uint16(b[6:]), "abi_minor")
	require.Equal(t, "/t/caf\xe9", string(b[88:88+len(req.Path)]))
	require.Equal(t, "test-box", string(b[88+len(req.Path):]))
}

func TestHostRules(t *testing.T) {
	echo := load(t, Spec{Name: "echo", Path: testdata("echo")})
	tests := []struct {
		name  string
		path  string
		flags int
		want  shim.Result
	}{
		{"write access is read-only", "/t/a", unix.O_WRONLY, shim.Deny(unix.EROFS)},
		{"read-write is read-only", "/t/a", unix.O_RDWR, shim.Deny(unix.EROFS)},
		{"truncation is read-only", "/t/a", unix.O_RDONLY | unix.O_TRUNC, shim.Deny(unix.EROFS)},
		{"creation is read-only", "/t/new", unix.O_RDONLY | unix.O_CREAT, shim.Deny(unix.EROFS)},
		{"O_DIRECTORY is not a directory", "/t/a", unix.O_RDONLY | unix.O_DIRECTORY, shim.Deny(unix.ENOTDIR)},
		{"an unclaimed path goes on", "/etc/passwd", unix.O_RDONLY, shim.Next()},
		{"the claimed directory itself is not below it", "/t", unix.O_RDONLY, shim.Next()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(tt.path, tt.flags)
			res, err := echo.Open(context.Background(), req)
			require.NoError(t, err)
			// The plugin's content is served as every shim's is: the supervisor answers
			// the read-only rules (shim.Request.ReadOnlyErrno) instead of serving it.
			if res.Action == shim.ActServe {
				require.IsType(t, shim.Bytes{}, res.Content)
				if e := req.ReadOnlyErrno(); e != 0 {
					res = shim.Deny(e)
				}
			}
			require.Equal(t, tt.want, res)
		})
	}
	t.Run("an unclaimed path makes no call", func(t *testing.T) {
		before := echo.stats.snapshot("").Calls
		_, err := echo.Open(context.Background(), request("/etc/hosts", unix.O_RDONLY))
		require.NoError(t, err)
		require.Equal(t, before, echo.stats.snapshot("").Calls)
	})
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"no configuration", nil, "{}"},
		{"a string and more", map[string]any{"greeting": "hi", "n": int64(3), "list": []any{"a", true}},
			`hi{"greeting":"hi","list":["a",true],"n":3}`},
		{"a number read as text", map[string]any{"greeting": 1.5}, `1.5{"greeting":1.5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, Spec{Name: "config", Path: testdata("config"), Config: tt.cfg})
			res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
			require.NoError(t, err)
			got, _ := served(t, res)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestReadReal(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("content\n"), 0o644))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, 70000), 0o644))
	p := load(t, Spec{Name: "transform", Path: testdata("transform")})
	tests := []struct {
		name   string
		target shim.Target
		want   shim.Result
		serve  string
	}{
		{name: "a regular file is transformed", target: fileTarget(small), serve: "real:content\n"},
		{name: "a missing file gives its errno", target: fileTarget(filepath.Join(dir, "none")), want: shim.Deny(unix.ENOENT)},
		{name: "a directory is not read", target: fileTarget(dir), want: shim.Deny(unix.EISDIR)},
		{name: "no target is ENOENT", want: shim.Deny(unix.ENOENT)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("/t/f", unix.O_RDONLY)
			req.Target = tt.target
			res, err := p.Open(context.Background(), req)
			require.NoError(t, err)
			if tt.serve != "" {
				got, _ := served(t, res)
				require.Equal(t, tt.serve, got)
				return
			}
			require.Equal(t, tt.want, res)
		})
	}
	t.Run("the read is capped", func(t *testing.T) {
		data, errno, flags := readReal(withTarget(request("/t/big", 0), big), nil)
		require.Zero(t, errno)
		require.Zero(t, flags)
		require.Len(t, data, 70000)
		huge := filepath.Join(dir, "huge")
		require.NoError(t, os.WriteFile(huge, make([]byte, maxContent+10), 0o644))
		data, errno, flags = readReal(withTarget(request("/t/huge", 0), huge), nil)
		require.Zero(t, errno)
		require.Equal(t, uint32(realTruncated), flags)
		require.Len(t, data, maxContent)
	})
}

// TestBrokenAtLoad checks that each broken module in the corpus is refused before any sandbox
// starts, with a message that says what is wrong.
func TestBrokenAtLoad(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"wrong ABI version", Spec{Path: testdata("abi2")}, "speaks ABI scrim_abi_v2, this scrim implements scrim_abi_v1"},
		{"missing export", Spec{Path: testdata("noopen")}, "misses the export scrim_open (i32)->(i32)"},
		{"command-only module", Spec{Path: testdata("command")}, "is a WASI command"},
		{"forbidden import", Spec{Path: testdata("forbidden")}, "imports env.system, which scrim does not provide"},
		{"NUL in a claim", Spec{Path: testdata("nul")}, "contains a NUL byte"},
		{"initial memory over the cap", Spec{Path: testdata("membig")}, "memory cap 256 pages"},
		{"configuration rejected", Spec{Path: testdata("initfail")}, "rejected its configuration (scrim_init returned 1): missing key: greeting"},
		{"not WebAssembly", Spec{Path: "plugins_test.go"}, "compile"},
		{"missing file", Spec{Path: testdata("absent")}, "no such file"},
		{"sha256 mismatch", Spec{Path: testdata("deny"), SHA256: "00"}, "the configuration pins 00"},
		{"bad claim in the configuration", Spec{Path: testdata("deny"), Paths: []string{"etc/x"}}, "not an absolute path"},
		{"bad on_error", Spec{Path: testdata("deny"), OnError: "EWHAT"}, "not an errno name"},
		{"bad name", Spec{Name: "a b", Path: testdata("deny")}, "the name must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.spec.Name == "" {
				tt.spec.Name = "broken"
			}
			h, err := Load(context.Background(), []Spec{tt.spec}, Options{CacheDir: cacheDir})
			require.Nil(t, h)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, `plugin "`+tt.spec.Name+`"`)
		})
	}
	t.Run("two plugins with one name", func(t *testing.T) {
		_, err := Load(context.Background(), []Spec{
			{Name: "x", Path: testdata("deny"), Source: "a.toml"},
			{Name: "x", Path: testdata("deny"), Source: "b.toml"},
		}, Options{CacheDir: cacheDir})
		require.ErrorContains(t, err, `load plugin "x" from b.toml: the name is already used by a.toml`)
	})
	t.Run("a matching sha256 pin loads", func(t *testing.T) {
		wasm, err := os.ReadFile(testdata("deny"))
		require.NoError(t, err)
		sum := sha256.Sum256(wasm)
		load(t, Spec{Name: "pinned", Path: testdata("deny"), SHA256: hex.EncodeToString(sum[:])})
	})
}

// TestBrokenAtRun checks that each misbehaving module fails closed with its on_error errno,
// quickly, and that scrim keeps answering afterwards.
func TestBrokenAtRun(t *testing.T) {
	tests := []struct {
		name    string
		module  string
		onError string
		want    unix.Errno
		kind    string // counter that must move: traps or timeouts
	}{
		{"infinite loop", "loop", "", unix.EIO, "timeouts"},
		{"memory bomb", "membomb", "", unix.EIO, "traps"},
		{"trap", "trap", "EACCES", unix.EACCES, "traps"},
		{"oversized content", "oversize", "", unix.EIO, ""},
		{"out-of-range errno", "errno", "", unix.EIO, ""},
		{"out-of-bounds pointer to an import", "oob", "", unix.EIO, ""},
		{"out-of-bounds load", "oobload", "", unix.EIO, "traps"},
		{"proc_exit", "procexit", "EPERM", unix.EPERM, "traps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 5 * time.Second // generous: only the loop should ever time out
			if tt.kind == "timeouts" {
				timeout = 50 * time.Millisecond
			}
			p := load(t, Spec{Name: tt.module, Path: testdata(tt.module), OnError: tt.onError,
				Timeout: timeout, MemoryBytes: 4 << 20, Instances: 1})
			for i := 0; i < 2; i++ {
				waitReady(t, p)
				start := time.Now()
				res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
				require.NoError(t, err)
				require.Equal(t, shim.Deny(tt.want), res)
				require.Less(t, time.Since(start), 3*time.Second, "a fault must not hang the open")
			}
			s := p.stats.snapshot("")
			require.Equal(t, uint64(2), s.Faults)
			switch tt.kind {
			case "traps":
				require.Equal(t, uint64(2), s.Traps)
			case "timeouts":
				require.Equal(t, uint64(2), s.Timeouts)
			}
			if tt.kind != "" {
				require.Equal(t, uint64(2), s.Replaced, "a failed instance is replaced")
			}
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	p := load(t, Spec{Name: "trap", Path: testdata("trap"), Instances: 1})
	for i := 0; i < breakAfter+3; i++ {
		if i < breakAfter {
			waitReady(t, p)
		}
		res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
		require.NoError(t, err)
		require.Equal(t, shim.Deny(unix.EIO), res)
	}
	s := p.stats.snapshot("")
	require.Equal(t, uint64(breakAfter), s.Traps, "calls stop once the breaker opens")
	require.Equal(t, uint64(3), s.Broken)
	// After the pause one trial call goes through again.
	p.openTill.Store(time.Now().Add(-time.Second).UnixNano())
	waitReady(t, p)
	_, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
	require.NoError(t, err)
	require.Equal(t, uint64(breakAfter+1), p.stats.snapshot("").Traps)
}

func TestConcurrentCalls(t *testing.T) {
	p := load(t, Spec{Name: "echo", Path: testdata("echo"), Instances: 3, Timeout: 5 * time.Second})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				req := request(fmt.Sprintf("/t/%d/%d", g, i), unix.O_RDONLY)
				res, err := p.Open(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				c, ok := res.Content.(shim.Bytes)
				if !ok {
					errs <- fmt.Errorf("want served content, got %v", res)
					return
				}
				data := c.Data
				// Each call sees its own request, never another goroutine's.
				if !bytes.HasSuffix(data, append(req.Path, "test-box"...)) {
					errs <- fmt.Errorf("call for %s got the request %q", req.Path, data)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, uint64(400), p.stats.snapshot("").Calls)
	require.LessOrEqual(t, p.live.Load(), int32(3), "the pool never grows past its size")
}

func TestPoolGrowsOnDemand(t *testing.T) {
	p := load(t, Spec{Name: "echo", Path: testdata("echo"), Instances: 2, Timeout: 5 * time.Second})
	require.Equal(t, int32(1), p.live.Load(), "start-up starts one instance")
	held, f := p.acquire()
	require.Nil(t, f)
	res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
	require.NoError(t, err)
	require.Equal(t, shim.ActServe, res.Action, "a busy pool grows instead of failing")
	require.IsType(t, shim.Bytes{}, res.Content)
	require.Equal(t, int32(2), p.live.Load())
	p.pool <- held
}

func TestRegistrations(t *testing.T) {
	h, err := Load(context.Background(), []Spec{
		{Name: "a", Path: testdata("deny"), Priority: shim.PriorityPlugin},
		{Name: "b", Path: testdata("deny"), Priority: 0},
	}, Options{CacheDir: cacheDir})
	require.NoError(t, err)
	defer h.Close(context.Background())
	regs := h.Registrations()
	require.Len(t, regs, 2)
	require.Equal(t, "plugin.a", regs[0].Handler.ID())
	require.Equal(t, shim.BandVirtual, regs[0].Band)
	require.Equal(t, shim.PriorityPlugin, regs[0].Priority)
	require.Equal(t, 0, regs[1].Priority, "0 is a priority, not a request for the default")
	require.Equal(t, []string{"a", "b"}, []string{h.Stats()[0].Name, h.Stats()[1].Name})
}

// TestWASISandbox checks what a plugin's WASI sees: deterministic random bytes, a fake clock
// and no files.
func TestWASISandbox(t *testing.T) {
	probe := func() []byte {
		p := load(t, Spec{Name: "wasi", Path: testdata("wasi")})
		res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
		require.NoError(t, err)
		got, _ := served(t, res)
		require.Len(t, got, 28)
		return []byte(got)
	}
	first, second := probe(), probe()
	require.Equal(t, first[:16], second[:16], "random bytes are deterministic across instances")
	clock := time.Unix(0, int64(binary.LittleEndian.Uint64(first[16:])))
	require.True(t, clock.Before(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)), "the clock is fake: %s", clock)
	require.NotZero(t, binary.LittleEndian.Uint32(first[24:]), "path_open must fail: plugins have no files")
}

func TestPluginLog(t *testing.T) {
	if raceEnabled {
		t.Skip("race: compiling a Go example with the race-instrumented wazero compiler takes minutes")
	}
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug, JSONFormat: true})
	h, err := Load(context.Background(), []Spec{{Name: "info", Path: example("info")}},
		Options{CacheDir: cacheDir, Log: logger})
	require.NoError(t, err)
	defer h.Close(context.Background())
	_, err = h.Decide(context.Background(), "info", request("/run/scrim/info", unix.O_RDONLY))
	require.NoError(t, err)
	require.Contains(t, buf.String(), `"text":"info served to pid 42"`)
	require.Contains(t, buf.String(), `"@message":"plugin log"`)
}
