package launch

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The CPUs a handler confines the sandbox to (shim.CPUConfiner) travel to the stub or the
// keeper at the end of the filter message, as a cpu_set_t's bytes (bit i of byte j is CPU
// 8j+i). The thread that starts the program takes them before anything else, so the program
// starts confined: a thread it creates before its first mediated call cannot run elsewhere, as
// it could if the supervisor confined each thread only when it first heard from it.

// confineCPUs asks the handlers for the CPUs to confine the sandbox to, after Provision. Two
// handlers that both confine get the CPUs they share.
func (s *Supervisor) confineCPUs() ([]int, error) {
	var cpus []int
	seen := false
	for _, x := range s.lifecycle() {
		c, ok := x.h.(shim.CPUConfiner)
		if !ok {
			continue
		}
		set := c.ConfineCPUs()
		if len(set) == 0 {
			continue
		}
		if !seen {
			cpus, seen = append([]int(nil), set...), true
			continue
		}
		cpus = intersect(cpus, set)
	}
	if seen && len(cpus) == 0 {
		return nil, fmt.Errorf("confine cpus: the handlers share no CPU")
	}
	for _, c := range cpus {
		if c < 0 || c >= cpuSetBits {
			return nil, fmt.Errorf("confine cpus: CPU %d out of range", c)
		}
	}
	return cpus, nil
}

// cpuSetBits is how many CPUs a unix.CPUSet holds.
const cpuSetBits = len(unix.CPUSet{}) * 64

func intersect(a, b []int) []int {
	in := map[int]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []int
	for _, x := range a {
		if in[x] {
			out = append(out, x)
		}
	}
	return out
}

// encodeCPUs lays cpus out as a cpu_set_t's bytes, as short as the highest CPU allows.
func encodeCPUs(cpus []int) []byte {
	var out []byte
	for _, c := range cpus {
		for len(out) <= c/8 {
			out = append(out, 0)
		}
		out[c/8] |= 1 << (c % 8)
	}
	return out
}

// confineThread confines the calling thread to the CPUs of mask (encodeCPUs's layout); an
// empty mask leaves it as it is. The caller is the locked thread that starts the program.
func confineThread(mask []byte) error {
	if len(mask) == 0 {
		return nil
	}
	if len(mask) > cpuSetBits/8 {
		return fmt.Errorf("sched_setaffinity: a mask of %d bytes", len(mask))
	}
	var set unix.CPUSet
	for i, b := range mask {
		for bit := 0; bit < 8; bit++ {
			if b&(1<<bit) != 0 {
				set.Set(8*i + bit)
			}
		}
	}
	if set.Count() == 0 {
		return fmt.Errorf("sched_setaffinity: an empty mask")
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_setaffinity: %w", err)
	}
	return nil
}
