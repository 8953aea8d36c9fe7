package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// instance is one instantiated copy of a plugin. Calls into it never overlap: the pool hands
// it to one goroutine at a time. The host functions find it through the call's context.
type instance struct {
	p      *plugin
	mod    api.Module
	fnOpen api.Function
	stack  []uint64
	cctx   callCtx
	// watchdog closes the module when a call overruns: one reusable timer per instance
	// instead of a timer and a context per call, and armed lazily (arm): a call stores its
	// deadline, and the timer is reset only when it is not already due at or before it.
	watchdog *time.Timer
	stop     api.MutableGlobal // scrim's stop checks' flag (stopcheck.go), nil for wazero's
	deadline atomic.Int64      // the running call's deadline (monotime), 0 between calls
	armedFor atomic.Int64      // when the watchdog fires (monotime), 0 when it is parked
	wdMu     sync.Mutex        // orders arming against the watchdog's own re-arming
	timedOut atomic.Bool
	failed   bool
	// overBudget is set when the memory's initial size did not fit in the host's total.
	overBudget atomic.Bool

	// State of the call in progress, read and written by the host functions.
	ph       phase
	req      []byte
	real     []byte
	realBuf  []byte
	content  []byte
	mode     uint32
	meta     servedMeta
	oob      bool
	limit    bool
	errText  string
	describe []byte
	served   shim.Content // the last content served, a shim.Bytes (servedResult)
}

// instKey finds the instance in a call's context.
type instKey struct{}

// callCtx is the context of every call into an instance, embedded in the instance so that a
// call allocates none. It carries no deadline: the watchdog is the deadline.
type callCtx struct{ inst *instance }

func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *callCtx) Done() <-chan struct{}       { return nil }
func (c *callCtx) Err() error                  { return nil }
func (c *callCtx) Value(k any) any {
	if _, ok := k.(instKey); ok {
		return c.inst
	}
	return nil
}

// newInstance instantiates the module and runs _initialize, scrim_describe (when first) and
// scrim_init on it.
func (p *plugin) newInstance(ctx context.Context, first bool) (*instance, error) {
	inst := &instance{p: p, stack: make([]uint64, 1)}
	inst.cctx.inst = inst
	out := outputLog{p: p}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out.stream("stdout")).
		WithStderr(out.stream("stderr"))
	mod, err := p.rt.InstantiateModule(withLinearMemory(ctx, inst), p.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	if inst.overBudget.Load() {
		used := p.mem.used.Load()
		mod.Close(ctx)
		return nil, fmt.Errorf("instantiate: its memory does not fit in the plugins' memory total (plugin_memory_total = %s; %s in use with it)", mib(p.mem.limit), mib(used))
	}
	inst.mod = mod
	inst.fnOpen = mod.ExportedFunction(exportOpen)
	if g, ok := mod.ExportedGlobal(stopExport).(api.MutableGlobal); ok {
		inst.stop = g
	}
	inst.watchdog = time.AfterFunc(time.Hour, func() {
		if !inst.expired() {
			return
		}
		if inst.stop != nil {
			// The plugin traps at its next loop iteration or call; the module stays open
			// until the call has returned and the instance is retired.
			inst.stop.Set(1)
			return
		}
		mod.CloseWithExitCode(context.Background(), sys.ExitCodeDeadlineExceeded)
	})
	inst.watchdog.Stop()
	if err := inst.setup(first); err != nil {
		inst.close()
		return nil, err
	}
	return inst, nil
}

func (inst *instance) setup(first bool) error {
	p := inst.p
	if fn := inst.mod.ExportedFunction(exportInitz); fn != nil {
		if _, f := inst.call(fn, initTimeout, 0); f != nil {
			return fmt.Errorf("_initialize: %w", f.err)
		}
	}
	if first {
		inst.ph = phaseDescribe
		ret, f := inst.call(inst.mod.ExportedFunction(exportDesc), initTimeout, 0)
		inst.ph = phaseIdle
		switch {
		case f != nil:
			return fmt.Errorf("%s: %w", exportDesc, f.err)
		case inst.oob:
			return fmt.Errorf("%s: passed an out-of-bounds pointer to describe_set", exportDesc)
		case ret != 0:
			return fmt.Errorf("%s returned %d%s", exportDesc, ret, inst.reason())
		}
		if err := p.describe(inst.describe); err != nil {
			return err
		}
		inst.describe = nil
	}
	inst.ph = phaseInit
	ret, f := inst.call(inst.mod.ExportedFunction(exportInit), initTimeout, uint64(len(p.config)))
	inst.ph = phaseIdle
	switch {
	case f != nil:
		return fmt.Errorf("%s: %w", exportInit, f.err)
	case inst.oob:
		return fmt.Errorf("%s: passed an out-of-bounds pointer to an import", exportInit)
	case ret != 0:
		return fmt.Errorf("rejected its configuration (%s returned %d)%s", exportInit, ret, inst.reason())
	}
	inst.errText = ""
	return nil
}

