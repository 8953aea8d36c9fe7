package supervisor

import "golang.org/x/sys/unix"

// Injecting a descriptor costs wake-ups that answering CONTINUE does not: SECCOMP_IOCTL_NOTIF_ADDFD
// wakes the child to install the file while the worker waits, and the child wakes the worker
// when it has. The kernel wakes the child with a plain complete(), so the scheduler, seeing the
// worker still running on the child's CPU, moves the child to an idle CPU; the worker is then
// woken on another idle CPU. On a VM whose idle CPUs halt, each such wake-up costs tens of
// microseconds, ten times the rest of the open (RATIONALE.md, "Why does the worker lend its CPU
// to the child while it injects?").
//
// lendCPU keeps the child on its CPU for the length of the ioctl: the worker drops to
// SCHED_IDLE, so the scheduler counts that CPU as idle and wakes the child right there, where it
// preempts the worker at once. Afterwards the worker's policy is put back. The worker's own
// wake-up may still go to the other CPU; that is off the child's path, since the loop's other
// lane already waits for the child's next call (loop.go). Going back from SCHED_IDLE needs
// CAP_SYS_NICE (or an RLIMIT_NICE few systems grant), so only a thread that holds it lends.
//
// A SCHED_IDLE thread that wakes where every CPU is busy waits behind all of it. So a worker
// lends only while no other lane is answering a call (the child is waiting on this worker
// alone): with a busy multi-threaded child both lanes work, the CPUs are not idle anyway, and
// lending would only stall the workers (8 threads fell from 1.5x to 0.7x of one thread's
// throughput). Should a lender still be held up, the watchdog hands its lane on after
// resignAfter, as for any slow call.

// capSysNice is CAP_SYS_NICE's bit in a capability set.
const capSysNice = 1 << unix.CAP_SYS_NICE

// lender is what a worker thread needs to lend its CPU: its scheduling policy as it was when
// the thread started, which it must return to.
type lender struct {
	ok   bool // the thread runs SCHED_OTHER (any nice) and may lend
	nice int32
	// broken is set if the thread could not return to SCHED_OTHER: it must stop serving
	// calls, or it would answer them at idle priority.
	broken bool
}

// newLender reads the calling thread's scheduling policy. A thread under a real-time or batch
// policy (the user's choice for scrim) keeps it untouched.
func newLender() lender {
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil || a.Policy != unix.SCHED_NORMAL {
		return lender{}
	}
	return lender{ok: true, nice: a.Nice}
}

// lendCPU runs f (the ADDFD ioctl) with the worker at SCHED_IDLE, if the thread may;
// otherwise it just runs f. effCaps is the thread's effective capability set
// at the time, which may be the child's.
func (l *lender) lendCPU(effCaps uint64, f func()) {
	if !l.ok || effCaps&capSysNice == 0 {
		f()
		return
	}
	idle := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	lowered := unix.SchedSetAttr(0, &idle, 0) == nil
	f()
	if lowered {
		back := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: l.nice}
		if unix.SchedSetAttr(0, &back, 0) != nil {
			l.broken = true
		}
	}
}
