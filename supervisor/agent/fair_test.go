package agent

import (
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
)

// opensEnv makes the test binary, executed inside a container, open /etc/hostname in a loop:
// "hammer DIR" opens it from hammerThreads threads until DIR/stop exists, saying so in
// DIR/hammering once it has; "quiet N" opens it N times, one at a time, and prints the
// slowest.
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
