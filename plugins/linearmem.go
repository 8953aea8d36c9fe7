package plugins

import (
	"context"
	"runtime"
	"sync"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// A plugin's linear memory lives in its own anonymous mapping, outside the Go heap, reserved
// at the module's maximum and grown in place (RATIONALE.md, "Why do plugin memories live
// outside the Go heap?"). In the Go heap every memory.grow copied the memory into a larger
// slice and left the old one as garbage, and the collector let the heap reach twice what was
// live: five Go plugins peaked at 80 MB of heap for 45 MB in use. Untouched pages of the
// reservation cost nothing; MAP_NORESERVE keeps it out of the commit charge.
//
// Safety: wazero frees a memory when its module closes, and a watchdog closes a module on its
// own goroutine while the plugin's code may still be running on the calling one. Unmapping
// then would make that code fault and take scrim down. So closing only drops the pages
// (MADV_DONTNEED: the range stays mapped and reads as zeros), and the range is unmapped only
// when the instance that owns it is garbage: no call can be running on it by then, since a
// call holds the instance.

// linearMemory is one reservation. mu orders Free against the unmapping.
type linearMemory struct {
	mu       sync.Mutex
	mem      []byte // the whole reservation, nil once unmapped
	released bool   // the module closed: the pages are dropped
	meter    meter  // the size counted against the host's total
}

// withLinearMemory returns ctx with an allocator that places the memories instantiated under
// it in mappings owned by inst.
func withLinearMemory(ctx context.Context, inst *instance) context.Context {
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		mem := newLinearMemory(inst, max)
		if b := inst.p.mem; b != nil {
			m := meter{budget: b, over: &inst.overBudget}
			switch mem := mem.(type) {
			case *linearMemory:
				mem.meter = m
			case *heapMemory:
				mem.meter = m
			}
		}
		return mem
	}))
}

// newLinearMemory reserves limit bytes, unmapped once owner is garbage. If the kernel refuses
// the reservation the memory lives in the Go heap, as it would without this allocator.
func newLinearMemory[T any](owner *T, limit uint64) experimental.LinearMemory {
	size := max(pageSize, (limit+pageSize-1)&^(pageSize-1))
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{limit: limit}
	}
	m := &linearMemory{mem: b}
	runtime.AddCleanup(owner, (*linearMemory).unmap, m)
	return m
}

// heapMemory is the fallback: a slice grown by copying, like wazero's own.
type heapMemory struct {
	buf   []byte
	limit uint64
	meter meter
}

func (h *heapMemory) Reallocate(size uint64) []byte {
	if size > h.limit || !h.meter.resize(size) {
		return nil
	}
	if size > uint64(cap(h.buf)) {
		h.buf = append(h.buf[:cap(h.buf)], make([]byte, size-uint64(cap(h.buf)))...)
	}
	h.buf = h.buf[:size]
	return h.buf
}

func (h *heapMemory) Free() {
	h.buf = nil
	h.meter.release()
}

const pageSize = 1 << 12

// Reallocate grows the memory in place; nil tells wazero the growth failed.
func (m *linearMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.released || m.mem == nil || size > uint64(len(m.mem)) || !m.meter.resize(size) {
		return nil
	}
	return m.mem[:size:size]
}

// Free drops the pages and leaves the range mapped (see the safety note above).
func (m *linearMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.released || m.mem == nil {
		return
	}
	m.released = true
	m.meter.release()
	unix.Madvise(m.mem, unix.MADV_DONTNEED)
}

// unmap runs once the owning instance is garbage.
func (m *linearMemory) unmap() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem != nil {
		unix.Munmap(m.mem)
		m.mem = nil
	}
}
