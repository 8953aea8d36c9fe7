package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The circuit breaker's defaults (Spec.BreakAfter, Spec.BreakFor): after breakAfter faults in
// a row a plugin is switched off for breakFor; the first call after that is the trial that
// switches it on again or off anew.
const (
	breakAfter = 5
	breakFor   = 10 * time.Second
	// busyWait is how many call timeouts an open waits for a free instance.
	busyWait = 8
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// plugin is one loaded plugin: a shim.Handler backed by a pool of instances.
type plugin struct {
	spec     Spec
	id       string
	priority int
	log      hclog.Logger
	sandbox  string
	timeout  time.Duration
	onError  onError

	rt       wazero.Runtime
	compiled wazero.CompiledModule
	claims   *claimSet
	doc      describeDoc

	// A deferred load (deferred.go): ready is closed when the background load is over,
	// loadErr is what failed, promised the stored describe document the claims came from.
	ready    chan struct{}
	loadErr  error
	promised describeDoc
	loadMu   sync.Mutex
	loadDone bool // the background load is over
	dropped  bool // the host closed before it was

	config     []byte            // the configuration as JSON
	configVals map[string][]byte // top-level values as config_get returns them

	pool     chan *instance
	live     atomic.Int32 // instances alive, in the pool or in use
	closing  atomic.Bool
	refills  sync.WaitGroup
	faultRun atomic.Int32 // faults in a row
	openTill atomic.Int64 // breaker open until this UnixNano
	stats    counters
	warnings rateLimit
	logs     rateLimit // the plugin's own log lines and output

	mem       *memBudget    // the host's memory total, nil for none
	instBytes atomic.Uint64 // an instance's memory once started, what growing the pool costs
	trim      *time.Timer   // closes idle instances beyond the first (trimIdle)
	// trimAfter is when trim may run (monotime), idleTrim after the last call; trimArmed is
	// set while the timer is due. A call only stores the time (trimFire).
	trimAfter atomic.Int64
	trimArmed atomic.Bool
}

var (
	_ shim.Handler   = (*plugin)(nil)
	_ shim.Claimer   = (*plugin)(nil)
	_ shim.OpHandler = (*plugin)(nil)
)

// Claims lets the chain ask the plugin only about the paths it claims. A plugin's claims are
// fixed once Load returns (a deferred plugin's come from its stored document).
func (p *plugin) Claims() (exact []string, patterns []shim.PathPattern) { return p.claims.claims() }

// describeDoc is the describe document (ABI.md §4).
type describeDoc struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	ABIMinor int      `json:"abi_minor"`
	Claims   []string `json:"claims"`
	// Memory is no part of what a plugin describes: a stored document records in it the
	// bytes of linear memory the first instance held once started, which count against the
	// plugins' memory total.
	Memory uint64 `json:"memory,omitempty"`
}

// ID implements shim.Handler.
func (p *plugin) ID() string { return p.id }

// Ops implements shim.OpHandler: a plugin is asked about the look-up ops as well as opens, so
// that it can answer them with metadata alone (ABI.md §6, minor 1).
func (p *plugin) Ops() shim.OpSet { return shim.Ops(shim.OpOpen) | shim.LookupOps }

