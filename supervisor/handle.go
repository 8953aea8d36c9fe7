package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/resolver"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// sysOf names a call the resolver reads: the open family, and the stat-like calls when the
// filter notifies them.
func sysOf(nr int32) (shim.Syscall, bool) { return resolver.SyscallOf(int(nr)) }

// mediates reports whether calls of op go through the resolver and the chain.
func (s *Core) mediates(op shim.Op) bool {
	switch {
	case op == shim.OpOpen:
		return true
	case op.Changes() || op == shim.OpExec:
		return s.cfg.Changes
	}
	return s.cfg.Stat
}

// handle answers one notification on the worker's thread t. Every path ends in exactly one
// answer (or none when the call is gone).
func (s *Core) handle(ctx context.Context, t *thread, n *seccomp.Notif, start time.Time) {
	if s.log.IsTrace() {
		s.log.Trace("notification", "tid", n.Pid, "syscall", n.Data.Nr, "id", n.ID)
	}
	if sys, ok := sysOf(n.Data.Nr); ok && s.mediates(sys.Op()) {
		s.handleOpen(ctx, t, n, sys, start)
		return
	}
	if isCredCall(int(n.Data.Nr)) {
		// The call may change credentials or the umask: from now on read them per call.
		// Nothing was decided, so letting the kernel run it is sound.
		if n.Data.Nr == unix.SYS_UMASK {
			s.umaskDirty.Store(true)
		} else {
			s.credDirty.Store(true)
		}
		s.respond(n.ID, 0, 0, true)
		return
	}
	if h, ok := s.sysHandlers[int(n.Data.Nr)]; ok {
		s.handleSyscall(ctx, t, n, h, start)
		return
	}
	if s.cfg.Signals && isSignalCall(int(n.Data.Nr)) {
		s.handleSignal(n, start)
		return
	}
	// The filter notified a call no one handles: a wiring bug. Fail closed.
	s.log.Error("notification for an unhandled syscall", "syscall", n.Data.Nr, "tid", n.Pid)
	s.respond(n.ID, 0, unix.ENOSYS, false)
}

func (s *Core) respond(id uint64, val int64, errno unix.Errno, cont bool) {
	r := seccomp.NotifResp{ID: id, Val: val}
	if errno != 0 {
		r.Error = -int32(errno)
	}
	if cont {
		r.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	}
	if e := seccomp.Send(s.listener, &r); e != 0 && e != unix.ENOENT {
		s.log.Error("cannot answer a notification", "error", e)
	}
}

// opCall is what is known about one open-family call, for its answer and its audit record.
type opCall struct {
	n       *seccomp.Notif
	t       *thread
	sys     shim.Syscall
	tgid    int
	spelled []byte
	path    []byte
	// spelled2 and path2 are a rename's or link's second path.
	spelled2, path2 []byte
	// noPath marks a call on a descriptor that names no path.
	noPath  bool
	seq     uint64
	handler string
	verdict string
	errno   unix.Errno
	start   time.Time
}

