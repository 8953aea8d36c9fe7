package resolver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// maxSymlinks mirrors MAXSYMLINKS in include/linux/namei.h: the 41st link of one lookup is
// ELOOP.
const maxSymlinks = 40

// procRootIno is PROC_ROOT_INO: the inode of every procfs mount's root directory.
const procRootIno = 1

// stNosymfollow is ST_NOSYMFOLLOW from include/linux/statfs.h (mount -o nosymfollow).
const stNosymfollow = 0x2000

// Options configures a Resolver.
type Options struct {
	// Root is the host path of the children's root directory: "/" (the default) or the image
	// directory in chroot mode. Children cannot change their root (chroot and pivot_root are
	// denied), so the Resolver opens it once.
	Root string
	// Log receives debug messages; nil discards them.
	Log hclog.Logger
	// Visible reports whether /proc/<pid> may be walked through: whether pid belongs to the
	// sandbox. A walk into any other pid's entry fails with ENOENT, as if a pid namespace hid
	// it, so a foreign process's root, cwd or fd magic links cannot carry a path out of the
	// sandbox's view. nil hides only scrim's own process.
	Visible func(pid int) bool
	// ProcIDs maps a caller's pid and tid to the numbers the sandbox's procfs knows them by,
	// for a sandbox in a pid namespace of its own (a container): /proc/self and
	// /proc/thread-self mean those. nil means the numbers are the supervisor's.
	ProcIDs func(pid, tid int) (int, int)
}

// Resolver resolves the paths of open-family calls as the kernel would for the calling
// thread. It is safe for concurrent use; each Resolve must run on an OS thread that carries
// the caller's fsuid, fsgid, supplementary groups, capabilities and umask.
type Resolver struct {
	log hclog.Logger
	// root is an O_PATH descriptor of the children's root directory, rootPath its host path
	// ("" for "/"), and shared reports whether it is also the supervisor's root.
	root     int
	rootID   ident
	rootSt   unix.Statx_t
	rootPath []byte
	shared   bool
	// procFd and procTask are O_PATH descriptors of the supervisor's /proc/self/fd and
	// /proc/self/task: the first reopens and names resolved descriptors, the second tells the
	// supervisor's own /proc entries apart.
	procFd   int
	procTask int
	self     int // the supervisor's thread group id
	visible  func(pid int) bool
	procIDs  func(pid, tid int) (int, int)
	// protectedSymlinks, protectedRegular and protectedFifos are the fs.protected_*
	// sysctls, read once: the walk follows symlinks itself and the reopen of an existing file
	// drops O_CREAT, so scrim applies may_follow_link and may_create_in_sticky like the kernel.
	protectedSymlinks bool
	protectedRegular  int
	protectedFifos    int
	// noFast turns the fast path off, so that tests cover the component walk alone.
	noFast bool
	// selfIno and threadSelfIno are the inode numbers of procfs's self and thread-self
	// links, the same in every procfs mount: their text depends on who reads them.
	selfIno, threadSelfIno uint64
	// blockFsTypes caches the filesystem type of filesystems on block devices by device
	// number (fsTypeOf); copied on write, so that a look-up takes no lock.
	blockFsTypes atomic.Pointer[map[uint64]int64]
}

// ident is what namei's path_equal compares: the mount and the directory entry (a directory
// has exactly one).
type ident struct{ dev, ino, mnt uint64 }

func identOf(st *unix.Statx_t) ident {
	return ident{unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino, st.Mnt_id}
}

// New opens what the Resolver needs for the life of the sandbox.
func New(opts Options) (*Resolver, error) {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("open root %q: not an absolute path", root)
	}
	log := opts.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &Resolver{log: log, root: -1, procFd: -1, procTask: -1, self: os.Getpid(), visible: opts.Visible, procIDs: opts.ProcIDs}
	var err error
	if r.root, err = unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open root %s: %w", root, err)
	}
	var st, sup unix.Statx_t
	if err := statFd(r.root, &st); err != nil {
		r.Close()
		return nil, fmt.Errorf("statx root %s: %w", root, err)
	}
	r.rootID, r.rootSt = identOf(&st), st
	if err := unix.Statx(unix.AT_FDCWD, "/", unix.AT_STATX_DONT_SYNC, unix.STATX_INO|unix.STATX_MNT_ID, &sup); err != nil {
		r.Close()
		return nil, fmt.Errorf("statx /: %w", err)
	}
	r.shared = identOf(&sup) == r.rootID
	if r.procFd, err = unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		r.Close()
		return nil, fmt.Errorf("open /proc/self/fd: %w", err)
	}
	if r.procTask, err = unix.Open("/proc/self/task", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		r.Close()
		return nil, fmt.Errorf("open /proc/self/task: %w", err)
	}
	if !r.shared {
		p, err := r.fdPath(r.root, nil)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("readlink root %s: %w", root, err)
		}
		r.rootPath = p
	}
	var lst unix.Stat_t
	if unix.Lstat("/proc/self", &lst) == nil {
		r.selfIno = lst.Ino
	}
	if unix.Lstat("/proc/thread-self", &lst) == nil {
		r.threadSelfIno = lst.Ino
	}
	r.protectedSymlinks = sysctl(log, "protected_symlinks", 1) != 0
	r.protectedRegular = sysctl(log, "protected_regular", 2)
	r.protectedFifos = sysctl(log, "protected_fifos", 2)
	return r, nil
}

