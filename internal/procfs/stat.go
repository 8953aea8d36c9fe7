// Package procfs reads what scrim needs of /proc: the processes there, and of /proc/<pid>/stat
// the state, parent, process group and session of a process or thread. The launcher uses it to
// find the sandbox's processes and the supervisor to check a group kill.
package procfs

import (
	"bytes"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Stat is what scrim reads of /proc/<pid>/stat.
type Stat struct {
	State   byte // R, S, D, Z, ...
	PPID    int
	PGRP    int
	Session int
}

// ReadStat reads the state, parent, process group and session of pid (a process or a thread,
// named by its decimal pid) from its stat file, through the /proc descriptor proc, or from
// "/proc" when proc is AT_FDCWD.
func ReadStat(proc int, pid string) (Stat, bool) {
	name := pid + "/stat"
	if proc == unix.AT_FDCWD {
		name = "/proc/" + name
	}
	fd, err := unix.Openat(proc, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stat{}, false
	}
	// The parent is among the first fields; the command name before them is at most 64
	// bytes in parentheses.
	var buf [256]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || n <= 0 {
		return Stat{}, false
	}
	data := buf[:n]
	// The command name in parentheses may hold spaces and parentheses; the fields after
	// the last ')' are fixed: state, then ppid.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return Stat{}, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return Stat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	session, err3 := strconv.Atoi(string(f[3]))
	return Stat{State: f[0][0], PPID: ppid, PGRP: pgrp, Session: session}, err1 == nil && err2 == nil && err3 == nil
}

// Pids lists, in order, the processes in /proc for which keep is true.
func Pids(keep func(pid int) bool) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && keep(pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}
