package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/builtin"
	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestSyscallNamesCoverBuiltins checks that every call a built-in shim takes over has a name
// in shim.SyscallName, the one table the audit log and `scrim check` print from.
func TestSyscallNamesCoverBuiltins(t *testing.T) {
	seed := uint64(1)
	_, calls, err := builtin.New(builtin.Options{Hostname: "box", CPUs: 1, MemoryBytes: 1 << 30, RandomSeed: &seed})
	require.NoError(t, err)
	require.NotEmpty(t, calls)
	for _, c := range calls {
		for _, nr := range c.Syscalls() {
			require.NotContains(t, shim.SyscallName(nr), "syscall(", "%s takes over syscall %d", c.ID(), nr)
		}
	}
}

// TestCheck_SyscallNames turns on every shim that takes over other system calls and checks
// that `scrim check` names each call: the names come from shim.SyscallName, which the audit
// log uses too, so a call missing from that table shows here as a number.
func TestCheck_SyscallNames(t *testing.T) {
	r := scrim(t, "check", "--hostname", "box", "--cpus", "1", "--memory", "1G", "--random-seed", "1")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	_, calls, ok := strings.Cut(r.stdout, "other system calls taken over:\n")
	require.True(t, ok, "stdout: %s", r.stdout)
	require.NotContains(t, calls, "syscall(")
	for _, want := range []string{"getdents64", "uname", "sysinfo", "getrandom", "sched_getaffinity"} {
		require.Contains(t, calls, want)
	}
}

// checkChain returns the handler IDs `scrim check` lists under its open chain.
func checkChain(t *testing.T, stdout string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(stdout, "open chain, first decision wins:\n")
	require.True(t, ok, "stdout: %s", stdout)
	var ids []string
	for _, line := range strings.Split(rest, "\n") {
		if strings.HasPrefix(line, "last ") {
			return ids
		}
		fields := strings.Fields(line)
		require.GreaterOrEqual(t, len(fields), 2, "line %q", line)
		ids = append(ids, fields[1])
	}
	t.Fatalf("no last line in: %s", stdout)
	return nil
}

// runChain returns the handler IDs `scrim run` logs at debug level as its open chain.
func runChain(t *testing.T, stderr string) []string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		var rec struct {
			Message  string `json:"@message"`
			Handlers string `json:"handlers"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "open chain" {
			return strings.Fields(rec.Handlers)
		}
	}
	t.Fatalf("no open chain logged in: %s", stderr)
	return nil
}

// TestCheckAndRunListOneChain checks that `scrim check` lists the open chain `scrim run`
// uses, handler for handler, on the host's root and in image mode, where the supervisor adds
// a shim of its own.
func TestCheckAndRunListOneChain(t *testing.T) {
	prog := testprog.Go(t, "package main\n\nfunc main() {}\n")
	img := t.TempDir()
	require.NoError(t, os.Chmod(img, 0o755))
	for _, d := range []string{"bin", "proc", "dev", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(img, d), 0o755))
	}
	bin, err := os.ReadFile(prog)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(img, "bin", "prog"), bin, 0o755))
	motd, err := filepath.Abs("../../examples/motd/motd.wasm")
	require.NoError(t, err)

	flags := []string{"--cpus", "1", "--plugin", motd}
	for _, tc := range []struct {
		name  string
		flags []string
		cmd   string
		want  string
	}{
		{name: "host", cmd: prog},
		{name: "image", flags: []string{"--chroot", img}, cmd: "/bin/prog", want: "supervisor.image.mountinfo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string(nil), flags...), tc.flags...)
			c := scrim(t, append([]string{"check"}, args...)...)
			require.Equal(t, 0, c.code, "stderr: %s", c.stderr)
			r := scrim(t, append(append([]string{"run", "--log-level", "debug", "--log-format", "json"}, args...), "--", tc.cmd)...)
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			listed, used := checkChain(t, c.stdout), runChain(t, r.stderr)
			require.Equal(t, used, listed)
			require.Contains(t, listed, "plugin.motd")
			if tc.want != "" {
				require.Contains(t, listed, tc.want)
			}
		})
	}
}
