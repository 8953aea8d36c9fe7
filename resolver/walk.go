package resolver

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// walker is one path walk. It mirrors link_path_walk, walk_component, handle_dots,
// follow_dotdot, pick_link, nd_jump_root and nd_jump_link in fs/namei.c, doing each lookup
// with a single-component openat2(O_PATH|O_NOFOLLOW) so that the kernel applies the
// caller's permissions, mounts and NO_XDEV at every step while scrim decides what every
// symlink, magic link and ".." means for the caller.
type walker struct {
	r     *Resolver
	in    *Input
	child Child
	res   *Resolution

	// cur is where the walk stands, st its statx and path its canonical path in the child's
	// view ("" is "/").
	cur  handle
	st   unix.Statx_t
	path []byte

	// scope is nd->root: where absolute paths and symlinks restart and ".." stops. It is the
	// child's root, or the starting directory under RESOLVE_BENEATH and RESOLVE_IN_ROOT.
	scope     handle
	scopeID   ident
	scopePath []byte

	links int
	namez []byte
	// lazySt means st is not read yet: the fast path does not need the start's statx.
	lazySt bool
	// fsType is cur's statfs f_type when already known, else 0.
	fsType int64
	// fastOK means the fast path's conditions that do not depend on the spelling hold.
	fastOK bool
	// inProc means the last symlink followed was a plain one at a procfs root.
	inProc bool
	// rootSet mirrors nd->root.mnt being set: path_init sets it for absolute paths and
	// scoped lookups, handle_dots on the first "..", nd_jump_root on the first jump.
	rootSet bool

	// dir describes the directory that held the last component looked up, for
	// may_create_in_sticky.
	dir dirInfo

	// parent is the directory of the last component of a Lookup.Parent walk whose name
	// exists (cur is then the object); for a missing name cur is the directory.
	parent handle

	// The outcome when the walk ends on a missing component: cur is the parent.
	missing    bool
	missingDir bool
	last       []byte
	trailing   bool
}

