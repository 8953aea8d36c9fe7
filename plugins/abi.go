package plugins

import (
	"bytes"
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The names ABI.md fixes for version 1.
const (
	abiMajor    = 1
	abiMinor    = 1
	markerV1    = "scrim_abi_v1"
	importV1    = "scrim_v1"
	exportDesc  = "scrim_describe"
	exportInit  = "scrim_init"
	exportOpen  = "scrim_open"
	exportInitz = "_initialize"
	exportStart = "_start"
)

// Verdicts scrim_open returns (ABI.md §7). Negative values deny with that errno.
const (
	verdictNext     = 0
	verdictServe    = 1
	verdictReal     = 2
	verdictReadReal = 3
	verdictFail     = 4
)

// Status codes imports return (ABI.md §9).
const (
	statusOK          = 0
	statusBadArgument = -1
	statusOutOfBounds = -2
	statusWrongPhase  = -3
	statusLimit       = -4
	statusNotFound    = -5
)

// Limits (ABI.md §10).
const (
	maxPath     = 4096
	maxDescribe = 64 << 10
	maxConfig   = 64 << 10
	maxContent  = 1 << 20
	maxText     = 1 << 10
	maxErrno    = 133 // EHWPOISON, the highest errno Linux defines
)

// The request header (ABI.md §6): 80 bytes in minor 0, 88 from minor 1 on (op).
const (
	reqHeaderSize = 88

	offHeaderSize = 0
	offABIMajor   = 4
	offABIMinor   = 6
	offPhase      = 8
	offSyscall    = 12
	offFlags      = 16
	offMode       = 24
	offObjectMode = 28
	offPID        = 32
	offTID        = 36
	offUID        = 40
	offGID        = 44
	offPathOff    = 48
	offPathLen    = 52
	offSandboxOff = 56
	offSandboxLen = 60
	offRealLen    = 64
	offRealErrno  = 68
	offRealFlags  = 72
	offOp         = 80

	realTruncated = 1
)

// Ops a request asks about (ABI.md §6, minor 1). Open needs content; the others need only
// what the served file is, so a plugin may answer them with metadata alone.
const (
	reqOpOpen   = 0
	reqOpStat   = 1
	reqOpAccess = 2
)

// reqOpOf maps the contract's op to the ABI's. Every op but open is asked as a stat, except
// access, which a plugin may want to tell apart.
func reqOpOf(o shim.Op) uint32 {
	switch o {
	case shim.OpOpen:
		return reqOpOpen
	case shim.OpAccess:
		return reqOpAccess
	}
	return reqOpStat
}

// The file types set_mode accepts from minor 1 (ABI.md §8): a served regular file or
// directory.
const (
	modeTypeMask = 0o170000
	modeTypeReg  = 0o100000
	modeTypeDir  = 0o040000
)

// phase says which imports are valid while a call into the plugin runs.
type phase uint8

const (
	phaseIdle phase = iota
	phaseDescribe
	phaseInit
	phaseOpen
	phaseOpenReal
)

// abiSyscall maps the contract's syscall to the ABI's number; they agree up to chdir (14).
// The extended-attribute look-ups, statfs and inotify_add_watch, which the ABI does not name,
// are asked as the stat or lstat of the path they look up.
func abiSyscall(s shim.Syscall) uint32 {
	switch s {
	case shim.SysGetxattr, shim.SysListxattr, shim.SysStatfs, shim.SysInotifyAddWatch:
		return uint32(shim.SysStat)
	case shim.SysLgetxattr, shim.SysLlistxattr:
		return uint32(shim.SysLstat)
	}
	return uint32(s)
}

// encodeRequest writes req's ABI form into buf (reusing its storage) and returns it. real
// describes the result of READ_REAL in phase 1; op is what the request asks about.
func encodeRequest(buf []byte, req *shim.Request, sandbox string, ph uint32, realLen int, realErrno int32, realFlags uint32, op uint32) []byte {
	n := reqHeaderSize + len(req.Path) + len(sandbox)
	if cap(buf) < n {
		buf = make([]byte, n, n+256)
	}
	buf = buf[:n]
	clear(buf[:reqHeaderSize])
	le := binary.LittleEndian
	le.PutUint32(buf[offHeaderSize:], reqHeaderSize)
	le.PutUint16(buf[offABIMajor:], abiMajor)
	le.PutUint16(buf[offABIMinor:], abiMinor)
	le.PutUint32(buf[offPhase:], ph)
	le.PutUint32(buf[offSyscall:], abiSyscall(req.Syscall))
	le.PutUint64(buf[offFlags:], uint64(uint32(req.Flags)))
	le.PutUint32(buf[offMode:], req.Mode)
	if req.Object.Exists {
		le.PutUint32(buf[offObjectMode:], req.Object.Mode)
	}
	le.PutUint32(buf[offPID:], uint32(int32(req.PID)))
	le.PutUint32(buf[offTID:], uint32(int32(req.TID)))
	le.PutUint32(buf[offUID:], req.Cred.FSUID)
	le.PutUint32(buf[offGID:], req.Cred.FSGID)
	le.PutUint32(buf[offPathOff:], reqHeaderSize)
	le.PutUint32(buf[offPathLen:], uint32(len(req.Path)))
	le.PutUint32(buf[offSandboxOff:], uint32(reqHeaderSize+len(req.Path)))
	le.PutUint32(buf[offSandboxLen:], uint32(len(sandbox)))
	le.PutUint32(buf[offRealLen:], uint32(realLen))
	le.PutUint32(buf[offRealErrno:], uint32(realErrno))
	le.PutUint32(buf[offRealFlags:], realFlags)
	le.PutUint32(buf[offOp:], op)
	copy(buf[reqHeaderSize:], req.Path)
	copy(buf[reqHeaderSize+len(req.Path):], sandbox)
	return buf
}

// servedMeta is what a call said about the file it serves beyond its permission bits
// (ABI.md §8, minor 1): set_size and set_mtime.
type servedMeta struct {
	size      int64 // -1: the content's length
	mtimeSec  int64
	mtimeNsec int32
	hasMtime  bool
}

// servedResult turns a SERVE verdict into the contract's content (ABI.md §7). An open gets
// the content written; a look-up op gets metadata alone when the plugin said the size without
// writing the content (or said it is a directory), and the content otherwise, so that a
// plugin that does not look at the op still gets stat right. A directory answers no open: its
// opens go on to the handlers after the plugin.
func servedResult(inst *instance, op shim.Op) shim.Result {
	mode := inst.mode
	if mode&modeTypeMask == 0 {
		mode |= unix.S_IFREG
	}
	var mtime time.Time
	if inst.meta.hasMtime {
		mtime = time.Unix(inst.meta.mtimeSec, int64(inst.meta.mtimeNsec))
	}
	dir := mode&modeTypeMask == modeTypeDir
	switch {
	case dir && op == shim.OpOpen:
		return shim.Next()
	case dir || op != shim.OpOpen && len(inst.content) == 0 && inst.meta.size >= 0:
		size := max(inst.meta.size, 0)
		if dir {
			size = 0
		}
		return shim.Serve(shim.Meta{Size: size, Mode: mode, ModTime: mtime})
	}
	// A copy: the instance reuses its buffer for the next call once it is back in the pool.
	// The same file served again gets the instance's previous copy, which nothing changes
	// once served: a plugin that serves fixed content allocates nothing per open.
	if last, ok := inst.served.(shim.Bytes); ok && last.Mode == mode && last.ModTime.Equal(mtime) && bytes.Equal(last.Data, inst.content) {
		return shim.Serve(inst.served)
	}
	inst.served = shim.Bytes{Name: "scrim-plugin-" + inst.p.spec.Name, Data: bytes.Clone(inst.content), Mode: mode, ModTime: mtime}
	return shim.Serve(inst.served)
}
