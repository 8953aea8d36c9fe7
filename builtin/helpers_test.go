package builtin

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
		return
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "missing golden file: run go test ./builtin -run %s -update", t.Name())
	require.Equal(t, string(want), string(got))
}

// fakeSandbox is a fixed set of pids and tids.
type fakeSandbox struct {
	mu   sync.Mutex
	pids []int
	tids []int
	root string
}

func (s *fakeSandbox) Contains(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.pids, pid) || slices.Contains(s.tids, pid)
}

func (s *fakeSandbox) Pids() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pids)
}

func (s *fakeSandbox) Root() string {
	if s.root == "" {
		return "/"
	}
	return s.root
}

func testEnv(sb shim.Sandbox) shim.Env {
	return shim.Env{Log: hclog.NewNullLogger(), Sandbox: sb}
}

// bufMem is a child address space of one buffer at address base.
type bufMem struct {
	base uint64
	buf  []byte
}

var errFault = errors.New("bad address")

func (m *bufMem) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr+uint64(len(p)) > m.base+uint64(len(m.buf)) {
		return 0, errFault
	}
	return copy(p, m.buf[addr-m.base:]), nil
}

func (m *bufMem) WriteAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr+uint64(len(p)) > m.base+uint64(len(m.buf)) {
		return 0, errFault
	}
	return copy(m.buf[addr-m.base:], p), nil
}

// fdTable hands out duplicates of the test's own descriptors, as shim.Call.Fd does for a child.
func fdTable(n int) (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(n), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "dup"), nil
}

// request builds an open request for path, described as the resolver would describe it.
func request(t *testing.T, path string, flags int) *shim.Request {
	t.Helper()
	obj, ok, err := objectInRoot("/", path)
	require.NoError(t, err)
	if !ok {
		obj = shim.Object{}
	}
	return &shim.Request{
		Syscall: shim.SysOpenat, PID: os.Getpid(), TID: unix.Gettid(), Path: []byte(path),
		Object: obj, Flags: flags, Dirfd: unix.AT_FDCWD,
	}
}

// open runs h on path and returns the result.
func open(t *testing.T, h shim.Handler, path string, flags int) shim.Result {
	t.Helper()
	res, err := h.Open(context.Background(), request(t, path, flags))
	require.NoError(t, err)
	return res
}

// served returns the bytes h serves for path, failing unless it serves Bytes.
func served(t *testing.T, h shim.Handler, path string) []byte {
	t.Helper()
	res := open(t, h, path, unix.O_RDONLY)
	require.Equal(t, shim.ActServe, res.Action, "path %s", path)
	b, ok := res.Content.(shim.Bytes)
	require.True(t, ok, "content of %s is %T", path, res.Content)
	return b.Data
}

// build returns the handler id of New(opts), provisioned against sb.
func build(t *testing.T, opts Options, id string, sb shim.Sandbox) shim.Handler {
	t.Helper()
	regs, _, err := New(opts)
	require.NoError(t, err)
	for _, r := range regs {
		if r.Handler.ID() != id {
			continue
		}
		if p, ok := r.Handler.(shim.Provisioner); ok {
			require.NoError(t, p.Provision(testEnv(sb)))
		}
		return r.Handler
	}
	t.Fatalf("no handler %s", id)
	return nil
}
