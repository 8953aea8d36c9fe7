package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The test binary doubles as a runtime: with childEnv set it installs the profile's filter on
// its thread, sends the listener and its state to the agent as runc does, and executes a
// shell script under the filter.
const childEnv = "SCRIM_AGENT_TEST_RUNTIME"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runtimeChild())
	}
	if os.Getenv(opensEnv) != "" {
		os.Exit(openLoop())
	}
	os.Exit(m.Run())
}

func runtimeChild() int {
	runtime.LockOSThread()
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "runtime child: %s: %v\n", what, err)
		return 99
	}
	// The pid as the agent numbers it: the host's procfs names it even from a pid namespace
	// of the child's own. An exec as crun sends it names none.
	self, _ := os.Readlink("/proc/self")
	pid, _ := strconv.Atoi(self)
	if os.Getenv(execEnv) != "" {
		pid = 0
	}
	prog, err := supervisor.Filter(supervisor.FilterOptions{Stat: true, Changes: true})
	if err != nil {
		return fail("build filter", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fail("no_new_privs", err)
	}
	listener, e := seccomp.SetModeFilter(prog, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	if e != 0 {
		return fail("install filter", e)
	}
	// Only raw calls on this thread from here: none of them is notified.
	if os.Getenv(passEnv) != "" {
		// As crun's exec process: the listener goes to the parent (descriptor 3), which
		// sends it to the agent.
		if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(listener), nil, 0); err != nil {
			return fail("pass the listener", err)
		}
		unix.Close(listener)
		unix.Close(3)
		err = syscall.Exec("/bin/sh", []string{"sh", "-c", os.Getenv("SCRIPT")}, []string{"PATH=/usr/bin:/bin"})
		return fail("exec", err)
	}
	msg, _ := json.Marshal(ProcessState{Version: "1.0.2", Fds: []string{"seccompFd"}, Pid: pid,
		Metadata: os.Getenv("META"), State: State{Version: "1.0.2", ID: os.Getenv("ID"), Status: "creating",
			Pid: pid, Bundle: "/nonexistent"}})
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	if err := unix.Connect(sock, &unix.SockaddrUnix{Name: os.Getenv("SOCK")}); err != nil {
		return fail("connect", err)
	}
	if err := unix.Sendmsg(sock, msg, unix.UnixRights(listener), nil, 0); err != nil {
		return fail("sendmsg", err)
	}
	unix.Close(listener)
	unix.Close(sock)
	err = syscall.Exec("/bin/sh", []string{"sh", "-c", os.Getenv("SCRIPT")}, []string{"PATH=/usr/bin:/bin"})
	return fail("exec", err)
}

// runContainer runs script as a process of container id, whose listener reaches sock.
func runContainer(t *testing.T, sock, id, script string) (string, error) {
	t.Helper()
	return runContainerAttr(t, sock, id, script, &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL})
}

func runContainerAttr(t *testing.T, sock, id, script string, attr *syscall.SysProcAttr) (string, error) {
	t.Helper()
	// A child's parent-death signal follows the thread that forked it, and the agent's worker
	// threads end with their listener: hold this thread until the child is reaped, so that no
	// worker can take it over and end it under the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SOCK="+sock, "ID="+id, "SCRIPT="+script, "META=profile=test")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = attr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "the container did not end within 30s: %s", out.String())
	return out.String(), err
}

// fileShim serves one path with fixed content and counts its cleanups.
type fileShim struct {
	path, data string
	cleaned    *atomic.Int32
}

func (f *fileShim) ID() string { return "test.file" }
func (f *fileShim) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) == f.path {
		return shim.ServeBytes(f.ID(), []byte(f.data)), nil
	}
	return shim.Next(), nil
}
func (f *fileShim) Cleanup() error { f.cleaned.Add(1); return nil }

type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (m *memAudit) Record(r audit.Record) {
	m.mu.Lock()
	m.recs = append(m.recs, r)
	m.mu.Unlock()
}

// testAgent starts an agent whose containers see /etc/hostname as "box-<id>".
type testAgent struct {
	*Agent
	sock    string
	built   []Container
	mu      sync.Mutex
	cleaned atomic.Int32
	audit   memAudit
	served  chan error
	cancel  context.CancelFunc
}

