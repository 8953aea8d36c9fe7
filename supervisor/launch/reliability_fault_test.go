package launch

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/procfs"
	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// blockShim holds the open of its path until released, telling the test who is waiting.
type blockShim struct {
	path    string
	entered chan int
	release chan struct{}
}

func (b *blockShim) ID() string { return "test.block" }
func (b *blockShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) != b.path {
		return shim.Next(), nil
	}
	b.entered <- req.PID
	<-b.release
	return shim.ServeBytes("block", []byte(servedData)), nil
}

// TestFaultChildKilledMidNotification: the child dies of SIGKILL while a handler is deciding
// its open. The late answer must find the call gone, Run must report 128+9, and the
// supervisor must log no error and keep nothing.
func TestFaultChildKilledMidNotification(t *testing.T) {
	b := &blockShim{path: "/scrim-test/block", entered: make(chan int, 1), release: make(chan struct{})}
	e := newFaultEnv(t, shim.Registration{Handler: b, Band: shim.BandVirtual})
	warm(t, e)
	before := measure(t)
	var sink logSink
	done := make(chan int)
	go func() {
		_, status, _, _ := supervise(t, Config{Args: []string{e.prog, "once", b.path}, Handlers: e.handlers, Log: sink.logger()})
		done <- status
	}()
	var pid int
	select {
	case pid = <-b.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the child's open never reached the handler")
	}
	require.NoError(t, unix.Kill(pid, unix.SIGKILL))
	// Let the kernel end the call before the handler answers it.
	time.Sleep(100 * time.Millisecond)
	close(b.release)
	select {
	case status := <-done:
		require.Equal(t, 128+int(unix.SIGKILL), status)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the child died")
	}
	require.NotContains(t, sink.String(), "[ERROR]")
	requireSettles(t, before)
}

