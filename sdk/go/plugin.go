// Package plugin writes scrim plugins in Go. Build them with Go 1.24 or later as WebAssembly
// reactors:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// A plugin registers itself from an init function and leaves main empty:
//
//	func init() {
//		plugin.Register(plugin.Plugin{
//			Name:   "motd",
//			Claims: []string{"/etc/motd"},
//			Open: func(req *plugin.Request) plugin.Verdict {
//				return plugin.ServeString("hello\n")
//			},
//		})
//	}
//
//	func main() {}
//
// The package hides scrim's ABI (plugins/ABI.md in the scrim repository): its exports, the
// request layout and the buffers crossing between scrim and the plugin.
package plugin

import "errors"

// Plugin is what a plugin tells scrim about itself and how it decides.
type Plugin struct {
	// Name and Version appear in scrim's messages; the user's configuration names the
	// plugin for scrim.
	Name, Version string
	// Claims are the path patterns the plugin decides: exact paths, "/dir/**" for
	// everything below a directory, "*" and "?" inside one component. scrim asks about no
	// other path; the user may add claims in the configuration.
	Claims []string
	// ClaimsFrom, when set, adds claims computed from the configuration, such as a prefix
	// the user configures: scrim asks about those paths and no others. It runs once, before
	// Init, and needs scrim 1.1 or later (plugins/ABI.md §3).
	ClaimsFrom func(cfg Config) ([]string, error)
	// Init, when set, receives the plugin's configuration once per instance. An error
	// stops scrim before the sandbox starts and is shown to the user.
	Init func(cfg Config) error
	// Open decides one open of a claimed path, and each look-up of one (req.Op): what a stat,
	// access or listing of the path shows follows what Open serves for it. It must give the
	// same answer whichever instance of the plugin runs it: scrim may run several and replace
	// them at any time.
	Open func(req *Request) Verdict
}

var registered *Plugin

// Register makes p the plugin this module implements. Call it once, from an init function.
func Register(p Plugin) {
	if registered != nil {
		panic("plugin: Register called twice")
	}
	if p.Open == nil {
		panic("plugin: Register needs an Open function")
	}
	registered = &p
}

// Syscall is the call that made a request.
type Syscall uint32

// The calls scrim reports: the open family, then the look-ups (Op other than OpOpen).
const (
	SysOpen       Syscall = 1
	SysOpenat     Syscall = 2
	SysOpenat2    Syscall = 3
	SysCreat      Syscall = 4
	SysStat       Syscall = 5
	SysLstat      Syscall = 6
	SysNewfstatat Syscall = 7
	SysStatx      Syscall = 8
	SysAccess     Syscall = 9
	SysFaccessat  Syscall = 10
	SysFaccessat2 Syscall = 11
	SysReadlink   Syscall = 12
	SysReadlinkat Syscall = 13
	SysChdir      Syscall = 14
)

// Op is what a request asks about: an open, which needs the content, or a look-up, which
// needs only what the served file is (its size, mode and time).
type Op uint32

// The ops scrim asks about. A look-up of a path the plugin serves is answered from its verdict:
// Serve, or ServeSize without building the content.
const (
	OpOpen   Op = 0
	OpStat   Op = 1 // stat, lstat, newfstatat, statx, readlink, chdir, getxattr, listxattr, a listing of the parent
	OpAccess Op = 2 // access, faccessat, faccessat2
)

// Linux open flags, as the sandboxed program passes them on x86_64.
const (
	O_ACCMODE   = 0x3
	O_RDONLY    = 0x0
	O_WRONLY    = 0x1
	O_RDWR      = 0x2
	O_CREAT     = 0x40
	O_EXCL      = 0x80
	O_TRUNC     = 0x200
	O_APPEND    = 0x400
	O_DIRECTORY = 0x10000
	O_NOFOLLOW  = 0x20000
	O_CLOEXEC   = 0x80000
)

// Request is one open of a claimed path.
type Request struct {
	// Path is the canonical absolute path as the program sees it from its root: however
	// it was spelled, through symlinks, "..", or descriptors, it arrives in this one form.
	// It is bytes; Linux paths need not be UTF-8.
	Path    []byte
	Flags   uint64
	Mode    uint32
	Syscall Syscall
	// Op is OpOpen for an open; for a look-up, the plugin may answer with ServeSize or
	// ServeDir instead of building the content. A Deny refuses opens, never look-ups.
	Op Op
	// ObjectMode is the st_mode of what Path resolved to, 0 if nothing exists there.
	ObjectMode uint32
	PID, TID   int32
	// UID and GID are the caller's filesystem user and group ids.
	UID, GID uint32
	// Sandbox is the name of the sandbox the program runs in.
	Sandbox string
	// Real is set when Open is called again after returning ReadReal: the real file's
	// content as the program could read it.
	Real *RealFile
}

