package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The runtime specification's shape of linux.seccomp, kept apart from
// oci.go's types so that a field oci.go misspells fails the strict decode below.
type specSeccomp struct {
	DefaultAction    string        `json:"defaultAction"`
	DefaultErrnoRet  *uint         `json:"defaultErrnoRet,omitempty"`
	Architectures    []string      `json:"architectures,omitempty"`
	Flags            []string      `json:"flags,omitempty"`
	ListenerPath     string        `json:"listenerPath,omitempty"`
	ListenerMetadata string        `json:"listenerMetadata,omitempty"`
	Syscalls         []specSyscall `json:"syscalls,omitempty"`
}

type specSyscall struct {
	Names    []string  `json:"names"`
	Action   string    `json:"action"`
	ErrnoRet *uint     `json:"errnoRet,omitempty"`
	Args     []specArg `json:"args,omitempty"`
}

type specArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// profileOf runs scrim oci profile with args and decodes its output strictly.
func profileOf(t *testing.T, args ...string) specSeccomp {
	t.Helper()
	r := scrim(t, append([]string{"oci", "profile"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	dec := json.NewDecoder(bytes.NewReader([]byte(r.stdout)))
	dec.DisallowUnknownFields()
	var p specSeccomp
	require.NoError(t, dec.Decode(&p))
	return p
}

// rulesOf turns a profile's syscalls back into supervisor rules.
func rulesOf(t *testing.T, p specSeccomp) []supervisor.Rule {
	t.Helper()
	var out []supervisor.Rule
	for _, e := range p.Syscalls {
		for _, name := range e.Names {
			nr, ok := shim.SyscallNumber(name)
			require.True(t, ok, name)
			r := supervisor.Rule{Nr: nr}
			switch e.Action {
			case "SCMP_ACT_NOTIFY":
				r.Action = supervisor.RuleNotify
				require.Nil(t, e.ErrnoRet, name)
			case "SCMP_ACT_ERRNO":
				r.Action = supervisor.RuleErrno
				require.NotNil(t, e.ErrnoRet, name)
				r.Errno = unix.Errno(*e.ErrnoRet)
			default:
				t.Fatalf("%s: action %s", name, e.Action)
			}
			for _, a := range e.Args {
				c := supervisor.ArgCond{Index: int(a.Index)}
				switch a.Op {
				case "SCMP_CMP_NE":
					c.Op, c.Value = supervisor.CmpNE, a.Value
				case "SCMP_CMP_MASKED_EQ":
					c.Op, c.Mask, c.Value = supervisor.CmpMaskedEQ, a.Value, a.ValueTwo
				default:
					t.Fatalf("%s: op %s", name, a.Op)
				}
				r.Args = append(r.Args, c)
			}
			out = append(out, r)
		}
	}
	return out
}

// TestOCIProfile: the profile is the filter's rules for the configuration, or for the
// profile its metadata names, in the runtime specification's shape: the same calls notified
// (always and for some arguments) as supervisor.Notified lists, the same refusals with the
// same errnos, and the listener.
func TestOCIProfile(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.toml")
	require.NoError(t, os.WriteFile(plain, []byte("[profiles.ci]\n"), 0o644))
	// The top level keeps the defaults: only the profile the metadata names differs.
	nostat := filepath.Join(dir, "nostat.toml")
	require.NoError(t, os.WriteFile(nostat, []byte("[profiles.ci]\nmediate_stat = false\nkeyring = true\n"), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		o    supervisor.FilterOptions
	}{
		{"defaults", []string{"-c", plain}, supervisor.FilterOptions{Stat: true, Changes: true}},
		{"no stat, keyring", []string{"-c", nostat}, supervisor.FilterOptions{Changes: true, Keyring: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profileOf(t, append([]string{"--socket", "/run/scrim/agent.sock", "--metadata", "profile=ci"}, tc.args...)...)
			require.Equal(t, "SCMP_ACT_ALLOW", p.DefaultAction)
			require.Equal(t, []string{"SCMP_ARCH_X86_64"}, p.Architectures)
			require.Equal(t, "/run/scrim/agent.sock", p.ListenerPath)
			require.Equal(t, "profile=ci", p.ListenerMetadata)
			got := rulesOf(t, p)
			// The built-in shims' syscall handlers, as scrim run builds them.
			h := testHandlers(t)
			tc.o.SyscallHandlers = h.syscalls
			want, err := supervisor.Rules(tc.o)
			require.NoError(t, err)
			require.ElementsMatch(t, want, got)

			always, sometimes, err := supervisor.Notified(tc.o)
			require.NoError(t, err)
			var gotAlways, gotSometimes []int
			for _, r := range got {
				switch {
				case r.Action != supervisor.RuleNotify:
				case len(r.Args) == 0:
					gotAlways = append(gotAlways, r.Nr)
				case !slices.Contains(gotSometimes, r.Nr):
					gotSometimes = append(gotSometimes, r.Nr)
				}
			}
			require.ElementsMatch(t, always, gotAlways)
			require.ElementsMatch(t, sometimes, gotSometimes)
			for _, name := range []string{"io_uring_setup", "mount", "ptrace", "bpf", "open_by_handle_at"} {
				nr, _ := shim.SyscallNumber(name)
				require.Contains(t, got, supervisor.Rule{Nr: nr, Action: supervisor.RuleErrno, Errno: refusal(name)}, name)
			}
		})
	}
}

func refusal(name string) unix.Errno {
	if name == "io_uring_setup" {
		return unix.ENOSYS
	}
	return unix.EPERM
}

func TestOCIProfileNeedsAbsoluteSocket(t *testing.T) {
	for _, args := range [][]string{{"oci", "profile"}, {"oci", "profile", "--socket", "agent.sock"}} {
		r := scrim(t, args...)
		require.Equal(t, exitFailure, r.code)
		require.Equal(t, "scrim oci profile: --socket: name the agent's socket by an absolute path; see 'scrim oci profile --help'\n", r.stderr)
		require.Empty(t, r.stdout)
	}
	// Every message of oci profile names it, as its -c and --metadata messages do.
	r := scrim(t, "oci", "profile", "--socket", "/run/agent.sock", "--bogus")
	require.Equal(t, exitFailure, r.code)
	require.Equal(t, "scrim oci profile: --bogus: unknown flag; see 'scrim oci profile --help'\n", r.stderr)
}

// testHandlers builds the handlers of the built-in defaults, as the commands do.
func testHandlers(t *testing.T) *handlers {
	t.Helper()
	cfg, ok := loadConfig(parsed{}, "test", os.Stderr)
	require.True(t, ok)
	h, err := buildHandlers(context.Background(), cfg, hclog.NewNullLogger(), false)
	require.NoError(t, err)
	t.Cleanup(func() { h.close(context.Background(), hclog.NewNullLogger()) })
	return h
}

// TestOCIProfileMetadata: metadata the agent would refuse (a profile the configuration does
// not have, a key scrim does not read) is refused when the profile is made, not when a
// container starts.
func TestOCIProfileMetadata(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[profiles.ci]\n"), 0o644))
	for _, tc := range []struct{ meta, err string }{
		{"profile=web", `profile "web": ` + cfg + ` has no [profiles.web]`},
		{"profle=ci", `unknown key "profle"; scrim reads profile=NAME`},
		{"ci", `field "ci" is not KEY=VALUE`},
	} {
		r := scrim(t, "oci", "profile", "--socket", "/run/scrim/agent.sock", "--metadata", tc.meta, "-c", cfg)
		require.Equal(t, exitFailure, r.code, tc.meta)
		require.Contains(t, r.stderr, tc.err, tc.meta)
		require.Empty(t, r.stdout)
	}
	p := profileOf(t, "--socket", "/run/scrim/agent.sock", "--metadata", "profile=ci, ", "-c", cfg)
	require.Equal(t, "profile=ci, ", p.ListenerMetadata, "passed through as written")
}
