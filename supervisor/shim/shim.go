// Package shim is the contract between scrim's supervisor and the handlers that decide what a
// sandboxed program sees when it opens a file.
//
// The supervisor decodes each open-family call once, resolves its path as the kernel would for
// the calling thread, and hands one *Request down a priority-ordered chain of Handlers. The
// first handler that returns anything but Next decides. Built-in shims (package builtin) and
// WebAssembly plugins (package plugins) implement the same interfaces; the supervisor cannot tell
// them apart.
//
// This package imports nothing else of scrim.
package shim

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Syscall names the call that produced a Request.
type Syscall uint8

// The path-taking calls scrim mediates, by family: the open family, then the stat-like calls
// (stat, access, readlink, chdir), which look a path up the same way and answer without a
// descriptor.
const (
	SysOpen Syscall = iota + 1
	SysOpenat
	SysOpenat2
	SysCreat
	SysStat
	SysLstat
	SysNewfstatat
	SysStatx
	SysAccess
	SysFaccessat
	SysFaccessat2
	SysReadlink
	SysReadlinkat
	SysChdir
	SysUnlink
	SysUnlinkat
	SysRmdir
	SysRename
	SysRenameat
	SysRenameat2
	SysLink
	SysLinkat
	SysSymlink
	SysSymlinkat
	SysMkdir
	SysMkdirat
	SysMknod
	SysMknodat
	SysTruncate
	SysChmod
	SysFchmodat
	SysFchmodat2
	SysChown
	SysLchown
	SysFchownat
	SysUtime
	SysUtimes
	SysFutimesat
	SysUtimensat
	SysSetxattr
	SysLsetxattr
	SysRemovexattr
	SysLremovexattr
	SysExecve
	SysExecveat
	SysGetxattr
	SysLgetxattr
	SysListxattr
	SysLlistxattr
	SysStatfs
	SysInotifyAddWatch
)

var syscallInfo = [...]struct {
	name string
	op   Op
}{
	SysOpen: {"open", OpOpen}, SysOpenat: {"openat", OpOpen}, SysOpenat2: {"openat2", OpOpen},
	SysCreat: {"creat", OpOpen}, SysStat: {"stat", OpStat}, SysLstat: {"lstat", OpStat},
	SysNewfstatat: {"newfstatat", OpStat}, SysStatx: {"statx", OpStat}, SysAccess: {"access", OpAccess},
	SysFaccessat: {"faccessat", OpAccess}, SysFaccessat2: {"faccessat2", OpAccess},
	SysReadlink: {"readlink", OpReadlink}, SysReadlinkat: {"readlinkat", OpReadlink},
	SysChdir:  {"chdir", OpChdir},
	SysUnlink: {"unlink", OpRemove}, SysUnlinkat: {"unlinkat", OpRemove}, SysRmdir: {"rmdir", OpRemove},
	SysRename: {"rename", OpRename}, SysRenameat: {"renameat", OpRename}, SysRenameat2: {"renameat2", OpRename},
	SysLink: {"link", OpLink}, SysLinkat: {"linkat", OpLink},
	SysSymlink: {"symlink", OpCreate}, SysSymlinkat: {"symlinkat", OpCreate},
	SysMkdir: {"mkdir", OpCreate}, SysMkdirat: {"mkdirat", OpCreate},
	SysMknod: {"mknod", OpCreate}, SysMknodat: {"mknodat", OpCreate},
	SysTruncate: {"truncate", OpModify}, SysChmod: {"chmod", OpModify}, SysFchmodat: {"fchmodat", OpModify},
	SysFchmodat2: {"fchmodat2", OpModify}, SysChown: {"chown", OpModify}, SysLchown: {"lchown", OpModify},
	SysFchownat: {"fchownat", OpModify}, SysUtime: {"utime", OpModify}, SysUtimes: {"utimes", OpModify},
	SysFutimesat: {"futimesat", OpModify}, SysUtimensat: {"utimensat", OpModify},
	SysSetxattr: {"setxattr", OpModify}, SysLsetxattr: {"lsetxattr", OpModify},
	SysRemovexattr: {"removexattr", OpModify}, SysLremovexattr: {"lremovexattr", OpModify},
	SysExecve: {"execve", OpExec}, SysExecveat: {"execveat", OpExec},
	SysGetxattr: {"getxattr", OpXattr}, SysLgetxattr: {"lgetxattr", OpXattr},
	SysListxattr: {"listxattr", OpXattr}, SysLlistxattr: {"llistxattr", OpXattr},
	SysStatfs: {"statfs", OpStat}, SysInotifyAddWatch: {"inotify_add_watch", OpWatch},
}