// RealFile is the real file behind a request, read as the sandboxed program would.
type RealFile struct {
	// Data is the content, at most 1 MiB.
	Data []byte
	// Errno is non-zero when the program could not have read the file; Data is then empty.
	Errno Errno
	// Truncated reports that the file is longer than Data.
	Truncated bool
}

// PathString returns Path as a string.
func (r *Request) PathString() string { return string(r.Path) }

// IsLookup reports whether the request only looks the path up (stat, access, a listing): the
// content is not needed, only what ServeSize says.
func (r *Request) IsLookup() bool { return r.Op != OpOpen }

// Exists reports whether the path resolved to an existing object.
func (r *Request) Exists() bool { return r.ObjectMode != 0 }

// WantsWrite reports whether the open asks to write, truncate or create. scrim answers such
// opens of served content with EROFS itself; a plugin may still deny them differently.
func (r *Request) WantsWrite() bool {
	return r.Flags&O_ACCMODE != O_RDONLY || r.Flags&(O_TRUNC|O_CREAT) != 0
}

// Verdict is a plugin's answer to one open. Build it with Next, Serve, ServeString, Deny,
// Real, ReadReal or Fail.
type Verdict struct {
	code    int32
	content []byte
	mode    uint32
	reason  string
	// What ServeSize, ServeDir and WithMtime add (ABI 1.1).
	size      int64 // -1: the content's length
	dir       bool
	mtimeSec  int64
	mtimeNsec int32
	hasMtime  bool
}

// The ABI's verdict codes.
const (
	codeNext     = 0
	codeServe    = 1
	codeReal     = 2
	codeReadReal = 3
	codeFail     = 4
)

// Next leaves the open to the next handler, as if the plugin had not claimed the path.
func Next() Verdict { return Verdict{code: codeNext} }

// Serve gives the program data as a read-only file.
func Serve(data []byte) Verdict {
	return Verdict{code: codeServe, content: data, mode: 0o444, size: -1}
}

// ServeSize answers a look-up (req.IsLookup()) without building the content: the path is a
// served read-only file of size bytes. It must be the size Serve gives an open of the same
// path, since programs such as cp compare the two. In an open it would serve an empty file.
func ServeSize(size int64) Verdict {
	return Verdict{code: codeServe, mode: 0o444, size: max(size, 0)}
}

// ServeDir answers a look-up: the path is a directory (mode 0555 unless WithMode), such as
// the parent of the files the plugin serves. A directory answers only look-ups: an open of it
// goes on to the handlers after the plugin.
func ServeDir() Verdict { return Verdict{code: codeServe, mode: 0o555, size: -1, dir: true} }

// WithMtime sets the modification time of served content, in seconds and nanoseconds since
// 1970 (by default, when scrim first served it).
func (v Verdict) WithMtime(sec int64, nsec int32) Verdict {
	v.mtimeSec, v.mtimeNsec, v.hasMtime = sec, nsec, true
	return v
}

// ServeString gives the program s as a read-only file.
func ServeString(s string) Verdict { return Serve([]byte(s)) }

// WithMode sets the permission bits of served content (0o444 by default).
func (v Verdict) WithMode(perm uint32) Verdict {
	v.mode = perm & 0o777
	return v
}

// Deny fails the open with errno.
func Deny(errno Errno) Verdict { return Verdict{code: -int32(errno)} }

// Real opens the real file, skipping the handlers after this plugin.
func Real() Verdict { return Verdict{code: codeReal} }

// ReadReal asks scrim to read the real file as the program would and to call Open again
// with req.Real set, so that the plugin can serve a transformed copy.
func ReadReal() Verdict { return Verdict{code: codeReadReal} }

// Fail says the plugin cannot decide; scrim applies the plugin's on_error setting (by
// default the open fails with EIO) and logs err.
func Fail(err error) Verdict {
	if err == nil {
		err = errors.New("unknown failure")
	}
	return Verdict{code: codeFail, reason: err.Error()}
}

// Errno is a Linux error number, as the sandboxed program sees it. It is not WASI's numbering:
// do not pass syscall.Errno values of a wasip1 build.
type Errno int32

// Errnos plugins commonly deny with.
const (
	EPERM   Errno = 1
	ENOENT  Errno = 2
	EIO     Errno = 5
	EACCES  Errno = 13
	EBUSY   Errno = 16
	EEXIST  Errno = 17
	ENOTDIR Errno = 20
	EISDIR  Errno = 21
	EINVAL  Errno = 22
	EROFS   Errno = 30
	ENOSYS  Errno = 38
)

func (e Errno) Error() string { return "errno " + itoa(int64(e)) }

// Level is the severity of a log line a plugin writes to scrim's log.
type Level int32

// The levels of scrim's log.
const (
	LevelTrace Level = 0
	LevelDebug Level = 1
	LevelInfo  Level = 2
	LevelWarn  Level = 3
	LevelError Level = 4
)

// Log writes msg to scrim's log at level, attributed to the plugin (at most 1 KiB is kept).
// It works in Init and Open; scrim shows the line when its log level lets it through.
func Log(level Level, msg string) { logLine(level, msg) }
