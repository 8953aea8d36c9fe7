package plugins

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// Stop checks (RATIONALE.md, "Why does scrim put its own stop checks into a plugin's code?").
// wazero can stop a running call only in code compiled with WithCloseOnContextDone, which
// leaves the native code for the Go runtime at every loop iteration and starts a goroutine
// per call: about four fifths of a small plugin's call. addStopChecks instead counts down a
// new global (fuel) at the start of every function and every loop. Every fuelPeriod counts
// the code leaves for the Go runtime once (a memory.grow by 0 pages), so that a garbage
// collection's stop-the-world, which cannot interrupt native code, never waits on a plugin
// for longer than that, and reads a second new global, exported as stopExport: the watchdog
// sets it, and the plugin traps there. Anything the rewrite does not understand leaves the
// module as it was, to run with wazero's checks.

// stopExport names the global the checks read; 1 stops the instance.
const stopExport = "scrim.stop"

// fuelPeriod is how many function entries and loop iterations (of at most 32 bytes of code;
// longer ones count more, checkCost) run between two visits to the Go runtime: a few
// microseconds of the tightest loop, so that neither the collector nor the watchdog waits
// long, and rare enough to cost nothing per call.
const fuelPeriod = 1 << 14

// fuelConst is i32.const fuelPeriod.
var fuelConst = append([]byte{0x41}, sleb32(fuelPeriod)...)

// sleb32 encodes v as a signed LEB128.
func sleb32(v int32) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 && b&0x40 == 0 || v == -1 && b&0x40 != 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

var errNoRewrite = errors.New("not rewritten")

// compiledForm returns the bytes scrim compiles for wasm, and whether they carry scrim's stop
// checks. The compile cache names entries by these bytes.
func compiledForm(wasm []byte) ([]byte, bool) {
	if checked, err := addStopChecks(wasm); err == nil {
		return checked, true
	}
	return wasm, false
}

// addStopChecks returns wasm with the checks added, or errNoRewrite when the module holds
// something the rewrite does not know (then it must run with wazero's own checks).
func addStopChecks(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, errNoRewrite
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	r := wasmReader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err {
			return nil, errNoRewrite
		}
		secs = append(secs, section{id, body})
	}
	// The new global's index: after every imported and defined global.
	var importedGlobals, definedGlobals uint32
	hasGlobal, hasExport, hasCode, hasMemory := false, false, false, false
	for _, s := range secs {
		switch s.id {
		case 2:
			n, mems, ok := countImports(s.body)
			if !ok {
				return nil, errNoRewrite
			}
			importedGlobals, hasMemory = n, hasMemory || mems > 0
		case 5:
			sr := wasmReader{b: s.body}
			hasMemory = hasMemory || sr.u32() > 0
		case 6:
			hasGlobal = true
			sr := wasmReader{b: s.body}
			definedGlobals = sr.u32()
			if sr.err {
				return nil, errNoRewrite
			}
		case 7:
			hasExport = true
		case 10:
			hasCode = true
		}
	}
	if !hasCode || !hasMemory {
		return nil, errNoRewrite
	}
	stop, fuel := importedGlobals+definedGlobals, importedGlobals+definedGlobals+1
	s, f := uleb(stop), uleb(fuel)
	// fuel = fuel - 1; if fuel == 0 { memory.grow 0; if stop { unreachable }; fuel = fuelPeriod }
	// fuel -= cost; if fuel < 1 { memory.grow 0; if stop { unreachable }; fuel = fuelPeriod }
	check := func(cost int32) []byte {
		var c []byte
		c = append(append(append(c, 0x23), f...), 0x41)                  // global.get fuel; i32.const
		c = append(append(append(c, sleb32(cost)...), 0x6b, 0x24), f...) // cost; i32.sub; global.set fuel
		c = append(append(append(c, 0x23), f...), 0x41, 0x01, 0x48)      // global.get fuel; i32.const 1; i32.lt_s
		c = append(c, 0x04, 0x40, 0x41, 0x00, 0x40, 0x00, 0x1a)          // if; i32.const 0; memory.grow 0; drop
		c = append(append(append(c, 0x23), s...), 0x04, 0x40, 0x00)      // global.get stop; if; unreachable
		c = append(append(c, 0x0b), fuelConst...)                        // end; i32.const fuelPeriod
		c = append(append(append(c, 0x24), f...), 0x0b)                  // global.set fuel; end
		return c
	}
	newGlobals := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b} // stop: mutable i32, 0
	newGlobals = append(append(append(newGlobals, 0x7f, 0x01), fuelConst...), 0x0b)
	newExport := append(append(uleb(uint32(len(stopExport))), stopExport...), 0x03)
	newExport = append(newExport, uleb(stop)...)

	var out bytes.Buffer
	out.Write(wasm[:8])
	put := func(id byte, body []byte) {
		out.WriteByte(id)
		out.Write(uleb(uint32(len(body))))
		out.Write(body)
	}
	// Sections in the order the binary format requires; a missing global or export section
	// is added at its place.
	order := func(id byte) int {
		switch id {
		case 12: // data count, between element and code
			return 95
		case 13: // tag, between memory and global
			return 55
		}
		return int(id) * 10
	}
	addedGlobal, addedExport := hasGlobal, hasExport
	for _, s := range secs {
		if s.id != 0 {
			if !addedGlobal && order(s.id) > order(6) {
				put(6, append([]byte{2}, newGlobals...))
				addedGlobal = true
			}
			if !addedExport && order(s.id) > order(7) {
				put(7, append([]byte{1}, newExport...))
				addedExport = true
			}
		}
		switch s.id {
		case 6:
			body, ok := appendVecItems(s.body, 2, newGlobals)
			if !ok {
				return nil, errNoRewrite
			}
			put(6, body)
		case 7:
			if exportsName(s.body, stopExport) {
				return nil, errNoRewrite
			}
			body, ok := appendVecItems(s.body, 1, newExport)
			if !ok {
				return nil, errNoRewrite
			}
			put(7, body)
		case 10:
			body, ok := addChecksToCode(s.body, check)
			if !ok {
				return nil, errNoRewrite
			}
			put(10, body)
		default:
			put(s.id, s.body)
		}
	}
	if !addedGlobal || !addedExport {
		return nil, errNoRewrite // the code section comes after both: cannot happen
	}
	return out.Bytes(), nil
}