func (s *Core) handleOpen(ctx context.Context, t *thread, n *seccomp.Notif, sys shim.Syscall, start time.Time) {
	tid := int(n.Pid)
	// The call's state lives in the worker's scratch (thread.call), reused call after call:
	// nothing of it outlives the answer (handlers must not keep the Request).
	sc := &t.call
	c := &sc.op
	*c = opCall{n: n, t: t, sys: sys, start: start, handler: rootHandlerID, seq: s.nextSeq()}
	defer s.audit(c)
	tgid, err := s.tgids.tgid(tid)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.tgid = tgid
	// Reading another user's memory takes CAP_SYS_PTRACE, which the thread may have dropped
	// for the previous caller: the read takes it back only if the kernel asks for it, so a
	// run of calls from one caller switches no credentials at all.
	mem := &sc.mem
	*mem = memory{listener: s.listener, id: n.ID, tid: tid, procMem: s.procMem, t: t}
	in := &sc.in
	*in, err = resolver.Decode(int(n.Data.Nr), n.Data.Args, tgid, tid, mem)
	c.spelled, c.spelled2 = in.Path, in.Path2
	if errors.Is(err, resolver.ErrNoPath) {
		// utimensat or futimesat on a descriptor the caller holds: no name to decide on,
		// and nothing read from memory decides.
		c.verdict, c.noPath = "continue", true
		s.respond(n.ID, 0, 0, true)
		return
	}
	if err != nil {
		s.failOrDeny(c, err)
		return
	}
	ch := &sc.child
	*ch = child{s: s, t: t, tid: tid, tgid: tgid, id: n.ID,
		creates: in.Flags&unix.O_CREAT != 0 || in.Flags&unix.O_TMPFILE == unix.O_TMPFILE || in.Op() == shim.OpCreate,
		execs:   in.Op() == shim.OpExec}
	cred, umask, err := ch.Cred()
	if err != nil {
		s.fail(c, err)
		return
	}
	want := fsCredOf(cred, umask)
	if in.Op() == shim.OpAccess && in.AtFlags&unix.AT_EACCESS == 0 {
		// access(2) looks up and checks with the real ids (access_override_creds), and
		// with no capabilities unless the real uid is root.
		want.FSUID, want.FSGID = cred.UID, cred.GID
		if cred.UID != 0 {
			want.CapEff = 0
		}
	}
	if in.Op() == shim.OpExec {
		// The kernel runs the program and checks the exec itself; scrim's walk only finds
		// the object to decide on, and a child may hold capabilities scrim lacks (the stub,
		// in image mode's user namespace, until its exec). A walk that fails with fewer
		// capabilities fails the exec: closed, not open.
		want.CapEff &= t.self.CapEff
	}
	if err := t.become(&want); err != nil {
		s.fail(c, err)
		return
	}
	res := &sc.res
	if err := s.resolver.ResolveInto(res, in, ch); err != nil {
		s.failOrDeny(c, err)
		return
	}
	defer res.Close()
	req := &res.Request
	c.path = req.Path
	d := s.chain.run(ctx, req)
	c.handler = d.handler
	if d.err != nil {
		s.log.Error("handler failed", "shim", d.handler, "tid", tid, "path", string(req.Path), "error", d.err)
		c.verdict = "error"
		s.answerErrno(c, unix.EIO)
		return
	}
	if s.log.IsDebug() {
		s.log.Debug("decided", "shim", d.handler, "tid", tid, "syscall", sys.String(), "path", string(req.Path), "action", d.res.Action.String())
	}
	if (req.Op.Changes() || req.Op == shim.OpExec) && d.res.Action != shim.ActDeny {
		s.answerChange(ctx, c, res, in, d)
		return
	}
	if req.Op != shim.OpOpen && d.res.Action == shim.ActServe {
		s.answerServed(ctx, c, res, in, d)
		return
	}
	if req.Op != shim.OpOpen && d.res.Action != shim.ActDeny {
		// Next and Real answer with the real object.
		c.verdict = "real"
		if s.cfg.Mode == ModeFast && d.res.Action == shim.ActNext {
			c.verdict = "continue"
			s.respond(n.ID, 0, 0, true)
			return
		}
		s.answerOp(c, res, in)
		return
	}
	switch d.res.Action {
	case shim.ActDeny:
		c.verdict = "deny"
		if req.Op == shim.OpXattr && d.res.Errno != unix.ENOENT {
			// A denied object shows as it is, but for its attributes (see shim.OpHandler).
			s.answerNoXattrs(c, in)
			return
		}
		s.answerErrno(c, d.res.Errno)
	case shim.ActServe:
		c.verdict = "serve"
		f, errno, err := contentFile(req, d.res.Content, &s.memfds, s.log)
		if err != nil {
			s.fail(c, fmt.Errorf("serve %s: %w", req.Path, err))
			return
		}
		if errno != 0 {
			s.answerErrno(c, errno)
			return
		}
		// A handler's own File may be anything; Bytes and Streams are scrim's memfds and
		// pipes, for which scrim's copy does not matter.
		var mode uint32
		if _, ok := d.res.Content.(shim.File); ok {
			mode = fileMode(f)
		}
		s.inject(c, f, req.Flags, mode)
	default:
		c.verdict = "real"
		if s.cfg.Mode == ModeFast && d.res.Action == shim.ActNext {
			// Not race-proof, by the user's choice (--mode fast): the kernel reads the path
			// again and another thread may have changed it.
			c.verdict = "continue"
			s.respond(n.ID, 0, 0, true)
			return
		}
		s.openReal(c, req)
	}
}

// answerChange answers a call that changes names or objects, or exec, whose first path the
// chain let through (d). A rename's or link's second path is resolved and decided too, with
// Dest set; then scrim makes the change itself, as the child, on what the walks found, and
// never lets the kernel re-read a path. exec is the exception: only the kernel can run a
// program, so it is let through once decided, and another thread can swap the path between
// the check and the exec (docs/security.md says what that gives).
func (s *Core) answerChange(ctx context.Context, c *opCall, res *resolver.Resolution, in *resolver.Input, d decision) {
	var dst *resolver.Resolution
	next := d.res.Action == shim.ActNext
	if in.Path2 != nil {
		second := in.Second()
		dst = &c.t.call.res2
		if err := s.resolver.ResolveInto(dst, &second, &c.t.call.child); err != nil {
			s.failOrDeny(c, err)
			return
		}
		defer dst.Close()
		c.path2 = dst.Request.Path
		dst.Request.Dest = true
		d2 := s.chain.run(ctx, &dst.Request)
		if d2.err != nil {
			c.handler = d2.handler
			s.log.Error("handler failed", "shim", d2.handler, "tid", c.n.Pid, "path", string(dst.Request.Path), "error", d2.err)
			c.verdict = "error"
			s.answerErrno(c, unix.EIO)
			return
		}
		if d2.res.Action == shim.ActDeny {
			c.handler, c.verdict = d2.handler, "deny"
			s.answerErrno(c, d2.res.Errno)
			return
		}
		next = next && d2.res.Action == shim.ActNext
	}
	c.verdict = "real"
	if in.Op() == shim.OpExec || s.cfg.Mode == ModeFast && next {
		c.verdict = "continue"
		s.respond(c.n.ID, 0, 0, true)
		return
	}
	if err := resolver.Change(in, res, dst); err != nil {
		s.answerErr(c, err)
		return
	}
	s.respond(c.n.ID, 0, 0, false)
}