// preparePlugin checks the parts of a spec that need no WebAssembly and reads the module.
func preparePlugin(s Spec, log hclog.Logger, sandbox string) (*plugin, []byte, error) {
	if !nameRE.MatchString(s.Name) {
		return nil, nil, fmt.Errorf("load plugin %q from %s: the name must be 1-64 letters, digits, '_', '.' or '-'", s.Name, where(s))
	}
	p := &plugin{
		spec:     s,
		id:       "plugin." + s.Name,
		priority: s.Priority,
		sandbox:  sandbox,
		timeout:  s.Timeout,
	}
	p.log = log.Named("plugin").Named(s.Name)
	if s.MemoryBytes > maxMemory {
		return nil, nil, fmt.Errorf("load plugin %q from %s: a memory cap of %d bytes exceeds the %d a WebAssembly module (wasm32) can address", s.Name, where(s), s.MemoryBytes, uint64(maxMemory))
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	var err error
	if p.onError, err = parseOnError(s.OnError); err != nil {
		return nil, nil, fmt.Errorf("load plugin %q: %w", s.Name, err)
	}
	if p.config, p.configVals, err = encodeConfig(s.Config); err != nil {
		return nil, nil, fmt.Errorf("load plugin %q: %w", s.Name, err)
	}
	wasm, err := readModule(s)
	if err != nil {
		return nil, nil, err
	}
	return p, wasm, nil
}

// loadNow compiles the module and starts its first instance before returning.
func (p *plugin) loadNow(ctx context.Context, wasm []byte, rts *runtimes) error {
	if err := p.compile(ctx, wasm, rts); err != nil {
		return fmt.Errorf("load plugin %q from %s: %w", p.spec.Name, p.spec.Path, err)
	}
	if err := p.start(ctx); err != nil {
		p.close(ctx)
		return fmt.Errorf("load plugin %q from %s: %w", p.spec.Name, p.spec.Path, err)
	}
	return nil
}

// memoryPages is the plugin's memory cap in WebAssembly pages.
func (p *plugin) memoryPages() uint64 {
	mem := p.spec.MemoryBytes
	if mem == 0 {
		mem = DefaultMemory
	}
	pages := (mem + 65535) / 65536
	return max(1, min(pages, maxMemory/65536))
}

// compile compiles the module once in the shared runtime of its memory cap and checks it
// against the ABI.
func (p *plugin) compile(ctx context.Context, wasm []byte, rts *runtimes) error {
	pages := p.memoryPages()
	// scrim's own stop checks when the module allows them, wazero's otherwise (stopcheck.go).
	wasm, scrimChecks := compiledForm(wasm)
	rt, err := rts.get(ctx, pages, !scrimChecks)
	if err != nil {
		return err
	}
	p.rt = rt
	compiled, err := rts.compile(ctx, rt, wasm)
	if err != nil {
		return fmt.Errorf("compile (memory cap %d pages): %w", pages, err)
	}
	p.compiled = compiled
	if problems := moduleProblems(compiled); len(problems) > 0 {
		return errors.New(joinProblems(problems))
	}
	return nil
}

func joinProblems(problems []string) string {
	if len(problems) == 1 {
		return problems[0]
	}
	var b bytes.Buffer
	for i, pr := range problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(pr)
	}
	return b.String()
}

// start runs the first instance through describe and init. The pool grows to
// Spec.Instances only when opens find every instance busy: start-up pays for one instance,
// and a plugin the program never uses concurrently never pays for more.
func (p *plugin) start(ctx context.Context) error {
	n := p.spec.Instances
	if n <= 0 {
		n = DefaultInstances
	}
	p.pool = make(chan *instance, n)
	first, err := p.newInstance(ctx, true)
	if err != nil {
		return err
	}
	if mem := first.mod.Memory(); mem != nil {
		p.instBytes.Store(uint64(mem.Size()))
	}
	p.trim = time.AfterFunc(time.Hour, p.trimFire)
	p.trim.Stop()
	p.live.Add(1)
	p.pool <- first
	return nil
}

// Open implements shim.Handler. An open no claim matches returns before anything else.
func (p *plugin) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if !p.claims.match(req.Path) {
		return shim.Next(), nil
	}
	if p.ready != nil {
		// A deferred load still running is waited for before the clock starts: the counters
		// time the plugin's calls, and the wait is start-up (decide returns its fault).
		p.awaitLoad()
	}
	start := time.Now()
	res, f := p.decide(req)
	p.stats.record(time.Since(start), f)
	if f != nil {
		p.tripped(f)
		if ok, dropped := p.warnings.allow(start); ok {
			p.log.Warn("plugin failed", "shim", p.id, "pid", req.PID, "path", req.PathString(),
				"error", f.err, "on_error", p.onError.String(), "unlogged_before", dropped)
		}
		return p.onError.result(), nil
	}
	p.faultRun.Store(0)
	if p.log.IsDebug() {
		p.log.Debug("plugin decided", "shim", p.id, "pid", req.PID, "path", req.PathString(),
			"action", res.Action.String(), "errno", res.Errno)
	}
	return res, nil
}

