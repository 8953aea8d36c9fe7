package resolver

import (
	"os"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Input is one mediated call decoded from a seccomp notification. Decode builds it from the
// registers and the child's memory, reading each byte exactly once.
type Input struct {
	Syscall shim.Syscall
	// Lookup is what the kernel will look up. The walk reads only this, never a family's
	// own flags, so every family resolves the same way.
	Lookup Lookup
	PID    int // thread group id of the caller
	TID    int // the calling thread (seccomp_notif.pid)
	Dirfd  int32
	// Path is the path bytes without the terminating NUL.
	Path []byte
	// Flags and Mode are what the kernel acts on: for open, openat and creat what
	// build_open_how keeps (unknown bits dropped, only O_PATH_FLAGS with O_PATH, no mode
	// without O_CREAT or O_TMPFILE); for openat2 open_how's as passed, validated.
	// O_LARGEFILE, which the kernel adds on 64-bit, is not added.
	Flags uint64
	Mode  uint64
	// Resolve holds openat2's RESOLVE_* flags; zero for the other calls.
	Resolve uint64
	// For the ops other than OpOpen: Out is the caller's buffer the answer goes to (the
	// struct stat or statx, readlink's text) and OutLen its size (readlink's bufsiz); Arg
	// is statx's mask or access's mode; AtFlags the AT_* flags as passed.
	Out, OutLen uint64
	Arg         uint64
	AtFlags     int
	// For the calls that name two paths (rename, link): the second, resolved on its own
	// into a second Request, and how it is looked up. Dirfd2 is AT_FDCWD for the older forms.
	Dirfd2  int32
	Path2   []byte
	Lookup2 Lookup
	// Args are the call's other arguments as read once from registers and memory: a mode,
	// owner, length or flags (Arg2, Arg3), and bytes the call carries (Data: a symbolic
	// link's text, an xattr's name and value, the times of a utime call).
	Arg2, Arg3 uint64
	Data       []byte
	Data2      []byte
}

// Second returns the Input for a call's second path (rename, link), to be resolved on its own.
func (in *Input) Second() Input {
	return Input{Syscall: in.Syscall, PID: in.PID, TID: in.TID, Dirfd: in.Dirfd2, Path: in.Path2, Lookup: in.Lookup2}
}

// Lookup says how the last component of a path is looked up, whatever the call.
type Lookup struct {
	// NoFollow makes a symbolic link in the last component the object instead of following
	// it: O_NOFOLLOW, O_CREAT|O_EXCL, AT_SYMLINK_NOFOLLOW, lstat and readlink.
	NoFollow bool
	// Create means the last component may be created (O_CREAT): a trailing slash is EISDIR
	// before anything is looked up.
	Create bool
	// EmptyPath lets an empty path name the starting directory or descriptor itself
	// (AT_EMPTY_PATH, and always for readlinkat).
	EmptyPath bool
	// Parent is LOOKUP_PARENT: the call acts on the last component's name in its directory
	// (unlink, rename, mkdir, ...), so the walk keeps that directory and the name, never
	// follows the last component, and also describes the object the name holds, if any.
	Parent bool
}

// Op returns what the call does with its object.
func (in *Input) Op() shim.Op { return in.Syscall.Op() }

// Child gives the resolver what only the supervisor can reach with its own rights. The
// resolver itself runs on a thread that already carries the child's credentials.
type Child interface {
	// Cwd and Root return O_PATH descriptors of the calling thread's working directory and
	// root directory.
	Cwd() (*os.File, error)
	Root() (*os.File, error)
	// Fd duplicates the calling thread's file descriptor n (an error wrapping unix.EBADF if
	// it is not open).
	Fd(n int) (*os.File, error)
	// Cred returns the calling thread's credentials and umask.
	Cred() (shim.Cred, uint32, error)
}
