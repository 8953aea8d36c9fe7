package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Spec is one configured plugin: a [[plugin]] table, a drop-in NAME.toml or a --plugin flag.
type Spec struct {
	Name string
	Path string // the .wasm file
	// Priority orders the plugin inside shim.BandVirtual, used as given: 0 runs before the
	// built-in virtual files (shim.PriorityBuiltin). The configuration's default is
	// shim.PriorityPlugin.
	Priority int
	Paths    []string // path claims added to the plugin's own
	// Timeout bounds one scrim_open call; 0 means DefaultTimeout.
	Timeout time.Duration
	// MemoryBytes caps one instance's linear memory; 0 means DefaultMemory.
	MemoryBytes uint64
	// Instances is the pool size, the number of opens the plugin decides at once; 0 means
	// DefaultInstances.
	Instances int
	OnError   string // what the child gets when the plugin fails: "deny", "deny:ERRNO", "next"
	// BreakAfter is how many faults in a row switch the plugin off (the circuit breaker): its
	// claimed opens then get OnError without a call for BreakFor, after which one trial call
	// decides whether it is switched on again. 0 means 5; a negative value never switches it
	// off. BreakFor 0 means 10 s.
	BreakAfter int
	BreakFor   time.Duration
	SHA256     string // optional pin of the .wasm file, hexadecimal
	Config     map[string]any
	Source     string // the file the spec came from, for messages
}

// Defaults for the Spec fields left zero.
const (
	DefaultTimeout   = 250 * time.Millisecond
	DefaultMemory    = 16 << 20
	DefaultInstances = 2
	// initTimeout bounds _initialize, scrim_describe and scrim_init of one instance.
	initTimeout = 10 * time.Second
)

// Options configures the plugin host.
type Options struct {
	// CacheDir holds the authenticated compilation cache; "" disables it. It is created only
	// when there is a plugin to compile; when it cannot be opened, plugins compile in memory
	// with one warning.
	CacheDir string
	Log      hclog.Logger
	// Sandbox is the sandbox name plugins see in each request; "" means "scrim".
	Sandbox string
	// MemoryTotal bounds the linear memory of all instances of all plugins together; 0 means
	// DefaultMemoryTotal. An instance whose memory does not fit does not start (at load, the
	// load fails); a memory.grow that does not fit fails as one past the plugin's own cap does;
	// the pool does not grow while there is no room for another instance.
	MemoryTotal uint64
	// Deferred lets Load return before a plugin is compiled and initialised when CacheDir
	// holds the describe document of the same module bytes, configuration and memory cap
	// from an earlier successful load: its claims are registered from that document and
	// the rest loads in the background, claimed opens waiting for it. A plugin without such
	// a document loads before Load returns, as without Deferred.
	Deferred bool
}

// Host runs a set of loaded plugins.
type Host struct {
	log     hclog.Logger
	mem     *memBudget
	cache   wazero.CompilationCache
	code    *codeCache // the authenticated disk cache, nil without CacheDir
	rts     *runtimes
	plugins []*plugin
	// loading counts deferred loads still running; the cache is closed after them.
	loading sync.WaitGroup
	// pending counts the same loads, so that Close can tell without waiting that none is left.
	pending atomic.Int32
}