// faultKind classifies a failed decision for the counters.
type faultKind uint8

const (
	faultInvalid faultKind = iota // the plugin answered outside the ABI
	faultTrap                     // trapped, aborted or exited
	faultTimeout                  // ran out of time, or no instance was free in time
	faultBroken                   // refused without a call: the circuit breaker is open
	faultBusy                     // every instance stayed busy: overload, not the plugin's fault
)

type fault struct {
	kind faultKind
	err  error
}

func faultf(kind faultKind, format string, args ...any) *fault {
	return &fault{kind: kind, err: fmt.Errorf(format, args...)}
}

func (p *plugin) tripped(f *fault) {
	if f.kind == faultBroken || f.kind == faultBusy {
		return
	}
	after, pause := p.spec.BreakAfter, p.spec.BreakFor
	switch {
	case after < 0:
		return // never switched off
	case after == 0:
		after = breakAfter
	}
	if pause <= 0 {
		pause = breakFor
	}
	if p.faultRun.Add(1) >= int32(after) {
		if p.openTill.Swap(time.Now().Add(pause).UnixNano()) == 0 {
			p.log.Error("plugin switched off after repeated failures", "shim", p.id, "faults", after, "for", pause)
		}
	}
}

// decide runs one claimed open through an instance.
func (p *plugin) decide(req *shim.Request) (shim.Result, *fault) {
	if t := p.openTill.Load(); t != 0 {
		if time.Now().UnixNano() < t {
			return shim.Result{}, faultf(faultBroken, "plugin switched off after repeated failures")
		}
		p.openTill.CompareAndSwap(t, 0)
	}
	if f := p.awaitLoad(); f != nil {
		return shim.Result{}, f
	}
	if len(req.Path) > maxPath {
		return shim.Result{}, faultf(faultInvalid, "path of %d bytes exceeds the ABI's %d", len(req.Path), maxPath)
	}
	inst, f := p.acquire()
	if f != nil {
		return shim.Result{}, f
	}
	res, f := p.run(inst, req, reqOpOf(req.Op))
	if f != nil || inst.dead() {
		p.retire(inst)
	} else {
		grown := false
		if mem := inst.mod.Memory(); mem != nil {
			grown = uint64(mem.Size()) > 2*p.instBytes.Load()
		}
		p.pool <- inst
		if p.trim != nil && (grown || p.live.Load() > 1) {
			p.trimAfter.Store(monotime() + int64(idleTrim))
			if !p.trimArmed.Load() && p.trimArmed.CompareAndSwap(false, true) {
				p.trim.Reset(idleTrim)
			}
		}
	}
	return res, f
}

// idleTrim is how long the instances beyond the first, and a first one that grew, stay after
// the last call: a burst of opens reuses them, and a program that has stopped opening gets
// their memory back.
const idleTrim = 2 * time.Second

// trimFire runs when the trim timer fires: it trims once idleTrim has passed since the last
// call, and otherwise fires again then. A call used to reset the timer, which takes the timer
// heap's lock and may wake another thread (RATIONALE.md, "Why is a plugin call's watchdog
// armed lazily?"); now a run of calls costs one firing per idleTrim.
func (p *plugin) trimFire() {
	if p.closing.Load() {
		return
	}
	p.trimArmed.Store(false)
	if wait := p.trimAfter.Load() - monotime(); wait > 0 {
		if p.trimArmed.CompareAndSwap(false, true) {
			p.trim.Reset(time.Duration(wait))
		}
		return
	}
	p.trimIdle()
}