// answerOp answers a call of the ops other than open on the object the walk found, as the
// child: stat and readlink write their answer into the child's buffer, access answers yes or
// no, chdir is checked and then let through (the kernel must change the working directory
// itself; what it re-reads can only be another path the same checks would see, since a walk
// that starts in a hidden /proc entry fails).
func (s *Core) answerOp(c *opCall, res *resolver.Resolution, in *resolver.Input) {
	var out []byte
	var val int64
	var err error
	switch in.Op() {
	case shim.OpStat:
		// A descriptor scrim served (fstat through newfstatat or statx with AT_EMPTY_PATH)
		// is a memfd, which the kernel shows unlinked; it is shown as the file it stands for.
		if in.Syscall == shim.SysStatfs {
			var st unix.Statfs_t
			if err = res.Statfs(&st); err == nil {
				out = statfsBytes(&st)
			}
		} else if in.Syscall == shim.SysStatx {
			var st unix.Statx_t
			if err = res.Statx(in.AtFlags, uint32(in.Arg), &st); err == nil {
				if st.Nlink == 0 && s.memfds.served(unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino) {
					st.Nlink = 1
				}
				out = statxBytes(&st)
			}
		} else {
			var st unix.Stat_t
			if err = res.Stat(&st); err == nil {
				if st.Nlink == 0 && s.memfds.served(st.Dev, st.Ino) {
					st.Nlink = 1
				}
				out = statBytes(&st)
			}
		}
	case shim.OpAccess:
		err = res.Access(uint32(in.Arg))
	case shim.OpReadlink:
		var full [unix.PathMax]byte
		var n int
		if n, err = res.Readlink(full[:]); err == nil {
			text := s.servedLink(&res.Request, full[:n])
			n = min(len(text), int(min(in.OutLen, unix.PathMax)))
			out, val = text[:n], int64(n)
		}
	case shim.OpChdir:
		if err = res.Chdir(); err == nil {
			c.verdict = "continue"
			s.respond(c.n.ID, 0, 0, true)
			return
		}
	case shim.OpWatch:
		var ifd *os.File
		if ifd, err = c.t.call.child.Fd(int(int32(in.Arg2))); err == nil {
			var wd int
			wd, err = res.Watch(int(ifd.Fd()), uint32(in.Arg))
			val = int64(wd)
			ifd.Close()
		}
	case shim.OpXattr:
		var small [256]byte
		var buf []byte
		if size := min(in.OutLen, xattrMax); size > uint64(len(small)) {
			buf = make([]byte, size)
		} else {
			buf = small[:size]
		}
		var n int
		if in.Data != nil {
			n, err = res.Getxattr(in.Data, buf)
		} else {
			n, err = res.Listxattr(buf)
		}
		if err == nil {
			out, val = buf[:min(n, len(buf))], int64(n)
		}
	}
	if err != nil {
		s.answerErr(c, err)
		return
	}
	s.writeAnswer(c, in, out, val)
}

