package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/assemblyscript"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// runtimes are the wazero runtimes of one host, one per memory cap, since the cap is a
// runtime's setting. Plugins with the same cap share one: a module loaded under two names is
// compiled and held in memory once, and the import modules exist once per cap instead of once
// per plugin.
type runtimes struct {
	mu      sync.Mutex
	cache   wazero.CompilationCache
	code    *codeCache // nil without a cache directory
	byPages map[rtKey]wazero.Runtime
	// compiling serialises compiles of the same module bytes, so that a module loaded under
	// two names is read from the compilation cache once and then found in the runtime,
	// instead of being decoded twice at the same time.
	compiling map[[32]byte]*sync.Mutex
}

// compile compiles wasm in rt, one compile of the same bytes at a time.
func (r *runtimes) compile(ctx context.Context, rt wazero.Runtime, wasm []byte) (wazero.CompiledModule, error) {
	sum := sha256.Sum256(wasm)
	r.mu.Lock()
	mu := r.compiling[sum]
	if mu == nil {
		mu = new(sync.Mutex)
		r.compiling[sum] = mu
	}
	r.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if r.code != nil {
		return r.code.compile(wasm, func() (wazero.CompiledModule, error) { return rt.CompileModule(ctx, wasm) })
	}
	return rt.CompileModule(ctx, wasm)
}

// newRuntimes returns the runtimes of one host. code, when not nil, is the authenticated disk
// cache, and cache must be its code.wz.
func newRuntimes(cache wazero.CompilationCache, code *codeCache) *runtimes {
	return &runtimes{cache: cache, code: code, byPages: map[rtKey]wazero.Runtime{}, compiling: map[[32]byte]*sync.Mutex{}}
}

// rtKey selects a runtime: the memory cap, and whether wazero compiles in its own stop checks
// (WithCloseOnContextDone) because the module's code has none of scrim's (stopcheck.go).
type rtKey struct {
	pages        uint64
	wazeroChecks bool
}

// get returns the runtime for a memory cap of pages, creating it with the three import
// modules a plugin may use. wazeroChecks is for modules without scrim's stop checks.
func (r *runtimes) get(ctx context.Context, pages uint64, wazeroChecks bool) (wazero.Runtime, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := rtKey{pages, wazeroChecks}
	if rt, ok := r.byPages[key]; ok {
		return rt, nil
	}
	cfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(pages)).
		WithCloseOnContextDone(wazeroChecks)
	if r.cache != nil {
		cfg = cfg.WithCompilationCache(r.cache)
	}
	// The runtime outlives the load that creates it: its context must not end with the load.
	rt := wazero.NewRuntimeWithConfig(context.WithoutCancel(ctx), cfg)
	if err := instantiateImports(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	r.byPages[key] = rt
	return rt, nil
}

// instantiateImports provides the three import modules a plugin may use.
func instantiateImports(ctx context.Context, rt wazero.Runtime) error {
	wasi := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wasi)
	if _, err := wasi.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate wasi: %w", err)
	}
	env := rt.NewHostModuleBuilder("env")
	assemblyscript.NewFunctionExporter().WithTraceToStderr().ExportFunctions(env)
	if _, err := env.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate env: %w", err)
	}
	if _, err := newHostModule(rt).Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate %s: %w", importV1, err)
	}
	return nil
}

// close closes every runtime, with the instances and compiled modules in it.
func (r *runtimes) close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for key, rt := range r.byPages {
		if err := rt.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close plugin runtime: %w", err))
		}
		delete(r.byPages, key)
	}
	return errors.Join(errs...)
}