// trimIdle closes idle instances until one is left, and replaces that one with a fresh
// instance if its memory grew to more than twice a fresh one's: a WebAssembly memory never
// shrinks, and the plugin no longer needs what it grew for. The pool grows again when opens
// find every instance busy.
func (p *plugin) trimIdle() {
	for !p.closing.Load() {
		n := p.live.Load()
		if n <= 1 {
			break
		}
		select {
		case inst := <-p.pool:
			if !p.live.CompareAndSwap(n, n-1) {
				p.pool <- inst // the pool changed meanwhile: look again
				continue
			}
			inst.close()
		default:
			return // the rest are busy; the next call that ends arms the timer again
		}
	}
	p.renewGrown()
}

// renewGrown replaces the idle instance whose memory grew past twice a fresh instance's. The
// fresh one starts first, so that the plugin always has an instance; without room for it in
// the memory total, or if it fails to start, the old one stays.
func (p *plugin) renewGrown() {
	if p.closing.Load() || p.live.Load() != 1 {
		return
	}
	var old *instance
	select {
	case old = <-p.pool:
	default:
		return
	}
	mem := old.mod.Memory()
	fresh := p.instBytes.Load()
	if mem == nil || uint64(mem.Size()) <= 2*fresh || (p.mem != nil && p.mem.free() < fresh) {
		p.pool <- old
		return
	}
	inst, err := p.newInstance(context.Background(), false)
	if err != nil {
		p.pool <- old
		return
	}
	old.close()
	p.pool <- inst
	if p.closing.Load() {
		// close may have drained the pool while neither instance was in it.
		for {
			select {
			case inst := <-p.pool:
				inst.close()
			default:
				return
			}
		}
	}
}

// acquire takes a free instance. It waits longer than one call may take, so that a burst of
// opens queues behind busy instances instead of failing; only a plugin that stays busy for
// busyWait call timeouts fails the open.
func (p *plugin) acquire() (*instance, *fault) {
	select {
	case inst := <-p.pool:
		return inst, nil
	default:
	}
	if p.live.Load() == 0 {
		return nil, faultf(faultTrap, "no instance is running (the last ones failed to start)")
	}
	p.grow()
	wait := busyWait * p.timeout
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case inst := <-p.pool:
		return inst, nil
	case <-t.C:
		return nil, faultf(faultBusy, "no instance free within %s", wait)
	}
}

// run asks inst for a verdict on op and applies the host's rules to it (ABI.md §7).
func (p *plugin) run(inst *instance, req *shim.Request, op uint32) (shim.Result, *fault) {
	v, f := inst.open(req, op, 0, nil, 0, 0)
	if f != nil {
		return shim.Result{}, f
	}
	if v == verdictReadReal {
		data, errno, flags := readReal(req, inst.realBuf)
		inst.realBuf = data[:0]
		v, f = inst.open(req, op, 1, data, errno, flags)
		if f != nil {
			return shim.Result{}, f
		}
		if v == verdictReadReal {
			return shim.Result{}, faultf(faultInvalid, "returned READ_REAL again after reading the real file")
		}
	}
	switch {
	case v == verdictNext:
		return shim.Next(), nil
	case v == verdictReal:
		return shim.Real(), nil
	case v == verdictServe:
		return servedResult(inst, req.Op), nil
	case v == verdictFail:
		msg := inst.errText
		if msg == "" {
			msg = "no reason given"
		}
		return shim.Result{}, faultf(faultInvalid, "plugin could not decide: %s", msg)
	case v < 0 && v >= -maxErrno:
		switch {
		case shim.ShownOps.Has(req.Op):
			// A plugin's deny refuses opens, not look-ups: the object is shown as it is
			// (ABI.md §6, the same as for every handler that only decides opens).
			return shim.Next(), nil
		case req.Op == shim.OpXattr:
			// But it shows no extended attributes, whose values are contents too: the
			// supervisor answers a deny of these look-ups, but ENOENT, with none.
			return shim.Deny(unix.EACCES), nil
		}
		return shim.Deny(unix.Errno(-v)), nil
	case v < 0:
		return shim.Result{}, faultf(faultInvalid, "denied with errno %d, outside 1..%d", -v, maxErrno)
	}
	return shim.Result{}, faultf(faultInvalid, "returned the unknown verdict %d", v)
}

