package resolver

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// finish turns where the walk ended into the Request and its Target.
func (w *walker) finish() error {
	req, t := &w.res.Request, &w.res.t
	// Hand the walk's position to the target; cleanup must not close it.
	h := w.cur
	if h.fd == w.scope.fd {
		w.scope = noHandle
	}
	w.cur = noHandle

	if w.missing {
		req.Path = appendName(w.path, w.last)
		t.parent = h
		t.name = w.last
		t.missingDir = w.missingDir
		t.trailing = w.trailing
		t.dir, t.fsuid = w.dir, req.Cred.FSUID
		return w.dirs(t.parent.fd)
	}
	t.h = h
	t.pid, t.tid = w.in.PID, w.in.TID
	if w.parent.fd >= 0 {
		// A parent lookup whose name exists: the call acts on the name in this directory.
		t.parent, t.name, t.trailing = w.parent, w.last, w.trailing
		w.parent = noHandle
		if err := w.dirs(t.parent.fd); err != nil {
			return err
		}
	}
	fsType := w.fsType
	if fsType == 0 {
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(h.fd, &sfs); err != nil {
			return err
		}
		fsType = int64(sfs.Type)
	}
	req.Object = shim.Object{
		Exists: true,
		Dev:    unix.Mkdev(w.st.Dev_major, w.st.Dev_minor),
		Ino:    w.st.Ino,
		Mode:   uint32(w.st.Mode),
		FsType: fsType,
	}
	if typ := w.st.Mode & unix.S_IFMT; typ == unix.S_IFCHR || typ == unix.S_IFBLK {
		req.Object.Rdev = unix.Mkdev(w.st.Rdev_major, w.st.Rdev_minor)
	}
	req.Path = w.path
	if len(req.Path) == 0 {
		req.Path = []byte{'/'}
	}
	t.obj = req.Object
	t.dir, t.uid, t.fsuid = w.dir, w.st.Uid, req.Cred.FSUID
	if req.Op != shim.OpOpen {
		// The other ops check what they need when they are answered.
		return nil
	}
	return t.check(int(w.in.Flags))
}