func (w *walker) isDir() bool { return w.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// setCur moves the walk to h, releasing the previous position unless the scope holds it.
func (w *walker) setCur(h handle, st *unix.Statx_t) {
	old := w.cur
	w.cur = h
	w.st = *st
	w.fsType = 0
	if old.fd != h.fd && old.fd != w.scope.fd {
		old.close()
	}
}

// cleanup releases everything the walk still holds that finish did not hand over.
func (w *walker) cleanup() {
	if w.cur.fd != w.scope.fd {
		w.cur.close()
	}
	w.scope.close()
	w.parent.close()
	w.cur, w.scope, w.parent = noHandle, noHandle, noHandle
}

// run resolves w.in, taking the fast path when it provably gives the same answer.
func (w *walker) run() error {
	in := w.in
	// A parent lookup needs the last directory, which one openat2 of the whole path hides.
	w.fastOK = !w.r.noFast && in.Resolve&(resolveBeneath|resolveInRoot) == 0 && !in.Lookup.Parent
	fast := w.fastOK
	if err := w.start(fast); err != nil {
		return err
	}
	if fast {
		if done, err := w.fast(); done || err != nil {
			return err
		}
	}
	if err := w.statCur(); err != nil {
		return err
	}
	return w.walk(in.Path)
}

// empty resolves an empty path (AT_EMPTY_PATH): the object is the starting directory or
// descriptor itself, of any type.
func (w *walker) empty() error {
	base, err := w.base()
	if err != nil {
		return err
	}
	var st unix.Statx_t
	if err := statFd(base.fd, &st); err != nil {
		base.close()
		return err
	}
	return w.startAt(base, &st)
}

// startAt makes base, a directory or descriptor of the caller's, the walk's position, unless
// it lies inside a hidden /proc entry. It takes base over, also on failure.
func (w *walker) startAt(base handle, st *unix.Statx_t) error {
	p, _, err := w.r.viewPath(base.fd)
	if err != nil {
		base.close()
		return err
	}
	if err := w.r.hiddenStart(w, base.fd, p); err != nil {
		base.close()
		return err
	}
	w.setCur(base, st)
	w.path = p
	return nil
}

// statCur reads the start's statx when start left it for later, and checks that a path can
// be looked up in it (path_init's ENOTDIR).
func (w *walker) statCur() error {
	if !w.lazySt {
		return nil
	}
	w.lazySt = false
	if err := statFd(w.cur.fd, &w.st); err != nil {
		return err
	}
	if !w.isDir() {
		return unix.ENOTDIR
	}
	return nil
}

// start opens the walk's starting point and scope as path_init does. With lazy, the start's
// statx is left to statCur: openat2 checks the start is a directory by itself.
func (w *walker) start(lazy bool) error {
	in := w.in
	w.scope = handle{fd: w.r.root, borrowed: true}
	w.scopeID = w.r.rootID
	w.scopePath = nil
	abs := len(in.Path) > 0 && in.Path[0] == '/'
	if abs && in.Resolve&resolveInRoot == 0 {
		// nd_jump_root: absolute paths ignore dirfd entirely.
		if in.Resolve&resolveBeneath != 0 {
			return unix.EXDEV
		}
		w.rootSet = true
		w.setCur(w.scope, &w.r.rootSt)
		w.path = w.path[:0]
		return nil
	}
	base, err := w.base()
	if err != nil {
		return err
	}
	var st unix.Statx_t
	if !lazy {
		if err := statFd(base.fd, &st); err != nil {
			base.close()
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			base.close()
			return unix.ENOTDIR
		}
	}
	if err := w.startAt(base, &st); err != nil {
		return err
	}
	w.lazySt = lazy
	p := w.path
	if in.Resolve&(resolveBeneath|resolveInRoot) != 0 {
		w.rootSet = true
		w.scope = base
		w.scopeID = identOf(&st)
		w.scopePath = append([]byte(nil), p...)
	}
	return nil
}

// base returns the directory a relative path starts from: the caller's cwd or its dirfd.
func (w *walker) base() (handle, error) {
	if w.in.Dirfd == unix.AT_FDCWD {
		f, err := w.child.Cwd()
		if err != nil {
			return noHandle, childErr("cwd", err)
		}
		return fileHandle(f), nil
	}
	if w.in.Dirfd < 0 {
		return noHandle, unix.EBADF
	}
	f, err := w.child.Fd(int(w.in.Dirfd))
	if err != nil {
		return noHandle, childErr("fd "+strconv.Itoa(int(w.in.Dirfd)), err)
	}
	return fileHandle(f), nil
}

// walk resolves rest from w.cur.
func (w *walker) walk(rest []byte) error {
	look := &w.in.Lookup
	for {
		rest = skipSlashes(rest)
		if len(rest) == 0 {
			return nil
		}
		// link_path_walk: only a directory can be looked up in.
		if !w.isDir() {
			return unix.ENOTDIR
		}
		name, after := rest, rest[:0]
		if i := bytes.IndexByte(rest, '/'); i >= 0 {
			name, after = rest[:i], rest[i:]
		}
		trailing := len(after) > 0
		isLast := len(skipSlashes(after)) == 0
		rest = after
		if isLast && look.Parent {
			return w.lastName(name, trailing)
		}

		switch {
		case len(name) == 1 && name[0] == '.':
			if isLast {
				if err := w.mayLookup(); err != nil {
					return err
				}
			}
			continue
		case len(name) == 2 && name[0] == '.' && name[1] == '.':
			if err := w.dotdot(); err != nil {
				return err
			}
			continue
		}

		// open_last_lookups: O_CREAT refuses a trailing slash before looking.
		if isLast && trailing && look.Create {
			if err := w.mayLookup(); err != nil {
				return err
			}
			return unix.EISDIR
		}
		if err := w.r.hiddenPid(w, name); err != nil {
			return err
		}
		if isLast {
			// nd->dir_mode and nd->dir_vfsuid: the directory of the last component.
			w.dir = dirInfo{known: true, mode: w.st.Mode, uid: w.st.Uid}
		}
		fd, err := w.lookup(w.cur.fd, name)
		if err == unix.ENOENT {
			return w.missingFrom(name, rest, isLast, trailing)
		}
		if err == unix.EACCES && (!isLast || trailing || !look.NoFollow) && w.ownFdEntry(name) {
			// proc_fd_permission: a process may always look into its own fd directory, also
			// when it is not dumpable and the directory is root's (runc's init after it
			// dropped to the container's uid, opening its exec FIFO /proc/self/fd/N).
			if w.in.Resolve&resolveNoSymlinks != 0 {
				return unix.ELOOP
			}
			if err := w.jumpMagic(name); err != nil {
				return err
			}
			if len(skipSlashes(rest)) == 0 && trailing && !w.isDir() {
				return unix.ENOTDIR
			}
			continue
		}
		if err != nil {
			return err
		}
		var st unix.Statx_t
		if err := statFd(fd, &st); err != nil {
			unix.Close(fd)
			return err
		}
		h := handle{fd: fd}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			follow := !isLast || trailing || !look.NoFollow
			if follow {
				next, err := w.follow(h, &st, name, rest, isLast)
				h.close()
				if err != nil {
					return err
				}
				rest = next
				if len(skipSlashes(rest)) == 0 && trailing && !w.isDir() {
					// A magic link's object, where the trailing slash asks for a directory.
					return unix.ENOTDIR
				}
				if w.fastOK && !w.inProc && len(skipSlashes(rest)) > 0 && w.isDir() {
					if done, err := w.fastRest(rest); done || err != nil {
						return err
					}
				}
				continue
			}
		}
		w.setCur(h, &st)
		w.path = appendName(w.path, name)
		if isLast && trailing && !w.isDir() {
			return unix.ENOTDIR
		}
	}
}