func startAgent(t *testing.T) *testAgent {
	t.Helper()
	ta := &testAgent{sock: filepath.Join(t.TempDir(), "agent.sock"), served: make(chan error, 1)}
	a, err := Listen(Config{Socket: ta.sock, Build: func(c Container) (*Handlers, error) {
		ta.mu.Lock()
		ta.built = append(ta.built, c)
		ta.mu.Unlock()
		h := &fileShim{path: "/etc/hostname", data: "box-" + c.ID + "\n", cleaned: &ta.cleaned}
		return &Handlers{Chain: []shim.Registration{{Handler: h, Band: shim.BandVirtual}}, Stat: true, Audit: &ta.audit}, nil
	}})
	require.NoError(t, err)
	ta.Agent = a
	ctx, cancel := context.WithCancel(context.Background())
	ta.cancel = cancel
	go func() { ta.served <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ta.served:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the agent did not drain within 30s")
		}
	})
	return ta
}

// waitEnded waits until the agent serves no container, at most 10 s.
func (ta *testAgent) waitEnded(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ta.Containers() != 0; {
		require.True(t, time.Now().Before(deadline), "containers still served after 10s: %d", ta.Containers())
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoListenersShareTheirContainer: a container's second listener (a runc exec) is served
// with the state its first built, each container sees its own handlers, audit records carry
// the container's id, and a container's state is released with its last listener.
func TestTwoListenersShareTheirContainer(t *testing.T) {
	ta := startAgent(t)
	script := `cat /etc/hostname; while [ ! -e "$GO" ]; do sleep 0.01; done`
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	results := make(chan string, 3)
	for _, id := range []string{"web", "web", "db"} {
		go func() {
			out, err := runContainer(t, ta.sock, id, "GO="+gate+"; "+script)
			if err != nil {
				out += err.Error()
			}
			results <- id + ": " + out
		}()
	}
	// All three run at once, so the two of "web" overlap.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ta.audit.mu.Lock()
		n := 0
		for _, r := range ta.audit.recs {
			if r.Path == "/etc/hostname" {
				n++
			}
		}
		ta.audit.mu.Unlock()
		if n == 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "three reads of /etc/hostname within 20s, got %d", n)
	}
	require.Equal(t, 2, ta.Containers())
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	var got []string
	for range 3 {
		got = append(got, <-results)
	}
	require.ElementsMatch(t, []string{"web: box-web\n", "web: box-web\n", "db: box-db\n"}, got)
	ta.waitEnded(t)
	ta.mu.Lock()
	require.Len(t, ta.built, 2, "one state per container id")
	ta.mu.Unlock()
	// A container leaves the count before its handlers are cleaned up: wait for the cleanups,
	// then make sure no third one follows.
	require.Eventually(t, func() bool { return ta.cleaned.Load() == 2 }, 10*time.Second, 5*time.Millisecond,
		"each container's handlers cleaned up: %d of 2", ta.cleaned.Load())
	time.Sleep(20 * time.Millisecond)
	require.EqualValues(t, 2, ta.cleaned.Load(), "each container's handlers cleaned up once")
	ta.audit.mu.Lock()
	defer ta.audit.mu.Unlock()
	for _, r := range ta.audit.recs {
		if r.Path == "/etc/hostname" {
			require.Contains(t, []string{"web", "db"}, r.Container)
		}
		require.NotEmpty(t, r.Container)
	}
}

// TestRefusedListenerFailsClosed: a listener the agent refuses (a message that names no
// container) is closed, and the process behind it gets ENOSYS for every mediated call: it
// cannot even load its shell, and nothing passes through unmediated.
func TestRefusedListenerFailsClosed(t *testing.T) {
	ta := startAgent(t)
	out, err := runContainer(t, ta.sock, "", "cat /etc/hostname")
	require.Error(t, err, out)
	t.Log(out)
	require.NotContains(t, out, "box-")
	host, _ := os.ReadFile("/etc/hostname")
	if len(host) > 0 {
		require.NotContains(t, out, string(host))
	}
	require.Zero(t, ta.Containers())
	require.Empty(t, ta.built)
}

// TestListen: the socket is its owner's alone; a live one is left alone, a stale one replaced,
// anything else refused.
func TestListen(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	build := func(Container) (*Handlers, error) { return &Handlers{}, nil }
	a, err := Listen(Config{Socket: sock, Build: build})
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Stat(sock, &st))
	require.EqualValues(t, 0o600, st.Mode&0o777)

	_, err = Listen(Config{Socket: sock, Build: build})
	require.ErrorContains(t, err, "another agent is listening there")
	require.NoError(t, a.Close())
	require.NoFileExists(t, sock, "closing removes the socket")

	// A stale socket: bound, then its listener gone without removing it.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	require.NoError(t, unix.Bind(fd, &unix.SockaddrUnix{Name: sock}))
	require.NoError(t, unix.Close(fd))
	a, err = Listen(Config{Socket: sock, Build: build})
	require.NoError(t, err, "a stale socket is replaced")
	require.NoError(t, a.Close())

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = Listen(Config{Socket: file, Build: build})
	require.ErrorContains(t, err, "exists and is not a socket")
}