// sysctl reads /proc/sys/fs/name, or returns strict (the most restrictive value) if it
// cannot.
func sysctl(log hclog.Logger, name string, strict int) int {
	b, err := os.ReadFile("/proc/sys/fs/" + name)
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	log.Warn("cannot read a filesystem sysctl, assuming its strictest value", "sysctl", "fs."+name, "error", err)
	return strict
}

// Close releases the Resolver's descriptors. Resolutions still open keep working.
func (r *Resolver) Close() error {
	for _, fd := range []*int{&r.root, &r.procFd, &r.procTask} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	return nil
}

// Resolution is the outcome of one Resolve: the Request the handler chain shares and the
// descriptors behind its Target. Close it when the call has been answered.
type Resolution struct {
	Request shim.Request
	t       target
	// namez is the walk's scratch buffer for NUL-terminated names, kept from one resolution to
	// the next when a caller reuses its Resolution (ResolveInto), so that a walk allocates none.
	namez []byte
}

// Close releases the descriptors the resolution holds. It is safe to call more than once.
func (res *Resolution) Close() error {
	res.t.close()
	return nil
}

// Resolve resolves in's path for the calling thread described by child and returns the
// Request the handler chain decides on. Like Decode, an error the child should get is a bare
// unix.Errno (ChildErrno); any other error means scrim could not resolve and must fail closed.
//
// A path whose last component does not exist resolves with Object.Exists false; so does one
// with a missing directory on the way, whose remaining components are then appended as
// spelled (".." after a missing component is ENOENT, as in the kernel). Request.Target.Open
// then fails as the kernel would, or creates the file for O_CREAT.
func (r *Resolver) Resolve(in *Input, child Child) (*Resolution, error) {
	res := new(Resolution)
	if err := r.ResolveInto(res, in, child); err != nil {
		return nil, err
	}
	return res, nil
}

// ResolveInto is Resolve writing into res, so that a caller resolving one path at a time (a
// worker thread of the supervisor) reuses one Resolution instead of allocating one per call.
// res must be new or closed; on error it holds nothing to close.
func (r *Resolver) ResolveInto(res *Resolution, in *Input, child Child) error {
	if len(in.Path) == 0 && !in.Lookup.EmptyPath {
		return unix.ENOENT // getname, as Decode would have answered
	}
	*res = Resolution{t: target{r: r, h: noHandle, parent: noHandle}, namez: res.namez[:0]}
	res.Request = shim.Request{
		Syscall: in.Syscall,
		Op:      in.Op(),
		PID:     in.PID,
		TID:     in.TID,
		Spelled: in.Path,
		Dirfd:   in.Dirfd,
		Flags:   int(in.Flags),
		Mode:    uint32(in.Mode),
		Resolve: in.Resolve,
	}
	cred, umask, err := child.Cred()
	if err != nil {
		return fmt.Errorf("read credentials of tid %d: %w", in.TID, err)
	}
	res.Request.Cred, res.Request.Umask = cred, umask
	w := walker{r: r, in: in, child: child, res: res, cur: noHandle, scope: noHandle, parent: noHandle, namez: res.namez}
	defer func() { res.namez = w.namez[:0] }()
	defer w.cleanup()
	run := w.run
	if len(in.Path) == 0 {
		run = w.empty
	}
	if err := run(); err != nil {
		return err
	}
	if err := w.finish(); err != nil {
		res.Close()
		return err
	}
	res.Request.Target = &res.t
	return nil
}

// handle is a descriptor the walk holds: its own, one a Child handed over (f), or the
// Resolver's root (borrowed, never closed).
type handle struct {
	fd       int
	f        *os.File
	borrowed bool
}

var noHandle = handle{fd: -1}

func (h handle) close() {
	switch {
	case h.borrowed || h.fd < 0:
	case h.f != nil:
		h.f.Close()
	default:
		unix.Close(h.fd)
	}
}

func fileHandle(f *os.File) handle { return handle{fd: int(f.Fd()), f: f} }

// fdPath returns the supervisor's view of the path of its descriptor fd, appended to buf.
func (r *Resolver) fdPath(fd int, buf []byte) ([]byte, error) {
	var nb [24]byte
	return readlinkat(r.procFd, strconv.AppendInt(nb[:0], int64(fd), 10), buf)
}

// viewPath returns the path of fd as the child sees it, without a trailing slash ("" is the
// root), and whether the kernel names it by a path at all (a pipe or socket it does not).
// Outside the children's root the host path is the best name there is.
func (r *Resolver) viewPath(fd int) ([]byte, bool, error) {
	p, err := r.fdPath(fd, nil)
	if err != nil {
		return nil, false, fmt.Errorf("readlink fd %d: %w", fd, err)
	}
	if len(p) == 0 || p[0] != '/' {
		return p, false, nil
	}
	if !r.shared {
		if bytes.Equal(p, r.rootPath) {
			return p[:0], true, nil
		}
		if bytes.HasPrefix(p, r.rootPath) && p[len(r.rootPath)] == '/' {
			p = p[len(r.rootPath):]
		}
	}
	if len(p) == 1 {
		p = p[:0]
	}
	return p, true, nil
}

// childErr turns an error from a Child into what the caller sees: EBADF for a descriptor the
// caller does not have, a Go error for anything else.
func childErr(what string, err error) error {
	if errors.Is(err, unix.EBADF) {
		return unix.EBADF
	}
	return fmt.Errorf("get %s of the caller: %w", what, err)
}

// procNumbers returns the caller's pid and tid as the sandbox's procfs numbers them
// (Options.ProcIDs).
func (r *Resolver) procNumbers(pid, tid int) (int, int) {
	if r.procIDs == nil {
		return pid, tid
	}
	return r.procIDs(pid, tid)
}