// readReal reads the object req resolved to as the child would (req.Target opens it on the
// child-credential thread), at most maxContent bytes. It reuses buf's storage.
func readReal(req *shim.Request, buf []byte) (data []byte, errno int32, flags uint32) {
	if req.Target == nil {
		return buf[:0], int32(unix.ENOENT), 0
	}
	// O_NONBLOCK: a FIFO or a terminal must not stall the decision.
	f, err := req.Target.Open(unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return buf[:0], int32(errnoOf(err)), 0
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return buf[:0], int32(errnoOf(err)), 0
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return buf[:0], int32(unix.EISDIR), 0
	default:
		return buf[:0], int32(unix.EINVAL), 0
	}
	// Read one byte past the cap to learn whether the content was cut.
	const limit = maxContent + 1
	buf = buf[:0]
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 64<<10), limit-len(buf)))
		}
		n, err := f.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF || (n == 0 && err == nil) {
			break
		}
		if err != nil {
			return buf[:0], int32(errnoOf(err)), 0
		}
	}
	if len(buf) > maxContent {
		return buf[:maxContent], 0, realTruncated
	}
	return buf, 0, 0
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// retire discards a failed instance and starts a replacement.
func (p *plugin) retire(inst *instance) {
	inst.close()
	p.live.Add(-1)
	p.stats.replaced.Add(1)
	p.refill()
}

// grow starts one more instance if the pool is not at its size.
func (p *plugin) grow() {
	for {
		n := p.live.Load()
		if n >= int32(cap(p.pool)) || p.closing.Load() {
			return
		}
		if p.mem != nil && p.mem.free() < p.instBytes.Load() {
			return // the memory total has no room: the opens wait for a busy instance
		}
		if p.live.CompareAndSwap(n, n+1) {
			p.startInstance()
			return
		}
	}
}

// refill starts one instance in the background and adds it to the pool.
func (p *plugin) refill() {
	if p.closing.Load() {
		return
	}
	p.live.Add(1)
	p.startInstance()
}

// startInstance starts an instance already counted in live.
func (p *plugin) startInstance() {
	p.refills.Add(1)
	go func() {
		defer p.refills.Done()
		backoff := 50 * time.Millisecond
		for try := 0; try < 3 && !p.closing.Load(); try++ {
			inst, err := p.newInstance(context.Background(), false)
			if err == nil {
				if p.closing.Load() {
					inst.close()
					break
				}
				p.pool <- inst
				return
			}
			p.log.Error("plugin instance failed to start", "shim", p.id, "error", err)
			time.Sleep(backoff)
			backoff *= 4
		}
		p.live.Add(-1)
	}()
}

func (p *plugin) close(ctx context.Context) error {
	if p.closing.Swap(true) {
		return nil
	}
	if p.trim != nil {
		p.trim.Stop()
	}
	p.refills.Wait()
	if p.pool != nil {
	drain:
		for {
			select {
			case inst := <-p.pool:
				inst.close()
			default:
				break drain
			}
		}
	}
	// The runtime and the compiled code are shared and belong to the host.
	return nil
}

// describe parses and checks the describe document, and builds the claim set with the
// configured paths.
func (p *plugin) describe(raw []byte) error {
	var doc describeDoc
	if len(raw) == 0 {
		return errors.New("scrim_describe set no describe document")
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("describe document: %w", err)
	}
	if doc.ABIMinor > abiMinor {
		return fmt.Errorf("needs ABI 1.%d, this scrim implements 1.%d", doc.ABIMinor, abiMinor)
	}
	all := append(append([]string(nil), doc.Claims...), p.spec.Paths...)
	claims, err := newClaimSet(all)
	if err != nil {
		return err
	}
	if claims.empty() {
		return errors.New("claims no path: neither its describe document nor the configuration's paths name one")
	}
	p.doc = doc
	if p.ready == nil {
		// A deferred plugin's claims came from its stored document before it loaded and
		// are in use; loadLater compares the two documents instead.
		p.claims = claims
	}
	return nil
}

