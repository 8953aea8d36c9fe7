package supervisor

import (
	"math/bits"
	"slices"
	"sort"

	"golang.org/x/sys/unix"
)

// Rules describe the filter Filter builds in the terms a container runtime's seccomp profile
// uses (libseccomp's: a rule per call, with conditions on 64-bit arguments), so that a
// runtime that installs the filter itself sends scrim the calls scrim's own filter would, and
// refuses what it refuses. They are derived from the tables buildFilter reads, never kept by
// hand, and TestRulesMatchFilter checks them against the BPF program.

// RuleAction is what a rule does with a call it matches.
type RuleAction int

// The rule actions. A call no rule matches is allowed.
const (
	// RuleNotify sends the call to the supervisor (SCMP_ACT_NOTIFY).
	RuleNotify RuleAction = iota + 1
	// RuleErrno fails the call with Rule.Errno (SCMP_ACT_ERRNO).
	RuleErrno
)

// CmpOp compares one argument in a rule's condition.
type CmpOp int

// The comparisons rules use.
const (
	// CmpNE holds when the argument is not Value (SCMP_CMP_NE).
	CmpNE CmpOp = iota + 1
	// CmpMaskedEQ holds when the argument ANDed with Mask is Value (SCMP_CMP_MASKED_EQ).
	CmpMaskedEQ
)

// ArgCond is one condition of a rule on a call's argument Index (0-5), compared as 64 bits.
type ArgCond struct {
	Index int
	Op    CmpOp
	Mask  uint64
	Value uint64
}

// Rule is one entry of the filter's description: calls Nr whose arguments meet every condition
// of Args get Action. Rules of one call that can match the same arguments have the same action,
// so a runtime may evaluate them in any order.
type Rule struct {
	Nr     int
	Action RuleAction
	// Errno is the error of a RuleErrno rule.
	Errno unix.Errno
	Args  []ArgCond
}

// low32 masks an argument the kernel reads as an int or unsigned int, as the filter's
// 32-bit loads do: a value with high bits set means the same call to the kernel.
const low32 = 0xffffffff

// Rules describes the filter Filter(o) builds for x86_64, as rules sorted by call number. It
// says nothing of other architectures and of x32 numbers, which Filter refuses whole.
func Rules(o FilterOptions) ([]Rule, error) {
	handled, err := handledCalls(o)
	if err != nil {
		return nil, err
	}
	opts := o.internal()
	var out []Rule
	notify := func(nr int, args ...ArgCond) {
		out = append(out, Rule{Nr: nr, Action: RuleNotify, Args: args})
	}
	refuse := func(nr int, e unix.Errno, args ...ArgCond) {
		out = append(out, Rule{Nr: nr, Action: RuleErrno, Errno: e, Args: args})
	}
	eq32 := func(i int, v uint32) ArgCond {
		return ArgCond{Index: i, Op: CmpMaskedEQ, Mask: low32, Value: uint64(v)}
	}
	for _, nr := range openFamily {
		notify(nr)
	}
	for _, nr := range handled {
		if opts.statNull && slices.Contains(nullPathCalls, nr) {
			// The path pointer is the second argument; NULL looks nothing up.
			notify(nr, ArgCond{Index: 1, Op: CmpNE, Value: 0})
			continue
		}
		notify(nr)
	}
	for _, d := range refused(opts) {
		refuse(d.nr, d.errno)
	}
	for _, nr := range credCalls {
		notify(nr)
	}
	if opts.signals {
		for _, nr := range killFamily {
			notify(nr)
		}
	}
	// "Any namespace flag set" is one rule per flag: a runtime ORs rules, not bits.
	for _, c := range []struct {
		nr   int
		mask uint32
	}{{sysClone, cloneNamespaceMask}, {sysUnshare, unshareNamespaceMask}} {
		for m := c.mask; m != 0; m &= m - 1 {
			bit := uint64(1) << bits.TrailingZeros32(m)
			refuse(c.nr, unix.EPERM, ArgCond{Index: 0, Op: CmpMaskedEQ, Mask: bit, Value: bit})
		}
	}
	refuse(sysSeccomp, unix.EPERM, eq32(0, unix.SECCOMP_SET_MODE_FILTER),
		ArgCond{Index: 1, Op: CmpMaskedEQ, Mask: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, Value: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER})
	ioctls := deniedIoctls
	if opts.signals {
		ioctls = append(append([]uint32{}, deniedIoctls...), ownerIoctls...)
	}
	for _, req := range ioctls {
		refuse(sysIoctl, unix.EPERM, eq32(1, req))
	}
	if opts.signals {
		notify(sysFcntl, eq32(1, unix.F_SETOWN))
		refuse(sysFcntl, unix.EPERM, eq32(1, unix.F_SETOWN_EX))
	}
	for _, c := range []struct{ nr, arg int }{{sysMknod, 1}, {sysMknodat, 2}} {
		const both = modeDevBit | modeNotDevBit
		refuse(c.nr, unix.EPERM, ArgCond{Index: c.arg, Op: CmpMaskedEQ, Mask: both, Value: modeDevBit})
		if opts.changes {
			// The rest, the complement of the device rule, as two rules a runtime ORs.
			notify(c.nr, ArgCond{Index: c.arg, Op: CmpMaskedEQ, Mask: modeDevBit, Value: 0})
			notify(c.nr, ArgCond{Index: c.arg, Op: CmpMaskedEQ, Mask: modeNotDevBit, Value: modeNotDevBit})
		}
	}
	for _, opt := range credPrctls {
		notify(sysPrctl, eq32(0, opt))
	}
	for _, r := range opts.argRefusals {
		if err := checkRefusal(r); err != nil {
			return nil, err
		}
		refuse(r.Nr, r.Errno, ArgCond{Index: r.Arg, Op: CmpMaskedEQ, Mask: r.Mask, Value: r.Value})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Nr < out[j].Nr })
	return out, nil
}

// Match reports whether args meet every condition of r, as a runtime's filter compares them.
func (r Rule) Match(args [6]uint64) bool {
	for _, c := range r.Args {
		a := args[c.Index]
		switch c.Op {
		case CmpNE:
			if a == c.Value {
				return false
			}
		case CmpMaskedEQ:
			if a&c.Mask != c.Value {
				return false
			}
		default:
			return false
		}
	}
	return true
}