// memfdStatfs is what statfs says of the filesystem every memfd lives on, the same for all of
// them: it is read once.
var memfdStatfs = sync.OnceValues(func() (unix.Statfs_t, error) {
	var st unix.Statfs_t
	fd, err := unix.MemfdCreate("scrim-statfs", unix.MFD_CLOEXEC)
	if err != nil {
		return st, fmt.Errorf("memfd for statfs: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fstatfs(fd, &st); err != nil {
		return st, fmt.Errorf("fstatfs of a memfd: %w", err)
	}
	return st, nil
})

// xattrMax is the largest value or list of names the kernel reads for getxattr and listxattr
// (XATTR_SIZE_MAX, XATTR_LIST_MAX): a larger buffer is used only up to it.
const xattrMax = 65536

// answerNoXattrs answers getxattr or listxattr of an object that shows no extended
// attributes: a served file, or a denied object, whose attributes' values are contents too.
func (s *Core) answerNoXattrs(c *opCall, in *resolver.Input) {
	if in.Data != nil {
		s.answerErrno(c, unix.ENODATA)
		return
	}
	s.respond(c.n.ID, 0, 0, false)
}

// servedLink returns the text of the magic link req resolved to: the path scrim served a
// descriptor for, when text names one of scrim's memfds (/proc/PID/fd/N of a served file).
func (s *Core) servedLink(req *shim.Request, text []byte) []byte {
	const pre, suf = "/memfd:" + memfdPrefix, " (deleted)"
	if req.Object.FsType != unix.PROC_SUPER_MAGIC || !bytes.HasPrefix(text, []byte(pre)) || !bytes.HasSuffix(text, []byte(suf)) {
		return text
	}
	if p, ok := s.memfds.pathOf(string(text[len("/memfd:") : len(text)-len(suf)])); ok {
		return []byte(p)
	}
	return text
}

// answerServed answers a look-up op (stat, access, readlink, chdir) on a path the chain
// serves, from what it serves: shim.OpHandler says what each content means for each op.
func (s *Core) answerServed(ctx context.Context, c *opCall, res *resolver.Resolution, in *resolver.Input, d decision) {
	req := &res.Request
	content := d.res.Content
	switch content.(type) {
	case shim.Stream, *shim.Stream:
		// A pipe has no size to promise: the real object answers.
		closeContent(content)
		c.verdict = "real"
		s.answerOp(c, res, in)
		return
	}
	c.verdict = "serve"
	mode, err := servedMode(content)
	if err != nil {
		closeContent(content)
		s.fail(c, err)
		return
	}
	switch in.Op() {
	case shim.OpAccess:
		closeContent(content)
		s.answerErrno(c, servedAccess(mode, uint32(in.Arg)))
	case shim.OpReadlink:
		closeContent(content)
		if len(req.Spelled) == 0 {
			s.answerErrno(c, unix.ENOENT)
			return
		}
		s.answerErrno(c, unix.EINVAL)
	case shim.OpChdir:
		closeContent(content)
		if mode&unix.S_IFMT != unix.S_IFDIR {
			s.answerErrno(c, unix.ENOTDIR)
			return
		}
		if !req.Object.IsDir() {
			// No directory to change into: a served directory only describes itself.
			s.answerErrno(c, unix.ENOENT)
			return
		}
		c.verdict = "real"
		s.answerOp(c, res, in)
	case shim.OpXattr:
		closeContent(content)
		s.answerNoXattrs(c, in)
	case shim.OpWatch:
		s.answerServedWatch(c, res, in, content)
	case shim.OpStat:
		if in.Syscall == shim.SysStatfs {
			// What fstatfs of the descriptor an open returns says: the filesystem of
			// scrim's memfds, for every served path.
			closeContent(content)
			st, err := memfdStatfs()
			if err != nil {
				s.fail(c, err)
				return
			}
			s.writeAnswer(c, in, statfsBytes(&st), 0)
			return
		}
		out, err := s.servedStat(ctx, req, in, content, d)
		if err != nil {
			s.answerErr(c, err)
			return
		}
		s.writeAnswer(c, in, out, 0)
	default:
		closeContent(content)
		s.fail(c, fmt.Errorf("serve for a %s call", in.Op()))
	}
}

// answerServedWatch adds an inotify watch for a served path: on the memfd an open of it
// returns, whose content never changes, or on a handler's own File. Other content has no
// descriptor to watch, and the real object answers.
func (s *Core) answerServedWatch(c *opCall, res *resolver.Resolution, in *resolver.Input, content shim.Content) {
	ifd, err := c.t.call.child.Fd(int(int32(in.Arg2)))
	if err != nil {
		closeContent(content)
		s.answerErr(c, err)
		return
	}
	defer ifd.Close()
	var wd int
	ok, err := s.onServedFd(res.Request.Path, content, func(fd int) error {
		var err error
		wd, err = unix.InotifyAddWatch(int(ifd.Fd()), "/proc/self/fd/"+strconv.Itoa(fd), uint32(in.Arg)&^unix.IN_DONT_FOLLOW)
		return err
	})
	if !ok && err == nil {
		c.verdict = "real"
		s.answerOp(c, res, in)
		return
	}
	if err != nil {
		s.answerErr(c, err)
		return
	}
	s.respond(c.n.ID, int64(wd), 0, false)
}

// servedMode is the st_mode of served content.
func servedMode(content shim.Content) (uint32, error) {
	if b, ok := bytesOf(content); ok {
		if b.Mode == 0 {
			return defaultServedMode, nil
		}
		return b.Mode, nil
	}
	if m, ok := metaOf(content); ok {
		if m.Mode == 0 {
			return defaultServedMode, nil
		}
		return m.Mode, nil
	}
	if f, ok := content.(shim.File); ok && f.F != nil {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.F.Fd()), &st); err != nil {
			return 0, fmt.Errorf("fstat served file: %w", err)
		}
		return st.Mode, nil
	}
	return 0, fmt.Errorf("serve content of type %T: unknown", content)
}

// servedAccess is access(2)'s answer for want (R_OK, W_OK, X_OK bits) on a served object of
// mode: read-only content refuses writing as a read-only filesystem does.
func servedAccess(mode, want uint32) unix.Errno {
	switch {
	case want&unix.W_OK != 0:
		return unix.EROFS
	case want&unix.R_OK != 0 && mode&0o444 == 0:
		return unix.EACCES
	case want&unix.X_OK != 0 && mode&0o111 == 0:
		return unix.EACCES
	}
	return 0
}