// dirs fills Request.Dirs for the calls that change names or objects: the identities of dir
// and of every directory above it up to the child's root, from the top down. They are read
// by going up from the directory the walk ended in, so they are the directories' identities
// now, whatever the path said; the opens and stats, which change nothing, skip the cost.
func (w *walker) dirs(dir int) error {
	req := &w.res.Request
	if !req.Op.Changes() || dir < 0 {
		return nil
	}
	var ids []shim.DirID
	fd, err := unix.Dup(dir)
	if err != nil {
		return fmt.Errorf("dup a directory of the walk: %w", err)
	}
	defer func() { unix.Close(fd) }()
	for range 4096 {
		var st unix.Statx_t
		if err := statFd(fd, &st); err != nil {
			return err
		}
		id := shim.DirID{Dev: unix.Mkdev(st.Dev_major, st.Dev_minor), Ino: st.Ino}
		if len(ids) > 0 && ids[len(ids)-1] == id {
			break // the global root is its own parent
		}
		ids = append(ids, id)
		if identOf(&st) == w.r.rootID {
			break
		}
		up, err := openat(fd, []byte("..\x00"), unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
		fd = up
	}
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
	req.Dirs = ids
	return nil
}

// dirInfo is what may_create_in_sticky needs of the directory holding the last component.
type dirInfo struct {
	known bool
	mode  uint16
	uid   uint32
}

// check runs checkOpen and, for O_CREAT on an existing object, may_create_in_sticky.
func (t *target) check(flags int) error {
	if err := checkOpen(t.obj, flags); err != nil {
		return err
	}
	if flags&unix.O_CREAT != 0 {
		return t.r.mayCreateInSticky(t.dir, t.obj.Mode, t.uid, t.fsuid)
	}
	return nil
}

// mayCreateInSticky mirrors may_create_in_sticky (fs/namei.c): O_CREAT on an existing file in
// a sticky directory that neither the caller nor the directory's owner owns is refused when
// the directory is world-writable (for regular files and FIFOs only under
// fs.protected_regular and fs.protected_fifos), or group-writable with those set to 2.
func (r *Resolver) mayCreateInSticky(dir dirInfo, mode, uid, fsuid uint32) error {
	if !dir.known || dir.mode&unix.S_ISVTX == 0 {
		return nil
	}
	typ := mode & unix.S_IFMT
	if typ == unix.S_IFREG && r.protectedRegular == 0 || typ == unix.S_IFIFO && r.protectedFifos == 0 {
		return nil
	}
	if uid == dir.uid || uid == fsuid {
		return nil
	}
	if dir.mode&0o002 != 0 {
		return unix.EACCES
	}
	if dir.mode&0o020 != 0 && (typ == unix.S_IFIFO && r.protectedFifos >= 2 || typ == unix.S_IFREG && r.protectedRegular >= 2) {
		return unix.EACCES
	}
	return nil
}

// checkOpen mirrors the checks do_open and may_open (fs/namei.c) make on an existing object
// before they open it, in their order. O_PATH skips may_open (do_o_path).
func checkOpen(obj shim.Object, flags int) error {
	typ := obj.Mode & unix.S_IFMT
	if flags&unix.O_CREAT != 0 {
		if flags&unix.O_EXCL != 0 {
			return unix.EEXIST
		}
		if typ == unix.S_IFDIR {
			return unix.EISDIR
		}
	}
	if flags&unix.O_DIRECTORY != 0 && typ != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if flags&(unix.O_PATH|oTmpfile) != 0 {
		return nil
	}
	switch typ {
	case unix.S_IFLNK:
		return unix.ELOOP
	case unix.S_IFDIR:
		if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0 {
			return unix.EISDIR
		}
	}
	return nil
}

// ErrFifo is what a Target's Open returns when the name it was to create is, since the walk,
// a FIFO that the open would wait on for its other end. The Target then stands for that FIFO:
// Open it again, with the same flags, where the wait can be released if the caller gives up.
var ErrFifo = errors.New("open: the name to create is a FIFO that would block")

// target opens what a Resolution resolved to. It is the Request's shim.Target.
type target struct {
	r *Resolver

	mu sync.Mutex
	// h is the resolved object (O_PATH), when it exists.
	h   handle
	obj shim.Object
	// parent is the directory that lacks name, when the object does not exist; missingDir
	// means a directory on the way was already missing.
	parent     handle
	name       []byte
	missingDir bool
	trailing   bool
	closed     bool
	// dir, uid (the object's owner) and fsuid are for may_create_in_sticky when Open is
	// asked for O_CREAT.
	dir        dirInfo
	uid, fsuid uint32
	// pid and tid are the caller's, for CallerFdDir.
	pid, tid int
}

// CallerFdDir reports whether the object is the caller's own procfs fd directory, which
// procfs lets the caller open whatever its credentials (proc_fd_permission), also when it is
// not dumpable and the directory is root's.
func (t *target) CallerFdDir() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.h.fd < 0 || !t.obj.Exists || t.obj.FsType != unix.PROC_SUPER_MAGIC || !t.obj.IsDir() {
		return false
	}
	dir, err := t.r.fdPath(t.h.fd, nil)
	if err != nil {
		return false
	}
	pid, tid, fdDir := procOwner(dir)
	return fdDir && t.r.isCaller(t.pid, t.tid, pid, tid)
}

var _ shim.Target = (*target)(nil)

// Open opens the resolved object with flags and mode as the caller would have, on the
// calling OS thread's credentials. An existing object is reopened through the supervisor's
// /proc/self/fd/N, which reaches exactly the inode the walk found; a missing last component is
// created in the directory the walk found, never through a symlink that appeared since.
func (t *target) Open(flags int, mode uint32) (*os.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, unix.EBADF
	}
	if !t.obj.Exists {
		return t.create(flags, mode)
	}
	fd, err := t.reopen(flags, mode)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), ""), nil
}

// OpenFd is Open with a bare descriptor for the caller to close: the supervisor's hot path
// hands it straight to the child, and an *os.File would cost an fcntl per open (os.NewFile
// asks for the file's flags).
func (t *target) OpenFd(flags int, mode uint32) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return -1, unix.EBADF
	}
	if !t.obj.Exists {
		f, err := t.create(flags, mode)
		if err != nil {
			return -1, err
		}
		defer f.Close()
		return unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	}
	return t.reopen(flags, mode)
}