// TestUserNamespaceRefused: a process in a user namespace of its own is not served (its
// credentials mean nothing to the agent); its listener is closed and it fails closed.
func TestUserNamespaceRefused(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		t.Skip("skipped: no user namespaces")
	}
	ta := startAgent(t)
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Cloneflags: syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}}
	out, err := runContainerAttr(t, ta.sock, "userns", "cat /etc/hostname", attr)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("skipped: cannot start a process in a user namespace: %v", err)
	}
	require.Error(t, err, out)
	require.Contains(t, out, "exec: function not implemented")
	require.Empty(t, ta.built)
	require.Zero(t, ta.Containers())
}

// TestDrainServesRunningContainers: once Serve's context ends, the socket is gone and no new
// container can connect, but a container already served keeps being served (its calls after
// the drain began still get its virtual files) and Serve returns when it has ended.
func TestDrainServesRunningContainers(t *testing.T) {
	ta := startAgent(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	started := filepath.Join(dir, "started")
	result := make(chan string, 1)
	go func() {
		out, err := runContainer(t, ta.sock, "late", "GO="+gate+"; : > "+started+
			`; while [ ! -e "$GO" ]; do sleep 0.01; done; cat /etc/hostname`)
		if err != nil {
			out += err.Error()
		}
		result <- out
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the container did not start within 20s")
	}
	ta.cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(ta.sock); os.IsNotExist(err) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the socket is still there 10s into the drain")
	}
	select {
	case err := <-ta.served:
		t.Fatalf("Serve returned while a container was served: %v", err)
	default:
	}
	require.Equal(t, 1, ta.Containers())
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.Equal(t, "box-late\n", <-result)
	select {
	case err := <-ta.served:
		require.NoError(t, err)
		ta.served <- nil // for the cleanup's wait
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30s of the last container's end")
	}
	require.Zero(t, ta.Containers())
}

// TestSilentRuntimeBlocksNoOne: a runtime that connects and sends nothing does not keep the
// agent from serving the next container.
func TestSilentRuntimeBlocksNoOne(t *testing.T) {
	ta := startAgent(t)
	silent, err := net.Dial("unix", ta.sock)
	require.NoError(t, err)
	defer silent.Close()
	out, err := runContainer(t, ta.sock, "next", "cat /etc/hostname")
	require.NoError(t, err, out)
	require.Equal(t, "box-next\n", out)
	silent.Close()
}

// TestSocketAppearsListening: the socket's name appears only once it accepts (no moment in
// which a runtime's connect would be refused), nothing else is left beside it, and closing
// removes it unless another agent's socket has taken its place.
func TestSocketAppearsListening(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	build := func(Container) (*Handlers, error) { return &Handlers{}, nil }
	a, err := Listen(Config{Socket: sock, Build: build})
	require.NoError(t, err)
	names, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)
	require.Equal(t, "agent.sock", names[0].Name())
	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	c.Close()
	require.NoError(t, a.Close())
	_, err = os.Stat(sock)
	require.ErrorIs(t, err, os.ErrNotExist)

	a, err = Listen(Config{Socket: sock, Build: build})
	require.NoError(t, err)
	// Another agent's socket put in its place (as a restart after a lost one does).
	other, err := net.Listen("unix", filepath.Join(dir, "other.sock"))
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, os.Rename(filepath.Join(dir, "other.sock"), sock))
	a.Close()
	_, err = os.Stat(sock)
	require.NoError(t, err, "closing removed another agent's socket")
}

// TestSocketGoneWhenServeReturns: once Serve has returned after its context ended, the socket
// is gone, so an agent that exits right after leaves none behind.
func TestSocketGoneWhenServeReturns(t *testing.T) {
	for range 50 {
		sock := filepath.Join(t.TempDir(), "agent.sock")
		a, err := Listen(Config{Socket: sock, Build: func(Container) (*Handlers, error) { return &Handlers{}, nil }})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- a.Serve(ctx) }()
		cancel()
		require.NoError(t, <-served)
		_, err = os.Stat(sock)
		require.ErrorIs(t, err, os.ErrNotExist)
	}
}