func (inst *instance) reason() string {
	if inst.errText == "" {
		return ""
	}
	return ": " + inst.errText
}

// call runs fn with one i32 argument under a deadline and returns its i32 result.
func (inst *instance) call(fn api.Function, d time.Duration, arg uint64) (int32, *fault) {
	if inst.failed || inst.timedOut.Load() {
		return 0, faultf(faultTrap, "instance already stopped")
	}
	inst.stack[0] = arg
	inst.arm(d)
	err := fn.CallWithStack(&inst.cctx, inst.stack)
	// The instance owns the mapping of the module's memory (linearmem.go): it must stay
	// reachable until the plugin's code has stopped running.
	runtime.KeepAlive(inst)
	inst.deadline.Store(0)
	if err != nil {
		inst.failed = true
		var ee *sys.ExitError
		switch {
		case inst.timedOut.Load():
			return 0, faultf(faultTimeout, "ran longer than %s and was stopped", d)
		case errors.As(err, &ee):
			return 0, faultf(faultTrap, "exited with code %d", ee.ExitCode())
		}
		return 0, &fault{kind: faultTrap, err: fmt.Errorf("trapped: %w", err)}
	}
	return api.DecodeI32(inst.stack[0]), nil
}

// monoBase is the origin of monotime.
var monoBase = time.Now()

// monotime is the monotonic clock in nanoseconds, for deadlines.
func monotime() int64 { return int64(time.Since(monoBase)) }

// arm sets the deadline of the call about to start, d from now. Resetting a timer on every
// call costs a lock of the timer heap and may wake another thread to watch the new earliest
// timer (RATIONALE.md, "Why is a plugin call's watchdog armed lazily?"), so the timer is
// reset only when it is parked or due after this deadline: in a run of calls it fires about
// once per timeout and re-arms itself for the call then running (expired).
func (inst *instance) arm(d time.Duration) {
	now := monotime()
	dl := now + int64(d)
	inst.deadline.Store(dl)
	if a := inst.armedFor.Load(); a != 0 && a <= dl {
		return // due first: expired looks at this call's deadline then
	}
	inst.wdMu.Lock()
	if a := inst.armedFor.Load(); a == 0 || a > dl {
		inst.armedFor.Store(dl)
		inst.watchdog.Reset(time.Duration(dl - now))
	}
	inst.wdMu.Unlock()
}

// expired runs when the watchdog fires. It reports whether the running call is past its
// deadline, and otherwise re-arms the timer for the running call, or leaves it parked
// between calls. A call stores its deadline before it reads armedFor, and this clears
// armedFor before it reads the deadline, so at least one of the two sees the other: a
// running call always has the timer due at or before its deadline.
func (inst *instance) expired() bool {
	inst.wdMu.Lock()
	defer inst.wdMu.Unlock()
	inst.armedFor.Store(0)
	dl := inst.deadline.Load()
	if dl == 0 {
		return false
	}
	if now := monotime(); now < dl {
		inst.armedFor.Store(dl)
		inst.watchdog.Reset(time.Duration(dl - now))
		return false
	}
	inst.timedOut.Store(true)
	return true
}

// open runs scrim_open once. Phase 1 carries the real file's content (ABI.md §7).
func (inst *instance) open(req *shim.Request, op, ph uint32, real []byte, realErrno int32, realFlags uint32) (int32, *fault) {
	p := inst.p
	inst.req = encodeRequest(inst.req, req, p.sandbox, ph, len(real), realErrno, realFlags, op)
	inst.real = real
	inst.content = inst.content[:0]
	inst.mode = 0o444
	inst.meta = servedMeta{size: -1}
	inst.oob, inst.limit, inst.errText = false, false, ""
	inst.ph = phaseOpen
	if ph == 1 {
		inst.ph = phaseOpenReal
	}
	v, f := inst.call(inst.fnOpen, p.timeout, uint64(len(inst.req)))
	inst.ph = phaseIdle
	inst.real = nil
	switch {
	case f != nil:
		return 0, f
	case inst.oob:
		return 0, faultf(faultInvalid, "passed an out-of-bounds pointer to an import")
	case inst.limit:
		return 0, faultf(faultInvalid, "wrote more than %d bytes of content", maxContent)
	}
	return v, nil
}

// dead reports whether the instance can no longer be called.
func (inst *instance) dead() bool { return inst.failed || inst.timedOut.Load() }

func (inst *instance) close() {
	if inst.watchdog != nil {
		inst.watchdog.Stop()
	}
	if inst.mod != nil {
		inst.mod.Close(context.Background())
	}
}

// outputLog turns a plugin's stdout and stderr into debug log lines, rate-limited with the
// plugin's log lines.
type outputLog struct{ p *plugin }

type outputStream struct {
	outputLog
	name string
}

func (o outputLog) stream(name string) outputStream { return outputStream{o, name} }

func (o outputStream) Write(b []byte) (int, error) {
	o.p.logLimited(hclog.Debug, "plugin output", bytes.TrimRight(b[:min(len(b), maxText)], "\n"), "stream", o.name)
	return len(b), nil
}