// servedStat is the struct stat or statx the call in asks for, of what the chain serves at
// req.Path: the memfd an open of it returns (memfdCache), the handler's own file, or what a
// Meta describes.
func (s *Core) servedStat(ctx context.Context, req *shim.Request, in *resolver.Input, content shim.Content, d decision) ([]byte, error) {
	var out []byte
	statFd := func(fd int) error {
		var err error
		out, err = statOf(fd, in)
		return err
	}
	if m, ok := metaOf(content); ok {
		if m.Mode&unix.S_IFMT == unix.S_IFDIR {
			return metaStat(m, req.Path, s.memfds.devOf(), in), nil
		}
		if ok, err := s.memfds.sized(req.Path, m.Size, statFd); ok || err != nil {
			return out, err
		}
		// No memfd of that size yet: the content an open would serve is the only way to the
		// inode it would return.
		open := *req
		open.Op, open.Flags = shim.OpOpen, unix.O_RDONLY
		r, err := s.chain.call(ctx, d.by, &open)
		if err != nil {
			return nil, fmt.Errorf("handler %s: %w", d.handler, err)
		}
		if r.Action != shim.ActServe || r.Content == nil {
			return metaStat(m, req.Path, s.memfds.devOf(), in), nil
		}
		content = r.Content
		if _, isMeta := metaOf(content); isMeta {
			return nil, fmt.Errorf("handler %s: serve metadata for an open", d.handler)
		}
		if _, isBytes := bytesOf(content); !isBytes {
			if f, isFile := content.(shim.File); !isFile || f.F == nil {
				// A pipe: no inode an open would share.
				closeContent(content)
				return metaStat(m, req.Path, s.memfds.devOf(), in), nil
			}
		}
	}
	if ok, err := s.onServedFd(req.Path, content, statFd); ok || err != nil {
		return out, err
	}
	return nil, fmt.Errorf("serve content of type %T for a stat", content)
}

// onServedFd calls fn with the descriptor an open of path serving content returns: the memfd
// scrim keeps for Bytes (pinned as a stat pins it), or a handler's own File. For content with
// none (a Meta, a Stream) it reports false. It closes content either way.
func (s *Core) onServedFd(path []byte, content shim.Content, fn func(fd int) error) (bool, error) {
	if b, ok := bytesOf(content); ok {
		return true, s.memfds.stat(path, b, fn)
	}
	if f, ok := content.(shim.File); ok && f.F != nil {
		defer f.F.Close()
		return true, fn(int(f.F.Fd()))
	}
	closeContent(content)
	return false, nil
}

// atStatxSyncType is AT_STATX_SYNC_TYPE: the flags of statx that are passed on.
const atStatxSyncType = 0x6000

// statOf is the answer of the stat call in about the descriptor fd, as a struct stat or a
// struct statx. A memfd scrim served is shown linked: nlink 1.
func statOf(fd int, in *resolver.Input) ([]byte, error) {
	if in.Syscall == shim.SysStatx {
		var st unix.Statx_t
		if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|in.AtFlags&atStatxSyncType, int(uint32(in.Arg)), &st); err != nil {
			return nil, err
		}
		if st.Nlink == 0 {
			st.Nlink = 1
		}
		return bytes.Clone(statxBytes(&st)), nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Nlink == 0 {
		st.Nlink = 1
	}
	return bytes.Clone(statBytes(&st)), nil
}

// metaStat is what a stat call says of a served directory, or of a file a Meta describes
// when its handler serves no content to match: the inode is made up from the path.
func metaStat(m shim.Meta, path []byte, dev uint64, in *resolver.Input) []byte {
	h := fnv.New64a()
	h.Write(path)
	ino := h.Sum64() | 1<<63
	mode := m.Mode
	if mode == 0 {
		mode = defaultServedMode
	}
	size, nlink := m.Size, uint64(1)
	if mode&unix.S_IFMT == unix.S_IFDIR {
		size, nlink = 0, 2
	}
	t := m.ModTime
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if in.Syscall == shim.SysStatx {
		ts := unix.StatxTimestamp{Sec: t.Unix(), Nsec: uint32(t.Nanosecond())}
		st := unix.Statx_t{
			Mask: unix.STATX_BASIC_STATS, Blksize: 4096, Nlink: uint32(nlink), Uid: uid, Gid: gid,
			Mode: uint16(mode), Ino: ino, Size: uint64(size), Blocks: (uint64(size) + 511) / 512,
			Atime: ts, Ctime: ts, Mtime: ts, Dev_major: unix.Major(dev), Dev_minor: unix.Minor(dev),
		}
		return bytes.Clone(statxBytes(&st))
	}
	ts := unix.NsecToTimespec(t.UnixNano())
	st := unix.Stat_t{
		Dev: dev, Ino: ino, Nlink: nlink, Mode: mode, Uid: uid, Gid: gid, Size: size,
		Blksize: 4096, Blocks: (size + 511) / 512, Atim: ts, Mtim: ts, Ctim: ts,
	}
	return bytes.Clone(statBytes(&st))
}

// writeAnswer writes out into the caller's buffer at in.Out and answers val.
func (s *Core) writeAnswer(c *opCall, in *resolver.Input, out []byte, val int64) {
	if len(out) > 0 {
		// Writing into another user's memory takes the supervisor's own rights back.
		werr := c.t.asSupervisor(func() error {
			n, err := c.t.call.mem.WriteAt(out, in.Out)
			if err == nil && n < len(out) {
				err = unix.EFAULT
			}
			return err
		})
		if errors.Is(werr, errGone) {
			return
		}
		if werr != nil {
			s.answerErrno(c, unix.EFAULT)
			return
		}
	}
	s.respond(c.n.ID, val, 0, false)
}

