package launch

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// TestBypassDenied runs a program that tries each call that would bypass mediation inside the
// sandbox and checks each fails with the errno the filter promises.
func TestBypassDenied(t *testing.T) {
	src, err := os.ReadFile("testdata/bypass.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	status, out, serr := runOut(t, Config{Args: []string{prog}})
	require.Equal(t, 0, status, serr)
	want := map[string]string{
		"io_uring_setup":    "ENOSYS",
		"name_to_handle_at": "EOPNOTSUPP",
		"open_by_handle_at": "EPERM",
		"x32_open":          "ENOSYS",
		"x32_openat":        "ENOSYS",
		"int80_open":        "ENOSYS",
		"unshare_newuser":   "EPERM",
		"unshare_newns":     "EPERM",
		"clone_newuser":     "EPERM",
		"clone3":            "ENOSYS",
		"setns":             "EPERM",
		"mount":             "EPERM",
		"open_tree":         "EPERM",
		"fsopen":            "EPERM",
		"fspick":            "EPERM",
		"move_mount":        "EPERM",
		"mount_setattr":     "EPERM",
		"pivot_root":        "EPERM",
		"chroot":            "EPERM",
		"ptrace_attach":     "EPERM",
		"process_vm_readv":  "EPERM",
		"bpf":               "EPERM",
		"userfaultfd":       "EPERM",
		"perf_event_open":   "EPERM",
		"kexec_load":        "EPERM",
		"init_module":       "EPERM",
		"delete_module":     "EPERM",
		"seccomp_listener":  "EPERM",
		"seccomp_plain":     "OK",
		"fork":              "OK",
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, res, ok := strings.Cut(line, " ")
		require.True(t, ok, line)
		got[name] = res
	}
	require.Equal(t, want, got)
}