// addChecksToCode inserts a check after each function's locals and after each loop's block
// type, each costing what the code it covers may run before the next check (checkCost).
func addChecksToCode(body []byte, check func(cost int32) []byte) ([]byte, bool) {
	r := wasmReader{b: body}
	n := r.u32()
	out := uleb(n)
	for i := uint32(0); i < n && !r.err; i++ {
		size := r.u32()
		fn := r.bytes(int(size))
		if r.err {
			return nil, false
		}
		f, ok := addChecksToFunc(fn, check)
		if !ok {
			return nil, false
		}
		out = append(append(out, uleb(uint32(len(f)))...), f...)
	}
	if r.err || r.off != len(r.b) {
		return nil, false
	}
	return out, true
}

func addChecksToFunc(fn []byte, check func(cost int32) []byte) ([]byte, bool) {
	r := wasmReader{b: fn}
	groups := r.u32()
	for i := uint32(0); i < groups && !r.err; i++ {
		r.u32()  // count
		r.byte() // type
	}
	if r.err {
		return nil, false
	}
	code := fn[r.off:]
	loops, ok := loopSizes(code)
	if !ok {
		return nil, false
	}
	out := make([]byte, 0, len(fn)+64*(len(loops)+1))
	out = append(append(out, fn[:r.off]...), check(checkCost(len(code)))...)
	r = wasmReader{b: code}
	for n := 0; r.off < len(r.b); {
		start := r.off
		op := r.byte()
		if !skipImmediates(&r, op) {
			return nil, false
		}
		out = append(out, code[start:r.off]...)
		if op == 0x03 {
			out = append(out, check(checkCost(loops[n]))...)
			n++
		}
	}
	return out, !r.err
}

// checkCost is what a check charges for size bytes of code: one, and one more per 32 bytes, so
// that a loop or function of a long run of straight-line code cannot stretch the time between
// two visits to the Go runtime (fuelPeriod charges) by its length.
func checkCost(size int) int32 { return int32(min(1+size/32, fuelPeriod)) }

// loopSizes returns the length in bytes of each loop's body, in the order the loops start.
func loopSizes(code []byte) ([]int, bool) {
	var sizes, starts, open []int // open: the blocks entered and not ended, a loop's index or -1
	r := wasmReader{b: code}
	for r.off < len(r.b) {
		op := r.byte()
		if !skipImmediates(&r, op) {
			return nil, false
		}
		switch op {
		case 0x02, 0x04: // block, if
			open = append(open, -1)
		case 0x03:
			open = append(open, len(sizes))
			sizes, starts = append(sizes, 0), append(starts, r.off)
		case 0x0b:
			if len(open) == 0 {
				continue // the function's own end
			}
			if i := open[len(open)-1]; i >= 0 {
				sizes[i] = r.off - starts[i]
			}
			open = open[:len(open)-1]
		}
	}
	return sizes, !r.err && len(open) == 0
}