// openReal performs the open as the child and injects the result.
func (s *Core) openReal(c *opCall, req *shim.Request) {
	flags := req.Flags
	if flags&unix.O_PATH != 0 {
		// ADDFD refuses O_PATH files (EBADF, fget skips FMODE_PATH). Directories and regular
		// files are given as read-only descriptors instead; see RATIONALE.md.
		if !req.Object.Exists {
			s.answerErrno(c, unix.ENOENT)
			return
		}
		switch req.Object.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			flags = unix.O_RDONLY | unix.O_DIRECTORY
		case unix.S_IFREG:
			flags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY
		case unix.S_IFLNK:
			s.answerErrno(c, unix.ELOOP)
			return
		default:
			s.answerErrno(c, unix.EACCES)
			return
		}
		flags |= req.Flags & (unix.O_CLOEXEC | unix.O_NOFOLLOW)
	}
	var f *os.File
	var err error
	mode := req.Object.Mode
	if blockingFifo(req, flags) {
		f, err = s.openFifo(c, req, flags)
	} else if fo, ok := req.Target.(fdOpener); ok {
		// The hot path: a bare descriptor, straight to the child.
		fd, err := fo.OpenFd(flags, req.Mode)
		if errors.Is(err, unix.EACCES) {
			if own, ok := req.Target.(callerFdDir); ok && own.CallerFdDir() {
				// proc_fd_permission: a process may open its own fd directory whatever its
				// credentials; scrim's worker is not in its thread group, so it opens it
				// with scrim's own.
				err = c.t.asSupervisor(func() error {
					var e error
					fd, e = fo.OpenFd(flags, req.Mode)
					return e
				})
			}
		}
		if err == nil {
			s.injectFd(c, fd, nil, req.Flags, mode)
			return
		}
		if !errors.Is(err, resolver.ErrFifo) {
			s.answerErr(c, err)
			return
		}
		mode = unix.S_IFIFO
		f, err = s.openFifo(c, req, flags)
	} else {
		f, err = req.Target.Open(flags, req.Mode)
		if errors.Is(err, resolver.ErrFifo) {
			// A FIFO appeared at the name to create since the walk; the Target now stands
			// for it.
			mode = unix.S_IFIFO
			f, err = s.openFifo(c, req, flags)
		}
	}
	if err != nil {
		s.answerErr(c, err)
		return
	}
	s.inject(c, f, req.Flags, mode)
}

// blockingFifo reports whether opening req would wait for the other end of a FIFO.
func blockingFifo(req *shim.Request, flags int) bool {
	return req.Object.Exists && req.Object.Mode&unix.S_IFMT == unix.S_IFIFO &&
		flags&(unix.O_NONBLOCK|unix.O_PATH) == 0 && flags&unix.O_ACCMODE != unix.O_RDWR
}

// fifoPoll is how often a worker blocked in a FIFO open checks that its caller still waits.
const fifoPoll = 20 * time.Millisecond

// openFifo opens a FIFO that blocks until its other end is opened, as the child would. If the
// child gives up meanwhile (a signal, its death), the worker would stay blocked for good, so a
// watcher opens the other end itself, non-blocking, which releases the open.
func (s *Core) openFifo(c *opCall, req *shim.Request, flags int) (*os.File, error) {
	// The watcher must not go through Target (which may serialize opens): it reopens the
	// FIFO through a path-only descriptor of its own, which counts as neither end.
	ref, err := req.Target.Open(unix.O_PATH, 0)
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	done := make(chan struct{})
	released := make(chan struct{})
	go func() {
		defer close(released)
		tick := time.NewTicker(fifoPoll)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if seccomp.IDValid(s.listener, c.n.ID) {
					continue
				}
				other := unix.O_RDONLY
				if flags&unix.O_ACCMODE == unix.O_RDONLY {
					other = unix.O_WRONLY
				}
				if fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(ref.Fd())), other|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
					unix.Close(fd)
				}
				// No return: a worker delayed on its way into the open is not blocked yet (the
				// open above then fails with ENXIO, or ends before the worker waits), and
				// would wait forever with no one left to release it. Only done ends this.
			}
		}
	}()
	c.t.mayBlock()
	f, err := req.Target.Open(flags, req.Mode)
	close(done)
	<-released
	return f, err
}

// fdOpener is a Target that can open to a bare descriptor (the resolver's).
type fdOpener interface {
	OpenFd(flags int, mode uint32) (int, error)
}

// callerFdDir is implemented by a resolver's target: whether it is the caller's own procfs fd
// directory.
type callerFdDir interface {
	CallerFdDir() bool
}

// inject gives f to the child and answers the call with its number, then closes scrim's copy.
func (s *Core) inject(c *opCall, f *os.File, flags int, mode uint32) {
	s.injectFd(c, int(f.Fd()), f, flags, mode)
}

// injectFd is inject for the descriptor fd, which f holds unless f is nil; either way scrim's
// copy is closed.
func (s *Core) injectFd(c *opCall, fd int, f *os.File, flags int, mode uint32) {
	release := func() {
		if f != nil {
			f.Close()
		} else {
			unix.Close(fd)
		}
	}
	cloexec := flags&unix.O_CLOEXEC != 0
	if s.mustCloseFirst(mode) {
		s.injectThenAnswer(c, fd, release, cloexec)
		return
	}
	_, e := seccomp.AddfdSend(s.listener, c.n.ID, fd, cloexec)
	release()
	s.injectFailed(c, e)
}

