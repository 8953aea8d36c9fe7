package builtin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestDocsMatchCode keeps docs/shims.md honest: every shim, every system call it takes over,
// every default deny entry, every golden file and the loopback /etc/hosts appear in it.
func TestDocsMatchCode(t *testing.T) {
	doc, err := os.ReadFile("../docs/shims.md")
	require.NoError(t, err)
	text := string(doc)

	seed := uint64(1)
	regs, calls, err := New(Options{CPUs: 1, MemoryBytes: 1 << 30, RandomSeed: &seed, State: State{Paths: []string{"/x"}}})
	require.NoError(t, err)
	require.Len(t, regs, len(registry), "every shim is on with these options")
	for _, r := range regs {
		t.Run(r.Handler.ID(), func(t *testing.T) {
			require.Contains(t, text, "## "+r.Handler.ID())
			band := map[shim.Band]string{shim.BandSecurity: "security", shim.BandVirtual: "virtual"}[r.Band]
			require.Regexp(t, fmt.Sprintf("(?m)^\\| `%s` \\|[^\\n]*\\| %s", r.Handler.ID(), band), text)
		})
	}
	for _, c := range calls {
		for _, nr := range c.Syscalls() {
			require.Contains(t, text, fmt.Sprintf("(%d)", nr), "syscall %d of %s", nr, c.ID())
		}
	}
	for _, p := range DefaultDeny {
		require.Contains(t, text, "`"+p+"`", "default deny entry")
	}
	require.Contains(t, text, "```\n"+hostsLoopback)

	goldens, err := filepath.Glob("testdata/*.golden")
	require.NoError(t, err)
	require.NotEmpty(t, goldens)
	for _, g := range goldens {
		name := filepath.Base(g)
		family, _, _ := strings.Cut(name, "_")
		if !strings.Contains(text, name) && !strings.Contains(text, family+"_*.golden") {
			t.Errorf("docs/shims.md does not name golden file %s", name)
		}
	}
}