// reopen opens the existing object as flags ask, through its path-only descriptor.
func (t *target) reopen(flags int, mode uint32) (int, error) {
	if err := t.check(flags); err != nil {
		return -1, err
	}
	var nb [24]byte
	namez := append(strconv.AppendInt(nb[:0], int64(t.h.fd), 10), 0)
	// The checks above did what O_CREAT, O_EXCL and O_NOFOLLOW ask of an existing object;
	// passed on, they would act on the magic link instead.
	// O_NOCTTY: a terminal opened here must never become scrim's controlling terminal (the
	// open runs in scrim's session, not the caller's); the caller cannot gain one this way.
	return openat(t.r.procFd, namez, flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW)|unix.O_NOCTTY, mode)
}

func (t *target) create(flags int, mode uint32) (*os.File, error) {
	if t.missingDir || flags&unix.O_CREAT == 0 || t.parent.fd < 0 {
		return nil, unix.ENOENT
	}
	if t.trailing {
		return nil, unix.EISDIR
	}
	namez := cpath(nil, t.name)
	// A FIFO may appear at name since the walk (another thread of the child makes one), and
	// an open of it without O_NONBLOCK waits for its other end: maybe for ever, the worker
	// past the child's exit. So the open that may meet one is made non-blocking, and a FIFO
	// it meets is handed back (ErrFifo) to be opened where a wait can be released. O_RDWR
	// never waits on a FIFO.
	mayWait := flags&unix.O_NONBLOCK == 0 && flags&unix.O_ACCMODE != unix.O_RDWR
	how := flags | unix.O_NOFOLLOW
	if mayWait {
		how |= unix.O_NONBLOCK
	}
	// O_NOFOLLOW: a symlink created at name since the walk would be followed by the
	// supervisor's kernel, outside what the handlers decided on. The caller then gets ELOOP.
	fd, err := openat(t.parent.fd, namez, how, mode)
	if !mayWait {
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), ""), nil
	}
	if err == unix.ENXIO && flags&unix.O_ACCMODE == unix.O_WRONLY {
		// A FIFO with no reader; or a socket or a device without a driver, which fail alike
		// when blocking.
		return nil, t.fifoAt(namez)
	}
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fstat created %q: %w", t.name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFIFO && flags&unix.O_ACCMODE == unix.O_RDONLY {
		// A blocking reader waits for a writer. The non-blocking reader stays open while the
		// caller opens the FIFO again, so the FIFO never loses the reader it already counts
		// (a writer in between would otherwise see EPIPE where the kernel gives none).
		t.become(handle{fd: fd}, &st)
		return nil, ErrFifo
	}
	// Anything else, and a FIFO opened for writing while it has a reader, opens at once when
	// blocking too: only the flag the child did not ask for goes.
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("clear O_NONBLOCK on created %q: %w", t.name, err)
	}
	return os.NewFile(uintptr(fd), ""), nil
}

// fifoAt handles ENXIO from a non-blocking O_WRONLY create: if name is now a FIFO, the target
// becomes it and fifoAt returns ErrFifo; otherwise the child gets ENXIO, as a blocking open
// gives for a socket or a device without a driver.
func (t *target) fifoAt(namez []byte) error {
	fd, err := openat(t.parent.fd, namez, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return unix.ENXIO
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		unix.Close(fd)
		return unix.ENXIO
	}
	// The non-blocking open passed may_create_in_sticky for the FIFO it met; this may be
	// another one.
	if err := t.r.mayCreateInSticky(t.dir, st.Mode, st.Uid, t.fsuid); err != nil {
		unix.Close(fd)
		return err
	}
	t.become(handle{fd: fd}, &st)
	return ErrFifo
}

// become makes the target stand for the existing object h, found where the walk found none.
func (t *target) become(h handle, st *unix.Stat_t) {
	t.h = h
	t.uid = st.Uid
	t.obj = shim.Object{Exists: true, Dev: st.Dev, Ino: st.Ino, Mode: st.Mode}
}

func (t *target) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	t.h.close()
	t.parent.close()
}