// lastName ends a Lookup.Parent walk: name is what the call acts on in w.cur. "." and ".."
// are kept as names, for the call to refuse as the kernel does (rmdir(".") is EINVAL,
// unlink("..") EISDIR, ...); a name that exists is described, never followed.
func (w *walker) lastName(name []byte, trailing bool) error {
	w.dir = dirInfo{known: true, mode: w.st.Mode, uid: w.st.Uid}
	w.last = append([]byte(nil), name...)
	w.trailing = trailing
	if len(name) <= 2 && name[0] == '.' && (len(name) == 1 || name[1] == '.') {
		w.missing = true
		return nil
	}
	if err := w.r.hiddenPid(w, name); err != nil {
		return err
	}
	fd, err := w.lookup(w.cur.fd, name)
	if err == unix.ENOENT {
		w.missing = true
		return nil
	}
	if err != nil {
		return err
	}
	var st unix.Statx_t
	if err := statFd(fd, &st); err != nil {
		unix.Close(fd)
		return err
	}
	pfd, err := unix.Dup(w.cur.fd)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("dup the directory of %q: %w", name, err)
	}
	w.parent = handle{fd: pfd}
	w.setCur(handle{fd: fd}, &st)
	w.path = appendName(w.path, name)
	return nil
}

// lookup opens one component of the walk.
func (w *walker) lookup(dirfd int, name []byte) (int, error) {
	w.namez = cpath(w.namez, name)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW, Resolve: w.in.Resolve & resolveNoXdev}
	return openat2(dirfd, w.namez, &how)
}