// TestFaultSupervisorKilled: SIGKILL of the supervisor process. Every process of the sandbox
// must die with it: the child, a process it left in the background, a daemon in a session of
// its own whose parent has exited, and one that ignores SIGTERM. None may go on running
// unsupervised.
func TestFaultSupervisorKilled(t *testing.T) {
	// The left-behind process reports, once in a while, whether it can still open a file.
	const loop = `while :; do if cat /etc/hostname >/dev/null 2>&1; then echo open-ok; else echo open-failed; fi; sleep 0.05; done`
	for _, tc := range []struct {
		name string
		// start leaves a process behind and writes its pid to the file $1.
		start string
	}{
		{name: "background", start: `(` + loop + `) & echo $! > "$1"`},
		// Two forks and a new session, as a daemon detaches: its parent exits at once, and
		// it is in no process group of scrim's.
		{name: "daemon", start: `(setsid sh -c '` + loop + ` & echo $! > "$0"' "$1" &); while ! test -s "$1"; do sleep 0.01; done`},
		{name: "ignores SIGTERM", start: `(trap '' TERM HUP INT; ` + loop + `) & echo $! > "$1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mainPid, orphanPid := filepath.Join(dir, "main"), filepath.Join(dir, "orphan")
			script := tc.start + `
echo $$ > "$2"
while :; do cat /etc/hostname > /dev/null; done`
			cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "sh", "-c", script, "sh", orphanPid, mainPid)
			cmd.Env = append(os.Environ(), asScrimEnv+"=1")
			// A pipe of the test's own: exec.Cmd.Wait would close one it made once scrim is
			// dead. Every process of the sandbox holds its write end, so its end of file
			// says the last one is gone.
			out, w, err := os.Pipe()
			require.NoError(t, err)
			defer out.Close()
			cmd.Stdout = w
			require.NoError(t, cmd.Start())
			w.Close()
			lines := make(chan string, 1024)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			child, orphan := readPidFile(t, mainPid), readPidFile(t, orphanPid)
			t.Cleanup(func() { unix.Kill(orphan, unix.SIGKILL) })
			require.Equal(t, "open-ok", <-lines, "opens work while the supervisor lives")
			if tc.name == "daemon" {
				require.NotEqual(t, sessionOf(t, child), sessionOf(t, orphan), "the daemon did not leave the child's session")
			}

			require.NoError(t, cmd.Process.Kill())
			cmd.Wait()
			require.Eventually(t, func() bool { return gone(child) }, 10*time.Second, 10*time.Millisecond,
				"the child outlived its supervisor")
			require.Eventually(t, func() bool { return gone(orphan) }, 10*time.Second, 10*time.Millisecond,
				"the process the child left behind outlived its supervisor")
			deadline := time.After(10 * time.Second)
			for {
				select {
				case _, ok := <-lines:
					if !ok {
						return
					}
				case <-deadline:
					t.Fatal("a process of the sandbox still holds its standard output")
				}
			}
		})
	}
}

// TestFaultKeeperKilled: SIGKILL of the keeper alone. The child dies of its parent-death
// signal, scrim (still the subreaper of what the child left behind) kills the rest, and Run
// reports 128+9.
func TestFaultKeeperKilled(t *testing.T) {
	dir := t.TempDir()
	mainPid, orphanPid := filepath.Join(dir, "main"), filepath.Join(dir, "orphan")
	script := `(while :; do sleep 0.05; done) & echo $! > "$1"; echo $$ > "$2"; while :; do sleep 0.05; done`
	done := make(chan int)
	go func() {
		_, status, _, _ := supervise(t, Config{Args: []string{"sh", "-c", script, "sh", orphanPid, mainPid}})
		done <- status
	}()
	child, orphan := readPidFile(t, mainPid), readPidFile(t, orphanPid)
	t.Cleanup(func() { unix.Kill(orphan, unix.SIGKILL) })
	st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(child))
	require.True(t, ok)
	keeper := st.PPID
	st, ok = procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(keeper))
	require.True(t, ok)
	require.Equal(t, os.Getpid(), st.PPID, "the child's parent is not scrim's keeper")

	require.NoError(t, unix.Kill(keeper, unix.SIGKILL))
	select {
	case status := <-done:
		require.Equal(t, 128+int(unix.SIGKILL), status)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the keeper died")
	}
	require.True(t, gone(child), "the child outlived the keeper")
	require.True(t, gone(orphan), "the process the child left behind outlived the keeper")
}

// sessionOf reads the session id of pid from /proc/<pid>/stat.
func sessionOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	require.GreaterOrEqual(t, len(f), 4, "short stat: %s", s)
	sid, err := strconv.Atoi(f[3])
	require.NoError(t, err)
	return sid
}

// readPidFile waits for a process of the sandbox to write its pid to path, and returns it.
func readPidFile(t *testing.T, path string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 20*time.Second, 10*time.Millisecond, "the sandbox did not start")
	return pid
}

// gone reports whether pid has exited (a zombie counts: it runs no more code).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// TestFaultChildFdTableFull: the child is at RLIMIT_NOFILE when scrim must inject a
// descriptor. The child gets EMFILE for real and served files alike, and works again as soon
// as it closes one.
func TestFaultChildFdTableFull(t *testing.T) {
	e := newFaultEnv(t)
	warm(t, e)
	before := measure(t)
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "fdfull", "24", e.real}, Handlers: e.handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "full: real=EMFILE served=EMFILE; after close: real=0 served=0\n", out)
	requireSettles(t, before)
}

// memfdShim serves its path; the first time, it fills the supervisor's descriptor table
// first (RLIMIT_NOFILE lowered to the lowest free descriptor), so the supervisor's own
// memfd_create for the content fails.
type memfdShim struct {
	path string
	// The kernel orders the child's calls, which the race detector cannot see: the mutex
	// makes that order visible to it.
	mu       sync.Mutex
	calls    int
	restorer func()
}

func (m *memfdShim) ID() string { return "test.memfd" }
func (m *memfdShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) != m.path {
		return shim.Next(), nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls == 1 {
		m.restorer = limitFds()
	}
	return shim.ServeBytes("memfd-test", []byte(servedData)), nil
}

// restore lifts the limit if it is in force.
func (m *memfdShim) restore() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.restorer != nil {
		m.restorer()
		m.restorer = nil
	}
}

// limitFds makes every new descriptor of this process fail with EMFILE until the returned
// function runs.
func limitFds() func() {
	var old unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		panic(err)
	}
	fd, err := unix.Dup(0)
	if err != nil {
		panic(err)
	}
	unix.Close(fd)
	lim := unix.Rlimit{Cur: uint64(fd), Max: old.Max}
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		panic(err)
	}
	return func() { unix.Prlimit(0, unix.RLIMIT_NOFILE, &old, nil) }
}

// TestFaultMemfdFails: the supervisor cannot create the memfd for served content. The child
// gets EIO (never the real file), the failure is logged, and the next open is served.
func TestFaultMemfdFails(t *testing.T) {
	m := &memfdShim{path: "/etc/hostname"}
	e := newFaultEnv(t, shim.Registration{Handler: m, Band: shim.BandVirtual})
	warm(t, e)
	before := measure(t)
	var sink logSink
	// The limit goes as soon as the failure is logged, before the child is answered.
	sink.onWrite = func(line string) {
		if strings.Contains(line, "memfd_create") {
			m.restore()
		}
	}
	t.Cleanup(m.restore)
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "once", m.path, m.path}, Handlers: e.handlers, Log: sink.logger()})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "EIO ok\n", out)
	require.Contains(t, sink.String(), "too many open files")
	requireSettles(t, before)
}

// TestFaultFifoBlocksForever: one thread's open of a FIFO waits forever for a writer that
// never comes; the other opens of the process go on being answered, and the sandbox ends
// without waiting for the blocked one.
func TestFaultFifoBlocksForever(t *testing.T) {
	e := newFaultEnv(t)
	fifo := filepath.Join(e.dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o644))
	warm(t, e)
	before := measure(t)
	start := time.Now()
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "fifo", fifo, e.real, "500"}, Handlers: e.handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "fifo: 1000 opens while blocked, bad=0\n", out)
	require.Less(t, time.Since(start), 15*time.Second, "the blocked open held the sandbox")
	requireSettles(t, before)
}

// TestFaultVforkChildren: vfork children, which share their parent's memory and stop it
// until they exec or exit, make mediated opens (and half of them exec).
func TestFaultVforkChildren(t *testing.T) {
	e := newFaultEnv(t)
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "vfork", e.real, "200"}, Handlers: e.handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "vfork: 200 children, bad=0\n", out)
}

// delayShim slows the decision of every open below dir, so signals land while the
// supervisor holds the call.
type delayShim struct{ dir string }

func (d *delayShim) ID() string { return "test.delay" }
func (d *delayShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if strings.HasPrefix(string(req.Path), d.dir+"/") {
		time.Sleep(200 * time.Microsecond)
	}
	return shim.Next(), nil
}

// TestFaultSignalsDuringOpens: SIGALRM every 50 µs, with and without SA_RESTART, while the
// child creates files with O_CREAT|O_EXCL and retries on EINTR. Every file must be created
// exactly once: a retry that finds its file already there means scrim created it for a call
// the child saw fail.
func TestFaultSignalsDuringOpens(t *testing.T) {
	for _, mode := range []string{"restart", "norestart"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			e := newFaultEnv(t, shim.Registration{Handler: &delayShim{dir: dir}, Band: shim.BandVirtual})
			const n = 2000
			_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "signals", mode, dir, strconv.Itoa(n)}, Handlers: e.handlers})
			require.Equal(t, 0, status, serr)
			t.Log(strings.TrimSpace(serr))
			require.True(t, strings.HasPrefix(out, "signals>0=1 "), "no signal arrived: %s", out)
			require.True(t, strings.HasSuffix(out, " dup=0 other=0\n"), out)
			ents, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, ents, n)
		})
	}
}

const preemptGo = `package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

func main() {
	var stop atomic.Bool
	var spin sync.WaitGroup
	// Tight loops without a call in them: only asynchronous preemption (SIGURG) lets the
	// scheduler and the GC take their threads.
	for i := 0; i < 8; i++ {
		spin.Add(1)
		go func() {
			defer spin.Done()
			x := 0
			for !stop.Load() {
				x++
			}
			_ = x
		}()
	}
	var bad atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if b, err := os.ReadFile(os.Args[1]); err != nil || string(b) != "REAL\n" {
					bad.Add(1)
				}
				if b, err := os.ReadFile("/etc/hosts"); err != nil || string(b) != "SERVED\n" {
					bad.Add(1)
				}
				if _, err := os.Open("/nonexistent/scrim"); !os.IsNotExist(err) {
					bad.Add(1)
				}
				if i%25 == 0 {
					runtime.GC()
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	spin.Wait()
	fmt.Printf("go: bad=%d\n", bad.Load())
}
`

// TestFaultGoAsyncPreemption: a Go program whose spinning goroutines keep the runtime
// preempting threads with SIGURG while other goroutines open files: every answer right.
func TestFaultGoAsyncPreemption(t *testing.T) {
	e := newFaultEnv(t)
	prog := testprog.Go(t, preemptGo)
	_, status, out, serr := supervise(t, Config{Args: []string{prog, e.real}, Handlers: e.handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "go: bad=0\n", out)
}

// shortLived is how many processes TestFaultManyShortLivedProcesses starts:
// SCRIM_RELIABILITY_PROCS, 10,000 by default, 1,000 with -short.
func shortLived(t *testing.T) int { return knobInt(t, "SCRIM_RELIABILITY_PROCS", 10000, 1000) }

// TestFaultManyShortLivedProcesses: thousands of processes that each open two files and exit,
// their pids recycled under the supervisor's caches. Every answer right, nothing kept.
func TestFaultManyShortLivedProcesses(t *testing.T) {
	e := newFaultEnv(t)
	warm(t, e)
	before := measure(t)
	n := shortLived(t)
	start := time.Now()
	// The tgid cache's bound is supervisor's TestTgidCacheBounded.
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "forks", e.real, strconv.Itoa(n)}, Handlers: e.handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, fmt.Sprintf("forks: %d, bad=0\n", n), out)
	t.Logf("%d processes in %s", n, time.Since(start).Round(time.Millisecond))
	requireSettles(t, before)
}

// TestFaultSupervisorSignalled: signals keep arriving at the supervisor's own threads (the Go
// runtime preempts with SIGURG; other signals reach any thread) while it injects descriptors.
// An interrupted injection must never leave the child a wrong answer.
func TestFaultSupervisorSignalled(t *testing.T) {
	e := newFaultEnv(t)
	var sink logSink
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		pid := os.Getpid()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir("/proc/self/task")
			for _, ent := range ents {
				if tid, err := strconv.Atoi(ent.Name()); err == nil {
					// SIGURG: the runtime's own preemption signal, harmless when spurious.
					unix.Tgkill(pid, tid, unix.SIGURG)
				}
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "load", "4", "4", "3", e.real}, Handlers: e.handlers, Log: sink.logger()})
	close(stop)
	<-done
	require.Equal(t, 0, status, serr)
	require.Equal(t, "load: procs=4 bad=0\n", out, serr)
	require.NotContains(t, sink.String(), "[ERROR]")
}
