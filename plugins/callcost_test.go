package plugins

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestWatchdogLazy checks the lazily armed watchdog (instance.arm): a runaway call is stopped
// whether it comes right after fast calls on the same instance (the timer is then due at an
// earlier call's deadline and must re-arm itself for this one), after the timer has parked
// between calls, or on the instance started to replace a stopped one.
func TestWatchdogLazy(t *testing.T) {
	p := load(t, Spec{Name: "slowpath", Path: testdata("slowpath"), Timeout: 50 * time.Millisecond, Instances: 1})
	fast := request("/t/x", unix.O_RDONLY)
	slow := request("/t/"+strings.Repeat("x", 100), unix.O_RDONLY)
	ctx := context.Background()
	open := func(req *shim.Request) shim.Result {
		t.Helper()
		res, err := p.Open(ctx, req)
		require.NoError(t, err)
		return res
	}
	timeouts := uint64(0)
	runaway := func(why string) {
		t.Helper()
		waitReady(t, p)
		require.Equal(t, shim.Deny(unix.EIO), open(slow), why)
		timeouts++
		require.Equal(t, timeouts, p.stats.snapshot("").Timeouts, why)
	}
	for range 1000 {
		require.Equal(t, shim.Deny(unix.EACCES), open(fast))
	}
	runaway("right after fast calls")
	waitReady(t, p)
	require.Equal(t, shim.Deny(unix.EACCES), open(fast), "the replacement answers")
	time.Sleep(150 * time.Millisecond) // the watchdog fires once more and parks
	runaway("after the watchdog parked")
	runaway("first call of a replacement instance")
	waitReady(t, p)
	for range 100 {
		require.Equal(t, shim.Deny(unix.EACCES), open(fast))
	}
	require.Equal(t, timeouts, p.stats.snapshot("").Faults, "only the runaway calls failed")
}

// TestCallAllocs holds the heap allocations of a plugin call to its budget, none, for a deny
// and for serving the same content again: the request, the call's context and the served
// copy are reused, the watchdog is armed without a new timer, and with scrim's stop checks
// (stopcheck.go) wazero starts no goroutine per call (with its own it allocated three).
func TestCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("race: the race detector allocates on its own")
	}
	const budget = 0
	ctx := context.Background()
	for _, tt := range []struct {
		name, path string
		spec       Spec
		want       shim.Action
	}{
		{"deny, WAT", "/t/x", Spec{Name: "deny", Path: testdata("deny")}, shim.ActDeny},
		{"deny, C SDK", "/probe/deny/13", Spec{Name: "probe", Path: probeC}, shim.ActDeny},
		{"serve again, C SDK", "/probe/greeting", Spec{Name: "probe", Path: probeC}, shim.ActServe},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, tt.spec)
			req := request(tt.path, unix.O_RDONLY)
			open := func() {
				res, err := p.Open(ctx, req)
				if err != nil || res.Action != tt.want {
					t.Fatalf("got %v, %v", res, err)
				}
			}
			open() // the first serve copies the content
			allocs := testing.AllocsPerRun(1000, open)
			require.LessOrEqual(t, allocs, float64(budget), "heap allocations per call")
		})
	}
}

// TestServedReuse checks that reusing the previous served copy (servedResult) never serves
// stale content: a call that serves other bytes gets them, and content served before stays
// as it was.
func TestServedReuse(t *testing.T) {
	p := load(t, Spec{Name: "probe", Path: probeC, Instances: 1})
	ctx := context.Background()
	serve := func(pid int) []byte {
		t.Helper()
		req := request("/probe/request", unix.O_RDONLY)
		req.PID = pid
		res, err := p.Open(ctx, req)
		require.NoError(t, err)
		require.Equal(t, shim.ActServe, res.Action)
		return res.Content.(shim.Bytes).Data
	}
	a := serve(42)
	a2 := serve(42)
	require.Equal(t, string(a), string(a2))
	b := serve(7)
	require.Contains(t, string(b), "pid=7\n")
	require.Contains(t, string(a), "pid=42\n", "content served before is not overwritten")
	require.Contains(t, string(serve(42)), "pid=42\n")
}

// TestRunawayLetsGCRun checks that a plugin looping without end does not hold up the garbage
// collector: native code cannot be interrupted by the Go runtime, so a stop-the-world would
// wait for the call, and with it the watchdog that ends the call, for ever. scrim's stop
// checks leave the code for the runtime every fuelPeriod loop iterations (stopcheck.go).
func TestRunawayLetsGCRun(t *testing.T) {
	p := load(t, Spec{Name: "slowpath", Path: testdata("slowpath"), Timeout: 300 * time.Millisecond, Instances: 1})
	inst := <-p.pool
	require.NotNil(t, inst.stop, "slowpath runs with scrim's stop checks")
	p.pool <- inst
	done := make(chan struct{})
	gcs := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				gcs <- n
				return
			default:
				runtime.GC()
				n++
			}
		}
	}()
	res, err := p.Open(context.Background(), request("/t/"+strings.Repeat("x", 100), unix.O_RDONLY))
	close(done)
	require.NoError(t, err)
	require.Equal(t, shim.Deny(unix.EIO), res)
	require.Greater(t, <-gcs, 1, "collections completed while the plugin looped")
}