// encodeConfig turns the decoded TOML table into the JSON scrim_init reads and the values
// config_get returns (ABI.md §5). encoding/json sorts map keys, so equal tables give equal
// bytes.
func encodeConfig(cfg map[string]any) ([]byte, map[string][]byte, error) {
	if cfg == nil {
		cfg = map[string]any{}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("encode config: %w", err)
	}
	if len(raw) > maxConfig {
		return nil, nil, fmt.Errorf("encode config: %d bytes of JSON exceed the ABI's %d", len(raw), maxConfig)
	}
	vals := make(map[string][]byte, len(cfg))
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if s, ok := cfg[k].(string); ok {
			vals[k] = []byte(s)
			continue
		}
		b, err := json.Marshal(cfg[k])
		if err != nil {
			return nil, nil, fmt.Errorf("encode config key %q: %w", k, err)
		}
		vals[k] = b
	}
	return raw, vals, nil
}

// counters are one plugin's statistics, updated without locks on the hot path.
type counters struct {
	calls, faults, traps, timeouts, broken, replaced atomic.Uint64
	latency, maxLatency                              atomic.Int64
}

func (c *counters) record(d time.Duration, f *fault) {
	if f != nil {
		c.faults.Add(1)
		switch f.kind {
		case faultTrap:
			c.traps.Add(1)
		case faultTimeout:
			c.timeouts.Add(1)
		case faultBroken:
			c.broken.Add(1)
			return
		}
	}
	c.calls.Add(1)
	c.latency.Add(int64(d))
	for {
		m := c.maxLatency.Load()
		if int64(d) <= m || c.maxLatency.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

func (c *counters) snapshot(name string) Stats {
	return Stats{
		Name: name, Calls: c.calls.Load(), Faults: c.faults.Load(), Traps: c.traps.Load(),
		Timeouts: c.timeouts.Load(), Broken: c.broken.Load(), Replaced: c.replaced.Load(),
		Latency: time.Duration(c.latency.Load()), MaxLatency: time.Duration(c.maxLatency.Load()),
	}
}

// logLimited logs a line the plugin asked for (the log import) or wrote (stdout, stderr), if
// the log level shows it and the rate limit lets it through: a plugin that logs in a loop
// must not flood scrim's log, nor slow every open with lines nobody reads. Lines held back are
// counted in the next line let through (unlogged_before) and, when the plugin is closed, in a
// last warning. text is copied only when the line is logged.
func (p *plugin) logLimited(level hclog.Level, msg string, text []byte, kv ...any) {
	if level < p.log.GetLevel() {
		return
	}
	ok, dropped := p.logs.allow(time.Now())
	if !ok {
		return
	}
	args := append(append([]any{"shim", p.id}, kv...), "text", string(text))
	if dropped > 0 {
		args = append(args, "unlogged_before", dropped)
	}
	p.log.Log(level, msg, args...)
}

// reportHeldBack logs how many lines the rate limits held back since the last line they let
// through, so that a flood that ended is still counted.
func (p *plugin) reportHeldBack() {
	if n := p.logs.dropped.Swap(0); n > 0 {
		p.log.Warn("plugin log lines held back by the rate limit", "shim", p.id, "count", n)
	}
	if n := p.warnings.dropped.Swap(0); n > 0 {
		p.log.Warn("plugin failure warnings held back by the rate limit", "shim", p.id, "count", n)
	}
}

// rateLimit lets through at most rateBurst log lines per second, so that a broken plugin
// under a busy program cannot flood scrim's log; it counts what it holds back.
type rateLimit struct {
	second  atomic.Int64
	n       atomic.Int32
	dropped atomic.Int64
}

const rateBurst = 10

// allow reports whether a line may be logged at now, and how many were held back since the
// last one that was.
func (r *rateLimit) allow(now time.Time) (bool, int64) {
	sec := now.Unix()
	if r.second.Load() != sec {
		r.second.Store(sec)
		r.n.Store(0)
	}
	if r.n.Add(1) > rateBurst {
		r.dropped.Add(1)
		return false, 0
	}
	return true, r.dropped.Swap(0)
}
