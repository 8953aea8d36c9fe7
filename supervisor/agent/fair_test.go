package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// opensEnv makes the test binary, executed inside a container, open /etc/hostname in a loop:
// "hammer DIR" opens it from hammerThreads threads until DIR/stop exists, saying so in
// DIR/hammering once it has; "quiet N" opens it N times, one at a time, and prints the
// slowest; "block DIR N" opens the FIFOs DIR/fifo-0 to fifo-N-1 for reading, all at once, each
// open waiting for a writer.
const opensEnv = "SCRIM_AGENT_TEST_OPENS"

const hammerThreads = 4

// openLoop runs the loop opensEnv asks for; the container's filter notifies every open.
func openLoop() int {
	mode, arg, _ := strings.Cut(os.Getenv(opensEnv), " ")
	read := func() (string, error) {
		fd, err := unix.Open("/etc/hostname", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		var buf [256]byte
		n, err := unix.Read(fd, buf[:])
		return string(buf[:max(n, 0)]), err
	}
	switch mode {
	case "hammer":
		var total atomic.Int64
		var first sync.Once
		var wg sync.WaitGroup
		deadline := time.Now().Add(2 * time.Minute)
		for range hammerThreads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				for i := 0; time.Now().Before(deadline); i++ {
					if _, err := read(); err != nil {
						fmt.Println("hammer:", err)
						return
					}
					if total.Add(1) == 1000 {
						first.Do(func() { os.WriteFile(filepath.Join(arg, "hammering"), nil, 0o644) })
					}
					if i%256 == 0 {
						if _, err := os.Stat(filepath.Join(arg, "stop")); err == nil {
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		fmt.Printf("hammered %d\n", total.Load())
	case "block":
		fifos, count, _ := strings.Cut(arg, " ")
		n, _ := strconv.Atoi(count)
		var wg sync.WaitGroup
		var opened atomic.Int64
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fd, err := unix.Open(filepath.Join(fifos, "fifo-"+strconv.Itoa(i)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					fmt.Println("block:", err)
					return
				}
				unix.Close(fd)
				opened.Add(1)
			}()
		}
		wg.Wait()
		fmt.Printf("opened %d\n", opened.Load())
	case "quiet":
		n, _ := strconv.Atoi(arg)
		var slowest time.Duration
		seen := map[string]int{}
		for range n {
			// Spread over the hammering, not one burst between two of its calls.
			time.Sleep(time.Millisecond)
			start := time.Now()
			got, err := read()
			slowest = max(slowest, time.Since(start))
			if err != nil {
				fmt.Println("quiet:", err)
				return 1
			}
			seen[got]++
		}
		fmt.Printf("slowest %d\n", slowest.Microseconds())
		for s, k := range seen {
			fmt.Printf("read %q %d\n", s, k)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		return 2
	}
	return 0
}

// quietBound is the most one open of the quiet container may take while the other hammers.
// Measured here: a few hundred microseconds at worst on a loaded two-CPU machine; an open
// stalled behind the other container's calls would wait for the whole hammering (tens of
// seconds, until the test stops it).
const quietBound = time.Second

// TestHammeringContainerStallsNoOther: two containers at once, each served its own
// /etc/hostname; while one opens it from several threads as fast as the agent answers, each
// of the other's 200 opens is answered within quietBound.
func TestHammeringContainerStallsNoOther(t *testing.T) {
	ta := startAgent(t)
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	// The test's directory must be reachable by whoever runs the test.
	require.NoError(t, os.Chmod(dir, 0o755))
	hammer := make(chan string, 1)
	go func() {
		out, err := runContainer(t, ta.sock, "hammer", opensEnv+"='hammer "+dir+"' exec "+self)
		if err != nil {
			out += err.Error()
		}
		hammer <- out
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "hammering")); err == nil {
			break
		}
		select {
		case out := <-hammer:
			t.Fatalf("the hammering container ended early: %s", out)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the hammering container did not start within 30s")
	}

	start := time.Now()
	out, err := runContainer(t, ta.sock, "quiet", opensEnv+"='quiet 200' exec "+self)
	took := time.Since(start)
	require.NoError(t, err, out)
	select {
	case out := <-hammer:
		t.Fatalf("the hammering container ended before the quiet one did: %s", out)
	default:
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644))
	hammered := <-hammer

	t.Logf("quiet container: %s(%v in all); hammering container: %s", out, took, hammered)
	require.Contains(t, out, `read "box-quiet\n" 200`, "each of the 200 opens served the quiet container's own file")
	m := regexp.MustCompile(`slowest (\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	slowest, _ := strconv.Atoi(m[1])
	require.Less(t, time.Duration(slowest)*time.Microsecond, quietBound, "the slowest of the quiet container's opens")
	m = regexp.MustCompile(`hammered (\d+)`).FindStringSubmatch(hammered)
	require.NotNil(t, m, hammered)
	n, _ := strconv.Atoi(m[1])
	require.Greater(t, n, 1000, "the other container hammered")
	require.NotContains(t, hammered, "hammer:", "every hammering open was served")

	ta.audit.mu.Lock()
	defer ta.audit.mu.Unlock()
	var quiet int
	for _, r := range ta.audit.recs {
		if r.Container == "quiet" && r.Path == "/etc/hostname" {
			quiet++
		}
	}
	require.Equal(t, 200, quiet, "the quiet container's opens are its own in the audit log")
}

// threads counts the test process's threads: the agent's workers among them.
func threads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^Threads:\s+(\d+)$`).FindSubmatch(b)
	require.NotNil(t, m)
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestBlockedContainerTakesNoOthersWorkers: a container whose calls all block (512 FIFO opens
// waiting for writers) gets at most supervisor.MaxWorkers worker threads, not one per call,
// and meanwhile another container's 200 opens are each answered within quietBound; once the
// writers come, every one of the blocked container's opens is served, the ones that waited
// for a worker too.
func TestBlockedContainerTakesNoOthersWorkers(t *testing.T) {
	const blocked = 2 * supervisor.MaxWorkers
	ta := startAgent(t)
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	for i := range blocked {
		require.NoError(t, unix.Mkfifo(filepath.Join(dir, "fifo-"+strconv.Itoa(i)), 0o666))
		// Past the umask: the container may run as another user than the FIFOs' owner.
		require.NoError(t, os.Chmod(filepath.Join(dir, "fifo-"+strconv.Itoa(i)), 0o666))
	}
	before := threads(t)
	result := make(chan string, 1)
	go func() {
		out, err := runContainer(t, ta.sock, "blocked", opensEnv+"='block "+dir+" "+strconv.Itoa(blocked)+"' exec "+self)
		if err != nil {
			out += err.Error()
		}
		result <- out
	}()
	// Wait until the blocked container holds most of its workers.
	for deadline := time.Now().Add(30 * time.Second); threads(t)-before < supervisor.MaxWorkers*3/4; time.Sleep(10 * time.Millisecond) {
		select {
		case out := <-result:
			t.Fatalf("the blocked container ended early: %s", out)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the agent has %d threads more after 30s", threads(t)-before)
	}

	out, err := runContainer(t, ta.sock, "quiet", opensEnv+"='quiet 200' exec "+self)
	require.NoError(t, err, out)
	require.Contains(t, out, `read "box-quiet\n" 200`)
	m := regexp.MustCompile(`slowest (\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	slowest, _ := strconv.Atoi(m[1])
	require.Less(t, time.Duration(slowest)*time.Microsecond, quietBound, "the slowest of the quiet container's opens")
	// Every blocked open has had time to reach the agent: the threads it added stay near
	// the cap, not one per call. The margin covers the quiet container's own workers and
	// the runtime's spare threads.
	grown := threads(t) - before
	t.Logf("while %d opens blocked: %d threads more in the agent; the quiet container's slowest open %d µs", blocked, grown, slowest)
	require.Less(t, grown, supervisor.MaxWorkers+64, "the blocked container's workers are capped")

	// Release them: a writer for every FIFO whose reader is waiting, until all were.
	done := make([]bool, blocked)
	for left, deadline := blocked, time.Now().Add(60*time.Second); left > 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "%d FIFOs still without their reader after 60s", left)
		for i := range blocked {
			if done[i] {
				continue
			}
			fd, err := unix.Open(filepath.Join(dir, "fifo-"+strconv.Itoa(i)), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
				done[i] = true
				left--
			}
		}
	}
	select {
	case out := <-result:
		require.Equal(t, fmt.Sprintf("opened %d\n", blocked), out)
	case <-time.After(60 * time.Second):
		t.Fatal("the blocked container did not end within 60s of its writers")
	}
}

// TestSlowBuildHoldsUpNoOther: while one container's handlers take long to build (a plugin
// compiling, a slow root), another container starts, is served and ends; a second listener of
// the slow container shares its one build (it waits for it when it comes during the build).
func TestSlowBuildHoldsUpNoOther(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	release := make(chan struct{})
	var builds sync.Map
	a, err := Listen(Config{Socket: sock, Build: func(c Container) (*Handlers, error) {
		n, _ := builds.LoadOrStore(c.ID, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		if c.ID == "slow" {
			<-release
		}
		h := &fileShim{path: "/etc/hostname", data: "box-" + c.ID + "\n", cleaned: new(atomic.Int32)}
		return &Handlers{Chain: []shim.Registration{{Handler: h, Band: shim.BandVirtual}}, Stat: true}, nil
	}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the agent did not drain within 30s")
		}
	})

	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	slow := make(chan string, 2)
	for range 2 {
		go func() {
			// Both stay until the gate, so the second never finds the container ended.
			out, err := runContainer(t, sock, "slow", "cat /etc/hostname; while [ ! -e "+gate+" ]; do sleep 0.01; done")
			if err != nil {
				out += err.Error()
			}
			slow <- out
		}()
	}
	// Both of slow's listeners have reached the agent: one builds, one waits.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n, ok := builds.Load("slow")
		if ok && n.(*atomic.Int32).Load() == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the slow container's build did not start within 20s")
	}
	out, err := runContainer(t, sock, "fast", "cat /etc/hostname")
	require.NoError(t, err, out)
	require.Equal(t, "box-fast\n", out, "served while the other container's build waits")
	select {
	case out := <-slow:
		t.Fatalf("the slow container ran before its build ended: %s", out)
	default:
	}
	close(release)
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.Equal(t, "box-slow\n", <-slow)
	require.Equal(t, "box-slow\n", <-slow)
	n, _ := builds.Load("slow")
	require.EqualValues(t, 1, n.(*atomic.Int32).Load(), "the slow container's two listeners share one build")
}
