package launch

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// unameShim answers uname(2) with a fixed nodename, the rest from the host.
type unameShim struct {
	provisioned, validated, cleaned bool
	sandbox                         shim.Sandbox
	sawPID                          bool
}

func (u *unameShim) ID() string      { return "test.uname" }
func (u *unameShim) Syscalls() []int { return []int{unix.SYS_UNAME} }
func (u *unameShim) Provision(env shim.Env) error {
	u.provisioned, u.sandbox = true, env.Sandbox
	return nil
}
func (u *unameShim) Validate() error { u.validated = true; return nil }
func (u *unameShim) Cleanup() error  { u.cleaned = true; return nil }

func (u *unameShim) Syscall(ctx context.Context, call *shim.Call) (shim.SyscallResult, error) {
	u.sawPID = u.sandbox.Contains(call.PID) && u.sandbox.Contains(call.TID) && slices.Contains(u.sandbox.Pids(), call.PID)
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return shim.Fail(unix.EFAULT), nil
	}
	copy(uts.Nodename[:], "scrim-test-host\x00")
	buf := make([]byte, 6*65)
	for i, f := range [][65]byte{uts.Sysname, uts.Nodename, uts.Release, uts.Version, uts.Machine, uts.Domainname} {
		copy(buf[i*65:], f[:])
	}
	if _, err := call.Mem.WriteAt(buf, call.Args[0]); err != nil {
		return shim.Fail(unix.EFAULT), nil
	}
	return shim.Return(0), nil
}

func TestSyscallHandler(t *testing.T) {
	u := &unameShim{}
	rec := &memAudit{}
	status, out, serr := runOut(t, Config{Args: []string{"uname", "-n"}, SyscallHandlers: []shim.SyscallHandler{u}, Audit: rec})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "scrim-test-host\n", out)
	var unames int
	for _, r := range rec.find("") {
		if r.Syscall == "uname" {
			unames++
			require.Equal(t, "test.uname", r.Handler)
			require.Equal(t, "serve", r.Verdict)
			require.Positive(t, r.PID)
		}
	}
	require.Positive(t, unames)
	require.True(t, u.provisioned && u.validated && u.cleaned, "lifecycle: %+v", u)
	require.True(t, u.sawPID, "the caller belongs to the sandbox")
}

type failingValidator struct{ unameShim }

func (f *failingValidator) Validate() error { return errors.New("not ready") }

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no command", Config{}},
		{"two handlers claim uname", Config{Args: []string{"true"}, SyscallHandlers: []shim.SyscallHandler{&unameShim{}, &unameShim{}}}},
		{"a handler claims a denied call", Config{Args: []string{"true"}, SyscallHandlers: []shim.SyscallHandler{&mountShim{}}}},
		{"validation fails", Config{Args: []string{"true"}, SyscallHandlers: []shim.SyscallHandler{&failingValidator{}}}},
		{"unknown band", Config{Args: []string{"true"}, Handlers: []shim.Registration{{Handler: &fixedShim{id: "x"}, Band: 9}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			require.Error(t, err)
		})
	}
}

type mountShim struct{ unameShim }

func (m *mountShim) Syscalls() []int { return []int{unix.SYS_MOUNT} }

func TestSandboxContains(t *testing.T) {
	s, err := New(Config{Args: []string{"true"}})
	require.NoError(t, err)
	sb := s.Sandbox()
	require.NotNil(t, sb)
	require.False(t, sb.Contains(unix.Getpid()), "scrim itself")
	require.False(t, sb.Contains(1))
	require.False(t, sb.Contains(0))
	require.Equal(t, "/", sb.Root())
}