// skipImmediates reads the immediates of op: the core instructions of WebAssembly 2.0 without
// SIMD, and the saturating, bulk-memory and reference-type ones. Anything else (SIMD,
// threads, exceptions, tail calls, which could loop without a loop) refuses the rewrite.
func skipImmediates(r *wasmReader, op byte) bool {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b:
	case op >= 0x02 && op <= 0x04: // block, loop, if
		blockType(r)
	case op == 0x0c || op == 0x0d: // br, br_if
		r.u32()
	case op == 0x0e: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && !r.err; i++ {
			r.u32()
		}
	case op == 0x10: // call
		r.u32()
	case op == 0x11: // call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select t*
		n := r.u32()
		for i := uint32(0); i < n && !r.err; i++ {
			r.byte()
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores: align, offset
		if r.u32()&0x40 != 0 {
			return false // a memory index (multi-memory)
		}
		r.u32()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		if r.byte() != 0 {
			return false
		}
	case op == 0x41:
		r.sleb(32)
	case op == 0x42:
		r.sleb(64)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xc4: // numeric, no immediates
	case op == 0xd0: // ref.null t
		r.byte()
	case op == 0xd1:
	case op == 0xd2: // ref.func
		r.u32()
	case op == 0xfc:
		switch sub := r.u32(); {
		case sub <= 7: // saturating truncations
		case sub == 8: // memory.init
			r.u32()
			if r.byte() != 0 {
				return false
			}
		case sub == 9, sub == 13, sub >= 15 && sub <= 17: // data.drop, elem.drop, table.grow/size/fill
			r.u32()
		case sub == 10: // memory.copy
			if r.byte() != 0 || r.byte() != 0 {
				return false
			}
		case sub == 11: // memory.fill
			if r.byte() != 0 {
				return false
			}
		case sub == 12, sub == 14: // table.init, table.copy
			r.u32()
			r.u32()
		default:
			return false
		}
	default:
		return false
	}
	return !r.err
}

// blockType reads a block type: empty, a value type, or a type index (s33).
func blockType(r *wasmReader) {
	if r.off >= len(r.b) {
		r.err = true
		return
	}
	switch b := r.b[r.off]; {
	case b == 0x40 || b >= 0x6f && b <= 0x7f:
		r.off++
	default:
		r.sleb(33)
	}
}

// countImports counts the global and memory imports of an import section.
func countImports(body []byte) (globals, mems uint32, ok bool) {
	r := wasmReader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && !r.err; i++ {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch r.byte() {
		case 0x00: // function: type index
			r.u32()
		case 0x01: // table: reference type, limits
			r.byte()
			limits(&r)
		case 0x02: // memory: limits
			limits(&r)
			mems++
		case 0x03: // global: value type, mutability
			r.byte()
			r.byte()
			globals++
		default:
			return 0, 0, false
		}
	}
	return globals, mems, !r.err && r.off == len(r.b)
}

func limits(r *wasmReader) {
	switch flags := r.byte(); flags {
	case 0x00:
		r.u32()
	case 0x01:
		r.u32()
		r.u32()
	default:
		r.err = true // shared or 64-bit memories: not rewritten
	}
}

// exportsName reports whether an export section exports name.
func exportsName(body []byte, name string) bool {
	r := wasmReader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && !r.err; i++ {
		if string(r.bytes(int(r.u32()))) == name {
			return true
		}
		r.byte()
		r.u32()
	}
	return false
}

// appendVecItems adds k encoded items to a section that is a vector.
func appendVecItems(body []byte, k uint32, items []byte) ([]byte, bool) {
	r := wasmReader{b: body}
	n := r.u32()
	if r.err || n > 1<<32-1-k {
		return nil, false
	}
	out := append(uleb(n+k), body[r.off:]...)
	return append(out, items...), true
}

// wasmReader reads the binary format; err is set, and stays set, on any short or bad read.
type wasmReader struct {
	b   []byte
	off int
	err bool
}

func (r *wasmReader) byte() byte {
	if r.err || r.off >= len(r.b) {
		r.err = true
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *wasmReader) bytes(n int) []byte {
	if r.err || n < 0 || n > len(r.b)-r.off {
		r.err = true
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

func (r *wasmReader) u32() uint32 {
	v, n := binary.Uvarint(r.b[min(r.off, len(r.b)):])
	if r.err || n <= 0 || n > 5 || v > 1<<32-1 {
		r.err = true
		return 0
	}
	r.off += n
	return uint32(v)
}

// sleb skips a signed LEB128 of at most bits bits.
func (r *wasmReader) sleb(bits int) {
	for i := 0; i < (bits+6)/7; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.err = true
}

func uleb(v uint32) []byte { return binary.AppendUvarint(nil, uint64(v)) }
