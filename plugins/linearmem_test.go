package plugins

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestLinearMemoryGrowsInPlace(t *testing.T) {
	owner := new(int)
	m, ok := newLinearMemory(owner, 4*pageSize).(*linearMemory)
	require.True(t, ok, "the reservation should succeed")
	b := m.Reallocate(pageSize)
	require.Len(t, b, pageSize)
	b[0], b[pageSize-1] = 7, 9

	grown := m.Reallocate(3 * pageSize)
	require.Len(t, grown, 3*pageSize)
	require.Equal(t, unsafe.SliceData(b), unsafe.SliceData(grown), "growing must not move the memory")
	require.Equal(t, byte(7), grown[0])
	require.Equal(t, byte(9), grown[pageSize-1])
	require.Zero(t, grown[2*pageSize], "new pages read as zeros")
	require.Nil(t, m.Reallocate(4*pageSize+1), "beyond the reservation the growth fails")
	require.Len(t, m.Reallocate(4*pageSize), 4*pageSize)
	runtime.KeepAlive(owner)
}

func TestLinearMemoryFreeDropsPagesButKeepsTheRange(t *testing.T) {
	owner := new(int)
	m := newLinearMemory(owner, 2*pageSize).(*linearMemory)
	b := m.Reallocate(2 * pageSize)
	b[10] = 1
	m.Free()
	// Code still running on the memory after its module closed reads zeros instead of
	// faulting: the range is still mapped.
	require.Zero(t, b[10])
	b[11] = 2
	require.Nil(t, m.Reallocate(pageSize), "a freed memory cannot grow again")
	m.Free()
	runtime.KeepAlive(owner)
}

func TestLinearMemoryUnmappedWhenOwnerIsGarbage(t *testing.T) {
	owner := new([64]byte)
	m := newLinearMemory(owner, pageSize).(*linearMemory)
	m.Reallocate(pageSize)[0] = 1
	owner = nil
	_ = owner
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		m.mu.Lock()
		gone := m.mem == nil
		m.mu.Unlock()
		if gone {
			break
		}
		require.True(t, time.Now().Before(deadline), "the mapping outlived its owner")
		time.Sleep(10 * time.Millisecond)
	}
	// A Free after the unmapping (a runtime closing its modules at exit) must not touch
	// the range, which may belong to someone else by now.
	m.Free()
	require.Nil(t, m.Reallocate(pageSize))
}

func TestHeapMemoryFallback(t *testing.T) {
	h := &heapMemory{limit: 2 * pageSize}
	b := h.Reallocate(pageSize)
	b[1] = 5
	b = h.Reallocate(2 * pageSize)
	require.Len(t, b, 2*pageSize)
	require.Equal(t, byte(5), b[1])
	require.Nil(t, h.Reallocate(2*pageSize+1))
}
