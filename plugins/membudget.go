package plugins

import (
	"fmt"
	"sync/atomic"
)

// DefaultMemoryTotal is the default bound on the linear memory of all of a host's plugin
// instances together (Options.MemoryTotal): 32 instances at the default cap, and room for a
// few large plugins, without letting memory × instances × plugins grow past what a
// workstation or CI runner has to spare.
const DefaultMemoryTotal = 512 << 20

// maxMemory is the most linear memory a wasm32 module can address: 65,536 pages of 64 KiB.
const maxMemory = 4 << 30

// memBudget bounds the linear memory of every instance of one host together. Each memory
// counts its current size (what the module asked for, not the pages it touched): that is what
// it may use without asking again.
type memBudget struct {
	limit uint64
	used  atomic.Uint64
}

// take counts n more bytes, or reports false when they would pass the limit.
func (b *memBudget) take(n uint64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit || u+n < u {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// force counts n bytes whatever the limit: memory wazero already has (see meter.resize).
func (b *memBudget) force(n uint64) { b.used.Add(n) }

func (b *memBudget) give(n uint64) { b.used.Add(^(n - 1)) }

// free returns how many bytes are left.
func (b *memBudget) free() uint64 {
	u := b.used.Load()
	if u >= b.limit {
		return 0
	}
	return b.limit - u
}

// meter counts one linear memory against a budget. The owner's lock (or wazero's, for the
// heap fallback) serialises its calls.
type meter struct {
	budget  *memBudget   // nil: no bound but the memory's own cap
	over    *atomic.Bool // set when the initial size did not fit
	started bool
	size    uint64
}

// resize counts a memory growing to size and reports whether the budget allows it. wazero
// cannot take a refusal of the initial size (it would panic), so that is counted anyway and
// flagged in over: newInstance then closes the instance and fails.
func (m *meter) resize(size uint64) bool {
	if m.budget == nil || size <= m.size {
		m.started = true
		return true
	}
	if !m.budget.take(size - m.size) {
		if m.started {
			return false
		}
		m.budget.force(size - m.size)
		if m.over != nil {
			m.over.Store(true)
		}
	}
	m.started = true
	m.size = size
	return true
}

// release gives the memory's bytes back when its module closes.
func (m *meter) release() {
	if m.budget != nil {
		m.budget.give(m.size)
		m.size = 0
	}
}

// mib formats a byte count for messages.
func mib(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dM", n>>20)
	}
	return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
}
