package supervisor

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// evalRules answers a call as a runtime's filter built from rules would: the action of a
// matching rule, SECCOMP_RET_ALLOW when none matches. It fails the test when two matching
// rules disagree, which would leave the answer to the runtime's rule order.
func evalRules(t *testing.T, rules []Rule, nr int, args [6]uint64) uint32 {
	t.Helper()
	var got uint32
	matched := false
	for _, r := range rules {
		if r.Nr != nr || !r.Match(args) {
			continue
		}
		var ret uint32
		switch r.Action {
		case RuleNotify:
			ret = retNotify
		case RuleErrno:
			ret = retErrno(r.Errno)
		default:
			t.Fatalf("%s: rule with action %d", shim.SyscallName(nr), r.Action)
		}
		if matched {
			require.Equal(t, got, ret, "%s %#x: matching rules disagree", shim.SyscallName(nr), args)
		}
		got, matched = ret, true
	}
	if !matched {
		return retAllow
	}
	return got
}

// TestRulesMatchFilter checks Rules against the program Filter builds, for every x86_64 call
// number: the same answer for argument vectors built from every constant the rules compare,
// alone, with high bits set (which the kernel ignores where it reads an int) and mixed.
func TestRulesMatchFilter(t *testing.T) {
	for _, o := range []FilterOptions{
		{},
		{Stat: true, Changes: true},
		{Stat: true, Changes: true, Signals: true, Keyring: true},
		{Signals: true, SyscallHandlers: []shim.SyscallHandler{fakeSyscalls{unix.SYS_UNAME, unix.SYS_GETDENTS64}}},
		{Stat: true, SyscallHandlers: []shim.SyscallHandler{fakeSyscalls{unix.SYS_GETRANDOM}, fakeRefuser{mmapDroppable}}},
	} {
		prog, err := Filter(o)
		require.NoError(t, err)
		rules, err := Rules(o)
		require.NoError(t, err)
		values := []uint64{0, 1, ^uint64(0), 1 << 32, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFSOCK, unix.S_IFIFO, unix.S_IFREG, unix.S_IFLNK}
		checked := map[int]bool{}
		for _, r := range rules {
			checked[r.Nr] = true
			for _, c := range r.Args {
				values = append(values, c.Value, c.Value|1<<32, c.Mask, ^c.Value)
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for nr := 0; nr < 512; nr++ {
			var vecs [][6]uint64
			for _, v := range values {
				for i := range 4 {
					var a [6]uint64
					a[i] = v
					vecs = append(vecs, a)
				}
			}
			if checked[nr] {
				for range 800 {
					var a [6]uint64
					for i := range 4 {
						a[i] = values[rng.IntN(len(values))]
					}
					vecs = append(vecs, a)
				}
			}
			for _, a := range vecs {
				want := bpfRun(t, prog, int32(nr), auditArchX86_64, a)
				if got := evalRules(t, rules, nr, a); got != want {
					t.Fatalf("%+v: %s %#x: rules say %#x, filter %#x", o, shim.SyscallName(nr), a, got, want)
				}
			}
		}
	}
}

// TestRulesNotifyWhatNotifiedLists: the calls some rule notifies are Notified's, split the same
// way: unconditionally notified calls are the always ones.
func TestRulesNotifyWhatNotifiedLists(t *testing.T) {
	o := FilterOptions{Stat: true, Changes: true, Signals: true}
	rules, err := Rules(o)
	require.NoError(t, err)
	always, sometimes, err := Notified(o)
	require.NoError(t, err)
	var gotAlways, gotSometimes []int
	for _, r := range rules {
		if r.Action != RuleNotify {
			continue
		}
		if len(r.Args) == 0 {
			gotAlways = append(gotAlways, r.Nr)
		} else if len(gotSometimes) == 0 || gotSometimes[len(gotSometimes)-1] != r.Nr {
			gotSometimes = append(gotSometimes, r.Nr)
		}
	}
	require.ElementsMatch(t, always, gotAlways)
	require.ElementsMatch(t, sometimes, gotSometimes)
}
