package builtin

import (
	"bytes"
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idProcPID = "builtin.procpid"

// procPID hides processes outside the sandbox: /proc/<pid> of a foreign pid, and everything
// below it, fails the way a pid that does not exist fails (ENOENT). Listing /proc is the
// listing's job; procPID tells it which entries to keep.
type procPID struct {
	list    *listing
	sandbox shim.Sandbox
	// mounts are the procfs mount points in the child's view.
	mounts []string
}

var (
	_ shim.Handler     = (*procPID)(nil)
	_ shim.OpHandler   = (*procPID)(nil)
	_ shim.Provisioner = (*procPID)(nil)
)

func newProcPID(_ Options, list *listing) (shim.Handler, error) {
	p := &procPID{list: list}
	list.add(p)
	return p, nil
}

func (p *procPID) ID() string { return idProcPID }

// Ops: a hidden process is hidden from every call, stat and readlink as much as open.
func (p *procPID) Ops() shim.OpSet { return shim.AllOps }

// Provision keeps the sandbox (membership is asked per call: it changes as processes come and
// go) and the procfs mount points.
func (p *procPID) Provision(env shim.Env) error {
	if env.Sandbox == nil {
		return fmt.Errorf("procpid: provision: no sandbox")
	}
	p.sandbox = env.Sandbox
	p.mounts = procMounts(rootOf(env, ""))
	return nil
}

// Open answers ENOENT for /proc/<pid>[/...] and /proc/<pid>/task/<tid>[/...] when the pid or
// tid is not the sandbox's.
func (p *procPID) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	obj := req.Object
	if obj.Exists && obj.FsType != unix.PROC_SUPER_MAGIC {
		return shim.Next(), nil
	}
	for _, m := range p.mounts {
		if !under(req.Path, m) || len(req.Path) == len(m) {
			continue
		}
		if p.foreign(req.Path[len(m)+1:]) {
			return shim.Deny(unix.ENOENT), nil
		}
	}
	return shim.Next(), nil
}

// foreign reports whether rel, a path below a procfs mount, names a pid or tid outside the
// sandbox.
func (p *procPID) foreign(rel []byte) bool {
	first, rest, _ := bytes.Cut(rel, []byte("/"))
	pid, ok := procEntry(first)
	if !ok {
		return false
	}
	if p.sandbox == nil || !p.sandbox.Contains(pid) {
		return true
	}
	task, rest, _ := bytes.Cut(rest, []byte("/"))
	if string(task) != "task" {
		return false
	}
	tidName, _, _ := bytes.Cut(rest, []byte("/"))
	tid, ok := procEntry(tidName)
	return ok && !p.sandbox.Contains(tid)
}

// filter keeps, in a procfs root directory, only the sandbox's pids and the non-pid entries.
func (p *procPID) filter(st *unix.Stat_t, fs int64) func(name []byte) bool {
	if fs != unix.PROC_SUPER_MAGIC || st.Ino != procRootIno {
		return nil
	}
	return func(name []byte) bool {
		pid, ok := procEntry(name)
		return !ok || (p.sandbox != nil && p.sandbox.Contains(pid))
	}
}

// procRootIno is the inode number of every procfs root (fs/proc/internal.h PROC_ROOT_INO).
const procRootIno = 1