// String returns the kernel's name for the call.
func (s Syscall) String() string {
	if int(s) < len(syscallInfo) && syscallInfo[s].name != "" {
		return syscallInfo[s].name
	}
	return fmt.Sprintf("syscall(%d)", uint8(s))
}

// Op returns what the call does with the object its path names.
func (s Syscall) Op() Op {
	if int(s) < len(syscallInfo) {
		return syscallInfo[s].op
	}
	return OpOpen
}

// Op is what a call does with the object its path resolves to. Every op is resolved the same
// way; what differs is the answer: a descriptor, a struct written into the caller, a yes or
// no, a link's text, a new working directory.
type Op uint8

// The ops of the mediated calls.
const (
	// OpOpen opens the object (open, openat, openat2, creat).
	OpOpen Op = iota
	// OpStat describes the object (stat, lstat, newfstatat, statx) or its filesystem (statfs).
	OpStat
	// OpAccess checks a permission on it (access, faccessat, faccessat2).
	OpAccess
	// OpReadlink reads the symbolic link itself (readlink, readlinkat).
	OpReadlink
	// OpChdir makes it the working directory (chdir).
	OpChdir
	// OpRemove removes the name (unlink, unlinkat, rmdir).
	OpRemove
	// OpRename moves the object to another name (rename, renameat, renameat2). The chain is
	// asked about both names: the object's (Request.Dest false) and the new one (Dest true).
	OpRename
	// OpLink gives the object a second name (link, linkat), asked about both like OpRename.
	OpLink
	// OpCreate makes a new name: a directory, a node or a symbolic link (mkdir, mknod,
	// symlink and their *at forms). The Request names the new name, which does not exist.
	OpCreate
	// OpModify changes an existing object's data or metadata: truncate, chmod, chown, the
	// time calls, setxattr and removexattr.
	OpModify
	// OpExec executes the object (execve, execveat). It can only be let through or refused:
	// the kernel must run the program itself.
	OpExec
	// OpXattr reads one of the object's extended attributes or their names (getxattr,
	// listxattr and their l forms).
	OpXattr
	// OpWatch watches the object for changes (inotify_add_watch): what happens to its
	// contents and, for a directory, the names beneath it.
	OpWatch
)

// Changes reports whether the op changes the filesystem: a name or an object's data or
// metadata.
func (o Op) Changes() bool {
	switch o {
	case OpRemove, OpRename, OpLink, OpCreate, OpModify:
		return true
	}
	return false
}