// Load compiles and checks every plugin in specs, and starts each one's first instance so
// that a plugin that rejects its configuration stops scrim before the child starts. On error
// nothing stays loaded.
func Load(ctx context.Context, specs []Spec, opts Options) (*Host, error) {
	h := &Host{log: opts.Log, mem: &memBudget{limit: opts.MemoryTotal}}
	if h.mem.limit == 0 {
		h.mem.limit = DefaultMemoryTotal
	}
	if h.log == nil {
		h.log = hclog.NewNullLogger()
	}
	// A run without plugins touches no cache: it needs no home directory and leaves nothing
	// behind. A cache that cannot be opened costs speed, not the run: the plugins compile in
	// memory, with one warning.
	if opts.CacheDir != "" && len(specs) > 0 {
		c, err := openCodeCache(opts.CacheDir, h.log)
		if err != nil {
			h.log.Warn("plugin cache unusable; compiling plugins in memory, without a cache", "error", err)
		} else {
			h.code, h.cache = c, c.wz
		}
	}
	if h.code == nil {
		h.cache = wazero.NewCompilationCache()
	}
	h.rts = newRuntimes(h.cache, h.code)
	sandbox := opts.Sandbox
	if sandbox == "" {
		sandbox = "scrim"
	}
	seen := map[string]string{}
	for _, s := range specs {
		if prev, ok := seen[s.Name]; ok {
			h.Close(ctx)
			return nil, fmt.Errorf("load plugin %q from %s: the name is already used by %s", s.Name, where(s), prev)
		}
		seen[s.Name] = where(s)
	}
	// Plugins load in parallel: even from the cache, wazero validates every function of a
	// module, which for a Go plugin is tens of milliseconds of CPU.
	loaded := make([]*plugin, len(specs))
	errs := make([]error, len(specs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	// later holds the deferred loads, started only once Load is done with the rest, so that
	// they do not take the CPU from what start-up waits for. They take turns (turn): they
	// compete with the program for the CPU, and one at a time keeps the compilers' peak
	// memory to one module's.
	later := make([]func(), len(specs))
	wasms, keys := make([][]byte, len(specs)), make([]string, len(specs))
	turn := make(chan struct{}, 1)
	bg, rts := context.WithoutCancel(ctx), h.rts
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, wasm, err := preparePlugin(s, h.log, sandbox)
			if err != nil {
				errs[i] = err
				return
			}
			p.mem = h.mem
			key, code := "", h.code
			if code != nil {
				key = describeKey(wasm, p.config, p.memoryPages(), h.mem.limit)
			}
			if opts.Deferred && key != "" {
				if doc, ok := code.storedDescribe(key); ok {
					if claims, err := newClaimSet(append(append([]string(nil), doc.Claims...), s.Paths...)); err == nil && !claims.empty() {
						p.claims, p.promised, p.ready = claims, doc, make(chan struct{})
						loaded[i], wasms[i], keys[i] = p, wasm, key
						later[i] = func() { p.loadLater(bg, wasm, rts, code, key, turn) }
						return
					}
				}
			}
			if errs[i] = p.loadNow(ctx, wasm, h.rts); errs[i] == nil {
				loaded[i] = p
				if key != "" {
					code.storeDescribe(p, key)
				}
			}
		}()
	}
	wg.Wait()
	if errors.Join(errs...) == nil && h.mem != nil && overTotal(loaded, h.mem.limit) {
		// The stored documents say the deferred plugins will not fit in the memory total
		// beside the rest: load them now, so that the one that does not fit stops start-up
		// as scrim check stops, rather than failing its opens after the program started.
		for i, p := range loaded {
			if later[i] == nil {
				continue
			}
			later[i], p.ready = nil, nil
			if errs[i] = p.loadNow(ctx, wasms[i], h.rts); errs[i] != nil {
				loaded[i] = nil
				break
			}
			h.code.storeDescribe(p, keys[i])
		}
	}
	if errors.Join(errs...) == nil {
		for _, f := range later {
			if f != nil {
				h.loading.Add(1)
				h.pending.Add(1)
				go func() {
					defer h.loading.Done()
					defer h.pending.Add(-1)
					f()
				}()
			}
		}
	}
	for _, p := range loaded {
		if p != nil {
			h.plugins = append(h.plugins, p)
		}
	}
	for _, err := range errs {
		if err != nil {
			h.Close(ctx)
			return nil, err
		}
	}
	return h, nil
}

// overTotal reports whether the plugins loaded so far and the deferred ones, at the memory
// their stored documents recorded, need more than limit. A document that recorded none (an
// older one) counts for nothing: its plugin loads in the background and is checked there.
func overTotal(loaded []*plugin, limit uint64) bool {
	var need uint64
	for _, p := range loaded {
		switch {
		case p == nil:
		case p.ready != nil:
			need += p.promised.Memory
		default:
			need += p.instBytes.Load()
		}
	}
	return need > limit
}

