package shim

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSyscallNamesMatchTheKernelHeader checks every name against the kernel's own numbering in
// the installed uapi header, so that a name typed against the wrong number cannot pass.
func TestSyscallNamesMatchTheKernelHeader(t *testing.T) {
	const header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
	f, err := os.Open(header)
	if os.IsNotExist(err) {
		t.Skipf("%s is missing (package linux-libc-dev)", header)
	}
	require.NoError(t, err)
	defer f.Close()
	define := regexp.MustCompile(`^#define __NR_([a-z0-9_]+) ([0-9]+)$`)
	kernel := map[int]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := define.FindStringSubmatch(s.Text()); m != nil {
			nr, err := strconv.Atoi(m[2])
			require.NoError(t, err)
			kernel[nr] = m[1]
		}
	}
	require.NoError(t, s.Err())
	require.NotEmpty(t, kernel)
	newest := 0
	for nr := range kernel {
		newest = max(newest, nr)
	}
	for nr, name := range syscallNames {
		if nr > newest {
			continue // newer than the installed header (Debian 12's ends before fchmodat2)
		}
		require.Equal(t, kernel[nr], name, "syscall %d", nr)
	}
}

func TestSyscallNameUnknown(t *testing.T) {
	require.Equal(t, "openat2", SyscallName(437))
	require.Equal(t, "syscall(9999)", SyscallName(9999))
	require.Equal(t, "syscall(-1)", SyscallName(-1))
}

func TestSyscallNumber(t *testing.T) {
	for nr, name := range syscallNames {
		got, ok := SyscallNumber(name)
		require.True(t, ok, name)
		require.Equal(t, nr, got, name)
	}
	_, ok := SyscallNumber("no_such_call")
	require.False(t, ok)
}