// mustCloseFirst reports whether scrim's own copy of f must be gone before the child runs
// on: for a FIFO or a device, one more open description is visible (a FIFO's reader count
// decides whether a non-blocking writer gets ENXIO; some devices allow one opener). Only
// with WAIT_KILLABLE_RECV, where no signal can come between the two steps and leave an
// unanswered descriptor in the child.
func (s *Core) mustCloseFirst(mode uint32) bool {
	if !s.cfg.Listener.Killable {
		return false
	}
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK:
		return true
	}
	return false
}

// fileMode is f's type and permission bits, or 0 if fstat fails.
func fileMode(f *os.File) uint32 {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return 0
	}
	return st.Mode
}

// injectThenAnswer installs src without answering, closes scrim's copy (release), then
// answers.
func (s *Core) injectThenAnswer(c *opCall, src int, release func(), cloexec bool) {
	a := seccomp.NotifAddfd{ID: c.n.ID, Srcfd: uint32(src)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	fd, e := seccomp.Addfd(s.listener, &a)
	release()
	if e != 0 {
		s.injectFailed(c, e)
		return
	}
	s.respond(c.n.ID, int64(fd), 0, false)
}

func (s *Core) injectFailed(c *opCall, e unix.Errno) {
	switch e {
	case 0:
	case unix.ENOENT:
		// The call is gone (signal, exit); nothing was installed.
		c.errno = unix.EINTR
	default:
		// Most often EMFILE/EBADF: the child is at RLIMIT_NOFILE. Never CONTINUE.
		if e == unix.EBADF {
			e = unix.EMFILE
		}
		s.answerErrno(c, e)
	}
}

func (s *Core) answerErrno(c *opCall, e unix.Errno) {
	c.errno = e
	s.respond(c.n.ID, 0, e, false)
}

// failOrDeny answers an error from the resolver: an errno meant for the child, or a failure
// of scrim's (EIO).
func (s *Core) failOrDeny(c *opCall, err error) {
	if e, ok := resolver.ChildErrno(err); ok {
		c.verdict = "deny"
		s.answerErrno(c, e)
		return
	}
	s.fail(c, err)
}

// answerErr answers err: the errno it wraps, which the kernel would have given the child for
// the call scrim made on its behalf, or EIO for a failure of scrim's own.
func (s *Core) answerErr(c *opCall, err error) {
	var e unix.Errno
	if errors.As(err, &e) {
		s.answerErrno(c, e)
		return
	}
	s.fail(c, err)
}

// fail answers EIO for a supervisor-side failure, unless the call is already gone.
func (s *Core) fail(c *opCall, err error) {
	if errors.Is(err, errGone) || !seccomp.IDValid(s.listener, c.n.ID) {
		c.verdict = "error"
		c.errno = unix.EINTR
		return
	}
	s.log.Error("cannot answer an open", "tid", c.n.Pid, "syscall", c.sys.String(), "path", string(c.spelled), "error", err)
	c.verdict = "error"
	s.answerErrno(c, unix.EIO)
}

// nextSeq numbers a call for the audit log (audit.Record.Seq), 0 when there is none. It is
// taken before the call is answered, on the thread that answers it: a call the child makes
// after that answer is taken up later and gets a higher number.
func (s *Core) nextSeq() uint64 {
	if s.cfg.Audit == nil {
		return 0
	}
	return s.auditSeq.Add(1)
}

func (s *Core) audit(c *opCall) {
	if s.cfg.Audit == nil {
		return
	}
	r := audit.Record{
		Time: c.start, Seq: c.seq, PID: c.tgid, TID: int(c.n.Pid), Syscall: c.sys.String(), NoPath: c.noPath,
		Spelled: string(c.spelled), Path: string(c.path), Spelled2: string(c.spelled2), Path2: string(c.path2),
		Handler: c.handler, Verdict: c.verdict, Micros: time.Since(c.start).Microseconds(),
	}
	if c.errno != 0 {
		r.Errno = unix.ErrnoName(c.errno)
	}
	s.cfg.Audit.Record(r)
}

// handleSyscall runs a SyscallHandler with the supervisor's own credentials.
func (s *Core) handleSyscall(ctx context.Context, t *thread, n *seccomp.Notif, h shim.SyscallHandler, start time.Time) {
	tid := int(n.Pid)
	rec := audit.Record{Time: start, Seq: s.nextSeq(), TID: tid, Syscall: shim.SyscallName(int(n.Data.Nr)), NoPath: true,
		Handler: h.ID(), Verdict: "error"}
	answer := func(val int64, errno unix.Errno, cont bool) {
		s.respond(n.ID, val, errno, cont)
		if s.cfg.Audit == nil {
			return
		}
		if errno != 0 {
			rec.Errno = unix.ErrnoName(errno)
		}
		rec.Micros = time.Since(start).Microseconds()
		s.cfg.Audit.Record(rec)
	}
	if err := t.become(&t.self); err != nil {
		s.log.Error("cannot restore worker credentials", "error", err)
		answer(0, unix.EIO, false)
		return
	}
	tgid, err := s.tgids.tgid(tid)
	if err != nil {
		answer(0, unix.EIO, false)
		return
	}
	rec.PID = tgid
	call := &shim.Call{
		Nr: int(n.Data.Nr), Args: n.Data.Args, PID: tgid, TID: tid,
		Mem: &memory{listener: s.listener, id: n.ID, tid: tid, procMem: s.procMem},
		Fd: func(fd int) (*os.File, error) {
			f, err := pidfdGetfd(tid, tgid, fd)
			if err == nil && !seccomp.IDValid(s.listener, n.ID) {
				f.Close()
				return nil, errGone
			}
			return f, err
		},
		Served: s.servedEntries(ctx, tid, tgid),
	}
	res, err := func() (res shim.SyscallResult, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("handler %s panicked: %v\n%s", h.ID(), p, debug.Stack())
			}
		}()
		return h.Syscall(ctx, call)
	}()
	if err != nil {
		if !errors.Is(err, errGone) {
			s.log.Error("syscall handler failed", "shim", h.ID(), "tid", tid, "syscall", n.Data.Nr, "error", err)
		}
		answer(0, unix.EIO, false)
		return
	}
	switch {
	case res.Continue:
		rec.Verdict = "continue"
	case res.Errno != 0:
		rec.Verdict = "deny"
	default:
		rec.Verdict = "serve"
	}
	answer(res.Val, res.Errno, res.Continue)
}

