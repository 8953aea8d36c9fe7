package launch

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

func TestEncodeCPUs(t *testing.T) {
	require.Empty(t, encodeCPUs(nil))
	require.Equal(t, []byte{0b101}, encodeCPUs([]int{0, 2}))
	require.Equal(t, []byte{0, 1}, encodeCPUs([]int{8}))
	require.Equal(t, []int{3}, intersect([]int{1, 3}, []int{3, 4}))
}

// confiner confines the sandbox and does nothing else: nothing narrows a thread when scrim
// hears from it, so what the program sees is what it started with.
type confiner struct{ cpus []int }

func (c *confiner) ID() string { return "test.confiner" }
func (c *confiner) Open(context.Context, *shim.Request) (shim.Result, error) {
	return shim.Next(), nil
}
func (c *confiner) ConfineCPUs() []int { return c.cpus }

// TestConfinedFromTheStart: the program starts on the CPUs a handler confines it to, whether
// the keeper or a stub starts it.
func TestConfinedFromTheStart(t *testing.T) {
	var self unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &self))
	last := -1
	for i := 0; i < cpuSetBits; i++ {
		if self.IsSet(i) {
			last = i
		}
	}
	if self.Count() < 2 {
		t.Skip("needs two CPUs to tell a confined program from one that is not")
	}
	for _, noLandlock := range []bool{true, false} {
		t.Run(fmt.Sprintf("no_landlock=%v", noLandlock), func(t *testing.T) {
			status, out, serr := runOut(t, Config{
				Args:       []string{"sh", "-c", "grep Cpus_allowed_list /proc/self/status"},
				Handlers:   []shim.Registration{{Handler: &confiner{cpus: []int{last}}, Band: shim.BandVirtual}},
				NoLandlock: noLandlock,
			})
			require.Equal(t, 0, status, serr)
			require.Equal(t, fmt.Sprintf("Cpus_allowed_list:\t%d\n", last), out)
		})
	}
}
