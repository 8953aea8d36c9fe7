package supervisor

// Where the kernel cannot keep the sandbox's signals in (no Landlock, or a Landlock ABI below
// 6), the filter notifies the kill family and fcntl(F_SETOWN), and scrim decides here: a call
// that names one process goes through (CONTINUE, so the kernel sends it with the right sender)
// only when that process belongs to the sandbox; a call that names a group or every process
// is carried out by scrim, process by process, for the sandbox's own processes only. A
// process outside the sandbox answers as one that does not exist (ESRCH), as /proc shows it.
//
// What remains open is a pid's reuse between the check and the CONTINUE: a sandbox process
// that exits is reaped only after scrim forgot it (keeper.go), but a check that was already
// made can let a signal reach a process that took the pid in the microseconds between. On
// kernels with the signal scope, the kernel decides and nothing is left open
// (docs/security.md).

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/internal/procfs"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// handlerSignals names the signal decisions in the audit log.
const handlerSignals = "scrim.signals"

// isSignalCall reports whether nr is a call handleSignal decides.
func isSignalCall(nr int) bool {
	if nr == sysFcntl {
		return true
	}
	for _, k := range killFamily {
		if k == nr {
			return true
		}
	}
	return false
}

// handleSignal answers one call of the kill family, or fcntl(F_SETOWN).
func (s *Core) handleSignal(n *seccomp.Notif, start time.Time) {
	tid := int(n.Pid)
	a := n.Data.Args
	nr := int(n.Data.Nr)
	seq := s.nextSeq()
	// The kernel reads pids as pid_t, signals as int: the low words.
	arg := func(i int) int { return int(int32(a[i])) }
	var errno unix.Errno
	// cont lets the kernel make the call; performed says scrim made it (a group kill).
	cont, performed := false, false
	switch nr {
	case unix.SYS_KILL:
		if pid := arg(0); pid > 0 {
			cont = s.cfg.Members.Contains(pid)
		} else {
			errno, performed = s.killGroup(tid, pid, arg(1)), true
		}
	case unix.SYS_TKILL, unix.SYS_RT_SIGQUEUEINFO, unix.SYS_PIDFD_OPEN:
		// A pid of 0 or below names no one here: the kernel refuses it by itself.
		pid := arg(0)
		cont = pid <= 0 || s.cfg.Members.Contains(pid)
	case unix.SYS_TGKILL, unix.SYS_RT_TGSIGQUEUEINFO:
		tgid, t := arg(0), arg(1)
		cont = tgid <= 0 || t <= 0 || (s.cfg.Members.Contains(tgid) && s.cfg.Members.Contains(t))
	case sysFcntl:
		// F_SETOWN: a positive pid is a process, a negative one a process group, 0 no owner.
		// A group is refused: its members can change, and scrim and the keeper share the
		// sandbox's first group.
		switch pid := arg(2); {
		case pid == 0:
			cont = true
		case pid > 0:
			cont = s.cfg.Members.Contains(pid)
		default:
			errno = unix.EPERM
		}
	default:
		s.log.Error("notification for an unhandled syscall", "syscall", nr, "tid", tid)
		errno = unix.ENOSYS
	}
	if !cont && !performed && errno == 0 {
		errno = unix.ESRCH
		if nr == sysFcntl {
			errno = unix.EPERM
		}
	}
	s.respond(n.ID, 0, errno, cont)
	if s.cfg.Audit != nil {
		rec := audit.Record{Time: start, Seq: seq, TID: tid, Syscall: shim.SyscallName(nr), NoPath: true,
			Handler: handlerSignals, Verdict: "continue"}
		if tgid, err := s.tgids.tgid(tid); err == nil {
			rec.PID = tgid
		}
		switch {
		case errno != 0:
			rec.Verdict, rec.Errno = "deny", unix.ErrnoName(errno)
		case performed:
			rec.Verdict = "real"
		}
		rec.Micros = time.Since(start).Microseconds()
		s.cfg.Audit.Record(rec)
	}
}

// killGroup carries out kill(pid, sig) for pid 0 (the caller's process group), below -1 (the
// group -pid) or -1 (every process the caller may signal), for the sandbox's processes only,
// and returns the errno the caller gets: none when one process was signalled, as the kernel
// does, EPERM when only some were refused, ESRCH when there were none.
//
// Each signal goes out through a pidfd, after checking again that the pidfd's process is in
// the sandbox, so a pid freed and reused meanwhile is never signalled. The receiver sees
// si_code SI_QUEUE with the caller's pid and uid where the kernel would have written SI_USER:
// the nearest a supervisor can come to sending as the caller.
func (s *Core) killGroup(tid, pid, sig int) unix.Errno {
	if sig < 0 || sig > 64 {
		return unix.EINVAL
	}
	caller, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(tid))
	if !ok {
		return unix.ESRCH
	}
	tgid, err := s.tgids.tgid(tid)
	if err != nil {
		return unix.ESRCH
	}
	cred, err := readKillCred(tid)
	if err != nil {
		return unix.ESRCH
	}
	group := -pid
	if pid == 0 {
		group = caller.PGRP
	}
	result := unix.ESRCH
	for _, p := range s.cfg.Members.Pids() {
		st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(p))
		if !ok {
			continue
		}
		if pid == -1 {
			// Every process but the caller's own (and init, never in a sandbox).
			if p == tgid || p == 1 {
				continue
			}
		} else if st.PGRP != group {
			continue
		}
		target, err := readKillCred(p)
		if err != nil {
			continue
		}
		if !mayKill(cred, target, sig, st.Session == caller.Session) {
			if result == unix.ESRCH {
				result = unix.EPERM
			}
			continue
		}
		if s.signal(p, sig, tgid, cred.uid) {
			result = 0
		}
	}
	return result
}

// killCred is what kill(2)'s permission check reads of a process's credentials.
type killCred struct {
	uid, euid, suid uint32
	capKill         bool
}

// readKillCred reads pid's real, effective and saved uids and whether CAP_KILL is effective.
func readKillCred(pid int) (killCred, error) {
	var c killCred
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return c, err
	}
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		f := bytes.Fields(val)
		switch string(key) {
		case "Uid":
			if len(f) == 4 {
				ids := [3]uint32{}
				for i := range ids {
					v, _ := strconv.ParseUint(string(f[i]), 10, 32)
					ids[i] = uint32(v)
				}
				c.uid, c.euid, c.suid = ids[0], ids[1], ids[2]
			}
		case "CapEff":
			if len(f) == 1 {
				v, _ := strconv.ParseUint(string(f[0]), 16, 64)
				c.capKill = v&(1<<unix.CAP_KILL) != 0
			}
		}
	}
	return c, nil
}

// mayKill is kill(2)'s permission check (kill_ok_by_cred and the SIGCONT exception of
// check_kill_permission in kernel/signal.c), for processes of one user namespace.
func mayKill(from, to killCred, sig int, sameSession bool) bool {
	if sig == int(unix.SIGCONT) && sameSession {
		return true
	}
	if from.capKill {
		return true
	}
	return from.euid == to.suid || from.euid == to.uid || from.uid == to.suid || from.uid == to.uid
}

// signal sends sig to the process pid, if it is still the sandbox's, as sent by the caller
// (its tgid and uid). Signal 0 only checks. It reports whether the process was reached.
func (s *Core) signal(pid, sig, from int, uid uint32) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if !s.cfg.Members.Contains(pid) {
		return false
	}
	if sig == 0 {
		return true
	}
	info := queuedSiginfo(sig, from, uid)
	return unix.PidfdSendSignal(fd, unix.Signal(sig), &info, 0) == nil
}