// child is resolver.Child for one notification. Its methods reach the child's state with
// scrim's own rights, then check the notification is still live, so a reused tid can never
// lend its state to another process.
type child struct {
	s         *Core
	t         *thread
	tid, tgid int
	id        uint64
	// creates is true for a call that may create a file, the only kind the umask affects.
	creates bool
	// execs is true for an exec: the credentials it is made with are the last before the
	// kernel recomputes them for the new program, so they must not seed the cache.
	execs bool
	// read, cred and umask keep the credentials once read for this call: the caller is
	// stopped in it and cannot change them, and handleOpen and the resolver both ask.
	read  bool
	cred  shim.Cred
	umask uint32
}

var _ resolver.Child = (*child)(nil)

func (c *child) openProc(name string) (*os.File, error) {
	var f *os.File
	err := c.t.asSupervisor(func() error {
		fd, err := unix.Open("/proc/"+strconv.Itoa(c.tid)+"/"+name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s of tid %d: %w", name, c.tid, err)
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !seccomp.IDValid(c.s.listener, c.id) {
		f.Close()
		return nil, errGone
	}
	return f, nil
}

// Cwd returns the calling thread's working directory.
func (c *child) Cwd() (*os.File, error) { return c.openProc("cwd") }

// Root returns the calling thread's root directory.
func (c *child) Root() (*os.File, error) { return c.openProc("root") }

// Fd duplicates the calling thread's descriptor n.
func (c *child) Fd(n int) (*os.File, error) {
	var f *os.File
	err := c.t.asSupervisor(func() error {
		var err error
		f, err = pidfdGetfd(c.tid, c.tgid, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !seccomp.IDValid(c.s.listener, c.id) {
		f.Close()
		return nil, errGone
	}
	return f, nil
}

// Cred returns the calling thread's credentials and umask. When the filter notifies every
// call that can change them (Listener.NotifiesCredCalls), then until any process in the
// sandbox makes one, every thread has those of the first call, read once; after a umask(2)
// anywhere, calls that create read their own umask, and for the others the umask changes
// nothing, so the first one read is reported. Without that promise every call reads its own.
func (c *child) Cred() (shim.Cred, uint32, error) {
	if c.read {
		return c.cred, c.umask, nil
	}
	cred, umask, err := c.readCred()
	if err == nil {
		c.read, c.cred, c.umask = true, cred, umask
	}
	return cred, umask, err
}

func (c *child) readCred() (shim.Cred, uint32, error) {
	cache := c.s.cfg.Listener.NotifiesCredCalls
	if cache && !c.s.credDirty.Load() && (!c.creates || !c.s.umaskDirty.Load()) {
		if b := c.s.baseCred.Load(); b != nil {
			return b.cred, b.umask, nil
		}
	}
	cred, umask, err := readStatus(c.tid)
	if err != nil && !c.t.cur.equal(&c.t.self) {
		// The thread may still carry its previous caller's credentials, and a /proc mounted
		// with hidepid shows another user's threads only to scrim's own.
		err = c.t.asSupervisor(func() error {
			var e error
			cred, umask, e = readStatus(c.tid)
			return e
		})
	}
	if err != nil {
		return cred, 0, err
	}
	if !seccomp.IDValid(c.s.listener, c.id) {
		return cred, 0, errGone
	}
	if cache && !c.s.credDirty.Load() && !c.execs {
		c.s.baseCred.CompareAndSwap(nil, &credSnapshot{cred: cred, umask: umask})
	}
	return cred, umask, nil
}

type credSnapshot struct {
	cred  shim.Cred
	umask uint32
}