// TestStopChecksApply checks that every module scrim ships runs with scrim's stop checks, not
// wazero's (which would cost each call several times more), and that the rewrite keeps each
// module valid: every one of them loads.
func TestStopChecksApply(t *testing.T) {
	paths := []string{probeC, wasmPath("sdk/rust/probe/probe.wasm"), wasmPath("sdk/assemblyscript/probe/probe.wasm")}
	for _, name := range []string{"deny", "echo", "transform", "config", "wasi", "meta", "loop", "slowpath"} {
		paths = append(paths, testdata(name))
	}
	if !raceEnabled {
		for _, name := range []string{"motd", "denykeys", "banner", "info", "passwd", "release", "secrets", "users"} {
			paths = append(paths, example(name))
		}
	}
	for _, path := range paths {
		wasm, err := os.ReadFile(path)
		require.NoError(t, err)
		_, err = addStopChecks(wasm)
		require.NoError(t, err, path)
	}
}

// TestWazeroChecksFallback checks that a module the stop-check rewrite does not understand
// (here a SIMD instruction) runs with wazero's own checks, and its runaway call is stopped.
func TestWazeroChecksFallback(t *testing.T) {
	wasm, err := os.ReadFile(testdata("loopsimd"))
	require.NoError(t, err)
	_, err = addStopChecks(wasm)
	require.ErrorIs(t, err, errNoRewrite)
	p := load(t, Spec{Name: "loopsimd", Path: testdata("loopsimd"), Timeout: 50 * time.Millisecond, Instances: 1})
	inst := <-p.pool
	require.Nil(t, inst.stop)
	p.pool <- inst
	res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
	require.NoError(t, err)
	require.Equal(t, shim.Deny(unix.EIO), res)
	require.Equal(t, uint64(1), p.stats.snapshot("").Timeouts)
}

// FuzzStopChecks feeds the stop-check rewrite arbitrary bytes: it must never panic, and a
// valid module must stay valid (wazero's validation, in its interpreter, is the judge).
func FuzzStopChecks(f *testing.F) {
	for _, name := range []string{"deny", "echo", "transform", "loop", "slowpath", "loopsimd", "meta"} {
		wasm, err := os.ReadFile(testdata(name))
		require.NoError(f, err)
		f.Add(wasm)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	valid := func(wasm []byte) error {
		m, err := rt.CompileModule(ctx, wasm)
		if err == nil {
			m.Close(ctx)
		}
		return err
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := addStopChecks(wasm)
		if err != nil || valid(wasm) != nil {
			return
		}
		if err := valid(out); err != nil {
			t.Fatalf("a valid module became invalid: %v", err)
		}
	})
}

// TestTrimAfterIdle checks that the lazily armed trim timer (trimFire) still closes the
// instances beyond the first once the calls have stopped.
func TestTrimAfterIdle(t *testing.T) {
	p := load(t, Spec{Name: "deny", Path: testdata("deny"), Instances: 2})
	p.grow()
	require.Eventually(t, func() bool { return p.live.Load() == 2 && len(p.pool) == 2 }, 10*time.Second, time.Millisecond)
	for range 100 {
		res, err := p.Open(context.Background(), request("/t/x", unix.O_RDONLY))
		require.NoError(t, err)
		require.Equal(t, shim.Deny(unix.EACCES), res)
	}
	require.Eventually(t, func() bool { return p.live.Load() == 1 }, 10*idleTrim, 10*time.Millisecond,
		"the second instance is closed once the plugin is idle")
}

// TestCheckCost checks that a check charges for the code it covers (checkCost): a loop of
// long straight-line code costs more than a tight one, so that fuelPeriod charges bound the
// time between two visits to the Go runtime whatever the loops hold.
func TestCheckCost(t *testing.T) {
	nops := func(n int) []byte { return bytes.Repeat([]byte{0x01}, n) }
	// loop (64 nops; loop (nop) end) end; block end; end
	code := append(append([]byte{0x03, 0x40}, nops(64)...), 0x03, 0x40, 0x01, 0x0b, 0x0b, 0x02, 0x40, 0x0b, 0x0b)
	sizes, ok := loopSizes(code)
	require.True(t, ok)
	require.Equal(t, []int{64 + 4 + 1, 2}, sizes, "each loop's body, its end included")
	require.Equal(t, int32(1), checkCost(sizes[1]))
	require.Equal(t, int32(3), checkCost(sizes[0]))
	require.Equal(t, int32(fuelPeriod), checkCost(1<<30))
	_, ok = loopSizes(code[:len(code)-2]) // a block left open
	require.False(t, ok)
}
