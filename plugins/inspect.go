package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Report is what Inspect found in a module, for `scrim plugin inspect`.
type Report struct {
	Path   string
	Size   int
	SHA256 string
	// ABI is "1" when the module carries the v1 marker, "" otherwise.
	ABI string
	// Name, Version, ABIMinor and Claims come from the describe document.
	Name, Version string
	ABIMinor      int
	Claims        []string
	Exports       []Symbol
	Imports       []Symbol
	// Problems lists everything that would make Load refuse the module; empty when it loads.
	Problems []string
	// Cache says what became of the module's compiled code in Options.CacheDir: "" without
	// one; "taken from the cache", "compiled and stored", "bad entry discarded, compiled and
	// stored" or why the cache could not be used.
	Cache string
	// CacheDiscarded lists each cache entry found bad and discarded, as "PATH: why".
	CacheDiscarded []string
}

// Symbol is one export or import of a module.
type Symbol struct {
	Module string // "" for exports
	Name   string
	Type   string // "func (i32)->(i32)" or "memory"
}

// Inspect reads a module as Load would and reports what it found instead of stopping at the
// first problem. It runs the module's _initialize, scrim_describe and scrim_init (with an
// empty configuration) in the same sandbox as Load. err is set only when the file cannot be
// read.
func Inspect(ctx context.Context, path string, opts Options) (*Report, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inspect plugin %s: %w", path, err)
	}
	sum := sha256.Sum256(wasm)
	r := &Report{Path: path, Size: len(wasm), SHA256: hex.EncodeToString(sum[:])}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig())
	defer rt.Close(ctx)
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("does not compile: %v", err))
		return r, nil
	}
	for name, d := range compiled.ExportedFunctions() {
		r.Exports = append(r.Exports, Symbol{Name: name, Type: "func " + string(sigOf(d))})
		if name == markerV1 {
			r.ABI = "1"
		}
	}
	for name := range compiled.ExportedMemories() {
		r.Exports = append(r.Exports, Symbol{Name: name, Type: "memory"})
	}
	for _, d := range compiled.ImportedFunctions() {
		mod, name, _ := d.Import()
		r.Imports = append(r.Imports, Symbol{Module: mod, Name: name, Type: "func " + string(sigOf(d))})
	}
	for _, d := range compiled.ImportedMemories() {
		mod, name, _ := d.Import()
		r.Imports = append(r.Imports, Symbol{Module: mod, Name: name, Type: "memory"})
	}
	sort.Slice(r.Exports, func(i, j int) bool { return r.Exports[i].Name < r.Exports[j].Name })
	sort.Slice(r.Imports, func(i, j int) bool {
		a, b := r.Imports[i], r.Imports[j]
		return a.Module < b.Module || (a.Module == b.Module && a.Name < b.Name)
	})
	if problems := moduleProblems(compiled); len(problems) > 0 {
		r.Problems = append(r.Problems, problems...)
		return r, nil
	}
	// Run describe and init exactly as Load does.
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	p := &plugin{spec: Spec{Name: "inspect", Path: path}, id: "plugin.inspect", log: log, sandbox: "scrim"}
	p.config, p.configVals, _ = encodeConfig(nil)
	var cache wazero.CompilationCache
	var code *codeCache
	if opts.CacheDir != "" {
		if c, err := openCodeCache(opts.CacheDir, log); err == nil {
			cache, code = c.wz, c
			defer c.close(ctx)
		} else {
			r.Cache = "unusable, compiled in memory: " + err.Error()
		}
	}
	compiledBytes, _ := compiledForm(wasm)
	had := code != nil && code.hasEntry(compiledBytes)
	rts := newRuntimes(cache, code)
	defer rts.close(ctx)
	err = p.compile(ctx, wasm, rts)
	if code != nil {
		r.CacheDiscarded = code.discards()
		switch {
		case len(r.CacheDiscarded) > 0:
			r.Cache = "bad entry discarded, compiled and stored"
		case had:
			r.Cache = "taken from the cache"
		case err != nil:
			r.Cache = "nothing stored: the module does not compile"
		default:
			r.Cache = "compiled and stored"
		}
	}
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil
	}
	inst, err := p.newInstance(ctx, true)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	} else {
		inst.close()
	}
	r.Name, r.Version, r.ABIMinor, r.Claims = p.doc.Name, p.doc.Version, p.doc.ABIMinor, p.doc.Claims
	return r, nil
}

// ErrNotClaimed is returned by Decide for a path the plugin does not claim.
var ErrNotClaimed = errors.New("the plugin does not claim this path")

// Decide runs one open through the named plugin as the chain would, except that a plugin
// fault is returned as an error instead of the on_error errno: author tools show why.
func (h *Host) Decide(ctx context.Context, name string, req *shim.Request) (shim.Result, error) {
	for _, p := range h.plugins {
		if p.spec.Name != name {
			continue
		}
		if !p.claims.match(req.Path) {
			return shim.Next(), ErrNotClaimed
		}
		res, f := p.decide(req)
		p.stats.record(0, f)
		if f != nil {
			return res, f.err
		}
		return res, nil
	}
	return shim.Result{}, fmt.Errorf("decide: no plugin named %q", name)
}

// Claims returns the named plugin's claims: its own, then the configured ones.
func (h *Host) Claims(name string) []string {
	for _, p := range h.plugins {
		if p.spec.Name == name {
			return append([]string(nil), p.claims.patterns...)
		}
	}
	return nil
}