func where(s Spec) string {
	if s.Source != "" {
		return s.Source
	}
	return s.Path
}

// Registrations returns one chain entry per plugin.
func (h *Host) Registrations() []shim.Registration {
	regs := make([]shim.Registration, 0, len(h.plugins))
	for _, p := range h.plugins {
		regs = append(regs, shim.Registration{Handler: p, Band: shim.BandVirtual, Priority: p.priority})
	}
	return regs
}

// Stats is one plugin's counters since it was loaded.
type Stats struct {
	Name string
	// Calls counts opens that reached the plugin's instances (claimed paths only).
	Calls uint64
	// Faults counts calls answered with on_error, of which Traps trapped or exited and
	// Timeouts ran out of time; Broken counts calls refused while the circuit breaker was open.
	Faults, Traps, Timeouts, Broken uint64
	// Replaced counts instances discarded and started anew.
	Replaced uint64
	// Latency is the total and MaxLatency the longest time of a call: the host's work for the
	// decision and the plugin's code, not the wait for a plugin still loading in the
	// background (Options.Deferred), which is start-up.
	Latency, MaxLatency time.Duration
}

// Wait waits for every deferred load to finish and returns their errors.
func (h *Host) Wait() error {
	h.loading.Wait()
	var errs []error
	for _, p := range h.plugins {
		if p.loadErr != nil {
			errs = append(errs, p.loadErr)
		}
	}
	return errors.Join(errs...)
}

// Stats returns every plugin's counters, in load order.
func (h *Host) Stats() []Stats {
	out := make([]Stats, 0, len(h.plugins))
	for _, p := range h.plugins {
		out = append(out, p.stats.snapshot(p.spec.Name))
	}
	return out
}

// Close logs each plugin's counters at debug level and releases the compiled modules and
// instances.
func (h *Host) Close(ctx context.Context) error {
	var errs []error
	for _, p := range h.plugins {
		s := p.stats.snapshot(p.spec.Name)
		var mean time.Duration
		if s.Calls > 0 {
			mean = s.Latency / time.Duration(s.Calls)
		}
		h.log.Debug("plugin counters", "shim", p.id, "calls", s.Calls, "faults", s.Faults,
			"traps", s.Traps, "timeouts", s.Timeouts, "broken", s.Broken, "replaced", s.Replaced,
			"mean_latency", mean, "max_latency", s.MaxLatency)
		p.reportHeldBack()
		if p.dropIfLoading() {
			continue
		}
		if err := p.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	h.plugins = nil
	if h.rts != nil {
		rts, cache, code := h.rts, h.cache, h.code
		h.rts, h.cache, h.code = nil, nil, nil
		release := func(ctx context.Context) error {
			err := rts.close(ctx)
			if code != nil {
				return errors.Join(err, code.close(ctx))
			}
			if cerr := cache.Close(ctx); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close plugin cache: %w", cerr))
			}
			return err
		}
		done := make(chan struct{})
		if h.pending.Load() == 0 {
			close(done)
		} else {
			go func() { h.loading.Wait(); close(done) }()
		}
		select {
		case <-done:
			if err := release(ctx); err != nil {
				errs = append(errs, err)
			}
		default:
			// Background loads still use the runtimes and the cache; they are released
			// when the last one is over.
			go func() {
				<-done
				release(context.WithoutCancel(ctx))
			}()
		}
	}
	return errors.Join(errs...)
}

// readModule reads a plugin's .wasm file and checks its pin.
func readModule(s Spec) ([]byte, error) {
	wasm, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, fmt.Errorf("read plugin %q: %w", s.Name, err)
	}
	if s.SHA256 != "" {
		sum := sha256.Sum256(wasm)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, s.SHA256) {
			return nil, fmt.Errorf("check plugin %q: %s has sha256 %s, the configuration pins %s", s.Name, s.Path, got, s.SHA256)
		}
	}
	return wasm, nil
}
