// Package audit writes scrim's audit log: one JSON object per line, one line per mediated call.
package audit

import "time"

// Record is one mediated call as it appears in the audit log.
type Record struct {
	// Time is when scrim took the call up.
	Time time.Time `json:"time"`
	// Seq numbers the calls of one run from 1, in the order scrim took them up: a call made
	// after another returned has the higher number, whichever threads made them and whichever
	// order their lines reach the log in. A gap is a dropped record.
	Seq     uint64 `json:"seq"`
	PID     int    `json:"pid"`
	TID     int    `json:"tid"`
	Syscall string `json:"syscall"`
	// Container is the id of the container the call came from when scrim serves containers
	// as their runtime's seccomp agent; "" for scrim run, which leaves it out of the line.
	Container string `json:"container,omitempty"`
	// NoPath marks a call that names no path (uname, getdents64, kill): Spelled and Path are
	// left out of its line.
	NoPath bool `json:"-"`
	// Spelled is the path as the child passed it (its first PATH_MAX bytes when it is longer,
	// which the call fails with ENAMETOOLONG); Path is the canonical path it resolved to, ""
	// when the call failed before that. Both are the raw bytes, written as JSON strings
	// (invalid UTF-8 is escaped, not lost).
	Spelled string `json:"spelled"`
	Path    string `json:"path"`
	// Spelled2 and Path2 are the second path of the calls that take two (rename, link), ""
	// for the others, which leave them out of their lines.
	Spelled2 string `json:"spelled2,omitempty"`
	Path2    string `json:"path2,omitempty"`
	// Handler is the ID of the handler that decided ("builtin.hosts", "plugin.motd"), or
	// "root" for the real open.
	Handler string `json:"handler"`
	// Verdict is "serve", "deny", "real", "continue" (fast mode) or "error".
	Verdict string `json:"verdict"`
	// Errno is the errno name the child got ("EACCES"), empty on success.
	Errno string `json:"errno,omitempty"`
	// Micros is the time from receiving the notification to answering it.
	Micros int64 `json:"us"`
	// Plugin, when set, makes this record not a call but one plugin's counters at exit; the
	// call fields above are then unused.
	Plugin *PluginStats `json:"-"`
}

// PluginStats is one plugin's counters for the whole run, written as the last lines of the
// audit log: {"time":…,"plugin":"motd","calls":…,"faults":…,"traps":…,"timeouts":…,
// "broken":…,"replaced":…,"mean_us":…,"max_us":…}.
type PluginStats struct {
	Name                                             string
	Calls, Faults, Traps, Timeouts, Broken, Replaced uint64
	MeanMicros, MaxMicros                            int64
}

// Sink receives audit records. Record must not block on disk I/O: the child waits for the
// answer, not for the log.
type Sink interface {
	Record(r Record)
}
