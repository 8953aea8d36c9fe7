package launch

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// TestLimits: paths and open_how structs at the edges of what the kernel reads get the
// kernel's own answers inside the sandbox, read from child memory page by page.
func TestLimits(t *testing.T) {
	src, err := os.ReadFile("testdata/limits.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	// The kernel's answers, without scrim, are the reference.
	native, err := exec.Command(prog).Output()
	require.NoError(t, err)
	status, out, serr := runOut(t, Config{Args: []string{prog}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, string(native), out)
	// And the reference says what it should.
	require.Equal(t, strings.Join([]string{
		"nul_at_page_end OK", "runs_into_unmapped EFAULT", "null EFAULT", "wild EFAULT", "empty ENOENT",
		"path_max OK", "too_long ENAMETOOLONG",
		"how_size_24 OK", "how_size_23 EINVAL", "how_size_40_zero OK", "how_size_40_nonzero E2BIG",
		"how_size_huge E2BIG", "how_null EFAULT", "how_bad_resolve EINVAL", "how_runs_into_unmapped EFAULT",
	}, "\n")+"\n", out)
}