// String names the op.
func (o Op) String() string {
	switch o {
	case OpOpen:
		return "open"
	case OpStat:
		return "stat"
	case OpAccess:
		return "access"
	case OpReadlink:
		return "readlink"
	case OpChdir:
		return "chdir"
	case OpRemove:
		return "remove"
	case OpRename:
		return "rename"
	case OpLink:
		return "link"
	case OpCreate:
		return "create"
	case OpModify:
		return "modify"
	case OpExec:
		return "exec"
	case OpXattr:
		return "xattr"
	case OpWatch:
		return "watch"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// OpSet is a set of ops.
type OpSet uint32

// Ops makes a set of ops.
func Ops(ops ...Op) OpSet {
	var s OpSet
	for _, o := range ops {
		s |= 1 << o
	}
	return s
}

// AllOps is every op: what a handler that denies or hides an object answers.
const AllOps = OpSet(1<<OpOpen | 1<<OpStat | 1<<OpAccess | 1<<OpReadlink | 1<<OpChdir |
	1<<OpRemove | 1<<OpRename | 1<<OpLink | 1<<OpCreate | 1<<OpModify | 1<<OpExec | 1<<OpXattr | 1<<OpWatch)

// Has reports whether o is in the set.
func (s OpSet) Has(o Op) bool { return s&(1<<o) != 0 }

// OpHandler is implemented by a Handler that decides calls other than opens itself. The chain
// asks it about a Request only when its Ops include the Request's Op.
//
// A Handler that does not implement OpHandler is asked about opens and, so that every call
// that looks at a path agrees with what an open of it serves, about the look-up ops (OpStat,
// OpAccess, OpReadlink, OpChdir, OpXattr, OpWatch) as if they were read-only opens: the Request
// keeps its Op and Syscall, its Flags are O_RDONLY. Its answers then mean:
//
//   - Serve: the path is what an open would serve (see "Metadata of served content" below);
//   - Deny: the open would be refused, not the look-up: the object is shown as it is (existence
//     is not the secret, and `ls -l`, `find` must not fail on it), except for its extended
//     attributes, whose values are contents too: it has none (getxattr ENODATA, listxattr an
//     empty list); and it cannot be watched (inotify_add_watch gets the errno), since a watch
//     reports changes to its contents and the names beneath it. Deny with ENOENT hides the
//     object from every call;
//   - Next and Real: the real object answers.
//
// It is never asked about the ops that change names or objects, nor exec: those act on the
// real object or are refused by the security band.
//
// # Metadata of served content
//
// For every path a handler serves, the supervisor answers stat, lstat, newfstatat, statx,
// access, faccessat, faccessat2, readlink, readlinkat, chdir, statfs, getxattr, listxattr and
// their l forms from the served content, and nothing else is needed from a handler:
//
//   - Bytes: a regular, read-only file. stat says st_dev and st_ino of the sealed memfd an open
//     of the path returns (the supervisor keeps one per path and content, so stat(path) and
//     fstat of the opened descriptor agree in device, inode, size and type, as cp and tar
//     check), st_size len(Data), st_mode Mode (S_IFREG|0o444 when zero), st_nlink 1, the times
//     ModTime (or when the content was first served). fstat of the served descriptor through
//     newfstatat or statx with AT_EMPTY_PATH says the same, nlink included.
//   - File: what fstat of the handler's descriptor says.
//   - Stream: the real object answers (a pipe has no size to promise).
//   - Meta (only from an OpHandler, for a look-up op): what the content would be, without
//     building it. For OpStat of a regular file the supervisor still needs the inode an open
//     would return: it uses the memfd it holds for the path when its size is Meta.Size, and
//     otherwise asks the same handler about the path as a read-only open (Op OpOpen) and
//     answers from that content.
//
// A served file has no extended attributes: getxattr answers ENODATA and listxattr an empty
// list, as for a memfd; statfs describes the memfds' filesystem; inotify_add_watch watches the
// memfd an open returns, which never changes. access answers 0 for F_OK and R_OK, EROFS for W_OK and EACCES for
// X_OK unless the mode has an execute bit; readlink answers EINVAL (a served file is no link); chdir answers ENOTDIR for
// a file. readlink of /proc/PID/fd/N of a served descriptor reads as the canonical path the
// program opened, never as the memfd's name.
//
// A served path listed in a directory that does not hold it on disk: the literal claims
// (Claimer's exact paths) and the Lister paths of a handler that serves them show in a listing
// (getdents64) of their parent directory, typed by what the handler answers a stat of them.
// Pattern claims and handlers without either add no names.
type OpHandler interface {
	Ops() OpSet
}

// Lister is implemented by a Handler that serves literal paths but is no Claimer (it also
// decides by identity, which no claim can describe): Listed returns those canonical paths, and
// a listing of their parent directory shows each one the handler serves and the disk does not
// hold, as it shows a Claimer's exact claims. Unlike Claims, it narrows nothing the handler is
// asked about.
type Lister interface {
	Listed() []string
}

// LookupOps are the ops that look a path up and describe what they find without changing
// it: what a handler that is not an OpHandler is asked about besides OpOpen.
const LookupOps = OpSet(1<<OpStat | 1<<OpAccess | 1<<OpReadlink | 1<<OpChdir | 1<<OpXattr | 1<<OpWatch)

// ShownOps are the look-up ops that show an object whose open a handler refuses as it is:
// its existence is not the secret. The others of LookupOps, its extended attributes and a
// watch of it, reach what the refusal keeps (see OpHandler).
const ShownOps = OpSet(1<<OpStat | 1<<OpAccess | 1<<OpReadlink | 1<<OpChdir)

// Cred is the calling thread's credentials at the time of the call, read by the supervisor.
type Cred struct {
	UID, EUID, FSUID uint32
	GID, EGID, FSGID uint32
	Groups           []uint32
	// CapEffective is the effective capability set, bit N meaning capability N.
	CapEffective uint64
}

// Object is the identity of what a path resolved to. Handlers that protect an object match on
// it (device and inode; for procfs also FsType), never only on how the path was spelled.
type Object struct {
	// Exists is false when the last component does not exist (an O_CREAT candidate); the
	// other fields are then zero.
	Exists bool
	Dev    uint64
	Ino    uint64
	// Mode is st_mode: the file type and permission bits.
	Mode uint32
	// Rdev is st_rdev, the device a character or block special file stands for (encoded as
	// unix.Mkdev does); zero for other files. Device shims match on it, so that a device node
	// made anywhere, under any name, is still the same device.
	Rdev uint64
	// FsType is statfs's f_type of the filesystem holding the object, such as
	// unix.PROC_SUPER_MAGIC.
	FsType int64
}

// DirID is a directory's identity: its device and inode.
type DirID struct{ Dev, Ino uint64 }

// IsDir reports whether the object is a directory.
func (o Object) IsDir() bool { return o.Exists && o.Mode&unix.S_IFMT == unix.S_IFDIR }

// Request is one mediated call, decoded and resolved once, shared read-only by every handler
// in the chain. Handlers must not keep it after they return.
type Request struct {
	Syscall Syscall
	// Op is what the call does with the object: Syscall.Op().
	Op Op
	// Dest marks the Request for the second path of a rename or link: the name the object
	// is to get. The chain is asked about the first path and then about this one.
	Dest bool
	// Dirs are the identities (Dev, Ino) of the directories the walk passed through to reach
	// Path, from the first to the one holding the last component, so a handler can tell that
	// an object lies beneath a directory it protects whatever the directory is called now.
	Dirs []DirID
	// PID is the caller's thread group id and TID its thread id, both in scrim's pid namespace.
	PID, TID int
	// Spelled is the path exactly as the child passed it, without the terminating NUL. It is
	// for logs and audit only: decisions are made on Path and Object.
	Spelled []byte
	// Dirfd is the directory descriptor the call passed (unix.AT_FDCWD for open and creat).
	Dirfd int32
	// Path is the canonical absolute path of the object as the child sees it from its own
	// root: no "." or "..", no symlinks, no "//", /proc/self and /proc/thread-self replaced by
	// the caller's ids. It is bytes: Linux paths need not be UTF-8.
	Path []byte
	// Object identifies what Path resolved to.
	Object Object
	// Flags are the open flags (O_*) as the child passed them; creat's are
	// O_CREAT|O_WRONLY|O_TRUNC. Zero for the ops other than OpOpen.
	Flags int
	// Mode is the creation mode as passed, before the umask.
	Mode uint32
	// Resolve holds openat2's RESOLVE_* flags; zero for the other calls.
	Resolve uint64
	// Cred and Umask are the caller's at the time of the call.
	Cred  Cred
	Umask uint32
	// Target opens the resolved object for real, as the child. The chain runs on a thread
	// that already carries the child's credentials, so a handler that calls it (a plugin
	// reading the real file to transform it) can see only what the child could.
	Target Target
}

// PathString returns Path as a string, for logs and matching tables.
func (r *Request) PathString() string { return string(r.Path) }

// AccessMode returns Flags & O_ACCMODE.
func (r *Request) AccessMode() int { return r.Flags & unix.O_ACCMODE }

// WantsWrite reports whether the call could change the file or create one: write access,
// truncation or creation. The supervisor answers EROFS for such calls on served content.
func (r *Request) WantsWrite() bool {
	return r.AccessMode() != unix.O_RDONLY || r.Flags&(unix.O_TRUNC|unix.O_CREAT) != 0 ||
		r.Flags&unix.O_TMPFILE == unix.O_TMPFILE
}

// ReadOnlyErrno is what served content (Bytes, Stream) answers req with instead of the
// content: EROFS for a call that wants to write, truncate or create, ENOTDIR for O_DIRECTORY,
// 0 when the content may be served. The supervisor applies it to every shim's content.
func (r *Request) ReadOnlyErrno() unix.Errno {
	switch {
	case r.WantsWrite():
		return unix.EROFS
	case r.Flags&unix.O_DIRECTORY != 0:
		return unix.ENOTDIR
	}
	return 0
}

// Target opens the object a Request resolved to.
type Target interface {
	// Open opens the resolved object with flags and mode as the child would have. Errors
	// wrap a unix.Errno the child may be given.
	Open(flags int, mode uint32) (*os.File, error)
}

// Action is what a handler decided.
type Action uint8

// The actions a handler can take.
const (
	// ActNext passes the request to the next handler.
	ActNext Action = iota
	// ActDeny fails the call with Result.Errno.
	ActDeny
	// ActServe gives the child Result.Content instead of the real file.
	ActServe
	// ActReal skips the remaining handlers and opens the real file (root resolution).
	ActReal
)

// String names the action for logs and the audit log.
func (a Action) String() string {
	switch a {
	case ActNext:
		return "next"
	case ActDeny:
		return "deny"
	case ActServe:
		return "serve"
	case ActReal:
		return "real"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Result is a handler's answer for one Request. Use Next, Deny, Real or Serve to build one.
type Result struct {
	Action  Action
	Errno   unix.Errno
	Content Content
}

// Next passes the request on to the next handler in the chain.
func Next() Result { return Result{Action: ActNext} }

// Deny fails the call with errno.
func Deny(errno unix.Errno) Result { return Result{Action: ActDeny, Errno: errno} }

// Real ends the chain with the real open, skipping the handlers after this one.
func Real() Result { return Result{Action: ActReal} }

// Serve gives the child c in place of the real file.
func Serve(c Content) Result { return Result{Action: ActServe, Content: c} }

// ServeBytes serves data as a read-only regular file.
func ServeBytes(name string, data []byte) Result {
	return Serve(Bytes{Name: name, Data: data})
}

// Content is what a handler serves. It is one of Bytes, Stream or File, or, for the look-up
// ops only, Meta.
//
// For Bytes and Stream the supervisor enforces the rules of a read-only virtual file: a call
// that wants to write, truncate or create gets EROFS, O_DIRECTORY gets ENOTDIR, and O_CLOEXEC and
// O_NONBLOCK are honoured. A File is injected as the handler opened it.
type Content interface{ content() }

// Bytes is complete content, served as a sealed memfd: fstat, lseek, pread and mmap work.
type Bytes struct {
	// Name labels the content in scrim's logs. The program never sees it: the served
	// descriptor's /proc/PID/fd link reads as the path that was opened.
	Name string
	Data []byte
	// Mode is the st_mode the file shows (fstat, ls -l): S_IFREG and the permission bits,
	// such as unix.S_IFREG|0o444. Zero means unix.S_IFREG|0o444.
	Mode uint32
	// ModTime is the file's modification and access time (stat's st_mtime and st_atime);
	// zero means the time scrim first served this content at this path.
	ModTime time.Time
}

// Meta describes content a handler would serve, without the content: an OpHandler's answer
// to a look-up op (OpStat, OpAccess, OpReadlink, OpChdir, OpXattr, OpWatch) where saying what
// an open would serve is cheaper than building it. See OpHandler for how the supervisor answers
// it. Meta answers no open: Serve(Meta) for OpOpen is a handler error.
type Meta struct {
	// Size is the length in bytes of the content an open would serve.
	Size int64
	// Mode is unix.S_IFREG or unix.S_IFDIR and the permission bits; zero means
	// unix.S_IFREG|0o444. A directory is shown with size 0 and nlink 2.
	Mode uint32
	// ModTime is as Bytes.ModTime.
	ModTime time.Time
}

// Stream is content without an end or too large to build up front, served through a pipe that
// a goroutine fills from Reader until the child closes its end or Reader returns an error.
type Stream struct {
	Name   string
	Reader io.Reader
}

// File is a descriptor the handler opened itself. The supervisor injects it and closes F.
type File struct {
	F *os.File
}

func (Bytes) content()  {}
func (Stream) content() {}
func (File) content()   {}
func (Meta) content()   {}

// Handler decides mediated calls. Open is called concurrently from several goroutines and
// must be safe for that. A returned error means the handler could not decide: the supervisor
// logs it and the child gets EIO (fail closed). So does a panic.
type Handler interface {
	// ID is the handler's namespaced name: "builtin.hosts", "plugin.motd".
	ID() string
	// Open decides req: an open, a look-up op (OpStat, OpAccess, OpReadlink, OpChdir, OpXattr,
	// OpWatch), or another op where the handler implements OpHandler (see OpHandler for what
	// each answer means for each op). Serve for an op that changes names or objects, or for
	// exec, is a handler error.
	Open(ctx context.Context, req *Request) (Result, error)
}

// Claimer is implemented by a Handler that decides only on paths it can describe in advance.
// The chain indexes those once and asks the handler only about opens that fit, so an open no
// such handler claims costs one lookup and a few comparisons however many are loaded, instead
// of a call into each.
type Claimer interface {
	// Claims returns the canonical paths the handler decides on, and patterns that cover
	// every other path it may decide on. The index must never leave out a path the handler
	// would decide on, so the description may say more than the handler's own matching,
	// never less; it must not change once the handler is registered.
	Claims() (exact []string, patterns []PathPattern)
}

// PathPattern covers the canonical paths that start with Prefix, end with Suffix and contain
// Contains; empty fields constrain nothing.
type PathPattern struct {
	Prefix, Suffix, Contains string
}

// Band places a handler in the chain. Bands run in order; within a band, lower Priority runs
// first, and equal priorities keep registration order. The real open (root resolution) is the
// supervisor's own last step and belongs to no band.
type Band uint8

// The bands of the chain.
const (
	// BandSecurity holds the shims that deny or hide (/proc deny, per-PID /proc). They always
	// run first; no configuration can move a handler before them.
	BandSecurity Band = iota
	// BandVirtual holds virtual-file shims and WebAssembly plugins, ordered by Priority.
	BandVirtual
)

// Priorities conventionally used inside BandVirtual. Plugins may choose any value to run
// before, between or after the built-in virtual files.
const (
	PriorityBuiltin = 100
	PriorityPlugin  = 500
)

// Registration is one handler's place in the chain.
type Registration struct {
	Handler  Handler
	Band     Band
	Priority int
}

// Call is a non-open system call a SyscallHandler took over, such as getdents64 on /proc or
// uname. Its arguments are the raw registers; anything behind a pointer must be read once
// through Mem and never trusted twice.
type Call struct {
	Nr   int
	Args [6]uint64
	// PID is the caller's thread group id and TID its thread id.
	PID, TID int
	// Mem reads and writes the caller's memory. Reads are checked to still belong to a live
	// notification before they return.
	Mem Memory
	// Fd duplicates the caller's file descriptor n into the supervisor (sharing its file
	// description, offset included). The handler closes the returned file.
	Fd func(n int) (*os.File, error)
	// Served lists the entries the open chain serves directly in the directory dir (a
	// descriptor Fd returned) that the directory does not hold on disk: what a listing
	// (getdents64) adds to the kernel's entries (see OpHandler). Nil when no handler can serve
	// such a name.
	Served func(dir *os.File) ([]DirEntry, error)
}

// DirEntry is one name a listing shows.
type DirEntry struct {
	Name string
	// Type is the d_type: unix.DT_REG or unix.DT_DIR.
	Type uint8
}

// Memory is access to a child's address space.
type Memory interface {
	ReadAt(p []byte, addr uint64) (int, error)
	WriteAt(p []byte, addr uint64) (int, error)
}

// SyscallResult answers a Call.
type SyscallResult struct {
	Val      int64
	Errno    unix.Errno
	Continue bool
}

// Return makes the call return v.
func Return(v int64) SyscallResult { return SyscallResult{Val: v} }

// Fail makes the call fail with errno.
func Fail(errno unix.Errno) SyscallResult { return SyscallResult{Errno: errno} }

// Continue lets the kernel run the call itself. It is only sound when nothing the handler
// decided depends on memory the child can still change.
func Continue() SyscallResult { return SyscallResult{Continue: true} }

// SyscallHandler takes over non-open system calls. Each syscall number belongs to at most one
// handler; two claiming the same number is a start-up error.
type SyscallHandler interface {
	ID() string
	// Syscalls lists the x86_64 syscall numbers the handler takes over.
	Syscalls() []int
	Syscall(ctx context.Context, call *Call) (SyscallResult, error)
}

// FilterRefusal is a call the filter itself fails with Errno when its argument Arg (0-5) ANDed
// with Mask equals Value: decided on a register alone, such a call never reaches the
// supervisor, which saves a round trip for calls a program makes often (mmap).
type FilterRefusal struct {
	Nr, Arg     int
	Mask, Value uint64
	Errno       unix.Errno
}

// FilterRefuser is a SyscallHandler that also has the filter refuse calls by their registers.
// A call it refuses this way may not be one any handler takes over.
type FilterRefuser interface {
	FilterRefusals() []FilterRefusal
}

// Sandbox is what handlers may ask about the sandbox they serve. It is valid from Provision on;
// its answers describe the running sandbox once the child has started.
type Sandbox interface {
	// Contains reports whether pid (a thread group id or a thread id) belongs to the
	// sandbox's process tree, orphans included, and is not scrim itself.
	Contains(pid int) bool
	// Pids lists the thread group ids of the sandbox's processes in ascending order.
	Pids() []int
	// Root is the host path of the child's root directory: "/" or the image directory.
	Root() string
}

// Env is what a handler receives when it is provisioned.
type Env struct {
	Log     hclog.Logger
	Sandbox Sandbox
}

// Provisioner is implemented by handlers that need set-up after their options are decoded:
// reading host files, resolving names, compiling WebAssembly.
type Provisioner interface {
	Provision(env Env) error
}

// Validator is implemented by handlers that check their provisioned state before the child
// starts. An error stops scrim with exit status 125.
type Validator interface {
	Validate() error
}

// CPUConfiner is implemented by a handler that confines the sandbox to some of the host's CPUs
// (builtin.cpu with --cpus). After Provision the supervisor asks it once and gives the set to
// the thread that starts the program, before anything of the program runs, so that no thread
// of the sandbox ever runs elsewhere: affinity is inherited by every thread and process.
type CPUConfiner interface {
	// ConfineCPUs lists the host CPUs the sandbox may run on; empty leaves the affinity as it is.
	ConfineCPUs() []int
}

// Cleaner is implemented by handlers that hold resources to release when the sandbox ends.
type Cleaner interface {
	Cleanup() error
}