// mayLookup checks search permission on w.cur where no lookup does it for us (may_lookup).
func (w *walker) mayLookup() error {
	fd, err := openat(w.cur.fd, []byte(".\x00"), unix.O_PATH, 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// missingFrom records that name does not exist in w.cur. The rest of the path is kept as
// spelled: it may name a virtual file in a directory the host does not have.
func (w *walker) missingFrom(name, rest []byte, isLast, trailing bool) error {
	w.missing = true
	w.last = append([]byte(nil), name...)
	w.trailing = trailing
	if isLast {
		return nil
	}
	w.missingDir = true
	for {
		rest = skipSlashes(rest)
		if len(rest) == 0 {
			return nil
		}
		name, after := rest, rest[:0]
		if i := bytes.IndexByte(rest, '/'); i >= 0 {
			name, after = rest[:i], rest[i:]
		}
		rest = after
		switch {
		case len(name) == 1 && name[0] == '.':
		case len(name) == 2 && name[0] == '.' && name[1] == '.':
			return unix.ENOENT
		default:
			w.last = append(append(w.last, '/'), name...)
		}
		w.trailing = len(after) > 0
	}
}

// dotdot mirrors follow_dotdot: ".." at the scope's root stays there (EXDEV under
// RESOLVE_BENEATH), anywhere else the kernel climbs, mounts included.
func (w *walker) dotdot() error {
	w.rootSet = true
	if identOf(&w.st) == w.scopeID {
		if err := w.mayLookup(); err != nil {
			return err
		}
		if w.in.Resolve&resolveBeneath != 0 {
			return unix.EXDEV
		}
		return nil
	}
	fd, err := w.lookup(w.cur.fd, []byte(".."))
	if err != nil {
		return err
	}
	var st unix.Statx_t
	if err := statFd(fd, &st); err != nil {
		unix.Close(fd)
		return err
	}
	w.setCur(handle{fd: fd}, &st)
	if i := bytes.LastIndexByte(w.path, '/'); i >= 0 {
		w.path = w.path[:i]
	}
	return nil
}

// follow follows the symlink h (named name in w.cur) and returns what is left to walk. It
// mirrors pick_link: the link count, may_follow_link for the last component,
// RESOLVE_NO_SYMLINKS and nosymfollow mounts, then either a magic link's jump or the body.
func (w *walker) follow(h handle, st *unix.Statx_t, name, rest []byte, isLast bool) ([]byte, error) {
	w.links++
	if w.links > maxSymlinks {
		return nil, unix.ELOOP
	}
	if isLast {
		if err := w.mayFollowLink(st); err != nil {
			return nil, err
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(h.fd, &sfs); err != nil {
		return nil, err
	}
	if w.in.Resolve&resolveNoSymlinks != 0 || sfs.Flags&stNosymfollow != 0 {
		return nil, unix.ELOOP
	}
	proc := sfs.Type == unix.PROC_SUPER_MAGIC
	w.inProc = false
	if proc && w.st.Ino != procRootIno {
		// Every procfs symlink below the root is a magic link (fd/N, cwd, root, exe,
		// map_files/*, ns/*): the kernel jumps to an object instead of reading a path.
		return rest, w.jumpMagic(name)
	}
	// The body of a symlink at a procfs root names something in procfs, where the fast
	// path never answers.
	w.inProc = proc
	var body []byte
	switch {
	case proc && string(name) == "self":
		// proc_self_get_link would name the supervisor: the caller is meant.
		pid, _ := w.r.procNumbers(w.in.PID, w.in.TID)
		body = strconv.AppendInt(nil, int64(pid), 10)
	case proc && string(name) == "thread-self":
		pid, tid := w.r.procNumbers(w.in.PID, w.in.TID)
		body = strconv.AppendInt(nil, int64(pid), 10)
		body = append(body, "/task/"...)
		body = strconv.AppendInt(body, int64(tid), 10)
	default:
		var err error
		if body, err = readlinkFd(h.fd, nil); err != nil {
			return nil, err
		}
	}
	if len(body) == 0 {
		return nil, unix.ENOENT
	}
	if body[0] == '/' {
		if err := w.jumpRoot(); err != nil {
			return nil, err
		}
	}
	return append(body, rest...), nil
}

// mayFollowLink mirrors may_follow_link (fs.protected_symlinks): in a sticky world-writable
// directory only links owned by the follower or by the directory's owner are followed.
func (w *walker) mayFollowLink(link *unix.Statx_t) error {
	if !w.r.protectedSymlinks || w.st.Mode&(unix.S_ISVTX|unix.S_IWOTH) != unix.S_ISVTX|unix.S_IWOTH {
		return nil
	}
	if link.Uid == w.st.Uid || link.Uid == w.res.Request.Cred.FSUID {
		return nil
	}
	return unix.EACCES
}

// jumpRoot mirrors nd_jump_root for an absolute symlink.
func (w *walker) jumpRoot() error {
	if w.in.Resolve&resolveBeneath != 0 {
		return unix.EXDEV
	}
	// Under RESOLVE_NO_XDEV the kernel compares with nd->root.mnt, which is still unset in
	// a relative lookup that has not met ".." yet: such a jump is EXDEV even within one
	// mount (nd_jump_root, Linux 5.6 to at least 6.18).
	if w.in.Resolve&resolveNoXdev != 0 && (!w.rootSet || w.st.Mnt_id != w.scopeID.mnt) {
		return unix.EXDEV
	}
	w.rootSet = true
	st := w.r.rootSt
	if w.scope.fd != w.r.root {
		if err := statFd(w.scope.fd, &st); err != nil {
			return err
		}
	}
	w.setCur(w.scope, &st)
	w.path = append(w.path[:0], w.scopePath...)
	return nil
}

// jumpMagic follows the procfs magic link name in w.cur to the caller's object, mirroring
// the proc get_link methods and nd_jump_link.
func (w *walker) jumpMagic(name []byte) error {
	h, err := w.magicTarget(name)
	if err != nil {
		return err
	}
	var st unix.Statx_t
	if err := statFd(h.fd, &st); err != nil {
		h.close()
		return err
	}
	switch {
	case w.in.Resolve&resolveNoMagiclinks != 0:
		err = unix.ELOOP
	case w.in.Resolve&resolveNoXdev != 0 && st.Mnt_id != w.st.Mnt_id:
		err = unix.EXDEV
	case w.in.Resolve&(resolveBeneath|resolveInRoot) != 0:
		err = unix.EXDEV
	}
	if err != nil {
		h.close()
		return err
	}
	p, named, err := w.r.viewPath(h.fd)
	if err != nil {
		h.close()
		return err
	}
	if !named {
		// A pipe, socket or anonymous inode: the link itself is its only name.
		p = appendName(w.path, name)
	}
	w.setCur(h, &st)
	w.path = p
	return nil
}

// ownFdEntry reports whether name is a descriptor number in the caller's own procfs fd
// directory, w.cur.
func (w *walker) ownFdEntry(name []byte) bool {
	if n, err := strconv.Atoi(string(name)); err != nil || n < 0 || name[0] == '+' {
		return false
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(w.cur.fd, &sfs); err != nil || sfs.Type != unix.PROC_SUPER_MAGIC {
		return false
	}
	dir, err := w.r.fdPath(w.cur.fd, nil)
	if err != nil {
		return false
	}
	pid, tid, fdDir := procOwner(dir)
	return fdDir && w.isCaller(pid, tid)
}

// isCaller reports whether the procfs directory of pid (and tid, 0 for none) is the
// caller's, by the supervisor's numbers or the sandbox's (Options.ProcIDs).
func (w *walker) isCaller(pid, tid int) bool { return w.r.isCaller(w.in.PID, w.in.TID, pid, tid) }

// isCaller reports whether the procfs directory of pid (and tid, 0 for none) belongs to the
// caller callerPID, callerTID.
// Where the sandbox numbers its processes itself (Options.ProcIDs) only its numbers count: the
// supervisor's could name another of its processes by chance.
func (r *Resolver) isCaller(callerPID, callerTID, pid, tid int) bool {
	p, t := r.procNumbers(callerPID, callerTID)
	return p > 0 && (pid == p || pid == t) && (tid == 0 || tid == t)
}

// magicTarget opens what the magic link name in w.cur points to. The caller's own
// descriptors, cwd and root come from the Child: the supervisor's thread is not the caller,
// so procfs would check (and show) the wrong task. Anything else is opened through procfs
// with the caller's credentials.
func (w *walker) magicTarget(name []byte) (handle, error) {
	dir, err := w.r.fdPath(w.cur.fd, nil)
	if err != nil {
		return noHandle, err
	}
	pid, tid, fdDir := procOwner(dir)
	own := w.isCaller(pid, tid)
	if own {
		switch {
		case fdDir:
			n, err := strconv.Atoi(string(name))
			if err != nil {
				break
			}
			f, err := w.child.Fd(n)
			if err != nil {
				if errors.Is(err, unix.EBADF) {
					return noHandle, unix.ENOENT
				}
				return noHandle, childErr("fd "+string(name), err)
			}
			return fileHandle(f), nil
		case string(name) == "cwd":
			f, err := w.child.Cwd()
			if err != nil {
				return noHandle, childErr("cwd", err)
			}
			return fileHandle(f), nil
		case string(name) == "root":
			f, err := w.child.Root()
			if err != nil {
				return noHandle, childErr("root", err)
			}
			return fileHandle(f), nil
		}
	}
	w.namez = cpath(w.namez, name)
	fd, err := openat(w.cur.fd, w.namez, unix.O_PATH, 0)
	if err != nil {
		return noHandle, err
	}
	return handle{fd: fd}, nil
}

// procOwner parses the supervisor's path of a procfs directory holding magic links:
// ".../<pid>", ".../<pid>/task/<tid>", or either followed by "/fd".
func procOwner(dir []byte) (pid, tid int, fdDir bool) {
	parts := bytes.Split(dir, []byte("/"))
	if n := len(parts); n > 0 && string(parts[n-1]) == "fd" {
		fdDir = true
		parts = parts[:n-1]
	}
	n := len(parts)
	if n >= 3 && string(parts[n-2]) == "task" {
		t, err1 := strconv.Atoi(string(parts[n-1]))
		p, err2 := strconv.Atoi(string(parts[n-3]))
		if err1 == nil && err2 == nil {
			return p, t, fdDir
		}
	}
	if n >= 1 {
		if p, err := strconv.Atoi(string(parts[n-1])); err == nil {
			return p, 0, fdDir
		}
	}
	return -1, -1, fdDir
}

// hiddenPid refuses /proc/<pid> entries of processes outside the sandbox (Options.Visible)
// and always the supervisor's own. procfs lets any thread of a
// process into its own entries whatever its credentials (same_thread_group in
// __ptrace_may_access, proc_fd_permission), so the supervisor walking them for a child would
// show scrim's descriptors, environment and memory. scrim is not part of the sandbox: the
// child gets ENOENT, as if a pid namespace hid it.
func (r *Resolver) hiddenPid(w *walker, name []byte) error {
	if w.in.PID == r.self || w.st.Ino != procRootIno || len(name) == 0 || name[0] < '1' || name[0] > '9' {
		return nil
	}
	for _, c := range name {
		if c < '0' || c > '9' {
			return nil
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(w.cur.fd, &sfs); err != nil {
		return err
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		return nil
	}
	if r.visible != nil {
		if pid, err := strconv.Atoi(string(name)); err != nil || !r.visible(pid) {
			return unix.ENOENT
		}
	}
	w.namez = cpath(w.namez, name)
	fd, err := openat(r.procTask, w.namez, unix.O_PATH, 0)
	if err != nil {
		return nil
	}
	unix.Close(fd)
	return unix.ENOENT
}

// hiddenStart refuses a walk that starts in a hidden process's /proc/<pid> directory (or
// below it): a working directory or descriptor that got there some other way (a chdir that
// raced its check) must not lead into what hiddenPid hides. p is the start's path as the
// child sees it; only the usual /proc mount is recognised.
func (r *Resolver) hiddenStart(w *walker, fd int, p []byte) error {
	rest, ok := bytes.CutPrefix(p, []byte("/proc/"))
	if !ok || w.in.PID == r.self {
		return nil
	}
	name, _, _ := bytes.Cut(rest, []byte("/"))
	pid, err := strconv.Atoi(string(name))
	if err != nil || pid <= 0 {
		return nil
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil || sfs.Type != unix.PROC_SUPER_MAGIC {
		return err
	}
	if pid == r.self || r.visible != nil && !r.visible(pid) {
		return unix.ENOENT
	}
	return nil
}

func skipSlashes(p []byte) []byte {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	return p
}

func appendName(path, name []byte) []byte {
	return append(append(path, '/'), name...)
}
